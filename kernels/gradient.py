"""Fused 3D gradient: Sobel, Prewitt or Scharr derivatives along z, y, x and their magnitude in one pass.

Each derivative of the Sobel family is a central difference ``[-1, 0, 1]`` along its axis and a
smoothing ``[side, centre, side]`` along the others (Sobel ``[1, 2, 1]``, Prewitt ``[1, 1, 1]``,
Scharr ``[3, 10, 3]``), as in ``scipy.ndimage.sobel``. SciPy applies these as three separable passes
per derivative, nine passes for the gradient; here one pass reads the 27 neighbours of a voxel once
and writes one value (a derivative or the magnitude): 8 bytes moved per float32 voxel, the floor.

The 27 reads are grouped by row (fixed z', y'): each row gives its difference and its smoothed sum
along x, and the three derivatives are weighted sums of these nine pairs.

An axis of length one that the array does not really have (a 2D image seen as one slice) gets the
weights ``side = 0, centre = 1`` and a derivative scale of 0, so one kernel serves 1D, 2D and 3D.

Both targets compute a voxel with :func:`gradient_rows`: the CUDA target with one thread per voxel
(through :func:`gradient_at`, which maps the neighbours by the boundary mode), the CPU target in a
``prange`` loop over rows that maps the neighbour rows once per row and needs no mapping inside it.

The magnitude is ``sqrt`` of the sum of squares in the output's float type, except where that sum
overflows or may have lost digits to subnormal squares: there it is
:func:`~gpuimg.kernels.exact.magnitude`'s, rescaled by a power of two (:func:`_combine`). The CPU
rows compute the plain root without a branch (so they vectorise), flag a row where a sum of a
non-zero gradient is out of range and redo such a row voxel by voxel.
"""

import math

import numba

from .boundary import CONSTANT, neighbour
from .exact import least_squared, magnitude, rounded
from .registry import cpu_kernel, cuda, cuda_kernel, launch_3d

#: ``component`` value that asks for the magnitude rather than one derivative.
MAGNITUDE = -1


@numba.njit(inline="always")
def _row(src, z, y, x0, x1, x2, side, centre, zero):
    """Difference (x + 1 minus x - 1) and smoothed sum along x of one row of the neighbourhood.

    Adding ``zero`` (0 in the arithmetic's float type) converts each voxel to that type: compiled
    code would promote integers anyway, but the CUDA simulator runs the kernel on NumPy scalars,
    whose 16-bit arithmetic wraps around. The difference takes ``0 * b`` as SciPy's ``[-1, 0, 1]``
    does, so a NaN or inf voxel spreads to its own derivative as in SciPy.
    """
    a = src[z, y, x0] + zero
    b = src[z, y, x1] + zero
    c = src[z, y, x2] + zero
    return c + zero * b - a, side * (a + c) + centre * b


@numba.njit(inline="always")
def gradient_at(src, z, y, x, mode, cval, weights):
    """Unscaled derivatives ``(gz, gy, gx)`` at voxel ``(z, y, x)``.

    ``weights`` holds the smoothing weights ``(side, centre)`` of the z, y and x axes, flattened.
    """
    zero = weights[1] - weights[1]  # 0 in the arithmetic's float type (that of the weights)
    gz = gy = gx = zero
    if mode == CONSTANT:
        for axis in range(3):
            g = _constant_derivative(src, z, y, x, axis, cval, weights, zero)
            if axis == 0:
                gz = g
            elif axis == 1:
                gy = g
            else:
                gx = g
        return gz, gy, gx
    # Every other mode maps each neighbour to a voxel inside the volume.
    nz, ny, nx = src.shape
    return gradient_rows(
        src,
        (neighbour(z - 1, nz, mode), z, neighbour(z + 1, nz, mode)),
        (neighbour(y - 1, ny, mode), y, neighbour(y + 1, ny, mode)),
        (neighbour(x - 1, nx, mode), x, neighbour(x + 1, nx, mode)),
        weights,
    )


