"""Intensity and contrast: CT windows, rescaling, z-scores, sharpening and histogram equalisation.

Every function takes a NumPy, CuPy or Dask array (or a :class:`~gpuimg.Volume`, whose geometry it
keeps) and returns a float array on the input's device: float64 for float64 and 32/64-bit integer
input, float32 otherwise, so an int16 CT in HU is read without overflow.

Voxel-wise operations (:func:`window`, :func:`rescale_intensity`, :func:`zscore`) and stencils
(:func:`laplacian_sharpen`, :func:`unsharp_mask`) run on Dask arrays chunk by chunk with the result of
the whole volume. Operations that need the whole volume's statistics (the range of
:func:`rescale_intensity`, the mean of :func:`zscore`, the histograms of :func:`match_histogram`
and :func:`equalize_hist`) compute those statistics first, then map each chunk lazily;
:func:`clahe`, whose tiles and their neighbours span the chunks, computes the volume whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._support import as_image, check_bins
from gpuimg._support import check_mode as _check_mode
from gpuimg._units import voxels
from gpuimg.backend import bincount_fixed, is_dask, map_stencil, namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import clahe as clahe_kernels
from gpuimg.kernels import histogram as kernel
from gpuimg.volume import Volume, accepts_volume

#: An image: a NumPy, CuPy or Dask array, or a Volume.
Image = ArrayLike | Volume
Spacing = float | Sequence[float] | None

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

#: Most bins of an integer image's histogram (one bin per value).
_MAX_INTEGER_BINS = 2**24
#: A CLAHE tile may be at most this many times the image's side (or this squared, in voxels).
_TILE_REFLECTIONS = 8


@accepts_volume
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
        Values given to the lower and the upper end of the window. Default (0, 1).

    Returns
    -------
    array or Volume
        Below the window ``out_range[0]``, above it ``out_range[1]``; float32 (float64 for float64
        and 32/64-bit integer input). NaN stays NaN, -inf and +inf go to the ends.

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
    if width is None or not _finite(width) or width <= 0:
        raise ParameterError(f"width={width!r} must be a positive number of HU.")
    if not _finite(level):
        raise ParameterError(f"level={level!r} must be a finite number of HU.")
    omin, omax = _range("out_range", out_range)
    low = float(level) - float(width) / 2
    return _linear(image, low, low + float(width), omin, omax)


@accepts_volume
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
        The output range. Default (0, 1).

    Returns
    -------
    array or Volume
        float32 (float64 for float64 and 32/64-bit integer input).

    Notes
    -----
    Equals scikit-image's ``rescale_intensity(image, in_range, out_range)`` for a tuple
    ``out_range`` (scikit-image's ``"dtype"`` output ranges are not offered: the output is
    always float). Unlike scikit-image, ``"image"`` ignores NaN and inf when finding the range
    (scikit-image turns the whole image NaN); NaN stays NaN and inf goes to an end of the range.
    A constant image (empty input range) is clipped to ``out_range``, as in scikit-image.
    On a Dask array the range is computed first, then each chunk is mapped.
    """
    if isinstance(in_range, str):
        if in_range != "image":
            raise ParameterError(f"in_range={in_range!r} must be 'image' or a (min, max) pair.")
        low, high = _finite_range(image)
    else:
        low, high = _range("in_range", in_range, allow_equal=True)
    omin, omax = _range("out_range", out_range, allow_equal=True)
    return _linear(image, low, high, omin, omax)


