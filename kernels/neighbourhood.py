"""Neighbourhood matrices (NGTDM, NGLDM): each ROI voxel against its neighbours within a Chebyshev distance.

A voxel's neighbourhood (IBSI 3.10, 3.11) is every voxel at Chebyshev distance ``1 ... distance``
from it: ``(2 distance + 1)^3 - 1`` voxels in 3D, ``(2 distance + 1)^2 - 1`` in its slice in 2D.
Neighbours outside the ROI (grey level 0, or outside the array) are left out.

- NGTDM: for each grey level ``i``, ``n_i``, the number of voxels of level ``i`` with at least one
  neighbour in the ROI, and ``s_i``, the sum over them of ``|X_i - mean of the neighbours' X|``
  (grey levels ``X`` as IBSI numbers them, from ``values``). A float64 array (..., levels, 2).
- NGTDM complexity (:func:`ngtdm_complexity`): IBSI's sum over pairs of grey levels, which does not
  separate into sums over single levels: ``levels^2 / 2`` terms per matrix, one row per task.
- NGLDM: for each grey level ``i`` and dependence ``k`` (the number of neighbours in the ROI whose
  grey level differs from the voxel's by at most ``coarseness``), the number of voxels; column
  ``k`` (0 ... neighbourhood size). An int64 array (..., levels, neighbourhood size + 1).

CPU: a voxel's sums are written to its slice's matrix (2D) or its slab's (3D: slabs of slices,
summed at the end: :data:`NGTDM_SLABS` of them for the NGTDM's float sums, whatever the number of
threads, so that its bits are the same on every machine; one per thread for the NGLDM's counts).
CUDA: one thread per voxel, atomics on the global matrix; in 3D the block first counts into a copy
in shared memory when the matrix fits (:data:`SHARED_WORDS`).

Memory: ``levels x columns`` per slice (2D) or per slab (3D CPU): 16 bytes per level for the
NGTDM, ``8 (neighbourhood + 1)`` for the NGLDM (80 bytes with 2D distance 1, 224 in 3D), so 2048
levels take at most 0.5 MB per slice or slab; the work is ``neighbourhood`` reads per ROI voxel.
"""

import math

import numba
import numpy as np

from .registry import cpu_kernel, cuda, cuda_kernel, launch_3d, threads

#: Most 8-byte words of a block's private matrix in CUDA shared memory (16 KiB).
SHARED_WORDS = 2048
#: Slabs of slices the CPU's 3D NGTDM sums apart, whatever the number of threads: its ``s_i`` are
#: float sums, added in an order set by the slabs only, so every machine gives the same bits (slabs
#: per thread gave 4 of the 5 features other last bits on 1 thread than on 2). 16 bytes per level each.
NGTDM_SLABS = 64


@numba.njit(inline="always")
def _neighbours(levels, values, z, y, x, distance, per_slice, coarseness):
    """Neighbours of voxel (z, y, x) in the ROI: their number, the sum of their grey levels, and
    how many differ from the voxel's grey level by at most ``coarseness``."""
    nz, ny, nx = levels.shape
    centre = values[levels[z, y, x] - 1]
    dz = 0 if per_slice else distance
    # the loop counts the voxel itself too (no branch per neighbour), so the sums start without it
    count = -1
    dependent = -1
    total = -centre
    for zz in range(max(z - dz, 0), min(z + dz + 1, nz)):
        for yy in range(max(y - distance, 0), min(y + distance + 1, ny)):
            for xx in range(max(x - distance, 0), min(x + distance + 1, nx)):
                k = levels[zz, yy, xx]
                inside = k > 0
                v = values[max(k - 1, 0)] * inside
                count += inside
                total += v
                dependent += inside and abs(v - centre) <= coarseness
    return count, total, dependent, centre


