"""gpuimg.kernels.mesh: the count of cube configurations against their definition, in plain NumPy."""

import numpy as np
import pytest

from gpuimg.kernels.mesh import _cube_cases_cpu, case_sums, cube_cases


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


@pytest.mark.parametrize("shape", [(1, 1, 1), (9, 10, 11), (1, 7, 6), (0, 3, 4)])
def test_case_sums_equal_their_definition_in_fractions(rng, shape):
    """Exact: the sums taken in Python's fractions, from tables of eighths as the mesh's (random ones)."""
    from fractions import Fraction

    mask = (rng.random(shape) < 0.5).view(np.uint8)
    counts = definition(mask)
    normals = rng.integers(-16, 17, (256, 3))
    constants = rng.integers(-33, 34, 256)
    direction_counts = rng.integers(0, 4, (256, 72))
    six, totals = case_sums(counts, shape, normals, constants, direction_counts)
    want = sum(
        sum(
            (Fraction(int(counts[c, 1 + k])) - Fraction(int(counts[c, 0]) * shape[k], 2))
            * Fraction(int(normals[c, k]), 8)
            for k in range(3)
        )
        + int(counts[c, 0]) * Fraction(int(constants[c]), 8)
        for c in range(256)
    )
    assert Fraction(six, 16) == want
    np.testing.assert_array_equal(totals, counts[:, 0] @ direction_counts)
