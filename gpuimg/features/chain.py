"""The IBSI processing chain: interpolation, re-segmentation and discretisation of an image and its ROI.

:func:`prepare` turns an image and a mask into a :class:`Roi`: the image interpolated on the IBSI grid
(and rounded where asked), cut to the ROI's box with room for the local intensity sphere, the
morphological mask (interpolated, partial-volume threshold) and the intensity mask (re-segmented).
Everything stays on the input's device. :func:`gpuimg.features.discretise` then bins the
intensity-mask voxels for the histogram and texture families.
"""

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpuimg._arrays import (
    check_gathered,
    check_mask_shape,
    check_ndim,
    check_not_a_file,
    real_dtype,
    roi_voxels,
    unmasked,
)
from gpuimg._support import refuse_bool, shown
from gpuimg.backend import is_dask, namespace, to_device, to_numpy
from gpuimg.errors import FeatureError, ParameterError
from gpuimg.kernels.moments import mask_box, roi_summary
from gpuimg.volume import Volume, check_same_grid

from ._interpolation import interpolate_box
from .settings import Settings, as_settings

#: Radius of the 1 cm^3 sphere of the local intensity features [mm] (IBSI 3.2).
PEAK_RADIUS_MM = 10.0 * (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)


@dataclass(frozen=True, repr=False)
class Roi:
    """An image and its region of interest after the IBSI processing chain.

    Attributes
    ----------
    image : float64 array (NumPy or CuPy), 3D
        The interpolated (and rounded) image, cut to the ROI's box grown by the local intensity
        radius (less where the image ends).
    morph_mask, intensity_mask : bool arrays of the image's shape
        The morphological mask (after interpolation) and the intensity mask (after
        re-segmentation as well).
    values : float64 array, 1D
        The intensities of the intensity mask's voxels.
    spacing : tuple of 3 float [mm]
    settings : Settings
    morph_box, intensity_box : tuple of 3 (first, last) pairs of int [voxels]
        The bounding boxes of the two masks in ``image`` (as :func:`roi_box` gives them).
    value_range : (float, float) [image units]
        The smallest and largest of ``values``.
    nonfinite : int
        The number of voxels of ``image`` that are NaN or infinite, all outside the morphological
        mask (:func:`prepare` refuses them inside).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import prepare
    >>> image = np.zeros((8, 8, 8))
    >>> image[2:5, 3:6, 3:6] = 50.0  # a 3 x 3 x 3 voxel ROI
    >>> roi = prepare(image, image > 0, spacing=(2.0, 1.0, 1.0))
    >>> roi
    Roi(voxels=27, box=(8, 8, 8), spacing=(2.0, 1.0, 1.0))
    >>> roi.morph_box, roi.value_range  # (first, last) voxel per axis, and the intensities' range
    (((2, 4), (3, 5), (3, 5)), (50.0, 50.0))
    """

    image: object
    morph_mask: object
    intensity_mask: object
    values: object
    spacing: tuple[float, float, float]
    settings: Settings
    morph_box: tuple[tuple[int, int], ...]
    intensity_box: tuple[tuple[int, int], ...]
    value_range: tuple[float, float]
    nonfinite: int = 0

    def __repr__(self) -> str:
        return f"Roi(voxels={int(self.values.size)}, box={tuple(self.image.shape)}, spacing={self.spacing})"


def check_roi(roi, family: str) -> Roi:
    """``roi`` itself if it is a :class:`Roi`, else a ParameterError that says how to make one."""
    if not isinstance(roi, Roi):
        raise ParameterError(
            f"{family} takes a Roi, which gpuimg.features.prepare(image, mask, spacing=..., "
            f"settings=...) returns; got a {type(roi).__name__}. For features straight from an image "
            "and a mask, use gpuimg.features.extract."
        )
    return roi


