"""The convex hull of a binary mask's level-0.5 marching-cubes mesh, and the largest distance between
points: the IBSI morphology's convex hull volume and area and its maximum 3D diameter.

The mesh's convex hull is that of its edge midpoints (its other vertices, Lewiner's cube centres, are
means of them), of which :func:`hull_candidates` keeps those that can be hull vertices (the two
outermost on each grid line along the 13 directions); :func:`convex_hull` finds their hull in exact
integer arithmetic (doubled indices) up to :data:`EXACT_HULL_POINTS` of them, by Qhull above; and
:func:`largest_distance` gives the largest distance between two of the hull's vertices (the ROI's
maximum 3D diameter), as ``scipy.spatial.distance.pdist(points).max()``.

CPU only: the hull of :mod:`gpuimg.features.morphology` runs on the host for both devices (the masks
come to the host once), so there is no CUDA twin. Each driver runs its serial twin below
``SERIAL_WORK`` units of work (:meth:`~gpuimg.kernels.registry.CpuDriver.call`).
"""

import math

import numba
import numpy as np

from .registry import cpu_kernel
from .summation import pairwise_product_sum

#: The 13 directions of the lines through grid points (one of each opposite pair, first non-zero
#: component +1), along which :func:`hull_candidates` keeps the two outermost points.
_DIRECTIONS = np.array(
    [(dz, dy, dx) for dz in (0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dz, dy, dx) > (0, 0, 0)],
    dtype=np.int64,
)


#: Above every doubled index along a line (int32, as the lines' ends are kept).
_NO_INDEX = 2**31 - 1


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
    """The edge midpoints of the zero-padded mask in doubled padded indices that are outermost on their
    line along every direction, ``(P, 3)`` int64, in the order of all the midpoints, and their least
    and largest index per axis, ``(2, 3)`` int64."""
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
    low = np.empty(lines, dtype=np.int32)  # each line's least and largest c[pivot] in this direction
    high = np.empty(lines, dtype=np.int32)
    line_of = np.empty(count, dtype=np.int64)  # each point's line in this direction
    # The points still in, by index (each direction tests only those the directions before left); the
    # lines' ends are those of all the points. No branch on the data in the loops (the direction's
    # lines' ends reset by a fill of their table, then min / max in the pass that finds each point's
    # line; the kept points written, then counted): a test of whether a line was met before, or of
    # each point, missed half the time (0.10 -> 0.065 ms on the demo cohort's ROIs). The fill, a few
    # thousand lines, costs less than the pass over the points that reset their lines did.
    kept = np.arange(count)
    n_kept = count
    for d in range(directions.shape[0]):
        pivot, first, second = _pivot(directions, d)
        step_u, step_v = directions[d, first], directions[d, second]
        shift_u, shift_v = top[pivot] * (step_u == 1), top[pivot] * (step_v == 1)  # all from 0
        width = _span(directions, d, second, pivot, top)
        used = _span(directions, d, first, pivot, top) * width
        low[:used] = _NO_INDEX
        high[:used] = -1
        for p in range(count):
            t = points[p, pivot]
            u, v = points[p, first] - t * step_u + shift_u, points[p, second] - t * step_v + shift_v
            line = u * width + v
            line_of[p] = line
            low[line] = min(low[line], t)
            high[line] = max(high[line], t)
        n_next = 0
        for k in range(n_kept):
            p = kept[k]
            t = points[p, pivot]
            line = line_of[p]
            kept[n_next] = p
            n_next += not (low[line] < t and t < high[line])
        n_kept = n_next
    # The kept points, copied here in their order (kept stays ascending): not a mask for NumPy to apply;
    # their extremes on the way (the ROI's extent, without two NumPy reductions of the points in mm).
    candidates = np.empty((n_kept, 3), dtype=np.int64)
    ends = np.empty((2, 3), dtype=np.int64)
    ends[0, :], ends[1, :] = _NO_INDEX, -1
    for k in range(n_kept):
        for axis in range(3):
            c = candidates[k, axis] = points[kept[k], axis]
            ends[0, axis], ends[1, axis] = min(ends[0, axis], c), max(ends[1, axis], c)
    return candidates, ends


