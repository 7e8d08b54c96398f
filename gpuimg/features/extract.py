"""All radiomics features of an ROI in one call, and of every ROI of a label image."""

import difflib
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from gpuimg._support import as_names, check_flag
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import ConfigError, FeatureError, MemoryBudgetError
from gpuimg.kernels.labels import label_statistics
from gpuimg.volume import Volume

from ._scalars import Deferred, collected, resolve, warn_undefined
from .chain import PEAK_RADIUS_MM, Roi, _inputs, prepare_box, prepare_reaching
from .glcm import glcm_deferred
from .gldzm import gldzm_deferred
from .glrlm import glrlm_deferred
from .glszm import glszm_deferred
from .intensity import intensity_histogram_deferred, intensity_statistics_deferred
from .ivh import intensity_volume_histogram_deferred
from .local_intensity import local_intensity_deferred
from .morphology import roi_morphology_deferred
from .ngldm import ngldm_deferred
from .ngtdm import ngtdm_deferred
from .settings import Settings, as_settings

#: The feature families by name, each a function of a prepared :class:`~gpuimg.features.chain.Roi`
#: giving its features still on the device (:class:`~gpuimg.features._scalars.Deferred`), so that
#: all the families of an ROI are read from the device at once.
FAMILIES: dict[str, Callable[[Roi], Deferred]] = {
    "morphology": roi_morphology_deferred,
    "local_intensity": local_intensity_deferred,
    "statistics": intensity_statistics_deferred,
    "histogram": intensity_histogram_deferred,
    "ivh": intensity_volume_histogram_deferred,
    "glcm": glcm_deferred,
    "glrlm": glrlm_deferred,
    "glszm": glszm_deferred,
    "gldzm": gldzm_deferred,
    "ngtdm": ngtdm_deferred,
    "ngldm": ngldm_deferred,
}


def extract(
    image,
    mask,
    *,
    spacing: Sequence[float] | None = None,
    settings: Settings | dict | str | os.PathLike | None = None,
    families: Iterable[str] = tuple(FAMILIES),
) -> dict[str, float]:
    """IBSI radiomics features of one region of interest.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 3D (z, y, x)
        Intensities in their units (HU for CT). A Dask array is computed first (the features are
        whole-ROI results); the ROI's work then runs on its chunks' device.
    mask : array or Volume of the image's shape
        Non-zero voxels are the ROI (NaN voxels are not). An integer mask holds one label (1, 255,
        ...); a label image's labels are refused, not merged (PyRadiomics measures label 1 only):
        pass ``labels == k`` (``labels.data == k`` of a Volume), or use :func:`extract_labels` for
        each.
    spacing : float or sequence of 3 float [mm]
        Voxel spacing (z, y, x); needed unless the image or the mask is a Volume, which brings
        its own.
    settings : Settings, dict or path of a TOML file, optional
        The processing chain (interpolation, re-segmentation, discretisation); default
        ``Settings()``. A dict goes through :meth:`Settings.from_dict`, a path through
        :meth:`Settings.from_toml`. :func:`~gpuimg.features.ibsi_settings` gives the IBSI
        benchmark cases.
    families : iterable of str
        Any of "morphology", "local_intensity", "statistics", "histogram", "ivh" and the texture
        families "glcm", "glrlm", "glszm", "gldzm", "ngtdm", "ngldm"; default all.

    Returns
    -------
    dict of str to float
        Keyed by the IBSI tags (``morph_volume``, ``loc_peak_glob``, ``stat_mean``,
        ``ih_entropy``, ``ivh_v10``, ...), in the order of the families.

    Raises
    ------
    FeatureError
        For an empty mask, an integer mask of several labels, a mask whose shape differs from the
        image's or a mask Volume on another grid (spacing, origin or direction), arrays without a
        spacing, or an ROI that interpolation or re-segmentation leaves empty.
    ConfigError
        For an unknown family or invalid settings.
    MemoryBudgetError
        If Dask inputs, computed whole, would exceed the memory budget (checked before they are
        read), or a family's work would.

    Warns
    -----
    FeatureWarning
        Once, for the features IBSI defines no value for on this ROI (they are NaN), grouped by
        reason; its ``undefined`` attribute holds them all, ``{name: why}``.

    Notes
    -----
    On a GPU each read of the device waits for its queued work; the ROI's are few and do not grow
    with its size, grey levels, approaches or aggregations: its bounding box, the processing
    chain's summary, the texture families' grey levels, the morphological mask's box (one byte per
    voxel, for morphology's mesh, convex hull and PCA on the host), and every family's results at
    once. CuPy reads the device too, inside the functions that size a result from the data: about 6
    more per ROI in 3D (the ROI's intensities by mask, the grey levels written back by mask, the GLCM
    entries, the zone sizes present, GLSZM's and GLDZM's zones), 9 with every texture approach.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import extract
    >>> image = np.random.default_rng(0).normal(40.0, 10.0, (20, 20, 20))
    >>> ball = ((np.indices((20, 20, 20)) - 9.5) ** 2).sum(axis=0) <= 8.0**2  # radius 8 voxels
    >>> features = extract(image, ball, spacing=2.0, families=["statistics", "morphology"])
    >>> round(features["stat_mean"])
    40
    >>> round(features["morph_volume"] / (4 / 3 * np.pi * 16.0**3), 1)  # a ball of radius 16 mm
    1.0
    """
    runs = _families(families)
    settings = as_settings(settings)
    with collected() as undefined:
        features = _features(prepare_reaching(image, mask, spacing, settings, _reach(runs, settings)), runs)
    warn_undefined(undefined, stacklevel=2)
    return features