@numba.njit(inline="always")
def gradient_rows(src, zs3, ys3, xs3, weights):
    """Unscaled derivatives ``(gz, gy, gx)`` from the neighbourhood's indices, already mapped into
    the volume: ``zs3``, ``ys3`` and ``xs3`` hold the (before, centre, after) index along each axis."""
    zero = weights[1] - weights[1]
    gz = gy = gx = zero
    zs, zc, ys, yc, xs, xc = weights
    # Rows of weight 0 (an axis the image does not have) are skipped, not multiplied: 0 * inf is NaN.
    i_first = 1 if zs == 0 else 0
    j_first = 1 if ys == 0 else 0
    for i in range(i_first, 3 - i_first):
        zi = zs3[i]
        wz = zc if i == 1 else zs
        for j in range(j_first, 3 - j_first):
            yi = ys3[j]
            wy = yc if j == 1 else ys
            d, s = _row(src, zi, yi, xs3[0], xs3[1], xs3[2], xs, xc, zero)
            gx += wz * wy * d
            # The centre row enters each difference times 0, as in SciPy's [-1, 0, 1].
            if j == 0:
                gy -= wz * s
            elif j == 2:
                gy += wz * s
            else:
                gy += zero * s
            if i == 0:
                gz -= wy * s
            elif i == 2:
                gz += wy * s
            else:
                gz += zero * s
    return gz, gy, gx


@numba.njit(inline="always")
def _read(src, z, y, x, cval, zero):
    """``src[z, y, x]`` in the arithmetic's type, or ``cval`` for a position outside the volume."""
    if 0 <= z < src.shape[0] and 0 <= y < src.shape[1] and 0 <= x < src.shape[2]:
        return src[z, y, x] + zero
    return cval


@numba.njit(inline="always")
def _constant_derivative(src, z, y, x, axis, cval, weights, zero):
    """Derivative along ``axis`` in constant mode, in SciPy's order of passes.

    SciPy differentiates along ``axis``, then smooths along the other two axes in increasing
    order (``first``, then ``second``), and each pass reads ``cval`` past the edge of its own
    input: a neighbour outside the volume contributes ``cval`` itself to the pass that steps
    out, not the derivative or smoothing of a region of ``cval``. With ``cval = 0`` this equals
    the derivative of the image padded with zeros. A weight of 0 (an axis the image does not
    have) takes nothing from outside, so a NaN ``cval`` stays at the edges.
    """
    first = 1 if axis == 0 else 0
    second = 1 if axis == 2 else 2
    total = zero
    for k in range(-1, 2):
        zk = z + k * (second == 0)
        yk = y + k * (second == 1)
        xk = x + k * (second == 2)
        w_second = weights[2 * second + (k == 0)]
        inside = 0 <= zk < src.shape[0] and 0 <= yk < src.shape[1] and 0 <= xk < src.shape[2]
        if not inside:
            if w_second != 0:
                total += w_second * cval
            continue
        inner = zero
        for i in range(-1, 2):
            zi = zk + i * (first == 0)
            yi = yk + i * (first == 1)
            xi = xk + i * (first == 2)
            w_first = weights[2 * first + (i == 0)]
            if 0 <= zi < src.shape[0] and 0 <= yi < src.shape[1] and 0 <= xi < src.shape[2]:
                step_z, step_y, step_x = axis == 0, axis == 1, axis == 2
                after = _read(src, zi + step_z, yi + step_y, xi + step_x, cval, zero)
                before = _read(src, zi - step_z, yi - step_y, xi - step_x, cval, zero)
                inner += w_first * (after + zero * src[zi, yi, xi] - before)
            elif w_first != 0:
                inner += w_first * cval
        total += w_second * inner
    return total


@numba.njit(inline="always")
def _value(src, z, y, x, mode, cval, weights, scale, component):
    """One derivative times its scale, or the magnitude of the scaled derivatives, at a voxel."""
    gz, gy, gx = gradient_at(src, z, y, x, mode, cval, weights)
    return _combine(gz, gy, gx, scale, component)


@numba.njit(inline="always")
def _combine(gz, gy, gx, scale, component):
    """One derivative times its scale, or the magnitude of the scaled derivatives.

    A derivative of scale 0 is left out rather than multiplied by 0, which would turn an inf
    (from an axis the image does not have, or a derivative not asked for) into NaN. Where the sum
    of squares overflows or vanishes (:func:`_out_of_range`), the magnitude is
    :func:`~gpuimg.kernels.exact.magnitude`'s of the scaled derivatives, rescaled by a power of two.
    """
    if component != MAGNITUDE:
        return _derivative(gz, gy, gx, scale, component)
    total = _squares(gz, gy, gx, scale)
    if _out_of_range(total):
        zero = scale[0] - scale[0]
        return magnitude(
            gz * scale[0] if scale[0] != 0 else zero,
            gy * scale[1] if scale[1] != 0 else zero,
            gx * scale[2] if scale[2] != 0 else zero,
        )
    return math.sqrt(total)


