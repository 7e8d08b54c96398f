"""Canny edge detection in 2D and 3D, scikit-image's way (Sobel, non-maximum suppression) and ITK's
(zero crossings of the second derivative); neither scikit-image nor cuCIM has a 3D Canny."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from gpuimg._arrays import check_mask_shape, check_ndim
from gpuimg._support import check_choice, check_cval, check_finite, check_gaussian, check_mode
from gpuimg._units import voxels
from gpuimg.backend import is_dask, namespace, on_device, separable_passes
from gpuimg.errors import ParameterError
from gpuimg.kernels import canny as kernel
from gpuimg.kernels import zero_crossing
from gpuimg.volume import accepts_volume

from .gradient import Image, Spacing


@accepts_volume(new_units=True)
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
        both ``sigma`` and ``sigma_mm``, or ``sigma_mm`` without a spacing; with ``method="sobel"``,
        a volume (3D) of fewer than 3 voxels along an axis (a single slice): all its voxels lie on
        the border, where that method marks no edge.
    GeometryError
        If ``mask`` is a Volume on another grid than the image Volume (spacing, origin or direction).

    Notes
    -----
    ``method="sobel"``: in 2D the result equals ``skimage.feature.canny``
    voxel for voxel: the same conversion to float (``img_as_float``, so integer images and their
    thresholds are divided by the dtype's maximum alike), smoothing (``gaussian_filter`` with the
    masked bleed-over correction), ``scipy.ndimage.sobel`` derivatives, bilinear non-maximum
    suppression in the same floating-point arithmetic and hysteresis by 8-connected labelling,
    except where the squares of the gradient overflow or vanish (derivatives beyond about 1.8e19 or
    below about 1e-15 in float32, beyond 1.3e154 or below 1e-150 in float64): there the magnitude is
    that of the gradient scaled by a power of two, so an image and its thresholds scaled alike have
    the same edges (scikit-image's magnitude is inf or 0 there, and its edges differ); and where the
    low threshold lies outside float32's normal range (below about 1.2e-38 or beyond 3.4e38 in
    magnitude): scikit-image compares it in single precision, as a subnormal, 0 (then 1e-14) or inf,
    and finds other edges or none; here it is rounded to float32's 24 significant bits keeping its
    exponent, which is scikit-image's number wherever float32 holds it, so a float64 image scaled
    with its thresholds by any power of two up to about 2**±500 has the same edges. In 3D the
    suppression compares the magnitude at each voxel with its bilinear interpolation at
    ``± g / max|g_a|`` (one voxel along the dominant axis of the gradient, on a face of the 3x3x3
    neighbourhood; see :mod:`gpuimg.kernels.canny`) and hysteresis keeps the 26-connected
    components of candidates that hold a seed. Voxels on the volume's (or the mask's) border are
    never edges, so a volume thinner than 3 voxels along an axis is refused (pass its 2D slices).

    ``method="zero_crossing"`` follows Canny's differential form as Lindeberg (1998) writes it:
    with ``L`` the smoothed image and ``v`` its gradient direction, edges lie where ``L_vv = 0``
    and ``L_vvv <= 0``. The smoothing uses the discrete Gaussian kernel ``e^-t I_n(t)``
    (variance ``t = sigma²`` voxels², the scale-space kernel on a grid, right also for sigma
    below one voxel), cut where it holds 99 % of its mass and normalised; derivatives are central
    differences (nearest voxel past the edge), and a voxel is an edge candidate where ``L_vv``
    changes sign towards a face neighbour and is the nearer to 0 of the two (see
    :mod:`gpuimg.kernels.zero_crossing`). The magnitude compared with the thresholds is
    ``sqrt(|∇L|² + 1e-4)``; ``use_quantiles`` takes quantiles of it in the image's float type, and
    where the squares overflow there (float32 gradients beyond about 1.8e19) of the gradient's
    magnitude rescaled by a power of two, not of inf. The image is converted to float without
    scaling. This is ITK's ``CannyEdgeDetectionImageFilter`` (SimpleITK ``CannyEdgeDetection``),
    step for step; called as ``canny(image, None, lower, upper, sigma_mm=s, spacing=spacing,
    mode="nearest", method="zero_crossing")`` (ITK too smooths in mm and differentiates in voxel
    units) it gives ITK's edges with ``variance=s**2`` [mm²] and its default maximum error 0.01,
    voxel for voxel up to rounding (the tests measure it on the PyRadiomics lung CT). Border voxels
    may be edges; with a mask, only voxels of the eroded mask.

    Memory: besides the image and the bool result, the smoothed image (float32 for float16/32
    images, float64 otherwise) and one byte per voxel of edge classes; a slab of an eighth of the
    volume at most while smoothing. No derivative or magnitude volume is kept: the kernels recompute
    them from the smoothed image's neighbourhood (:mod:`gpuimg.kernels.canny`). A float32 image
    peaks at 2.5 times its own bytes on the GPU; with a ``mask``, or ``use_quantiles`` (the
    magnitude volume whose quantiles are taken), one or two volumes more.

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
    ndim = check_ndim(image, (2, 3))
    check_mode(mode)
    check_cval(cval)
    methods = f"use {METHODS[0]!r} (scikit-image's) or {METHODS[1]!r} (ITK's)"
    check_choice(method, METHODS, "method", hint=methods)
    sigma_vox = voxels("sigma", sigma, sigma_mm, spacing, ndim, default=1.0, allow_zero=True)
    check_gaussian(sigma_vox)
    if method == "sobel":
        _check_thick_enough(np.shape(image))
    if is_dask(image):
        from ._canny_chunks import canny_chunks

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
    if mask is not None:
        mask = on_device(ns, mask, "mask", bool)
        check_mask_shape(mask, image)
    if image.size == 0:  # no voxel, no edge (and the kernels need one row at least)
        return xp.zeros(image.shape, dtype=bool)

    smoothed, where = _smooth(ns, image, mask, sigma_vox, mode, cval, discrete=not sobel)
    classify = _sobel_classes if sobel else _zero_crossing_classes
    classes = classify(ns, smoothed, where, (low_threshold, high_threshold), use_quantiles)
    del smoothed, where  # only the classes are alive through the hysteresis
    return _hysteresis(ns, classes)


#: The edge localisation methods; the first is the default.
METHODS = ("sobel", "zero_crossing")

#: The discrete Gaussian kernel stops where it holds this share of its mass (ITK's maximum error 0.01).
DISCRETE_GAUSSIAN_MASS = 0.99


def _check_thick_enough(shape) -> None:
    """Refuse a volume (3D) with voxels but fewer than 3 along an axis for the Sobel method: all its
    voxels lie on the border, where that method marks no edge, so its map would be empty whatever the
    image. A 2D image stays as in scikit-image (an empty map)."""
    if len(shape) != 3 or 0 in shape:
        return
    thin = [axis for axis, length in enumerate(shape) if length < 3]
    if not thin:
        return
    axis = thin[0]
    index = "[" + ":, " * axis + "0]"
    raise ParameterError(
        f"canny of a volume of shape {tuple(shape)}: axis {axis} has {shape[axis]} voxel(s), fewer "
        "than 3, so every voxel lies on the volume's border, where method='sobel' marks no edge (its "
        f"map would be empty). Pass the 2D slice(s) instead (image{index} for the first, "
        f"volume.data{index} of a Volume), or method='zero_crossing', which marks edges on the border "
        "too (its thresholds differ: see canny's Notes)."
    )


def _as_volume(xp, x):
    """A C-contiguous 3D view of a 2D or 3D array (a 2D one as one slice)."""
    return xp.ascontiguousarray(x).reshape((1,) * (3 - x.ndim) + x.shape)


def _sobel_classes(ns, smoothed, where, thresholds, use_quantiles):
    """scikit-image's way: non-maximum suppression of the Sobel magnitude, as uint8 classes (seeds
    ``>= high``); voxels on the border (or outside ``where``, the eroded mask) are never edges."""
    xp = ns.xp
    low_threshold, high_threshold = thresholds
    volume = _as_volume(xp, smoothed)
    planar = smoothed.ndim == 2
    if use_quantiles:
        magnitude = xp.empty_like(volume)
        kernel.sobel_magnitude(volume, planar, magnitude, target=ns.target)
        low_threshold, high_threshold = xp.percentile(
            magnitude, [100.0 * low_threshold, 100.0 * high_threshold]
        )
        del magnitude
    if where is None:
        where = xp.zeros(smoothed.shape, dtype=bool)
        where[(slice(1, -1),) * smoothed.ndim] = True
    # As in scikit-image, the low threshold is compared in single precision (float32's 24 bits, with
    # float64's exponents), and 0 means "above 0".
    low = _single_precision(float(low_threshold))  # float(): a quantile is a 0-d device array on the GPU
    if low == 0:
        low = float(np.float32(1e-14))
    high = _compared(high_threshold, smoothed.dtype)
    classes = xp.empty(volume.shape, dtype=xp.uint8)
    where = _as_volume(xp, where).view(xp.uint8)
    kernel.nonmaximum_suppression(volume, where, planar, low, high, classes, target=ns.target)
    return classes.reshape(smoothed.shape)


def _zero_crossing_classes(ns, smoothed, where, thresholds, use_quantiles):
    """ITK's way: zero crossings of the second derivative along the gradient, as uint8 classes
    (candidates ``> low``, seeds ``> high``); any voxel inside ``where`` (the eroded mask; everywhere
    without one) may be an edge."""
    xp = ns.xp
    low_threshold, high_threshold = thresholds
    if use_quantiles:
        low_threshold, high_threshold = xp.percentile(
            _central_magnitude(ns, smoothed), [100.0 * low_threshold, 100.0 * high_threshold]
        )
    volume = _as_volume(xp, smoothed)
    where = xp.ones(volume.shape, dtype=xp.uint8) if where is None else _as_volume(xp, where).view(xp.uint8)
    low, high = (_compared(t, smoothed.dtype) for t in (low_threshold, high_threshold))
    classes = xp.empty(volume.shape, dtype=xp.uint8)
    zero_crossing.zero_crossing_classes(volume, where, [1.0, 1.0, 1.0], low, high, classes, target=ns.target)
    return classes.reshape(smoothed.shape)


def _central_magnitude(ns, smoothed):
    """``sqrt(|∇L|² + 1e-4)`` from central differences (nearest voxel past the edge), in the smoothed
    image's float type: what the zero-crossing method's quantiles are of (a 2D image's as one slice).
    Where the squares overflow it is the gradient's magnitude rescaled by a power of two
    (:func:`gpuimg.kernels.zero_crossing.central_magnitude`), not inf."""
    volume = _as_volume(ns.xp, smoothed)
    magnitude = ns.xp.empty_like(volume)
    zero_crossing.central_magnitude(volume, smoothed.ndim == 2, magnitude, target=ns.target)
    return magnitude


def _single_precision(threshold: float) -> float:
    """``threshold`` rounded to float32's 24 significant bits, keeping its exponent: scikit-image's
    low threshold (a C ``float``) wherever float32 holds it as a normal number (about 1.2e-38 to
    3.4e38 in magnitude), and beyond, where float32 would make it a subnormal, 0 or inf, the same
    rounding scaled by a power of two, so that scaled thresholds are rounded alike. Past float64's
    largest number it is inf."""
    fraction, exponent = math.frexp(threshold)
    try:
        return math.ldexp(float(np.float32(fraction)), exponent)
    except OverflowError:  # the fraction rounded up to 1 at float64's largest exponent
        return math.copysign(math.inf, threshold)


def _compared(threshold, dtype) -> float:
    """The float64 that compares with values of ``dtype`` as ``threshold`` does in NumPy's array
    comparisons: a Python number is first rounded to ``dtype`` (NEP 50), a NumPy scalar or a 0-d
    array (a quantile) compared in the promoted type; beyond the type's largest number, inf (which
    only an infinite value reaches, as in NumPy)."""
    kind = np.result_type(dtype, threshold.dtype) if hasattr(threshold, "dtype") else np.dtype(dtype)
    with np.errstate(over="ignore"):  # rounding to inf is the comparison meant, not a mistake
        return float(kind.type(float(threshold)))


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
        elif use_quantiles:
            value = check_finite(value, name)
            if not 0.0 <= value <= 1.0:
                raise ParameterError(
                    f"{name}={value!r} must be a quantile in [0, 1] with use_quantiles=True."
                )
        else:
            value = check_finite(value, name) / unit
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


def _gaussian_pass(ns, sigmas, mode, cval, discrete):
    """The 1D pass ``pass_1d(src, axis, out)`` of the Gaussian smoothing along ``axis``: SciPy's
    sampled kernel (``gaussian_filter``'s passes) or the discrete one."""
    if discrete:
        weights = [ns.xp.asarray(_discrete_gaussian_kernel(s**2)) for s in sigmas]

    def pass_1d(src, axis, out):
        if discrete:
            ns.ndi.correlate1d(src, weights[axis], axis, out, mode, cval)
        else:
            ns.ndi.gaussian_filter1d(src, sigmas[axis], axis, 0, out, mode, cval, truncate=4.0)

    return pass_1d


def _smooth(ns, image, mask, sigma, mode, cval, *, discrete):
    """scikit-image's ``_preprocess``: the image smoothed (as float, scaled as ``img_as_float``
    unless ``discrete``), the bleed-over past the edges or the mask divided out, and the mask
    eroded by one voxel (None without a mask).

    One 1D pass per axis (on all threads on the CPU), in place wherever the array is ours (a float
    copy of an integer image, or the first pass's result): the image, the smoothed image and a slab
    (an eighth) of it at most are alive at once; without a mask, the bleed-over never takes a volume
    (:func:`_divide_by_bleed_over`).
    """
    xp = ns.xp
    float_type = _float_type(np.dtype(image.dtype))
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (image.ndim,))
    axes = [axis for axis in range(image.ndim) if sigmas[axis] > 1e-15]
    pass_1d = _gaussian_pass(ns, sigmas, mode, cval, discrete)

    def gaussian(x, owned):
        converted = x.astype(float_type, copy=False) if discrete else _as_float(xp, x)
        converted = converted.astype(_float_type(np.dtype(converted.dtype)), copy=False)
        if owned or converted.dtype != x.dtype:  # a conversion copies
            return separable_passes(pass_1d, converted, axes, in_place=True)
        if not axes:
            return converted.copy()
        first = separable_passes(pass_1d, converted, axes[:1])
        return separable_passes(pass_1d, first, axes[1:], in_place=True)

    if mask is None:
        smoothed = gaussian(image, owned=False)
        if mode == "constant":
            _divide_by_bleed_over(ns, smoothed, pass_1d, axes)
        return smoothed, None
    structure = ns.ndi.generate_binary_structure(image.ndim, image.ndim)
    eroded = ns.ndi.binary_erosion(mask, structure, border_value=0)
    # The bleed-over first, then the masked image: fewer volumes alive at once.
    bleed_over = gaussian(mask.astype(float_type), owned=True)
    bleed_over += np.finfo(float_type).eps
    smoothed = gaussian(xp.where(mask, image, xp.zeros((), dtype=image.dtype)), owned=True)
    smoothed /= bleed_over
    return smoothed, eroded


