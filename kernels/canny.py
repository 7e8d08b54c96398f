"""Canny's edge localisation in 2D and 3D, two ways: non-maximum suppression of the gradient
magnitude (scikit-image's), and zero crossings of the second derivative along the gradient (ITK's).
Both read only the smoothed image (a 2D one as a volume of one slice) and write the hysteresis's
input, a uint8 class per voxel: 0 no edge, 1 candidate, 2 seed (a candidate above the high threshold).
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
``sqrt(gz² + gy² + gx²)`` in that type, as NumPy's array arithmetic gives it. The CUDA target
computes them per thread from the voxel's 3x3x3 neighbourhood (nine differences and four
``[1, 2, 1]`` sums per derivative), and so the magnitudes the suppression interpolates (up to 8
voxels around ``p``), for the voxels ``>= low`` only. The CPU target computes the gradient and
magnitude of a block of slices (rows in 2D) and its one-voxel margin by the three 1D passes into
buffers of the block, once per voxel, then suppresses the block from them: the same numbers.

Bytes moved per voxel (float32): the smoothed image read once (its 5x5x5 neighbourhood comes from
cache), 1 mask byte, 1 class byte = 6 bytes, 100 MB for a 256³ volume: 0.03 ms at 3.3 TB/s (H100).
On the GPU the arithmetic bounds it instead: a magnitude is 63 float64 additions, 3 products and a
square root, about 70 operations per voxel, about 9 magnitudes more per candidate; at 34 TFLOP/s
(H100, float64) a 256³ volume with 10 % candidates takes about 0.07 ms.

**Zero crossings** (Canny's differential form, as Lindeberg writes it and ITK's
``CannyEdgeDetectionImageFilter`` computes it). ``L_vv``, the second derivative along the gradient,
is ``(sum_i L_i² L_ii + 2 sum_i<j L_i L_j L_ij) / (|∇L|² + 1e-4)`` from central differences
(``L_i = (L[+1] - L[-1]) / 2``, ``L_ii = L[-1] - 2 L + L[+1]``, ``L_ij`` the four diagonal
neighbours over 4), rounded to the image's float type (ITK stores it as an image). A voxel is an
edge, valued ``sqrt(|∇L|² + 1e-4)``, where ``L_vv`` changes sign towards one of its 2 x ndim face
neighbours and is there the smaller in absolute value (ties go to the voxel before the neighbour
along the axis), and where the derivative of ``L_vv`` along the gradient is ``<= 0`` (a maximum of
the magnitude, not a minimum). The value, rounded to the float type, is a candidate where ``> low``
and a seed where also ``> high`` (0 elsewhere, compared alike). Reads past the volume's edge take
the nearest voxel (ITK's zero-flux boundary); the 1e-4 is ITK's, in squared intensity units (per
mm² with a spacing). The arithmetic is float64 in ITK's order of operations (its axis 0 is our last
axis).

The CPU target computes ``L_vv`` once per voxel, a block of slices (rows in 2D) at a time into a
buffer of the block and its one-voxel margin, then the edges of the block; the CUDA target
recomputes ``L_vv`` at the voxel and its six face neighbours in each thread (7 times in all).
Bytes moved per voxel (float32): the smoothed image read once, 1 mask byte, 1 class byte = 6 bytes,
0.03 ms for 256³ at 3.3 TB/s; on the GPU the arithmetic bounds it: about 80 float64 operations per
``L_vv``, about 600 per voxel, 0.3 ms for 256³ at 34 TFLOP/s. (Storing ``L_vv`` instead, 21 bytes
and about 110 operations per voxel, 0.1 ms, needs a second volume on the device.)

Both targets of each kernel call the same ``numba.njit(inline="always")`` functions per voxel: the
CPU target in a ``prange`` loop over blocks, the CUDA target with one thread per voxel. Their products are
:func:`~gpuimg.kernels.exact.product`, never fused with the additions that follow them, and their
roundings :func:`~gpuimg.kernels.exact.rounded`, so both targets give the CPU's numbers (values are
converted with ``float()`` before float64 arithmetic, so that the CUDA simulator, which runs this
code on NumPy scalars, computes in float64 too). For the suppression, voxels next to the volume's
edge must be outside ``mask`` (the caller's eroded mask is): its stencil reads past them.
"""

