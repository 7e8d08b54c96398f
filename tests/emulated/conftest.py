"""The emulated CUDA device itself, for the tests of the emulator (gpuimg's code uses ``emulated_cuda``)."""

import pytest

from gpuimg.testing.emulated_cuda import emulated_cuda, emulator


@pytest.fixture
def device():
    """The emulated device, active for the test; skipped without the real GPU libraries it checks against."""
    try:
        emulator()
    except ImportError as exc:
        pytest.skip(f"the emulated CUDA device needs the real GPU libraries ({exc})")
    with emulated_cuda() as emu:
        yield emu
