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


_UNSOUND_SETUP = """
import numpy as np
from gpuimg.kernels import clahe, histogram
"""

#: Kernels given values outside their range, or arithmetic that overflows (a span beyond float64, an
#: infinite denominator): the bin of a value then came from int() of NaN or of infinity, undefined,
#: or lay past the last bin, and indexed memory (a crash of CLAHE on values of +-1e308; a count lost).
#: Each case checks the bins stay inside their array.
_UNSOUND = {
    "histogram_bins": (
        "src = np.array([-1e308, 0.0, 1e308]).reshape(1, 1, 3)\n"
        "edges = np.concatenate([np.linspace(-1e308, 0.0, 5), np.linspace(0.0, 1e308, 5)[1:]])\n"
        "hist = np.zeros(8, np.int64)\n"
        "histogram.histogram(src, np.zeros((1, 1, 1), np.uint8), hist, target='cpu', lo=-1e308,"
        " denom=np.inf, edges=edges, use_mask=False)\n"
        "assert hist.sum() == 3, hist"
    ),
    "clahe_bins": (
        "src = np.array([-1.0, 0.5, 5.0, np.nan, 1e308]).reshape(1, 1, 5)\n"
        "bins = np.empty(src.shape, np.uint16)\n"
        "clahe.quantise(src, bins, target='cpu', low=0.0, denom=1.0, top=16383, bin_size=64)\n"
        "assert bins.tolist() == [[[0, 8192 // 64, 255, 0, 255]]], bins"
    ),
}


def test_bins_stay_inside_their_array_when_the_arithmetic_overflows():
    from guarded import run_guarded

    results = run_guarded(_UNSOUND, _UNSOUND_SETUP, memory=3 * 1024**3, timeout=300)
    assert results == {name: None for name in _UNSOUND}, results
