"""gpuimg.kernels.mesh: the count of cube configurations against their definition, in plain NumPy; the
convex hull of the edge midpoints kept against Qhull's of all of them."""

import numpy as np
import pytest
import scipy.spatial

from gpuimg.kernels.mesh import (
    EXACT_HULL_POINTS,
    _cube_cases_cpu,
    convex_hull,
    cube_cases,
    hull_candidates,
    inverse_distance_pairs,
    largest_distance,
    voxel_moments,
)
from gpuimg.kernels.registry import SERIAL_WORK


def definition(mask):
    """Per configuration of the zero-padded mask's 2 x 2 x 2 cubes: count and sums of origins (z, y, x)."""
    padded = np.pad(mask != 0, 1).astype(np.int64)
    nz, ny, nx = (n - 1 for n in padded.shape)
    case = sum(
        padded[dz : dz + nz, dy : dy + ny, dx : dx + nx] << (4 * dz + 2 * dy + dx)
        for dz in range(2)
        for dy in range(2)
        for dx in range(2)
    )
    origins = np.indices(case.shape).reshape(3, -1)
    flat = case.ravel()
    want = np.stack(
        [np.bincount(flat, minlength=256)] + [np.bincount(flat, o, minlength=256) for o in origins], axis=1
    ).astype(np.int64)
    want[[0, 255]] = 0
    return want


@pytest.mark.parametrize("shape", [(1, 1, 1), (9, 10, 11), (1, 7, 6), (5, 1, 1), (0, 3, 4)])
def test_cube_cases_equal_the_definition(rng, shape):
    mask = (rng.random(shape) < 0.5).view(np.uint8)
    np.testing.assert_array_equal(cube_cases(mask), definition(mask))


@pytest.mark.parametrize("threads", [1, 2, 3, 7, 20])
def test_every_thread_share_gives_the_same_counts(rng, threads):
    """More threads than z planes included: the shares past the last plane are empty."""
    mask = (rng.random((11, 6, 9)) < 0.4).view(np.uint8)
    out = np.zeros((256, 4), np.int64)
    _cube_cases_cpu(mask, out, threads)
    np.testing.assert_array_equal(out, definition(mask))


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
    points, volume, area, corners = convex_hull(mask, spacing)
    np.testing.assert_array_equal(points, hull_candidates(mask, spacing))
    every = edge_midpoints(mask, spacing)
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
    points, volume, area, corners = convex_hull(mask, spacing)
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


# 130 x 130 x 130: over SERIAL_WORK voxels, its planes on every thread.
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (9, 10, 11), (1, 7, 6), (5, 1, 1), (40, 41, 42), (130, 130, 130)]
)
def test_voxel_moments_are_numpy_s(rng, shape):
    """The count and centre of the voxels equal, to the bit, what NumPy gives from numpy.nonzero (the
    centre as mean(axis=0)); the sums of products of their deviations equal NumPy's .sum() of each
    contiguous row (pairwise, which the kernel follows; the large boxes take its halves past 128 values)
    to a few ulps (NumPy 2.0 splits large sums otherwise than 2.4, whose bits they are), and the scatter
    matrix is the closed-form one of exact integer sums to a few ulps."""
    mask = rng.random(shape) < rng.uniform(0.05, 0.95)
    mask[tuple(n // 2 for n in shape)] = True  # not empty
    spacing = rng.uniform(0.3, 3.0, 3)
    count, centre, products = voxel_moments(np.ascontiguousarray(mask).view(np.uint8), spacing)
    positions = np.stack(np.nonzero(mask), axis=1) * spacing
    assert count == len(positions)
    mean = positions.mean(axis=0)
    np.testing.assert_array_equal(centre, mean)
    rows = np.ascontiguousarray((positions - mean).T)
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    np.testing.assert_allclose(products, [(rows[i] * rows[j]).sum() for i, j in pairs], rtol=1e-13, atol=0)
    indices = np.argwhere(mask).astype(object)  # exact integers: n S_ij - S_i S_j, over n
    sums, n = indices.sum(axis=0), len(indices)
    exact = [float(((indices[:, i] * indices[:, j]).sum() * n - sums[i] * sums[j]) / n) for i, j in pairs]
    scale = [spacing[i] * spacing[j] for i, j in pairs]
    largest = max(abs(e * s) for e, s in zip(exact, scale, strict=True))
    np.testing.assert_allclose(products, np.multiply(exact, scale), rtol=0, atol=1e-13 * max(largest, 1e-300))


# About 2500 voxels: over SERIAL_WORK pairs, each voxel's sums on its own thread.
@pytest.mark.parametrize(
    "shape, fill",
    [((1, 1, 2), 1.0), ((3, 1, 1), 0.7), ((6, 7, 9), 0.4), ((5, 12, 12), 1.0), ((14, 15, 20), 0.6)],
)
def test_inverse_distance_pairs_equal_the_pair_sums(rng, shape, fill):
    """Moran's and Geary's sums against their definition in plain NumPy (every ordered pair of the
    mask's voxels, pdist's distances), on a view of a larger image with NaN outside the mask."""
    image = rng.normal(40.0, 10.0, (shape[0] + 2, shape[1], shape[2] + 3))
    values = image[1:-1, :, 2:-1]  # not contiguous
    mask = rng.random(shape) < fill
    mask[0, 0, 0] = mask[-1, -1, -1] = True
    values[~mask] = np.nan  # read nowhere
    spacing = (2.5, 0.7, 0.9)
    mean = values[mask].mean()
    got = inverse_distance_pairs(values, mask, mean, spacing)
    distances = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(np.argwhere(mask) * spacing))
    weights = np.divide(1.0, distances, out=np.zeros_like(distances), where=distances > 0)
    dev = values[mask] - mean
    expected = [weights.sum(), dev @ weights @ dev, (weights * (dev[:, None] - dev[None, :]) ** 2).sum()]
    # Each sum of up to 6e6 terms in two orders, each to about 1e-15 of the terms' magnitudes;
    # Moran's sum (signed terms) cancels to about 1e-2 of them.
    np.testing.assert_allclose(got, expected, rtol=1e-12)
