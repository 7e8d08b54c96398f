"""gpuimg.kernels.hull: the convex hull of the edge midpoints kept against Qhull's of all of them; the
largest distance against scipy's pdist."""

import numpy as np
import pytest
import scipy.spatial

from gpuimg.kernels.hull import (
    EXACT_HULL_POINTS,
    convex_hull,
    hull_candidates,
    hull_candidates_bytes,
    largest_distance,
)
from gpuimg.kernels.registry import SERIAL_WORK


def edge_midpoints(mask, spacing):
    """Every midpoint [mm] of an edge between an inside and an outside voxel of the zero-padded mask."""
    padded = np.pad(mask != 0, 1)
    points = []
    for axis in range(3):
        crossing = np.diff(padded, axis=axis)
        found = np.argwhere(crossing).astype(float)
        found[:, axis] += 0.5
        points.append(found)
    return np.concatenate(points) * np.asarray(spacing)


@pytest.mark.parametrize(
    "shape, fill",
    [((9, 10, 11), 0.5), ((12, 12, 12), 0.9), ((6, 15, 8), 0.05), ((1, 7, 6), 0.6), ((2, 1, 13), 0.7)],
)
def test_hull_candidates_keep_the_hull_of_every_edge_midpoint(rng, shape, fill):
    """A subset of the midpoints holding every vertex of their hull: the same hull (volume, area to
    Qhull's rounding), diameter and extent; grid points lie on few planes, which is what the filter
    thins out."""
    mask = (rng.random(shape) < fill).view(np.uint8)
    mask[shape[0] // 2, shape[1] // 2, shape[2] // 2] = 1  # not empty
    spacing = (2.5, 0.7, 0.9)
    every = edge_midpoints(mask, spacing)
    kept = hull_candidates(mask, spacing)
    assert len(kept) <= len(every)
    assert set(map(tuple, kept)) <= set(map(tuple, every))
    full = scipy.spatial.ConvexHull(every)
    assert set(map(tuple, every[full.vertices])) <= set(map(tuple, kept))
    ours = scipy.spatial.ConvexHull(kept)
    # Qhull sums the facets of another triangulation of the same hull: rounding, about 1e-15.
    np.testing.assert_allclose([ours.volume, ours.area], [full.volume, full.area], rtol=1e-12)
    np.testing.assert_array_equal(kept.max(axis=0) - kept.min(axis=0), every.max(axis=0) - every.min(axis=0))
    pdist = scipy.spatial.distance.pdist
    assert pdist(kept[ours.vertices]).max() == pdist(every[full.vertices]).max()


def test_hull_candidates_drop_the_points_between_others():
    """A 3 x 4 x 5 box: of the midpoints on each face (a grid of them) only its 4 corners are outermost
    on every line through them; the 24 are the vertices of the hull (the box with its edges cut)."""
    mask = np.ones((3, 4, 5), np.uint8)
    every = edge_midpoints(mask, (1.0, 1.0, 1.0))
    assert len(every) == 2 * (3 * 4 + 3 * 5 + 4 * 5)
    kept = hull_candidates(mask, (1.0, 1.0, 1.0))
    hull = scipy.spatial.ConvexHull(every)
    assert len(kept) == len(hull.vertices) == 24
    assert set(map(tuple, kept)) == set(map(tuple, every[hull.vertices]))


@pytest.mark.parametrize(
    "shape, fill",
    [
        ((1, 1, 1), 1.0),
        ((9, 10, 11), 0.5),
        ((12, 12, 12), 0.9),
        ((6, 15, 8), 0.05),
        ((1, 7, 6), 0.6),
        ((2, 1, 13), 0.7),
    ],
)
def test_convex_hull_is_qhull_s_hull_of_every_edge_midpoint(rng, shape, fill):
    """Qhull's hull of all the midpoints: the same volume and area (Qhull's rounding: about 2.5e-15
    relative), its vertices among the corners, so the same farthest pair; the points are
    hull_candidates'."""
    mask = (rng.random(shape) < fill).view(np.uint8)
    mask[shape[0] // 2, shape[1] // 2, shape[2] // 2] = 1  # not empty
    spacing = (2.5, 0.7, 0.9)
    points, volume, area, corners, extent = convex_hull(mask, spacing)
    np.testing.assert_array_equal(points, hull_candidates(mask, spacing))
    every = edge_midpoints(mask, spacing)
    np.testing.assert_array_equal(extent, every.max(axis=0) - every.min(axis=0))  # to the bit
    qhull = scipy.spatial.ConvexHull(every)
    np.testing.assert_allclose([volume, area], [qhull.volume, qhull.area], rtol=1e-13)
    assert set(map(tuple, every[qhull.vertices])) <= set(map(tuple, points[corners]))
    pdist = scipy.spatial.distance.pdist
    assert largest_distance(points[corners]) == pdist(every[qhull.vertices]).max()


@pytest.mark.parametrize("radius", [40, 60])
def test_convex_hull_of_a_large_ball(radius):
    """A ball of radius 40 (about 1800 candidates: over SERIAL_WORK pairs of them, the threaded driver)
    and 60 (3700, past EXACT_HULL_POINTS: Qhull's hull): Qhull's volume and area of the candidates."""
    z, y, x = np.ogrid[-radius - 2 : radius + 2, -radius - 2 : radius + 2, -radius - 2 : radius + 2]
    mask = (z * z + y * y + x * x <= radius * radius).view(np.uint8)
    spacing = (2.0, 1.25, 1.25)
    points, volume, area, corners, extent = convex_hull(mask, spacing)
    np.testing.assert_array_equal(extent, points.max(axis=0) - points.min(axis=0))  # to the bit
    assert (len(points) <= EXACT_HULL_POINTS) == (radius == 40) and len(points) ** 2 >= SERIAL_WORK
    qhull = scipy.spatial.ConvexHull(points)
    np.testing.assert_allclose([volume, area], [qhull.volume, qhull.area], rtol=1e-13)
    assert set(qhull.vertices) <= set(np.flatnonzero(corners))


# 2100 points: over SERIAL_WORK pairs, on every thread.
@pytest.mark.parametrize("n", [1, 2, 3, 17, 120, 2100])
def test_largest_distance_is_pdist_s_largest_to_the_bit(rng, n):
    """Random points, and grid points times a spacing as morphology's hull vertices are (many pairs at
    one distance): scipy's pdist(...).max() to the bit (the claim morphology's diameter rests on), and
    the largest of every pair's distance in plain NumPy, summed in another order, to an ulp or two."""
    spacing = np.array([2.5, 0.7, 0.9])
    for points in (
        rng.normal(0.0, 10.0 ** rng.integers(-3, 4), (n, 3)),
        rng.integers(0, 30, (n, 3)) / 2.0 * spacing,
        rng.normal(1e6, 1.0, (n, 3)),  # far from the origin: the differences cancel
    ):
        got = largest_distance(points)
        assert got == (scipy.spatial.distance.pdist(points).max() if n > 1 else 0.0)
        offsets = points[:, None, :] - points[None, :, :]
        reference = np.sqrt(np.einsum("ijk,ijk->ij", offsets, offsets)).max()
        np.testing.assert_allclose(got, reference, rtol=1e-15, atol=0.0)  # 3 terms in another order


@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (9, 10, 11), (1, 7, 6), (2, 1, 13), (40, 3, 250), (np.int64(5), np.int32(17), 2)]
)
def test_hull_candidates_bytes_bound_the_kernels_tables(shape):
    """The bytes morphology checks before hull_candidates: the padded copy, a byte a voxel, and 8 bytes a
    line of the largest plane of lines along a grid direction. A line along d is its point where the
    coordinate of d's first non-zero component (the pivot p) is 0; of the doubled indices 0 .. t of the
    padded box, the other two coordinates c - c_p d span t_a + 1 + t_p values where d moves along
    that axis, t_a + 1 where it does not: the kernel's table has as many lines as the largest of the
    13 directions' planes."""
    top = [2 * (int(n) + 1) for n in shape]
    steps = (-1, 0, 1)
    directions = [(dz, dy, dx) for dz in (0, 1) for dy in steps for dx in steps if (dz, dy, dx) > (0, 0, 0)]
    assert len(directions) == 13
    needed = 0
    for d in directions:
        pivot = next(a for a in range(3) if d[a])
        spans = [top[a] + 1 + top[pivot] * (d[a] != 0) for a in range(3) if a != pivot]
        needed = max(needed, spans[0] * spans[1])
    padded = int(np.prod([int(n) + 2 for n in shape]))
    assert hull_candidates_bytes(shape) == padded + 8 * needed
