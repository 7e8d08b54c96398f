"""Grey level co-occurrence matrices (IBSI 3.6): counts of neighbouring grey levels per direction.

For each offset ``(dz, dy, dx)`` and each voxel ``v`` of the ROI whose neighbour ``v + offset`` is in
the ROI too, the pair of their compact grey levels ``(a, b)`` adds one to ``P[a, b]`` and one to
``P[b, a]``: IBSI's symmetric matrix (the direction and its opposite together), counted in place.
Levels are the compact indices of :class:`gpuimg.features.texture.GreyLevels` (1 .. n, 0 outside the
ROI), so a matrix is ``n x n`` with ``n`` the number of grey levels *present* in the ROI, not the
number of the discretisation.

Matrices are per slab: one per slice (``per_slice``: the 2D and 2.5D approaches; the offsets are then
in-plane) or one for the volume, per offset: a float64 array ``(slabs, offsets, n, n)``.

- CPU: one task per (slab, offset), each writing its own matrix (no races, no private copies),
  looping over the voxels whose neighbour lies in the array (no bounds test per voxel).
- CUDA: one block of :data:`THREADS` threads per :data:`CHUNK` voxels of a slab and an offset. Where
  the matrix fits in shared memory (``n * n <= SHARED_BINS``, so up to 64 levels present) the block
  counts into a private int32 histogram there (shared-memory atomics) and adds its non-zero bins to
  the global matrix once each; beyond that it adds to the global matrix directly (global atomics).

Voxel-based maps (:func:`glcm_windows`): for each given voxel and offset, the list of pairs inside
the cube of ``radius`` voxels around it (at most one per voxel of the cube: 27 for radius 1, where a
dense matrix would hold ``n^2``); each voxel is one task (CPU) or one thread (CUDA) that owns its
lists, so no atomics: ``(2 radius + 1)^3 x offsets`` pair tests per voxel.

Memory grows as ``slabs x offsets x n^2 x 8`` bytes (no transposed copy is added to it): 13
offsets of 2048 levels present take 436 MB, and a slice-by-slice run holds that per slice.
:func:`gpuimg.features.texture.directional_features` bounds it by asking for a few slices (or
offsets) at a time (``batch_bytes``: ``MATRIX_BUDGET`` bytes, or less under a smaller memory
budget), and the compaction to the levels present keeps ``n`` to what the ROI holds (fixed bin size
25 HU on CT: a few dozen). Work: one read of the voxel and of its neighbour per voxel and offset.
"""

import math

import numba
import numpy as np

from .registry import cpu_kernel, cuda, cuda_kernel, launch

#: Most matrix bins counted in shared memory per CUDA block (int32, 16 KiB): 64 levels present.
SHARED_BINS = 4096
#: Threads per CUDA block, and voxels per block.
THREADS = 256
CHUNK = 4096


@numba.njit(inline="always")
def level_at(levels, z, y, x):
    """The compact level at ``(z, y, x)``, 0 outside the array (outside the ROI)."""
    nz, ny, nx = levels.shape
    if z < 0 or y < 0 or x < 0 or z >= nz or y >= ny or x >= nx:
        return 0
    return levels[z, y, x]


@numba.njit(inline="always")
def voxel_of(slab, i, per_slice, ny, nx):
    """The voxel ``(z, y, x)`` of index ``i`` within slab ``slab`` (a slice, or the whole volume)."""
    flat = slab * ny * nx + i if per_slice else i
    z = flat // (ny * nx)
    rest = flat - z * ny * nx
    y = rest // nx
    return z, y, rest - y * nx


@numba.njit(inline="always")
def count_pairs(levels, z0, z1, dz, dy, dx, counts):
    """Add one to ``counts[a - 1, b - 1]`` and one to ``counts[b - 1, a - 1]`` for each voxel of slices
    ``z0 .. z1 - 1`` in the ROI (level ``a``) whose neighbour at ``(dz, dy, dx)`` is in the ROI too
    (level ``b``): both orders."""
    nz, ny, nx = levels.shape
    for z in range(max(z0, -dz), min(z1, nz - dz)):
        for y in range(max(0, -dy), min(ny, ny - dy)):
            for x in range(max(0, -dx), min(nx, nx - dx)):
                a = levels[z, y, x]
                if a > 0:
                    b = levels[z + dz, y + dy, x + dx]
                    if b > 0:
                        counts[a - 1, b - 1] += 1.0
                        counts[b - 1, a - 1] += 1.0


