"""gpuimg.kernels.histogram: the CPU driver of the integer count, whatever the number of threads."""

import numpy as np
import pytest

from gpuimg.kernels.histogram import _integer_counts_cpu


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("size", [1, 2, 7, 13, 1000])
def test_integer_count_shares_cover_every_value_once(threads, size, rng):
    """Each thread counts a contiguous share, the last one shorter or empty; the sum is
    ``np.bincount`` of the values minus the smallest, added to what ``hist`` held."""
    values = rng.integers(-50, 50, size).astype(np.int16)
    smallest = values.min()
    hist = np.arange(int(values.max()) - int(smallest) + 1, dtype=np.int64)  # non-zero: added to
    want = hist + np.bincount(values.astype(np.int64) - smallest, minlength=hist.size)
    _integer_counts_cpu(values, hist, smallest, threads)
    np.testing.assert_array_equal(hist, want)
