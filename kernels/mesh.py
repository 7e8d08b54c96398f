"""Marching-cubes configurations of a binary mask: how many cubes of each of the 256, and where.

For a binary mask at level 0.5, scikit-image's Lewiner marching cubes gives each 2 x 2 x 2 cube of
voxels the triangles of its configuration alone (the ambiguity tests read only the cube's 8 values),
with vertices at edge midpoints or at the cube's centre, in voxel units scaled per axis by the
spacing. So any sum over the triangles of a term that is linear in the cube's position, such as the
area and the signed tetrahedra volume, is a sum over configurations of (number of cubes) x (the
configuration's term) plus (sum of the cubes' origins) . (its linear term):
:func:`gpuimg.contours.binary_mesh_measures` needs from the mask only :func:`cube_cases`, computed
here in one pass, in exact integer arithmetic, without building the mesh. The mesh's convex hull is
that of its edge midpoints, of which :func:`hull_candidates` keeps those that can be hull vertices;
:func:`largest_distance` gives the largest distance between two of the hull's vertices (the ROI's
maximum 3D diameter), :func:`voxel_moments` the centre and second moments of the mask's voxels
(its PCA), as NumPy computes them from ``numpy.nonzero``, and :func:`inverse_distance_pairs` the pair
sums of Moran's I and Geary's C of a small ROI, pair by pair.

Configuration number: bit ``4 dz + 2 dy + dx`` is the voxel ``(z + dz, y + dy, x + dx)`` of the cube of
origin ``(z, y, x)``. The pass runs over the cubes of the mask padded with one voxel of zeros on each
side, without making the padded copy: the cube of origin ``(z, y, x)`` in padded indices reads the
mask's voxels ``z - 1 .. z`` and so on, those outside the mask being 0. Along each row the four voxels
shared with the next cube (its ``dx = 0`` column) are read once.

CPU only: the mesh measures and the hull of :mod:`gpuimg.features.morphology` run on the host for
both devices (the masks come to the host once, for Qhull's convex hull), so there is no CUDA twin;
on CUDA, Moran's and Geary's sums stay on the device, by FFT, whatever the ROI's size.

Work: 4 byte reads per cube, ``(nz + 1) (ny + 1) (nx + 1)`` cubes; a cube of configuration 0 or 255
(outside or inside, no triangle) adds nothing. Each thread counts a share of the z planes into
its own ``256 x 4`` table, summed at the end.
"""

import math

import numba
import numpy as np

from .registry import SERIAL_WORK, cpu_kernel

#: Configurations (cube cases) of 8 voxels.
CASES = 256


def _call(driver, work: int, *args):
    """``driver(*args)``; below ``SERIAL_WORK`` units of ``work`` (voxels, pairs) its serial twin, on
    the calling thread: neither the thread pool's start nor a change of Numba's thread count, about
    6 to 10 us of a call on the demo cohort's ROIs (``threads_for`` keeps both)."""
    return driver.serial(*args) if work < SERIAL_WORK else driver(*args)


@numba.njit(inline="always")
def _column(mask, z, y, x, nz, ny, nx):
    """The ``dx = 0`` bits of the cube of padded origin ``(z, y, x)``: voxels ``(z - 1 + dz, y - 1 + dy,
    x - 1)`` of ``mask``, 0 outside it, at bits ``4 dz + 2 dy``."""
    bits = 0
    xi = x - 1
    if xi < 0 or xi >= nx:
        return bits
    for dz in range(2):
        zi = z - 1 + dz
        if zi < 0 or zi >= nz:
            continue
        for dy in range(2):
            yi = y - 1 + dy
            if 0 <= yi < ny and mask[zi, yi, xi] != 0:
                bits |= 1 << (4 * dz + 2 * dy)
    return bits


