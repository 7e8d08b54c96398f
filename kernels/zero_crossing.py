"""Canny's edge localisation by zero crossings of the second derivative along the gradient
(Canny's differential form, ITK's), in 2D and 3D; the other way, non-maximum suppression, and the
classes both write are in :mod:`gpuimg.kernels.canny`.

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

Both targets call the same ``numba.njit(inline="always")`` functions per voxel: the CPU target
in a ``prange`` loop over blocks, the CUDA target with one thread per voxel. Their products are
:func:`~gpuimg.kernels.exact.product`, never fused with the additions that follow them, and their
roundings :func:`~gpuimg.kernels.exact.rounded`, so both targets give the CPU's numbers (values are
converted with ``float()`` before float64 arithmetic, so that the CUDA simulator, which runs this
code on NumPy scalars, computes in float64 too).
"""

import math

import numba
import numpy as np

from .canny import _ARRAY, _CLASSES, _block, _blocks, _moved
from .exact import magnitude, product, rounded
from .registry import cpu_kernel, cuda, cuda_kernel, launch_3d


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


@numba.njit(inline="always")
def _central_difference(g, z, y, x, axis):
    """SciPy's ``correlate1d`` of ``g`` with ``[-0.5, 0, 0.5]`` along ``axis`` at ``(z, y, x)`` (the
    nearest voxel past the edge), in its antisymmetric form ``0 * centre + (before - after) * -0.5``
    in float64, rounded to ``g``'s float type."""
    before, after = _neighbours(g, z, y, x, axis)
    centre = g[z, y, x]
    return rounded(product(0.0, float(centre)) + product(float(before) - float(after), -0.5), centre)


@numba.njit(inline="always")
def central_magnitude_at(g, z, y, x, planar):
    """``sqrt(|∇g|² + 1e-4)`` at ``(z, y, x)`` from :func:`_central_difference`, in ``g``'s float type
    as NumPy's array arithmetic gives it (``d0² + 1e-4``, then ``+ d1²``, ``+ d2²``); ``planar``: ``g``
    is a 2D image as one slice, with no z derivative. Where the squares overflow (a finite gradient
    beyond about 1.8e19 in float32), :func:`~gpuimg.kernels.exact.magnitude`'s rescaled root, which
    the 1e-4 no longer changes."""
    like = g[z, y, x]
    dz = rounded(0.0, like) if planar else _central_difference(g, z, y, x, 0)
    dy = _central_difference(g, z, y, x, 1)
    dx = _central_difference(g, z, y, x, 2)
    squared = product(dz, dz) + rounded(0.0001, like)
    squared = squared + product(dy, dy)
    squared = squared + product(dx, dx)
    if squared == math.inf:
        return magnitude(dz, dy, dx)
    return rounded(math.sqrt(float(squared)), like)


@cpu_kernel
def _central_magnitude_cpu(g, planar, out):
    nz, ny, nx = g.shape
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        for x in range(nx):
            out[z, y, x] = central_magnitude_at(g, z, y, x, planar)


_CENTRAL = f"void({_ARRAY}, boolean, {_ARRAY})"


@cuda_kernel(_CENTRAL.format(t="float32"), _CENTRAL.format(t="float64"))
def _central_magnitude_cuda(g, planar, out):
    x, y, z = cuda.grid(3)
    if z < g.shape[0] and y < g.shape[1] and x < g.shape[2]:
        out[z, y, x] = central_magnitude_at(g, z, y, x, planar)


def central_magnitude(smoothed, planar, out, *, target):
    """Write ``sqrt(|∇L|² + 1e-4)`` of ``smoothed`` from central differences into ``out`` (for
    quantile thresholds): what the edge values are, in the image's float type.

    Parameters
    ----------
    smoothed, out : 3D C-contiguous float32 or float64 arrays of one dtype, on the target's device
    planar : bool
        ``smoothed`` is a 2D image (y, x) seen as one slice: no derivative along z.
    target : {"cpu", "cuda"}
    """
    if target == "cuda":
        launch_3d(_central_magnitude_cuda, smoothed.shape, smoothed, bool(planar), out)
    else:
        _central_magnitude_cpu(smoothed, bool(planar), out)