import math

import numba
import numpy as np
from numba import cuda

from .exact import product, rounded
from .registry import cpu_kernel, cuda_kernel, launch_3d


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
    """SciPy's ``correlate1d`` of ``s`` with ``[-1, 0, 1]`` along ``axis`` at ``(z, y, x)``."""
    zb, yb, xb = _moved(s, z, y, x, axis, -1)
    za, ya, xa = _moved(s, z, y, x, axis, 1)
    return rounded(float(s[za, ya, xa]) - float(s[zb, yb, xb]), s[z, y, x])


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
def _magnitude(gz, gy, gx):
    """``sqrt(gz² + gy² + gx²)`` in the gradient's float type, each step rounded as NumPy's."""
    squared = product(gz, gz) + product(gy, gy)
    squared = squared + product(gx, gx)
    return rounded(math.sqrt(float(squared)), gx)


@numba.njit(inline="always")
def sobel_magnitude_at(s, z, y, x, planar):
    """The Sobel gradient magnitude of ``s`` at ``(z, y, x)``."""
    gz, gy, gx = _gradient_at(s, z, y, x, planar)
    return _magnitude(gz, gy, gx)


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
                    out[z - za, y - ya, x] = rounded(float(src[zp, yp, xp]) - float(src[zm, ym, xm]), centre)


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
                    mags[k, j, x] = _magnitude(gzs[k, j, x], gys[k, j, x], gxs[k, j, x])
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


@numba.njit(inline="always")
def _neighbours(g, z, y, x, axis):
    """The voxels of ``g`` before and after ``(z, y, x)`` along ``axis``, the nearest one past the edge."""
    zb, yb, xb = _moved(g, z, y, x, axis, -1)
    za, ya, xa = _moved(g, z, y, x, axis, 1)
    return g[zb, yb, xb], g[za, ya, xa]


@numba.njit(inline="always")
def _central(before, after, inv):
    """Central first difference from the values ``before`` and ``after``, times ``inv`` (one over the
    spacing), in ITK's arithmetic."""
    return product(product(-0.5, float(before)) + product(0.5, float(after)), inv)


@numba.njit(inline="always")
def _first(g, z, y, x, axis, inv):
    """Central first difference of ``g`` at ``(z, y, x)`` along ``axis``, times ``inv``."""
    before, after = _neighbours(g, z, y, x, axis)
    return _central(before, after, inv)


@numba.njit(inline="always")
def _second(g, z, y, x, axis, inv):
    """Second difference ``g[-1] - 2 g + g[+1]`` along ``axis``, times ``inv²``."""
    before, after = _neighbours(g, z, y, x, axis)
    centre = product(2.0, float(g[z, y, x]))
    return product((float(before) - centre) + float(after), product(inv, inv))


@numba.njit(inline="always")
def _mixed(g, z, y, x, a, b, inv_a, inv_b):
    """Mixed difference along axes ``a`` and ``b``: the four diagonal neighbours over 4, in ITK's
    order (``a`` is ITK's i, the faster axis), times ``inv_a * inv_b``."""
    nz, ny, nx = g.shape
    value = 0.0
    for k in range(4):
        sa = -1 if k < 2 else 1
        sb = -1 if k % 2 == 0 else 1
        zz = min(max(z + sa * (a == 0) + sb * (b == 0), 0), nz - 1)
        yy = min(max(y + sa * (a == 1) + sb * (b == 1), 0), ny - 1)
        xx = min(max(x + sa * (a == 2) + sb * (b == 2), 0), nx - 1)
        term = product(0.25, float(g[zz, yy, xx]))
        value = value + term if sa == sb else value - term
    return product(value, product(inv_a, inv_b))


