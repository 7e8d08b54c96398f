"""3D median of a cubic window (3³ or 5³) by a selection network, equal to ``scipy.ndimage.median_filter``.

The median of ``n`` values (27 or 125) is found by a sorting network pruned to the one output it
needs: Batcher's odd-even merge sort for the next power of two, without the comparators that only
touch the padding (padding with +inf never moves), and without every comparator that cannot reach
the median's position (:func:`median_network`). A network is exact (it only moves the input values)
and has no data-dependent branches, so the CPU target runs each comparator over a whole row of
voxels at once, which the compiler turns into SIMD ``min``/``max`` (8 float32 or 16 int16 voxels per
instruction). The 3³ network has 133 comparators, the 5³ one 1,363.

Bytes moved and floor (256³ float32, 3³): the volume is read once and written once, 128 MiB, about
20 ms at memory speed; the window values of a row (27 x 256 x 4 = 27 KiB) stay in L1. The work is
the network: 133 comparators x 2 SIMD instructions per 8 voxels, about 35 instructions per voxel,
a floor near 0.1 s on two cores, well below the 2.6 s of SimpleITK's ``Median`` here.

A NaN in the window makes the median NaN (a separate flag, since comparisons with NaN do not
order it). The CUDA target runs one thread per voxel. For 3³ the network is unrolled over 27
variables in the input's dtype (:func:`_unrolled_median`: registers only, 48 for float32 on sm_90);
5³ (1,363 comparators, too long to unroll in Numba) keeps a local window in the input's dtype and
reads the network from global memory (about 163 registers; a 504-byte stack frame for float32, 256
for int16, was 1,000 with a float64 window).
"""

import functools

import numba
import numpy as np
from numba import cuda

from .boundary import CONSTANT, MIRROR, NEAREST, REFLECT, WRAP
from .registry import cpu_kernel, cuda_kernel, launch_3d

#: Largest window side the kernels hold (the CUDA window of sizes above 3 is a fixed local array).
MAX_SIZE = 5
_WINDOW_SHAPE = (MAX_SIZE**3, 1)