@accepts_volume
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
        (standard deviation 0) gives ``image - mean``.

    Raises
    ------
    ParameterError
        If ``mask`` has another shape or selects no finite voxel.
    """
    ns = namespace(image)
    xp = ns.xp
    dtype = _float_dtype(image)
    values = _as_float(image, np.dtype(np.float64))
    finite = xp.isfinite(values)
    if mask is not None:
        mask = _mask(image, mask)
        finite = finite & mask
    count, total = (float(v) for v in _compute(finite.sum(), xp.where(finite, values, 0.0).sum()))
    if count == 0:
        raise ParameterError("zscore: the mask selects no finite voxel; give a mask that covers the image.")
    mean = total / count
    # Two passes (mean, then squared deviations) for accuracy; each temporary freed once used and
    # the arithmetic done in place, so that a GPU holds a few volumes at a time.
    squared = values - mean
    del values
    squared **= 2
    deviation = xp.where(finite, squared, 0.0).sum()
    del squared, finite
    std = math.sqrt(float(_compute(deviation)[0]) / count)
    scale = 1.0 / std if std > 0 else 1.0
    out = _as_float(image, dtype) - dtype.type(mean)
    out *= dtype.type(scale)
    return out


@accepts_volume
def laplacian_sharpen(image: Image, alpha: float = 1.0, *, mode: str = "reflect", cval: float = 0.0) -> Image:
    """Sharpen as ``image - alpha * laplace(image)`` with ``scipy.ndimage.laplace`` (voxel units).

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
    alpha : float
        Strength; 0 returns the image (as float).
    mode, cval
        Boundary handling of the Laplacian, as in ``scipy.ndimage``.

    Returns
    -------
    array or Volume
        float32 (float64 for float64 and 32/64-bit integer input).

    Notes
    -----
    A NaN or inf makes itself and its face neighbours (6 in 3D; past the edges as ``mode``
    extends the image) non-finite, with SciPy's values: away from the edges and from other
    non-finite voxels, a NaN gives NaN, and an inf, for ``alpha > 0``, stays an inf and gives its
    neighbours an inf of the opposite sign. ``alpha = 0`` returns the image, NaN and inf as they are.
    """
    if not _finite(alpha):
        raise ParameterError(f"alpha={alpha!r} must be a finite number.")
    _check_mode(mode)
    dtype = _float_dtype(image)
    run = partial(_laplacian_sharpen, alpha=float(alpha), mode=mode, cval=cval, dtype=dtype)
    if is_dask(image):
        return map_stencil(run, image, depth=1, periodic=mode == "wrap", dtype=dtype)
    return run(image)


def _laplacian_sharpen(image, *, alpha, mode, cval, dtype):
    ns = namespace(image)
    work = ns.xp.asarray(image, dtype=dtype)
    if alpha == 0.0:  # not work - 0 * laplace: 0 * inf would be NaN around every inf
        return work.copy()
    return work - dtype.type(alpha) * ns.ndi.laplace(work, mode=mode, cval=cval)


@accepts_volume
def unsharp_mask(
    image: Image,
    sigma: float | Sequence[float] | None = None,
    amount: float = 1.0,
    *,
    sigma_mm: float | Sequence[float] | None = None,
    spacing: Spacing = None,
    mode: str = "reflect",
    cval: float = 0.0,
) -> Image:
    """Unsharp masking, ``image + amount * (image - gaussian(image, sigma))``, in the image's units.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
    sigma : float or sequence of float [voxels], optional
        Standard deviation of the Gaussian blur (scikit-image's ``radius``), > 0; default 1 voxel.
    amount : float
        Strength of the sharpening.
    sigma_mm : float or sequence of float [mm], optional
        The blur's standard deviation in mm instead: ``sigma_mm / spacing[a]`` voxels along axis
        ``a``; needs ``spacing`` or a Volume.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``sigma_mm``; a Volume brings its own.
    mode, cval
        Boundary handling of the blur, as in ``scipy.ndimage`` (scikit-image uses "reflect").

    Returns
    -------
    array or Volume
        float32 (float64 for float64 and 32/64-bit integer input).

    Notes
    -----
    Equals ``skimage.filters.unsharp_mask(image, radius=sigma, amount=amount,
    preserve_range=True)``: intensities keep their units (HU stay HU) and nothing is clipped.
    (With ``preserve_range=False`` scikit-image first scales integers to [0, 1] or [-1, 1] and
    clips the result to that range.) The blur is ``scipy.ndimage.gaussian_filter`` truncated at
    4 sigma; on a Dask array it runs chunk by chunk with that halo. As in scikit-image, a NaN or
    inf makes every voxel within the blur's radius (``int(4 sigma + 0.5)`` voxels per axis)
    non-finite: a NaN gives NaN; an inf voxel becomes NaN (``inf - inf``) and, for
    ``amount > 0``, the others an inf of the opposite sign (NaN where a +inf and a -inf, or a
    NaN, reach).
    """
    _check_mode(mode)
    if not _finite(amount):
        raise ParameterError(f"amount={amount!r} must be a finite number.")
    sigmas = voxels("sigma", sigma, sigma_mm, spacing, np.ndim(image), default=1.0)
    dtype = _float_dtype(image)
    run = partial(_unsharp, sigma=sigmas, amount=float(amount), mode=mode, cval=cval, dtype=dtype)
    if is_dask(image):
        depth = tuple(int(4.0 * s + 0.5) for s in sigmas)
        return map_stencil(run, image, depth=depth, periodic=mode == "wrap", dtype=dtype)
    return run(image)


def _unsharp(image, *, sigma, amount, mode, cval, dtype):
    ns = namespace(image)
    work = ns.xp.asarray(image, dtype=dtype)
    blurred = ns.ndi.gaussian_filter(work, sigma, mode=mode, cval=cval)
    return work + (work - blurred) * dtype.type(amount)


@accepts_volume
def match_histogram(image: Image, reference: ArrayLike | Volume) -> Image:
    """Map intensities so that the histogram of ``image`` matches that of ``reference``.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
    reference : array or Volume, any shape, same device
        The image whose distribution of values is wanted.

    Returns
    -------
    array or Volume
        float32 (float64 for float64 and 32/64-bit integer input).

    Notes
    -----
    Equals ``skimage.exposure.match_histograms(image, reference)``: each distinct value of
    ``image`` goes to the value of ``reference`` at the same quantile (linear interpolation
    between the reference's distinct values). NaN voxels are left out of both distributions and
    stay NaN (scikit-image counts each NaN as a value). On a Dask array, the distinct values and
    counts of the whole volume are computed first, then each chunk is mapped.
    """
    if isinstance(reference, Volume):
        reference = reference.data
    ns = namespace(image)
    xp = ns.xp
    dtype = _float_dtype(image)
    src_values, src_counts = _unique_counts(image)
    ref_values, ref_counts = _unique_counts(reference)
    if ref_values.size == 0:
        raise ParameterError("match_histogram: the reference has no value that is not NaN.")
    src_quantiles = xp.cumsum(src_counts) / float(src_counts.sum())
    ref_quantiles = xp.cumsum(ref_counts) / float(ref_counts.sum())
    mapped = xp.interp(src_quantiles, ref_quantiles, ref_values.astype(np.float64))
    run = partial(_lookup_values, values=src_values, mapped=mapped, dtype=dtype)
    if is_dask(image):
        return image.map_blocks(run, dtype=dtype, meta=xp.empty((0,) * image.ndim, dtype=dtype))
    return run(image)


def _unique_counts(image):
    """The distinct non-NaN values of ``image`` and their counts (Dask: merged over the chunks)."""
    xp = namespace(image).xp
    if is_dask(image):
        import dask

        parts = dask.compute(*[dask.delayed(_unique_counts)(b) for b in image.to_delayed().ravel()])
        values, inverse = xp.unique(xp.concatenate([p[0] for p in parts]), return_inverse=True)
        weights = xp.concatenate([p[1] for p in parts]).astype(np.float64)
        return values, bincount_fixed(inverse.ravel(), weights, length=values.size).astype(np.int64)
    values, counts = xp.unique(xp.asarray(image).ravel(), return_counts=True)
    if values.dtype.kind == "f":
        keep = ~xp.isnan(values)
        values, counts = values[keep], counts[keep]
    return values, counts


def _lookup_values(block, *, values, mapped, dtype):
    xp = namespace(block).xp
    index = xp.clip(xp.searchsorted(values, block), 0, values.size - 1)
    out = mapped[index].astype(dtype)
    if block.dtype.kind == "f":
        out = xp.where(xp.isnan(block), dtype.type(np.nan), out)
    return out


@accepts_volume
def equalize_hist(image: Image, nbins: int = 256, mask: ArrayLike | None = None) -> Image:
    """Histogram equalisation: each voxel goes to the cumulative distribution at its value.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
    nbins : int
        Number of equal bins between the smallest and largest value (float input). Integer
        input has one bin per integer value from its minimum to its maximum, as in scikit-image.
    mask : array of bool, same shape, optional
        Only these voxels make the histogram; every voxel is mapped.

    Returns
    -------
    array or Volume
        Values in (0, 1]; float32 (float64 for float64 and 32/64-bit integer input).

    Raises
    ------
    ParameterError
        If ``nbins`` is not a positive integer, the mask has another shape, no voxel is finite,
        or an integer image spans 2**24 values or more (cast it to float32 first).

    Notes
    -----
    Equals ``skimage.exposure.equalize_hist(image, nbins, mask)``: the histogram has NumPy's bins
    (the same counts as ``np.histogram``) and the mapping is ``np.interp(image, bin_centres, cdf)``
    with NumPy's arithmetic. Both passes are kernels of :mod:`gpuimg.kernels.histogram` (for an
    integer image without a mask, the histogram is its integer count, one bin per value).
    NaN and inf voxels are left out of the histogram (scikit-image raises); NaN stays NaN, -inf
    maps to the first bin's value and +inf to 1. On a Dask array the range and the histogram of
    the whole volume are computed first (one pass each), then each chunk is mapped lazily.
    """
    check_bins(nbins)
    as_image(image, empty=False)
    ndim = np.ndim(image)
    if ndim not in (1, 2, 3):
        raise ParameterError(f"the image must be 1D, 2D or 3D; got {ndim}D, shape {np.shape(image)}.")
    dtype = _float_dtype(image)
    xp = namespace(image).xp
    if image.dtype == bool:
        image = image.astype(np.uint8)
    elif image.dtype == np.float16:
        image = image.astype(np.float32)
    if mask is not None:
        mask = _mask(image, mask)
    lo, hi = _finite_range(image, mask)
    if image.dtype.kind in "iu":
        lo, hi = int(lo), int(hi)
        if hi - lo >= _MAX_INTEGER_BINS:
            raise ParameterError(
                f"equalize_hist: integer values from {lo} to {hi} would need {hi - lo + 1} bins (one per "
                f"value, as in scikit-image); cast the image to float32 to use nbins={nbins} bins."
            )
        centres = np.arange(lo, hi + 1, dtype=np.float64)
        if mask is None:  # one bin per value: the integer count, no float edges
            count = partial(_count_integers, smallest=lo, nbins=centres.size)
        else:
            edges = xp.asarray(np.arange(lo - 0.5, hi + 1.0, dtype=np.float64))
            first, denom = np.float64(lo - 0.5), np.float64(hi - lo + 1)
            count = partial(_count_bins, first=first, denom=denom, edges=edges)
    else:
        kind = image.dtype.type
        first, last = kind(lo), kind(hi)
        if first == last:
            first, last = first - kind(0.5), last + kind(0.5)
        edges = np.linspace(first, last, int(nbins) + 1, endpoint=True, dtype=image.dtype)
        centres = ((edges[:-1] + edges[1:]) / 2.0).astype(np.float64)
        count = partial(_count_bins, first=first, denom=kind(last - first), edges=xp.asarray(edges))
    centres_dev = xp.asarray(centres)
    if is_dask(image):
        import dask

        masks = mask.rechunk(image.chunks) if is_dask(mask) else None
        if mask is not None and masks is None:
            import dask.array as da

            masks = da.from_array(mask, chunks=image.chunks)
        blocks = image.to_delayed().ravel()
        mask_blocks = masks.to_delayed().ravel() if masks is not None else [None] * len(blocks)
        parts = dask.compute(*[dask.delayed(count)(b, m) for b, m in zip(blocks, mask_blocks, strict=True)])
        hist = sum(parts[1:], parts[0])
    else:
        hist = count(image, mask)
    cdf = xp.cumsum(hist).astype(np.float64)
    cdf /= cdf[-1]
    if image.dtype == np.float32:
        cdf = cdf.astype(np.float32).astype(np.float64)  # scikit-image's cdf is float32 here
    spacing = (centres[-1] - centres[0]) / max(centres.size - 1, 1)
    lookup = partial(
        _equalize_block,
        centres=centres_dev,
        cdf=cdf,
        inv_step=np.float64(1.0 / spacing if spacing else 0.0),
        dtype=dtype,
    )
    if is_dask(image):
        return image.map_blocks(lookup, dtype=dtype, meta=xp.empty((0,) * ndim, dtype=dtype))
    return lookup(image)


def _as_3d(block):
    xp = namespace(block).xp
    block = xp.ascontiguousarray(block)
    return block.reshape((1,) * (3 - block.ndim) + block.shape)


def integer_counts(image) -> tuple[int, object]:
    """The number of voxels of each value of an integer image, from its smallest value.

    Parameters
    ----------
    image : integer array (NumPy or CuPy), any shape, not empty
        Values spanning fewer than 2**24 integers (16-bit CT in HU spans at most 65,536).

    Returns
    -------
    smallest : int
        The image's smallest value.
    counts : int64 array on the image's device
        ``counts[k]`` voxels equal ``smallest + k``, up to the largest value: what
        ``np.bincount(image.ravel() - smallest)`` gives.

    Raises
    ------
    ParameterError
        If the image is not of an integer dtype, is empty, or its values span 2**24 integers or more.

    Notes
    -----
    One pass of the integer count kernel of :mod:`gpuimg.kernels.histogram` over the values in
    memory order (a non-contiguous image is copied first): ``counts[value - smallest] += 1``, no
    float arithmetic. The bins start at the smallest value, found by a min/max pass first; on the
    CPU, 8- and 16-bit images of at least 16 voxels per value of their dtype (about 1 million for
    16 bits) are instead counted over every value of the dtype, with no min/max pass, and the
    counts trimmed to the values present. On the CPU each thread counts its share into a private
    histogram, summed at the end (``np.bincount`` first copies the values to 64-bit integers, four
    times the bytes of an int16 volume); on CUDA each block of 256 threads counts its share into
    shared memory, or with global atomics when there are more than
    :data:`gpuimg.kernels.histogram.SHARED_BINS` bins.

    Examples
    --------
    >>> integer_counts(np.array([[3, 5], [5, 5]], dtype=np.int16))
    (3, array([1, 0, 3]))
    """
    if image.dtype.kind not in "iu":
        raise ParameterError(f"integer_counts counts integer images; got dtype {image.dtype}.")
    if image.size == 0:
        raise ParameterError(f"integer_counts: the image of shape {image.shape} is empty; give it voxels.")
    ns = namespace(image)
    flat = ns.xp.ascontiguousarray(image).ravel()
    if kernel.counts_whole_dtype(flat, target=ns.target):
        lowest = int(np.iinfo(flat.dtype).min)
        counts = ns.xp.zeros(256**flat.dtype.itemsize, dtype=np.int64)
        kernel.integer_counts(flat, counts, flat.dtype.type(lowest), target=ns.target)
        present = counts != 0
        first, last = int(present.argmax()), counts.size - 1 - int(present[::-1].argmax())
        return lowest + first, counts[first : last + 1].copy()
    lo, hi = _finite_range(image)
    if hi - lo >= _MAX_INTEGER_BINS:
        raise ParameterError(f"integer values from {lo} to {hi} span {hi - lo + 1} bins, 2**24 or more.")
    return lo, _count_integers(flat, None, smallest=lo, nbins=hi - lo + 1)


def _count_integers(block, mask, *, smallest, nbins):
    """Counts (int64, on the block's device) of the integers ``smallest`` to ``smallest + nbins - 1``
    in one block, all of whose values are among them; ``mask`` is None (as :func:`_count_bins` takes)."""
    ns = namespace(block)
    counts = ns.xp.zeros(nbins, dtype=np.int64)
    flat = ns.xp.ascontiguousarray(block).ravel()
    kernel.integer_counts(flat, counts, flat.dtype.type(smallest), target=ns.target)
    return counts


def _count_bins(block, mask, *, first, denom, edges):
    """Histogram (int64, on the block's device) of one block with NumPy's bins."""
    ns = namespace(block)
    hist = ns.xp.zeros(edges.size - 1, dtype=np.int64)
    src = _as_3d(block)
    if src.size == 0:
        return hist
    use_mask = mask is not None
    flags = _as_3d(ns.xp.asarray(mask, dtype=np.uint8)) if use_mask else ns.xp.zeros((1, 1, 1), np.uint8)
    kernel.histogram(
        src, flags, hist, target=ns.target, lo=first, denom=denom, edges=edges, use_mask=use_mask
    )
    return hist


def _equalize_block(block, *, centres, cdf, inv_step, dtype):
    ns = namespace(block)
    src = _as_3d(block)
    out = ns.xp.empty(src.shape, dtype=dtype)
    if out.size:
        kernel.equalize(src, out, target=ns.target, centres=centres, cdf=cdf, inv_step=inv_step)
    return out.reshape(block.shape)


#: Grey levels of scikit-image's CLAHE (14 bits).
_GREY_LEVELS = 2**14


@accepts_volume
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

    Raises
    ------
    ParameterError
        For a bad ``kernel_size``, ``clip_limit`` or ``nbins``, or an image with NaN or inf
        voxels (replace them first, e.g. with ``xp.nan_to_num``).

    Notes
    -----
    Follows ``skimage.exposure.equalize_adapthist`` step for step (tiling and reflect padding,
    clipping with its redistribution loop, multilinear interpolation summed in float32 and
    truncated, final rescaling to [0, 1]), with the kernels of :mod:`gpuimg.kernels.clahe`.
    scikit-image first converts the image with ``img_as_uint``, which clips negative values and
    requires floats in [-1, 1]; here the range ``[min, max]`` of the image is mapped linearly onto
    the grey levels instead. Both agree exactly for unsigned integer images and for images whose
    values are already uint16 levels (``u / 65535`` floats), and for any integer image once it
    is shifted to be non-negative (an int16 CT minus its minimum). A constant image gives 0
    everywhere (scikit-image's result then depends on the constant's value). On a Dask array the whole
    volume is computed into memory (the tiles and their neighbours span the chunks) and the
    result is returned as a Dask array with the input's chunks.
    """
    check_bins(nbins)
    as_image(image, empty=False)
    if not _finite(clip_limit) or clip_limit < 0:
        raise ParameterError(f"clip_limit={clip_limit!r} must be a number >= 0 (0 for no clipping).")
    ndim = np.ndim(image)
    if ndim not in (2, 3):
        raise ParameterError(f"clahe needs a 2D or 3D image; got {ndim}D, shape {np.shape(image)}.")
    shape = tuple(np.shape(image))
    kernel_size = _kernel_size(kernel_size, shape)
    dtype = _float_dtype(image)
    if is_dask(image):
        import dask.array as da

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
    if high == low:
        return xp.zeros(shape, dtype=dtype)
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


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _linear(image, low, high, omin, omax):
    """Clip to [low, high] and map linearly onto [omin, omax], voxel by voxel (Dask: lazily)."""
    xp = namespace(image).xp
    dtype = _float_dtype(image)
    out = xp.clip(_as_float(image, dtype), dtype.type(low), dtype.type(high))  # a new array
    if high == low:
        return xp.clip(out, dtype.type(omin), dtype.type(omax))
    # The same arithmetic in place (one volume of the output's dtype on a GPU, not four).
    out -= dtype.type(low)
    out /= dtype.type(high - low)
    out *= dtype.type(omax - omin)
    out += dtype.type(omin)
    return out


def _as_float(image, dtype):
    """``image`` as ``dtype`` on its device (a Dask array stays lazy)."""
    return image.astype(dtype) if is_dask(image) else namespace(image).xp.asarray(image, dtype=dtype)


def _finite_range(image, mask=None):
    """Smallest and largest finite voxel (in ``mask``), as Python numbers (computed)."""
    xp = namespace(image).xp
    if image.dtype.kind in "biu" and mask is None:
        low, high = _compute(image.min(), image.max())
        return int(low), int(high)
    if mask is None:
        low, high = (float(v) for v in _compute(image.min(), image.max()))
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    keep = xp.isfinite(image) if image.dtype.kind == "f" else xp.ones_like(image, dtype=bool)
    if mask is not None:
        keep = keep & mask
    low, high, count = _compute(
        xp.where(keep, image, np.inf).min(), xp.where(keep, image, -np.inf).max(), keep.sum()
    )
    if int(count) == 0:
        raise ParameterError("the image has no finite voxel (in the mask); nothing to measure its range by.")
    if image.dtype.kind in "iu":
        return int(low), int(high)
    return float(low), float(high)


def _compute(*values):
    """Values as computed arrays: Dask results are computed together, others pass through."""
    if any(is_dask(v) for v in values):
        import dask

        return dask.compute(*values)
    return values


def _float_dtype(image) -> np.dtype:
    dtype = np.dtype(image.dtype) if hasattr(image, "dtype") else np.asarray(image).dtype
    if dtype.kind not in "biuf":
        raise ParameterError(f"the image must hold real numbers; got dtype {dtype}.")
    if dtype == np.float64 or (dtype.kind in "iu" and dtype.itemsize > 2):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _range(name, pair, allow_equal=False):
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={pair!r} must be a pair of numbers (min, max).") from None
    if not (math.isfinite(low) and math.isfinite(high)) or high < low or (high == low and not allow_equal):
        raise ParameterError(f"{name}={pair!r} must be two finite numbers with min < max.")
    return low, high


def _mask(image, mask):
    """``mask`` as bool on the image's device (a Dask mask stays lazy), checked against the image."""
    xp = namespace(image).xp
    if isinstance(mask, Volume):
        mask = mask.data
    if tuple(np.shape(mask)) != tuple(np.shape(image)):
        raise ParameterError(
            f"mask of shape {np.shape(mask)} does not match the image of shape {np.shape(image)}."
        )
    return mask.astype(bool) if is_dask(mask) else xp.asarray(mask, dtype=bool)