def hull_candidates_bytes(shape) -> int:
    """The bytes :func:`hull_candidates` allocates for a mask of ``shape`` before it finds the edge
    midpoints: the padded copy (a byte a voxel) and the table of lines (8 bytes a line, of the
    largest plane of lines of a direction). The midpoints then take 40 bytes each, as many as the
    faces of the mask's surface (as the mesh's vertices do), and those kept 24 more."""
    # The pivot's top added to the span of each axis the direction moves along: the largest planes are
    # the body diagonals' (pivot z) and those of (0, 1, +-1) (pivot y); (0, 0, 1)'s is less than either.
    # Written out: morphology asks for each ROI, and nested generators over the directions took 3 us.
    nz, ny, nx = (int(n) for n in shape)
    tz, ty, tx = 2 * (nz + 1), 2 * (ny + 1), 2 * (nx + 1)
    lines = max((ty + 1 + tz) * (tx + 1 + tz), (tz + 1) * (tx + 1 + ty))
    return (nz + 2) * (ny + 2) * (nx + 2) + 8 * lines


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
    return _doubled_candidates(mask)[0] / 2.0 * np.asarray(spacing, dtype=np.float64)


def _doubled_candidates(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hull_candidates` in doubled padded indices (integers), C-contiguous, and their least and
    largest per axis, ``(2, 3)``."""
    # The driver's array expressions are parallel loops: serial below SERIAL_WORK voxels, or the
    # thread team it starts keeps a core busy after each call (the demo's ROIs: 0.5 -> 3 ms a study).
    return _hull_candidates_cpu.call(math.prod(n + 2 for n in mask.shape), mask, _DIRECTIONS)


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
    return volumes.sum(), pairwise_product_sum(areas, np.ones(n_faces), n_faces) / 2.0, corner


#: The most candidate points whose hull :func:`convex_hull` finds itself (``O(P F)`` time), more than
#: Qhull (``scipy.spatial.ConvexHull``) takes (measured on balls: 990 points 3.3 ms against 5.4,
#: 3726 points 130 ms against 116).
EXACT_HULL_POINTS = 2000


def convex_hull(mask: np.ndarray, spacing) -> tuple[np.ndarray, float, float, np.ndarray, tuple]:
    """The convex hull of ``mask``'s level-0.5 marching-cubes mesh: its candidate vertices
    (:func:`hull_candidates`), volume and area, and the mesh's extent.

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
    extent : tuple of 3 float [mm]
        ``points.max(axis=0) - points.min(axis=0)``, to the bit: the mesh's extent along each axis.

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
    doubled, ends = _doubled_candidates(mask)
    steps = [float(s) for s in spacing]
    voxel = steps[0] * steps[1] * steps[2]  # numpy.prod's product, in its order
    # points.max(axis=0) - points.min(axis=0) to the bit: the map to mm increases, so the extremes' images
    # are the images' extremes, each the same two roundings (a float64 division by 2 is exact).
    extent = tuple(high / 2.0 * s - low / 2.0 * s for low, high, s in zip(*ends.tolist(), steps, strict=True))
    spacing = np.asarray(spacing, dtype=np.float64)
    points = doubled / 2.0 * spacing
    if len(points) > EXACT_HULL_POINTS:
        # Imported here: scipy.spatial takes 0.1 s, which `import gpuimg` need not pay.
        from scipy.spatial import ConvexHull

        hull = ConvexHull(points)
        corners = np.zeros(len(points), dtype=bool)
        corners[hull.vertices] = True
        return points, float(hull.volume), float(hull.area), corners, extent
    six, area, corners = _convex_hull_cpu.call(len(points) ** 2, doubled, spacing / 2.0)
    return points, float(six) * voxel / 48.0, float(area), corners, extent


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
    return math.sqrt(_largest_squared_distance_cpu.call(len(points) ** 2 // 2, points))  # work: the pairs