def _batcher_pairs(n):
    """Comparators ``(i, j)``, i < j, of Batcher's odd-even merge sort of ``n`` (a power of two) values."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@functools.cache
def median_network(n: int) -> np.ndarray:
    """The comparators ``(i, j)`` (int32, shape (m, 2)) that bring the median of ``n`` values (odd)
    to position ``n // 2``: after them, ``min`` is at ``i`` and ``max`` at ``j`` of each pair."""
    width = 1 << (n - 1).bit_length()
    pairs = [(i, j) for i, j in _batcher_pairs(width) if j < n]
    needed, kept = {n // 2}, []
    for i, j in reversed(pairs):
        if i in needed or j in needed:
            kept.append((i, j))
            needed |= {i, j}
    return np.array(kept[::-1], dtype=np.int32).reshape(-1, 2)


@numba.njit(inline="always")
def index(i, n, mode):
    """Index standing in for ``i`` (any distance outside ``[0, n)``) as in ``scipy.ndimage``; -1: cval."""
    if 0 <= i < n:
        return i
    if mode == CONSTANT:
        return -1
    if mode == NEAREST:
        return 0 if i < 0 else n - 1
    if mode == WRAP:
        return i % n
    if mode == REFLECT:
        i = i % (2 * n)
        return i if i < n else 2 * n - 1 - i
    if mode == MIRROR and n > 1:
        i = i % (2 * n - 2)
        return i if i < n else 2 * n - 2 - i
    return 0


@numba.njit(inline="always")
def _gather(src, z, y, x0, x1, radius, mode, cval, window):
    """Write the window values of voxels ``(z, y, x0..x1-1)`` into ``window[:, x - x0]``.

    Inner voxels of the row are copied in one contiguous loop per window offset; only the
    ``radius`` voxels at each end of the row go through :func:`index`.
    """
    nz, ny, nx = src.shape
    side = 2 * radius + 1
    inner0 = min(max(x0, radius), x1)
    inner1 = max(min(x1, nx - radius), inner0)
    row = 0
    for dz in range(-radius, radius + 1):
        zi = index(z + dz, nz, mode)
        for dy in range(-radius, radius + 1):
            yi = index(y + dy, ny, mode)
            for dx in range(-radius, radius + 1):
                k = row * side + dx + radius
                if zi < 0 or yi < 0:
                    for x in range(x0, x1):
                        window[k, x - x0] = cval
                    continue
                for x in range(inner0, inner1):
                    window[k, x - x0] = src[zi, yi, x + dx]
                for x in range(x0, inner0):
                    xi = index(x + dx, nx, mode)
                    window[k, x - x0] = src[zi, yi, xi] if xi >= 0 else cval
                for x in range(inner1, x1):
                    xi = index(x + dx, nx, mode)
                    window[k, x - x0] = src[zi, yi, xi] if xi >= 0 else cval
            row += 1


@numba.njit(inline="always")
def _select(window, lanes, pairs):
    """Run the comparators ``pairs`` over ``window[:, :lanes]``: min to ``i``, max to ``j``."""
    for p in range(pairs.shape[0]):
        i = pairs[p, 0]
        j = pairs[p, 1]
        for lane in range(lanes):
            a = window[i, lane]
            b = window[j, lane]
            window[i, lane] = a if a < b else b
            window[j, lane] = b if a < b else a


@numba.njit(inline="always")
def _has_nan(window, n, lane):
    found = False
    for k in range(n):
        v = window[k, lane]
        found = found or v != v
    return found


@cpu_kernel
def _median_cpu(src, out, radius, mode, cval, blank, pairs, threads):
    """``threads`` comes from the caller: ``numba.get_num_threads`` inside would stop the on-disk cache."""
    nz, ny, nx = src.shape
    n = (2 * radius + 1) ** 3
    rows = nz * ny
    blocks = min(rows, 16 * threads)
    for block in numba.prange(blocks):
        window = np.empty((n, nx), dtype=src.dtype)
        for row in range(block * rows // blocks, (block + 1) * rows // blocks):
            z = row // ny
            y = row - z * ny
            _gather(src, z, y, 0, nx, radius, mode, cval, window)
            _select(window, nx, pairs)
            for x in range(nx):
                out[z, y, x] = blank if _has_nan(window, n, x) else window[n // 2, x]


def _unrolled_median(side):
    """A device function ``(src, z, y, x, mode, cval, blank) -> median`` of one voxel's ``side``³ window.

    Its source is generated: one scalar variable per window value, in ``src``'s dtype, the boundary
    indices computed once per axis, and the comparators of :func:`median_network` written out with
    constant indices, so that the values stay in registers (a local array indexed at run time lives
    in the stack frame). The comparisons are those of :func:`_select`, so both targets give the
    same bits.
    """
    n, radius = side**3, side // 2
    lines = ["def median_of_window(src, z, y, x, mode, cval, blank):", "    nz, ny, nx = src.shape"]
    for pos, size in (("z", "nz"), ("y", "ny"), ("x", "nx")):
        lines += [
            f"    {pos}{d + radius} = index({pos} + {d}, {size}, mode)" for d in range(-radius, radius + 1)
        ]
    lines += [
        f"    v{k} = _at(src, z{k // side**2}, y{k // side % side}, x{k % side}, cval)" for k in range(n)
    ]
    lines += [f"    bad = v{k} != v{k}" if k == 0 else f"    bad |= v{k} != v{k}" for k in range(n)]
    lines += [
        f"    v{i}, v{j} = (v{i} if v{i} < v{j} else v{j}), (v{j} if v{i} < v{j} else v{i})"
        for i, j in median_network(n)
    ]
    lines.append(f"    return blank if bad else v{n // 2}")
    namespace = {"index": index, "_at": _at}
    exec(compile("\n".join(lines), f"<median of {side}x{side}x{side}>", "exec"), namespace)
    return numba.njit(inline="always")(namespace["median_of_window"])


@numba.njit(inline="always")
def _at(src, zi, yi, xi, cval):
    """``src[zi, yi, xi]``, or ``cval`` where an index is -1 (outside the volume, constant mode)."""
    return src[zi, yi, xi] if zi >= 0 and yi >= 0 and xi >= 0 else cval


_median_of_3 = _unrolled_median(3)
_TYPES = ("float32", "int16", "uint16", "float64")


@cuda_kernel(*(f"void({t}[:, :, ::1], {t}[:, :, ::1], int64, {t}, {t})" for t in _TYPES))
def _median3_cuda(src, out, mode, cval, blank):
    x, y, z = cuda.grid(3)
    if z < src.shape[0] and y < src.shape[1] and x < src.shape[2]:
        out[z, y, x] = _median_of_3(src, z, y, x, mode, cval, blank)


@cuda_kernel(
    *(f"void({t}[:, :, ::1], {t}[:, :, ::1], int64, int64, {t}, {t}, int32[:, ::1])" for t in _TYPES)
)
def _median_cuda(src, out, radius, mode, cval, blank, pairs):
    """Any size up to :data:`MAX_SIZE`: the window in a local array of ``src``'s dtype, the network
    read from ``pairs`` in global memory."""
    x, y, z = cuda.grid(3)
    if z < src.shape[0] and y < src.shape[1] and x < src.shape[2]:
        window = cuda.local.array(_WINDOW_SHAPE, src.dtype)
        n = (2 * radius + 1) ** 3
        _gather(src, z, y, x, x + 1, radius, mode, cval, window)
        _select(window, 1, pairs)
        out[z, y, x] = blank if _has_nan(window, n, 0) else window[n // 2, 0]


def median(src, out, *, target, size, mode, cval, blank, pairs):
    """Write the median of each voxel's ``size``³ window of the 3D array ``src`` into ``out``.

    Parameters
    ----------
    src, out : 3D C-contiguous arrays of one dtype on the target's device
    target : {"cpu", "cuda"}
    size : {3, 5}
        The window's side [voxels].
    mode : int
        A boundary mode number from :mod:`gpuimg.kernels.boundary`.
    cval, blank : scalars of ``src``'s dtype
        The value outside the volume in constant mode; the result where the window holds a NaN.
    pairs : int32 array (m, 2) on the target's device
        :func:`median_network` of ``size ** 3`` (the CUDA target of size 3 has it built in).
    """
    radius = size // 2
    if target == "cuda" and size == 3:
        launch_3d(_median3_cuda, src.shape, src, out, mode, cval, blank)
    elif target == "cuda":
        launch_3d(_median_cuda, src.shape, src, out, radius, mode, cval, blank, pairs)
    else:
        _median_cpu(src, out, radius, mode, cval, blank, pairs, numba.get_num_threads())
