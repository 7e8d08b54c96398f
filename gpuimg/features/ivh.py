"""Intensity-volume histogram features (IBSI 3.5)."""

import math

import numpy as np

from gpuimg.backend import namespace
from gpuimg.errors import FeatureError

from ._discretisation import discretise, fbs_bins
from ._scalars import Deferred, undefined
from .chain import Roi, check_roi
from .settings import MAX_IVH_BINS


def intensity_volume_histogram(roi: Roi) -> dict[str, float]:
    """The 7 intensity-volume histogram features (``ivh_*``) of the ROI's intensity mask.

    Parameters
    ----------
    roi : Roi
        Its settings' ``ivh_discretisation`` says how intensities become IVH levels.

    Returns
    -------
    dict of str to float
        ``ivh_v10``, ``ivh_v90`` (volume fractions at 10 % and 90 % of the intensity range),
        ``ivh_i10``, ``ivh_i90`` (intensities at 10 % and 90 % of the volume) [image units for
        "none" and "fbs", bin numbers for "fbn"], ``ivh_diff_v10_v90``, ``ivh_diff_i10_i90`` and
        ``ivh_auc`` (area under the curve of volume fraction against intensity fraction).

    Raises
    ------
    ParameterError
        If ``roi`` is not a :class:`Roi` (an array: make one with :func:`prepare`).
    FeatureError
        If the IVH would have more than 2**20 levels: with ``ivh_discretisation`` "none", an intensity
        range that wide (in steps of 1); with "fbs", an ``ivh_bin_width`` that narrow for the ROI's range.

    Notes
    -----
    The levels ``i`` run over the whole range G in steps ``w`` (IBSI 3.5): for "none" the
    intensities themselves, G the re-segmentation range (its open ends, and no range, taken
    from the ROI's minimum and maximum) and ``w = 1``; for "fbs" the centres of the bins from the
    lower end of G to the bin holding its upper end (an end on a bin's edge starts a bin of its own),
    ``w`` the bin width; for "fbn" the bin numbers 1 to N, ``w = 1``. The volume
    fraction at level ``i`` is the fraction of voxels at ``i`` or above, the intensity fraction
    ``(i - min G) / (max G - min G)``. ``V_x`` is the volume fraction of the first level at
    intensity fraction ``x`` or more, ``I_x`` the first level whose volume fraction is at most ``x``
    (the level past the range if none is). The area is the trapezoidal sum; 0 for a single level.

    Examples
    --------
    Ten voxels at 1, 1, 1, 1, 2, 2, 2, 3, 3, 4: the volume fractions at levels 1 to 4 are 1, 0.6, 0.3
    and 0.1, at intensity fractions 0, 1/3, 2/3 and 1.

    >>> import numpy as np
    >>> from gpuimg.features import Settings, intensity_volume_histogram, prepare
    >>> image = np.array([1.0, 1, 1, 1, 2, 2, 2, 3, 3, 4]).reshape(1, 2, 5)
    >>> roi = prepare(image, image > 0, spacing=1.0, settings=Settings(ivh_discretisation="none"))
    >>> f = intensity_volume_histogram(roi)
    >>> round(f["ivh_v10"], 6), round(f["ivh_v90"], 6), f["ivh_i10"], f["ivh_i90"]
    (0.6, 0.1, 4.0, 2.0)
    >>> round(f["ivh_auc"], 6)  # (0.8 + 0.45 + 0.2) / 3
    0.483333
    """
    return intensity_volume_histogram_deferred(check_roi(roi, "intensity_volume_histogram")).result()


