"""Canny's edge localisation in 2D and 3D, two ways: non-maximum suppression of the gradient
magnitude (scikit-image's, here), and zero crossings of the second derivative along the gradient
(ITK's, :mod:`gpuimg.kernels.zero_crossing`). Both read only the smoothed image (a 2D one as a
volume of one slice) and write the hysteresis's input, a uint8 class per voxel: 0 no edge, 1
candidate, 2 seed (a candidate above the high threshold).
No derivative, magnitude or second-derivative volume is stored: each voxel recomputes what it
needs from the smoothed image's neighbourhood, in the arithmetic of the volumes it replaces, so the
edges are those of the stored volumes voxel for voxel while the device holds one volume less per
quantity.

**Non-maximum suppression.** From voxel ``p`` with gradient ``g``, the neighbours compared are at
``p ± g / max|g_a|``: the step along the dominant axis ``a`` is one voxel, so the point lies on a face
of the 3x3(x3) neighbourhood and its magnitude is the bilinear interpolation of the four voxels of
that face around it (weights ``|g_b| / |g_a|`` and ``|g_c| / |g_a|`` along the other two axes). In 2D
(a volume of one slice, with ``gz = 0``) this is scikit-image's ``_nonmaximum_suppression_bilinear``
exactly, in the same arithmetic: the weight in the gradient's float type, ``n1 * w + n0 * (1.0 - w)``
promoted to float64, a voxel kept where both sides are ``<=`` its magnitude and the magnitude is
``>= low``; a kept voxel is a seed where its magnitude is ``>= high``.

The gradient is ``scipy.ndimage.sobel`` of the smoothed image along each axis (mode "reflect", which
one voxel past the edge is the nearest voxel), computed at the voxel as SciPy computes it: a
``[-1, 0, 1]`` pass along the axis, then ``[1, 2, 1]`` along each other axis in increasing order,
each pass in float64 and rounded to the image's float type; the magnitude is
``sqrt(gz² + gy² + gx²)`` in that type, as NumPy's array arithmetic gives it, except where its
squares would overflow or vanish: there it is that of the gradient scaled by a power of two
(:func:`~gpuimg.kernels.exact.magnitude`), so that scaling an image and its thresholds alike leaves
the edges unchanged. The CUDA target computes them per thread from the voxel's 3x3x3 neighbourhood
(nine differences and four ``[1, 2, 1]`` sums per derivative), and so the magnitudes the
suppression interpolates (up to 8 voxels around ``p``), for the voxels ``>= low`` only. The CPU
target computes the gradient and magnitude of a block of slices (rows in 2D) and its one-voxel
margin by the three 1D passes into buffers of the block, once per voxel, then suppresses the block
from them: the same numbers.

Bytes moved per voxel (float32): the smoothed image read once (its 5x5x5 neighbourhood comes from
cache), 1 mask byte, 1 class byte = 6 bytes, 100 MB for a 256³ volume: 0.03 ms at 3.3 TB/s (H100).
On the GPU the arithmetic bounds it instead: a magnitude is 63 float64 additions, 3 products and a
square root, about 70 operations per voxel, about 9 magnitudes more per candidate; at 34 TFLOP/s
(H100, float64) a 256³ volume with 10 % candidates takes about 0.07 ms.

Both targets call the same ``numba.njit(inline="always")`` functions per voxel: the CPU target
in a ``prange`` loop over blocks, the CUDA target with one thread per voxel. Their products are
:func:`~gpuimg.kernels.exact.product`, never fused with the additions that follow them, and their
roundings :func:`~gpuimg.kernels.exact.rounded`, so both targets give the CPU's numbers (values are
converted with ``float()`` before float64 arithmetic, so that the CUDA simulator, which runs this
code on NumPy scalars, computes in float64 too). Voxels next to the volume's edge must be outside
``mask`` (the caller's eroded mask is): the suppression's stencil reads past them.
"""

import numba
import numpy as np

from .exact import magnitude, product, rounded
from .registry import cpu_kernel, cuda, cuda_kernel, launch_3d


