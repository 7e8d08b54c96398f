"""Gradient direction, Gaussian derivatives and the Laplacian: SciPy's operators with spacing in mm.

Each function equals its SciPy counterpart when ``spacing`` is not given (voxel units), and gives
physical units when it is (a Volume brings its own): each derivative of order ``k`` along axis ``a``
is divided by ``spacing[a] ** k``, so a gradient is in intensity per mm and a Laplacian in intensity
per mm². ``sigma`` is in voxels whatever the input; ``sigma_mm`` is in mm, divided by the spacing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from gpuimg._arrays import check_ndim
from gpuimg._support import (
    check_cval,
    check_flag,
    check_gaussian,
    check_mode,
    check_sampled_gaussian,
    is_finite,
)
from gpuimg._units import voxels
from gpuimg.backend import is_dask, map_stencil, namespace
from gpuimg.errors import ParameterError
from gpuimg.volume import accepts_volume

from .gradient import Image, Spacing, _derivative, _dtypes, _spacing


@accepts_volume(new_units=True)
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
        the gradient is 0 (a plain array for a Volume too: a Volume holds one value per voxel, not
        a vector; its spacing still applies). Float32 for float32 and 8/16-bit integer input,
        float64 otherwise; on the input's device.

    Raises
    ------
    ParameterError
        For an image that is not 2D or 3D, an unknown operator or mode, a ``cval`` that is not one real
        number, or a spacing that is not positive, not one per axis, or differs from the Volume's own.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import gradient_direction
    >>> ramp = np.broadcast_to(np.arange(6.0), (5, 6))  # increasing along x
    >>> float(gradient_direction(ramp)[2, 3])
    0.0
    """
    ndim = check_ndim(image, (2, 3))
    gradient = [_derivative(image, operator, axis, spacing, mode, cval) for axis in range(ndim)]
    xp = np if is_dask(image) else namespace(image).xp
    if ndim == 2:
        return xp.arctan2(gradient[0], gradient[1])
    # Divided in place in the stacked result, each temporary freed when done: a few volumes on a
    # GPU rather than eleven. The norm by hypot, not the root of the summed squares: squares of
    # derivatives beyond about 1e19 (float32; 1e154 float64) overflow to inf, below 1e-19 (1e-154)
    # to 0, and the direction of such a gradient came out 0.
    direction = xp.stack(gradient)
    gradient.clear()
    norm = xp.hypot(xp.hypot(direction[0], direction[1]), direction[2])
    safe = xp.where(norm > 0, norm, 1)
    del norm
    direction /= safe
    return direction


