"""Test-suite set-up: the CUDA simulator where no GPU is visible, and the rules of the markers.

- ``cudasim`` tests run the CUDA target of the kernels: in Numba's simulator where no GPU is visible
  (switched on here, before anything imports ``numba.cuda``), on the GPU where one is.
- ``gpu`` tests need a real GPU through CuPy: skipped without one, failed when
  ``GPUIMG_REQUIRE_GPU=1`` (so that a run on a GPU machine cannot pass by skipping them).
- ``ptx`` tests compile the kernels for sm_90 in a subprocess with the simulator off.
"""

import os


def _gpu_visible() -> bool:
    # Asked of CuPy directly: importing gpuimg here would import numba.cuda before the simulator
    # is chosen. Any failure (no CuPy, no driver) means no GPU.
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


GPU_VISIBLE = _gpu_visible()
if not GPU_VISIBLE:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REQUIRE_GPU = os.environ.get("GPUIMG_REQUIRE_GPU") == "1"


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") and not GPU_VISIBLE:
        reason = "needs a CUDA GPU visible to CuPy"
        if REQUIRE_GPU:
            pytest.fail(f"GPUIMG_REQUIRE_GPU=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def rng():
    """A generator with a fresh seed each run; the seed is printed, so a failure can be replayed."""
    seed = np.random.SeedSequence().entropy
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)


@pytest.fixture
def on_cuda_target(monkeypatch):
    """Put a NumPy array where the CUDA target of the kernels will run on it.

    On a GPU the array is copied to the device with CuPy. Without one, the CUDA kernels run in
    Numba's simulator, which takes NumPy arrays: the CPU namespace is replaced for the test by a
    namespace whose kernel target is "cuda" (its array libraries stay NumPy and SciPy).
    """
    if GPU_VISIBLE:
        import cupy

        return cupy.asarray
    import scipy.ndimage

    from gpuimg.backend import namespaces

    simulated = namespaces.Namespace("cuda", np, scipy.ndimage)
    monkeypatch.setattr(namespaces, "_cpu", lambda: simulated)
    return np.asarray
