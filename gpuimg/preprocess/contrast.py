"""Intensity mappings: CT windows, rescaling and z-scores.

Every function takes a NumPy, CuPy or Dask array (or a :class:`~gpuimg.Volume`, whose geometry it
keeps) and returns a float array on the input's device: float64 for float64 and 32/64-bit integer
input, float32 otherwise, so an int16 CT in HU is read without overflow.

The mappings are voxel-wise and run on Dask arrays chunk by chunk with the result of the whole
volume; the statistics they need from the whole volume (the range of :func:`rescale_intensity`, the
mean of :func:`zscore`) are computed first, then each chunk is mapped lazily. Sharpening is in
:mod:`.sharpen`, histogram operations in :mod:`.equalize`, CLAHE in :mod:`._clahe`.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import as_image, check_known_shape, check_mask_shape, float_dtype, roi_voxels
from gpuimg._support import is_finite
from gpuimg.backend import is_dask, namespace, on_device
from gpuimg.errors import ParameterError
from gpuimg.volume import Volume, accepts_volume

#: An image: a NumPy, CuPy or Dask array, or a Volume.
Image = ArrayLike | Volume

#: A standard deviation below this [image units] is measured again on the values scaled to at most 1:
#: their squared deviations would lose precision below float64's smallest normal number.
_SMALLEST_STD = 2.0**-400
#: A standard deviation below this fraction of the mean [1] is checked for a constant region: far above
#: the rounding error of a mean, far below a spread that matters.
_ROUNDING = 2.0**-26

#: Published CT windows ``name: (level, width)`` [HU], the usual presets as listed by Radiopaedia
#: ("Windowing (CT)"); where it gives a range (subdural W 130-300 L 50-100, stroke W 8/L 32 or
#: W 40/L 40) the value here is one within it.
WINDOWS = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "soft_tissue": (40.0, 400.0),
    "abdomen": (50.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "subdural": (75.0, 200.0),
    "stroke": (40.0, 40.0),
    "temporal_bone": (600.0, 2800.0),
}


@accepts_volume(new_units=True)
def window(
    image: Image,
    level: float | str,
    width: float | None = None,
    *,
    out_range: tuple[float, float] = (0.0, 1.0),
) -> Image:
    """Map the CT window ``[level - width / 2, level + width / 2]`` [HU] linearly onto ``out_range``.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
        Intensities, usually in HU.
    level : float [HU] or str
        Centre of the window, or the name of a preset of :data:`WINDOWS` (then ``width`` must be
        None): ``window(ct, "lung")``.
    width : float [HU]
        Width of the window, > 0.
    out_range : (float, float)
        Values given to the lower and the upper end of the window, different; default (0, 1).
        ``(1, 0)`` inverts it (bone dark), as scikit-image's ``rescale_intensity`` does.

    Returns
    -------
    array or Volume
        Below the window ``out_range[0]``, above it ``out_range[1]``; float32 (float64 for float64
        and 32/64-bit integer input). NaN stays NaN, -inf and +inf go to the ends.
        A Volume keeps its geometry and meta, less the meta in the input's units: its window
        presets (``meta["windows"]``) and a PET series' units (``meta["units"]``).

    Raises
    ------
    ParameterError
        For an unknown preset, a width that is not a positive number, or a bad ``out_range``.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import window
    >>> window(np.array([-1000, 40, 80, 500], dtype=np.int16), "brain").tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    if isinstance(level, str):
        if level not in WINDOWS:
            raise ParameterError(f"window {level!r} is unknown; use one of {sorted(WINDOWS)} or numbers.")
        if width is not None:
            raise ParameterError(f"window {level!r} is a preset: give no width (got width={width!r}).")
        level, width = WINDOWS[level]
    if width is None and np.ndim(level) == 1 and np.size(level) == 2 and all(map(is_finite, level)):
        # (level, width) as WINDOWS holds them, or a range (low, high) as rescale_intensity takes one
        first, second = (float(v) for v in level)
        raise ParameterError(
            f"level={level!r} is a pair; window takes the level and the width [HU] as two numbers: "
            f"window(image, {first!r}, {second!r}) for the level {first!r} and width {second!r} (as "
            f"WINDOWS holds them), or rescale_intensity(image, in_range=({first!r}, {second!r})) for "
            "the range between them."
        )
    if width is None or not is_finite(width) or float(width) <= 0:
        raise ParameterError(f"width={width!r} must be a positive number of HU.")
    if not is_finite(level):
        raise ParameterError(f"level={level!r} must be a finite number of HU.")
    omin, omax = _range("out_range", out_range, ordered=False)
    low = float(level) - float(width) / 2
    return _linear(image, low, low + float(width), omin, omax)


