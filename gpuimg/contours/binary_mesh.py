"""Mesh measures of a binary mask without its mesh: the volume and area of the marching-cubes surface
of a mask at level 0.5, from counts of its 2 x 2 x 2 configurations."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import roi_voxels
from gpuimg._support import check_spacing
from gpuimg.backend import namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels.mesh import case_sums, cube_cases
from gpuimg.volume import Volume, accepts_volume

from . import _mesh_cases
from ._host import to_host


@accepts_volume
def binary_mesh_measures(
    mask: ArrayLike | Volume, *, spacing: Sequence[float] | None = None
) -> tuple[float, float]:
    """Volume and area of the marching-cubes surface of a binary mask, without building the mesh.

    Parameters
    ----------
    mask : 3D array (NumPy, CuPy or Dask) or Volume, bool, integer or float
        Its non-zero voxels are inside, NaN voxels of a float mask outside (the rule of every mask of
        gpuimg, as :func:`gpuimg.features.morphology` reads it). Treated as padded with one voxel of
        zeros on every side, so the surface is closed. A Dask array is computed first; a CuPy array is
        copied to the host (the first call warns).
    spacing : sequence of 3 float [mm], optional
        Voxel spacing (z, y, x). Default: a Volume's own spacing (another one given with a Volume is
        refused), else 1 (voxel units).

    Returns
    -------
    volume : float [mm³]
        Enclosed by the surface (cavities subtracted).
    area : float [mm²]
        Of the surface.

    Raises
    ------
    ParameterError
        For a mask that is not 3D or not boolean, integer or float, or a bad spacing (or, with a
        Volume, one other than its own).

    Notes
    -----
    Equal, up to rounding, to ``mesh_volume`` and ``mesh_surface_area`` of
    ``marching_cubes(np.pad(mask, 1), 0.5, spacing=spacing)`` (scikit-image's Lewiner marching
    cubes), and 0 for an empty mask (where scikit-image finds no surface and raises).

    At level 0.5 each 2 x 2 x 2 cube of a binary mask gets the triangles of its configuration of 8
    voxels alone (:mod:`gpuimg.contours._mesh_cases`, scikit-image's own triangles), so with ``n_c``
    cubes of configuration ``c`` and ``S_c`` the sum of their origins [voxels], six times the signed
    volume (the tetrahedra ``a . (b x c)`` each triangle spans with the origin) is
    ``sum S_c . N_c + n_c C_c``, where over the configuration's triangles, relative to its cube's
    origin, ``N_c = sum (b - a) x (c - a)`` and ``C_c = sum a . (b x c)``; the area is half the sum of
    ``|(b - a) x (c - a)|``. The spacing scales the volume by ``s_z s_y s_x`` and each
    ``(b - a) x (c - a)`` by ``(s_y s_x, s_z s_x, s_z s_y)``. One pass over the mask gives ``n_c`` and
    ``S_c`` (:func:`gpuimg.kernels.mesh.cube_cases`, Numba, integer counts): time ``O(voxels)``, no
    memory for the mesh; 7 to 10 times faster than marching cubes and the two mesh measures (a
    700-voxel ROI: 0.07 against 0.48 ms; a ball in 256³: 38 against 364 ms, on 2 CPU cores).

    Examples
    --------
    >>> import numpy as np
    >>> block = np.ones((2, 2, 2), dtype=bool)  # 8 voxels: 8 mm³, its corners and edges cut off
    >>> volume, area = binary_mesh_measures(block, spacing=(1.0, 1.0, 1.0))
    >>> round(volume, 4), round(area, 4)
    (5.6667, 16.2173)
    """
    shape = np.shape(mask)
    dtype = np.dtype(mask.dtype if hasattr(mask, "dtype") else np.asarray(mask).dtype)
    if len(shape) != 3 or dtype.kind not in "buif":
        raise ParameterError(
            f"the mask must be a 3D boolean (or integer or float, non-zero inside) array; got shape "
            f"{shape}, dtype {dtype}. Threshold an image first, e.g. image > level."
        )
    spacing = check_spacing(spacing, 3)
    (host,) = to_host(namespace(mask), "binary_mesh_measures", mask)
    return cube_measures(np.ascontiguousarray(host if host.dtype == bool else roi_voxels(host)), spacing)


def cube_measures(inside: np.ndarray, spacing: tuple[float, float, float]) -> tuple[float, float]:
    """:func:`binary_mesh_measures` of a mask that needs no checks: a 3D bool C-contiguous NumPy
    array and 3 spacings [mm] as floats, as :func:`gpuimg.features.morphology` holds them (the public
    function's checks and conversions took half of its 0.04 ms on the demo cohort's ROIs)."""
    counts = cube_cases(inside.view(np.uint8))
    # In voxel units, with the cubes' origins taken from the box's centre: the surface is closed
    # (the n_c N_c sum to 0), so any origin gives the volume, and the centre keeps the terms small.
    # The terms are multiples of 1/16 (the tables' of 1/8, the origins' of 1/2): summed in integers,
    # the volume and the triangles per normal are exact, as NumPy's float sums of them were, in a
    # fifth of their time (their dozen array operations on the 256 configurations, 0.02 ms an ROI).
    six, totals = case_sums(counts, inside.shape, *_EIGHTHS)
    sz, sy, sx = spacing
    area = 0.5 * float(totals.astype(np.float64) @ _direction_lengths(sz, sy, sx))
    return abs(six / 16.0) / 6.0 * sz * sy * sx, area


#: The configurations' tables of :mod:`._mesh_cases` as integers: ``N_c`` and ``C_c`` times 8 (their
#: vertices lie on half voxels), the triangles per normal as they are.
_EIGHTHS = tuple(
    np.ascontiguousarray(np.rint(table).astype(np.int64))
    for table in (8.0 * _mesh_cases.NORMALS, 8.0 * _mesh_cases.CONSTANTS, _mesh_cases.DIRECTION_COUNTS)
)


@functools.lru_cache(maxsize=64)
def _direction_lengths(sz: float, sy: float, sx: float) -> np.ndarray:
    """The lengths of the distinct ``(b - a) x (c - a)`` scaled by the spacing [mm²], read-only: scaling
    the axes by ``s`` scales each component by ``(s_y s_x, s_z s_x, s_z s_y)``."""
    scaled = _mesh_cases.DIRECTIONS * np.array([sy * sx, sz * sx, sz * sy])
    lengths = np.sqrt((scaled**2).sum(axis=1))
    lengths.setflags(write=False)
    return lengths
