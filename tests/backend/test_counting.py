"""gpuimg.backend.counting: bincount_fixed equals numpy.bincount on both devices."""

import numpy as np
import pytest

from gpuimg.backend import bincount_fixed, is_cupy, to_numpy

CASES = {
    "counts": (np.array([0, 4, 4, 2, 4]), None, 6),
    "float weights": (np.array([1, 1, 0, 5]), np.array([0.25, -1.5, 3.0, 1e-3]), 6),
    "float32 weights": (np.array([2, 0, 2]), np.array([0.1, 0.2, 0.3], np.float32), 3),
    "boolean weights": (np.array([0, 1, 1, 2], np.int32), np.array([True, False, True, True]), 3),
    "empty": (np.array([], np.int64), None, 4),
    "empty, weighted": (np.array([], np.int64), np.array([]), 2),
}


@pytest.mark.parametrize("case", CASES)
def test_bincount_fixed_equals_numpy_bincount(case):
    indices, weights, length = CASES[case]
    found = bincount_fixed(indices, weights, length=length)
    expected = np.bincount(indices, weights, minlength=length)
    assert found.dtype == expected.dtype
    np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("case", CASES)
def test_bincount_fixed_on_the_cuda_device(case, emulated_cuda, rng):
    indices, weights, length = CASES[case]
    device = [emulated_cuda(a) if a is not None else None for a in (indices, weights)]
    found = bincount_fixed(*device, length=length)
    expected = np.bincount(indices, weights, minlength=length)
    assert is_cupy(found) and found.dtype == expected.dtype
    # Counts exact; weighted sums are atomics in any order on a GPU: 1 ulp-scale tolerance.
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-15, atol=0)


def test_bincount_fixed_does_not_read_the_device(emulated_cuda, rng):
    from gpuimg.testing.emulated_cuda import SYNCS, DeviceArray

    indices = rng.integers(0, 50, 1000)
    weights = rng.random(1000)
    device = emulated_cuda(indices), emulated_cuda(weights)
    if not isinstance(device[0], DeviceArray):
        pytest.skip("counts the reads of the emulated device")
    before = SYNCS.count
    counts, sums = bincount_fixed(device[0], length=50), bincount_fixed(*device, length=50)
    assert SYNCS.count == before
    np.testing.assert_array_equal(counts.get(), np.bincount(indices, minlength=50))
    # Sums of 1000 values in another order: 1e-12 relative.
    np.testing.assert_allclose(sums.get(), np.bincount(indices, weights, minlength=50), rtol=1e-12)
