"""Sharpening: the Laplacian sharpen and unsharp masking, in the image's own units.

Both take a NumPy, CuPy or Dask array (or a :class:`~gpuimg.Volume`, whose geometry they keep) and
return a float array on the input's device: float64 for float64 and 32/64-bit integer input,
float32 otherwise, so an int16 CT in HU is read without overflow. Both are stencils: on a Dask array
they run chunk by chunk with their halo, with the result of the whole volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import float_dtype
from gpuimg._support import check_cval, check_finite, check_gaussian
from gpuimg._support import check_mode as _check_mode
from gpuimg.backend import is_dask, map_stencil, namespace
from gpuimg.volume import Volume, accepts_volume

from .denoise import _sigmas

#: An image: a NumPy, CuPy or Dask array, or a Volume.
Image = ArrayLike | Volume
Spacing = float | Sequence[float] | None


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

    Raises
    ------
    ParameterError
        For an ``alpha`` that is not a finite number, an unknown mode, or a ``cval`` that is not one
        real number.

    Notes
    -----
    A NaN or inf makes itself and its face neighbours (6 in 3D; past the edges as ``mode``
    extends the image) non-finite, with SciPy's values: away from the edges and from other
    non-finite voxels, a NaN gives NaN, and an inf, for ``alpha > 0``, stays an inf and gives its
    neighbours an inf of the opposite sign. ``alpha = 0`` returns the image, NaN and inf as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.preprocess import laplacian_sharpen
    >>> spike = np.array([0.0, 0.0, 1.0, 0.0, 0.0])  # its Laplacian is [0, 1, -2, 1, 0]
    >>> laplacian_sharpen(spike).tolist()
    [0.0, -1.0, 3.0, -1.0, 0.0]
    >>> laplacian_sharpen(spike, alpha=0.5).tolist()
    [0.0, -0.5, 2.0, -0.5, 0.0]
    """
    check_finite(alpha, "alpha")
    _check_mode(mode)
    check_cval(cval)
    dtype = float_dtype(image.dtype)
    run = partial(_laplacian_sharpen, alpha=float(alpha), mode=mode, cval=cval, dtype=dtype)
    if is_dask(image):
        return map_stencil(run, image, depth=1, periodic=mode in ("wrap", "grid-wrap"), dtype=dtype)
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
        0 on some axes (not all) leaves them unblurred, as in scikit-image.
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

    Raises
    ------
    ParameterError
        For a sigma that is negative, 0 on every axis, not one per axis, or so large that its kernel
        exceeds 2**20 taps; both ``sigma`` and ``sigma_mm``; ``sigma_mm`` without a spacing; a spacing
        that is not positive, or differs from the Volume's own; an ``amount`` that is not a finite
        number; an unknown mode or a ``cval`` that is not one real number.

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

    Examples
    --------
    A step of 100 HU gains an undershoot and an overshoot on its two sides; far from it (more than
    4 sigma) nothing changes:

    >>> import numpy as np
    >>> from gpuimg.preprocess import unsharp_mask
    >>> step = np.repeat([0.0, 100.0], 8)
    >>> sharp = unsharp_mask(step, sigma=1.0, amount=1.0)
    >>> sharp[[0, 7, 8, 15]].round(1).tolist()
    [0.0, -30.1, 130.1, 100.0]
    """
    _check_mode(mode)
    check_cval(cval)
    check_finite(amount, "amount")
    sigmas = _sigmas("sigma", sigma, sigma_mm, spacing, np.ndim(image), default=1.0)
    check_gaussian(sigmas)
    dtype = float_dtype(image.dtype)
    run = partial(_unsharp, sigma=sigmas, amount=float(amount), mode=mode, cval=cval, dtype=dtype)
    if is_dask(image):
        depth = tuple(int(4.0 * s + 0.5) for s in sigmas)
        return map_stencil(run, image, depth=depth, periodic=mode in ("wrap", "grid-wrap"), dtype=dtype)
    return run(image)


def _unsharp(image, *, sigma, amount, mode, cval, dtype):
    ns = namespace(image)
    work = ns.xp.asarray(image, dtype=dtype)
    blurred = ns.ndi.gaussian_filter(work, sigma, mode=mode, cval=cval)
    return work + (work - blurred) * dtype.type(amount)