def extract_labels(
    image,
    labels,
    *,
    spacing: Sequence[float] | None = None,
    settings: Settings | dict | str | os.PathLike | None = None,
    families: Iterable[str] = tuple(FAMILIES),
    skip_errors: bool = False,
) -> dict[int, dict[str, float]]:
    """IBSI radiomics features of every ROI of a label image.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 3D (z, y, x)
    labels : integer array or Volume of the image's shape
        0 is background; each other value is one ROI.
    spacing, settings, families
        As :func:`extract`.
    skip_errors : bool
        Leave out an ROI whose features cannot be computed (an ROI that re-segmentation empties, or
        one whose work would exceed the memory budget) instead of raising; its error is kept under
        the key ``"error"`` of its entry.

    Returns
    -------
    dict of int to dict
        For each label present, in increasing order, what :func:`extract` gives for its mask
        (or ``{"error": message}`` where ``skip_errors`` let it fail).

    Raises
    ------
    FeatureError
        For labels that are not an integer image, a negative label, no label at all, a label image
        whose shape differs from the image's or a Volume on another grid (spacing, origin or
        direction), arrays without a spacing; and, unless ``skip_errors``, an ROI :func:`extract`
        refuses (its message then starts with the label).
    ConfigError
        For an unknown family or invalid settings.
    ParameterError
        For a ``skip_errors`` that is not True or False (a string, an array).

    Warns
    -----
    FeatureWarning
        Once, for the features IBSI defines no value for on any of the ROIs (they are NaN), grouped
        by reason with their labels; its ``undefined`` attribute holds them all,
        ``{label: {name: why}}``.

    Notes
    -----
    The bounding boxes of all labels are found in one pass over the label image on its device;
    each ROI is then processed in its box (grown by the local intensity radius where that family is
    asked for or the grid interpolated), so the work
    grows with the ROIs' sizes, not with their number times the volume. The features of each
    ROI equal :func:`extract` on its mask alone. The device is read twice for the label image
    and, per ROI, as by :func:`extract` less the bounding box.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import extract_labels
    >>> labels = np.zeros((6, 6, 6), np.int16)
    >>> labels[0:2, 0:2, 0:2] = 1  # 8 voxels
    >>> labels[3:6, 3:6, 3:6] = 2  # 27 voxels
    >>> image = np.where(labels == 2, 20.0, 10.0)
    >>> features = extract_labels(image, labels, spacing=1.0, families=["statistics"])
    >>> {label: (row["stat_mean"], row["stat_energy"]) for label, row in features.items()}
    {1: (10.0, 800.0), 2: (20.0, 10800.0)}
    """
    runs = _families(families)
    skip_errors = check_flag(skip_errors, "skip_errors")  # the string 'False' would skip them
    name = "labels.data" if isinstance(labels, Volume) else "labels"
    settings = as_settings(settings)
    data, labels, spacing = _inputs(image, labels, spacing, labels=True)
    xp = namespace(labels).xp
    dtype = np.dtype(labels.dtype)
    if dtype.kind not in "iub":
        hint = _float_labels_hint(xp, labels, name)
        raise FeatureError(f"labels must be an integer image (0 for background); got dtype {dtype}{hint}.")
    values, boxes = _label_boxes(xp, labels)
    results, undefined, reach = {}, {}, _reach(runs, settings)
    for value, box in zip(values, boxes, strict=True):
        try:
            roi = prepare_box(
                data, lambda slices, v=value: labels[slices] == v, box, spacing, settings, reach_mm=reach
            )
            with collected() as found:
                results[value] = _features(roi, runs)
        except (FeatureError, MemoryBudgetError) as exc:  # this ROI's: too small, too large, ...
            if not skip_errors:
                raise type(exc)(f"label {value}: {exc}") from exc
            results[value] = {"error": str(exc)}
        else:
            if found:
                undefined[value] = found
    warn_undefined(undefined, stacklevel=2)
    return results


