"""Canny edge detection in 2D and 3D, scikit-image's way (Sobel, non-maximum suppression) and ITK's
(zero crossings of the second derivative); neither scikit-image nor cuCIM has a 3D Canny."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from gpuimg._units import voxels
from gpuimg.backend import is_dask, namespace, separable_passes
from gpuimg.errors import ParameterError
from gpuimg.kernels import boundary
from gpuimg.kernels import canny as kernel
from gpuimg.volume import accepts_volume

from .gradient import Image, Spacing


@accepts_volume
def canny(
    image: Image,
    sigma: float | Sequence[float] | None = None,
    low_threshold: float | None = None,
    high_threshold: float | None = None,
    *,
    sigma_mm: float | Sequence[float] | None = None,
    mask=None,
    use_quantiles: bool = False,
    spacing: Spacing = None,
    mode: str = "constant",
    cval: float = 0.0,
    method: str = "sobel",
) -> Image:
    """Edges by Canny's method: Gaussian smoothing, gradient, edge localisation along the gradient,
    hysteresis.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 2D (y, x) or 3D (z, y, x)
        A Dask array is processed chunk by chunk (a halo of the smoothing's radius plus 3 voxels,
        hysteresis linked across chunks) into a lazy Dask array of the whole image's edges; it
        takes no ``mask`` or ``use_quantiles``.
    sigma : float or sequence of float [voxels], optional
        Standard deviation of the Gaussian smoothing; default 1 voxel.
    low_threshold, high_threshold : float, optional
        Hysteresis thresholds on the gradient magnitude of the smoothed image (Sobel or central
        differences, see ``method``), in the image's intensity units per voxel, whatever the
        spacing (as in scikit-image and ITK); default 10 % and 20 % of the dtype's maximum (1 for
        float images), as in scikit-image. With ``use_quantiles``, quantiles in [0, 1] of the
        magnitude instead.
    sigma_mm : float or sequence of float [mm], optional
        The smoothing's standard deviation in mm instead of ``sigma``: ``sigma_mm / spacing[a]``
        voxels along axis ``a``. Needs ``spacing`` or a Volume.
    mask : bool array of the image's shape, optional
        Where to look for edges; the smoothing ignores the voxels outside it.
    use_quantiles : bool
        Read the thresholds as quantiles of the gradient magnitude.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, used for ``sigma_mm`` only; a Volume brings its own. A Volume and its voxels
        give the same edges for the same ``sigma``.
    mode : {"constant", "reflect", "nearest", "mirror", "wrap"}
        How the smoothing extends the image past its edges (scikit-image's default "constant",
        corrected for the bleed-over of ``cval``).
    cval : float
        The value past the edges in "constant" mode.
    method : {"sobel", "zero_crossing"}
        How edges are found on the smoothed image. "sobel" (scikit-image's): sampled Gaussian,
        Sobel derivatives, non-maximum suppression of the magnitude along the gradient, candidates
        ``>= low``, seeds ``>= high``. "zero_crossing" (Canny's differential form, ITK's): the
        discrete Gaussian kernel, central differences, edges where the second derivative along the
        gradient crosses zero and the magnitude falls along it, candidates ``> low``, seeds
        ``> high``. See Notes.

    Returns
    -------
    bool array or Volume
        The edge map, on the input's device.

    Raises
    ------
    ParameterError
        For an image that is not 2D or 3D, a 64-bit integer image, thresholds out of order
        or quantiles outside [0, 1], a mask of another shape, a bad sigma, spacing, mode or method;
        both ``sigma`` and ``sigma_mm``, or ``sigma_mm`` without a spacing.

    Notes
    -----
    ``method="sobel"``: in 2D the result equals ``skimage.feature.canny``
    voxel for voxel: the same conversion to float (``img_as_float``, so integer images and their
    thresholds are divided by the dtype's maximum alike), smoothing (``gaussian_filter`` with the
    masked bleed-over correction), ``scipy.ndimage.sobel`` derivatives, bilinear non-maximum
    suppression in the same floating-point arithmetic and hysteresis by 8-connected labelling. In
    3D the suppression compares the magnitude at each voxel with its bilinear interpolation at
    ``± g / max|g_a|`` (one voxel along the dominant axis of the gradient, on a face of the 3x3x3
    neighbourhood; see :mod:`gpuimg.kernels.canny`) and hysteresis keeps the 26-connected
    components of candidates that hold a seed. Voxels on the volume's (or the mask's) border are
    never edges.

    ``method="zero_crossing"`` follows Canny's differential form as Lindeberg (1998) writes it:
    with ``L`` the smoothed image and ``v`` its gradient direction, edges lie where ``L_vv = 0``
    and ``L_vvv <= 0``. The smoothing uses the discrete Gaussian kernel ``e^-t I_n(t)``
    (variance ``t = sigma²`` voxels², the scale-space kernel on a grid, right also for sigma
    below one voxel), cut where it holds 99 % of its mass and normalised; derivatives are central
    differences (nearest voxel past the edge), and a voxel is an edge candidate where ``L_vv``
    changes sign towards a face neighbour and is the nearer to 0 of the two (see
    :mod:`gpuimg.kernels.canny`). The magnitude compared with the thresholds is
    ``sqrt(|∇L|² + 1e-4)``. The image is converted to float without scaling. This is ITK's
    ``CannyEdgeDetectionImageFilter`` (SimpleITK ``CannyEdgeDetection``), step for step; called
    as ``canny(image, None, lower, upper, sigma_mm=s, spacing=spacing, mode="nearest",
    method="zero_crossing")`` (ITK too smooths in mm and differentiates in voxel units) it gives
    ITK's edges with ``variance=s**2`` [mm²] and its default maximum error 0.01, voxel for voxel
    up to rounding (the tests measure it on the PyRadiomics lung CT). Border voxels may be edges;
    with a mask, only voxels of the eroded mask.

    The two methods put edges within a voxel of each other on high-contrast images; on noisy or
    low-contrast ones "sobel" smooths each derivative once more across the other axes ([1, 2, 1]),
    so its magnitude near the thresholds and the chains hysteresis links differ (97 % of either
    side's edge voxels within a voxel of the other's on the lung CT, 5 mm slices, sigma 2 mm). The
    3D Sobel magnitude is 32 times the central-difference one on a linear ramp (8 in 2D): scale
    the thresholds by that when switching.

    References
    ----------
    .. [1] J. Canny, "A computational approach to edge detection", IEEE TPAMI 8(6), 1986.
    .. [2] T. Lindeberg, "Edge detection and ridge detection with automatic scale selection",
       IJCV 30(2), 1998.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import canny
    >>> z, y, x = np.mgrid[:24, :24, :24] - 11.5
    >>> ball = (z**2 + y**2 + x**2 < 8**2).astype(float)
    >>> r = np.sqrt(z**2 + y**2 + x**2)
    >>> edges = canny(ball, sigma=1.0)
    >>> bool(np.all(abs(r[edges] - 8) <= 1))
    True
    >>> edges = canny(ball, sigma=1.0, method="zero_crossing")
    >>> bool(np.all(abs(r[edges] - 8) <= 1))
    True
    """
    ndim = np.ndim(image)
    if ndim not in (2, 3):
        raise ParameterError(f"canny needs a 2D or 3D image; got {ndim}D, shape {np.shape(image)}.")
    if mode not in boundary.MODES:
        raise ParameterError(f"mode={mode!r} is unknown; use one of {sorted(boundary.MODES)}.")
    if method not in METHODS:
        raise ParameterError(
            f"method={method!r} is unknown; use {METHODS[0]!r} (scikit-image's) or {METHODS[1]!r} (ITK's)."
        )
    if is_dask(image):
        from ._canny_chunks import canny_chunks

        sigma_vox = voxels("sigma", sigma, sigma_mm, spacing, ndim, default=1.0, allow_zero=True)
        options = {"mask": mask, "use_quantiles": use_quantiles, "mode": mode, "cval": cval, "method": method}
        return canny_chunks(image, sigma_vox, low_threshold, high_threshold, **options)
    ns = namespace(image)
    xp = ns.xp
    image = xp.asarray(image)
    dtype = np.dtype(image.dtype)
    if dtype in (np.dtype(np.int64), np.dtype(np.uint64)) or dtype.kind not in "biuf":
        raise ParameterError(
            f"canny takes a real image of at most 32-bit integers; got dtype {dtype}. "
            "Cast it to float64 (or int32) first."
        )
    sobel = method == "sobel"
    low_threshold, high_threshold = _thresholds(image, low_threshold, high_threshold, use_quantiles, sobel)
    sigma_vox = voxels("sigma", sigma, sigma_mm, spacing, ndim, default=1.0, allow_zero=True)
    if mask is not None:
        mask = xp.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise ParameterError(
                f"mask has shape {mask.shape}, the image {image.shape}; pass a mask of the image's shape."
            )

    smoothed, where = _smooth(ns, image, mask, sigma_vox, mode, cval, discrete=not sobel)
    thresholds = (low_threshold, high_threshold)
    if not sobel:
        return _zero_crossing_edges(ns, smoothed, where, thresholds, use_quantiles)
    gradient = [ns.ndi.sobel(smoothed, axis=axis) for axis in range(ndim)]
    del smoothed  # fewer volumes alive at once on the device
    return _sobel_edges(ns, gradient, where, thresholds, use_quantiles)


#: The edge localisation methods; the first is the default.
METHODS = ("sobel", "zero_crossing")

#: The discrete Gaussian kernel stops where it holds this share of its mass (ITK's maximum error 0.01).
DISCRETE_GAUSSIAN_MASS = 0.99


def _as_volume(xp, x):
    """A C-contiguous 3D view of a 2D or 3D array (a 2D one as one slice)."""
    return xp.ascontiguousarray(x).reshape((1,) * (3 - x.ndim) + x.shape)


def _sobel_edges(ns, gradient, where, thresholds, use_quantiles):
    """scikit-image's way from the Sobel ``gradient`` (a list, emptied here once used): non-maximum
    suppression, hysteresis (seeds ``>= high``); voxels on the border (or outside ``where``, the
    eroded mask) are never edges."""
    xp = ns.xp
    ndim = len(gradient)
    shape = gradient[0].shape
    low_threshold, high_threshold = thresholds
    if where is None:
        where = xp.zeros(shape, dtype=bool)
        where[(slice(1, -1),) * ndim] = True
    magnitude = gradient[0] * gradient[0]
    for g in gradient[1:]:
        magnitude += g * g
    xp.sqrt(magnitude, out=magnitude)
    if use_quantiles:
        low_threshold, high_threshold = xp.percentile(
            magnitude, [100.0 * low_threshold, 100.0 * high_threshold]
        )

    # As in scikit-image, the low threshold is compared in single precision, and 0 means "above 0".
    low = float(np.float32(float(low_threshold)))  # float(): a quantile is a 0-d device array on the GPU
    if low == 0:
        low = float(np.float32(1e-14))
    volume = [_as_volume(xp, g) for g in gradient]
    if ndim == 2:
        volume.insert(0, xp.zeros_like(volume[0]))
    kept = xp.empty(volume[0].shape, dtype=magnitude.dtype)
    kernel.nonmaximum_suppression(
        *volume, _as_volume(xp, magnitude), _as_volume(xp, where).view(xp.uint8), low, kept, target=ns.target
    )
    gradient.clear()  # the hysteresis needs none of these: freed before it
    del volume, magnitude
    kept = kept.reshape(shape)
    candidates = kept > 0
    return _hysteresis(ns, candidates, candidates & (kept >= high_threshold))


def _zero_crossing_edges(ns, smoothed, where, thresholds, use_quantiles):
    """ITK's way: zero crossings of the second derivative along the gradient, hysteresis (seeds
    ``> high``); any voxel inside ``where`` (the eroded mask; everywhere without one) may be an edge."""
    xp = ns.xp
    low_threshold, high_threshold = thresholds
    shape = _as_volume(xp, smoothed).shape
    if where is None:
        where = xp.ones(shape, dtype=xp.uint8)
    edge = xp.empty(shape, dtype=smoothed.dtype)
    kernel.zero_crossing_edges(
        _as_volume(xp, smoothed),
        _as_volume(xp, where).view(xp.uint8),
        [1.0, 1.0, 1.0],
        xp.empty_like(edge),
        edge,
        target=ns.target,
    )
    edge = edge.reshape(smoothed.shape)
    if use_quantiles:
        squared = 1e-4
        step = xp.asarray([-0.5, 0.0, 0.5], dtype=smoothed.dtype)
        for axis in range(smoothed.ndim):
            derivative = ns.ndi.correlate1d(smoothed, step, axis, mode="nearest")
            squared = squared + derivative * derivative
        low_threshold, high_threshold = xp.percentile(
            xp.sqrt(squared), [100.0 * low_threshold, 100.0 * high_threshold]
        )
    return _hysteresis(ns, edge > low_threshold, edge > high_threshold)


def _thresholds(image, low, high, use_quantiles, scaled):
    """scikit-image's thresholds: defaults 10 % and 20 % of the dtype's maximum (quantiles 0.1 and
    0.2); with ``scaled`` (an integer image divided by its dtype's maximum) divided by it too."""
    dtype = np.dtype(image.dtype)
    dtype_max = 1 if dtype.kind in "bf" else np.iinfo(dtype).max
    unit = dtype_max if scaled else 1
    values = []
    for name, value, default in (("low_threshold", low, 0.1), ("high_threshold", high, 0.2)):
        if value is None:
            value = default if use_quantiles else default * dtype_max / unit
        elif not math.isfinite(value):
            raise ParameterError(f"{name}={value!r} must be a finite number.")
        elif use_quantiles:
            if not 0.0 <= value <= 1.0:
                raise ParameterError(
                    f"{name}={value!r} must be a quantile in [0, 1] with use_quantiles=True."
                )
        else:
            value /= unit
        values.append(value)
    if values[1] < values[0]:
        raise ParameterError(
            f"high_threshold ({high!r}) is below low_threshold ({low!r}); swap them or raise the high one."
        )
    return values


def _float_type(dtype):
    """scikit-image's ``_supported_float_type``: float32 for float16/32, float64 for the rest."""
    return np.dtype(np.float32 if dtype in (np.float16, np.float32) else np.float64)


def _as_float(xp, x):
    """scikit-image's ``img_as_float``: integers divided by their dtype's maximum (signed ones
    clipped at -1), booleans as 0 and 1, floats unchanged."""
    kind = np.dtype(x.dtype).kind
    if kind == "f":
        return x
    if kind == "b":
        return x.astype(np.float64)
    out = xp.multiply(x, 1.0 / np.iinfo(x.dtype).max, dtype=np.float64)
    if kind == "i":
        xp.maximum(out, -1.0, out=out)
    return out


def _discrete_gaussian_kernel(variance):
    """Lindeberg's discrete Gaussian ``e^-t I_n(t)`` of variance ``t`` [voxels²], grown from the
    centre until it holds :data:`DISCRETE_GAUSSIAN_MASS` and normalised (ITK's ``GaussianOperator``)."""
    one_side = [float(special.ive(0, variance)), float(special.ive(1, variance))]
    mass = one_side[0] + 2.0 * one_side[1]
    while mass < DISCRETE_GAUSSIAN_MASS:
        one_side.append(float(special.ive(len(one_side), variance)))
        mass += 2.0 * one_side[-1]
    weights = np.asarray(one_side) / mass
    return np.concatenate([weights[:0:-1], weights])


def _gaussian(ns, x, sigma, mode, cval, discrete):
    """Gaussian smoothing, one 1D pass per axis (each on all threads on the CPU): SciPy's sampled
    kernel (``gaussian_filter``'s result exactly) or the discrete one."""
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (x.ndim,))
    if discrete:
        weights = [ns.xp.asarray(_discrete_gaussian_kernel(s**2)) for s in sigmas]

    def pass_1d(src, axis, out):
        if discrete:
            ns.ndi.correlate1d(src, weights[axis], axis, out, mode, cval)
        else:
            ns.ndi.gaussian_filter1d(src, sigmas[axis], axis, 0, out, mode, cval, truncate=4.0)

    return separable_passes(pass_1d, x, [axis for axis in range(x.ndim) if sigmas[axis] > 1e-15])