@numba.njit(inline="always")
def second_along_gradient_at(g, z, y, x, inv_z, inv_y, inv_x):
    """``L_vv`` at ``(z, y, x)``: the second derivative of ``g`` along its gradient, in float64."""
    dx = _first(g, z, y, x, 2, inv_x)
    dy = _first(g, z, y, x, 1, inv_y)
    dz = _first(g, z, y, x, 0, inv_z)
    deriv = 0.0
    deriv += product(product(product(2.0, dx), dy), _mixed(g, z, y, x, 2, 1, inv_x, inv_y))
    deriv += product(product(product(2.0, dx), dz), _mixed(g, z, y, x, 2, 0, inv_x, inv_z))
    deriv += product(product(product(2.0, dy), dz), _mixed(g, z, y, x, 1, 0, inv_y, inv_z))
    squared = 0.0001
    deriv += product(product(dx, dx), _second(g, z, y, x, 2, inv_x))
    squared += product(dx, dx)
    deriv += product(product(dy, dy), _second(g, z, y, x, 1, inv_y))
    squared += product(dy, dy)
    deriv += product(product(dz, dz), _second(g, z, y, x, 0, inv_z))
    squared += product(dz, dz)
    return deriv / squared


@numba.njit(inline="always")
def _crosses(this, that, later):
    """ITK's zero crossing between a voxel's ``this`` and a face neighbour's ``that``: opposite
    signs (or exactly one of them 0) and ``this`` the nearer to 0 (on a tie, the neighbour after it)."""
    if (this < 0 and that > 0) or (this > 0 and that < 0) or ((this == 0) != (that == 0)):
        return abs(this) < abs(that) or (abs(this) == abs(that) and later)
    return False


@numba.njit(inline="always")
def zero_crossing_at(g, z, y, x, inv_z, inv_y, inv_x, this, before, after):
    """The edge value at ``(z, y, x)``, float64: ``sqrt(|∇g|² + 1e-4)`` where ``L_vv`` (``this``
    there, ``before`` and ``after`` it along z, y, x: 3-tuples, at the nearest voxel past the edge)
    crosses zero towards a face neighbour and falls along the gradient; else 0."""
    crossing = (
        _crosses(this, before[0], False)
        or _crosses(this, before[1], False)
        or _crosses(this, before[2], False)
        or _crosses(this, after[0], True)
        or _crosses(this, after[1], True)
        or _crosses(this, after[2], True)
    )
    if not crossing:
        return 0.0
    dx = _first(g, z, y, x, 2, inv_x)
    dy = _first(g, z, y, x, 1, inv_y)
    dz = _first(g, z, y, x, 0, inv_z)
    magnitude = 0.0001
    magnitude += product(dx, dx)
    magnitude += product(dy, dy)
    magnitude += product(dz, dz)
    magnitude = math.sqrt(magnitude)
    along = 0.0
    along += product(_central(before[2], after[2], inv_x), dx / magnitude)
    along += product(_central(before[1], after[1], inv_y), dy / magnitude)
    along += product(_central(before[0], after[0], inv_z), dz / magnitude)
    return magnitude if along <= 0 else 0.0


@numba.njit(inline="always")
def edge_class(value, low, high):
    """0, or 1 where ``value > low``, 2 where also ``value > high``."""
    if not value > low:
        return 0
    return 2 if value > high else 1


