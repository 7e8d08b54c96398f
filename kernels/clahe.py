"""Contrast-limited adaptive histogram equalisation (CLAHE) in 3D, step for step as scikit-image.

The input is a volume of bin numbers (grey level // bin size, uint16) and the contextual-region
size ``kernel`` (kz, ky, kx). scikit-image pads the volume by ``k // 2`` before and by
``(k - n % k) % k + ceil(k / 2)`` after each axis (NumPy's "reflect"), so that tile ``t`` covers the
padded voxels ``[k // 2 + t k, k // 2 + (t + 1) k)``, i.e. the original voxels ``[t k, (t + 1) k)``
reflected past the end. Four kernels, each with a CPU and a CUDA target:

- :func:`quantise`: each voxel's grey level (its value's place in the image's range, 14 bits,
  rounded half to even) divided by the bin size, in one pass;
- :func:`tile_histograms`: one histogram per tile (CPU: one thread per tile; CUDA: one thread
  per voxel of the tiled region, global atomics, as the tiles are too large for shared memory).
- :func:`clip_and_map`: clips each histogram and redistributes the excess exactly as
  ``skimage.exposure._adapthist.clip_histogram`` (including its strided loop), then maps it to grey
  levels as ``map_histogram`` (one thread per tile on both targets: the loop is sequential).
- :func:`interpolate`: each voxel's value through the maps of the 8 surrounding tiles (each
  clamped at the edges), weighted multilinearly; the products are taken in float64 and summed in
  float32 in scikit-image's order of corners, then truncated to an integer, as scikit-image does.

Bytes moved per voxel (256^3): 2 read by the histograms, 2 read and 4 written by the
interpolation, whose 8 reads of the maps (256 bins x 8 bytes x tiles) stay in cache; the floor on
an H100 is well under a millisecond, and the CPU cost is the 8 weighted reads per voxel.
"""

import math

import numba

from .registry import cpu_kernel, cuda, cuda_kernel, launch_3d