@accepts_volume(new_units=True)
def rescale_intensity(
    image: Image,
    in_range: str | tuple[float, float] = "image",
    out_range: tuple[float, float] = (0.0, 1.0),
) -> Image:
    """Clip to ``in_range`` and map it linearly onto ``out_range``, as ``skimage.exposure.rescale_intensity``.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
    in_range : "image" or (float, float)
        The input range; "image" takes the smallest and largest finite voxel.
    out_range : (float, float)
        The values given to the low and the high end of ``in_range``; default (0, 1). ``(1, 0)``
        inverts the image, as in scikit-image.

    Returns
    -------
    array or Volume
        float32 (float64 for float64 and 32/64-bit integer input).
        A Volume keeps its geometry and meta, less the meta in the input's units: its window
        presets (``meta["windows"]``) and a PET series' units (``meta["units"]``).

    Raises
    ------
    ParameterError
        For an ``in_range`` string other than "image", an ``in_range`` or ``out_range`` that is not two
        finite numbers (``in_range`` with min <= max), or, with "image", an image with no finite voxel.

    Notes
    -----
    Equals scikit-image's ``rescale_intensity(image, in_range, out_range)`` for a tuple
    ``out_range`` (scikit-image's ``"dtype"`` output ranges are not offered: the output is
    always float). Unlike scikit-image, ``"image"`` ignores NaN and inf when finding the range
    (scikit-image turns the whole image NaN); NaN stays NaN and inf goes to an end of the range.
    A constant image (empty input range) is clipped to ``out_range``, as in scikit-image.
    On a Dask array the range is computed first, then each chunk is mapped.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import rescale_intensity
    >>> ct = np.array([-1000, 0, 1000, 3000], dtype=np.int16)  # HU
    >>> rescale_intensity(ct).tolist()  # the image's range, -1000 to 3000 HU, onto [0, 1]
    [0.0, 0.25, 0.5, 1.0]
    >>> rescale_intensity(ct, in_range=(-1000, 1000), out_range=(0, 255)).tolist()  # 3000 clipped
    [0.0, 127.5, 255.0, 255.0]
    """
    if isinstance(in_range, str):
        if in_range != "image":
            raise ParameterError(f"in_range={in_range!r} must be 'image' or a (min, max) pair.")
        low, high = _finite_range(image)
    else:
        low, high = _range("in_range", in_range, allow_equal=True)
    omin, omax = _range("out_range", out_range, allow_equal=True, ordered=False)
    return _linear(image, low, high, omin, omax)