def _float_labels_hint(xp, labels, name: str) -> str:
    """What to do with a float label image: cast one of whole numbers (a label map read as floats, as
    nibabel's ``get_fdata()`` gives one); say why another (a probability map) is not one."""
    whole = xp.isfinite(labels) & (labels == xp.floor(labels))
    if bool(to_numpy(whole.all())):
        return (
            f", of whole numbers (a label map read as floats, as nibabel's get_fdata() gives one): "
            f"pass {name}.astype(np.int64)"
        )
    other = float(to_numpy(labels[~whole][:1])[0])
    return (
        f", which holds {other!r}, not a label: a label image holds whole numbers, one per ROI; "
        "for a probability map, extract(image, map >= threshold) measures one ROI"
    )


def _label_boxes(xp, labels):
    """The labels present (not 0) and the bounding box of each, ``(first, last)`` per axis.

    Sizes and boxes of all labels in one pass over the label image (the kernel of
    :func:`gpuimg.morphology.label`), read back to the host once; label values larger than the
    voxel count are numbered 1, 2, ... first (one ``unique``).
    """
    # In the labels' own dtype: uint64 values above 2^63 would wrap to negative ones in int64.
    low, high = (int(v) for v in to_numpy(xp.stack([labels.min(), labels.max()])))
    if low < 0:
        raise FeatureError(f"labels must be 0 (background) or positive; the label image holds {low}.")
    if high == 0:
        raise FeatureError("the label image has no label: every voxel is 0 (background).")
    names = None
    if high > labels.size:
        names, inverse = xp.unique(labels, return_inverse=True)
        if int(names[0]) != 0:  # no background voxel: the labels are numbered from 1
            names, inverse = xp.concatenate([xp.zeros(1, dtype=names.dtype), names]), inverse + 1
        labels, high = inverse.reshape(labels.shape), int(names.size) - 1
    work = xp.ascontiguousarray(labels.reshape((1,) * (3 - labels.ndim) + labels.shape), dtype=np.int32)
    sizes, lows, highs = label_statistics(work, high, xp=xp, target=namespace(work).target)
    table = to_numpy(xp.concatenate([sizes[:, None], lows, highs], axis=1))  # (label, 1 + 3 + 3)
    present = np.flatnonzero(table[:, 0])
    present = present[present > 0]
    axes = range(3 - labels.ndim, 3)
    boxes = [[(int(table[k, 1 + a]), int(table[k, 4 + a])) for a in axes] for k in present]
    values = present if names is None else to_numpy(names)[present]
    return [int(v) for v in values], boxes


#: The families that read the image at the ROI's voxels only (its values, the masks' boxes).
_WITHIN_ROI = (
    roi_morphology_deferred,
    intensity_statistics_deferred,
    intensity_histogram_deferred,
    intensity_volume_histogram_deferred,
)


def _reach(runs, settings: Settings) -> float:
    """How far [mm] around the ROI's box :func:`~gpuimg.features.chain.prepare_box` keeps the image for
    the families ``runs``: the local intensity peak's sphere, or 0 where they read the ROI's voxels
    only and the image keeps its grid (a crop of an interpolated grid changes the cubic
    spline's values; 0.06 ms of a demo study's 1 ms, a box 8.6 times the ROI's on average)."""
    if settings.new_spacing is None and all(run in _WITHIN_ROI for run in runs):
        return 0.0
    return PEAK_RADIUS_MM


def _features(roi: Roi, runs) -> dict[str, float]:
    """The features of the families ``runs``, their device values read in one transfer."""
    features = {}
    for part in resolve([run(roi) for run in runs]):
        features.update(part)
    return features


def _families(families) -> list:
    names = as_names(families, "families")
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        hints = "".join(_family_hint(name) for name in unknown)
        raise ConfigError(f"families={names!r}: use one or more of {list(FAMILIES)}{hints}.")
    return [FAMILIES[name] for name in names]


#: PyRadiomics' feature classes under their IBSI family names here.
_PYRADIOMICS = {"firstorder": "statistics", "shape": "morphology", "shape2D": "morphology", "gldm": "ngldm"}


def _family_hint(name: str) -> str:
    """``; for 'glcmm' use 'glcm'`` for an unknown family spelled like one (or named as PyRadiomics)."""
    close = _PYRADIOMICS.get(name) or next(iter(difflib.get_close_matches(name, list(FAMILIES), n=1)), None)
    return f"; for {name!r} use {close!r}" if close else ""