def intensity_volume_histogram_deferred(roi: Roi) -> Deferred:
    """:func:`intensity_volume_histogram` with its results still on the device (see :class:`Deferred`)."""
    settings = roi.settings
    x = roi.values
    xp = namespace(x).xp
    method = settings.ivh_discretisation
    low, high = _range(roi.value_range, settings)
    if method == "none":
        step = 1.0
        position = x - low  # in steps from the range's first level
    elif method == "fbs":
        step = settings.ivh_bin_width
        # Bins counted from the range's lower end (the fixed-bin-size origin), as their centres.
        position = discretise(
            x, settings, method="fbs", bin_width=step, max_bins=MAX_IVH_BINS, value_range=roi.value_range
        )
        position = (position - 1).astype(np.float64)
        # The levels are the centres of the bins from the range's lower end to the bin that holds its
        # upper end (the ROI's largest intensity for an open end, or none), so that every voxel's bin
        # is a level. The upper bound less half a bin, rounded to a bin, left out the bin holding the
        # top of a range that is no whole number of bins whenever its part in the range was under
        # half a bin ((0, 100) in bins of 30: [90, 120) and its voxels from 90 to 100).
        bins = fbs_bins((roi.value_range[0], high), step, settings)
        low, high = low + 0.5 * step, low + (bins - 0.5) * step
    else:
        step = 1.0
        bins = discretise(
            x,
            settings,
            method="fbn",
            n_bins=settings.ivh_n_bins,
            max_bins=MAX_IVH_BINS,
            value_range=roi.value_range,
        )
        position = (bins - 1).astype(np.float64)
        low, high = 1.0, float(settings.ivh_n_bins)
    n_levels = max(round((high - low) / step), 0) + 1
    if n_levels > MAX_IVH_BINS:
        raise FeatureError(
            f"the intensity-volume histogram would have {n_levels:.3g} levels (intensities {low:g} to "
            f"{high:g} in steps of {step:g}), more than {MAX_IVH_BINS}; set ivh_discretisation to 'fbn' "
            "or 'fbs' with a wider ivh_bin_width."
        )
    below = xp.searchsorted(xp.sort(position), xp.arange(n_levels, dtype=np.float64), side="left")
    levels = low + step * np.arange(n_levels)
    why = "the ROI has a single intensity level"
    if n_levels == 1 and roi.value_range[0] < roi.value_range[1]:  # distinct intensities on one level
        advice = {
            "none": ", which is for whole-number intensities such as HU; use 'fbs' or 'fbn' for others",
            "fbs": "; use a narrower ivh_bin_width",
            "fbn": "; use more ivh_n_bins",
        }[method]
        why = (
            f"the IVH has a single level: the ROI's intensities, {roi.value_range[0]:g} to "
            f"{roi.value_range[1]:g}, fall in one step of {step:g} with ivh_discretisation={method!r}{advice}"
        )
    return Deferred(
        {"below": below},
        lambda host: _curve(1.0 - host["below"] / x.size, levels, low + step * n_levels, why),
    )


def _curve(volume, levels, past, why) -> dict[str, float]:
    """The features of the volume fraction ``volume`` at each of ``levels``; ``past`` is the level past
    the range, ``why`` the reason the volume fractions are undefined for a single level."""
    n_levels = levels.size
    intensity = np.arange(n_levels) / (n_levels - 1) if n_levels > 1 else np.zeros(1)

    def volume_at(fraction):
        hits = np.flatnonzero(intensity >= fraction - 1e-12)
        if hits.size == 0:
            return undefined(f"ivh_v{round(fraction * 100)}", why)
        return float(volume[hits[0]])

    def intensity_at(fraction):
        hits = np.flatnonzero(volume <= fraction)
        return float(levels[hits[0]]) if hits.size else float(past)

    v10, v90 = volume_at(0.1), volume_at(0.9)
    i10, i90 = intensity_at(0.1), intensity_at(0.9)
    auc = float(np.sum((volume[1:] + volume[:-1]) / 2) / (n_levels - 1)) if n_levels > 1 else 0.0
    return {
        "ivh_v10": v10,
        "ivh_v90": v90,
        "ivh_i10": i10,
        "ivh_i90": i90,
        "ivh_diff_v10_v90": v10 - v90,
        "ivh_diff_i10_i90": i10 - i90,
        "ivh_auc": auc,
    }


def _range(value_range, settings):
    """The IVH range G: the re-segmentation range, its open ends (and no range) from the ROI's
    ``value_range``."""
    lower, upper = settings.reseg_range if settings.reseg_range is not None else (-math.inf, math.inf)
    return (lower if math.isfinite(lower) else value_range[0]), (
        upper if math.isfinite(upper) else value_range[1]
    )
