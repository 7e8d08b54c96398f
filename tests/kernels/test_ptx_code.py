"""What the PTX of particular kernels holds: no fused multiply-adds where the CPU target rounds twice,
no stack frame where the window should sit in registers.

The PTX is the session's sm_90 build of every registered kernel (the ``sm90`` fixture: compiled with
``numba.cuda.compile_ptx`` in subprocesses, the simulator off); no GPU or driver is needed.
"""

import re

import pytest

from gpuimg.kernels import load_all
from gpuimg.kernels.ptx import _assemble


def test_kernels_to_check_are_registered():
    registry = load_all()
    for name in (*_NO_FMA, _MEDIAN_3, _MEDIAN_5, _INTEGER_COUNTS):
        assert name in registry


_NO_FMA = (
    "gpuimg.kernels.canny._suppress_cuda",
    "gpuimg.kernels.zero_crossing._crossing_cuda",
    "gpuimg.kernels.zero_crossing._central_magnitude_cuda",
    "gpuimg.kernels.histogram._equalize_cuda",
)
_MEDIAN_3 = "gpuimg.kernels.median._median3_cuda"
_MEDIAN_5 = "gpuimg.kernels.median._median5_cuda"
_INTEGER_COUNTS = "gpuimg.kernels.histogram._integer_counts_cuda"


@pytest.mark.ptx
def test_interpolation_is_not_contracted_and_the_median_window_is_in_registers(sm90):
    """Defect 10: NVVM fused ``a*b + c*(1-b)`` into ``fma.rn`` (3 in Canny's suppression, 2 in
    ``interp``), so ties at the threshold could differ from the CPU target and scikit-image.
    Defect 11: the 3³ median's window was a local array indexed at run time (a 1,000-byte stack
    frame, ``ld.local`` / ``st.local`` for every comparator)."""
    for name in _NO_FMA:
        for code in sm90.ptx(name):
            assert "fma.rn" not in code, name
            assert "mul.rn.f" in code, name  # the products are there, rounded on their own
    for median in sm90.ptx(_MEDIAN_3):
        assert ".local" not in median


@pytest.mark.ptx
def test_median_5_has_no_stack_frame(sm90):
    """Defect 11: the 5³ median kept its 125 values in a local array indexed at run time (sm_90:
    163 registers, a 256-1,000-byte stack frame, every compare-swap through local memory). Now
    its window is read from a shared halo tile: no local memory in the PTX of any signature (keys
    of 16, 32 and 64 bits), and where nvJitLink is installed, ptxas reports a 0-byte stack frame
    and at most 64 registers (half of an SM's 2,048 threads resident, against an eighth before)."""
    codes = sm90.ptx(_MEDIAN_5)
    assert len(codes) == 3
    for code in codes:
        assert ".local" not in code
        assert "ld.shared" in code
        log = _assemble(code, (9, 0))
        if log is None:
            continue
        assert re.search(r"\b0 bytes stack frame", log), log
        assert int(re.search(r"Used (\d+) registers", log)[1]) <= 64, log


@pytest.mark.ptx
def test_integer_counts_has_no_float_arithmetic(sm90):
    """The integer count is ``counts[value - smallest] += 1``: for each of its signatures (8-, 16-,
    32- and 64-bit values) the sm_90 PTX has no float instruction and no stack frame, counts with
    32-bit atomics in shared memory and adds to the histogram with 64-bit global atomics."""
    signatures = load_all()[_INTEGER_COUNTS].signatures
    assert {s.split("[")[0].removeprefix("void(") for s in signatures} >= {"uint8", "int8", "uint16", "int16"}
    codes = sm90.ptx(_INTEGER_COUNTS)
    assert len(codes) == len(signatures)
    for code in codes:
        assert not re.search(r"\.f(16|32|64)\b", code)
        assert "atom.shared.add.u32" in code and "atom.global.add.u64" in code
        assert ".local" not in code