@numba.njit(inline="always")
def _moved(g, z, y, x, axis, step):
    """``(z, y, x)`` moved ``step`` voxels along ``axis``, the nearest voxel of ``g`` past its edge."""
    nz, ny, nx = g.shape
    return (
        min(max(z + step * (axis == 0), 0), nz - 1),
        min(max(y + step * (axis == 1), 0), ny - 1),
        min(max(x + step * (axis == 2), 0), nx - 1),
    )


@numba.njit(inline="always")
def _sobel_difference(s, z, y, x, axis):
    """SciPy's ``correlate1d`` of ``s`` with ``[-1, 0, 1]`` along ``axis`` at ``(z, y, x)``: ``0 * centre
    + (after - before)``, the centre's 0 included as SciPy does, so a NaN or inf voxel makes its own
    difference NaN."""
    zb, yb, xb = _moved(s, z, y, x, axis, -1)
    za, ya, xa = _moved(s, z, y, x, axis, 1)
    centre = s[z, y, x]
    return rounded(product(0.0, float(centre)) + (float(s[za, ya, xa]) - float(s[zb, yb, xb])), centre)


@numba.njit(inline="always")
def _smoothed_121(before, centre, after, like):
    """SciPy's ``correlate1d`` with ``[1, 2, 1]`` on three values: ``2 c + (b + a)`` in float64, rounded."""
    return rounded((float(centre) + float(centre)) + (float(before) + float(after)), like)


@numba.njit(inline="always")
def _sobel_across_once(s, z, y, x, axis, across):
    """The difference along ``axis`` smoothed with ``[1, 2, 1]`` along ``across``."""
    before = centre = after = s[z, y, x]
    for k in range(3):  # one call site: a loop, not three inlined copies
        zz, yy, xx = _moved(s, z, y, x, across, k - 1)
        value = _sobel_difference(s, zz, yy, xx, axis)
        if k == 0:
            before = value
        elif k == 1:
            centre = value
        else:
            after = value
    return _smoothed_121(before, centre, after, s[z, y, x])


@numba.njit(inline="always")
def _sobel_at(s, z, y, x, axis, planar):
    """``scipy.ndimage.sobel(s, axis)[z, y, x]``; ``planar``: ``s`` is a 2D image (y, x) as one slice."""
    if planar:
        return _sobel_across_once(s, z, y, x, axis, 3 - axis)
    first = 1 if axis == 0 else 0
    second = 1 if axis == 2 else 2
    before = centre = after = s[z, y, x]
    for k in range(3):
        zz, yy, xx = _moved(s, z, y, x, second, k - 1)
        value = _sobel_across_once(s, zz, yy, xx, axis, first)
        if k == 0:
            before = value
        elif k == 1:
            centre = value
        else:
            after = value
    return _smoothed_121(before, centre, after, s[z, y, x])


@numba.njit(inline="always")
def _gradient_at(s, z, y, x, planar):
    """The Sobel gradient ``(gz, gy, gx)`` of ``s`` at ``(z, y, x)``; ``gz`` is 0 for a 2D image."""
    gz = gy = gx = rounded(0.0, s[z, y, x])
    for axis in range(1 if planar else 0, 3):
        value = _sobel_at(s, z, y, x, axis, planar)
        if axis == 0:
            gz = value
        elif axis == 1:
            gy = value
        else:
            gx = value
    return gz, gy, gx


@numba.njit(inline="always")
def sobel_magnitude_at(s, z, y, x, planar):
    """The Sobel gradient magnitude of ``s`` at ``(z, y, x)``."""
    gz, gy, gx = _gradient_at(s, z, y, x, planar)
    return magnitude(gz, gy, gx)


@numba.njit(inline="always")
def _magnitude_near(s, planar, mags, zlo, ylo, stored, z, y, x):
    """The Sobel magnitude of ``s`` at ``(z, y, x)``: with ``stored``, read from ``mags``, the
    magnitudes of a block of voxels from ``(zlo, ylo, 0)`` on; else computed."""
    if stored:
        return mags[z - zlo, y - ylo, x]
    return sobel_magnitude_at(s, z, y, x, planar)