@cpu_kernel
def _cube_cases_cpu(mask, out, threads):
    """``threads`` comes from the caller: ``numba.get_num_threads`` inside would stop the on-disk cache."""
    nz, ny, nx = mask.shape
    planes = nz + 1
    share = -(-planes // threads)
    local = np.zeros((threads, CASES, 4), dtype=np.int64)
    for t in numba.prange(threads):
        for z in range(t * share, min(planes, (t + 1) * share)):
            for y in range(ny + 1):
                left = _column(mask, z, y, 0, nz, ny, nx)
                for x in range(nx + 1):
                    right = _column(mask, z, y, x + 1, nz, ny, nx)
                    case = left | (right << 1)
                    left = right
                    if case != 0 and case != CASES - 1:
                        local[t, case, 0] += 1
                        local[t, case, 1] += z
                        local[t, case, 2] += y
                        local[t, case, 3] += x
    for t in range(threads):
        for case in range(CASES):
            for k in range(4):
                out[case, k] += local[t, case, k]


def cube_cases(mask: np.ndarray) -> np.ndarray:
    """The cubes of ``mask`` padded with zeros, by configuration: their count and the sum of their origins.

    Parameters
    ----------
    mask : 3D uint8 C-contiguous NumPy array
        Non-zero inside.

    Returns
    -------
    (256, 4) int64 array
        Row ``case``: the number of cubes of that configuration, then the sums of their origins' z, y
        and x in indices of the padded mask [voxels] (the origin of the cube whose last voxel is the
        mask's ``(0, 0, 0)`` is ``(0, 0, 0)``). Rows 0 and 255 (no triangle) are left 0.
    """
    out = np.zeros((CASES, 4), dtype=np.int64)
    nz, ny, nx = mask.shape
    planes = nz + 1
    work = planes * (ny + 1) * (nx + 1)
    threads = 1 if work < SERIAL_WORK else max(1, min(numba.get_num_threads(), planes))
    _call(_cube_cases_cpu, work, mask, out, threads)
    return out


#: The 13 directions of the lines through grid points (one of each opposite pair, first non-zero
#: component +1), along which :func:`hull_candidates` keeps the two outermost points.
_DIRECTIONS = np.array(
    [(dz, dy, dx) for dz in (0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dz, dy, dx) > (0, 0, 0)],
    dtype=np.int64,
)


@numba.njit(inline="always")
def _pivot(directions, d):
    """The first axis that direction ``d`` moves along (its component there is +1), and the other two."""
    pivot = 0
    while directions[d, pivot] == 0:
        pivot += 1
    if pivot == 0:
        return 0, 1, 2
    return (1, 0, 2) if pivot == 1 else (2, 0, 1)


@numba.njit(inline="always")
def _span(directions, d, axis, pivot, top):
    """How many values ``c[axis] - c[pivot] d[axis]`` takes over the doubled indices ``0 .. top``."""
    return top[axis] + 1 + top[pivot] * (directions[d, axis] != 0)


@cpu_kernel
def _hull_candidates_cpu(mask, directions):
    """The edge midpoints of the zero-padded mask in doubled padded indices, ``(P, 3)`` int64, and
    whether each is outermost on its line along every direction (``(P,)`` bool)."""
    nz, ny, nx = mask.shape
    padded = np.zeros((nz + 2, ny + 2, nx + 2), dtype=np.uint8)
    padded[1:-1, 1:-1, 1:-1] = mask != 0
    size = padded.shape
    count = 0
    for z in range(size[0]):
        for y in range(size[1]):
            for x in range(size[2]):
                here = padded[z, y, x]
                count += z + 1 < size[0] and here != padded[z + 1, y, x]
                count += y + 1 < size[1] and here != padded[z, y + 1, x]
                count += x + 1 < size[2] and here != padded[z, y, x + 1]
    points = np.empty((count, 3), dtype=np.int64)
    k = 0
    for axis in range(3):  # the midpoints across z first, then y, then x
        dz, dy, dx = axis == 0, axis == 1, axis == 2
        for z in range(size[0] - dz):
            for y in range(size[1] - dy):
                for x in range(size[2] - dx):
                    if padded[z, y, x] != padded[z + dz, y + dy, x + dx]:
                        points[k, 0] = 2 * z + dz
                        points[k, 1] = 2 * y + dy
                        points[k, 2] = 2 * x + dx
                        k += 1
    # A line along d is its point where the coordinate `pivot` (d's first non-zero, +1) is 0: the other
    # two there, c - c[pivot] d, each within -top[pivot] .. top (d +1 on that axis), 0 .. top + top[pivot]
    # (-1) or 0 .. top (0), for top the largest doubled index per axis. One table of the lines
    # of the largest such plane, reused by each direction: (2 a + 2 c + 1) (2 b + 2 c + 1) lines for a
    # box of a x b x c voxels at most.
    top = (2 * (size[0] - 1), 2 * (size[1] - 1), 2 * (size[2] - 1))
    lines = 0
    for d in range(directions.shape[0]):
        pivot, first, second = _pivot(directions, d)
        lines = max(lines, _span(directions, d, first, pivot, top) * _span(directions, d, second, pivot, top))
    ends = np.empty((lines, 3), dtype=np.int32)  # each line's least and largest c[pivot], and direction
    ends[:, 2] = -1
    # The points still in, by index (each direction tests only those the directions before left); the
    # lines' ends are those of all the points.
    kept = np.arange(count)
    n_kept = count
    for d in range(directions.shape[0]):
        pivot, first, second = _pivot(directions, d)
        step_u, step_v = directions[d, first], directions[d, second]
        shift_u, shift_v = top[pivot] * (step_u == 1), top[pivot] * (step_v == 1)  # all from 0
        width = _span(directions, d, second, pivot, top)
        for p in range(count):
            t = points[p, pivot]
            u, v = points[p, first] - t * step_u + shift_u, points[p, second] - t * step_v + shift_v
            line = u * width + v
            if ends[line, 2] != d:  # the first point met on this line in this direction
                ends[line, 0] = ends[line, 1] = t
                ends[line, 2] = d
            else:
                ends[line, 0] = min(ends[line, 0], t)
                ends[line, 1] = max(ends[line, 1], t)
        n_next = 0
        for k in range(n_kept):
            p = kept[k]
            t = points[p, pivot]
            u, v = points[p, first] - t * step_u + shift_u, points[p, second] - t * step_v + shift_v
            line = u * width + v
            if not ends[line, 0] < t < ends[line, 1]:
                kept[n_next] = p
                n_next += 1
        n_kept = n_next
    outermost = np.zeros(count, dtype=np.bool_)
    outermost[kept[:n_kept]] = True
    return points, outermost


def hull_candidates_bytes(shape) -> int:
    """The bytes :func:`hull_candidates` allocates for a mask of ``shape`` before it finds the edge
    midpoints: the padded copy (a byte a voxel) and the table of lines (12 bytes a line, of the
    largest plane of lines of a direction). The midpoints then take 33 bytes each, as many as the
    faces of the mask's surface (as the mesh's vertices do)."""
    top = [2 * (n + 1) for n in shape]
    lines = max(math.prod(t + 1 + top[p] for a, t in enumerate(top) if a != p) for p in range(3))
    return math.prod(n + 2 for n in shape) + 12 * lines


def hull_candidates(mask: np.ndarray, spacing) -> np.ndarray:
    """The edge midpoints of ``mask`` that can be vertices of their convex hull [mm].

    The midpoints of the edges between 6-adjacent voxels of the mask padded with one voxel of zeros,
    one inside and one outside (the level-0.5 marching-cubes mesh's vertices, but for the cube
    centres, which are means of them), in padded indices times ``spacing``; of those on one line
    along any of the 13 directions of the grid (the axes, face and body diagonals) only the two
    outermost, since a point between two others is no vertex of their hull. So the hull, its vertices
    and the points' extremes along each axis are those of all the midpoints, with fewer points to
    Qhull, which spends most of its time merging the coplanar facets of grid points.

    Parameters
    ----------
    mask : 3D uint8 C-contiguous NumPy array
        Non-zero inside.
    spacing : sequence of 3 float [mm]

    Returns
    -------
    (P, 3) float64 array [mm]
        In the order of the midpoints across the z axis, then y, then x, each in C order.
    """
    return _doubled_candidates(mask) / 2.0 * np.asarray(spacing, dtype=np.float64)


def _doubled_candidates(mask: np.ndarray) -> np.ndarray:
    """:func:`hull_candidates` in doubled padded indices (integers), C-contiguous."""
    # The driver's array expressions are parallel loops: serial below SERIAL_WORK voxels, or the
    # thread team it starts keeps a core busy after each call (the demo's ROIs: 0.5 -> 3 ms a study).
    points, outermost = _call(_hull_candidates_cpu, math.prod(n + 2 for n in mask.shape), mask, _DIRECTIONS)
    return np.ascontiguousarray(points[outermost])


@numba.njit(inline="always")
def _face_plane(points, a, b, c):
    """The outward normal ``(p_b - p_a) x (p_c - p_a)`` of the face ``(a, b, c)`` of integer points and
    its offset ``normal . p_a``, exact."""
    u0, u1, u2 = points[b, 0] - points[a, 0], points[b, 1] - points[a, 1], points[b, 2] - points[a, 2]
    v0, v1, v2 = points[c, 0] - points[a, 0], points[c, 1] - points[a, 1], points[c, 2] - points[a, 2]
    n0, n1, n2 = u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0
    return n0, n1, n2, n0 * points[a, 0] + n1 * points[a, 1] + n2 * points[a, 2]


@numba.njit
def _hull_faces(points):
    """The convex hull of integer points ``(n, 3)``: its faces as triangles ``(F, 3)`` of point indices,
    counter-clockwise seen from outside; ``(0, 3)`` for points that span no volume.

    Incremental: a first tetrahedron, then each point in turn, which removes the faces it sees
    (strictly beyond their planes, in exact integer arithmetic) and joins their horizon, the edges of
    seen faces whose reverse is no seen face's edge, to itself. A point inside the hull or on it sees
    none; faces in one plane stay apart (a triangulation of the hull's facets)."""
    n = points.shape[0]
    first = np.full(4, -1, np.int64)  # two distinct points, a third off their line, a fourth off their plane
    first[0] = 0
    for k in range(1, n):
        if first[1] < 0:
            if points[k, 0] != points[0, 0] or points[k, 1] != points[0, 1] or points[k, 2] != points[0, 2]:
                first[1] = k
        elif first[2] < 0:
            n0, n1, n2, _ = _face_plane(points, first[0], first[1], k)
            if n0 != 0 or n1 != 0 or n2 != 0:
                first[2] = k
        else:
            n0, n1, n2, offset = _face_plane(points, first[0], first[1], first[2])
            side = n0 * points[k, 0] + n1 * points[k, 1] + n2 * points[k, 2] - offset
            if side != 0:
                first[3] = k
                if side > 0:  # the fourth beyond the first face: turned round, it lies behind it
                    first[1], first[2] = first[2], first[1]
                break
    if first[3] < 0:
        return np.empty((0, 3), np.int64)
    capacity = 64
    faces = np.empty((capacity, 3), np.int64)
    planes = np.empty((capacity, 4), np.int64)  # each face's _face_plane
    seen = np.empty(capacity, np.int64)
    a, b, c, d = first
    faces[0, 0], faces[0, 1], faces[0, 2] = a, b, c
    faces[1, 0], faces[1, 1], faces[1, 2] = a, d, b
    faces[2, 0], faces[2, 1], faces[2, 2] = b, d, c
    faces[3, 0], faces[3, 1], faces[3, 2] = c, d, a
    for f in range(4):
        planes[f] = _face_plane(points, faces[f, 0], faces[f, 1], faces[f, 2])
    count = 4
    for p in range(n):
        x0, x1, x2 = points[p, 0], points[p, 1], points[p, 2]
        n_seen = 0
        for f in range(count):
            if planes[f, 0] * x0 + planes[f, 1] * x1 + planes[f, 2] * x2 > planes[f, 3]:
                seen[n_seen] = f
                n_seen += 1
        if n_seen == 0:
            continue
        if count + 3 * n_seen > capacity:  # the horizon has at most n_seen + 2 edges
            capacity = 2 * (count + 3 * n_seen)
            faces, planes = _grown(faces, count, capacity), _grown(planes, count, capacity)
            seen = np.concatenate((seen[:n_seen], np.empty(capacity - n_seen, np.int64)))
        added = count
        for s in range(n_seen):
            f = seen[s]
            for e in range(3):
                u, v = faces[f, e], faces[f, (e + 1) % 3]
                inner = False
                for t in range(n_seen):
                    g = seen[t]
                    for r in range(3):
                        inner |= faces[g, r] == v and faces[g, (r + 1) % 3] == u
                if not inner:
                    faces[added, 0], faces[added, 1], faces[added, 2] = u, v, p
                    planes[added] = _face_plane(points, u, v, p)
                    added += 1
        # The seen faces go, the last faces moving into their places: the largest index first, so
        # that the last face is never one to go (the new faces lie past them all).
        count = added
        for s in range(n_seen - 1, -1, -1):
            count -= 1
            faces[seen[s]] = faces[count]
            planes[seen[s]] = planes[count]
    return faces[:count]


@numba.njit
def _grown(array, used, capacity):
    """The first ``used`` rows of a 2D ``array`` in a new array of ``capacity`` rows."""
    grown = np.empty((capacity, array.shape[1]), array.dtype)
    grown[:used] = array[:used]
    return grown


@cpu_kernel
def _convex_hull_cpu(points, scale):
    """Six times the volume of the hull of integer ``points`` (exact), its area times ``scale`` per axis
    (each face's on its own thread, summed pairwise after), and which points are its faces' corners.
    Its caller's work: ``P^2`` for ``P`` points (the hull's own is ``O(P F)``, on one thread)."""
    faces = _hull_faces(points)
    n_faces = faces.shape[0]
    weights = (scale[1] * scale[2], scale[0] * scale[2], scale[0] * scale[1])  # of the normal's components
    volumes = np.empty(n_faces, np.int64)
    areas = np.empty(n_faces)
    for f in numba.prange(n_faces):
        n0, n1, n2, offset = _face_plane(points, faces[f, 0], faces[f, 1], faces[f, 2])
        volumes[f] = offset  # det(p_a, p_b, p_c): six times the tetrahedron of the face and the origin
        areas[f] = math.sqrt((n0 * weights[0]) ** 2 + (n1 * weights[1]) ** 2 + (n2 * weights[2]) ** 2)
    corner = np.zeros(points.shape[0], np.bool_)
    for f in range(n_faces):
        for k in range(3):
            corner[faces[f, k]] = True
    return volumes.sum(), _pairwise_product_sum(areas, np.ones(n_faces), n_faces) / 2.0, corner


#: The most candidate points whose hull :func:`convex_hull` finds itself (``O(P F)`` time), more than
#: Qhull (``scipy.spatial.ConvexHull``) takes (measured on balls: 990 points 3.3 ms against 5.4,
#: 3726 points 130 ms against 116).
EXACT_HULL_POINTS = 2000


def convex_hull(mask: np.ndarray, spacing) -> tuple[np.ndarray, float, float, np.ndarray]:
    """The convex hull of ``mask``'s level-0.5 marching-cubes mesh: its candidate vertices
    (:func:`hull_candidates`), volume and area.

    Parameters
    ----------
    mask : 3D uint8 C-contiguous NumPy array
        Non-zero inside, at least one voxel.
    spacing : sequence of 3 float [mm]

    Returns
    -------
    points : (P, 3) float64 array [mm]
        :func:`hull_candidates`: the hull's vertices among them, and its extent.
    volume : float [mm³]
    area : float [mm²]
    corners : (P,) bool array
        The points that are corners of the hull's faces: its vertices and, here, points within its
        facets that the triangulation took as corners (so the farthest pair of them is the hull's).

    Notes
    -----
    The candidates are half-integer grid points (doubled indices, integers, times half the spacing,
    an affine map), so up to :data:`EXACT_HULL_POINTS` of them the hull is found in exact integer
    arithmetic (:func:`_hull_faces`, ``O(P F)`` for ``F`` faces): no rounding decides which points
    are vertices, where Qhull merges the coplanar facets of grid points in floating point (0.3 ms for
    the demo's ROIs of about 110 candidates, 0.05 here). The volume is six times exact (the faces'
    integer tetrahedra with the origin), times the spacing's product / 48, rounded thrice: within
    3e-16 relative; the area, each triangle's from its exact normal scaled per axis, summed as NumPy
    sums: within 6e-16 of the exact area on the demo cohort's ROIs and random masks (Qhull's,
    2.5e-15). More candidates go to Qhull.
    """
    doubled = _doubled_candidates(mask)
    spacing = np.asarray(spacing, dtype=np.float64)
    points = doubled / 2.0 * spacing
    if len(points) > EXACT_HULL_POINTS:
        # Imported here: scipy.spatial takes 0.1 s, which `import gpuimg` need not pay.
        from scipy.spatial import ConvexHull

        hull = ConvexHull(points)
        corners = np.zeros(len(points), dtype=bool)
        corners[hull.vertices] = True
        return points, float(hull.volume), float(hull.area), corners
    six, area, corners = _call(_convex_hull_cpu, len(points) ** 2, doubled, spacing / 2.0)
    return points, float(six) * float(np.prod(spacing)) / 48.0, float(area), corners


@cpu_kernel
def _largest_squared_distance_cpu(points):
    """The largest squared distance between two rows of ``points``, each summed over the axes in
    order, ``(0 + d_0^2) + d_1^2 + ...``, as ``scipy.spatial.distance.pdist`` sums it; 0 for one row.
    Each row's largest to the rows after it on its own thread, then the largest of those (exact)."""
    n, axes = points.shape
    largest = np.zeros(n)
    for i in numba.prange(n):
        for j in range(i + 1, n):
            squared = 0.0
            for k in range(axes):
                d = points[i, k] - points[j, k]
                squared += d * d
            largest[i] = max(largest[i], squared)
    return largest.max()


def largest_distance(points: np.ndarray) -> float:
    """The largest distance between two of ``points`` [their units]: ``pdist(points).max()``.

    The same number, to the bit, as ``scipy.spatial.distance.pdist(points).max()`` (each squared
    distance summed in pdist's order; the square root is correctly rounded and increasing, so the root
    of the largest is the largest root), without pdist's checks and its array of every pair: 2 us
    for the 40 hull vertices of a small ROI, where pdist took 12.

    Parameters
    ----------
    points : (P, D) float64 NumPy array, ``P >= 1``

    Returns
    -------
    float
        0.0 for one point. Time ``O(P^2 D)``, no memory.
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    return math.sqrt(_call(_largest_squared_distance_cpu, len(points) ** 2 // 2, points))  # work: the pairs


@numba.njit(inline="always")
def _block_product_sum(a, b, first, n):
    """``sum(a[k] * b[k])`` over the ``n <= 128`` values from ``first``, as NumPy's ``pairwise_sum`` sums
    such a block: one running sum below 8 values; else 8 of them, combined as ``((r0 + r1) + (r2 + r3))
    + ((r4 + r5) + (r6 + r7))``, and the values past the last multiple of 8 added after."""
    if n < 8:
        total = 0.0
        for k in range(first, first + n):
            total += a[k] * b[k]
        return total
    sums = np.empty(8)
    for j in range(8):
        sums[j] = a[first + j] * b[first + j]
    end = first + n - n % 8
    for k in range(first + 8, end, 8):
        for j in range(8):
            sums[j] += a[k + j] * b[k + j]
    total = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]))
    for k in range(end, first + n):
        total += a[k] * b[k]
    return total


@numba.njit(inline="always")
def _left_half(n):
    """Where NumPy's ``pairwise_sum`` splits ``n > 128`` values: half of them, less to a multiple of 8."""
    half = n // 2
    return half - half % 8


@numba.njit(inline="always")
def _pairwise_product_sum(a, b, n):
    """``sum(a[k] * b[k])`` over ``k < n``, summed as NumPy sums a contiguous float64 array (its
    ``pairwise_sum``): blocks of up to 128 values (:func:`_block_product_sum`), each sum above that the
    sum of its two halves (:func:`_left_half`). Its recursion as a loop over a stack of halves (Numba's
    on-disk cache crashes on recursive functions): at most 64 levels, a half of 2**63 values."""
    first, size = np.empty(64, np.int64), np.empty(64, np.int64)
    left, on_left = np.empty(64), np.zeros(64, np.bool_)
    top = 0
    first[0], size[0] = 0, n
    while True:
        while size[top] > 128:  # down to the first block of this half
            on_left[top] = True
            first[top + 1], size[top + 1] = first[top], _left_half(size[top])
            top += 1
        value = _block_product_sum(a, b, first[top], size[top])
        while True:  # up: a left half done starts its right one; a right one done adds its left
            if top == 0:
                return value
            top -= 1
            if on_left[top]:
                on_left[top] = False
                left[top] = value
                half = _left_half(size[top])
                first[top + 1], size[top + 1] = first[top] + half, size[top] - half
                top += 1
                break
            value = left[top] + value


@cpu_kernel
def _voxel_moments_cpu(mask, spacing):
    """The count of ``mask``'s voxels, their centre and the 6 sums of products of their deviations."""
    nz, ny, nx = mask.shape
    starts = np.zeros(nz + 1, dtype=np.int64)  # where each plane's voxels start in C order
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                starts[z + 1] += mask[z, y, x] != 0
    for z in range(nz):
        starts[z + 1] += starts[z]
    n = starts[nz]
    centred = np.empty((3, n))  # the voxels' centres [mm], in C order, as numpy.nonzero lists them
    for z in numba.prange(nz):
        k = starts[z]
        for y in range(ny):
            for x in range(nx):
                if mask[z, y, x] != 0:
                    centred[0, k] = z * spacing[0]
                    centred[1, k] = y * spacing[1]
                    centred[2, k] = x * spacing[2]
                    k += 1
    centre = np.empty(3)
    for axis in range(3):
        total = 0.0  # in order, as NumPy sums the rows of an (n, 3) array along its first axis
        for k in range(n):
            total += centred[axis, k]
        centre[axis] = total / n
        for k in range(n):
            centred[axis, k] -= centre[axis]
    products = np.empty(6)
    m = 0
    for i in range(3):
        for j in range(i, 3):
            products[m] = 0.0 + _pairwise_product_sum(centred[i], centred[j], n)
            m += 1
    return n, centre, products


def voxel_moments(mask: np.ndarray, spacing) -> tuple[int, np.ndarray, np.ndarray]:
    """The voxel count of ``mask``, the centre of its voxels [mm] and the sums of products of their
    deviations from it [mm²]: the centre of mass and the scatter matrix of the IBSI PCA.

    NumPy's numbers from ``p = numpy.stack(numpy.nonzero(mask), axis=1) * spacing``: ``centre =
    p.mean(axis=0)`` (each axis summed in order, to the bit), then, with ``d = (p - centre).T``, ``(d[i] *
    d[j]).sum()`` for the upper triangle, summed in the order of NumPy's pairwise sum of a contiguous
    array (to the bit with NumPy 2.4 on x86_64; NumPy 2.0 sums ROIs of tens of thousands of voxels in
    another order, a few ulp apart), in one pass over the mask and one over its voxels (its planes on
    threads from ``SERIAL_WORK`` voxels), without NumPy's eleven calls on arrays of a few hundred values
    (the PCA of a 700-voxel ROI: 43 -> 19 us).

    Parameters
    ----------
    mask : 3D uint8 or bool C-contiguous NumPy array
        Non-zero inside, at least one voxel.
    spacing : sequence of 3 float [mm]

    Returns
    -------
    count : int
    centre : (3,) float64 array [mm]
        In voxel indices times ``spacing`` (z, y, x).
    products : (6,) float64 array [mm²]
        The sums for the axis pairs ``zz, zy, zx, yy, yx, xx``.
    """
    # The planes' passes are parallel loops: serial below SERIAL_WORK voxels (see hull_candidates).
    count, centre, products = _call(
        _voxel_moments_cpu, mask.size, mask, np.asarray(spacing, dtype=np.float64)
    )
    return int(count), centre, products


@cpu_kernel
def _inverse_distance_pairs_cpu(values, mask, mean, spacing):
    """Moran's and Geary's pair sums over the unordered pairs of ``mask``'s voxels: each row's on its own
    thread, then summed in order (the same bits for every thread count)."""
    nz, ny, nx = mask.shape
    # The inverse distances by signed offset, (2 nz - 1, 2 ny - 1, 2 nx - 1): the index of the offset
    # p_i - p_j is that of p_i less that of p_j, for p = z sz + y sy + x on the table's strides.
    sy, sz = 2 * nx - 1, (2 * ny - 1) * (2 * nx - 1)
    table = np.empty((2 * nz - 1) * sz)
    for a in numba.prange(2 * nz - 1):
        dz = (a - nz + 1) * spacing[0]
        for b in range(2 * ny - 1):
            dy = (b - ny + 1) * spacing[1]
            for c in range(2 * nx - 1):
                dx = (c - nx + 1) * spacing[2]
                squared = 0.0 + dz * dz + dy * dy + dx * dx
                table[a * sz + b * sy + c] = 0.0 if squared == 0.0 else 1.0 / math.sqrt(squared)
    n = 0
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                n += mask[z, y, x]
    position = np.empty(n, dtype=np.int64)
    deviation = np.empty(n)
    k = 0
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if mask[z, y, x]:
                    position[k] = z * sz + y * sy + x
                    deviation[k] = values[z, y, x] - mean
                    k += 1
    centre = (nz - 1) * sz + (ny - 1) * sy + nx - 1  # the index of offset 0
    rows = np.zeros((3, n))
    for i in numba.prange(n):
        origin, d_i = centre + position[i], deviation[i]
        # Four running sums of each kind (pairs j, j + 1, j + 2, j + 3), in a fixed order: independent
        # additions, not one chain of them.
        w0 = w1 = w2 = w3 = m0 = m1 = m2 = m3 = g0 = g1 = g2 = g3 = 0.0
        j = i + 1
        while j + 3 < n:
            w = table[origin - position[j]]
            t = d_i - deviation[j]
            w0 += w
            m0 += w * deviation[j]
            g0 += w * t * t
            w = table[origin - position[j + 1]]
            t = d_i - deviation[j + 1]
            w1 += w
            m1 += w * deviation[j + 1]
            g1 += w * t * t
            w = table[origin - position[j + 2]]
            t = d_i - deviation[j + 2]
            w2 += w
            m2 += w * deviation[j + 2]
            g2 += w * t * t
            w = table[origin - position[j + 3]]
            t = d_i - deviation[j + 3]
            w3 += w
            m3 += w * deviation[j + 3]
            g3 += w * t * t
            j += 4
        while j < n:
            w = table[origin - position[j]]
            t = d_i - deviation[j]
            w0 += w
            m0 += w * deviation[j]
            g0 += w * t * t
            j += 1
        rows[0, i] = (w0 + w1) + (w2 + w3)
        rows[1, i] = d_i * ((m0 + m1) + (m2 + m3))
        rows[2, i] = (g0 + g1) + (g2 + g3)
    ones = np.ones(n)
    sums = np.empty(3)
    for k in range(3):  # each unordered pair stands for two ordered ones
        sums[k] = 2.0 * _pairwise_product_sum(rows[k], ones, n)
    return sums


#: The most offsets whose inverse distances :func:`inverse_distance_pairs` should tabulate, ``(2 nz - 1)
#: (2 ny - 1) (2 nx - 1)`` for a box of ``nz x ny x nx`` voxels: 512 KiB of them, within the memory
#: budget's unchecked 1 MiB with 48 bytes for each of up to 10^4 voxels.
PAIRS_TABLE = 2**16


def inverse_distance_pairs_bytes(n: int, shape) -> int:
    """The bytes :func:`inverse_distance_pairs` allocates for ``n`` voxels in a box of ``shape``: the
    table of the offsets' inverse distances (8 bytes an offset), and 48 bytes a voxel."""
    return 8 * math.prod(2 * s - 1 for s in shape) + 48 * n


def inverse_distance_pairs(values: np.ndarray, mask: np.ndarray, mean: float, spacing) -> np.ndarray:
    """The inverse-distance pair sums of Moran's I and Geary's C, pair by pair.

    Parameters
    ----------
    values : 3D float64 NumPy array [image units]
        The image, best cropped to the mask's bounding box (see Notes).
    mask : 3D bool NumPy array of ``values``' shape
        The intensity mask.
    mean : float [image units]
        The mean of ``values`` over ``mask``.
    spacing : sequence of 3 float [mm]
        Voxel spacing (z, y, x).

    Returns
    -------
    (3,) float64 array
        Over all ordered pairs ``i != j`` of mask voxels, with ``w_ij = 1 / |p_i - p_j|`` [1/mm] and
        ``d_i = g_i - mean``: ``W = sum w_ij``, ``sum w_ij d_i d_j`` and ``sum w_ij (d_i - d_j)^2``,
        the sums :func:`gpuimg.features.morphology` takes by FFT over larger ROIs.

    Notes
    -----
    Each of the ``N (N - 1) / 2`` unordered pairs of the ``N`` mask voxels once, its weight read from
    a table of the box's offsets (``1 / sqrt`` of the squared distance summed over the axes in order:
    each rounded once); each voxel's sums over the voxels after it in four running sums of each kind,
    those of all voxels added as NumPy adds an array (pairwise), then doubled (exactly). Time about
    1 ns a pair, on one thread below ``SERIAL_WORK`` pairs (without the thread pool's start), each
    voxel's on its own thread above (the same bits); memory
    :func:`inverse_distance_pairs_bytes`, the table ``8 (2 nz - 1) (2 ny - 1) (2 nx - 1)`` bytes for a
    box of ``nz x ny x nx``: at most :data:`PAIRS_TABLE` offsets is the caller's rule. Rounding: within
    2e-15 relative of the exact sums of the demo cohort's ROIs (the FFT's: 5e-16).
    """
    n = int(np.count_nonzero(mask))
    arguments = (values, mask.view(np.uint8), float(mean), np.asarray(spacing, dtype=np.float64))
    return _call(_inverse_distance_pairs_cpu, n * (n - 1) // 2, *arguments)
