"""3D median of a cubic window (3³ or 5³), equal to ``scipy.ndimage.median_filter``: selection networks,
and on CUDA for 5³ a count over a shared tile of keys.

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
variables in the input's dtype (:func:`_unrolled_median`: registers only, 48 for float32 on sm_90).

CUDA 5³: selection by counting
------------------------------
A block of :data:`BLOCK_5` = (32, 4, 2) threads first copies its voxels and their halo (a tile of
36 x 8 x 6 = 1,728 values, boundary modes applied on the way) into shared memory as **keys**: the
value's bits as an unsigned integer of the same width, transformed so that integer order is the
values' order (:func:`_key`; the kernel takes ``src`` and ``out`` as bit views, no copy). Each
thread then builds the key of rank 62 of its 125 keys bit by bit from the top: one pass over the
window per bit, counting the keys below the candidate (:func:`_window_rank`), at most 16 passes for
int16 and uint16, 32 for float32, 64 for float64. A first pass takes the bitwise and and or of the
window's keys (:func:`_window_span`): the bits above the highest one where they differ are common to
all and need no count, so a window of one value (air, a mask's background) takes no count and a
window of int16 values within one aligned range of 128 (0 to 127 HU, say) 7. Registers and a
counter only, no array per thread; a warp reads 32 consecutive keys at each window offset (no bank
conflicts). Exact: the result is the window's own key of that rank, turned back into the same bits.
Floats: NaN of either sign becomes the largest key and flags the window in the first pass; -0.0
orders before +0.0 (SciPy sees them equal, so a median of zero may come back with the other sign,
equal by value).

Why this design, from the sm_90 builds (ptxas by nvJitLink; SASS counted with nvdisasm):

============================  ==========  ============  ============  ===========================
5³ CUDA kernel                registers   stack frame   shared/block  SASS instructions per voxel
============================  ==========  ============  ============  ===========================
before: local window,         162-164     256 (16-bit)  0             ~57,000 (1,363 comparators
network read from global                  504 (f32)                   x ~42, 4 local and 2 global
                                          1,000 (f64)                 accesses each)
(a) window per thread in      92-102      0             37 KiB for    ~42,000 (~31 per
shared, network in shared                               32-128        comparator, prototype)
                                                        threads
(b) counting over a shared    50          0             4.4 / 7.8 /   at most ~9,800 (16-bit),
halo tile of keys (chosen)                              14.5 KiB      ~18,800 (f32), ~45,500 (f64);
                                                                      ~600 + ~580 (f64 ~700) a bit
============================  ==========  ============  ============  ===========================

(Shared sizes include the 1 KiB the runtime reserves per block.) At 163 registers one block of 256
threads fits an SM (12.5% occupancy), at 50 four do (50%); (a)'s 37 KiB per 32-128 threads caps
an SM at 192-768 threads. Unrolling the 1,363 comparators into registers does not compile in
reasonable time in Numba (the 27-value network alone takes about 50 s per signature), and 125
float64 values would not fit in registers.

Bytes moved per voxel and floor (5³, CUDA): the floor is one read and one write of the voxel
(4, 8, 16 bytes for 16-bit, float32, float64). The tile reads 1,728 values per 256 voxels, 6.75 per
voxel (13.5 / 27 / 54 bytes, the overlap between blocks from L2); before, each thread read its
125 values from global memory (through L1), the network's 2 x 1,363 int32 indices (10.9 KB), and
moved 4 x 1,363 window values through local memory (11 / 22 / 44 KB). Shared-memory reads are
125 keys per pass, at most 4.3, 16.5 and 65 KB per voxel. Not yet timed on a GPU
(``benchmarks/bench_median.py`` does it).
"""

import functools

import numba
import numpy as np

from .boundary import CONSTANT, MIRROR, NEAREST, REFLECT, WRAP
from .registry import cpu_kernel, cuda, cuda_kernel, launch, launch_3d

#: Largest window side the kernels hold (the CUDA 5³ kernel's halo tile is sized for it).
MAX_SIZE = 5


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


#: Threads per block of the 5³ kernel along x, y, z: a warp along each row, so that its shared-memory
#: reads at one window offset hit 32 consecutive keys (no bank conflicts).
BLOCK_5 = (32, 4, 2)
_RADIUS_5 = 2
_SIDE_5 = 2 * _RADIUS_5 + 1
#: The block's halo tile of keys, axes z, y, x.
_TILE = tuple(side + 2 * _RADIUS_5 for side in BLOCK_5[::-1])
_TILE_SIZE = _TILE[0] * _TILE[1] * _TILE[2]
_THREADS_5 = BLOCK_5[0] * BLOCK_5[1] * BLOCK_5[2]
#: Rank (from 0) of the median of the 125 window values.
_RANK_5 = _SIDE_5**3 // 2
#: The unsigned type holding the bits of each dtype the 5³ kernel takes.
_BITS = {np.dtype(t): np.dtype(f"uint{8 * np.dtype(t).itemsize}") for t in _TYPES}


@numba.njit(inline="always")
def _key(bits, top, positive, negative, inf):
    """The order-preserving key of a value's ``bits``: integer order of keys = the values' order.

    ``bits ^ negative`` where the sign bit ``top`` is set, ``bits ^ positive`` elsewhere (IEEE floats:
    all bits of a negative value flipped, the sign of a positive one; signed integers: the sign
    flipped; unsigned: as they are). A NaN (``bits`` without sign above ``inf``, the bits of +inf;
    never for integers, whose ``inf`` is ``top - 1``) gets the largest key, all ones (``negative``).
    """
    if (bits & ~top) > inf:
        return negative
    return bits ^ (negative if bits & top else positive)


