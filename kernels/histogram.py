"""Global histogram of a 3D volume, the lookup through its cumulative distribution, and the count
of each value of an integer array.

Three passes, each of which reads every voxel once:

- :func:`histogram`: counts voxels per bin with NumPy's own binning for ``np.histogram(bins=n)``
  (a first guess ``int((v - lo) / (hi - lo) * n)`` in the data's float type, corrected by one bin
  against the array of edges, the last edge inclusive), so the counts equal NumPy's exactly.
  Voxels that are NaN, outside ``[lo, hi]`` or outside ``mask`` are not counted.
  CPU: one private histogram per thread, summed at the end. CUDA: each block of 256 threads
  covers 4096 voxels (each thread 16 along z) into a histogram in shared memory (atomics there),
  then adds its non-zero bins to the global histogram with one atomic each; histograms with more
  bins than fit in shared memory (:data:`SHARED_BINS`) are counted with global atomics.
- :func:`equalize`: ``np.interp(v, centres, cdf)`` for each voxel, with NumPy's arithmetic
  (float64, same slope formula, same treatment of the ends and of NaN), the interval found by a
  guess from the uniform spacing corrected against the centres, written in the output's dtype.
- :func:`integer_counts`: one bin per integer value, ``hist[value - smallest] += 1`` over the flat
  array, in integer arithmetic only (no edges). CPU: one contiguous share per thread into a private
  histogram, summed at the end. CUDA: a grid of at most :data:`COUNT_BLOCKS` blocks of 256
  threads strides over the values, each block reading 256 consecutive values at a time, into a
  histogram in shared memory per block (then added to the global one as in :func:`histogram`), or
  with global atomics past :data:`SHARED_BINS` bins.

Bytes moved (float32 input, 256 bins): 4 bytes per voxel read by the histogram, 4 read and 4
written by the lookup, plus one min and one max pass in the caller: about 20 bytes per voxel, 335
MB for 256^3; the floor on an H100 (3 TB/s) is about 0.1 ms per pass. On the CPU the lookup's
interval search (a few compares) dominates. The integer count reads 2 bytes per int16 voxel; on the
CPU its increments of a few thousand bins held in L1 take about 0.5 ns per voxel on one core, so
the caller's min/max pass (0.15 ns per voxel) is worth saving: :func:`counts_whole_dtype`.
"""

import numba
import numpy as np

from .exact import product
from .registry import cpu_kernel, cuda, cuda_kernel, launch, launch_3d, threads

#: Most bins counted in shared memory on CUDA (int32, 16 KiB per block).
SHARED_BINS = 4096
#: Voxels along z counted by one CUDA thread.
Z_PER_THREAD = 16
#: Threads per block of the integer count; at least this many values counted by each thread.
COUNT_THREADS = 256
VALUES_PER_THREAD = 16
#: Most blocks of the integer count: about 8 of 256 threads per SM of an H200 (132 SMs), enough to
#: fill it, while the flush of their private histograms stays at most 1024 x SHARED_BINS atomics.
COUNT_BLOCKS = 1024
#: On the CPU, 8- and 16-bit integers are counted over every value of their dtype, with no min/max
#: pass first, when there are at least this many values per bin (65,536 bins for 16 bits): zeroing and
#: summing the private histograms then costs less than the pass saved.
WHOLE_DTYPE_VALUES_PER_BIN = 16


@numba.njit(inline="always")
def bin_index(v, lo, denom, nbins_f, edges):
    """NumPy's bin of value ``v`` among ``edges`` (``nbins`` = ``edges.size - 1`` equal bins), or -1.

    ``v``, ``lo``, ``denom`` (``hi - lo``) and ``nbins_f`` (the number of bins) are in the float type
    NumPy computes in (that of the edges), so the first guess is NumPy's.
    """
    nbins = edges.size - 1
    if not (v >= edges[0] and v <= edges[nbins]):
        return -1
    # The guess as a float first: int() of NaN or of a value beyond int64 (a span that overflows,
    # an infinite denom) is undefined, and the bin indexes memory.
    guess = (v - lo) / denom * nbins_f
    i = nbins - 1
    if guess < nbins_f:
        i = int(guess) if guess >= 0.0 else 0
    if v < edges[i]:
        i -= 1
    elif i < nbins - 1 and v >= edges[i + 1]:
        i += 1
    return i


@numba.njit(inline="always")
def offset(value, smallest):
    """``value - smallest`` as int64 for integers of any type: both are cast to int64 first (a uint64
    above 2**63 wraps), so the difference is exact whenever it is below 2**63, and a signed 8- or
    16-bit difference does not overflow in the simulator's NumPy arithmetic."""
    return numba.int64(value) - numba.int64(smallest)


