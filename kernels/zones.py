"""Zones of equal grey level (GLSZM, GLDZM): connected components per level and the distance to the border.

A zone (IBSI 3.8, 3.9) is a set of voxels of one grey level connected through their neighbours:
26-connected in 3D, 8-connected within a slice in 2D. All levels are labelled in one pass with a
union-find over the voxels' flat indices: each voxel is joined with its earlier neighbours (13 in
3D, 4 in a slice) of the same level, and every tree is rooted at its component's smallest flat
index, on both targets, so the zones come out in the same order whatever the target.

- :func:`border_distance`: each ROI voxel's distance to the ROI's border, counted in face steps
  (6-connected in 3D, 4-connected in a slice): 1 for a voxel with a face neighbour outside the ROI
  (or outside the array). It is the city-block distance transform, separable: a forward and a
  backward sweep along each axis (``d[k] = min(d[k], d[k - 1] + 1)``), on the CPU a whole
  contiguous row at a time across y and z.
- :func:`zones`: the grey level, size, smallest border distance and slice of every zone.

CPU: the union-find runs on slabs of slices in parallel (each slab's trees stay within it), the slab
boundaries are then joined in order; one pass in index order finds the roots (a voxel's root is its
parent's) and measures the zones. A voxel whose neighbour below has its level joins that one only.
CUDA: one thread per voxel joins it with its earlier neighbours by ``atomic.min`` on the parent of
the larger root (Playne and Hawick's lock-free union), then one pass points every voxel at its root
and one counts sizes and distances with atomics.

Memory: three int32 per voxel of the levels' box (parents, roots, sizes) and, for the GLDZM, two
more (distances, smallest distances): 12 or 20 bytes whatever the number of grey levels, plus the
zones found (at most one per voxel); the matrices built from them are bounded in
:mod:`gpuimg.features.glszm` and :mod:`gpuimg.features.gldzm`.
"""

import numba
import numpy as np

from .registry import cpu_kernel, cuda, cuda_kernel, launch_3d, threads_for


@numba.njit(inline="always")
def earlier(n):
    """The ``n``-th earlier neighbour (dz, dy, dx) of a voxel: 0-3 in its slice ((0, 0, -1), then
    (0, -1, -1 ... 1)), 4-12 in the slice before (-1, -1 ... 1, -1 ... 1)."""
    if n == 0:
        return 0, 0, -1
    if n < 4:
        return 0, -1, n - 2
    return -1, (n - 4) // 3 - 1, (n - 4) % 3 - 1


@numba.njit(inline="always")
def find(parent, voxel):
    """The root of ``voxel``'s tree (no writes)."""
    root = np.int64(voxel)
    while parent[root] != root:
        root = np.int64(parent[root])
    return root


@numba.njit(inline="always")
def _find_halving(parent, voxel):
    root = np.int64(voxel)
    while parent[root] != root:
        parent[root] = parent[parent[root]]
        root = np.int64(parent[root])
    return root


@numba.njit
def _join(parent, a, b):
    """Join the trees of voxels ``a`` and ``b``, the larger root hanging from the smaller.

    A call, not inlined by Numba: its dozen call sites in :func:`_join_earlier` would each copy both
    find loops, which made the CPU driver's compilation three times longer (12 s instead of 4) for
    no faster code.
    """
    root_a = _find_halving(parent, a)
    root_b = _find_halving(parent, b)
    if root_a < root_b:
        parent[root_b] = root_a
    elif root_b < root_a:
        parent[root_a] = root_b


@numba.njit(inline="always")
def _join_if_same(levels, parent, i, k, zz, yy, xx, z_low):
    """Join voxel ``i`` (level ``k``) with (zz, yy, xx) if that has level ``k`` and ``zz >= z_low``."""
    ny, nx = levels.shape[1], levels.shape[2]
    if zz >= z_low and 0 <= yy < ny and 0 <= xx < nx and levels[zz, yy, xx] == k:
        _join(parent, i, (zz * ny + yy) * nx + xx)
        return True
    return False


@numba.njit(inline="always")
def _join_earlier(levels, parent, z, y, x, z_low, per_slice):
    """Join voxel (z, y, x) with its earlier neighbours of the same level at slices >= ``z_low``.

    Joined already, so skipped: every earlier neighbour when the one below (z - 1, y, x) has the
    voxel's level (all 12 others touch it and were joined with it when visited), and the other three
    in-plane ones when (z, y - 1, x) has it.
    """
    ny, nx = levels.shape[1], levels.shape[2]
    k = levels[z, y, x]
    i = (z * ny + y) * nx + x
    if not per_slice and _join_if_same(levels, parent, i, k, z - 1, y, x, z_low):
        return
    if not _join_if_same(levels, parent, i, k, z, y - 1, x, z_low):
        _join_if_same(levels, parent, i, k, z, y, x - 1, z_low)
        _join_if_same(levels, parent, i, k, z, y - 1, x - 1, z_low)
        _join_if_same(levels, parent, i, k, z, y - 1, x + 1, z_low)
    if not per_slice:
        for n in range(4, 13):
            dz, dy, dx = earlier(n)
            if dy != 0 or dx != 0:
                _join_if_same(levels, parent, i, k, z + dz, y + dy, x + dx, z_low)


