"""The emulated device counts the device reads CuPy makes inside its own functions, as CuPy does.

The counts are read from CuPy's source (cited in gpuimg.testing._reads); where the real function's
source is installed, the test also checks that it still holds as many reads.
"""

import inspect

import numpy as np
import pytest

from gpuimg.testing.emulated_cuda import SYNCS

pytestmark = pytest.mark.emulated_cuda


@pytest.fixture
def cupy(device):
    """The emulated ``cupy`` module."""
    return device.modules["cupy"]


def _reads(run) -> int:
    before = SYNCS.count
    run()
    return SYNCS.count - before


#: (call, reads in CuPy 14.2's source) on x = [3, 0, 3, 1] (int64) and its mask x > 0.
CASES = {
    "bincount": (lambda cp, x: cp.bincount(x), 2),  # (x < 0).any(), int(cupy.max(x))
    "bincount, minlength past the largest": (lambda cp, x: cp.bincount(x, minlength=10), 2),
    "bincount of an empty array": (lambda cp, x: cp.bincount(x[:0], minlength=3), 1),
    "nonzero": (lambda cp, x: cp.nonzero(x), 1),  # int(scan_index[-1]) sizes the result
    "nonzero of an empty array": (lambda cp, x: cp.nonzero(x[:0]), 0),
    "ndarray.nonzero": (lambda cp, x: x.nonzero(), 1),
    "flatnonzero": (lambda cp, x: cp.flatnonzero(x), 1),
    "where(condition)": (lambda cp, x: cp.where(x > 0), 1),
    "where(condition, x, y)": (lambda cp, x: cp.where(x > 0, x, 0), 0),
    "unique": (lambda cp, x: cp.unique(x), 1),  # aux[mask]
    "unique, return_inverse": (lambda cp, x: cp.unique(x, return_inverse=True), 1),
    "unique, all three": (
        lambda cp, x: cp.unique(x, return_index=True, return_inverse=True, return_counts=True),
        3,  # aux[mask], perm[mask], nonzero(mask)
    ),
    "boolean mask": (lambda cp, x: x[x > 0], 1),
    "boolean mask, assigned": (lambda cp, x: x.__setitem__(x > 0, 0), 1),
    "integer index": (lambda cp, x: x[cp.asarray([0, 2])], 0),
    "searchsorted": (lambda cp, x: cp.searchsorted(cp.sort(x), x), 0),
    "scatter_add": (lambda cp, x: __import__("cupyx").scatter_add(cp.zeros(4), x, 1.0), 0),
}


@pytest.mark.parametrize("case", CASES)
def test_cupy_functions_read_the_device_as_cupy_does(case, cupy):
    call, expected = CASES[case]
    x = cupy.asarray(np.array([3, 0, 3, 1]))
    assert _reads(lambda: call(cupy, x)) == expected


def test_bincount_reads_in_the_real_source():
    """The installed CuPy's bincount still has the two reads the emulator counts."""
    real = pytest.importorskip("cupy")
    source = inspect.getsource(real.bincount)
    assert source.count("# synchronize!") == 2
    assert "if (x < 0).any():" in source and "size = int(cupy.max(x)) + 1" in source


def test_scatter_add_refuses_the_dtypes_cupy_refuses(cupy):
    """cupyx.scatter_add has no int64 atomics (_scatter_op_single in _routines_indexing.pyx)."""
    import cupyx

    with pytest.raises(TypeError, match="scatter_add only supports"):
        cupyx.scatter_add(cupy.zeros(3, dtype=np.int64), cupy.asarray([0, 1]), 1)
    with pytest.raises(TypeError):  # the real signature: (a, slices, value)
        cupyx.scatter_add(cupy.zeros(3), cupy.asarray([0, 1]))
    counts = cupy.zeros(3, dtype=np.uint64)
    cupyx.scatter_add(counts, cupy.asarray([0, 2, 2]), 1)  # repeated indices add up
    assert counts.get().tolist() == [1, 0, 2]