@numba.njit(inline="always")
def _derivative(gz, gy, gx, scale, component):
    """The derivative along axis ``component`` (0, 1 or 2) times its scale."""
    if component == 0:
        return gz * scale[0]
    if component == 1:
        return gy * scale[1]
    return gx * scale[2]


@numba.njit(inline="always")
def _squares(gz, gy, gx, scale):
    """The sum of the squared scaled derivatives, those of scale 0 left out."""
    total = scale[0] - scale[0]
    if scale[0] != 0:
        total += gz * gz * (scale[0] * scale[0])
    if scale[1] != 0:
        total += gy * gy * (scale[1] * scale[1])
    if scale[2] != 0:
        total += gx * gx * (scale[2] * scale[2])
    return total


@numba.njit(inline="always")
def _out_of_range(total):
    """Whether a sum of squares overflowed (inf) or may have lost digits to subnormal squares (below
    :func:`~gpuimg.kernels.exact.least_squared`: 2**-100 in float32, 2**-996 in float64), compared in
    its own float type."""
    return (total < least_squared(total)) | (total == rounded(math.inf, total))


@numba.njit(inline="always")
def _pair(line, x, side, centre, zero):
    """:func:`_row` on a 1D row at an inner ``x``: difference and smoothed sum along x."""
    a = line[x - 1] + zero
    b = line[x] + zero
    c = line[x + 1] + zero
    return c + zero * b - a, side * (a + c) + centre * b


@numba.njit(inline="always")
def _inner_gradient(rows, x, weights, zero):
    """:func:`gradient_rows` at an inner ``x`` of the nine neighbour ``rows`` (z', y' in order),
    written out in the same order of operations (so the same numbers)."""
    zs, zc, ys, yc, xs, xc = weights
    d00, s00 = _pair(rows[0], x, xs, xc, zero)
    d01, s01 = _pair(rows[1], x, xs, xc, zero)
    d02, s02 = _pair(rows[2], x, xs, xc, zero)
    d10, s10 = _pair(rows[3], x, xs, xc, zero)
    d11, s11 = _pair(rows[4], x, xs, xc, zero)
    d12, s12 = _pair(rows[5], x, xs, xc, zero)
    d20, s20 = _pair(rows[6], x, xs, xc, zero)
    d21, s21 = _pair(rows[7], x, xs, xc, zero)
    d22, s22 = _pair(rows[8], x, xs, xc, zero)
    gx = zero + zs * ys * d00 + zs * yc * d01 + zs * ys * d02
    gx = gx + zc * ys * d10 + zc * yc * d11 + zc * ys * d12
    gx = gx + zs * ys * d20 + zs * yc * d21 + zs * ys * d22
    gy = zero - zs * s00 + zero * s01 + zs * s02
    gy = gy - zc * s10 + zero * s11 + zc * s12
    gy = gy - zs * s20 + zero * s21 + zs * s22
    gz = zero - ys * s00 - yc * s01 - ys * s02
    gz = gz + zero * s10 + zero * s11 + zero * s12
    gz = gz + ys * s20 + yc * s21 + ys * s22
    return gz, gy, gx


@numba.njit(inline="always")
def _inner_row(src, out, z, y, zs3, ys3, weights, scale, component):
    """The inner voxels ``1 .. nx - 2`` of row ``(z, y)`` of a volume with three real axes, by
    :func:`_inner_gradient`: no index mapping or loop over rows is left in the x loop, and no
    branch, so it vectorises. The magnitude is the square root of :func:`_squares` there; returns
    whether a sum of squares of a non-zero gradient was out of range (:func:`_out_of_range`), where
    the caller redoes the row by :func:`_combine`.
    """
    zero = weights[1] - weights[1]
    rows = (
        src[zs3[0], ys3[0]],
        src[zs3[0], ys3[1]],
        src[zs3[0], ys3[2]],
        src[zs3[1], ys3[0]],
        src[zs3[1], ys3[1]],
        src[zs3[1], ys3[2]],
        src[zs3[2], ys3[0]],
        src[zs3[2], ys3[1]],
        src[zs3[2], ys3[2]],
    )
    line = out[z, y]
    if component != MAGNITUDE:
        for x in range(1, src.shape[2] - 1):
            gz, gy, gx = _inner_gradient(rows, x, weights, zero)
            line[x] = _derivative(gz, gy, gx, scale, component)
        return False
    out_of_range = False
    for x in range(1, src.shape[2] - 1):
        gz, gy, gx = _inner_gradient(rows, x, weights, zero)
        total = _squares(gz, gy, gx, scale)
        line[x] = math.sqrt(total)
        out_of_range |= _out_of_range(total) & ((gz != zero) | (gy != zero) | (gx != zero))
    return out_of_range


