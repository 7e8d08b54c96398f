"""gpuimg.kernels.autocorrelation: Moran's and Geary's pair sums against their definition in NumPy."""

import numpy as np
import pytest
import scipy.spatial

from gpuimg.kernels.autocorrelation import inverse_distance_pairs


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


@pytest.mark.parametrize("shape", [(1, 1, 2), (6, 7, 9), (9, 4, 13)])
def test_threaded_and_serial_pair_sums_are_the_same_bits(rng, shape):
    """Each voxel's sums (vectorised, in the compiled loop's order) do not depend on the thread that
    runs them, and the voxels' are added in one order: the parallel driver and its serial twin agree."""
    from gpuimg.kernels.autocorrelation import _inverse_distance_pairs_cpu

    values = rng.normal(40.0, 10.0, shape)
    mask = rng.random(shape) < 0.6
    mask[0, 0, 0] = mask[-1, -1, -1] = True
    arguments = (values, mask.view(np.uint8), float(values[mask].mean()), np.array([2.5, 0.7, 0.9]))
    np.testing.assert_array_equal(
        _inverse_distance_pairs_cpu(*arguments), _inverse_distance_pairs_cpu.serial(*arguments)
    )