@numba.njit(inline="always")
def reflect(i, n):
    """NumPy "reflect" padding index (mirror without repeating the edge) for any ``i``."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - i
    return i


@numba.njit(inline="always")
def _bin_at(v, low, denom, top, bin_size):
    """Bin of value ``v``: grey level ``round((v - low) / denom * top)`` (half to even, as NumPy's
    ``rint``) divided by ``bin_size``; ``v`` is float64 and non-negative after the shift."""
    level = (v - low) / denom * top
    # Within [0, top] whatever the arithmetic gave (NaN included): the bin indexes the tile maps.
    if not level >= 0.0:
        level = 0.0
    elif level > top:
        level = top
    whole = math.floor(level)
    rest = level - whole
    if rest > 0.5 or (rest == 0.5 and whole % 2 == 1):
        whole += 1
    return int(whole) // bin_size


@cpu_kernel
def _quantise_cpu(src, bins, low, denom, top, bin_size):
    nz, ny, nx = src.shape
    zero = low - low
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            bins[z, y, x] = _bin_at(src[z, y, x] + zero, low, denom, top, bin_size)


_QUANTISE_ARGS = "uint16[:, :, ::1], float64, float64, float64, int64"


@cuda_kernel(
    f"void(float32[:, :, ::1], {_QUANTISE_ARGS})",
    f"void(int16[:, :, ::1], {_QUANTISE_ARGS})",
    f"void(float64[:, :, ::1], {_QUANTISE_ARGS})",
)
def _quantise_cuda(src, bins, low, denom, top, bin_size):
    x, y, z = cuda.grid(3)
    if z < src.shape[0] and y < src.shape[1] and x < src.shape[2]:
        # float(): float64 in the CUDA simulator too, where '+ 0.0' keeps a float32 voxel float32
        bins[z, y, x] = _bin_at(float(src[z, y, x]), low, denom, top, bin_size)


def quantise(src, bins, *, target, low, denom, top, bin_size):
    """Write the bin of each voxel of ``src`` into ``bins`` (uint16): ``[low, low + denom]`` is
    mapped onto grey levels ``0 .. top`` (rounded half to even), divided by ``bin_size``."""
    args = (src, bins, float(low), float(denom), float(top), int(bin_size))
    if target == "cuda":
        launch_3d(_quantise_cuda, src.shape, *args)
    else:
        _quantise_cpu(*args)


@cpu_kernel
def _tile_histograms_cpu(bins, hist, kernel):
    nz, ny, nx = bins.shape
    tz, ty, tx = hist.shape[0], hist.shape[1], hist.shape[2]
    kz, ky, kx = kernel
    for tile in numba.prange(tz * ty * tx):
        a = tile // (ty * tx)
        rest = tile - a * ty * tx
        b = rest // tx
        c = rest - b * tx
        for i in range(kz):
            z = reflect(a * kz + i, nz)
            for j in range(ky):
                y = reflect(b * ky + j, ny)
                for k in range(kx):
                    x = reflect(c * kx + k, nx)
                    hist[a, b, c, bins[z, y, x]] += 1


@cuda_kernel("void(uint16[:, :, ::1], int64[:, :, :, ::1], UniTuple(int64, 3))")
def _tile_histograms_cuda(bins, hist, kernel):
    x, y, z = cuda.grid(3)
    kz, ky, kx = kernel
    if z < hist.shape[0] * kz and y < hist.shape[1] * ky and x < hist.shape[2] * kx:
        value = bins[reflect(z, bins.shape[0]), reflect(y, bins.shape[1]), reflect(x, bins.shape[2])]
        cuda.atomic.add(hist, (z // kz, y // ky, x // kx, value), 1)


def tile_histograms(bins, hist, *, target, kernel):
    """Add the histogram of each tile of ``bins`` to ``hist`` (int64, shape tiles + (nbins,))."""
    if target == "cuda":
        shape = tuple(t * k for t, k in zip(hist.shape[:3], kernel, strict=True))
        launch_3d(_tile_histograms_cuda, shape, bins, hist, kernel)
    else:
        _tile_histograms_cpu(bins, hist, kernel)


@numba.njit(inline="always")
def _clip_and_map_tile(h, m, clip_limit, scale, max_value):
    """Clip the histogram ``h`` in place as scikit-image, then write its grey-level map into ``m``."""
    nbins = h.size
    excess = 0
    for i in range(nbins):
        if h[i] > clip_limit:
            excess += h[i] - clip_limit
            h[i] = clip_limit
    increment = excess // nbins
    upper = clip_limit - increment
    for i in range(nbins):
        if h[i] < upper:
            h[i] += increment
            excess -= increment
    for i in range(nbins):
        if h[i] >= upper and h[i] < clip_limit:
            excess += h[i] - clip_limit
            h[i] = clip_limit
    while excess > 0:
        before = excess
        for index in range(nbins):
            under = 0
            for i in range(nbins):
                if h[i] < clip_limit:
                    under += 1
            step = under // excess
            if step < 1:
                step = 1
            for i in range(index, nbins, step):
                if h[i] < clip_limit:
                    h[i] += 1
                    excess -= 1
            if excess <= 0:
                break
        if before == excess:
            break
    total = 0
    for i in range(nbins):
        total += h[i]
        value = total * scale
        if value > max_value:
            value = max_value
        m[i] = int(value)


@cpu_kernel
def _clip_and_map_cpu(hist, maps, clip_limit, scale, max_value):
    tz, ty, tx = hist.shape[0], hist.shape[1], hist.shape[2]
    for tile in numba.prange(tz * ty * tx):
        a = tile // (ty * tx)
        rest = tile - a * ty * tx
        b = rest // tx
        c = rest - b * tx
        _clip_and_map_tile(hist[a, b, c], maps[a, b, c], clip_limit, scale, max_value)


@cuda_kernel("void(int64[:, :, :, ::1], float64[:, :, :, ::1], int64, float64, float64)")
def _clip_and_map_cuda(hist, maps, clip_limit, scale, max_value):
    c, b, a = cuda.grid(3)
    if a < hist.shape[0] and b < hist.shape[1] and c < hist.shape[2]:
        _clip_and_map_tile(hist[a, b, c], maps[a, b, c], clip_limit, scale, max_value)


def clip_and_map(hist, maps, *, target, clip_limit, scale, max_value):
    """Clip each tile's histogram (in place) and write its map to grey levels into ``maps``.

    ``clip_limit`` is the largest count a bin keeps (int), ``scale`` the grey levels per voxel
    (``max_value / voxels per tile``), ``max_value`` the largest grey level (float).
    """
    if target == "cuda":
        launch_3d(_clip_and_map_cuda, hist.shape[:3], hist, maps, clip_limit, scale, max_value)
    else:
        _clip_and_map_cpu(hist, maps, clip_limit, scale, max_value)


@numba.njit(inline="always")
def _interpolate_at(bins, maps, z, y, x, kernel):
    """The CLAHE value of voxel ``(z, y, x)`` before scikit-image's final rescaling."""
    kz, ky, kx = kernel
    tz, ty, tx = maps.shape[0], maps.shape[1], maps.shape[2]
    pz = z + kz // 2
    py = y + ky // 2
    px = x + kx // 2
    bz = pz // kz
    by = py // ky
    bx = px // kx
    cz = (pz - bz * kz) / kz
    cy = (py - by * ky) / ky
    cx = (px - bx * kx) / kx
    value = bins[z, y, x]
    acc = numba.float32(0.0)
    for corner in range(8):
        ez = corner >> 2
        ey = (corner >> 1) & 1
        ex = corner & 1
        mz = min(max(bz + ez - 1, 0), tz - 1)
        my = min(max(by + ey - 1, 0), ty - 1)
        mx = min(max(bx + ex - 1, 0), tx - 1)
        wz = cz if ez == 1 else 1.0 - cz
        wy = cy if ey == 1 else 1.0 - cy
        wx = cx if ex == 1 else 1.0 - cx
        acc += numba.float32(maps[mz, my, mx, value] * (wx * wy * wz))
    return numba.float32(int(acc))


@cpu_kernel
def _interpolate_cpu(bins, maps, out, kernel):
    nz, ny, nx = bins.shape
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            out[z, y, x] = _interpolate_at(bins, maps, z, y, x, kernel)


@cuda_kernel("void(uint16[:, :, ::1], float64[:, :, :, ::1], float32[:, :, ::1], UniTuple(int64, 3))")
def _interpolate_cuda(bins, maps, out, kernel):
    x, y, z = cuda.grid(3)
    if z < bins.shape[0] and y < bins.shape[1] and x < bins.shape[2]:
        out[z, y, x] = _interpolate_at(bins, maps, z, y, x, kernel)


def interpolate(bins, maps, out, *, target, kernel):
    """Write the interpolated CLAHE grey level (integer-valued float32) of each voxel into ``out``."""
    if target == "cuda":
        launch_3d(_interpolate_cuda, bins.shape, bins, maps, out, kernel)
    else:
        _interpolate_cpu(bins, maps, out, kernel)
