"""Global histogram operations: histogram matching, equalisation and integer counts.

:func:`match_histogram` and :func:`equalize_hist` take a NumPy, CuPy or Dask array (or a
:class:`~gpuimg.Volume`, whose geometry they keep) and return a float array on the input's device:
float64 for float64 and 32/64-bit integer input, float32 otherwise. :func:`integer_counts` counts the
values of an integer image (NumPy or CuPy), one bin per value. The counts and the mappings are kernels
of :mod:`gpuimg.kernels.histogram`. CLAHE, the adaptive equalisation over tiles, is in
:mod:`gpuimg.preprocess._clahe` (:func:`gpuimg.preprocess.clahe`).

On a Dask array, :func:`match_histogram` and :func:`equalize_hist` compute the histograms of the
whole volume first, then map each chunk lazily.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import as_image, check_ndim, float_dtype
from gpuimg._support import check_bins
from gpuimg.backend import bincount_fixed, is_dask, namespace
from gpuimg.errors import DeviceError, ParameterError
from gpuimg.kernels import histogram as kernel
from gpuimg.volume import Volume, accepts_volume

from .contrast import _finite_range, _mask

#: An image: a NumPy, CuPy or Dask array, or a Volume.
Image = ArrayLike | Volume

#: Most bins of an integer image's histogram (one bin per value).
_MAX_INTEGER_BINS = 2**24


@accepts_volume(new_units=True)
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
        A Volume keeps its geometry and meta, less the meta in the input's units: its window
        presets (``meta["windows"]``) and a PET series' units (``meta["units"]``).

    Raises
    ------
    ParameterError
        If ``reference`` has no value that is not NaN (an empty or all-NaN reference), or is not an array
        of real numbers (a file name, complex values, one number).
    DeviceError
        If the image and the reference are on different devices (one NumPy, the other CuPy).

    Notes
    -----
    Equals ``skimage.exposure.match_histograms(image, reference)``: each distinct value of
    ``image`` goes to the value of ``reference`` at the same quantile (linear interpolation
    between the reference's distinct values). NaN voxels are left out of both distributions and
    stay NaN (scikit-image counts each NaN as a value). On a Dask array, the distinct values and
    counts of the whole volume are computed first, then each chunk is mapped.

    The dtype follows gpuimg's rule, not scikit-image's: an 8/16-bit integer image (int16 CT, uint16
    MR) gives float32, where scikit-image gives float64; the values are scikit-image's rounded to
    float32 (relative 6e-8: 0.001 at 2e4). Pass ``image.astype(np.float64)`` for scikit-image's
    float64 result exactly. As in scikit-image, the reference's dtype does not change the output's.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import match_histogram
    >>> ct = np.array([[-1000, 0], [40, 1000]], dtype=np.int16)
    >>> matched = match_histogram(ct, np.array([0.0, 1.0, 2.0, 3.0]))
    >>> matched.tolist(), matched.dtype
    ([[0.0, 1.0], [2.0, 3.0]], dtype('float32'))
    """
    reference = as_image(reference.data if isinstance(reference, Volume) else reference, "reference")
    ns = namespace(image)
    if namespace(reference).device != ns.device:
        raise DeviceError(
            f"match_histogram: the image is on the {ns.device.upper()} and the reference on the "
            f"{namespace(reference).device.upper()}; put both on one device (gpuimg.to_device)."
        )
    xp = ns.xp
    dtype = float_dtype(image.dtype)
    (src_values, src_counts), (ref_values, ref_counts) = _unique_counts(image, reference)
    if ref_values.size == 0:
        raise ParameterError("match_histogram: the reference has no value that is not NaN.")
    src_quantiles = xp.cumsum(src_counts) / float(src_counts.sum())
    ref_quantiles = xp.cumsum(ref_counts) / float(ref_counts.sum())
    mapped = xp.interp(src_quantiles, ref_quantiles, ref_values.astype(np.float64))
    run = partial(_lookup_values, values=src_values, mapped=mapped, dtype=dtype)
    if is_dask(image):
        return image.map_blocks(run, dtype=dtype, meta=xp.empty((0,) * image.ndim, dtype=dtype))
    return run(image)