#: Slabs of the last pass of :func:`_divide_by_bleed_over` (each a sixteenth of the volume).
_BLEED_SLABS = 16


def _divide_by_bleed_over(ns, smoothed, pass_1d, axes):
    """``smoothed /= gaussian(ones) + eps``: divide out the share of the constant mode's ``cval``
    (scikit-image's correction) without a volume of ones.

    Ones smoothed along the first axes of ``axes`` are constant along the others, so each pass runs
    on an array that spans only the axes filtered so far; the last pass runs a slab at a time, each
    slab divided out at once. Every line is filtered as in the whole volume, so the numbers are the
    same.
    """
    xp = ns.xp
    eps = np.finfo(smoothed.dtype).eps
    part = xp.ones((1,) * smoothed.ndim, dtype=smoothed.dtype)
    if not axes:
        part += eps
        smoothed /= part
        return
    *early, last = axes
    for axis in early:
        part = separable_passes(pass_1d, _spread(xp, part, axis, smoothed.shape[axis]), [axis], in_place=True)
    if not early:  # one axis filtered: the bleed-over spans it only
        part = separable_passes(pass_1d, _spread(xp, part, last, smoothed.shape[last]), [last], in_place=True)
        part += eps
        smoothed /= part
        return
    split = early[0]
    ends = np.linspace(0, part.shape[split], min(_BLEED_SLABS, part.shape[split]) + 1).astype(int)
    for lo, hi in itertools.pairwise(ends):
        slab = tuple(slice(lo, hi) if a == split else slice(None) for a in range(smoothed.ndim))
        piece = _spread(xp, part[slab], last, smoothed.shape[last])
        piece = separable_passes(pass_1d, piece, [last], in_place=True)
        piece += eps
        smoothed[slab] /= piece
        del piece


def _spread(xp, x, axis, length):
    """A C-contiguous copy of ``x`` (of length 1 along ``axis``) repeated ``length`` times along ``axis``."""
    # A copy always: ascontiguousarray would return broadcast_to's read-only view where length is 1.
    return xp.broadcast_to(x, (*x.shape[:axis], length, *x.shape[axis + 1 :])).copy()


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


def _hysteresis(ns, classes):
    """The connected components (8- or 26-connected) of candidates (``classes`` 1 or 2) that hold a
    seed (2), as a bool array."""
    xp = ns.xp
    if _CLASSES_ONLY.get():
        return classes
    candidates = classes > 0
    labels, count = ns.ndi.label(candidates, xp.ones((3,) * classes.ndim, dtype=bool))
    if int(count) == 0:
        return candidates
    del candidates
    good = xp.zeros(int(count) + 1, dtype=bool)
    good[xp.unique(labels[classes == 2])] = True
    return good[labels]
