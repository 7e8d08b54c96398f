"""Gradient direction, Gaussian derivatives and the Laplacian: SciPy's operators with spacing in mm.

Each function equals its SciPy counterpart when ``spacing`` is not given (voxel units), and works in
physical units when it is: a sigma given in mm is divided by the spacing to give the per-axis sigma in
voxels that SciPy takes, and each derivative of order ``k`` along axis ``a`` is divided by
``spacing[a] ** k`` (so a gradient is in intensity per mm and a Laplacian in intensity per mm²).
"""

import math
from functools import partial

import numpy as np

from gpuimg.backend import is_dask, map_stencil, namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import boundary
from gpuimg.volume import accepts_volume

from .gradient import Image, Spacing, _derivative, _dtypes, _spacing


@accepts_volume
def gradient_direction(
    image: Image,
    operator: str = "sobel",
    *,
    spacing: Spacing = None,
    mode: str = "reflect",
    cval: float = 0.0,
) -> Image:
    """Direction of the image gradient: an angle in 2D, a unit vector in 3D.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 2D or 3D
        2D axes (y, x) = (rows, columns); 3D axes (z, y, x).
    operator : {"sobel", "prewitt", "scharr"}
        The derivative (see :func:`gpuimg.edges.sobel`).
    spacing : float or sequence of float [mm], optional
        Voxel spacing; each derivative is divided by its spacing before the direction is taken,
        so the direction is the physical one. Default: 1 (voxel units); a Volume brings its own.
    mode : {"reflect", "nearest", "mirror", "wrap", "constant"}
        How the image extends past its edges, as in ``scipy.ndimage``.
    cval : float
        The value past the edges in "constant" mode.

    Returns
    -------
    array or Volume
        2D: ``arctan2(gy, gx)`` [radians, in (-pi, pi]], where ``gy`` is the derivative along
        axis 0 (rows, downwards) and ``gx`` along axis 1 (columns), as in scikit-image and SciPy:
        0 points along +x (increasing column), pi / 2 along +y (increasing row).
        3D: an array of shape ``(3, nz, ny, nx)``, the unit vector ``(gz, gy, gx) / |g|``; 0 where
        the gradient is 0. Float32 for float32 and 8/16-bit integer input, float64 otherwise; on
        the input's device.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import gradient_direction
    >>> ramp = np.broadcast_to(np.arange(6.0), (5, 6))  # increasing along x
    >>> float(gradient_direction(ramp)[2, 3])
    0.0
    """
    ndim = np.ndim(image)
    if ndim not in (2, 3):
        raise ParameterError(f"the image must be 2D or 3D; got {ndim}D, shape {np.shape(image)}.")
    gradient = [_derivative(image, operator, axis, spacing, mode, cval) for axis in range(ndim)]
    xp = np if is_dask(image) else namespace(image).xp
    if ndim == 2:
        return xp.arctan2(gradient[0], gradient[1])
    norm = xp.sqrt(gradient[0] ** 2 + gradient[1] ** 2 + gradient[2] ** 2)
    safe = xp.where(norm > 0, norm, 1)
    return xp.stack([g / safe for g in gradient])


@accepts_volume
def gaussian_gradient_magnitude(
    image: Image,
    sigma: float,
    *,
    spacing: Spacing = None,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
) -> Image:
    """Gradient magnitude of the image smoothed by a Gaussian of standard deviation ``sigma`` [mm].

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
    sigma : float or sequence of float [mm, or voxels without spacing]
        Standard deviation of the Gaussian, one or one per axis.
    spacing : float or sequence of float [mm], optional
        Voxel spacing: the Gaussian's sigma along axis ``a`` is ``sigma / spacing[a]`` voxels and
        the derivative along ``a`` is divided by ``spacing[a]`` (intensity per mm). Default: 1
        (voxel units); a Volume brings its own.
    mode, cval : as in ``scipy.ndimage``
    truncate : float
        The Gaussian is cut at this many standard deviations.

    Returns
    -------
    array or Volume
        On the input's device; float32 for float32 and 8/16-bit integer input, float64 otherwise.

    Notes
    -----
    Without ``spacing`` (or with an isotropic one) this is
    ``scipy.ndimage.gaussian_gradient_magnitude(image, sigma / spacing) / spacing``; with an
    anisotropic spacing, ``sqrt(sum_a (gaussian_filter(image, sigma_vox, order=e_a) /
    spacing[a]) ** 2)`` with the same first-derivative-of-Gaussian passes SciPy uses.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import gaussian_gradient_magnitude
    >>> ramp = np.broadcast_to(np.arange(20.0) * 3.0, (20, 20))
    >>> round(float(gaussian_gradient_magnitude(ramp, 4.0, spacing=2.0)[10, 10]), 2)  # 3 per 2 mm
    1.5
    """
    return _gaussian_derivative(image, sigma, 1, spacing, mode, cval, truncate)