@numba.njit(inline="always")
def _window_span(tile, corner, nan):
    """The bitwise and and or of the keys of the 5³ window whose corner is ``tile[corner]``, and
    whether the key ``nan`` is one of them."""
    low = high = tile[np.uint64(corner)]
    found = False
    for dz in range(_SIDE_5):
        for dy in range(_SIDE_5):
            for dx in range(_SIDE_5):
                key = tile[np.uint64(corner + (dz * _TILE[1] + dy) * _TILE[2] + dx)]
                low &= key
                high |= key
                found |= key == nan
    return low, high, found


@numba.njit(inline="always")
def _window_rank(tile, corner, top, low, high):
    """The key of rank :data:`_RANK_5` in the 5³ window whose corner is ``tile[corner]``, whose
    keys' bitwise and is ``low`` and or is ``high``.

    Built bit by bit from the top: the rank's key is below ``t = result | bit`` exactly when more
    than ``_RANK_5`` keys of the window are below ``t``, so one count per bit decides that bit.
    Bits above the highest one where the keys differ (``low ^ high``) are the same in every key and
    need no count: a window of one value needs none, one of values within 2**k of each other about
    k. The count is kept in 32 bits and each key compared in its own width (Numba would widen both
    to 64 bits), and the tile is indexed unsigned (no test for a negative index).
    """
    differ = low ^ high
    result = top ^ top
    bit = top
    while bit != 0:
        t = tile.dtype.type(result | bit)
        if bit > differ:
            if low & bit:
                result = t
        else:
            below = np.int32(0)
            for dz in range(_SIDE_5):
                for dy in range(_SIDE_5):
                    for dx in range(_SIDE_5):
                        at = np.uint64(corner + (dz * _TILE[1] + dy) * _TILE[2] + dx)
                        below = np.int32(below + (1 if tile[at] < t else 0))
            if below <= _RANK_5:
                result = t
        bit >>= 1
    return result


@cuda_kernel(
    *(
        f"void({t}[:, :, ::1], {t}[:, :, ::1], int64, {t}, {t}, {t}, {t}, {t}, {t})"
        for t in ("uint16", "uint32", "uint64")
    )
)
def _median5_cuda(src, out, mode, cval, blank, top, positive, negative, inf):
    """The 5³ median of the values whose bits are ``src`` (see :func:`_key` for the other arguments),
    with blocks of :data:`BLOCK_5` threads: the block's keys in a shared halo tile, then the median's
    key found by counting (:func:`_window_rank`)."""
    tile = cuda.shared.array(_TILE_SIZE, src.dtype)
    nz, ny, nx = src.shape
    tx, ty, tz = cuda.threadIdx.x, cuda.threadIdx.y, cuda.threadIdx.z
    x0, y0, z0 = cuda.blockIdx.x * BLOCK_5[0], cuda.blockIdx.y * BLOCK_5[1], cuda.blockIdx.z * BLOCK_5[2]
    for i in range(tx + BLOCK_5[0] * (ty + BLOCK_5[1] * tz), _TILE_SIZE, _THREADS_5):
        zi = index(z0 + i // (_TILE[1] * _TILE[2]) - _RADIUS_5, nz, mode)
        yi = index(y0 + i // _TILE[2] % _TILE[1] - _RADIUS_5, ny, mode)
        xi = index(x0 + i % _TILE[2] - _RADIUS_5, nx, mode)
        tile[i] = _key(_at(src, zi, yi, xi, cval), top, positive, negative, inf)
    cuda.syncthreads()
    x, y, z = x0 + tx, y0 + ty, z0 + tz
    if z < nz and y < ny and x < nx:
        corner = (tz * _TILE[1] + ty) * _TILE[2] + tx
        low, high, nan = _window_span(tile, corner, negative)
        if nan and positive != negative:
            out[z, y, x] = blank
        else:
            key = _window_rank(tile, corner, top, low, high)
            out[z, y, x] = key ^ (positive if key & top else negative)


def _median5(src, out, mode, cval, blank):
    """Launch :func:`_median5_cuda` on the bits of ``src`` and ``out`` (views, no copy)."""
    bits = _BITS[src.dtype]
    width = 8 * bits.itemsize
    top, ones = 1 << (width - 1), (1 << width) - 1
    if src.dtype.kind == "f":
        positive, negative = top, ones
        inf = int(np.array(np.inf, src.dtype).view(bits))
    else:
        positive = negative = top if src.dtype.kind == "i" else 0
        inf = top - 1
    scalars = (np.array(v, src.dtype).view(bits)[()] for v in (cval, blank))
    nz, ny, nx = src.shape
    grid = (-(-nx // BLOCK_5[0]), -(-ny // BLOCK_5[1]), -(-nz // BLOCK_5[2]))
    launch(
        _median5_cuda,
        grid,
        BLOCK_5,
        src.view(bits),
        out.view(bits),
        mode,
        *scalars,
        *(bits.type(v) for v in (top, positive, negative, inf)),
    )


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
        :func:`median_network` of ``size ** 3``, for the CPU target (the CUDA kernels need none).
    """
    radius = size // 2
    if target == "cuda" and size == 3:
        launch_3d(_median3_cuda, src.shape, src, out, mode, cval, blank)
    elif target == "cuda":
        _median5(src, out, mode, cval, blank)
    else:
        _median_cpu(src, out, radius, mode, cval, blank, pairs, numba.get_num_threads())