def _smooth(ns, image, mask, sigma, mode, cval, *, discrete):
    """scikit-image's ``_preprocess``: the image smoothed (as float, scaled as ``img_as_float``
    unless ``discrete``), the bleed-over past the edges or the mask divided out, and the mask
    eroded by one voxel (None without a mask)."""
    xp = ns.xp
    float_type = _float_type(np.dtype(image.dtype))

    def gaussian(x):
        x = x.astype(float_type, copy=False) if discrete else _as_float(xp, x)
        x = x.astype(_float_type(np.dtype(x.dtype)), copy=False)
        return _gaussian(ns, x, sigma, mode, cval, discrete)

    bleed = mode == "constant" or mask is not None
    if mask is None:
        masked = image
        eroded = None
    else:
        masked = xp.where(mask, image, xp.zeros((), dtype=image.dtype))
        structure = ns.ndi.generate_binary_structure(image.ndim, image.ndim)
        eroded = ns.ndi.binary_erosion(mask, structure, border_value=0)
    # The bleed-over first, its weights freed before the image is smoothed: fewer volumes alive at once.
    bleed_over = None
    if bleed:
        weights = xp.ones(image.shape, dtype=float_type) if mask is None else mask.astype(float_type)
        bleed_over = gaussian(weights)
        del weights
        bleed_over += np.finfo(float_type).eps
    smoothed = gaussian(masked)
    del masked
    if bleed:
        smoothed /= bleed_over
    return smoothed, eroded


#: Set (in the calling thread) by :func:`classes_instead_of_hysteresis`.
_CLASSES_ONLY = contextvars.ContextVar("canny_classes_only", default=False)


@contextlib.contextmanager
def classes_instead_of_hysteresis():
    """Within the block, :func:`canny` returns the hysteresis's input instead of the edges: uint8,
    1 for a candidate, 2 for a seed (the chunked Canny, :mod:`gpuimg.edges._canny_chunks`, links
    them across chunks)."""
    token = _CLASSES_ONLY.set(True)
    try:
        yield
    finally:
        _CLASSES_ONLY.reset(token)


def _hysteresis(ns, candidates, seeds):
    """The connected components (8- or 26-connected) of ``candidates`` that hold a voxel of ``seeds``."""
    xp = ns.xp
    if _CLASSES_ONLY.get():
        return candidates.astype(np.uint8) + (seeds & candidates)
    labels, count = ns.ndi.label(candidates, xp.ones((3,) * candidates.ndim, dtype=bool))
    if int(count) == 0:
        return candidates
    good = xp.zeros(int(count) + 1, dtype=bool)
    good[xp.unique(labels[seeds & candidates])] = True
    return good[labels]