@cpu_kernel
def _label_cpu(levels, parent, roots, per_slice, n_slabs, distance, use_distance, sizes, nearest):
    nz, ny, nx = levels.shape
    for s in numba.prange(n_slabs):
        z_start = s * nz // n_slabs
        z_low = 0 if per_slice else z_start
        for z in range(z_start, (s + 1) * nz // n_slabs):
            for y in range(ny):
                for x in range(nx):
                    if levels[z, y, x] > 0:
                        _join_earlier(levels, parent, z, y, x, z_low, per_slice)
    if not per_slice:
        for s in range(1, n_slabs):
            z = s * nz // n_slabs
            for y in range(ny):
                for x in range(nx):
                    if levels[z, y, x] > 0:
                        _join_earlier(levels, parent, z, y, x, 0, per_slice)
    # a parent's index is never above its child's (trees hang from their smallest index), so in
    # increasing order each voxel's root is its parent's, found already
    flat_levels = levels.reshape(-1)
    for i in range(roots.size):
        roots[i] = i if parent[i] == i else roots[parent[i]]
        if flat_levels[i] > 0:
            root = roots[i]
            sizes[root] += 1
            if use_distance and distance[i] < nearest[root]:
                nearest[root] = distance[i]


@cuda_kernel("void(int32[:, :, ::1], int32[::1], boolean)")
def _label_cuda(levels, parent, per_slice):
    x, y, z = cuda.grid(3)
    nz, ny, nx = levels.shape
    if z < nz and y < ny and x < nx and levels[z, y, x] > 0:
        k = levels[z, y, x]
        i = (z * ny + y) * nx + x
        for n in range(4 if per_slice else 13):
            dz, dy, dx = earlier(n)
            zz, yy, xx = z + dz, y + dy, x + dx
            if zz >= 0 and 0 <= yy < ny and 0 <= xx < nx and levels[zz, yy, xx] == k:
                a = i
                b = (zz * ny + yy) * nx + xx
                while True:
                    a = find(parent, a)
                    b = find(parent, b)
                    if a == b:
                        break
                    if a > b:
                        a, b = b, a
                    old = cuda.atomic.min(parent, b, a)
                    if old == b:
                        break
                    b = old


@cuda_kernel("void(int32[:, :, ::1], int32[::1], int32[::1], boolean, int32[::1], int32[::1])")
def _measure_cuda(levels, parent, distance, use_distance, sizes, nearest):
    x, y, z = cuda.grid(3)
    nz, ny, nx = levels.shape
    if z < nz and y < ny and x < nx and levels[z, y, x] > 0:
        i = (z * ny + y) * nx + x
        r = find(parent, i)
        parent[i] = r
        cuda.atomic.add(sizes, r, 1)
        if use_distance:
            cuda.atomic.min(nearest, r, distance[i])


def slabs(nz: int) -> int:
    """How many slabs of slices the CPU labels in parallel (joined in order afterwards)."""
    return max(1, min(numba.get_num_threads(), nz))


def zones(levels, *, per_slice, target, xp, distance=None):
    """The zones of a grey-level volume: connected voxels of one level (IBSI 3.8).

    Parameters
    ----------
    levels : 3D C-contiguous int32 array on the target's device
        Grey level per voxel (1, 2, ...), 0 outside the ROI.
    per_slice : bool
        8-connected zones within each slice (the 2D approach), else 26-connected in 3D.
    target : {"cpu", "cuda"}
    xp : module
        NumPy or CuPy, that of ``levels``.
    distance : 3D int32 array of ``levels``' shape, optional
        Each voxel's distance to the border (:func:`border_distance`); when given, each zone's
        smallest distance is returned too.

    Returns
    -------
    level, size, nearest, slice : 1D int64 arrays, one entry per zone
        The zone's grey level, its number of voxels, its smallest ``distance`` (0 without
        ``distance``) and the slice it lies in (0 unless ``per_slice``), ordered by the zone's
        first voxel (flat index).
    """
    n = levels.size
    use_distance = distance is not None
    flat_levels = levels.reshape(-1)
    distance = distance.reshape(-1) if use_distance else xp.zeros(1, dtype=np.int32)
    sizes = xp.zeros(n, dtype=np.int32)
    nearest = xp.full(n if use_distance else 1, np.iinfo(np.int32).max, dtype=np.int32)
    parent = xp.arange(n, dtype=np.int32)
    if n == 0:
        first = parent
    elif target == "cuda":
        launch_3d(_label_cuda, levels.shape, levels, parent, per_slice)
        launch_3d(_measure_cuda, levels.shape, levels, parent, distance, use_distance, sizes, nearest)
        first = parent
    else:
        first = np.empty_like(parent)
        with threads_for(n):
            n_slabs = levels.shape[0] if per_slice else slabs(levels.shape[0])
            _label_cpu(levels, parent, first, per_slice, n_slabs, distance, use_distance, sizes, nearest)
    index = xp.nonzero((first == xp.arange(n, dtype=np.int32)) & (flat_levels > 0))[0]
    slices = index // (levels.shape[1] * levels.shape[2]) if per_slice else xp.zeros_like(index)
    found_nearest = nearest[index] if use_distance else xp.zeros_like(index)
    return (
        flat_levels[index].astype(np.int64),
        sizes[index].astype(np.int64),
        found_nearest.astype(np.int64),
        slices.astype(np.int64),
    )


@numba.njit(inline="always")
def _sweep(distance, line, axis, length):
    """Forward then backward ``d[k] = min(d[k], d[k -/+ 1] + 1)`` along one line; outside counts 0."""
    a, b = line
    d = 0
    for k in range(length):
        v = _get(distance, axis, k, a, b)
        d = min(v, d + 1)
        _set(distance, axis, k, a, b, d)
    d = 0
    for k in range(length - 1, -1, -1):
        v = _get(distance, axis, k, a, b)
        d = min(v, d + 1)
        _set(distance, axis, k, a, b, d)


@numba.njit(inline="always")
def _get(distance, axis, k, a, b):
    if axis == 0:
        return distance[k, a, b]
    if axis == 1:
        return distance[a, k, b]
    return distance[a, b, k]


@numba.njit(inline="always")
def _set(distance, axis, k, a, b, value):
    if axis == 0:
        distance[k, a, b] = value
    elif axis == 1:
        distance[a, k, b] = value
    else:
        distance[a, b, k] = value


@numba.njit(inline="always")
def _other_axes(shape, axis):
    if axis == 0:
        return shape[1], shape[2]
    if axis == 1:
        return shape[0], shape[2]
    return shape[0], shape[1]


@numba.njit(inline="always")
def _step_rows(distance, z, y, z_from, y_from, outside):
    """``d[z, y, :] = min(d[z, y, :], d[z_from, y_from, :] + 1)``, the row before being outside the
    array (distance 0) when ``outside``: one sweep step for a whole contiguous row."""
    for x in range(distance.shape[2]):
        before = 0 if outside else distance[z_from, y_from, x]
        distance[z, y, x] = min(distance[z, y, x], before + 1)


@cpu_kernel
def _distance_cpu(distance, per_slice):
    nz, ny, nx = distance.shape
    for z in numba.prange(nz):
        for y in range(ny):
            _sweep(distance, (z, y), 2, nx)
        for y in range(ny):
            _step_rows(distance, z, y, z, y - 1, y == 0)
        for y in range(ny - 1, -1, -1):
            _step_rows(distance, z, y, z, y + 1, y == ny - 1)
    if not per_slice:
        for y in numba.prange(ny):
            for z in range(nz):
                _step_rows(distance, z, y, z - 1, y, z == 0)
            for z in range(nz - 1, -1, -1):
                _step_rows(distance, z, y, z + 1, y, z == nz - 1)


@cuda_kernel("void(int32[:, :, ::1], int64)")
def _distance_cuda(distance, axis):
    b, a, _ = cuda.grid(3)
    n_a, n_b = _other_axes(distance.shape, axis)
    if a < n_a and b < n_b:
        _sweep(distance, (a, b), axis, distance.shape[axis])


def border_distance(mask, *, per_slice, target, xp):
    """Each ROI voxel's distance to the ROI's border in face steps (IBSI 3.9); 0 outside the ROI.

    Parameters
    ----------
    mask : 3D bool array on the target's device
        The ROI; outside the array counts as outside the ROI.
    per_slice : bool
        4-connected steps within each slice (the 2D approach), else 6-connected in 3D.
    target : {"cpu", "cuda"}
    xp : module

    Returns
    -------
    3D C-contiguous int32 array [voxels]
        1 for a voxel with a face neighbour outside the ROI, 2 for its neighbours inside, ...
    """
    far = np.int32(sum(mask.shape) + 1)
    distance = xp.ascontiguousarray(xp.where(mask, far, np.int32(0)).astype(np.int32))
    if distance.size == 0:
        return distance
    if target == "cuda":
        for axis in (2, 1) if per_slice else (2, 1, 0):
            n_a, n_b = (n for i, n in enumerate(distance.shape) if i != axis)
            launch_3d(_distance_cuda, (1, n_a, n_b), distance, axis)
    else:
        with threads_for(distance.size):
            _distance_cpu(distance, per_slice)
    return distance