def _unique_counts(*images) -> list[tuple]:
    """The distinct non-NaN values of each image and their counts (Dask: merged over the chunks).

    The chunks of all the Dask images are counted in one computation of their graphs as they are
    (``to_delayed`` would optimise each graph apart, renaming the tasks they share), so an image and
    a reference made from it (``match_histogram(x, x[::2])``) are read once.
    """
    lazy = [image for image in images if is_dask(image)]
    parts = iter(())
    if lazy:
        import dask

        blocks = [
            [dask.delayed(_values_counts)(b) for b in x.to_delayed(optimize_graph=False).ravel()]
            for x in lazy
        ]
        parts = iter(dask.compute(*blocks))
    return [
        _merged_counts(next(parts), namespace(image).xp) if is_dask(image) else _values_counts(image)
        for image in images
    ]


def _values_counts(image):
    """The distinct non-NaN values of a NumPy or CuPy ``image`` and their counts."""
    xp = namespace(image).xp
    values, counts = xp.unique(xp.asarray(image).ravel(), return_counts=True)
    if values.dtype.kind == "f":
        keep = ~xp.isnan(values)
        values, counts = values[keep], counts[keep]
    return values, counts


def _merged_counts(parts, xp):
    """The distinct values and counts of the chunks' ``(values, counts)`` parts, merged."""
    values, inverse = xp.unique(xp.concatenate([p[0] for p in parts]), return_inverse=True)
    weights = xp.concatenate([p[1] for p in parts]).astype(np.float64)
    return values, bincount_fixed(inverse.ravel(), weights, length=values.size).astype(np.int64)


def _lookup_values(block, *, values, mapped, dtype):
    xp = namespace(block).xp
    if values.size == 0:  # an image without a value that is not NaN: it stays NaN
        return xp.asarray(block, dtype=dtype)
    index = xp.clip(xp.searchsorted(values, block), 0, values.size - 1)
    out = mapped[index].astype(dtype)
    if block.dtype.kind == "f":
        out = xp.where(xp.isnan(block), dtype.type(np.nan), out)
    return out