def prepare(
    image,
    mask,
    *,
    spacing: Sequence[float] | None = None,
    settings: Settings | dict | str | os.PathLike | None = None,
) -> Roi:
    """Run the IBSI processing chain on ``image`` and ``mask``.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 3D (z, y, x)
    mask : array or Volume of the image's shape
        Non-zero voxels are the ROI (NaN voxels are not); an integer mask holds one label (1, 255,
        ...): for a label image pass ``labels == k`` (``labels.data == k`` of a Volume), or use
        :func:`~gpuimg.features.extract_labels`.
    spacing : float or sequence of 3 float [mm]
        Voxel spacing (z, y, x); needed unless the image or the mask is a Volume, which brings its
        own.
    settings : Settings, dict or path of a TOML file, optional
        Default ``Settings()``: no interpolation or re-segmentation.

    Returns
    -------
    Roi

    Raises
    ------
    FeatureError
        For a mask that is empty, holds several labels, has another shape than the image or is a
        Volume on another grid (spacing, origin or direction), an image that is not 3D, arrays
        without a spacing, or an intensity mask left empty by re-segmentation.
    ConfigError
        For settings that are not valid.

    Examples
    --------
    Re-segmentation to (-500, 400) HU leaves an air voxel out of the intensity mask, not out of
    the morphological one:

    >>> import numpy as np
    >>> from gpuimg.features import Settings, prepare
    >>> ct = np.full((3, 4, 4), 40.0)  # soft tissue, 40 HU
    >>> ct[1, 1, 1] = -1000.0  # air
    >>> settings = Settings(reseg_range=(-500.0, 400.0))
    >>> roi = prepare(ct, np.ones(ct.shape, bool), spacing=(2.0, 1.0, 1.0), settings=settings)
    >>> int(roi.morph_mask.sum()), int(roi.intensity_mask.sum()), roi.value_range
    (48, 47, (40.0, 40.0))
    """
    return prepare_reaching(image, mask, spacing, as_settings(settings), PEAK_RADIUS_MM)


def prepare_reaching(image, mask, spacing, settings: Settings, reach_mm: float) -> Roi:
    """:func:`prepare`, the image kept ``reach_mm`` around the ROI's box (see :func:`prepare_box`)."""
    # The voxels of a mask Volume are mask.data: `mask == 1` of a Volume is an error, not a mask.
    name = "mask.data" if isinstance(mask, Volume) else "mask"
    data, mask, spacing = _inputs(image, mask, spacing)
    kind = np.dtype(mask.dtype).kind
    labels = mask if kind in "iu" else None
    # A bool mask is read as it is, not copied whole (roi_voxels: 25 us of a demo study's 32 x 48 x 48
    # mask); the crop the Roi keeps is copied, so that it holds no view of the caller's array.
    inside = mask if kind == "b" else roi_voxels(mask)
    box = roi_box(inside, labels, name=name)
    return prepare_box(data, lambda slices: inside[slices].copy(), box, spacing, settings, reach_mm=reach_mm)


def prepare_box(data, roi_in, box, spacing, settings: Settings, *, reach_mm: float = PEAK_RADIUS_MM) -> Roi:
    """:func:`prepare` for an ROI known by its bounding box and its mask within a part of the image.

    ``roi_in(slices)`` gives the ROI's bool mask on ``data[slices]``; ``box`` is the ROI's
    bounding box, ``(first, last)`` voxel index per axis. Only the image near the box is read, so
    many ROIs of one label image are prepared without a pass over the whole volume each: the box grown
    by ``reach_mm`` [mm] and the few voxels interpolation reads around it. ``reach_mm`` is the local
    intensity peak's sphere by default; :func:`~gpuimg.features.extract` passes 0 where no family it
    runs reads the image beyond the ROI's voxels and the grid is not interpolated.
    """
    xp = namespace(data).xp
    new_spacing = spacing
    if settings.new_spacing is not None:
        new_spacing = tuple(s if n is None else n for s, n in zip(spacing, settings.new_spacing, strict=True))
    roi_image, morph_mask = interpolate_box(
        namespace(data), data, roi_in, box, spacing, new_spacing, settings, reach_mm
    )
    if settings.round_intensities:
        roi_image = _round(xp, roi_image, interpolated=settings.new_spacing is not None)
    intensity_mask, emptied = _resegment(xp, roi_image, morph_mask, settings)
    values = roi_image[intensity_mask]
    # What the host needs of the ROI, in one device read: whether the mask kept a voxel, how many
    # of its voxels and of the image's are not finite, the range of the intensities and the masks'
    # projections on the axes (their boxes; one mask's without re-segmentation).
    masks = [morph_mask] if intensity_mask is morph_mask else [morph_mask, intensity_mask]
    if xp is np:  # the same numbers from one pass of a kernel: 0.04 -> 0.01 ms of a demo ROI
        summary = roi_summary(roi_image, morph_mask, intensity_mask)
    else:
        nonfinite = ~xp.isfinite(roi_image)
        counts = [
            xp.count_nonzero(morph_mask),
            xp.count_nonzero(morph_mask & nonfinite),
            xp.count_nonzero(nonfinite),
        ]
        extremes = [values.min(), values.max()] if values.size else [0.0, 0.0]
        summary = to_numpy(
            xp.concatenate(
                [xp.stack(counts + extremes, dtype=np.float64), *(_projections(xp, m) for m in masks)],
                dtype=np.float64,
            )
        )
    kept, undefined = int(summary[0]), int(summary[1])
    if not kept:
        raise FeatureError(
            f"the mask has no voxel left after interpolation to {new_spacing} mm with a partial-volume "
            f"threshold of {settings.partial_volume}: the ROI is smaller than a new voxel. Use a finer "
            "new_spacing or a lower partial_volume."
        )
    check_finite_roi(undefined, settings, new_spacing)
    if values.size == 0:
        raise FeatureError(f"no voxel of the ROI is left after {emptied()}")
    if not math.isfinite(float(summary[4]) - float(summary[3])):  # every bin width and moment would overflow
        raise FeatureError(
            f"the ROI's intensities span {summary[3]:g} to {summary[4]:g}, more than float64 holds; "
            "check the image's units, or rescale it."
        )
    boxes = [_box(summary[5:], roi_image.shape, k) for k in range(len(masks))]
    return Roi(
        image=roi_image,
        morph_mask=morph_mask,
        intensity_mask=intensity_mask,
        values=values,
        spacing=tuple(float(s) for s in new_spacing),
        settings=settings,
        morph_box=boxes[0],
        intensity_box=boxes[-1],
        value_range=(float(summary[3]), float(summary[4])),
        nonfinite=int(summary[2]),
    )


