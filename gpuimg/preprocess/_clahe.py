"""Contrast-limited adaptive histogram equalisation (CLAHE) in 2D and 3D, as scikit-image's:
:func:`clahe`, with the kernels of :mod:`gpuimg.kernels.clahe`.

It takes a NumPy, CuPy or Dask array (or a :class:`~gpuimg.Volume`, whose geometry it keeps) and returns a
float array on the input's device: float64 for float64 and 32/64-bit integer input, float32 otherwise. On
a Dask array, whose tiles and their neighbours span the chunks, it computes the volume whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gpuimg._arrays import as_image, check_gathered, check_ndim, float_dtype
from gpuimg._memory import check_bytes
from gpuimg._support import check_bins, is_finite
from gpuimg.backend import is_dask, namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import clahe as clahe_kernels
from gpuimg.volume import accepts_volume

from .equalize import Image, _as_3d

#: Grey levels of scikit-image's CLAHE (14 bits).
_GREY_LEVELS = 2**14
#: A CLAHE tile may be at most this many times the image's side (or this squared, in voxels).
_TILE_REFLECTIONS = 8


@accepts_volume(new_units=True)
def clahe(
    image: Image,
    kernel_size: int | Sequence[int] | None = None,
    clip_limit: float = 0.01,
    nbins: int = 256,
) -> Image:
    """Contrast-limited adaptive histogram equalisation in 2D or 3D, as scikit-image's.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 2D or 3D
        Any real intensities (HU, MR units): the range of the image is mapped onto 14-bit grey
        levels first.
    kernel_size : int or sequence of int [voxels], optional
        Size of the contextual regions (tiles); default 1/8 of each axis (at least 1).
    clip_limit : float
        Clipping limit in [0, 1], as a fraction of the voxels of a tile; 0 (or >= 1) does no
        clipping (plain adaptive equalisation).
    nbins : int
        Number of grey-level bins of each tile's histogram.

    Returns
    -------
    array or Volume
        Values in [0, 1]; float32 (float64 for float64 and 32/64-bit integer input).
        A Volume keeps its geometry and meta, less the meta in the input's units: its window
        presets (``meta["windows"]``) and a PET series' units (``meta["units"]``).

    Raises
    ------
    ParameterError
        For a bad ``kernel_size``, ``clip_limit`` or ``nbins``, or an image with NaN or inf
        voxels (replace them first, e.g. with ``xp.nan_to_num``).
    MemoryBudgetError
        If the tiles' histograms and maps, 16 bytes per tile and bin, would exceed the memory budget
        (:mod:`gpuimg._memory`): ``kernel_size=1`` on a 512 x 512 x 300 CT is 322 GB at 256 bins; or
        if a Dask image, computed whole, would (checked before it is read).

    Notes
    -----
    Follows ``skimage.exposure.equalize_adapthist`` step for step (tiling and reflect padding,
    clipping with its redistribution loop, multilinear interpolation summed in float32 and
    truncated, final rescaling to [0, 1]), with the kernels of :mod:`gpuimg.kernels.clahe`.
    scikit-image first converts the image with ``img_as_uint``, which clips negative values and
    requires floats in [-1, 1]; here the range ``[min, max]`` of the image is mapped linearly onto
    the grey levels instead. Both agree exactly (up to the float32 rounding of a result here
    float32) for 8- and 16-bit integer images without negative values (an int16 CT once shifted
    by its minimum), for 32- and 64-bit integer images whose values lie in 0 to 65535 (which
    scikit-image takes as they are), and for images whose values are already uint16 levels
    (``u / 65535`` floats). Of larger 32- and 64-bit values scikit-image keeps only the top 16
    bits of the dtype (a uint32 ``x >> 16``), merging the levels below into one: there the
    results differ (a uint32 image of 0 to 70000 is two levels there). A constant image gives 1
    everywhere, as in scikit-image (its one grey level maps to the top and is clipped to [0, 1]
    by the final rescaling, whatever the constant, the tiles and the clipping). On a Dask array the whole
    volume is computed into memory (the tiles and their neighbours span the chunks) and the
    result is returned as a Dask array with the input's chunks.

    Examples
    --------
    >>> import gpuimg
    >>> from gpuimg.preprocess import clahe
    >>> ct = gpuimg.datasets.ct_phantom((8, 32, 32), seed=0)  # int16 HU
    >>> out = clahe(ct, clip_limit=0.02)  # tiles of 1 x 4 x 4 voxels (1/8 of each axis)
    >>> out.shape, out.dtype, float(out.data.min()), float(out.data.max()), out.spacing == ct.spacing
    ((8, 32, 32), dtype('float32'), 0.0, 1.0, True)
    """
    check_bins(nbins)
    as_image(image, empty=False)
    if not is_finite(clip_limit) or float(clip_limit) < 0:
        raise ParameterError(f"clip_limit={clip_limit!r} must be a number >= 0 (0 for no clipping).")
    clip_limit = float(clip_limit)
    ndim = check_ndim(image, (2, 3))
    shape = tuple(np.shape(image))
    kernel_size = _kernel_size(kernel_size, shape)
    dtype = float_dtype(image.dtype)
    if is_dask(image):
        import dask.array as da

        check_gathered("clahe", image)
        whole = clahe(image.compute(), kernel_size, clip_limit, nbins)
        return da.from_array(whole, chunks=image.chunks, asarray=False)
    ns = namespace(image)
    xp = ns.xp
    low, high = (float(v) for v in (image.min(), image.max()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ParameterError(
            "clahe needs finite voxels, and this image has NaN or inf; replace them first "
            "(e.g. xp.nan_to_num(image, nan=..., posinf=..., neginf=...))."
        )
    if high == low:  # scikit-image's mapped level (> 0) clipped to [0, 1] by its final rescaling
        return xp.ones(shape, dtype=dtype)
    if not math.isfinite(high - low):
        raise ParameterError(
            f"clahe: the values span {low:g} to {high:g}, more than float64 holds; rescale them first."
        )
    top = _GREY_LEVELS - 1
    src = _as_3d(image if image.dtype.kind in "fiu" else image.astype(np.uint8))
    bins = xp.empty(src.shape, dtype=np.uint16)
    clahe_kernels.quantise(
        src,
        bins,
        target=ns.target,
        low=low,
        denom=high - low,
        top=top,
        bin_size=1 + _GREY_LEVELS // int(nbins),
    )
    kernel3 = (1,) * (3 - ndim) + kernel_size
    tiles = tuple(-(-n // k) for n, k in zip(bins.shape, kernel3, strict=True))
    # One histogram (int64) and one map (float64) of nbins per tile: kernel_size=1 on a CT is 16 bytes
    # x nbins per voxel.
    check_bytes(
        16 * math.prod(tiles) * int(nbins),
        f"clahe's histograms and maps of {math.prod(tiles)} tiles (kernel_size={kernel_size}) x "
        f"nbins={nbins}",
    )
    hist = xp.zeros((*tiles, int(nbins)), dtype=np.int64)
    clahe_kernels.tile_histograms(bins, hist, target=ns.target, kernel=kernel3)
    voxels = math.prod(kernel_size)
    limit = int(max(clip_limit * voxels, 1)) if clip_limit > 0 else voxels
    maps = xp.empty(hist.shape, dtype=np.float64)
    clahe_kernels.clip_and_map(
        hist, maps, target=ns.target, clip_limit=limit, scale=float(top) / voxels, max_value=float(top)
    )
    levels = xp.empty(bins.shape, dtype=np.float32)
    clahe_kernels.interpolate(bins, maps, levels, target=ns.target, kernel=kernel3)
    levels = levels.reshape(shape).astype(dtype)
    low, high = (float(v) for v in (levels.min(), levels.max()))
    if high == low:
        return xp.clip(levels, dtype.type(0), dtype.type(1))
    return ((levels - dtype.type(low)) / dtype.type(high - low)).astype(dtype)


def _kernel_size(kernel_size, shape):
    if kernel_size is None:
        return tuple(max(n // 8, 1) for n in shape)
    sizes = np.atleast_1d(np.asarray(kernel_size))
    if sizes.size == 1:
        sizes = np.repeat(sizes, len(shape))
    if sizes.shape != (len(shape),) or sizes.dtype.kind not in "iu" or not np.all(sizes > 0):
        raise ParameterError(
            f"kernel_size={kernel_size!r} must be one positive integer or one per axis ({len(shape)})."
        )
    # A tile reflected past the image many times costs time and changes nothing of use.
    most = [_TILE_REFLECTIONS * max(n, _TILE_REFLECTIONS) for n in shape]
    if any(k > m for k, m in zip(sizes, most, strict=True)):
        raise ParameterError(
            f"kernel_size={kernel_size!r} is more than {_TILE_REFLECTIONS} times the image {tuple(shape)} "
            f"(or {_TILE_REFLECTIONS**2} voxels) on an axis; use a kernel_size of at most {most}."
        )
    return tuple(int(k) for k in sizes)
