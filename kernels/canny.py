"""Canny's edge localisation in 2D and 3D, two ways: non-maximum suppression of the gradient
magnitude (scikit-image's), and zero crossings of the second derivative along the gradient (ITK's).

**Non-maximum suppression.** From voxel ``p`` with gradient ``g``, the neighbours compared are at
``p ± g / max|g_a|``: the step along the dominant axis ``a`` is one voxel, so the point lies on a face
of the 3x3(x3) neighbourhood and its magnitude is the bilinear interpolation of the four voxels of
that face around it (weights ``|g_b| / |g_a|`` and ``|g_c| / |g_a|`` along the other two axes). In 2D
(a volume of one slice, with ``gz = 0``) this is scikit-image's ``_nonmaximum_suppression_bilinear``
exactly, in the same arithmetic: the weight in the gradient's float type, ``n1 * w + n0 * (1.0 - w)``
promoted to float64, a voxel kept where both sides are ``<=`` its magnitude and the magnitude is
``>= low``.

Bytes moved per voxel (float32): 4 gradient and magnitude reads, 1 mask byte, 1 write = 21 bytes;
the magnitude's neighbours come from cache. At 3.3 TB/s (H100) a 256³ volume moves 350 MB: a floor
of about 0.1 ms.

**Zero crossings** (Canny's differential form, as Lindeberg writes it and ITK's
``CannyEdgeDetectionImageFilter`` computes it). First pass: the second derivative along the gradient
``L_vv = (sum_i L_i² L_ii + 2 sum_i<j L_i L_j L_ij) / (|∇L|² + 1e-4)`` from central differences
(``L_i = (L[+1] - L[-1]) / 2``, ``L_ii = L[-1] - 2 L + L[+1]``, ``L_ij`` the four diagonal
neighbours over 4). Second pass: a voxel is an edge candidate, valued ``sqrt(|∇L|² + 1e-4)``, where
``L_vv`` changes sign towards one of its 2 x ndim face neighbours and is there the smaller in
absolute value (ties go to the voxel before the neighbour along the axis), and where the derivative
of ``L_vv`` along the gradient is ``<= 0`` (a maximum of the magnitude, not a minimum). Reads past
the volume's edge take the nearest voxel (ITK's zero-flux boundary); the 1e-4 is ITK's, in squared
intensity units (per mm² with a spacing). The arithmetic is float64 in ITK's order of operations
(its axis 0 is our last axis), stored in the arrays' float type.

Bytes moved per voxel (float32): the first pass reads the smoothed image and writes ``L_vv`` (8
bytes); the second reads both, the mask and writes the edge value (13 bytes); neighbours come from
cache. 21 bytes per voxel, as the suppression above: about 0.1 ms for 256³ at 3.3 TB/s.

Both targets of each pass call one ``numba.njit(inline="always")`` function per voxel: the CPU
target in a ``prange`` loop over rows, the CUDA target with one thread per voxel. For the
suppression, voxels next to the volume's edge must be outside ``mask`` (the caller's eroded mask
is): its stencil reads one voxel on every side.
"""

import math

import numba
from numba import cuda

from .exact import product
from .registry import cpu_kernel, cuda_kernel, launch_3d


@numba.njit(inline="always")
def _side(mag, z, y, x, a, b, c, sa, sb, sc, wb, wc):
    """Magnitude interpolated at ``(z, y, x)`` plus ``sa`` along axis ``a`` and fractions ``wb``
    (sign ``sb``) along ``b`` and ``wc`` (sign ``sc``) along ``c``; a step of 0 where its weight is 0,
    so that an axis of length 1 is never read past."""
    dz = sa * (a == 0)
    dy = sa * (a == 1)
    dx = sa * (a == 2)
    bz = sb * (b == 0)
    by = sb * (b == 1)
    bx = sb * (b == 2)
    cz = sc * (c == 0)
    cy = sc * (c == 1)
    cx = sc * (c == 2)
    n00 = mag[z + dz, y + dy, x + dx]
    n01 = mag[z + dz + bz, y + dy + by, x + dx + bx]
    n10 = mag[z + dz + cz, y + dy + cy, x + dx + cx]
    n11 = mag[z + dz + bz + cz, y + dy + by + cy, x + dx + bx + cx]
    row0 = product(n01, wb) + product(n00, 1.0 - wb)
    row1 = product(n11, wb) + product(n10, 1.0 - wb)
    return product(row0, 1.0 - wc) + product(row1, wc)


@numba.njit(inline="always")
def suppress_at(gz, gy, gx, mag, mask, low, z, y, x):
    """The magnitude at ``(z, y, x)`` if it is kept (inside ``mask``, ``>= low`` and a maximum along
    the gradient), else 0."""
    m = mag[z, y, x]
    zero = m - m
    if mask[z, y, x] == 0 or not m >= low:
        return zero
    vz = gz[z, y, x]
    vy = gy[z, y, x]
    vx = gx[z, y, x]
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
        if not _side(mag, z, y, x, a, b, c, sign * sa, sign * sb, sign * sc, wb, wc) <= m:
            return zero
    return m