@accepts_volume(new_units=True)
def equalize_hist(image: Image, nbins: int = 256, mask: ArrayLike | None = None) -> Image:
    """Histogram equalisation: each voxel goes to the cumulative distribution at its value.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
    nbins : int
        Number of equal bins between the smallest and largest value (float and bool input).
        Integer input has one bin per integer value from its minimum to its maximum, as in
        scikit-image.
    mask : array of bool, same shape, optional
        Only these voxels make the histogram; every voxel is mapped.

    Returns
    -------
    array or Volume
        Values in (0, 1]; float32 (float64 for float64 and 32/64-bit integer input).
        A Volume keeps its geometry and meta, less the meta in the input's units: its window
        presets (``meta["windows"]``) and a PET series' units (``meta["units"]``).

    Raises
    ------
    ParameterError
        If ``nbins`` is not a positive integer, the mask has another shape, no voxel is finite,
        an integer image spans 2**24 values or more (cast it to float32 first), or a float
        image's range is too narrow for ``nbins`` bins of its dtype (float32 values from 5.0 to
        5.00001 hold about 20 distinct values, not 256 bins: pass fewer, cast it to float64, or
        subtract the smallest value, which equalization does not see), which NumPy's histogram and
        so scikit-image refuse too.
    GeometryError
        If ``mask`` is a Volume on another grid than the image Volume (spacing, origin, direction).

    Notes
    -----
    Equals ``skimage.exposure.equalize_hist(image, nbins, mask)``: the histogram has NumPy's bins
    (the same counts as ``np.histogram``) and the mapping is ``np.interp(image, bin_centres, cdf)``
    with NumPy's arithmetic. Both passes are kernels of :mod:`gpuimg.kernels.histogram` (for an
    integer image without a mask, the histogram is its integer count, one bin per value).
    NaN and inf voxels are left out of the histogram (scikit-image raises); NaN stays NaN, -inf
    maps to the first bin's value and +inf to 1. On a Dask array the range and the histogram of
    the whole volume are computed first (one pass each), then each chunk is mapped lazily. An
    8/16-bit integer image gives float32 (gpuimg's rule), where scikit-image gives float64: its
    values rounded to float32.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import equalize_hist
    >>> ct = np.array([-1000, -1000, -1000, 0, 0, 40, 1000, 1000], dtype=np.int16)  # HU
    >>> equalize_hist(ct).tolist()  # the fraction of voxels at or below each value: 3/8, 5/8, 6/8, 8/8
    [0.375, 0.375, 0.375, 0.625, 0.625, 0.75, 1.0, 1.0]
    """
    check_bins(nbins)
    as_image(image, empty=False)
    ndim = check_ndim(image, (1, 2, 3))
    dtype = float_dtype(image.dtype)
    xp = namespace(image).xp
    if image.dtype == bool or image.dtype == np.float16:  # bool: nbins float bins, as scikit-image
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
        with np.errstate(over="ignore"):
            if not np.isfinite(last - first):  # NumPy's bins, in the image's float type, overflow
                raise ParameterError(
                    f"equalize_hist: the values span {lo:g} to {hi:g}, more than {image.dtype} holds; "
                    "rescale them (or cast a float32 image to float64) first."
                )
        edges = np.linspace(first, last, int(nbins) + 1, endpoint=True, dtype=image.dtype)
        if not (edges[:-1] < edges[1:]).all():  # bins of no width: NumPy's histogram refuses them
            # Their differences are exact (Sterbenz) and split into bins: the equalization is the same.
            cast = ", cast the image to float64" if image.dtype == np.float32 else ""
            raise ParameterError(
                f"equalize_hist: the values span only {first} to {last}, which {image.dtype} cannot "
                f"split into {nbins} bins of some width (their edges repeat); pass fewer bins{cast}, or "
                "subtract the smallest value first (image - np.nanmin(image), or np.nanmin(image[mask]) "
                "with a mask): the equalization is the same, and the differences split."
            )
        centres = ((edges[:-1] + edges[1:]) / 2.0).astype(np.float64)
        count = partial(_count_bins, first=first, denom=kind(last - first), edges=xp.asarray(edges))
    spacing = (centres[-1] - centres[0]) / max(centres.size - 1, 1)
    with np.errstate(over="ignore"):
        inv_step = np.float64(1.0) / np.float64(spacing) if spacing else np.float64(0.0)
    if not np.isfinite(inv_step):  # the lookup's slopes, up to 1 / spacing, would overflow
        raise ParameterError(
            f"equalize_hist: the values span only {lo:g} to {hi:g}, too narrow for {nbins} bins whose "
            "inverse width float64 holds; scale the image by a power of two (np.ldexp) first."
        )
    centres_dev = xp.asarray(centres)
    if is_dask(image):
        import dask

        masks = mask.rechunk(image.chunks) if is_dask(mask) else None
        if mask is not None and masks is None:
            import dask.array as da

            masks = da.from_array(mask, chunks=image.chunks)
        # Unoptimised graphs: optimised apart, a mask made from the image would read it again.
        blocks = image.to_delayed(optimize_graph=False).ravel()
        mask_blocks = (
            masks.to_delayed(optimize_graph=False).ravel() if masks is not None else [None] * len(blocks)
        )
        parts = dask.compute(*[dask.delayed(count)(b, m) for b, m in zip(blocks, mask_blocks, strict=True)])
        hist = sum(parts[1:], parts[0])
    else:
        hist = count(image, mask)
    cdf = xp.cumsum(hist).astype(np.float64)
    cdf /= cdf[-1]
    if image.dtype == np.float32:
        cdf = cdf.astype(np.float32).astype(np.float64)  # scikit-image's cdf is float32 here
    lookup = partial(_equalize_block, centres=centres_dev, cdf=cdf, inv_step=inv_step, dtype=dtype)
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
    image = as_image(image)  # big-endian values (a file's) become native: Numba takes native ones only
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
