"""Image gradients: Sobel, Prewitt and Scharr derivatives and the gradient magnitude.

The derivatives follow ``scipy.ndimage.sobel`` exactly (same weights, same boundary modes, same
numbers): a central difference ``[-1, 0, 1]`` along the axis, unnormalised, and a smoothing
``[1, 2, 1]`` (Sobel), ``[1, 1, 1]`` (Prewitt) or ``[3, 10, 3]`` (Scharr) along every other axis. For a
3D linear ramp of slope ``g`` per voxel the Sobel derivative is therefore ``32 g`` (2 from the
difference, 4 from each smoothing), Prewitt's ``18 g`` and Scharr's ``512 g``.

On NumPy and CuPy arrays the derivatives and magnitude come from one fused pass of
:mod:`gpuimg.kernels.gradient` (CPU or CUDA target); on Dask arrays from the same pass per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import check_ndim
from gpuimg._support import check_axis, check_choice, check_cval, check_mode
from gpuimg._support import check_spacing as _spacing
from gpuimg.backend import is_dask, map_stencil, namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import boundary
from gpuimg.kernels import gradient as kernel
from gpuimg.volume import Volume, accepts_volume

#: An image: a NumPy, CuPy or Dask array, or a Volume.
Image = ArrayLike | Volume
Spacing = float | Sequence[float] | None

#: Smoothing weights ``(side, centre)`` of each operator.
OPERATORS = {"sobel": (1.0, 2.0), "prewitt": (1.0, 1.0), "scharr": (3.0, 10.0)}

_NATIVE = {np.dtype(t) for t in ("int8", "int16", "int32", "uint8", "uint16", "uint32")}


@accepts_volume(new_units=True)
def gradient_magnitude(
    image: Image,
    operator: str = "sobel",
    *,
    spacing: Spacing = None,
    mode: str = "reflect",
    cval: float = 0.0,
) -> Image:
    """Magnitude of the image gradient from Sobel, Prewitt or Scharr derivatives, in one pass.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
        For 3D, axes (z, y, x).
    operator : {"sobel", "prewitt", "scharr"}
    spacing : float or sequence of float [mm], optional
        Voxel spacing per axis; each derivative is divided by its spacing, so the magnitude is
        in intensity per mm times the operator's scale, as ``scipy.ndimage.sobel``'s: 32 for Sobel
        in 3D (8 in 2D), 18 for Prewitt (6), 512 for Scharr (32). Divide by it for intensity
        (HU) per mm. Default: 1 (voxel units); a Volume brings its own.
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
        For an image that is not 1D to 3D or not of real numbers, an unknown operator or mode, a
        ``cval`` that is not one real number, or a spacing that is not positive, not one per axis, or
        differs from the Volume's own.

    Notes
    -----
    Equals ``sqrt(sum(scipy.ndimage.sobel(image, axis=a) ** 2 / spacing[a] ** 2))`` of the image
    converted to the output dtype (SciPy differentiates an integer image in its own dtype, where
    uint8 wraps), with ``prewitt`` for Prewitt. SciPy needs three separable passes per derivative plus the
    magnitude; this reads each voxel's 27 neighbours once and writes one value. NaN and inf
    spread to the same voxels as in SciPy. Where the squares would overflow (derivatives beyond
    about 1.8e19 in float32, 1.3e154 in float64) or lose digits (below about 1e-15 in float32,
    1e-150 in float64), the magnitude is that of the derivatives divided by a power of two,
    multiplied back: not inf or 0 as NumPy's, and an image scaled by a power of two has its
    magnitude scaled alike. Such voxels cost time only where they occur: the CPU redoes their rows.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.edges import gradient_magnitude
    >>> ramp = np.broadcast_to(np.arange(8.0), (4, 6, 8))  # 1 per voxel along x, 2 per mm
    >>> float(gradient_magnitude(ramp, spacing=(1.0, 1.0, 0.5))[2, 3, 4])
    64.0
    >>> float(gradient_magnitude(ramp, spacing=(1.0, 1.0, 0.5))[2, 3, 4]) / 32  # per mm
    2.0
    """
    return _sobel_family(image, operator, kernel.MAGNITUDE, spacing, mode, cval)


@accepts_volume(new_units=True)
def sobel(
    image: Image, axis: int = -1, *, spacing: Spacing = None, mode: str = "reflect", cval: float = 0.0
) -> Image:
    """Sobel derivative along ``axis``: equal to ``scipy.ndimage.sobel`` (see
    :func:`gradient_magnitude` for the parameters), divided by ``spacing[axis]`` when given.

    Raises
    ------
    ParameterError
        For an image that is not 1D to 3D or not of real numbers, an ``axis`` that is not a whole
        number naming one of its axes, an unknown mode, a ``cval`` that is not one real number, or a
        spacing that is not positive, not one per axis, or differs from the Volume's own.

    Examples
    --------
    A ramp of 1 per voxel along x: 2 from the difference times 4 from each smoothed axis, 32:

    >>> import numpy as np
    >>> import scipy.ndimage
    >>> from gpuimg.edges import sobel
    >>> ramp = np.broadcast_to(np.arange(8.0), (4, 6, 8))
    >>> dx = sobel(ramp, axis=-1)
    >>> float(dx[2, 3, 4]), float(sobel(ramp, axis=0)[2, 3, 4])  # flat along z
    (32.0, 0.0)
    >>> bool(np.allclose(dx, scipy.ndimage.sobel(ramp, axis=-1)))  # edges included
    True
    >>> float(sobel(ramp, spacing=(2.5, 0.8, 0.5))[2, 3, 4]) / 32  # 0.5 mm pixels: 2 per mm
    2.0
    """
    return _derivative(image, "sobel", axis, spacing, mode, cval)


@accepts_volume(new_units=True)
def prewitt(
    image: Image, axis: int = -1, *, spacing: Spacing = None, mode: str = "reflect", cval: float = 0.0
) -> Image:
    """Prewitt derivative along ``axis``: equal to ``scipy.ndimage.prewitt`` (see
    :func:`gradient_magnitude` for the parameters), divided by ``spacing[axis]`` when given.

    Raises
    ------
    ParameterError
        For an image that is not 1D to 3D or not of real numbers, an ``axis`` that is not a whole
        number naming one of its axes, an unknown mode, a ``cval`` that is not one real number, or a
        spacing that is not positive, not one per axis, or differs from the Volume's own.

    Examples
    --------
    An air / soft tissue edge (1000 HU) along x: the two voxels beside it get 1000 times 9 (the
    ``[1, 1, 1]`` smoothing along y and z), flat regions 0:

    >>> import numpy as np
    >>> from gpuimg.edges import prewitt
    >>> ct = np.full((3, 4, 6), -1000, np.int16)
    >>> ct[..., 3:] = 0
    >>> dx = prewitt(ct)
    >>> dx.dtype, dx[1, 1].tolist()
    (dtype('float32'), [0.0, 0.0, 9000.0, 9000.0, 0.0, 0.0])
    """
    return _derivative(image, "prewitt", axis, spacing, mode, cval)


@accepts_volume(new_units=True)
def scharr(
    image: Image, axis: int = -1, *, spacing: Spacing = None, mode: str = "reflect", cval: float = 0.0
) -> Image:
    """Scharr derivative along ``axis``: difference ``[-1, 0, 1]``, smoothing ``[3, 10, 3]`` on the
    other axes, unnormalised like ``scipy.ndimage.sobel`` (scikit-image's ``scharr`` divides by 16
    per smoothed axis). Parameters as :func:`gradient_magnitude`.

    Raises
    ------
    ParameterError
        For an image that is not 1D to 3D or not of real numbers, an ``axis`` that is not a whole
        number naming one of its axes, an unknown mode, a ``cval`` that is not one real number, or a
        spacing that is not positive, not one per axis, or differs from the Volume's own.

    Examples
    --------
    A ramp of 1 per voxel along x: 2 from the difference times 16 from each smoothed axis,
    512 in 3D (32 in 2D):

    >>> import numpy as np
    >>> from gpuimg.edges import scharr
    >>> ramp = np.broadcast_to(np.arange(8.0), (4, 6, 8))
    >>> float(scharr(ramp)[2, 3, 4]), float(scharr(ramp[0])[3, 4])
    (512.0, 32.0)
    """
    return _derivative(image, "scharr", axis, spacing, mode, cval)


def _derivative(image, operator, axis, spacing, mode, cval):
    return _sobel_family(image, operator, check_axis(axis, np.ndim(image)), spacing, mode, cval)


def _sobel_family(image, operator, component, spacing, mode, cval):
    """The derivative along axis ``component`` of ``image``, or its magnitude (``MAGNITUDE``)."""
    check_choice(operator, OPERATORS, "operator")
    check_mode(mode)
    check_cval(cval)
    ndim = check_ndim(image, (1, 2, 3))
    spacing = _spacing(spacing, ndim)
    work, out_dtype = _dtypes(np.dtype(image.dtype) if hasattr(image, "dtype") else np.asarray(image).dtype)
    run = partial(
        _gradient,
        operator=operator,
        component=component,
        spacing=spacing,
        mode=boundary.MODES[mode],
        cval=cval,
        work=work,
        out_dtype=out_dtype,
    )
    if is_dask(image):
        return map_stencil(
            run, image, depth=1, periodic=boundary.MODES[mode] == boundary.WRAP, dtype=out_dtype
        )
    return run(image)


def _gradient(image, *, operator, component, spacing, mode, cval, work, out_dtype):
    ns = namespace(image)
    xp = ns.xp
    shape = np.shape(image)
    lead = 3 - len(shape)
    src = xp.ascontiguousarray(xp.asarray(image, dtype=work)).reshape((1,) * lead + shape)
    out = xp.empty(src.shape, dtype=out_dtype)
    if out.size == 0:
        return out.reshape(shape)
    side, centre = OPERATORS[operator]
    weights, scale = [], []
    for axis in range(3):
        real = axis - lead
        weights += (side, centre) if real >= 0 else (0.0, 1.0)
        wanted = real >= 0 and component in (kernel.MAGNITUDE, real)
        scale.append(1.0 / spacing[real] if wanted else 0.0)
    as_out = out_dtype.type
    kernel.gradient(
        src,
        out,
        target=ns.target,
        mode=mode,
        cval=as_out(cval),
        weights=tuple(as_out(w) for w in weights),
        scale=tuple(as_out(s) for s in scale),
        component=-1 if component == kernel.MAGNITUDE else component + lead,
    )
    return out.reshape(shape)


def _dtypes(dtype):
    """The dtype the kernel reads and the float dtype it writes, for an input dtype."""
    if dtype.kind == "b":
        return np.dtype(np.uint8), np.dtype(np.float32)
    if dtype in _NATIVE:
        return dtype, np.dtype(np.float32 if dtype.itemsize <= 2 else np.float64)
    if dtype.kind in "iu":
        return np.dtype(np.float64), np.dtype(np.float64)
    if dtype.kind == "f":
        out = np.dtype(np.float64 if dtype.itemsize > 4 else np.float32)
        return out, out
    raise ParameterError(f"the image must hold real numbers; got dtype {dtype}.")