@cpu_kernel
def _suppress_cpu(gz, gy, gx, mag, mask, low, out):
    nz, ny, nx = mag.shape
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            out[z, y, x] = suppress_at(gz, gy, gx, mag, mask, low, z, y, x)


_ARRAY = "{t}[:, :, ::1]"
_SIGNATURE = f"void({_ARRAY}, {_ARRAY}, {_ARRAY}, {_ARRAY}, uint8[:, :, ::1], float64, {_ARRAY})"


@cuda_kernel(_SIGNATURE.format(t="float32"), _SIGNATURE.format(t="float64"))
def _suppress_cuda(gz, gy, gx, mag, mask, low, out):
    x, y, z = cuda.grid(3)
    if z < mag.shape[0] and y < mag.shape[1] and x < mag.shape[2]:
        out[z, y, x] = suppress_at(gz, gy, gx, mag, mask, low, z, y, x)


def nonmaximum_suppression(gz, gy, gx, mag, mask, low, out, *, target):
    """Write the magnitude kept by non-maximum suppression (0 elsewhere) into ``out``.

    Parameters
    ----------
    gz, gy, gx, mag, out : 3D C-contiguous float32 or float64 arrays on the target's device
        The derivatives along z, y and x (``gz`` all 0 for a 2D image seen as one slice), the
        gradient magnitude and the result, all of one dtype.
    mask : 3D C-contiguous uint8 array
        Voxels to consider; 0 on every voxel next to the volume's edge.
    low : float
        Voxels of magnitude below ``low`` are 0.
    target : {"cpu", "cuda"}
    """
    if target == "cuda":
        launch_3d(_suppress_cuda, mag.shape, gz, gy, gx, mag, mask, float(low), out)
    else:
        _suppress_cpu(gz, gy, gx, mag, mask, float(low), out)


@numba.njit(inline="always")
def _neighbours(g, z, y, x, axis):
    """The voxels of ``g`` before and after ``(z, y, x)`` along ``axis``, the nearest one past the edge."""
    nz, ny, nx = g.shape
    if axis == 0:
        return g[max(z - 1, 0), y, x], g[min(z + 1, nz - 1), y, x]
    if axis == 1:
        return g[z, max(y - 1, 0), x], g[z, min(y + 1, ny - 1), x]
    return g[z, y, max(x - 1, 0)], g[z, y, min(x + 1, nx - 1)]


@numba.njit(inline="always")
def _first(g, z, y, x, axis, inv):
    """Central first difference of ``g`` at ``(z, y, x)`` along ``axis``, times ``inv`` (one over
    the spacing), in ITK's arithmetic."""
    before, after = _neighbours(g, z, y, x, axis)
    return (-0.5 * before + 0.5 * after) * inv


@numba.njit(inline="always")
def _second(g, z, y, x, axis, inv):
    """Second difference ``g[-1] - 2 g + g[+1]`` along ``axis``, times ``inv²``."""
    before, after = _neighbours(g, z, y, x, axis)
    return (before - 2.0 * g[z, y, x] + after) * (inv * inv)


@numba.njit(inline="always")
def _mixed(g, z, y, x, a, b, inv_a, inv_b):
    """Mixed difference along axes ``a`` and ``b``: the four diagonal neighbours over 4, in ITK's
    order (``a`` is ITK's i, the faster axis), times ``inv_a * inv_b``."""
    nz, ny, nx = g.shape
    value = 0.0
    for k in range(4):
        sa = -1 if k < 2 else 1
        sb = -1 if k % 2 == 0 else 1
        zz = z + sa * (a == 0) + sb * (b == 0)
        yy = y + sa * (a == 1) + sb * (b == 1)
        xx = x + sa * (a == 2) + sb * (b == 2)
        term = 0.25 * g[min(max(zz, 0), nz - 1), min(max(yy, 0), ny - 1), min(max(xx, 0), nx - 1)]
        value = value + term if sa == sb else value - term
    return value * (inv_a * inv_b)


@numba.njit(inline="always")
def second_along_gradient_at(g, z, y, x, inv_z, inv_y, inv_x):
    """``L_vv`` at ``(z, y, x)``: the second derivative of ``g`` along its gradient."""
    dx = _first(g, z, y, x, 2, inv_x)
    dy = _first(g, z, y, x, 1, inv_y)
    dz = _first(g, z, y, x, 0, inv_z)
    deriv = 0.0
    deriv += 2.0 * dx * dy * _mixed(g, z, y, x, 2, 1, inv_x, inv_y)
    deriv += 2.0 * dx * dz * _mixed(g, z, y, x, 2, 0, inv_x, inv_z)
    deriv += 2.0 * dy * dz * _mixed(g, z, y, x, 1, 0, inv_y, inv_z)
    squared = 0.0001
    deriv += dx * dx * _second(g, z, y, x, 2, inv_x)
    squared += dx * dx
    deriv += dy * dy * _second(g, z, y, x, 1, inv_y)
    squared += dy * dy
    deriv += dz * dz * _second(g, z, y, x, 0, inv_z)
    squared += dz * dz
    return deriv / squared


