"""Grey level run length matrices (IBSI 3.7): runs of equal grey levels per direction.

A run along offset ``d`` is a maximal line of voxels ``v, v + d, v + 2d, ...`` in the ROI with one
grey level. Its first voxel is the one whose predecessor ``v - d`` is outside the ROI or of another
level; that voxel walks along ``d`` to measure the run and adds one to ``R[a, length]`` (``a`` its
compact level, 1 .. n, of :class:`gpuimg.features.texture.GreyLevels`; 0 outside the ROI). Every
voxel is read about twice per offset (its own test, and once by the walk of its run).

Matrices are per slab: one per slice (``per_slice``: the 2D and 2.5D approaches, in-plane offsets)
or one for the volume, per offset: float64 ``(slabs, offsets, n, max_run)``, ``max_run`` the
caller's bound on a run's length (the longest side of the array).

- CPU: one task per (slab, offset), each writing its own matrix.
- CUDA: one block of :data:`THREADS` threads per :data:`CHUNK` voxels of a slab and an offset. Where
  the matrix fits in shared memory (``n * max_run <= SHARED_BINS``) the block counts its runs into a
  private int32 histogram there and adds its non-zero bins to the global matrix once each;
  otherwise runs are added to the global matrix directly (one atomic per run).

Memory grows as ``slabs x offsets x n x max_run x 8`` bytes (13 offsets, 2048 levels present, runs
up to 512: 109 MB); :func:`gpuimg.features.texture.directional_features` bounds it by asking for a
few slices (or offsets) at a time, and the compaction to the levels present keeps ``n`` small.
"""

import numba
import numpy as np

from .glcm import CHUNK, SHARED_BINS, THREADS, level_at, voxel_of
from .registry import cpu_kernel, cuda, cuda_kernel, launch


@numba.njit(inline="always")
def run_from(levels, z, y, x, dz, dy, dx):
    """The length of the run along ``(dz, dy, dx)`` that starts at ``(z, y, x)``, or 0 where no run
    starts there (outside the ROI, or the predecessor has the same level)."""
    a = levels[z, y, x]
    if a == 0 or level_at(levels, z - dz, y - dy, x - dx) == a:
        return 0
    length = 1
    while level_at(levels, z + length * dz, y + length * dy, x + length * dx) == a:
        length += 1
    return length


@cpu_kernel
def _glrlm_cpu(levels, offsets, per_slice, out):
    nz, ny, nx = levels.shape
    slabs, n_offsets = out.shape[0], out.shape[1]
    for task in numba.prange(slabs * n_offsets):
        slab = task // n_offsets
        o = task - slab * n_offsets
        dz, dy, dx = offsets[o, 0], offsets[o, 1], offsets[o, 2]
        counts = out[slab, o]
        for z in range(slab, slab + 1) if per_slice else range(nz):
            for y in range(ny):
                for x in range(nx):
                    length = run_from(levels, z, y, x, dz, dy, dx)
                    if length > 0:
                        counts[levels[z, y, x] - 1, length - 1] += 1.0


@cuda_kernel("void(int32[:, :, ::1], int64[:, ::1], boolean, float64[:, :, :, ::1])")
def _glrlm_cuda(levels, offsets, per_slice, out):
    shared = cuda.shared.array(SHARED_BINS, numba.int32)
    n, max_run = out.shape[2], out.shape[3]
    private = n * max_run <= SHARED_BINS
    tid = cuda.threadIdx.x
    tile, o, slab = cuda.blockIdx.x, cuda.blockIdx.y, cuda.blockIdx.z
    nz, ny, nx = levels.shape
    size = ny * nx if per_slice else nz * ny * nx
    if private:
        for k in range(tid, n * max_run, THREADS):
            shared[k] = 0
        cuda.syncthreads()
    dz, dy, dx = offsets[o, 0], offsets[o, 1], offsets[o, 2]
    for k in range(tid, CHUNK, THREADS):
        i = tile * CHUNK + k
        if i < size:
            z, y, x = voxel_of(slab, i, per_slice, ny, nx)
            length = run_from(levels, z, y, x, dz, dy, dx)
            if length > 0:
                a = levels[z, y, x]
                if private:
                    cuda.atomic.add(shared, (a - 1) * max_run + length - 1, 1)
                else:
                    cuda.atomic.add(out, (slab, o, a - 1, length - 1), 1.0)
    if private:
        cuda.syncthreads()
        for k in range(tid, n * max_run, THREADS):
            count = shared[k]
            if count != 0:
                row = k // max_run
                cuda.atomic.add(out, (slab, o, row, k - row * max_run), numba.float64(count))


def glrlm_counts(levels, offsets, n_levels: int, max_run: int, per_slice: bool, *, xp, target):
    """Run length counts of a 3D int32 C-contiguous array of compact levels.

    Parameters
    ----------
    levels : 3D C-contiguous int32 array on the target's device
        1 .. ``n_levels`` in the ROI, 0 outside.
    offsets : int64 array (k, 3) on the target's device
        Run directions (z, y, x) [voxels]; in-plane ones (dz = 0) when ``per_slice``.
    n_levels : int
    max_run : int
        At least the longest run possible (the longest side of ``levels`` will do).
    per_slice : bool
        One matrix per slice (z) instead of one for the volume.
    xp : module
        NumPy or CuPy, for the result.
    target : {"cpu", "cuda"}

    Returns
    -------
    float64 array (slices or 1, k, n_levels, max_run)
        ``[s, o, a - 1, j - 1]``: the number of runs of level ``a`` and length ``j`` along offset ``o``.
    """
    nz, ny, nx = levels.shape
    slabs = nz if per_slice else 1
    out = xp.zeros((slabs, offsets.shape[0], n_levels, max_run), dtype=np.float64)
    if levels.size == 0 or offsets.shape[0] == 0 or n_levels == 0:
        return out
    if target == "cuda":
        size = ny * nx if per_slice else nz * ny * nx
        grid = (-(-size // CHUNK), offsets.shape[0], slabs)
        launch(_glrlm_cuda, grid, THREADS, levels, offsets, per_slice, out)
    else:
        _glrlm_cpu.call(levels.size * offsets.shape[0], levels, offsets, per_slice, out)
    return out
