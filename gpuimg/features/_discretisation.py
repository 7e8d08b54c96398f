"""The IBSI discretisation (IBSI 2.7): the bin numbers of a prepared ROI's intensities, by fixed bin
number or fixed bin size, and the bounds on the bins that the families' memory checks use."""

import math

import numpy as np

from gpuimg._support import check_choice, is_finite
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import FeatureError, ParameterError

from .settings import MAX_BINS, Settings, as_settings


def discretise(
    values,
    settings: Settings,
    *,
    method=None,
    n_bins=None,
    bin_width=None,
    max_bins=MAX_BINS,
    value_range=None,
):
    """Bin numbers (1, 2, ...) of the intensities ``values`` (IBSI 2.7).

    Fixed bin number: ``floor(n_bins (x - min) / (max - min)) + 1``, the maximum in the last bin
    (bin 1 for a constant ROI), computed in that order, so exactly for integer intensities.
    Fixed bin size: ``floor((x - lower) / bin_width) + 1``, with ``lower`` the lower
    re-segmentation bound, or the ROI's minimum where there is none. Both in float64, whatever the
    values' dtype. The method and its parameter default to the settings' texture discretisation.
    ``value_range``, the smallest and largest of ``values`` where the host knows them
    (:attr:`Roi.value_range`), spares the device read of them.

    Returns
    -------
    int64 array of ``values``' shape and device.

    Raises
    ------
    FeatureError
        If there are no values, values that are NaN or infinite (or span more than float64 holds),
        values below the lower re-segmentation bound with a fixed bin size (re-segment them first),
        or a fixed bin size that would make more than ``max_bins`` bins over the ROI's range.
    ParameterError
        For a method, bin number (more than ``max_bins``) or bin width given here that is not valid,
        or a method given here without its bin number or width, where the settings (of the other
        method) have none.
    ConfigError
        For settings that are not a :class:`Settings` (or a dict or TOML path of one).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, discretise
    >>> values = np.array([0.0, 25.0, 50.0, 100.0])
    >>> discretise(values, Settings(discretisation="fbn", n_bins=4))  # floor(4 x / 100) + 1, 100 in bin 4
    array([1, 2, 3, 4])
    >>> discretise(values, Settings(discretisation="fbs", bin_width=25.0))  # floor(x / 25) + 1
    array([1, 2, 3, 5])
    """
    settings = as_settings(settings)
    xp = namespace(values).xp
    if values.dtype.kind not in "iuf":
        raise ParameterError(f"discretise takes intensities (numbers); got dtype {values.dtype}.")
    if values.size == 0:
        raise FeatureError("there are no intensities to discretise: the ROI holds no voxel.")
    method = settings.discretisation if method is None else check_choice(method, ("fbn", "fbs"), "method")
    needed = "n_bins" if method == "fbn" else "bin_width"
    if {"n_bins": n_bins, "bin_width": bin_width}[needed] is None and getattr(settings, needed) is None:
        raise ParameterError(
            f"method={method!r} needs {needed}=, which the settings (discretisation="
            f"{settings.discretisation!r}) leave out; pass {needed}= here, or settings with "
            f"discretisation={method!r}."
        )
    if n_bins is not None and not (isinstance(n_bins, int | np.integer) and 1 <= n_bins <= max_bins):
        raise ParameterError(
            f"n_bins={n_bins!r} must be a whole number of bins, from 1 to {max_bins} (max_bins)."
        )
    if bin_width is not None and not (is_finite(bin_width) and float(bin_width) > 0):
        raise ParameterError(f"bin_width={bin_width!r} must be a positive number (image units).")
    # In float64: an integer span (int16's -32768 to 32767) wraps in its own dtype, and float32 rounds
    # the scaled values differently near the bins' edges.
    values = values.astype(np.float64, copy=False)
    if value_range is None:
        value_range = tuple(float(v) for v in to_numpy(xp.stack([values.min(), values.max()])))
    low, high = value_range
    if not math.isfinite(high - low):  # a NaN, an infinity, or a span past float64: no bin edges
        raise FeatureError(
            f"the intensities to discretise span {low:g} to {high:g}: some are NaN or infinite, or "
            "they span more than float64 holds. Replace them (e.g. numpy.nan_to_num) or leave them "
            "out of the ROI, or rescale the image."
        )
    if method == "fbn":
        n_bins = settings.n_bins if n_bins is None else int(n_bins)  # NumPy's uint64 made bins float64
        if not high > low:
            return xp.ones(values.shape, dtype=np.int64)
        # Multiplied before dividing, as IBSI writes it (and MIRP computes it): exact for integer
        # intensities (HU), whose n_bins (x - min) / (max - min) is a whole number exactly at a bin's
        # edge. Dividing first rounded 29/50 of the range, times 50, to 28.999999999999996: bin 29, not 30.
        span = high - low
        exact = math.isfinite(n_bins * span)  # else n_bins (x - min) would overflow: scaled first
        scaled = n_bins * (values - low) / span if exact else n_bins * ((values - low) / span)
        return xp.minimum(xp.floor(scaled).astype(np.int64) + 1, n_bins)
    width = settings.bin_width if bin_width is None else bin_width
    lower = fbs_lower_bound(low, settings)
    if low < lower:
        raise FeatureError(
            f"intensities down to {low:g} lie below the lower re-segmentation bound {lower:g}, where "
            "fixed-size bin 1 starts; re-segment them first (gpuimg.features.prepare does)."
        )
    count = fbs_bins(value_range, width, settings)
    if count > max_bins:
        raise FeatureError(
            f"bin width {width:g} makes {count:.3g} bins over the ROI's intensities ({lower:g} to "
            f"{value_range[1]:g}), more than {max_bins}; use a wider bin width (bin_width or "
            "ivh_bin_width), or a fixed bin number."
        )
    return xp.floor((values - lower) / width).astype(np.int64) + 1


def bins_bound(settings: Settings, value_range: tuple[float, float]) -> int:
    """More bins than :func:`discretise` gives the ROI's intensities with the settings' texture
    discretisation, known on the host: bins 1 to ``bins_bound`` hold every bin number (one spare
    bin for a fixed bin size, in case the device rounds the last division up)."""
    if settings.discretisation == "fbn":
        return settings.n_bins
    return fbs_bins(value_range, settings.bin_width, settings) + 1


def fbs_bins(value_range: tuple[float, float], width: float, settings: Settings) -> int | float:
    """The number of fixed-size bins of ``width`` from bin 1's start up to the largest intensity
    ``value_range[1]`` (bin 1 starts at :func:`fbs_lower_bound` of ``value_range[0]``); ``math.inf``
    where their number overflows float64 (a subnormal width), more than any limit."""
    bins = (value_range[1] - fbs_lower_bound(value_range[0], settings)) / width
    return math.floor(bins) + 1 if math.isfinite(bins) else math.inf


def fbs_lower_bound(smallest: float, settings: Settings) -> float:
    """Where fixed-bin-size bin 1 starts: the lower re-segmentation bound, else ``smallest``, the ROI's
    smallest intensity."""
    if settings.reseg_range is not None and math.isfinite(settings.reseg_range[0]):
        return settings.reseg_range[0]
    return smallest