@numba.njit(inline="always")
def _crosses(this, that, later):
    """ITK's zero crossing between a voxel's ``this`` and a face neighbour's ``that``: opposite
    signs (or exactly one of them 0) and ``this`` the nearer to 0 (on a tie, the neighbour after it)."""
    if (this < 0 and that > 0) or (this > 0 and that < 0) or ((this == 0) != (that == 0)):
        return abs(this) < abs(that) or (abs(this) == abs(that) and later)
    return False


@numba.njit(inline="always")
def zero_crossing_at(g, vv, mask, z, y, x, inv_z, inv_y, inv_x):
    """The edge value at ``(z, y, x)``: ``sqrt(|∇g|² + 1e-4)`` where ``vv`` (``L_vv``) crosses zero
    towards a face neighbour and falls along the gradient, inside ``mask``; else 0."""
    if mask[z, y, x] == 0:
        return 0.0
    nz, ny, nx = vv.shape
    this = vv[z, y, x]
    crossing = False
    for k in range(6):
        axis = k % 3
        step = -1 if k < 3 else 1
        zz = min(max(z + step * (axis == 0), 0), nz - 1)
        yy = min(max(y + step * (axis == 1), 0), ny - 1)
        xx = min(max(x + step * (axis == 2), 0), nx - 1)
        if _crosses(this, vv[zz, yy, xx], step > 0):
            crossing = True
            break
    if not crossing:
        return 0.0
    dx = _first(g, z, y, x, 2, inv_x)
    dy = _first(g, z, y, x, 1, inv_y)
    dz = _first(g, z, y, x, 0, inv_z)
    magnitude = 0.0001
    magnitude += dx * dx
    magnitude += dy * dy
    magnitude += dz * dz
    magnitude = math.sqrt(magnitude)
    along = 0.0
    along += _first(vv, z, y, x, 2, inv_x) * (dx / magnitude)
    along += _first(vv, z, y, x, 1, inv_y) * (dy / magnitude)
    along += _first(vv, z, y, x, 0, inv_z) * (dz / magnitude)
    return magnitude if along <= 0 else 0.0


@cpu_kernel
def _second_cpu(g, inv_z, inv_y, inv_x, out):
    nz, ny, nx = g.shape
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            out[z, y, x] = second_along_gradient_at(g, z, y, x, inv_z, inv_y, inv_x)


@cpu_kernel
def _crossing_cpu(g, vv, mask, inv_z, inv_y, inv_x, out):
    nz, ny, nx = g.shape
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            out[z, y, x] = zero_crossing_at(g, vv, mask, z, y, x, inv_z, inv_y, inv_x)


_INV = "float64, float64, float64"


@cuda_kernel(
    f"void({_ARRAY.format(t='float32')}, {_INV}, {_ARRAY.format(t='float32')})",
    f"void({_ARRAY.format(t='float64')}, {_INV}, {_ARRAY.format(t='float64')})",
)
def _second_cuda(g, inv_z, inv_y, inv_x, out):
    x, y, z = cuda.grid(3)
    if z < g.shape[0] and y < g.shape[1] and x < g.shape[2]:
        out[z, y, x] = second_along_gradient_at(g, z, y, x, inv_z, inv_y, inv_x)


_CROSSING = "void({t}[:, :, ::1], {t}[:, :, ::1], uint8[:, :, ::1], " + _INV + ", {t}[:, :, ::1])"


@cuda_kernel(_CROSSING.format(t="float32"), _CROSSING.format(t="float64"))
def _crossing_cuda(g, vv, mask, inv_z, inv_y, inv_x, out):
    x, y, z = cuda.grid(3)
    if z < g.shape[0] and y < g.shape[1] and x < g.shape[2]:
        out[z, y, x] = zero_crossing_at(g, vv, mask, z, y, x, inv_z, inv_y, inv_x)


def zero_crossing_edges(smoothed, mask, inverse_spacing, vv, out, *, target):
    """Write the edge value of Canny's zero-crossing form (0 where no edge) into ``out``.

    Parameters
    ----------
    smoothed, vv, out : 3D C-contiguous float32 or float64 arrays on the target's device
        The smoothed image (a 2D one as one slice), scratch space for its second derivative along
        the gradient, and the result, all of one dtype.
    mask : 3D C-contiguous uint8 array
        Voxels that may be edges.
    inverse_spacing : three floats [1/mm]
        One over the spacing along z, y, x (1.0 each for voxel units).
    target : {"cpu", "cuda"}
    """
    inv = tuple(float(v) for v in inverse_spacing)
    if target == "cuda":
        launch_3d(_second_cuda, smoothed.shape, smoothed, *inv, vv)
        launch_3d(_crossing_cuda, smoothed.shape, smoothed, vv, mask, *inv, out)
    else:
        _second_cpu(smoothed, *inv, vv)
        _crossing_cpu(smoothed, vv, mask, *inv, out)