@accepts_volume
def log(
    image: Image,
    sigma_mm: float,
    *,
    spacing: Spacing = None,
    normalize: bool = False,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
) -> Image:
    """Laplacian of Gaussian of standard deviation ``sigma_mm`` [mm], optionally scale-normalised.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
    sigma_mm : float or sequence of float [mm, or voxels without spacing]
        Standard deviation of the Gaussian, one or one per axis.
    spacing : float or sequence of float [mm], optional
        Voxel spacing: sigma along axis ``a`` is ``sigma_mm / spacing[a]`` voxels and the second
        derivative along ``a`` is divided by ``spacing[a] ** 2`` (intensity per mm²). Default: 1;
        a Volume brings its own.
    normalize : bool
        Multiply by ``sigma_mm ** 2`` (the scale-normalised LoG of Lindeberg, comparable across
        scales; needs one sigma).
    mode, cval : as in ``scipy.ndimage``
    truncate : float
        The Gaussian is cut at this many standard deviations.

    Returns
    -------
    array or Volume
        On the input's device; float32 for float32 and 8/16-bit integer input, float64 otherwise.

    Notes
    -----
    Without spacing this is ``scipy.ndimage.gaussian_laplace(image, sigma_mm)``; with an isotropic
    spacing ``s``, ``gaussian_laplace(image, sigma_mm / s) / s ** 2``; with an anisotropic one the
    sum of SciPy's second-derivative-of-Gaussian passes, each divided by its spacing squared.

    References
    ----------
    Lindeberg T., Feature detection with automatic scale selection, IJCV 30 (1998) 79-116.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import log
    >>> y, x = np.mgrid[:21, :21] - 10.0
    >>> round(float(log(x**2 + y**2, 2.0)[10, 10]), 3)  # 4, less SciPy's sampling error
    3.985
    """
    if normalize and np.size(sigma_mm) != 1:
        raise ParameterError(f"normalize=True needs one sigma_mm; got {sigma_mm!r}. Pass a single number.")
    out = _gaussian_derivative(image, sigma_mm, 2, spacing, mode, cval, truncate)
    if normalize:
        out = out * out.dtype.type(float(np.ravel(sigma_mm)[0]) ** 2)
    return out


@accepts_volume
def laplace(image: Image, *, mode: str = "reflect", cval: float = 0.0) -> Image:
    """Discrete Laplacian ``[1, -2, 1]`` summed over the axes, equal to ``scipy.ndimage.laplace``.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
    mode, cval : as in ``scipy.ndimage``

    Returns
    -------
    array or Volume
        In voxel units; on the input's device; float32 for float32 and 8/16-bit integer input,
        float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import laplace
    >>> y, x = np.mgrid[:5, :5].astype(float)
    >>> float(laplace(x**2 + y**2)[2, 2])
    4.0
    """
    work, _ = _check(image, mode)

    def run(chunk):
        ns = namespace(chunk)
        return ns.ndi.laplace(ns.xp.asarray(chunk, dtype=work), mode=mode, cval=cval)

    return _stencil(run, image, 1, mode, work)


def _check(image, mode):
    """The float dtype to compute in, after checking the mode and the number of axes."""
    if mode not in boundary.MODES:
        raise ParameterError(f"mode={mode!r} is unknown; use one of {sorted(boundary.MODES)}.")
    ndim = np.ndim(image)
    if ndim not in (1, 2, 3):
        raise ParameterError(f"the image must be 1D, 2D or 3D; got {ndim}D, shape {np.shape(image)}.")
    dtype = np.dtype(image.dtype) if hasattr(image, "dtype") else np.asarray(image).dtype
    _, out = _dtypes(dtype)
    return out, ndim


def _stencil(run, image, depth, mode, dtype):
    if is_dask(image):
        return map_stencil(run, image, depth=depth, periodic=mode in ("wrap", "grid-wrap"), dtype=dtype)
    return run(image)


def _sigma_voxels(sigma, spacing, ndim, name):
    values = np.atleast_1d(np.asarray(sigma, dtype=float))
    if values.size == 1:
        values = np.repeat(values, ndim)
    if values.shape != (ndim,) or not all(math.isfinite(v) and v > 0 for v in values):
        raise ParameterError(f"{name}={sigma!r} must be one positive number or one per axis ({ndim}).")
    return tuple(float(v / s) for v, s in zip(values, spacing, strict=True))


def _gaussian_derivative(image, sigma, order, spacing, mode, cval, truncate):
    """Gradient magnitude (order 1) or Laplacian (order 2) of Gaussian, scaled by the spacing."""
    work, ndim = _check(image, mode)
    given = spacing is not None
    spacing = _spacing(spacing, ndim)
    sigma_vox = _sigma_voxels(sigma, spacing, ndim, "sigma" if order == 1 else "sigma_mm")
    if not (math.isfinite(truncate) and truncate > 0):
        raise ParameterError(f"truncate={truncate!r} must be a positive number of standard deviations.")
    run = partial(
        _gaussian_derivative_chunk,
        sigma_vox=sigma_vox,
        order=order,
        spacing=spacing if given else None,
        mode=mode,
        cval=cval,
        truncate=truncate,
        work=work,
    )
    depth = max(int(truncate * s + 0.5) for s in sigma_vox)
    return _stencil(run, image, depth, mode, work)


def _gaussian_derivative_chunk(chunk, *, sigma_vox, order, spacing, mode, cval, truncate, work):
    ns = namespace(chunk)
    x = ns.xp.asarray(chunk, dtype=work)
    kwargs = {"mode": mode, "cval": cval, "truncate": truncate}
    scipy_op = ns.ndi.gaussian_gradient_magnitude if order == 1 else ns.ndi.gaussian_laplace
    if spacing is None or len(set(spacing)) == 1:
        out = scipy_op(x, sigma_vox, **kwargs)
        step = 1.0 if spacing is None else spacing[0]
        return out if step == 1.0 else out / work.type(step**order)
    total = None
    for axis in range(x.ndim):
        orders = [order if a == axis else 0 for a in range(x.ndim)]
        d = ns.ndi.gaussian_filter(x, sigma_vox, order=orders, **kwargs) / work.type(spacing[axis] ** order)
        term = d * d if order == 1 else d
        total = term if total is None else total + term
    return ns.xp.sqrt(total) if order == 1 else total