@numba.njit(inline="always")
def interp(x, centres, cdf, inv_step):
    """``np.interp(x, centres, cdf)`` for one float64 ``x``, with NumPy's arithmetic.

    ``inv_step`` only guides the search (the inverse spacing of the centres); the interval is
    then corrected against ``centres`` themselves, so any positive value gives the same answer.
    """
    n = centres.size
    if x != x:
        return x
    if x <= centres[0]:
        return cdf[0]
    if x >= centres[n - 1]:
        return cdf[n - 1]
    j = int((x - centres[0]) * inv_step)
    if j > n - 2:
        j = n - 2
    if j < 0:
        j = 0
    while j > 0 and centres[j] > x:
        j -= 1
    while j < n - 2 and centres[j + 1] <= x:
        j += 1
    if centres[j] == x:
        return cdf[j]
    slope = (cdf[j + 1] - cdf[j]) / (centres[j + 1] - centres[j])
    value = product(slope, x - centres[j]) + cdf[j]
    if value != value:
        value = product(slope, x - centres[j + 1]) + cdf[j + 1]
        if value != value and cdf[j] == cdf[j + 1]:
            value = cdf[j]
    return value


@numba.njit(inline="always")
def _clear_shared(shared, nbins, tid, threads):
    """Zero a block's private histogram (its first ``nbins`` shared bins), then wait for the block."""
    for i in range(tid, nbins, threads):
        shared[i] = 0
    cuda.syncthreads()


@numba.njit(inline="always")
def _flush_shared(shared, hist, tid, threads):
    """Wait for the block, then add its private histogram to the global ``hist``."""
    cuda.syncthreads()
    for i in range(tid, hist.size, threads):
        count = shared[i]
        if count != 0:
            cuda.atomic.add(hist, i, numba.int64(count))


@cpu_kernel
def _histogram_cpu(src, mask, hist, lo, denom, nbins_f, edges, use_mask, threads):
    """``threads`` comes from the caller: ``numba.get_num_threads`` inside would stop the on-disk cache."""
    nz, ny, nx = src.shape
    rows = nz * ny
    local = np.zeros((threads, hist.size), dtype=np.int64)
    zero = lo - lo
    for t in numba.prange(threads):
        for row in range(t, rows, threads):
            z = row // ny
            y = row - z * ny
            for x in range(nx):
                if use_mask and mask[z, y, x] == 0:
                    continue
                i = bin_index(src[z, y, x] + zero, lo, denom, nbins_f, edges)
                if i >= 0:
                    local[t, i] += 1
    for t in range(threads):
        for i in range(hist.size):
            hist[i] += local[t, i]


_HIST_ARGS = "uint8[:, :, ::1], int64[::1], {t}, {t}, {t}, {t}[::1], boolean"


@cuda_kernel(
    f"void(float32[:, :, ::1], {_HIST_ARGS.format(t='float32')})",
    f"void(float64[:, :, ::1], {_HIST_ARGS.format(t='float64')})",
    f"void(int16[:, :, ::1], {_HIST_ARGS.format(t='float64')})",
)
def _histogram_cuda(src, mask, hist, lo, denom, nbins_f, edges, use_mask):
    shared = cuda.shared.array(SHARED_BINS, numba.int32)
    nbins = hist.size
    private = nbins <= SHARED_BINS
    tid = cuda.threadIdx.x + cuda.blockDim.x * (cuda.threadIdx.y + cuda.blockDim.y * cuda.threadIdx.z)
    threads = cuda.blockDim.x * cuda.blockDim.y * cuda.blockDim.z
    if private:
        _clear_shared(shared, nbins, tid, threads)
    x, y, zg = cuda.grid(3)
    zero = lo - lo
    if y < src.shape[1] and x < src.shape[2]:
        for k in range(Z_PER_THREAD):
            z = zg * Z_PER_THREAD + k
            if z < src.shape[0] and (not use_mask or mask[z, y, x] != 0):
                i = bin_index(src[z, y, x] + zero, lo, denom, nbins_f, edges)
                if i >= 0:
                    if private:
                        cuda.atomic.add(shared, i, 1)
                    else:
                        cuda.atomic.add(hist, i, 1)
    if private:
        _flush_shared(shared, hist, tid, threads)


