"""Denoising filters: mean, Gaussian, median and bilateral, on NumPy, CuPy and Dask arrays.

Mean and Gaussian smoothing call the device's ``ndimage`` (``scipy.ndimage`` or
``cupyx.scipy.ndimage``); the 3D median of a 3³ or 5³ window and the bilateral filter run our own
kernels (:mod:`gpuimg.kernels.median`, :mod:`gpuimg.kernels.bilateral`) on either target. Dask arrays
are filtered chunk by chunk with the filter's halo, with the whole-volume result. Smoothing by
partial differential equations (curvature flow, anisotropic diffusion) is in :mod:`.diffusion`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import check_ndim, float_dtype, real_dtype
from gpuimg._memory import check_allocation
from gpuimg._support import check_cval, check_gaussian, check_window
from gpuimg._support import check_mode as _check_mode
from gpuimg._support import check_positive as _positive
from gpuimg._support import check_sizes as _sizes
from gpuimg._units import voxels
from gpuimg.backend import is_dask, map_stencil, namespace, separable_passes
from gpuimg.errors import ParameterError
from gpuimg.kernels import bilateral as bilateral_kernel
from gpuimg.kernels import boundary
from gpuimg.kernels import median as median_kernel
from gpuimg.volume import Volume, accepts_volume

#: An image: a NumPy, CuPy or Dask array, or a Volume.
Image = ArrayLike | Volume
Sizes = int | Sequence[int]
Sigmas = float | Sequence[float]

#: Dtypes the median kernels take as they are; the median of other dtypes comes from ``ndimage``.
_MEDIAN_NATIVE = {np.dtype(t) for t in ("float32", "float64", "int16", "uint16")}
#: Dtypes the bilateral kernel reads as they are; others are converted to the output dtype first.
_BILATERAL_NATIVE = {np.dtype(t) for t in ("float32", "float64", "int16")}
#: Intensity differences of this many ``sigma_range`` or more get no weight (ITK's ``RangeMu``).
_RANGE_TRUNCATE = 4.0
#: The smallest and largest ``sigma_range`` whose square (the Gaussian's variance) float64 holds.
_RANGE_LIMITS = (1e-150, 1e150)


@accepts_volume
def mean_filter(image: Image, size: Sizes = 3, *, mode: str = "reflect", cval: float = 0.0) -> Image:
    """Mean of each voxel's box-shaped neighbourhood.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
        For 3D, axes (z, y, x).
    size : int or sequence of int [voxels]
        Side of the box, one for all axes or one per axis; positive.
    mode : {"reflect", "nearest", "mirror", "wrap", "constant"}
        How the image extends past its edges, as in ``scipy.ndimage``.
    cval : float
        The value past the edges in "constant" mode.

    Returns
    -------
    array or Volume
        On the input's device; float32 for float32 and 8/16-bit integer input, float64 otherwise.

    Raises
    ------
    ParameterError
        A size that is not a positive integer, or not one per axis; an unknown mode.

    Notes
    -----
    For a finite image, equals ``scipy.ndimage.uniform_filter`` of the image converted to the
    output dtype (so int16 Hounsfield units cannot overflow): separable, one running sum per
    axis, O(1) per voxel whatever the size. On the CPU each of SciPy's passes runs on all Numba
    threads, one slab each (:func:`gpuimg.backend.separable_passes`), with SciPy's result exactly.

    A NaN or inf changes only the boxes that hold it, as in a direct mean of each box, on every
    device: NaN where a box holds a NaN, or a +inf and a -inf; otherwise an inf of its sign (a
    non-finite ``cval`` counts as such a voxel past the edges). SciPy's running sums differ here:
    they carry a NaN on past the box to the end of the line. On NumPy the finite values are
    averaged as above and the boxes holding a NaN or inf are then set (a maximum filter of
    each kind's voxels); CuPy sums each box directly.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import mean_filter
    >>> float(mean_filter(np.arange(27.0).reshape(3, 3, 3), 3)[1, 1, 1])
    13.0
    """
    _check_mode(mode)
    check_cval(cval)
    ndim = np.ndim(image)
    sizes = _sizes(size, ndim, "size")
    work = float_dtype(image.dtype)
    run = partial(_mean, size=sizes, mode=mode, cval=cval, work=work)
    return _stencil(run, image, max(s // 2 for s in sizes), mode, work)


@accepts_volume
def gaussian_filter(
    image: Image,
    sigma: Sigmas | None = None,
    *,
    sigma_mm: Sigmas | None = None,
    spacing: float | Sequence[float] | None = None,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
) -> Image:
    """Gaussian smoothing, with its width in voxels (``sigma``) or in mm (``sigma_mm``).

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
        For 3D, axes (z, y, x).
    sigma : float or sequence of float [voxels], optional
        Standard deviation of the Gaussian, one for all axes or one per axis; positive, or 0 on
        some axes for no smoothing along them (``(0, 1.5, 1.5)``: within each slice), as in SciPy.
    sigma_mm : float or sequence of float [mm], optional
        The same in mm, divided by ``spacing`` per axis. Give exactly one of ``sigma`` and
        ``sigma_mm``.
    spacing : float or sequence of float [mm], optional
        Voxel spacing per axis, needed with ``sigma_mm``; a Volume brings its own.
    mode : {"reflect", "nearest", "mirror", "wrap", "constant"}
        How the image extends past its edges, as in ``scipy.ndimage``.
    cval : float
        The value past the edges in "constant" mode.
    truncate : float
        The kernel stops at ``truncate`` standard deviations: its radius along an axis is
        ``int(truncate * sigma + 0.5)`` voxels.

    Returns
    -------
    array or Volume
        On the input's device; float32 for float32 and 8/16-bit integer input, float64 otherwise.

    Raises
    ------
    ParameterError
        Neither or both of ``sigma`` and ``sigma_mm``; ``sigma_mm`` without a spacing; a sigma that
        is negative or 0 on every axis, a spacing or truncate that is not positive, or not one per
        axis; an unknown mode.

    Notes
    -----
    Equals ``scipy.ndimage.gaussian_filter`` of the image converted to the output dtype:
    separable, one 1D correlation per axis with a normalised sampled Gaussian, each pass on all
    Numba threads on the CPU (:func:`gpuimg.backend.separable_passes`), SciPy's result exactly. A NaN or inf
    spreads to every voxel within the kernel's radius of it (per axis): NaN where a NaN, or a
    +inf and a -inf, reach it; otherwise an inf of its sign.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import gaussian_filter
    >>> impulse = np.zeros((9, 9, 9)); impulse[4, 4, 4] = 1.0
    >>> smoothed = gaussian_filter(impulse, sigma_mm=2.0, spacing=(2.0, 1.0, 1.0))
    >>> round(float(smoothed.sum()), 6)
    1.0
    """
    _check_mode(mode)
    check_cval(cval)
    ndim = np.ndim(image)
    sigmas = _sigmas("sigma", sigma, sigma_mm, spacing, ndim)
    (truncate,) = _positive(truncate, 1, "truncate")
    check_gaussian(sigmas, truncate=truncate)
    work = float_dtype(image.dtype)
    run = partial(_gaussian, sigma=sigmas, mode=mode, cval=cval, truncate=truncate, work=work)
    return _stencil(run, image, max(int(truncate * s + 0.5) for s in sigmas), mode, work)


@accepts_volume
def median_filter(image: Image, size: Sizes = 3, *, mode: str = "reflect", cval: float = 0.0) -> Image:
    """Median of each voxel's box-shaped neighbourhood, equal to ``scipy.ndimage.median_filter``.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
        For 3D, axes (z, y, x).
    size : int or sequence of int [voxels]
        Side of the box, one for all axes or one per axis; positive.
    mode : {"reflect", "nearest", "mirror", "wrap", "constant"}
        How the image extends past its edges, as in ``scipy.ndimage``.
    cval : float
        The value past the edges in "constant" mode, cast to the image's dtype.

    Returns
    -------
    array or Volume
        On the input's device, in the input's dtype (the median is one of the window's values).

    Raises
    ------
    ParameterError
        A size that is not a positive integer, or not one per axis; an unknown mode.

    Notes
    -----
    A 3D image of float32, float64, int16 or uint16 with a 3³ or 5³ window runs
    :mod:`gpuimg.kernels.median`: a selection network applied to whole rows at once (SIMD on the
    CPU) or per voxel (CUDA 3³; CUDA 5³ counts over a shared-memory tile of the block's values,
    one pass per bit); about 10 times faster than SimpleITK's ``Median`` on the CPU. Other
    sizes, shapes and dtypes call the device's ``ndimage.median_filter``. The numbers equal
    SciPy's in every mode; a 1D image is filtered as one row of a 2D image, since
    SciPy's own 1D path reads past a line not longer than the window (one voxel in "mirror" mode,
    two under a window of 4 to 6) and gives values that are not in the image.

    A window holding a NaN gives NaN, whatever the path (SciPy's own result there depends on the
    order of its comparisons: neither NaN nor the median of the other values); inf and -inf are
    ordered like any other value.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import median_filter
    >>> noisy = np.zeros((5, 5, 5), np.int16); noisy[2, 2, 2] = 3000
    >>> int(median_filter(noisy, 3).max())
    0
    """
    _check_mode(mode)
    check_cval(cval)
    ndim = np.ndim(image)
    sizes = _sizes(size, ndim, "size")
    check_window(sizes, "size")
    dtype = real_dtype(image.dtype)
    run = partial(_median, size=sizes, mode=mode, cval=cval)
    return _stencil(run, image, max(s // 2 for s in sizes), mode, dtype)


@accepts_volume
def bilateral_filter(
    image: Image,
    sigma_spatial: Sigmas | None = None,
    sigma_range: float | None = None,
    *,
    sigma_spatial_mm: Sigmas | None = None,
    spacing: float | Sequence[float] | None = None,
    truncate: float = 2.5,
    range_samples: int | None = None,
    mode: str = "nearest",
    cval: float = 0.0,
) -> Image:
    """Edge-preserving smoothing: neighbours weighted by distance and by intensity difference.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 3D
        Axes (z, y, x).
    sigma_spatial : float or sequence of float [voxels]
        Standard deviation of the spatial Gaussian, one for all axes or one per axis; positive.
        Give this or ``sigma_spatial_mm``.
    sigma_range : float [intensity, e.g. HU]
        Standard deviation of the Gaussian of intensity differences; positive; needed.
    sigma_spatial_mm : float or sequence of float [mm]
        The spatial standard deviation in mm (SimpleITK's ``domainSigma``): ``sigma_spatial_mm /
        spacing[a]`` voxels along axis ``a``; needs ``spacing`` or a Volume.
    spacing : float or sequence of float [mm], optional
        Voxel spacing per axis, for ``sigma_spatial_mm``; a Volume brings its own.
    truncate : float
        The box's half-side along an axis is ``ceil(truncate * sigma)`` voxels, sigma in voxels
        (SimpleITK's ``DomainMu``, 2.5).
    range_samples : int, optional
        None (default): the exact range Gaussian. An integer: SimpleITK's lookup table of that
        many samples (its default is 100), a step function of the intensity difference; the
        result then equals SimpleITK's ``Bilateral``.
    mode : {"nearest", "reflect", "mirror", "wrap", "constant"}
        How the image extends past its edges; "nearest" is ITK's zero-flux Neumann condition.
    cval : float
        The value past the edges in "constant" mode.

    Returns
    -------
    array or Volume
        On the input's device; float32 for float32 and 8/16-bit integer input, float64 otherwise.

    Raises
    ------
    ParameterError
        A sigma, spacing or truncate that is not positive, or not one per axis; a non-3D image;
        a range_samples below 1; an unknown mode.

    Notes
    -----
    ``out(c) = sum(g_s(x - c) g_r(|v(x) - v(c)|) v(x)) / sum(g_s g_r)`` over the box, with Gaussian
    ``g_s`` of the physical offset and ``g_r`` of the intensity difference (Tomasi and Manduchi),
    as ITK's ``BilateralImageFilter``: neighbours differing by ``4 sigma_range`` or more are left
    out (``g_r`` < 3.4e-4 there). A NaN or inf neighbour is therefore left out; a NaN or inf
    voxel itself becomes NaN. The sums run in float64. O(box volume) per voxel: our kernel
    (:mod:`gpuimg.kernels.bilateral`) on either target, since cuCIM has no bilateral filter.

    References
    ----------
    C. Tomasi and R. Manduchi, "Bilateral filtering for gray and color images", ICCV 1998.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import bilateral_filter
    >>> step = np.zeros((6, 6, 6), np.float32); step[:, :, 3:] = 1000.0
    >>> float(bilateral_filter(step, 1.0, 50.0)[3, 3, 2])
    0.0
    """
    _check_mode(mode)
    check_cval(cval)
    check_ndim(image, (3,))
    sigmas = voxels("sigma_spatial", sigma_spatial, sigma_spatial_mm, spacing, 3)
    if sigma_range is None:
        raise ParameterError("bilateral_filter needs sigma_range, in the image's units (HU for CT).")
    (sigma_range,) = _positive(sigma_range, 1, "sigma_range")
    if not _RANGE_LIMITS[0] <= sigma_range <= _RANGE_LIMITS[1]:  # its square would over- or underflow
        raise ParameterError(
            f"sigma_range={sigma_range!r} is outside {_RANGE_LIMITS[0]:g} to {_RANGE_LIMITS[1]:g} (image "
            "units), where its square is a float64; rescale the image first."
        )
    (truncate,) = _positive(truncate, 1, "truncate")
    if range_samples is not None and not (
        isinstance(range_samples, (int, np.integer))
        and not isinstance(range_samples, bool)
        and range_samples > 0
    ):
        raise ParameterError(f"range_samples={range_samples!r} must be None or a positive whole number.")
    radius = tuple(math.ceil(truncate * s) for s in sigmas)
    check_window([2 * r + 1 for r in radius], "sigma_spatial * truncate")
    if range_samples is not None:
        check_allocation((range_samples,), np.float64, f"bilateral_filter: range_samples={range_samples}")
    offsets = np.meshgrid(*(np.arange(-r, r + 1) for r in radius), indexing="ij")
    domain = np.exp(-0.5 * sum((o / s) ** 2 for o, s in zip(offsets, sigmas, strict=True))).ravel()
    cutoff = _RANGE_TRUNCATE * sigma_range
    if range_samples is None:
        table, inv_step = np.zeros(0), 0.0
    else:
        table = np.exp(-0.5 * (np.arange(range_samples) * (cutoff / range_samples) / sigma_range) ** 2)
        inv_step = range_samples / cutoff
    work = float_dtype(image.dtype)
    run = partial(
        _bilateral,
        radius=radius,
        mode=mode,
        cval=cval,
        domain=domain / domain.sum(),
        table=table,
        inv_step=inv_step,
        cutoff=cutoff,
        inv_var=1.0 / sigma_range**2,
        work=work,
    )
    return _stencil(run, image, max(radius), mode, work)


def _sigmas(name, value, value_mm, spacing, ndim, default=None) -> tuple[float, ...]:
    """A Gaussian's sigma per axis [voxels] (:func:`gpuimg._units.voxels`), which may be 0 on some axes
    (no smoothing along them, as in SciPy: in-plane smoothing of thick slices), not on all."""
    try:
        return voxels(name, value, value_mm, spacing, ndim, default=default)
    except ParameterError as strict:
        try:
            sigmas = voxels(name, value, value_mm, spacing, ndim, default=default, allow_zero=True)
        except ParameterError:
            raise strict from None
        if not any(sigmas):
            raise ParameterError(
                f"{strict} It may be 0 on some axes (no smoothing along them), not on all."
            ) from None
        return sigmas


def _bilateral(image, *, radius, mode, cval, domain, table, inv_step, cutoff, inv_var, work):
    ns = namespace(image)
    xp = ns.xp
    src = xp.ascontiguousarray(xp.asarray(image))
    if src.dtype not in _BILATERAL_NATIVE:
        src = src.astype(work)
    out = xp.empty(src.shape, dtype=work)
    if out.size == 0:
        return out
    bilateral_kernel.bilateral(
        src,
        out,
        target=ns.target,
        radius=radius,
        mode=boundary.MODES[mode],
        cval=float(cval),
        domain=xp.asarray(domain),
        table=xp.asarray(table),
        inv_step=float(inv_step),
        cutoff=float(cutoff),
        inv_var=float(inv_var),
    )
    return out


def _mean(image, *, size, mode, cval, work):
    ns = namespace(image)
    image = ns.xp.asarray(image, dtype=work)
    if ns.device != "cpu":
        return ns.ndi.uniform_filter(image, size, mode=mode, cval=cval)
    finite = np.isfinite(image)
    if finite.all() and math.isfinite(cval):
        return _running_mean(ns, image, size, mode, cval)
    # SciPy's running sums would carry a NaN (or inf - inf) on past the box to the end of the line:
    # average the finite values, then give each box holding a NaN or inf its direct sum's value.
    out = _running_mean(
        ns, np.where(finite, image, 0), size, mode, cval if math.isfinite(cval) else 0.0, True
    )
    nan, pos, neg = (
        ns.ndi.maximum_filter(kind(image), size, mode=mode, cval=bool(kind(cval)))
        for kind in (np.isnan, np.isposinf, np.isneginf)
    )
    out[pos] = np.inf
    out[neg] = -np.inf
    out[nan | (pos & neg)] = np.nan
    return out


def _running_mean(ns, image, size, mode, cval, in_place=False):
    """SciPy's ``uniform_filter`` (its own passes along the axes of size > 1, one slab per thread): its
    result exactly, O(1) per voxel."""
    return separable_passes(
        lambda src, axis, out: ns.ndi.uniform_filter1d(src, size[axis], axis, out, mode, cval),
        image,
        [axis for axis in range(image.ndim) if size[axis] > 1],
        in_place=in_place,
    )


def _gaussian(image, *, sigma, mode, cval, truncate, work):
    ns = namespace(image)
    image = ns.xp.asarray(image, dtype=work)
    if ns.device != "cpu":
        return ns.ndi.gaussian_filter(image, sigma, mode=mode, cval=cval, truncate=truncate)
    # SciPy's own passes (axes of sigma > 1e-15, as gaussian_filter), one slab per thread.
    return separable_passes(
        lambda src, axis, out: ns.ndi.gaussian_filter1d(src, sigma[axis], axis, 0, out, mode, cval, truncate),
        image,
        [axis for axis in range(image.ndim) if sigma[axis] > 1e-15],
    )


def _median(image, *, size, mode, cval):
    ns = namespace(image)
    xp = ns.xp
    image = xp.asarray(image)
    side = size[0]
    if image.ndim == 1:
        # SciPy's 1D rank filter (a path of its own) reads past a line not longer than the window
        # (one voxel in "mirror", two under a window of 4-6): as one row of a 2D image it takes its
        # N-D path, which is right.
        return _ndi_median(ns, image[None], (1, side), mode, cval)[0]
    if (
        image.ndim != 3
        or image.dtype not in _MEDIAN_NATIVE
        or side > median_kernel.MAX_SIZE
        or side % 2 == 0
        or side == 1
        or any(s != side for s in size)
    ):
        return _ndi_median(ns, image, size, mode, cval)
    src = xp.ascontiguousarray(image)
    out = xp.empty_like(src)
    if out.size == 0:
        return out
    as_dtype = image.dtype.type
    median_kernel.median(
        src,
        out,
        target=ns.target,
        size=side,
        mode=boundary.MODES[mode],
        cval=np.array(cval).astype(image.dtype)[()],
        blank=as_dtype(np.nan) if image.dtype.kind == "f" else as_dtype(0),
        pairs=xp.asarray(median_kernel.median_network(side**3)),
    )
    return out


def _ndi_median(ns, image, size, mode, cval):
    """The device's ``ndimage.median_filter``, with NaN in each window that holds a NaN (as our kernels
    give): SciPy's value there depends on the order of its comparisons, neither NaN nor the median
    of the other values."""
    out = ns.ndi.median_filter(image, size, mode=mode, cval=cval)
    blank = mode == "constant" and math.isnan(cval)
    if image.dtype.kind == "f" and (blank or bool(ns.xp.isnan(image).any())):
        out[ns.ndi.maximum_filter(ns.xp.isnan(image), size, mode=mode, cval=blank)] = np.nan
    return out


def _stencil(run, image, depth, mode, dtype):
    """``run(image)``, or ``run`` chunk by chunk with a halo of ``depth`` voxels on a Dask array (also
    for :mod:`.diffusion`)."""
    if is_dask(image):
        return map_stencil(run, image, depth=depth, periodic=mode in ("wrap", "grid-wrap"), dtype=dtype)
    return run(image)