@cpu_kernel
def _ngtdm_cpu(levels, values, distance, per_slice, out):
    nz, ny, nx = levels.shape
    n_parts = out.shape[0]
    for part in numba.prange(n_parts):
        for z in range(part * nz // n_parts, (part + 1) * nz // n_parts):
            for y in range(ny):
                for x in range(nx):
                    k = levels[z, y, x]
                    if k > 0:
                        count, total, _, centre = _neighbours(
                            levels, values, z, y, x, distance, per_slice, 0.0
                        )
                        if count > 0:
                            out[part, k - 1, 0] += 1.0
                            out[part, k - 1, 1] += abs(centre - total / count)


@cpu_kernel
def _ngldm_cpu(levels, values, distance, per_slice, coarseness, out):
    nz, ny, nx = levels.shape
    n_parts = out.shape[0]
    for part in numba.prange(n_parts):
        for z in range(part * nz // n_parts, (part + 1) * nz // n_parts):
            for y in range(ny):
                for x in range(nx):
                    k = levels[z, y, x]
                    if k > 0:
                        _, _, dependent, _ = _neighbours(
                            levels, values, z, y, x, distance, per_slice, coarseness
                        )
                        out[part, k - 1, dependent] += 1


@cuda_kernel("void(int32[:, :, ::1], float64[::1], int64, boolean, float64[:, :, ::1])")
def _ngtdm_cuda(levels, values, distance, per_slice, out):
    shared = cuda.shared.array(SHARED_WORDS, numba.float64)
    n_words = out.shape[1] * 2
    private = not per_slice and n_words <= SHARED_WORDS
    tid = cuda.threadIdx.x + cuda.blockDim.x * (cuda.threadIdx.y + cuda.blockDim.y * cuda.threadIdx.z)
    threads = cuda.blockDim.x * cuda.blockDim.y * cuda.blockDim.z
    if private:
        for w in range(tid, n_words, threads):
            shared[w] = 0.0
        cuda.syncthreads()
    x, y, z = cuda.grid(3)
    nz, ny, nx = levels.shape
    if z < nz and y < ny and x < nx and levels[z, y, x] > 0:
        k = levels[z, y, x] - 1
        count, total, _, centre = _neighbours(levels, values, z, y, x, distance, per_slice, 0.0)
        if count > 0:
            difference = abs(centre - total / count)
            if private:
                cuda.atomic.add(shared, 2 * k, 1.0)
                cuda.atomic.add(shared, 2 * k + 1, difference)
            else:
                part = z if per_slice else 0
                cuda.atomic.add(out, (part, k, 0), 1.0)
                cuda.atomic.add(out, (part, k, 1), difference)
    if private:
        cuda.syncthreads()
        for w in range(tid, n_words, threads):
            if shared[w] != 0.0:
                cuda.atomic.add(out, (0, w // 2, w % 2), shared[w])


@cuda_kernel("void(int32[:, :, ::1], float64[::1], int64, boolean, float64, int64[:, :, ::1])")
def _ngldm_cuda(levels, values, distance, per_slice, coarseness, out):
    shared = cuda.shared.array(SHARED_WORDS, numba.int64)
    n_columns = out.shape[2]
    n_words = out.shape[1] * n_columns
    private = not per_slice and n_words <= SHARED_WORDS
    tid = cuda.threadIdx.x + cuda.blockDim.x * (cuda.threadIdx.y + cuda.blockDim.y * cuda.threadIdx.z)
    threads = cuda.blockDim.x * cuda.blockDim.y * cuda.blockDim.z
    if private:
        for w in range(tid, n_words, threads):
            shared[w] = 0
        cuda.syncthreads()
    x, y, z = cuda.grid(3)
    nz, ny, nx = levels.shape
    if z < nz and y < ny and x < nx and levels[z, y, x] > 0:
        k = levels[z, y, x] - 1
        _, _, dependent, _ = _neighbours(levels, values, z, y, x, distance, per_slice, coarseness)
        if private:
            cuda.atomic.add(shared, k * n_columns + dependent, 1)
        else:
            cuda.atomic.add(out, (z if per_slice else 0, k, dependent), 1)
    if private:
        cuda.syncthreads()
        for w in range(tid, n_words, threads):
            if shared[w] != 0:
                cuda.atomic.add(out, (0, w // n_columns, w % n_columns), shared[w])


def neighbourhood_size(distance: int, per_slice: bool, shape=None) -> int:
    """The number of neighbours of a voxel at Chebyshev distance ``1 ... distance`` [voxels]; with
    ``shape`` (z, y, x), at most those an array of that shape holds (a distance past the array's
    sides reaches no more voxels)."""
    side = 2 * distance + 1
    sides = [side] * (2 if per_slice else 3)
    if shape is not None:
        sides = [min(side, n) for n in (shape[1:] if per_slice else shape)]
    return max(math.prod(sides) - 1, 0)


def _matrices(cpu, gpu, levels, values, n_columns, dtype, *, per_slice, target, xp, extra, slabs=None):
    """Run a neighbourhood family's kernel: an array (slices or 1, levels, ``n_columns``); on the CPU
    in 3D from ``slabs`` slabs of slices summed (one per thread where None: exact integer counts)."""
    nz = levels.shape[0]
    n_levels = values.size
    if target == "cuda":
        out = xp.zeros((nz if per_slice else 1, n_levels, n_columns), dtype=dtype)
        if levels.size:
            launch_3d(gpu, levels.shape, levels, values, *extra, out)
        return out
    work = levels.size * n_columns
    n_parts = nz if per_slice else max(1, min(slabs or threads(work), nz))
    out = np.zeros((n_parts, n_levels, n_columns), dtype=dtype)
    if levels.size:
        cpu.call(work, levels, values, *extra, out)
    return out if per_slice else out.sum(axis=0, keepdims=True)


def ngtdm(levels, values, *, distance, per_slice, target, xp):
    """The NGTDM of a grey-level volume (IBSI 3.10), per slice or of the whole volume.

    Parameters
    ----------
    levels : 3D C-contiguous int32 array on the target's device
        Grey level index per voxel (1 ... ``values.size``), 0 outside the ROI.
    values : 1D float64 array on the target's device
        The grey level (as IBSI numbers it) of each index: ``levels == k`` has ``values[k - 1]``.
    distance : int [voxels]
        Chebyshev distance of the neighbourhood.
    per_slice : bool
        In-plane neighbours and one matrix per slice (2D), else one matrix of the volume (3D).
    target : {"cpu", "cuda"}
    xp : module

    Returns
    -------
    float64 array (slices or 1, levels, 2)
        ``[..., i, 0]``: ``n_i``; ``[..., i, 1]``: ``s_i``.
    """
    return _matrices(
        _ngtdm_cpu,
        _ngtdm_cuda,
        levels,
        values,
        2,
        np.float64,
        per_slice=per_slice,
        target=target,
        xp=xp,
        extra=(np.int64(distance), per_slice),
        slabs=NGTDM_SLABS,
    )


def ngldm(levels, values, *, distance, coarseness, per_slice, target, xp):
    """The NGLDM of a grey-level volume (IBSI 3.11), per slice or of the whole volume.

    Parameters are those of :func:`ngtdm`, and ``coarseness`` [grey levels], the largest difference
    of grey levels for a neighbour to count as dependent.

    Returns
    -------
    int64 array (slices or 1, levels, ``neighbourhood_size(distance, per_slice, levels.shape) + 1``)
        ``[..., i, k]``: the number of voxels of level index ``i`` with ``k`` dependent neighbours
        (no more than the neighbours the array holds: a large distance does not widen it).
    """
    return _matrices(
        _ngldm_cpu,
        _ngldm_cuda,
        levels,
        values,
        neighbourhood_size(distance, per_slice, levels.shape) + 1,
        np.int64,
        per_slice=per_slice,
        target=target,
        xp=xp,
        extra=(np.int64(distance), per_slice, np.float64(coarseness)),
    )


@numba.njit(inline="always")
def _complexity_row(p, ps, values, b, i):
    """``sum over j > i`` of complexity's term for levels ``i`` and ``j`` present in matrix ``b``."""
    total = 0.0
    if p[b, i] > 0:
        for j in range(i + 1, p.shape[1]):
            if p[b, j] > 0:
                total += abs(values[i] - values[j]) * (ps[b, i] + ps[b, j]) / (p[b, i] + p[b, j])
    return total


@cpu_kernel
def _complexity_cpu(p, ps, values, rows):
    n = p.shape[1]
    for row in numba.prange(p.shape[0] * n):
        b = row // n
        rows[b, row - b * n] = _complexity_row(p, ps, values, b, row - b * n)


@cuda_kernel("void(float64[:, ::1], float64[:, ::1], float64[::1], float64[:, ::1])")
def _complexity_cuda(p, ps, values, rows):
    i, b, _ = cuda.grid(3)
    if b < p.shape[0] and i < p.shape[1]:
        rows[b, i] = _complexity_row(p, ps, values, b, i)


def ngtdm_complexity(p, ps, values, *, target, xp):
    """The sum of IBSI's NGTDM complexity (IBSI 3.10) over pairs of grey levels, per matrix.

    Parameters
    ----------
    p, ps : 2D C-contiguous float64 arrays (matrices, levels) on the target's device
        ``p_i`` and ``p_i s_i`` of each matrix.
    values : 1D float64 array (levels,) on the target's device
        The grey level ``i`` of each column.
    target : {"cpu", "cuda"}
    xp : module

    Returns
    -------
    float64 array (matrices,)
        ``sum over i, j with p_i, p_j > 0 of |i - j| (p_i s_i + p_j s_j) / (p_i + p_j)``, before the
        division by ``N_v,c``. Work: ``levels^2 / 2`` terms per matrix; memory: one float64 per
        level and matrix.
    """
    rows = xp.zeros(p.shape, dtype=np.float64)
    if p.size:
        if target == "cuda":
            launch_3d(_complexity_cuda, (1, p.shape[0], p.shape[1]), p, ps, values, rows)
        else:
            _complexity_cpu.call(p.size * p.shape[1] // 2, p, ps, values, rows)
    return 2.0 * rows.sum(axis=1)