@numba.njit(inline="always")
def _side(s, planar, mags, zlo, ylo, stored, z, y, x, a, b, c, sa, sb, sc, wb, wc):
    """Magnitude interpolated at ``(z, y, x)`` plus ``sa`` along axis ``a`` and fractions ``wb``
    (sign ``sb``) along ``b`` and ``wc`` (sign ``sc``) along ``c``; a step of 0 where its weight is 0,
    so that an axis of length 1 is never read past (and a voxel met twice is computed once)."""
    z0 = z + sa * (a == 0)
    y0 = y + sa * (a == 1)
    x0 = x + sa * (a == 2)
    bz = sb * (b == 0)
    by = sb * (b == 1)
    bx = sb * (b == 2)
    cz = sc * (c == 0)
    cy = sc * (c == 1)
    cx = sc * (c == 2)
    n00 = n01 = n10 = n11 = rounded(0.0, s[z, y, x])
    for corner in range(4):  # one call site of the magnitude
        j = corner % 2
        i = corner // 2
        if (j == 1 and sb == 0) or (i == 1 and sc == 0):
            continue  # the same voxel as a corner before it
        zz, yy, xx = z0 + j * bz + i * cz, y0 + j * by + i * cy, x0 + j * bx + i * cx
        m = _magnitude_near(s, planar, mags, zlo, ylo, stored, zz, yy, xx)
        if corner == 0:
            n00 = m
        elif corner == 1:
            n01 = m
        elif corner == 2:
            n10 = m
        else:
            n11 = m
    if sb == 0:
        n01 = n00
        n11 = n10
    if sc == 0:
        n10 = n00
        n11 = n01
    # n * w in the float type, n * (1.0 - w) in float64, as scikit-image's C code computes them.
    row0 = float(product(n01, wb)) + product(float(n00), 1.0 - float(wb))
    row1 = float(product(n11, wb)) + product(float(n10), 1.0 - float(wb))
    return product(row0, 1.0 - float(wc)) + product(row1, float(wc))


@numba.njit(inline="always")
def suppressed_class_at(s, mask, planar, low, high, z, y, x, stored, mags, gzs, gys, gxs, zlo, ylo):
    """0, or 1 where the Sobel magnitude of ``s`` at ``(z, y, x)`` is kept (inside ``mask``,
    ``>= low`` and a maximum along the gradient), 2 where it is kept and ``>= high``. With
    ``stored``, the magnitudes and the gradient are read from ``mags``, ``gzs``, ``gys``, ``gxs``
    (a block of voxels from ``(zlo, ylo, 0)`` on, see :func:`_magnitude_near`); else computed."""
    if mask[z, y, x] == 0:
        return 0
    m = float(_magnitude_near(s, planar, mags, zlo, ylo, stored, z, y, x))
    if not m >= low:
        return 0
    if stored:
        vz, vy, vx = gzs[z - zlo, y - ylo, x], gys[z - zlo, y - ylo, x], gxs[z - zlo, y - ylo, x]
    else:
        vz, vy, vx = _gradient_at(s, z, y, x, planar)
    az = abs(vz)
    ay = abs(vy)
    ax = abs(vx)
    # Dominant axis a; c is z unless z dominates, so that a 2D image (gz = 0) interpolates along b only.
    if az > ay and az > ax:
        a, b, c = 0, 2, 1
        va, vb, vc = vz, vx, vy
        aa, ab, ac = az, ax, ay
    elif ay > ax:
        a, b, c = 1, 2, 0
        va, vb, vc = vy, vx, vz
        aa, ab, ac = ay, ax, az
    else:
        a, b, c = 2, 1, 0
        va, vb, vc = vx, vy, vz
        aa, ab, ac = ax, ay, az
    wb = ab / aa
    wc = ac / aa
    sa = 1 if va > 0 else -1
    sb = (1 if vb > 0 else -1) if wb > 0 else 0
    sc = (1 if vc > 0 else -1) if wc > 0 else 0
    for k in range(2):
        sign = 1 - 2 * k
        side = _side(
            s, planar, mags, zlo, ylo, stored, z, y, x, a, b, c, sign * sa, sign * sb, sign * sc, wb, wc
        )
        if not side <= m:
            return 0
    return 2 if m >= high else 1


#: Slices (rows of a 2D image) per block of the CPU targets' buffers.
_BLOCK = 8


