"""An affine map of a 3D volume, orders 0 and 1: SciPy's ``ndimage.affine_transform`` value for value.

Output voxel ``(k, j, i)`` is read at the continuous input index ``c = matrix @ (k, j, i) + offset``.
:func:`affine_transform` forms ``c`` as SciPy's C code (``NI_GeometricTransform``) does, for each axis
``((offset + k m0) + j m1) + i m2`` in float64 (the first two terms once a row), and follows it from
there: the boundary ``mode`` maps a ``c`` outside ``[0, n - 1]`` (``map_coordinate``), order 0 reads
the voxel ``floor(c + 0.5)``, order 1 the 8 voxels from ``floor(c)`` with the weights ``w0 = 1 - (c -
floor(c))`` and ``w1 = 1 - w0``, each value times its weights along z, y then x, summed in C order
from 0.0, and a footprint voxel outside the volume is taken from SciPy's index mapping of the mode
(mirror for "constant" and "wrap") or is ``cval`` ("grid-constant"). So the result is SciPy's to the
bit wherever the compiler keeps the float64 operations as written (Numba neither reorders nor fuses
them without ``fastmath``); :func:`gpuimg.preprocess.resample`'s tests compare it with SciPy itself.

Besides SciPy's boundary modes, the voxels whose index lies past the input's outer voxel edges can
be given ``cval`` in the same pass (``resample(reference=)``'s rule): the caller gives, per image axis
and output slice, the bounds that the part of the index over the slice's rows and columns,
``(0 + e1 j) + e2 i``, must lie within (:func:`gpuimg._regrid.past_the_edges`' comparison).

CPU only: on the GPU ``resample`` calls cupyx's ``affine_transform``. Two passes, each sharing the
output slices out among the Numba threads: :func:`_within_cpu` the voxels whose footprint lies within
the volume (no boundary test, no call: the bulk), then :func:`_near_edge_cpu` the few others, at the
ends of their rows.

Work: 8 reads, 24 multiplications and 8 additions a voxel for order 1; one read for order 0.
"""

import numba
import numpy as np

from . import boundary
from .boundary import CONSTANT, MIRROR, NEAREST, REFLECT, WRAP
from .registry import cpu_kernel, threads_for

#: SciPy's modes that :mod:`.boundary` has no number for: "grid-wrap" (period ``n``, where SciPy's
#: "wrap" has period ``n - 1``) and "grid-constant" (``cval`` read for the footprint outside).
GRID_WRAP = 5
GRID_CONSTANT = 6

#: SciPy's mode names to the numbers :func:`affine_transform` takes: :mod:`.boundary`'s, where the two
#: ``grid-`` modes differ from the filters' (whose "grid-wrap" is "wrap" and "grid-constant" "constant").
MODES = {**boundary.MODES, "grid-wrap": GRID_WRAP, "grid-constant": GRID_CONSTANT}


@numba.njit
def _map_coordinate(x, n, mode):
    """SciPy's ``map_coordinate``: ``x`` outside ``[0, n - 1]`` mapped into it by ``mode``; -1.0 for
    "constant". ``int()`` truncates toward zero, as C's casts do."""
    if x < 0:
        if n <= 1:
            return 0.0 if mode != CONSTANT else -1.0
        if mode == MIRROR:
            sz2 = 2 * n - 2
            x = sz2 * int(-x / sz2) + x
            return x + sz2 if x <= 1 - n else -x
        if mode == REFLECT:
            sz2 = 2 * n
            if x < -sz2:
                x = sz2 * int(-x / sz2) + x
            if x < -n:
                return x + sz2
            return (1e-15 if x > -1e-15 else -x) - 1
        if mode == WRAP:
            sz = n - 1
            return x + sz * (int(-x / sz) + 1)
        if mode == GRID_WRAP:
            return x + n * (int((-1 - x) / n) + 1)
        if mode == NEAREST:
            return 0.0
        return -1.0
    if x > n - 1:
        if n <= 1:
            return 0.0 if mode != CONSTANT else -1.0
        if mode == MIRROR:
            sz2 = 2 * n - 2
            x -= sz2 * int(x / sz2)
            return sz2 - x if x >= n else x
        if mode == REFLECT:
            sz2 = 2 * n
            x -= sz2 * int(x / sz2)
            return sz2 - x - 1 if x >= n else x
        if mode == WRAP:
            sz = n - 1
            return x - sz * int(x / sz)
        if mode == GRID_WRAP:
            return x - n * int(x / n)
        if mode == NEAREST:
            return float(n - 1)
        return -1.0
    return x


