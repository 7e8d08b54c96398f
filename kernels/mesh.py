"""Marching-cubes configurations of a binary mask: how many cubes of each of the 256, and where.

For a binary mask at level 0.5, scikit-image's Lewiner marching cubes gives each 2 x 2 x 2 cube of
voxels the triangles of its configuration alone (the ambiguity tests read only the cube's 8 values),
with vertices at edge midpoints or at the cube's centre, in voxel units scaled per axis by the
spacing. So any sum over the triangles of a term that is linear in the cube's position, such as the
area and the signed tetrahedra volume, is a sum over configurations of (number of cubes) x (the
configuration's term) plus (sum of the cubes' origins) . (its linear term):
:func:`gpuimg.contours.binary_mesh_measures` needs from the mask only :func:`cube_cases`, computed
here in one pass, in exact integer arithmetic, without building the mesh. The mesh's convex hull is
in :mod:`gpuimg.kernels.hull`, the PCA of the mask's voxels in :mod:`gpuimg.kernels.moments`.

Configuration number: bit ``4 dz + 2 dy + dx`` is the voxel ``(z + dz, y + dy, x + dx)`` of the cube of
origin ``(z, y, x)``. The pass runs over the cubes of the mask padded with one voxel of zeros on each
side, without making the padded copy: the cube of origin ``(z, y, x)`` in padded indices reads the
mask's voxels ``z - 1 .. z`` and so on, those outside the mask being 0. Along each row the four voxels
shared with the next cube (its ``dx = 0`` column) are read once.

CPU only: the mesh measures of :mod:`gpuimg.features.morphology` run on the host for both devices
(the masks come to the host once, for the convex hull), so there is no CUDA twin.

Work: 4 byte reads per cube, ``(nz + 1) (ny + 1) (nx + 1)`` cubes; a cube of configuration 0 or 255
(outside or inside, no triangle) adds nothing. Each thread counts a share of the z planes into
its own ``256 x 4`` table, summed at the end.
"""

import numba
import numpy as np

from .registry import cpu_kernel, threads

#: Configurations (cube cases) of 8 voxels.
CASES = 256


@numba.njit(inline="always")
def _column(mask, z, y, x, nz, ny, nx):
    """The ``dx = 0`` bits of the cube of padded origin ``(z, y, x)``: voxels ``(z - 1 + dz, y - 1 + dy,
    x - 1)`` of ``mask``, 0 outside it, at bits ``4 dz + 2 dy``."""
    bits = 0
    xi = x - 1
    if xi < 0 or xi >= nx:
        return bits
    for dz in range(2):
        zi = z - 1 + dz
        if zi < 0 or zi >= nz:
            continue
        for dy in range(2):
            yi = y - 1 + dy
            if 0 <= yi < ny and mask[zi, yi, xi] != 0:
                bits |= 1 << (4 * dz + 2 * dy)
    return bits


@cpu_kernel
def _cube_cases_cpu(mask, out, threads):
    """``threads`` comes from the caller: ``numba.get_num_threads`` inside would stop the on-disk cache."""
    nz, ny, nx = mask.shape
    planes = nz + 1
    share = -(-planes // threads)
    local = np.zeros((threads, CASES, 4), dtype=np.int64)
    for t in numba.prange(threads):
        for z in range(t * share, min(planes, (t + 1) * share)):
            for y in range(ny + 1):
                left = _column(mask, z, y, 0, nz, ny, nx)
                for x in range(nx + 1):
                    right = _column(mask, z, y, x + 1, nz, ny, nx)
                    case = left | (right << 1)
                    left = right
                    if case != 0 and case != CASES - 1:
                        local[t, case, 0] += 1
                        local[t, case, 1] += z
                        local[t, case, 2] += y
                        local[t, case, 3] += x
    for t in range(threads):
        for case in range(CASES):
            for k in range(4):
                out[case, k] += local[t, case, k]


@cpu_kernel
def _case_sums_cpu(counts, shape, normals, constants, direction_counts):
    """:func:`case_sums`: the configurations present only (a few dozen of the 256), in int64."""
    six = 0
    totals = np.zeros(direction_counts.shape[1], dtype=np.int64)
    for case in range(counts.shape[0]):
        n = counts[case, 0]
        if n == 0:
            continue
        for k in range(3):
            six += (2 * counts[case, 1 + k] - n * shape[k]) * normals[case, k]
        six += 2 * n * constants[case]
        for d in range(totals.size):
            totals[d] += n * direction_counts[case, d]
    return six, totals


def case_sums(counts: np.ndarray, shape, normals, constants, direction_counts) -> tuple[int, np.ndarray]:
    """The sums over configurations of the mesh measures' linear terms, exactly (in integers).

    Parameters
    ----------
    counts : (256, 4) int64 array
        :func:`cube_cases` of a mask of ``shape``.
    shape : sequence of 3 int
        The mask's shape (before padding) [voxels].
    normals : (256, 3) int64 array
        Each configuration's sum of its triangles' ``(b - a) x (c - a)``, times 8 [voxels²].
    constants : (256,) int64 array
        Each configuration's sum of its triangles' ``a . (b x c)``, times 8 [voxels³].
    direction_counts : (256, D) int64 array
        How many triangles of each configuration have each of ``D`` normals.

    Returns
    -------
    six : int
        16 times the sum, over configurations ``c``, of ``(S_c - n_c shape / 2) . N_c + n_c C_c``: six
        times the mesh's signed volume [voxels³], the cubes' origins taken from the box's centre.
    totals : (D,) int64 array
        The triangles of each normal, ``sum n_c direction_counts[c]``.
    """
    shape = np.asarray(shape, dtype=np.int64)
    six, totals = _case_sums_cpu.call(CASES, counts, shape, normals, constants, direction_counts)
    return int(six), totals


def cube_cases(mask: np.ndarray) -> np.ndarray:
    """The cubes of ``mask`` padded with zeros, by configuration: their count and the sum of their origins.

    Parameters
    ----------
    mask : 3D uint8 C-contiguous NumPy array
        Non-zero inside.

    Returns
    -------
    (256, 4) int64 array
        Row ``case``: the number of cubes of that configuration, then the sums of their origins' z, y
        and x in indices of the padded mask [voxels] (the origin of the cube whose last voxel is the
        mask's ``(0, 0, 0)`` is ``(0, 0, 0)``). Rows 0 and 255 (no triangle) are left 0.
    """
    out = np.zeros((CASES, 4), dtype=np.int64)
    nz, ny, nx = mask.shape
    planes = nz + 1
    work = planes * (ny + 1) * (nx + 1)
    _cube_cases_cpu.call(work, mask, out, max(1, min(threads(work), planes)))
    return out
