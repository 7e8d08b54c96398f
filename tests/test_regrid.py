"""gpuimg._regrid.past_the_edges, the edge rule of resample(reference=) and stitch(resample=True):
against the closed form, every output voxel's continuous index computed in full by plain NumPy."""

import numpy as np
import pytest

from gpuimg._regrid import EDGE_TOL, past_the_edges


def closed_form(matrix, offset, shape, out_shape) -> np.ndarray:
    """True where ``matrix @ r + offset`` lies outside ``[-0.5 - tol, n - 0.5 + tol]`` on an axis."""
    r = np.indices(out_shape, dtype=float).reshape(len(out_shape), -1)
    index = matrix @ r + np.asarray(offset)[:, None]
    n = np.asarray(shape, dtype=float)[:, None]
    outside = np.any((index < -0.5 - EDGE_TOL) | (index > n - 0.5 + EDGE_TOL), axis=0)
    return outside.reshape(out_shape)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_the_mask_is_the_closed_form_of_a_turned_shifted_grid(rng, ndim):
    for _ in range(20):
        shape = tuple(int(n) for n in rng.integers(1, 12, ndim))
        out_shape = tuple(int(n) for n in rng.integers(1, 12, ndim))
        matrix = rng.normal(0.0, 1.0, (ndim, ndim))
        offset = rng.normal(0.0, 4.0, ndim)
        expected = closed_form(matrix, offset, shape, out_shape)
        found = past_the_edges(np, matrix, offset, shape, out_shape, "a test")
        if found is None:
            assert not expected.any()
        else:
            np.testing.assert_array_equal(found, expected)


def test_none_where_every_voxel_lies_within_the_edges():
    # A 2x finer grid over the same 4 voxels: new centres at -0.25 .. 3.25, inside [-0.5, 3.5].
    assert past_the_edges(np, 0.5 * np.eye(3), [-0.25] * 3, (4, 4, 4), (8, 8, 8), "a test") is None


def test_the_tolerance_keeps_a_point_just_past_the_edge():
    # Output voxels at image index -0.5 - tol/2 (kept), -0.5 - 2 tol (past) and 3.5 + tol/2 (kept).
    offset = [-0.5 - EDGE_TOL / 2]
    kept = past_the_edges(np, np.array([[4.0 + EDGE_TOL / 2]]), offset, (4,), (2,), "a test")
    assert kept is None
    past = past_the_edges(np, np.eye(1), [-0.5 - 2 * EDGE_TOL], (4,), (2,), "a test")
    assert past.tolist() == [True, False]