@numba.njit
def _footprint(c, n, order, mode):
    """Along one axis, as SciPy: whether the voxel is ``cval`` (a "constant" index outside), the
    footprint's two indices (-1 for ``cval``; the second unused for order 0) and its weights."""
    if mode != GRID_CONSTANT and mode != NEAREST:
        c = _map_coordinate(c, n, mode)
        if not c > -1.0:
            return True, 0, 0, 0.0, 0.0
    floor = np.floor(c) if order == 1 else np.floor(c + 0.5)
    start = int(floor)
    first, second = start, start + 1
    if mode == GRID_CONSTANT:
        first = first if 0 <= first < n else -1
        second = second if 0 <= second < n else -1
    elif start < 0 or start + order >= n:
        # SciPy's index mapping of the footprint: "constant" and "wrap" mirror.
        spline = MIRROR if mode == CONSTANT or mode == WRAP else mode
        first = int(_map_coordinate(float(first), n, spline))
        second = int(_map_coordinate(float(second), n, spline))
    near = 1.0 - (c - np.floor(c))
    return False, first, second, near, 1.0 - near


@numba.njit(inline="always")
def _at(data, z, y, x, cval):
    """The voxel, or ``cval`` where an index is -1 ("grid-constant" outside the volume)."""
    if z < 0 or y < 0 or x < 0:
        return cval
    return np.float64(data[z, y, x])


@numba.njit
def _anywhere(data, c0, c1, c2, order, mode, cval):
    """The value at the continuous index ``(c0, c1, c2)`` anywhere, the boundary mode applied."""
    nz, ny, nx = data.shape
    out0, z0, z1, wz0, wz1 = _footprint(c0, nz, order, mode)
    out1, y0, y1, wy0, wy1 = _footprint(c1, ny, order, mode)
    out2, x0, x1, wx0, wx1 = _footprint(c2, nx, order, mode)
    if out0 or out1 or out2:
        return cval
    if order == 0:
        return 0.0 + _at(data, z0, y0, x0, cval)
    t = 0.0
    t += ((_at(data, z0, y0, x0, cval) * wz0) * wy0) * wx0
    t += ((_at(data, z0, y0, x1, cval) * wz0) * wy0) * wx1
    t += ((_at(data, z0, y1, x0, cval) * wz0) * wy1) * wx0
    t += ((_at(data, z0, y1, x1, cval) * wz0) * wy1) * wx1
    t += ((_at(data, z1, y0, x0, cval) * wz1) * wy0) * wx0
    t += ((_at(data, z1, y0, x1, cval) * wz1) * wy0) * wx1
    t += ((_at(data, z1, y1, x0, cval) * wz1) * wy1) * wx0
    t += ((_at(data, z1, y1, x1, cval) * wz1) * wy1) * wx1
    return t


@numba.njit(inline="always")
def _inside(c0, c1, c2, top0, top1, top2, order):
    """Whether every index the footprint at ``(c0, c1, c2)`` reads lies within the volume, no mode to
    apply: ``0 <= c <= top`` (order 0), ``0 <= c < top + 1`` (order 1), ``top`` the last index less the
    order."""
    if order == 0:
        return 0.0 <= c0 <= top0 and 0.0 <= c1 <= top1 and 0.0 <= c2 <= top2
    return 0.0 <= c0 < top0 + 1 and 0.0 <= c1 < top1 + 1 and 0.0 <= c2 < top2 + 1


