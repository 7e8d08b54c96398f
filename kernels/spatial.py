"""Inverse-distance pair sums over a point cloud: the sums behind Moran's I and Geary's C.

For points ``p_i`` [mm] with mean-centred values ``d_i``, and weights ``w_ij = 1 / |p_i - p_j|``, the
kernels give the three sums over all ordered pairs ``i != j``::

    sum_w     = sum w_ij
    sum_moran = sum w_ij d_i d_j
    sum_geary = sum w_ij (d_i - d_j)^2

from which ``I = N sum_moran / (sum_w sum d_i^2)`` and ``C = (N - 1) sum_geary / (2 sum_w sum d_i^2)``
(IBSI 1, sections 3.1.24 and 3.1.25).

- CPU target: one ``prange`` iteration per pair of rows ``t`` and ``N - 1 - t``, each summing over the
  points after it (each unordered pair once; the driver doubles the sums). The two rows together hold
  ``N - 1`` pairs, so every iteration does the same work whatever the scheduler's split. The inner
  loop is compiled with reassociation, so that its sums vectorise.
- CUDA target: one thread per point ``i``, blocks of 256 consecutive points; the points ``j`` are split
  into ``n_split`` ranges (the grid's second factor, so that a few thousand points still fill the
  GPU), and read through shared memory 256 at a time (the n-body tiling: one global read per point per
  block instead of per thread). Each (range, i) thread writes its own three partial sums, with no
  atomics; the driver adds them on the device, so the result does not depend on scheduling.

Work: ``N^2`` pairs of one square root, one division and about 15 other float64 operations; memory
traffic is negligible (4 doubles per point per block). Double precision throughout: the sums of
``10^9`` terms must not lose the digits the IBSI tolerances ask for.
"""

import math

import numba
import numpy as np
from numba import cuda

from .registry import BLOCK_3D, cuda_kernel, launch_3d

#: Threads per CUDA block, also the points per shared-memory tile.
THREADS = BLOCK_3D[0] * BLOCK_3D[1] * BLOCK_3D[2]
#: Threads to aim for on the GPU (a few per core of a large GPU), by splitting the ``j`` loop.
TARGET_THREADS = 1 << 20


@numba.njit(inline="always")
def inverse_distance(pz, py, px, qz, qy, qx):
    """``1 / |p - q|`` for two points [1/mm]."""
    dz = pz - qz
    dy = py - qy
    dx = px - qx
    return 1.0 / math.sqrt(dz * dz + dy * dy + dx * dx)


#: Reassociation lets LLVM vectorise the three sums of the inner loop (AVX2: 4 pairs per instruction,
#: about 1.7x faster); square root and division stay IEEE-exact.
_FASTMATH = {"reassoc", "contract", "nsz"}


@numba.njit(parallel=True, fastmath=_FASTMATH)
def _pair_sums_cpu(pos, dev, out):
    n = dev.size
    for t in numba.prange((n + 1) // 2):
        sw = 0.0
        sm = 0.0
        sg = 0.0
        # Row t and row n - 1 - t (the same row when n is odd and t is the middle one).
        first = np.int64(t)
        last = n - 1 - first
        for r in range(1 if first == last else 2):
            i = first if r == 0 else last
            pz = pos[i, 0]
            py = pos[i, 1]
            px = pos[i, 2]
            di = dev[i]
            swd = 0.0
            for j in range(i + 1, n):
                w = inverse_distance(pz, py, px, pos[j, 0], pos[j, 1], pos[j, 2])
                dd = di - dev[j]
                sw += w
                swd += w * dev[j]
                sg += w * dd * dd
            sm += di * swd
        out[t, 0] = sw
        out[t, 1] = sm
        out[t, 2] = sg


@cuda_kernel("void(float64[:, ::1], float64[::1], int64, float64[:, :, ::1])")
def _pair_sums_cuda(pos, dev, n_split, out):
    tz = cuda.shared.array(THREADS, numba.float64)
    ty = cuda.shared.array(THREADS, numba.float64)
    tx = cuda.shared.array(THREADS, numba.float64)
    td = cuda.shared.array(THREADS, numba.float64)
    n = dev.size
    tid = cuda.threadIdx.x + cuda.blockDim.x * (cuda.threadIdx.y + cuda.blockDim.y * cuda.threadIdx.z)
    n_blocks = (n + THREADS - 1) // THREADS
    block = cuda.blockIdx.x
    split = block // n_blocks
    i = (block % n_blocks) * THREADS + tid
    valid = i < n
    pz = 0.0
    py = 0.0
    px = 0.0
    di = 0.0
    if valid:
        pz = pos[i, 0]
        py = pos[i, 1]
        px = pos[i, 2]
        di = dev[i]
    n_tiles = n_blocks
    first = split * n_tiles // n_split
    last = (split + 1) * n_tiles // n_split
    sw = 0.0
    swd = 0.0
    sg = 0.0
    for tile in range(first, last):
        j = tile * THREADS + tid
        if j < n:
            tz[tid] = pos[j, 0]
            ty[tid] = pos[j, 1]
            tx[tid] = pos[j, 2]
            td[tid] = dev[j]
        cuda.syncthreads()
        if valid:
            count = min(THREADS, n - tile * THREADS)
            for k in range(count):
                if tile * THREADS + k != i:
                    w = inverse_distance(pz, py, px, tz[k], ty[k], tx[k])
                    dd = di - td[k]
                    sw += w
                    swd += w * td[k]
                    sg += w * dd * dd
        cuda.syncthreads()
    if valid:
        out[split, i, 0] = sw
        out[split, i, 1] = di * swd
        out[split, i, 2] = sg


def pair_sums(pos, dev, *, target):
    """The inverse-distance sums over all ordered pairs ``i != j`` of ``N`` points.

    Parameters
    ----------
    pos : (N, 3) float64 C-contiguous array [mm]
        The points, on the target's device, all distinct.
    dev : (N,) float64 C-contiguous array
        The values at the points, centred on their mean.
    target : {"cpu", "cuda"}

    Returns
    -------
    (3,) float64 array on the points' device
        ``sum w_ij``, ``sum w_ij d_i d_j`` and ``sum w_ij (d_i - d_j)^2`` with ``w_ij = 1 / |p_i - p_j|``.
    """
    n = dev.size
    if target == "cuda":
        xp = _array_module(dev)
        n_blocks = -(-n // THREADS)
        n_split = int(max(1, min(n_blocks, -(-TARGET_THREADS // max(n, 1)))))
        out = xp.zeros((n_split, n, 3), dtype=np.float64)
        if n:
            # One block of BLOCK_3D's threads per (range of j, run of 256 points): launch_3d over a
            # (2, 4, 32 * blocks) shape gives exactly that many blocks along the grid's x.
            shape = (BLOCK_3D[2], BLOCK_3D[1], BLOCK_3D[0] * n_blocks * n_split)
            launch_3d(_pair_sums_cuda, shape, pos, dev, n_split, out)
        return out.sum(axis=(0, 1))
    out = np.zeros(((n + 1) // 2, 3), dtype=np.float64)
    _pair_sums_cpu(pos, dev, out)
    return 2.0 * out.sum(axis=0)


def _array_module(x):
    """CuPy for a CuPy array; NumPy otherwise (the CUDA simulator takes NumPy arrays)."""
    module = type(x).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        return cupy
    return np
