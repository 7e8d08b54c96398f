"""Erosion, dilation, opening and closing with physical footprints: binary for bool images, grey otherwise."""

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from gpuimg.backend import is_dask, map_stencil, namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import boundary
from gpuimg.volume import Volume, accepts_volume

Image = ArrayLike | Volume
Spacing = float | Sequence[float] | None

FOOTPRINTS = ("ball", "cube", "cross")


def footprint(shape: str, radius_mm: float, spacing: Spacing = None, ndim: int = 3) -> np.ndarray:
    """The footprint of ``shape`` and radius ``radius_mm`` [mm] on a grid of ``spacing``, as a bool array.

    An offset ``o`` (voxels) belongs to the footprint when its physical offset ``d_a = o_a *
    spacing[a]`` satisfies: ``sum(d_a ** 2) <= radius_mm ** 2`` ("ball"), ``max |d_a| <= radius_mm``
    ("cube"), or lies along one axis with ``|d_a| <= radius_mm`` ("cross"). The array has
    ``2 * floor(radius_mm / spacing[a]) + 1`` voxels along axis ``a``; the centre always belongs.

    Examples
    --------
    >>> footprint("ball", 2.0, spacing=(2.0, 1.0, 1.0)).shape
    (3, 5, 5)
    """
    if shape not in FOOTPRINTS:
        raise ParameterError(f"footprint={shape!r} is unknown; use one of {list(FOOTPRINTS)}.")
    if not (isinstance(radius_mm, (int, float, np.number)) and math.isfinite(radius_mm) and radius_mm >= 0):
        raise ParameterError(f"radius_mm={radius_mm!r} must be a non-negative number of mm.")
    spacing = _spacing(spacing, ndim)
    half = [math.floor(radius_mm / s + 1e-9) for s in spacing]
    grids = np.meshgrid(
        *(np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)), indexing="ij"
    )
    tol = 1e-9 * max(radius_mm, 1.0)
    if shape == "ball":
        return sum(g**2 for g in grids) <= radius_mm**2 + tol
    if shape == "cube":
        return np.ones([2 * h + 1 for h in half], dtype=bool)
    on_axes = sum((g != 0).astype(int) for g in grids) <= 1
    return on_axes


def _spacing(spacing, ndim):
    if spacing is None:
        return (1.0,) * ndim
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if values.size == 1:
        values = np.repeat(values, ndim)
    if values.shape != (ndim,) or not all(math.isfinite(v) and v > 0 for v in values):
        raise ParameterError(
            f"spacing={spacing!r} must be one positive number (mm) or one per axis ({ndim})."
        )
    return tuple(float(v) for v in values)


def _morph(image, op, shape, radius_mm, spacing, mode, cval, passes):
    ndim = np.ndim(image)
    if ndim not in (2, 3):
        raise ParameterError(f"the image must be 2D or 3D; got {ndim}D, shape {np.shape(image)}.")
    if mode not in boundary.MODES:
        raise ParameterError(f"mode={mode!r} is unknown; use one of {sorted(boundary.MODES)}.")
    fp = footprint(shape, radius_mm, spacing, ndim)
    dtype = np.dtype(image.dtype)
    binary = dtype.kind == "b"

    def run(chunk):
        ns = namespace(chunk)
        structure = ns.xp.asarray(fp)
        if binary:
            return getattr(ns.ndi, f"binary_{op}")(chunk, structure=structure)
        return getattr(ns.ndi, f"grey_{op}")(chunk, footprint=structure, mode=mode, cval=cval)

    if is_dask(image):
        depth = passes * max(fp.shape) // 2
        return map_stencil(
            run, image, depth=depth, periodic=boundary.MODES[mode] == boundary.WRAP, dtype=dtype
        )
    return run(image)


_DOC = """{summary}

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 2D or 3D
        Bool for binary morphology (``scipy.ndimage.binary_{op}``, nothing outside the image), any
        other dtype for grey morphology (``scipy.ndimage.grey_{op}``).
    footprint : {{"ball", "cube", "cross"}}
        The footprint's shape; see :func:`footprint` for the rule.
    radius_mm : float [mm, or voxels without spacing]
    spacing : float or sequence of float [mm], optional
        Voxel spacing; a Volume brings its own.
    mode, cval : as in ``scipy.ndimage`` (grey morphology only)

    Returns
    -------
    array or Volume
        Of the input's dtype, on its device. Equal to SciPy's operation with
        ``footprint(footprint, radius_mm, spacing)`` as structure (binary) or footprint (grey).
    """


def _make(op, summary, passes):
    def func(
        image: Image,
        footprint: str = "ball",
        radius_mm: float = 1.0,
        *,
        spacing: Spacing = None,
        mode: str = "reflect",
        cval: float = 0.0,
    ) -> Image:
        return _morph(image, op, footprint, radius_mm, spacing, mode, cval, passes)

    func.__name__ = func.__qualname__ = {"erosion": "erode", "dilation": "dilate"}.get(op, op)
    func.__doc__ = _DOC.format(summary=summary, op=op)
    return accepts_volume(func)


erode = _make("erosion", "Erosion by a footprint of radius ``radius_mm`` [mm].", 1)
dilate = _make("dilation", "Dilation by a footprint of radius ``radius_mm`` [mm].", 1)
opening = _make("opening", "Opening (erosion, then dilation) by a footprint of radius ``radius_mm`` [mm].", 2)
closing = _make("closing", "Closing (dilation, then erosion) by a footprint of radius ``radius_mm`` [mm].", 2)