@numba.njit(inline="always")
def _within(flat, c0, c1, c2, sz, sy):
    """The trilinear value at ``(c0, c1, c2)``, every axis in ``[0, n - 1)`` (no boundary to apply), of
    the volume raveled into ``flat`` with ``sz`` voxels a slice and ``sy`` a row."""
    f0, f1, f2 = np.floor(c0), np.floor(c1), np.floor(c2)
    p = int(f0) * sz + int(f1) * sy + int(f2)
    wz0 = 1.0 - (c0 - f0)
    wy0 = 1.0 - (c1 - f1)
    wx0 = 1.0 - (c2 - f2)
    wz1, wy1, wx1 = 1.0 - wz0, 1.0 - wy0, 1.0 - wx0
    t = 0.0
    t += ((np.float64(flat[p]) * wz0) * wy0) * wx0
    t += ((np.float64(flat[p + 1]) * wz0) * wy0) * wx1
    t += ((np.float64(flat[p + sy]) * wz0) * wy1) * wx0
    t += ((np.float64(flat[p + sy + 1]) * wz0) * wy1) * wx1
    t += ((np.float64(flat[p + sz]) * wz1) * wy0) * wx0
    t += ((np.float64(flat[p + sz + 1]) * wz1) * wy0) * wx1
    t += ((np.float64(flat[p + sz + sy]) * wz1) * wy1) * wx0
    t += ((np.float64(flat[p + sz + sy + 1]) * wz1) * wy1) * wx1
    return t


@numba.njit(inline="always")
def _leading(e, g, bound, n, below, holds):
    """How many leading ``i`` of ``[0, n)`` have ``e + g i`` below ``bound`` (``below``) or above it, where
    ``holds``; else how many do not. Bisection: ``e + g i`` is monotone in ``i`` (a rounded product and
    sum are), so such a test holds on a prefix or a suffix of the row."""
    first, last = 0, n
    while first < last:
        mid = (first + last) // 2
        p = e + g * mid
        if ((p < bound) if below else (p > bound)) == holds:
            first = mid + 1
        else:
            last = mid
    return first


@numba.njit(inline="always")
def _span(e, g, low, high, n):
    """``[first, stop)``: the ``i`` of ``[0, n)`` whose ``e + g i`` is neither below ``low`` nor above
    ``high`` (:func:`gpuimg._regrid.past_the_edges`' comparisons, ``p < low``, ``p > high``)."""
    if g >= 0:  # rising: below on a prefix, above on a suffix
        return _leading(e, g, low, n, True, True), _leading(e, g, high, n, False, False)
    return _leading(e, g, high, n, False, True), _leading(e, g, low, n, True, False)


@numba.njit  # a call: inlined, its branches slow the loop over the row's voxels that follows 2x
def _row(matrix, offset, edge_matrix, lows, highs, edges, k, j, n):
    """Output row ``(k, j)`` of ``n`` voxels: the continuous index of its voxel 0, ``(offset + k m0) + j
    m1`` (SciPy's sums), and ``[first, stop)``, its voxels within the edges (all without ``edges``)."""
    b0 = (offset[0] + k * matrix[0, 0]) + j * matrix[0, 1]
    b1 = (offset[1] + k * matrix[1, 0]) + j * matrix[1, 1]
    b2 = (offset[2] + k * matrix[2, 0]) + j * matrix[2, 1]
    if not edges:
        return b0, b1, b2, 0, n
    first0, stop0 = _span(0.0 + edge_matrix[0, 1] * j, edge_matrix[0, 2], lows[0, k], highs[0, k], n)
    first1, stop1 = _span(0.0 + edge_matrix[1, 1] * j, edge_matrix[1, 2], lows[1, k], highs[1, k], n)
    first2, stop2 = _span(0.0 + edge_matrix[2, 1] * j, edge_matrix[2, 2], lows[2, k], highs[2, k], n)
    first = max(first0, first1, first2)
    return b0, b1, b2, first, max(first, min(stop0, stop1, stop2))