@numba.njit
def _gradient_row(src, out, z, y, fast, mode, cval, weights, scale, component):
    """Row (z, y). Where all three axes are real and the mode maps neighbours into the volume
    (``fast``), the row's neighbour rows are mapped once and its inner voxels need no mapping
    (:func:`_inner_row`); the two end voxels, constant mode and flat axes go voxel by voxel.

    A function of its own, called by the parallel loop rather than written in it: Numba's parfor
    passes then work on a loop body of one call instead of every helper inlined (a third of the
    compile time, the same machine code per row).
    """
    nz, ny, nx = src.shape
    if not fast:
        for x in range(nx):
            out[z, y, x] = _value(src, z, y, x, mode, cval, weights, scale, component)
        return
    zs3 = (neighbour(z - 1, nz, mode), z, neighbour(z + 1, nz, mode))
    ys3 = (neighbour(y - 1, ny, mode), y, neighbour(y + 1, ny, mode))
    for x in (0, nx - 1):
        xs3 = (neighbour(x - 1, nx, mode), x, neighbour(x + 1, nx, mode))
        gz, gy, gx = gradient_rows(src, zs3, ys3, xs3, weights)
        out[z, y, x] = _combine(gz, gy, gx, scale, component)
    if _inner_row(src, out, z, y, zs3, ys3, weights, scale, component):
        for x in range(1, nx - 1):  # rare: the row again, voxel by voxel, with _combine's rescaling
            gz, gy, gx = gradient_rows(src, zs3, ys3, (x - 1, x, x + 1), weights)
            out[z, y, x] = _combine(gz, gy, gx, scale, component)


@cpu_kernel
def _gradient_cpu(src, out, mode, cval, weights, scale, component):
    """One row (z, y) per iteration, by :func:`_gradient_row`."""
    nz, ny, nx = src.shape
    fast = mode != CONSTANT and nx >= 3 and weights[0] != 0 and weights[2] != 0
    for row in numba.prange(nz * ny):
        z = row // ny
        _gradient_row(src, out, z, row - z * ny, fast, mode, cval, weights, scale, component)


_ARGS = "int64, {t}, UniTuple({t}, 6), UniTuple({t}, 3), int64"


@cuda_kernel(
    f"void(float32[:, :, ::1], float32[:, :, ::1], {_ARGS.format(t='float32')})",
    f"void(int16[:, :, ::1], float32[:, :, ::1], {_ARGS.format(t='float32')})",
    f"void(float64[:, :, ::1], float64[:, :, ::1], {_ARGS.format(t='float64')})",
)
def _gradient_cuda(src, out, mode, cval, weights, scale, component):
    x, y, z = cuda.grid(3)
    if z < src.shape[0] and y < src.shape[1] and x < src.shape[2]:
        out[z, y, x] = _value(src, z, y, x, mode, cval, weights, scale, component)


def gradient(src, out, *, target, mode, cval, weights, scale, component=MAGNITUDE):
    """Write a derivative or the gradient magnitude of the 3D array ``src`` into ``out``.

    Parameters
    ----------
    src, out : 3D C-contiguous arrays on the target's device
        ``out`` has the float dtype of the arithmetic (float32 or float64).
    target : {"cpu", "cuda"}
    mode : int
        A boundary mode number from :mod:`gpuimg.kernels.boundary`.
    cval : scalar
        The value outside the volume in constant mode.
    weights : tuple of 6 floats
        Smoothing ``(side, centre)`` for z, y and x.
    scale : tuple of 3 floats
        Factor on each derivative ``(z, y, x)``: the inverse spacing, 0 to leave a derivative out.
    component : int
        0, 1 or 2 for the derivative along z, y or x; :data:`MAGNITUDE` for the magnitude.
    """
    if target == "cuda":
        launch_3d(_gradient_cuda, src.shape, src, out, mode, cval, weights, scale, component)
    else:
        _gradient_cpu(src, out, mode, cval, weights, scale, component)