@numba.njit(inline="always")
def _blocks(nz, ny):
    """How the CPU targets split a volume: blocks of ``_BLOCK`` slices (rows for one slice), and
    how many blocks along y."""
    block_z = _BLOCK if nz > 1 else 1
    block_y = ny if nz > 1 else _BLOCK
    blocks_y = -(-ny // block_y)
    return -(-nz // block_z) * blocks_y, block_z, block_y, blocks_y


@numba.njit(inline="always")
def _block(index, nz, ny, block_z, block_y, blocks_y):
    """Block ``index``: its slices ``z0:z1`` and rows ``y0:y1``, and those with a margin of one
    voxel inside the volume, ``zlo:zhi`` and ``ylo:yhi``."""
    z0 = (index // blocks_y) * block_z
    y0 = (index % blocks_y) * block_y
    z1 = min(z0 + block_z, nz)
    y1 = min(y0 + block_y, ny)
    return z0, z1, y0, y1, max(z0 - 1, 0), min(z1 + 1, nz), max(y0 - 1, 0), min(y1 + 1, ny)


@numba.njit(inline="always")
def _widened(za, zb, ya, yb, axis, nz, ny):
    """The rows ``za:zb``, ``ya:yb`` and one more on each side along ``axis`` (z or y) inside the volume."""
    if axis == 0:
        return max(za - 1, 0), min(zb + 1, nz), ya, yb
    if axis == 1:
        return za, zb, max(ya - 1, 0), min(yb + 1, ny)
    return za, zb, ya, yb


@numba.njit(inline="always")
def _sobel_pass(src, sz, sy, out, za, zb, ya, yb, axis, smooth, nz, ny):
    """One pass of ``scipy.ndimage.sobel`` along ``axis`` (``[-1, 0, 1]``, or ``[1, 2, 1]`` with
    ``smooth``) over the rows ``za:zb``, ``ya:yb``: ``src`` holds the voxels from ``(sz, sy, 0)`` on,
    ``out`` receives them from ``(za, ya, 0)`` on; the nearest voxel past the volume's edge."""
    nx = out.shape[2]
    for z in range(za, zb):
        for y in range(ya, yb):
            for x in range(nx):
                zm = max(z - (axis == 0), 0) - sz
                ym = max(y - (axis == 1), 0) - sy
                xm = max(x - (axis == 2), 0)
                zp = min(z + (axis == 0), nz - 1) - sz
                yp = min(y + (axis == 1), ny - 1) - sy
                xp = min(x + (axis == 2), nx - 1)
                centre = src[z - sz, y - sy, x]
                if smooth:
                    out[z - za, y - ya, x] = _smoothed_121(src[zm, ym, xm], centre, src[zp, yp, xp], centre)
                else:
                    difference = float(src[zp, yp, xp]) - float(src[zm, ym, xm])
                    out[z - za, y - ya, x] = rounded(product(0.0, float(centre)) + difference, centre)


@cpu_kernel
def _suppress_cpu(s, mask, planar, low, high, out):
    nz, ny, nx = s.shape
    count, block_z, block_y, blocks_y = _blocks(nz, ny)
    for index in numba.prange(count):
        z0, z1, y0, y1, zlo, zhi, ylo, yhi = _block(index, nz, ny, block_z, block_y, blocks_y)
        # The gradient and magnitude of the block and its margin, by SciPy's passes (the numbers of
        # the per-voxel functions, in fewer operations): three 1D passes per derivative.
        shape = (zhi - zlo, yhi - ylo, nx)
        gzs = np.zeros(shape, dtype=s.dtype)
        gys = np.empty(shape, dtype=s.dtype)
        gxs = np.empty(shape, dtype=s.dtype)
        first_pass = np.empty((shape[0] + 2, shape[1] + 2, nx), dtype=s.dtype)
        second_pass = np.empty((shape[0] + 2, shape[1] + 2, nx), dtype=s.dtype)
        for axis in range(1 if planar else 0, 3):
            g = gzs if axis == 0 else (gys if axis == 1 else gxs)
            if planar:
                other = 3 - axis
                az, bz, ay, by = _widened(zlo, zhi, ylo, yhi, other, nz, ny)
                _sobel_pass(s, 0, 0, first_pass, az, bz, ay, by, axis, False, nz, ny)
                _sobel_pass(first_pass, az, ay, g, zlo, zhi, ylo, yhi, other, True, nz, ny)
            else:
                first = 1 if axis == 0 else 0
                second = 1 if axis == 2 else 2
                cz, dz, cy, dy = _widened(zlo, zhi, ylo, yhi, second, nz, ny)
                az, bz, ay, by = _widened(cz, dz, cy, dy, first, nz, ny)
                _sobel_pass(s, 0, 0, first_pass, az, bz, ay, by, axis, False, nz, ny)
                _sobel_pass(first_pass, az, ay, second_pass, cz, dz, cy, dy, first, True, nz, ny)
                _sobel_pass(second_pass, cz, cy, g, zlo, zhi, ylo, yhi, second, True, nz, ny)
        mags = np.empty(shape, dtype=s.dtype)
        for k in range(shape[0]):
            for j in range(shape[1]):
                for x in range(nx):
                    mags[k, j, x] = magnitude(gzs[k, j, x], gys[k, j, x], gxs[k, j, x])
        for z in range(z0, z1):
            for y in range(y0, y1):
                for x in range(nx):
                    out[z, y, x] = suppressed_class_at(
                        s, mask, planar, low, high, z, y, x, True, mags, gzs, gys, gxs, zlo, ylo
                    )


_ARRAY = "{t}[:, :, ::1]"
_CLASSES = "uint8[:, :, ::1]"
_SUPPRESS = f"void({_ARRAY}, {_CLASSES}, boolean, float64, float64, {_CLASSES})"


@cuda_kernel(_SUPPRESS.format(t="float32"), _SUPPRESS.format(t="float64"))
def _suppress_cuda(s, mask, planar, low, high, out):
    x, y, z = cuda.grid(3)
    if z < s.shape[0] and y < s.shape[1] and x < s.shape[2]:
        out[z, y, x] = suppressed_class_at(s, mask, planar, low, high, z, y, x, False, s, s, s, s, 0, 0)


@cpu_kernel
def _magnitude_cpu(s, planar, out):
    nz, ny, nx = s.shape
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            out[z, y, x] = sobel_magnitude_at(s, z, y, x, planar)


_MAGNITUDE = f"void({_ARRAY}, boolean, {_ARRAY})"


@cuda_kernel(_MAGNITUDE.format(t="float32"), _MAGNITUDE.format(t="float64"))
def _magnitude_cuda(s, planar, out):
    x, y, z = cuda.grid(3)
    if z < s.shape[0] and y < s.shape[1] and x < s.shape[2]:
        out[z, y, x] = sobel_magnitude_at(s, z, y, x, planar)


def sobel_magnitude(smoothed, planar, out, *, target):
    """Write the Sobel gradient magnitude of ``smoothed`` into ``out`` (for quantile thresholds).

    Parameters
    ----------
    smoothed, out : 3D C-contiguous float32 or float64 arrays of one dtype, on the target's device
    planar : bool
        ``smoothed`` is a 2D image (y, x) seen as one slice: no derivative or smoothing along z.
    target : {"cpu", "cuda"}
    """
    if target == "cuda":
        launch_3d(_magnitude_cuda, smoothed.shape, smoothed, bool(planar), out)
    else:
        _magnitude_cpu(smoothed, bool(planar), out)


def nonmaximum_suppression(smoothed, mask, planar, low, high, out, *, target):
    """Write the classes of non-maximum suppression of the Sobel gradient magnitude into ``out``.

    Parameters
    ----------
    smoothed : 3D C-contiguous float32 or float64 array on the target's device
        The smoothed image (a 2D one as one slice).
    mask : 3D C-contiguous uint8 array
        Voxels to consider; 0 on every voxel next to the volume's edge.
    planar : bool
        ``smoothed`` is a 2D image: no derivative or smoothing along z.
    low, high : float
        A kept voxel's magnitude is ``>= low``; it is a seed where ``>= high`` (both compared in
        float64 with the magnitude in its float type).
    out : 3D C-contiguous uint8 array
        0 (not kept), 1 (kept), 2 (kept and ``>= high``).
    target : {"cpu", "cuda"}
    """
    args = (smoothed, mask, bool(planar), float(low), float(high), out)
    if target == "cuda":
        launch_3d(_suppress_cuda, smoothed.shape, *args)
    else:
        _suppress_cpu(*args)