def check_finite_roi(undefined: int, settings: Settings | None = None, new_spacing=None) -> None:
    """Refuse an ROI (its morphological mask) that holds ``undefined`` NaN or infinite image voxels.

    The features would be NaN without saying why (a centre of mass, Moran's I that speaks of constant
    intensities), so :func:`prepare` and :func:`~gpuimg.features.morphology` refuse them. ``settings``
    and ``new_spacing`` are the chain's, when it interpolated the image (which spreads such voxels).
    """
    if not undefined:
        return
    advice = "replace them (e.g. numpy.nan_to_num) or leave them out of the mask."
    spread = ""
    if settings is not None and settings.new_spacing is not None:
        spread = f" after interpolation to {new_spacing} mm, which spreads them to their neighbours"
        if settings.order == 3:  # the spline's prefilter reaches along whole rows, not only neighbours
            spread = (
                f" after cubic interpolation to {new_spacing} mm, whose spline spreads one many voxels "
                "along its row of the image, not only to its neighbours"
            )
            advice = "replace them (e.g. numpy.nan_to_num), or use interpolation='linear'."
    raise FeatureError(f"the ROI holds {undefined} voxel(s) that are NaN or infinite{spread}: {advice}")


def roi_box(mask, labels=None, *, name: str = "mask") -> list[tuple[int, int]]:
    """The first and last index of ``mask``'s voxels along each axis.

    ``labels``, the integer mask ``mask`` was made from, is checked to hold one label in the ROI;
    ``name`` is how the caller's expressions for one label, in the error, name its voxels.

    Raises
    ------
    FeatureError
        If the mask is empty, or ``labels`` holds two labels or more.
    """
    xp = namespace(mask).xp
    # One kernel pass for the bool masks extract and its chain make; any other mask (uint8, float16, a
    # big-endian or object array, which Numba does not compile or compiles once more) as below.
    if xp is np and labels is None and mask.ndim == 3 and mask.dtype == bool:
        box = mask_box(mask)
        if box is None:
            raise FeatureError(_EMPTY_MASK)
        return box
    # The mask's projection on each axis, read back together: one device sync, not one per axis.
    projections = _projections(xp, mask)
    if labels is not None:  # in the same read: whether the ROI's least and largest labels differ
        ends = np.iinfo(labels.dtype)
        least, largest = xp.where(mask, labels, ends.max).min(), xp.where(mask, labels, ends.min).max()
        projections = xp.concatenate([projections, (least != largest)[None]])
    projections = to_numpy(projections)
    box = _box(projections, mask.shape)
    if labels is not None and projections[-1]:
        found = to_numpy(xp.unique(labels[mask]))
        shown = ", ".join(str(v) for v in found[:5]) + (", ..." if found.size > 5 else "")
        raise FeatureError(
            f"the mask holds {found.size} labels ({shown}) and extract measures one region: pass "
            f"{name} == {found[0]} for one of them, {name} > 0 for their union, or use "
            "gpuimg.features.extract_labels for each label."
        )
    return list(box)