@accepts_volume(new_units=True)
def gaussian_gradient_magnitude(
    image: Image,
    sigma: float | Sequence[float] | None = None,
    *,
    sigma_mm: float | Sequence[float] | None = None,
    spacing: Spacing = None,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
) -> Image:
    """Gradient magnitude of the image smoothed by a Gaussian of standard deviation ``sigma``
    [voxels] or ``sigma_mm`` [mm].

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
    sigma : float or sequence of float [voxels]
        Standard deviation of the Gaussian, one or one per axis. Give this or ``sigma_mm``.
    sigma_mm : float or sequence of float [mm]
        The same in mm: ``sigma_mm / spacing[a]`` voxels along axis ``a``; needs a spacing.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``sigma_mm`` and for the result's unit: each derivative along ``a`` is
        divided by ``spacing[a]`` (intensity per mm). Default: none (intensity per voxel); a
        Volume brings its own.
    mode, cval : as in ``scipy.ndimage``
    truncate : float
        The Gaussian is cut at this many standard deviations.

    Returns
    -------
    array or Volume
        On the input's device; float32 for float32 and 8/16-bit integer input, float64 otherwise.

    Raises
    ------
    ParameterError
        For an image that is not 1D to 3D; neither or both of ``sigma`` and ``sigma_mm``; ``sigma_mm``
        without a spacing; a sigma that is not positive, not one per axis, so large that its kernel
        exceeds 2**20 taps, or so narrow along an axis (below about 0.64 voxel: ``sigma_mm`` below
        0.64 times the spacing) that SciPy's sampled derivative is no derivative (see Notes); a
        spacing that is not positive, or differs from the Volume's own; a ``truncate`` that is not
        positive; an unknown mode or a ``cval`` that is not one real number.

    Notes
    -----
    Without ``spacing`` this is ``scipy.ndimage.gaussian_gradient_magnitude(image, sigma)``; with
    a spacing, ``sqrt(sum_a (gaussian_filter(image, sigma, order=e_a) / spacing[a]) ** 2)`` with the
    same first-derivative-of-Gaussian passes SciPy uses. The root of the summed squares is taken by
    ``hypot``, so it is finite wherever the magnitude is representable: SciPy squares in the output's
    dtype, and a float32 derivative beyond about 1e19 (below about 1e-19) gives it inf (0).

    SciPy samples the derivative of a Gaussian; below about 0.7 voxel the samples lose its moments
    and the pass is no derivative: a unit ramp gets a slope of 0.86 at 0.5 voxel, 0.2 at 1/3 voxel
    (``sigma_mm=1`` on 3 mm slices), 0 below 1/8. A sigma along an axis whose ramp slope is more
    than 1 % off (below about 0.64 voxel) is refused:
    pass a wider one, or resample the image along that axis first
    (:func:`gpuimg.preprocess.resample`); of a one-slice volume, take its 2D slice.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import gaussian_gradient_magnitude
    >>> ramp = np.broadcast_to(np.arange(20.0) * 3.0, (20, 20))
    >>> round(float(gaussian_gradient_magnitude(ramp, 2.0)[10, 10]), 2)  # 3 per voxel
    3.0
    >>> round(float(gaussian_gradient_magnitude(ramp, sigma_mm=4.0, spacing=2.0)[10, 10]), 2)  # 3 per 2 mm
    1.5
    """
    return _gaussian_derivative(image, sigma, sigma_mm, 1, spacing, mode, cval, truncate)


@accepts_volume(new_units=True)
def log(
    image: Image,
    sigma: float | Sequence[float] | None = None,
    *,
    sigma_mm: float | Sequence[float] | None = None,
    spacing: Spacing = None,
    normalize: bool = False,
    mode: str = "reflect",
    cval: float = 0.0,
    truncate: float = 4.0,
) -> Image:
    """Laplacian of Gaussian of standard deviation ``sigma`` [voxels] or ``sigma_mm`` [mm],
    optionally scale-normalised.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
    sigma : float or sequence of float [voxels]
        Standard deviation of the Gaussian, one or one per axis. Give this or ``sigma_mm``.
    sigma_mm : float or sequence of float [mm]
        The same in mm: ``sigma_mm / spacing[a]`` voxels along axis ``a``; needs a spacing.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``sigma_mm`` and for the result's unit: the second derivative along
        ``a`` is divided by ``spacing[a] ** 2`` (intensity per mm²). Default: none (intensity per
        voxel²); a Volume brings its own.
    normalize : bool
        Multiply by the variance in the derivatives' unit (the scale-normalised LoG of Lindeberg,
        comparable across scales): ``sigma ** 2`` without a spacing, ``sigma_mm ** 2`` with one.
        Needs a single sigma (and ``sigma_mm`` where there is a spacing).
    mode, cval : as in ``scipy.ndimage``
    truncate : float
        The Gaussian is cut at this many standard deviations.

    Returns
    -------
    array or Volume
        On the input's device; float32 for float32 and 8/16-bit integer input, float64 otherwise.

    Raises
    ------
    ParameterError
        As :func:`gaussian_gradient_magnitude`, the narrowest sigma being about 0.73 voxel here (see
        Notes); also a ``normalize`` that is not True or False, and ``normalize=True`` without one
        sigma (one ``sigma_mm`` where there is a spacing).

    Notes
    -----
    Without spacing this is ``scipy.ndimage.gaussian_laplace(image, sigma)``; with an isotropic
    spacing ``s``, that divided by ``s ** 2``; with an anisotropic one the sum of SciPy's
    second-derivative-of-Gaussian passes, each divided by its spacing squared.

    SciPy samples the second derivative of a Gaussian; below about 0.75 voxel the samples lose its
    moments and the pass is no second derivative: at 0.5 voxel it sums to -0.56, not 0, so a
    constant region gets a Laplacian of -0.56 times its value per voxel² (+560 in air at
    -1000 HU) and a parabola 1.34 times its curvature; at 1/3 voxel (``sigma_mm=1`` on 3 mm
    slices) -7.3 and 0.78. A sigma along an axis where either is more than 0.01 off (0 and 1;
    below about 0.73 voxel) is refused: pass a wider
    one, or resample the image along that axis first (:func:`gpuimg.preprocess.resample`); of a
    one-slice volume, take its 2D slice.

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
    check_flag(normalize, "normalize")
    scale = sigma if spacing is None else sigma_mm
    if normalize and (scale is None or np.size(scale) != 1):
        name = "sigma" if spacing is None else "sigma_mm (with a spacing the derivatives are per mm)"
        raise ParameterError(f"normalize=True needs one {name}; got sigma={sigma!r}, sigma_mm={sigma_mm!r}.")
    out = _gaussian_derivative(image, sigma, sigma_mm, 2, spacing, mode, cval, truncate)
    if normalize:
        out = out * out.dtype.type(float(np.ravel(scale)[0]) ** 2)
    return out


@accepts_volume(new_units=True)
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

    Raises
    ------
    ParameterError
        For an image that is not 1D to 3D, an unknown mode or a ``cval`` that is not one real number.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import laplace
    >>> y, x = np.mgrid[:5, :5].astype(float)
    >>> float(laplace(x**2 + y**2)[2, 2])
    4.0
    """
    work, _ = _check(image, mode)
    check_cval(cval)

    def run(chunk):
        ns = namespace(chunk)
        return ns.ndi.laplace(ns.xp.asarray(chunk, dtype=work), mode=mode, cval=cval)

    return _stencil(run, image, 1, mode, work)