@accepts_volume(new_units=True)
def zscore(image: Image, mask: ArrayLike | None = None) -> Image:
    """Subtract the mean and divide by the standard deviation (of the voxels in ``mask``).

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
    mask : array of bool, same shape, optional
        The voxels whose mean and standard deviation (population, ``ddof=0``) are used; every
        voxel is normalised. Default: the whole image.

    Returns
    -------
    array or Volume
        float32 (float64 for float64 and 32/64-bit integer input). Statistics are accumulated in
        float64 and ignore NaN and inf voxels, which stay NaN and +-inf. A constant region
        (standard deviation 0) gives ``image - mean``. Values whose sum would overflow float64, whose
        squared deviations would underflow it or whose ``1 / std`` would overflow the output's type
        (float32 subnormals) are scaled by a power of two first, which leaves the z-score unchanged.
        A Volume keeps its geometry and meta, less the meta in the input's units: its window
        presets (``meta["windows"]``) and a PET series' units (``meta["units"]``).

    Raises
    ------
    ParameterError
        If ``mask`` has another shape or selects no finite voxel.
    GeometryError
        If ``mask`` is a Volume on another grid than the image Volume (spacing, origin, direction).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import zscore
    >>> zscore(np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])).tolist()  # mean 5, std 2
    [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0]
    >>> tissue = np.array([True, True, False, False])  # statistics of 10 and 20: mean 15, std 5
    >>> zscore(np.array([10.0, 20.0, 30.0, 40.0]), mask=tissue).tolist()  # every voxel mapped
    [-1.0, 1.0, 3.0, 5.0]
    """
    xp = namespace(image).xp
    dtype = float_dtype(image.dtype)
    finite = xp.isfinite(image)
    if mask is not None:
        mask = _mask(image, mask)
        finite = finite & mask
    exponent, extremes = 0, None
    count, mean, std = _mean_std(_as_float(image, np.dtype(np.float64)), finite)
    if count == 0:
        raise ParameterError("zscore: the mask selects no finite voxel; give a mask that covers the image.")
    largest = float(np.finfo(dtype).max)
    if not (math.isfinite(mean) and _SMALLEST_STD < std < math.inf and 1.0 / std < largest):
        # A sum past float64's range, squared deviations below it, or 1 / std past the output's:
        # the same statistics of the values scaled by a power of two (exact) to at most 1 in size.
        extremes = _finite_range(image, mask)
        exponent = math.frexp(max(abs(v) for v in extremes))[1]
        _, mean, std = _mean_std(xp.ldexp(_as_float(image, np.dtype(np.float64)), -exponent), finite)
    if 0.0 < std <= _ROUNDING * abs(mean):
        # A spread at the rounding error of the mean may be a constant region whose rounded mean missed
        # its value (0.1 seven times sums to 0.7000000000000001), which gave every voxel 1, not 0.
        low, high = extremes or _finite_range(image, mask)
        if low == high:
            mean, std = math.ldexp(float(low), -exponent), 0.0
    if std == 0:  # a constant region: image - mean, unscaled
        mean, exponent = math.ldexp(mean, exponent), 0
    out = _as_float(image, dtype)
    out = (xp.ldexp(out, -exponent) if exponent else out) - dtype.type(mean)
    out *= dtype.type(1.0 / std if std > 0 else 1.0)
    return out


def _mean_std(values, finite):
    """Count, mean and standard deviation (``ddof=0``) of the ``finite`` float64 ``values``.

    Two passes (mean, then squared deviations) for accuracy; each temporary freed once used and the
    arithmetic done in place, so that a GPU holds a few volumes at a time. No count gives NaNs.
    """
    xp = namespace(values).xp
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        count, total = (float(v) for v in _compute(finite.sum(), xp.where(finite, values, 0.0).sum()))
        mean = total / count if count else math.nan
        squared = values - mean
        del values
        squared **= 2
        deviation = float(_compute(xp.where(finite, squared, 0.0).sum())[0])
    return int(count), mean, math.sqrt(deviation / count) if count else math.nan


# ---------------------------------------------------------------------------------------------
# Helpers (_finite_range and _mask are also used by equalize.py)


def _linear(image, low, high, omin, omax):
    """Clip to [low, high] and map linearly onto [omin, omax], voxel by voxel (Dask: lazily)."""
    xp = namespace(image).xp
    dtype = float_dtype(image.dtype)
    lowest, highest = dtype.type(low), dtype.type(high)
    # The ends are rounded to the output's dtype, as the voxels are (a float32 voxel at an end maps
    # to the end exactly). A window narrower than float32's step at its level (or past its range)
    # has no float32 ends apart: it gave every voxel out_range[0], 2000 HU under a window of 1e-5
    # at 1000 too; one wider than float32's range overflowed (NaN). Those are mapped in float64.
    apart = lowest < highest and float(highest) - float(lowest) <= float(np.finfo(dtype).max)
    work = dtype if apart or high == low else np.dtype(np.float64)
    out = xp.clip(_as_float(image, work), work.type(low), work.type(high))  # a new array
    if high == low:
        return xp.clip(out, work.type(omin), work.type(omax)).astype(dtype, copy=False)
    # The same arithmetic in place (one volume of the output's dtype on a GPU, not four).
    out -= work.type(low)
    # The clipped values' own span, so that the window's ends go to out_range's ends exactly: the
    # width rounded on its own differs from it by the rounding of low and high (0.9996 for a voxel
    # above the window (100.3, 100.31) in float32). Never 0: the ends are apart in ``work``.
    out /= work.type(high) - work.type(low)
    out *= work.type(omax - omin)
    out += work.type(omin)
    return out.astype(dtype, copy=False)