@cpu_kernel
def _crossing_cpu(g, mask, inv_z, inv_y, inv_x, low, high, out):
    nz, ny, nx = g.shape
    count, block_z, block_y, blocks_y = _blocks(nz, ny)
    for index in numba.prange(count):
        z0, z1, y0, y1, zlo, zhi, ylo, yhi = _block(index, nz, ny, block_z, block_y, blocks_y)
        vv = np.empty((zhi - zlo, yhi - ylo, nx), dtype=g.dtype)
        for z in range(zlo, zhi):
            for y in range(ylo, yhi):
                for x in range(nx):
                    vv[z - zlo, y - ylo, x] = second_along_gradient_at(g, z, y, x, inv_z, inv_y, inv_x)
        for z in range(z0, z1):
            for y in range(y0, y1):
                for x in range(nx):
                    value = 0.0
                    if mask[z, y, x] != 0:
                        # (z, y, x) and its face neighbours (the nearest voxel past the edge) in vv
                        k, j = z - zlo, y - ylo
                        k0, j0, i0 = max(z - 1, 0) - zlo, max(y - 1, 0) - ylo, max(x - 1, 0)
                        k1, j1, i1 = min(z + 1, nz - 1) - zlo, min(y + 1, ny - 1) - ylo, min(x + 1, nx - 1)
                        before = (vv[k0, j, x], vv[k, j0, x], vv[k, j, i0])
                        after = (vv[k1, j, x], vv[k, j1, x], vv[k, j, i1])
                        this = vv[k, j, x]
                        value = zero_crossing_at(g, z, y, x, inv_z, inv_y, inv_x, this, before, after)
                    out[z, y, x] = edge_class(float(rounded(value, g[z, y, x])), low, high)


@numba.njit(inline="always")
def _second_rounded(g, z, y, x, inv_z, inv_y, inv_x):
    """``L_vv`` at ``(z, y, x)`` rounded to ``g``'s float type, as stored."""
    return rounded(second_along_gradient_at(g, z, y, x, inv_z, inv_y, inv_x), g[z, y, x])


_INV = "float64, float64, float64"
_CROSSING = f"void({_ARRAY}, {_CLASSES}, {_INV}, float64, float64, {_CLASSES})"


@cuda_kernel(_CROSSING.format(t="float32"), _CROSSING.format(t="float64"))
def _crossing_cuda(g, mask, inv_z, inv_y, inv_x, low, high, out):
    x, y, z = cuda.grid(3)
    if z < g.shape[0] and y < g.shape[1] and x < g.shape[2]:
        value = 0.0
        if mask[z, y, x] != 0:
            # L_vv at the voxel (k = 0), then before (k = 1, 2, 3) and after (4, 5, 6) it along z, y, x
            this = b0 = b1 = b2 = a0 = a1 = a2 = rounded(0.0, g[z, y, x])
            for k in range(7):  # one call site: a loop, not seven inlined copies
                axis = (k - 1) % 3
                zz, yy, xx = _moved(g, z, y, x, axis, 0 if k == 0 else (-1 if k < 4 else 1))
                if k > 0 and zz == z and yy == y and xx == x:
                    vv = this  # past the edge: the voxel itself
                else:
                    vv = _second_rounded(g, zz, yy, xx, inv_z, inv_y, inv_x)
                if k == 0:
                    this = vv
                elif k == 1:
                    b0 = vv
                elif k == 2:
                    b1 = vv
                elif k == 3:
                    b2 = vv
                elif k == 4:
                    a0 = vv
                elif k == 5:
                    a1 = vv
                else:
                    a2 = vv
            value = zero_crossing_at(g, z, y, x, inv_z, inv_y, inv_x, this, (b0, b1, b2), (a0, a1, a2))
        out[z, y, x] = edge_class(float(rounded(value, g[z, y, x])), low, high)


def zero_crossing_classes(smoothed, mask, inverse_spacing, low, high, out, *, target):
    """Write the classes of Canny's zero-crossing form into ``out``.

    Parameters
    ----------
    smoothed : 3D C-contiguous float32 or float64 array on the target's device
        The smoothed image (a 2D one as one slice).
    mask : 3D C-contiguous uint8 array
        Voxels that may be edges.
    inverse_spacing : three floats [1/mm]
        One over the spacing along z, y, x (1.0 each for voxel units).
    low, high : float
        Thresholds on the edge value (0 where no edge) in its float type, compared in float64.
    out : 3D C-contiguous uint8 array
        0 (value ``<= low``), 1 (``> low``), 2 (``> low`` and ``> high``).
    target : {"cpu", "cuda"}
    """
    args = (smoothed, mask, *(float(v) for v in inverse_spacing), float(low), float(high), out)
    if target == "cuda":
        launch_3d(_crossing_cuda, smoothed.shape, *args)
    else:
        _crossing_cpu(*args)