def _projections(xp, mask):
    """Whether each index along each axis holds a voxel of ``mask``: its projections, concatenated.

    The first axis's from the mask seen as rows, the others' from the mask's projection along the
    first axis, and so on: two passes over the mask instead of one per axis.
    """
    parts = []
    while mask.ndim > 1:
        parts.append(mask.reshape(mask.shape[0], math.prod(mask.shape[1:])).any(axis=1))
        mask = mask.any(axis=0)
    return xp.concatenate([*parts, mask])


_EMPTY_MASK = (
    "the mask is empty: no voxel of the ROI is set; give the mask of this image's region of interest."
)


def _box(projections, shape, k=0) -> tuple[tuple[int, int], ...]:
    """The first and last index set along each axis of the ``k``-th mask of ``shape`` whose
    projections (:func:`_projections`) follow each other in ``projections`` (a host array of 0 and 1,
    bool or float64)."""
    # In Python's lists (a few dozen flags an axis): list.index, not numpy.flatnonzero (10 -> 5 us an ROI).
    box, start, total = [], 0, sum(shape)
    flags = projections[k * total : (k + 1) * total].tolist()
    for n in shape:
        part = flags[start : start + n]
        if 1 not in part:
            raise FeatureError(_EMPTY_MASK)
        box.append((part.index(1), n - 1 - part[::-1].index(1)))
        start += n
    return tuple(box)


def _inputs(image, mask, spacing, *, labels: bool = False):
    """The image and mask arrays and the spacing, checked against each other; ``labels``: the mask
    is a label image (:func:`~gpuimg.features.extract_labels`), for the messages."""
    volumes = [v for v in (image, mask) if isinstance(v, Volume)]
    names = [
        "image.data" if isinstance(image, Volume) else "image",
        ("labels" if labels else "mask") + (".data" if isinstance(mask, Volume) else ""),
    ]
    data = image.data if isinstance(image, Volume) else image
    mask = mask.data if isinstance(mask, Volume) else mask
    if is_dask(data) or is_dask(mask):
        import dask

        check_gathered("feature extraction", data, mask)
        # In one pass: a mask made from the image (image > t) shares its reads, which two passes repeat.
        data, mask = dask.compute(data, mask)
    for name, array in zip(names, (data, mask), strict=True):
        check_not_a_file(array, name, error=FeatureError)
    # A masked array's hidden voxels would be read by the kernels and left out by NumPy's reductions.
    if labels:
        left_out = f"np.where({names[0]}.mask, 0, {names[1]})", "0 (background)"
    else:
        left_out = f"{names[1]} & ~{names[0]}.mask", "False"
    hint = f"or pass {names[0]}.data and leave them out of the ROI: {left_out[0]}"
    data = unmasked(data, names[0], error=FeatureError, hint=hint)
    mask = unmasked(mask, names[1], error=FeatureError, hint=f"{left_out[1]} to leave them out of the ROI")
    if not hasattr(data, "dtype"):
        data = np.asarray(data)
    real_dtype(data.dtype, error=FeatureError)
    check_ndim(data, (3,), error=FeatureError)
    check_mask_shape(mask, data, error=FeatureError)
    if spacing is None and not volumes:
        raise FeatureError(
            "the image and mask are arrays, which carry no voxel spacing, and the features depend on "
            "it (volumes, surfaces, the 1 cm³ peak, interpolation): pass spacing=(z, y, x) in mm, "
            "or Volumes (gpuimg.Volume(array, spacing=...))."
        )
    if spacing is None:
        spacing = volumes[0].spacing
    # As every spacing= of gpuimg (check_spacing): no bool (True would be 1 mm), no text ('1.0').
    # A Volume's spacing is 3 floats already: their checks and NumPy's broadcast took 5 us an ROI.
    if not (type(spacing) is tuple and len(spacing) == 3 and all(type(s) is float for s in spacing)):
        refuse_bool(spacing, "spacing", "one or three positive numbers (mm)", error=FeatureError)
        try:
            if isinstance(spacing, str | bytes):
                raise TypeError
            spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, dtype=float), (3,)))
        except (TypeError, ValueError):
            raise FeatureError(
                f"spacing={shown(spacing)} must be one or three positive numbers (mm)."
            ) from None
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        raise FeatureError(f"spacing={spacing!r} must be one or three positive numbers (mm).")
    for volume in volumes:
        # numpy.allclose(volume.spacing, spacing, rtol=1e-5) in Python's floats (the same comparisons,
        # |a - b| <= 1e-8 + 1e-5 |b|): 14 us -> under 1 us.
        if not all(abs(a - b) <= 1e-8 + 1e-5 * abs(b) for a, b in zip(volume.spacing, spacing, strict=True)):
            raise FeatureError(
                f"the spacing {tuple(volume.spacing)} mm of the image or mask differs from {spacing} mm; "
                "image and mask must share one voxel grid."
            )
    if len(volumes) == 2:
        check_same_grid(*volumes, "gpuimg.features", error=FeatureError)
    return data, to_device(mask, namespace(data).device), spacing