def histogram(src, mask, hist, *, target, lo, denom, edges, use_mask):
    """Add the counts of the 3D array ``src`` (where ``mask`` is non-zero) to ``hist``.

    Parameters
    ----------
    src : 3D C-contiguous array on the target's device
    mask : 3D uint8 C-contiguous array, the shape of ``src`` (any shape when ``use_mask`` is False)
    hist : int64 array of ``edges.size - 1`` bins, added to
    target : {"cpu", "cuda"}
    lo, denom : scalars of the edges' float type
        The first edge and the range ``hi - lo``, as NumPy computes them.
    edges : 1D float array of the bin edges (``np.linspace(lo, hi, nbins + 1)`` in that type)
    use_mask : bool
    """
    nbins_f = edges.dtype.type(hist.size)
    if target == "cuda":
        nz, ny, nx = src.shape
        shape = (-(-nz // Z_PER_THREAD), ny, nx)
        launch_3d(_histogram_cuda, shape, src, mask, hist, lo, denom, nbins_f, edges, use_mask)
    else:
        _histogram_cpu(src, mask, hist, lo, denom, nbins_f, edges, use_mask, numba.get_num_threads())


@cpu_kernel
def _equalize_cpu(src, out, centres, cdf, inv_step):
    nz, ny, nx = src.shape
    zero = inv_step - inv_step
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            out[z, y, x] = interp(src[z, y, x] + zero, centres, cdf, inv_step)


_EQ_ARGS = "float64[::1], float64[::1], float64"


@cuda_kernel(
    f"void(float32[:, :, ::1], float32[:, :, ::1], {_EQ_ARGS})",
    f"void(float64[:, :, ::1], float64[:, :, ::1], {_EQ_ARGS})",
    f"void(int16[:, :, ::1], float32[:, :, ::1], {_EQ_ARGS})",
)
def _equalize_cuda(src, out, centres, cdf, inv_step):
    x, y, z = cuda.grid(3)
    if z < src.shape[0] and y < src.shape[1] and x < src.shape[2]:
        zero = inv_step - inv_step
        out[z, y, x] = interp(src[z, y, x] + zero, centres, cdf, inv_step)


def equalize(src, out, *, target, centres, cdf, inv_step):
    """Write ``np.interp(src, centres, cdf)`` into ``out`` (3D, C-contiguous, on the target's device).

    ``centres`` and ``cdf`` are float64 arrays of the same length, ``centres`` increasing;
    ``inv_step`` (float64) is about the inverse of their spacing, a hint for the search.
    """
    if target == "cuda":
        launch_3d(_equalize_cuda, src.shape, src, out, centres, cdf, inv_step)
    else:
        _equalize_cpu(src, out, centres, cdf, inv_step)


@cpu_kernel
def _integer_counts_cpu(flat, hist, smallest, threads):
    """``threads`` comes from the caller: ``numba.get_num_threads`` inside would stop the on-disk cache."""
    n = flat.size
    share = -(-n // threads)
    local = np.zeros((threads, hist.size), dtype=np.int64)
    for t in numba.prange(threads):
        for i in range(t * share, min(n, (t + 1) * share)):
            local[t, offset(flat[i], smallest)] += 1
    for t in range(threads):
        for i in range(hist.size):
            hist[i] += local[t, i]


@cuda_kernel(
    "void(uint8[::1], int64[::1], uint8)",
    "void(int8[::1], int64[::1], int8)",
    "void(uint16[::1], int64[::1], uint16)",
    "void(int16[::1], int64[::1], int16)",
    "void(int32[::1], int64[::1], int32)",
    "void(uint64[::1], int64[::1], uint64)",
)
def _integer_counts_cuda(flat, hist, smallest):
    shared = cuda.shared.array(SHARED_BINS, numba.int32)
    nbins = hist.size
    private = nbins <= SHARED_BINS
    tid = cuda.threadIdx.x
    if private:
        _clear_shared(shared, nbins, tid, COUNT_THREADS)
    for i in range(cuda.blockIdx.x * COUNT_THREADS + tid, flat.size, cuda.gridDim.x * COUNT_THREADS):
        if private:
            cuda.atomic.add(shared, offset(flat[i], smallest), 1)
        else:
            cuda.atomic.add(hist, offset(flat[i], smallest), 1)
    if private:
        _flush_shared(shared, hist, tid, COUNT_THREADS)


def counts_whole_dtype(flat, *, target) -> bool:
    """Whether to count the integers of ``flat`` in one bin per value of their dtype (from its
    smallest value) rather than from their own smallest value, which a min/max pass must find first.

    On the CPU for 8- and 16-bit values with :data:`WHOLE_DTYPE_VALUES_PER_BIN` values per such bin;
    never on CUDA, where 65,536 bins do not fit in shared memory and the min/max pass is cheap.
    """
    size = flat.dtype.itemsize
    return target == "cpu" and size <= 2 and flat.size >= WHOLE_DTYPE_VALUES_PER_BIN * 256**size


def integer_counts(flat, hist, smallest, *, target):
    """Add to ``hist[k]`` the number of values of ``flat`` equal to ``smallest + k``.

    Parameters
    ----------
    flat : 1D C-contiguous integer array on the target's device
        Every value in ``[smallest, smallest + hist.size)``: nothing checks it, and a value outside
        writes outside ``hist``.
    hist : 1D int64 C-contiguous array on the target's device, added to
    smallest : scalar of ``flat``'s dtype
        The value of bin 0 (the differences ``value - smallest`` are exact for any integer dtype,
        see :func:`offset`).
    target : {"cpu", "cuda"}
    """
    if flat.size == 0:
        return
    if target == "cuda":
        blocks = min(COUNT_BLOCKS, -(-flat.size // (COUNT_THREADS * VALUES_PER_THREAD)))
        launch(_integer_counts_cuda, (blocks,), (COUNT_THREADS,), flat, hist, smallest)
    else:
        # each thread counts at least as many values as its private histogram has bins
        shares = max(1, min(threads(flat.size), flat.size // hist.size))
        _integer_counts_cpu.call(flat.size, flat, hist, smallest, shares)