def _as_float(image, dtype):
    """``image`` as ``dtype`` on its device (a Dask array stays lazy)."""
    return image.astype(dtype) if is_dask(image) else namespace(image).xp.asarray(image, dtype=dtype)


def _finite_range(image, mask=None):
    """Smallest and largest finite voxel (in ``mask``), as Python numbers (computed)."""
    if image.size == 0:
        raise ParameterError(f"the image is empty (shape {image.shape}); nothing to measure its range by.")
    xp = namespace(image).xp
    if image.dtype.kind in "biu" and mask is None:
        low, high = _compute(_extreme(image, "min"), _extreme(image, "max"))
        return int(low), int(high)
    if mask is None and not is_dask(image):  # a Dask image is read once, for its finite range at once
        low, high = (float(v) for v in _compute(_extreme(image, "min"), _extreme(image, "max")))
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    keep = xp.isfinite(image) if image.dtype.kind == "f" else xp.ones_like(image, dtype=bool)
    if mask is not None:
        keep = keep & mask
    low, high, count = _compute(
        _extreme(xp.where(keep, image, np.inf), "min"),
        _extreme(xp.where(keep, image, -np.inf), "max"),
        keep.sum(),
    )
    if int(count) == 0:
        raise ParameterError("the image has no finite voxel (in the mask); nothing to measure its range by.")
    if image.dtype.kind in "iu":
        return int(low), int(high)
    return float(low), float(high)


def _extreme(values, kind: str):
    """``values.min()`` or ``values.max()`` (``kind``); of a Dask array, one that holds chunks of no
    voxel too, known or not (after a boolean selection by a Dask array), where Dask's own fails
    (NumPy's ValueError 'all the input array dimensions except for the concatenation axis must match
    exactly' from joining its chunks' results)."""
    if not is_dask(values):
        return getattr(values, kind)()
    import dask.array as da

    block = partial(_block_extreme, kind=kind)
    return da.reduction(values, block, block, dtype=values.dtype, meta=values._meta)


def _block_extreme(block, axis=None, keepdims=False, *, kind):
    """The smallest or largest value of one chunk; of a chunk of no voxel, the value that changes
    neither (+inf for the smallest float, the integer type's largest for the smallest integer)."""
    if block.size:
        return getattr(block, kind)(axis=axis, keepdims=keepdims)
    dtype = np.dtype(block.dtype)
    if dtype.kind == "f":
        identity = np.inf if kind == "min" else -np.inf
    elif dtype.kind == "b":
        identity = kind == "min"
    else:
        identity = getattr(np.iinfo(dtype), "max" if kind == "min" else "min")
    shape = (1,) * block.ndim if keepdims else ()
    return namespace(block).xp.full(shape, identity, dtype=dtype)


def _compute(*values):
    """Values as computed arrays: Dask results are computed together, others pass through."""
    if any(is_dask(v) for v in values):
        import dask

        return dask.compute(*values)
    return values


def _range(name, pair, allow_equal=False, ordered=True):
    """``pair`` as two floats; ``ordered``: the first below the second (or equal, ``allow_equal``).
    An output range need not be ordered: ``(1, 0)`` inverts the mapping, as in scikit-image."""
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={pair!r} must be a pair of numbers (min, max).") from None
    if not (math.isfinite(low) and math.isfinite(high)) or (ordered and high < low):
        raise ParameterError(f"{name}={pair!r} must be two finite numbers with min < max.")
    if high == low and not allow_equal:
        raise ParameterError(f"{name}={pair!r} must be two different finite numbers.")
    return low, high


def _mask(image, mask):
    """``mask`` as bool on the image's device (a Dask mask stays lazy), checked against the image."""
    if isinstance(mask, Volume):
        mask = mask.data
    mask = as_image(mask, "mask")  # a list becomes an array; a file name is told to be read
    for name, array in (("image", image), ("mask", mask)):  # NaN sizes would never match
        check_known_shape(array, name)
    check_mask_shape(mask, image)
    return roi_voxels(mask) if is_dask(mask) else on_device(namespace(image), mask, "mask", bool)
