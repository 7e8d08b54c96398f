"""gpuimg.kernels.moments: the voxels' centre and second moments against NumPy's and exact integer sums."""

import numpy as np
import pytest

from gpuimg.kernels.moments import voxel_moments


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