@cpu_kernel
def _glcm_cpu(levels, offsets, per_slice, out):
    nz = levels.shape[0]
    slabs, n_offsets = out.shape[0], out.shape[1]
    for task in numba.prange(slabs * n_offsets):
        slab = task // n_offsets
        o = task - slab * n_offsets
        z0, z1 = (slab, slab + 1) if per_slice else (0, nz)
        count_pairs(levels, z0, z1, offsets[o, 0], offsets[o, 1], offsets[o, 2], out[slab, o])


@cuda_kernel("void(int32[:, :, ::1], int64[:, ::1], boolean, float64[:, :, :, ::1])")
def _glcm_cuda(levels, offsets, per_slice, out):
    shared = cuda.shared.array(SHARED_BINS, numba.int32)
    n = out.shape[2]
    private = n * n <= SHARED_BINS
    tid = cuda.threadIdx.x
    tile, o, slab = cuda.blockIdx.x, cuda.blockIdx.y, cuda.blockIdx.z
    nz, ny, nx = levels.shape
    size = ny * nx if per_slice else nz * ny * nx
    if private:
        for k in range(tid, n * n, THREADS):
            shared[k] = 0
        cuda.syncthreads()
    dz, dy, dx = offsets[o, 0], offsets[o, 1], offsets[o, 2]
    for k in range(tid, CHUNK, THREADS):
        i = tile * CHUNK + k
        if i < size:
            z, y, x = voxel_of(slab, i, per_slice, ny, nx)
            a = levels[z, y, x]
            if a > 0:
                b = level_at(levels, z + dz, y + dy, x + dx)
                if b > 0:
                    if private:
                        cuda.atomic.add(shared, (a - 1) * n + b - 1, 1)
                        cuda.atomic.add(shared, (b - 1) * n + a - 1, 1)
                    else:
                        cuda.atomic.add(out, (slab, o, a - 1, b - 1), 1.0)
                        cuda.atomic.add(out, (slab, o, b - 1, a - 1), 1.0)
    if private:
        cuda.syncthreads()
        for k in range(tid, n * n, THREADS):
            count = shared[k]
            if count != 0:
                cuda.atomic.add(out, (slab, o, k // n, k - (k // n) * n), numba.float64(count))


def glcm_counts(levels, offsets, n_levels: int, per_slice: bool, *, xp, target):
    """Co-occurrence counts of a 3D int32 C-contiguous array of compact levels.

    Parameters
    ----------
    levels : 3D C-contiguous int32 array on the target's device
        1 .. ``n_levels`` in the ROI, 0 outside.
    offsets : int64 array (k, 3) on the target's device
        Neighbour offsets (z, y, x) [voxels]; in-plane ones (dz = 0) when ``per_slice``.
    n_levels : int
        The number of compact levels (the matrices' side).
    per_slice : bool
        One matrix per slice (z) instead of one for the volume.
    xp : module
        NumPy or CuPy, for the result.
    target : {"cpu", "cuda"}

    Returns
    -------
    float64 array (slices or 1, k, n_levels, n_levels)
        Symmetric counts: ``[s, o, a - 1, b - 1]`` is how often levels ``a`` and ``b`` are neighbours
        along offset ``o`` (both orders).
    """
    nz, ny, nx = levels.shape
    slabs = nz if per_slice else 1
    out = xp.zeros((slabs, offsets.shape[0], n_levels, n_levels), dtype=np.float64)
    if levels.size == 0 or offsets.shape[0] == 0 or n_levels == 0:
        return out
    if target == "cuda":
        size = ny * nx if per_slice else nz * ny * nx
        grid = (-(-size // CHUNK), offsets.shape[0], slabs)
        launch(_glcm_cuda, grid, THREADS, levels, offsets, per_slice, out)
    else:
        _glcm_cpu.call(levels.size * offsets.shape[0], levels, offsets, per_slice, out)
    return out


@numba.njit(inline="always")
def window_pairs(levels, cz, cy, cx, offsets, radius, firsts, seconds, k):
    """List the pairs of the cube of ``radius`` around ``(cz, cy, cx)`` in ``firsts[k, o]`` and
    ``seconds[k, o]`` (their levels, one order, then zeros), per offset ``o``. Both voxels of a pair
    lie in the cube and the ROI."""
    nz, ny, nx = levels.shape
    z0, z1 = max(cz - radius, 0), min(cz + radius, nz - 1)
    y0, y1 = max(cy - radius, 0), min(cy + radius, ny - 1)
    x0, x1 = max(cx - radius, 0), min(cx + radius, nx - 1)
    for o in range(offsets.shape[0]):
        dz, dy, dx = offsets[o, 0], offsets[o, 1], offsets[o, 2]
        slot = 0
        for z in range(max(z0, z0 - dz), min(z1, z1 - dz) + 1):
            for y in range(max(y0, y0 - dy), min(y1, y1 - dy) + 1):
                for x in range(max(x0, x0 - dx), min(x1, x1 - dx) + 1):
                    a = levels[z, y, x]
                    b = levels[z + dz, y + dy, x + dx]
                    if a > 0 and b > 0:
                        firsts[k, o, slot] = a
                        seconds[k, o, slot] = b
                        slot += 1


@cpu_kernel
def _windows_cpu(levels, centres, offsets, radius, firsts, seconds):
    for k in numba.prange(centres.shape[0]):
        window_pairs(levels, centres[k, 0], centres[k, 1], centres[k, 2], offsets, radius, firsts, seconds, k)


@cuda_kernel(
    "void(int32[:, :, ::1], int64[:, ::1], int64[:, ::1], int64, int32[:, :, ::1], int32[:, :, ::1])"
)
def _windows_cuda(levels, centres, offsets, radius, firsts, seconds):
    k = cuda.grid(1)
    if k < centres.shape[0]:
        window_pairs(levels, centres[k, 0], centres[k, 1], centres[k, 2], offsets, radius, firsts, seconds, k)


def window_size(radius: int, shape) -> int:
    """The most voxels of a cube of ``radius`` voxels around a voxel of an array of ``shape``: the
    cube's ``(2 radius + 1)^3``, less what lies past the array's sides."""
    return math.prod(min(2 * radius + 1, n) for n in shape)


def glcm_windows(levels, centres, offsets, radius: int, *, xp, target):
    """The co-occurring pairs of the cube of ``radius`` voxels around each of ``centres``, as lists.

    Parameters
    ----------
    levels : 3D C-contiguous int32 array on the target's device
        Compact levels 1 .. n in the ROI, 0 outside.
    centres : int64 array (k, 3) on the target's device
        The voxels (z, y, x) whose neighbourhoods are listed.
    offsets : int64 array (m, 3) on the target's device
        Neighbour offsets (z, y, x) [voxels].
    radius : int
        The cube's half side [voxels] (Chebyshev radius).
    xp : module
        NumPy or CuPy, for the result.
    target : {"cpu", "cuda"}

    Returns
    -------
    firsts, seconds : int32 arrays (k, m, ``window_size(radius, levels.shape)``)
        ``firsts[c, o, s], seconds[c, o, s]``: the levels of the ``s``-th pair of centre ``c``'s cube
        along offset ``o`` (one order: IBSI's symmetric matrix counts it both ways), 0 after the
        last pair. A cube holds at most one pair per voxel and offset, so the lists fit.
    """
    shape = (centres.shape[0], offsets.shape[0], window_size(radius, levels.shape))
    firsts, seconds = xp.zeros(shape, dtype=np.int32), xp.zeros(shape, dtype=np.int32)
    if centres.shape[0] == 0:
        return firsts, seconds
    if target == "cuda":
        blocks = -(-centres.shape[0] // THREADS)
        launch(_windows_cuda, blocks, THREADS, levels, centres, offsets, radius, firsts, seconds)
    else:
        work = centres.shape[0] * offsets.shape[0] * shape[2]
        _windows_cpu.call(work, levels, centres, offsets, radius, firsts, seconds)
    return firsts, seconds