@cpu_kernel
def _within_cpu(data, matrix, offset, order, cval, edge_matrix, lows, highs, edges, out):
    """The voxels whose footprint lies within the volume; ``cval`` elsewhere (past the edges, and for
    :func:`_near_edge_cpu` to replace). Nothing in the loop over the voxels but their arithmetic: a
    call, even on a path not taken, or a flag set there slows it 2-3x."""
    nz, ny, nx = data.shape
    oz, oy, ox = out.shape
    flat = data.ravel()  # a view of a C-contiguous volume
    sz, sy = ny * nx, nx
    top0, top1, top2 = nz - 1 - order, ny - 1 - order, nx - 1 - order  # see _inside
    m02, m12, m22 = matrix[0, 2], matrix[1, 2], matrix[2, 2]
    for k in numba.prange(oz):
        for j in range(oy):
            b0, b1, b2, first, stop = _row(matrix, offset, edge_matrix, lows, highs, edges, k, j, ox)
            for i in range(ox):
                c0 = b0 + i * m02
                c1 = b1 + i * m12
                c2 = b2 + i * m22
                if i < first or i >= stop:
                    out[k, j, i] = cval
                elif order == 1 and 0.0 <= c0 < top0 + 1 and 0.0 <= c1 < top1 + 1 and 0.0 <= c2 < top2 + 1:
                    out[k, j, i] = _within(flat, c0, c1, c2, sz, sy)
                elif order == 0 and 0.0 <= c0 <= top0 and 0.0 <= c1 <= top1 and 0.0 <= c2 <= top2:
                    z, y, x = int(np.floor(c0 + 0.5)), int(np.floor(c1 + 0.5)), int(np.floor(c2 + 0.5))
                    out[k, j, i] = 0.0 + np.float64(flat[z * sz + y * sy + x])
                else:
                    out[k, j, i] = cval


@cpu_kernel
def _near_edge_cpu(data, matrix, offset, order, mode, cval, edge_matrix, lows, highs, edges, out):
    """The voxels within the edges that :func:`_within_cpu` left: their footprint reaches past the
    volume, so the boundary mode applies. They lie at the ends of a row's span within the edges: the
    voxels inside are one span too (the index along each axis is monotone in ``i``), so a row whose
    first and last voxels are inside is skipped."""
    nz, ny, nx = data.shape
    oz, oy, ox = out.shape
    top0, top1, top2 = nz - 1 - order, ny - 1 - order, nx - 1 - order
    m02, m12, m22 = matrix[0, 2], matrix[1, 2], matrix[2, 2]
    for k in numba.prange(oz):
        for j in range(oy):
            b0, b1, b2, first, stop = _row(matrix, offset, edge_matrix, lows, highs, edges, k, j, ox)
            last = stop - 1
            if stop <= first or (
                _inside(b0 + first * m02, b1 + first * m12, b2 + first * m22, top0, top1, top2, order)
                and _inside(b0 + last * m02, b1 + last * m12, b2 + last * m22, top0, top1, top2, order)
            ):
                continue
            for i in range(first, stop):
                c0 = b0 + i * m02
                c1 = b1 + i * m12
                c2 = b2 + i * m22
                if not _inside(c0, c1, c2, top0, top1, top2, order):
                    out[k, j, i] = _anywhere(data, c0, c1, c2, order, mode, cval)


def affine_transform(data, matrix, offset, out, *, order, mode, cval, edges=None):
    """``out[r] = data`` read at ``matrix @ r + offset``, as SciPy's ``affine_transform(data, matrix,
    offset, out.shape, order=order, mode=mode, cval=cval, prefilter=False)``, in ``out``'s dtype.

    Parameters
    ----------
    data : 3D float32 or float64 C-contiguous NumPy array
    matrix : (3, 3) array_like and offset : (3,) array_like
        The map from output index to input index [voxels].
    out : 3D NumPy array of ``data``'s dtype
        Written in place.
    order : {0, 1}
    mode : str
        One of :data:`MODES`.
    cval : float
        The value past the edges ("constant", "grid-constant", and where ``edges`` says).
    edges : tuple (edge_matrix, lows, highs), optional
        Output voxel ``(k, j, i)`` gets ``cval`` where ``(0 + edge_matrix[a, 1] j) + edge_matrix[a, 2] i``
        lies below ``lows[a, k]`` or above ``highs[a, k]`` for an axis ``a`` ((3, 3) and two (3, nz)
        float64 arrays); None: nowhere.

    Returns
    -------
    out
    """
    if edges is None:
        edge_matrix, lows, highs = np.zeros((3, 3)), np.zeros((3, 0)), np.zeros((3, 0))
    else:
        edge_matrix, lows, highs = (np.ascontiguousarray(a, dtype=np.float64) for a in edges)
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    offset = np.ascontiguousarray(offset, dtype=np.float64)
    common = (edge_matrix, lows, highs, edges is not None, out)
    with threads_for(out.size * (order + 1) ** 3):  # footprint voxels
        _within_cpu(data, matrix, offset, int(order), float(cval), *common)
        _near_edge_cpu(data, matrix, offset, int(order), MODES[mode], float(cval), *common)
    return out