def _check(image, mode):
    """The float dtype to compute in, after checking the mode and the number of axes."""
    check_mode(mode)
    ndim = check_ndim(image, (1, 2, 3))
    dtype = np.dtype(image.dtype) if hasattr(image, "dtype") else np.asarray(image).dtype
    _, out = _dtypes(dtype)
    return out, ndim


def _stencil(run, image, depth, mode, dtype):
    if is_dask(image):
        return map_stencil(run, image, depth=depth, periodic=mode in ("wrap", "grid-wrap"), dtype=dtype)
    return run(image)


def _gaussian_derivative(image, sigma, sigma_mm, order, spacing, mode, cval, truncate):
    """Gradient magnitude (order 1) or Laplacian (order 2) of Gaussian, scaled by the spacing."""
    work, ndim = _check(image, mode)
    check_cval(cval)
    given = spacing is not None
    spacing = _spacing(spacing, ndim)
    sigma_vox = voxels("sigma", sigma, sigma_mm, spacing if given else None, ndim)
    if not (is_finite(truncate) and truncate > 0):
        raise ParameterError(f"truncate={truncate!r} must be a positive number of standard deviations.")
    check_gaussian(sigma_vox, truncate=truncate)
    check_sampled_gaussian(sigma_vox, order, sigma_mm, spacing if given else None, tuple(image.shape))
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
    steps = (1.0,) * x.ndim if spacing is None else spacing
    if order == 2 and len(set(steps)) == 1:
        out = ns.ndi.gaussian_laplace(x, sigma_vox, **kwargs)
        return out if steps[0] == 1.0 else out / work.type(steps[0] ** 2)
    # The magnitude by hypot, not SciPy's root of the summed squares: squares of derivatives beyond
    # about 1e19 (float32; 1e154 float64) overflow to inf, below 1e-19 (1e-154) to 0, where the
    # magnitude itself is representable. The same first-derivative-of-Gaussian passes as SciPy's.
    total = None
    for axis in range(x.ndim):
        orders = [order if a == axis else 0 for a in range(x.ndim)]
        d = ns.ndi.gaussian_filter(x, sigma_vox, order=orders, **kwargs)
        if steps[axis] != 1.0:
            d /= work.type(steps[axis] ** order)
        if order == 2:
            total = d if total is None else total + d
        else:
            total = ns.xp.abs(d) if total is None else ns.xp.hypot(total, d)
    return total