#: How far from a half-integer an interpolated intensity is taken for that half-integer when rounded
#: [image units]: beyond the rounding of the interpolation (about 1e-13 for HU on grids of hundreds of
#: voxels), and so small that either integer is equally near.
_TIE = 1e-6


def _round(xp, image, *, interpolated: bool):
    """``image`` rounded to the nearest integer, halves to even (as ``numpy.rint``).

    Where ``interpolated``, a value within :data:`_TIE` of a half-integer is that half-integer first: a
    new voxel centre halfway between two old ones (from 3 mm slices to 2 mm, one new slice in three)
    has the mean of two integers, often an exact half, which the rounding of its position put a few
    ulps to either side, so that rint took it up or down by chance (1 to 6 % of the voxels 1 HU off).
    """
    if interpolated:
        half = xp.floor(image) + 0.5
        image = xp.where(xp.abs(image - half) <= _TIE, half, image)  # NaN and infinities as they are
    return xp.rint(image)


def _resegment(xp, image, morph_mask, settings):
    """The intensity mask: the morphological mask within the re-segmentation range and, where asked,
    within ``outlier_sigma`` standard deviations of the ROI's mean (IBSI 2.6); and a function that
    says which step would leave it empty, and what to do (for the message where it does)."""
    mask, emptied = morph_mask, None
    if settings.reseg_range is not None:
        lower, upper = settings.reseg_range
        mask = mask & (image >= lower) & (image <= upper)

        def emptied():
            return (
                f"the re-segmentation range [{lower}, {upper}]: the ROI's intensities all lie outside it. "
                "Check the image's units (HU?) and the settings' reseg_range."
            )

    if settings.outlier_sigma is not None:
        values = image[mask]
        if values.size == 0:  # emptied by the range already (its shape is known on the host)
            return mask, emptied
        # The mean kept between the extremes, as the exact one is: the rounded mean of a constant ROI of
        # 1/3 missed it by an ulp, beyond 0.5 sigma of the ulp, and every voxel was dropped.
        mean = xp.clip(values.mean(), values.min(), values.max())
        sd = xp.sqrt(((values - mean) ** 2).mean())
        # IBSI keeps a voxel at exactly outlier_sigma deviations (two values in equal numbers lie 1 sd
        # from their mean, one voxel in ten of another value 3 sd), which the rounding of the mean and
        # the sd dropped by an ulp (1 integer ROI in 6 of that kind): 1e-9 of the limit keeps them.
        limit = settings.outlier_sigma * sd * (1.0 + 1e-9)
        mask = mask & (image >= mean - limit) & (image <= mean + limit)

        def emptied():  # at least one voxel lies within 1 sd of the mean: only a sigma below 1 gets here
            sigma = settings.outlier_sigma
            centre, spread = (float(v) for v in to_numpy(xp.stack([mean, sd])))
            return (
                f"outlier filtering at {sigma:g} sigma: every intensity lies more than {sigma:g} standard "
                f"deviations ({sigma * spread:g}) from the ROI's mean {centre:g}, as an outlier_sigma below "
                "1 allows (one at least lies within 1). Use an outlier_sigma of 1 or more (IBSI: 3)."
            )

    return mask, emptied
