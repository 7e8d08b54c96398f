"""Test-suite set-up: the CUDA simulator where no GPU is visible, and the rules of the markers.

- ``cudasim`` tests run the CUDA target of the kernels: in Numba's simulator where no GPU is visible
  (switched on here, before anything imports ``numba.cuda``), on the GPU where one is.
- ``gpu`` tests need a real GPU through CuPy: skipped without one, failed when
  ``GPUIMG_REQUIRE_GPU=1`` (so that a run on a GPU machine cannot pass by skipping them).
- ``ptx`` tests compile the kernels for sm_90 in a subprocess with the simulator off.
- ``rng`` draws a fresh seed each run and prints it; ``GPUIMG_TEST_SEED=<seed>`` replays it.
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


def _test_seed() -> int | None:
    """The seed set in ``GPUIMG_TEST_SEED``, None where it is not set."""
    value = os.environ.get("GPUIMG_TEST_SEED", "").strip()
    if not value:
        return None
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if seed < 0:
        raise pytest.UsageError(
            f"GPUIMG_TEST_SEED={value!r} must be an integer of at least 0 (a seed printed by a test, "
            "'random seed: ...'); unset it for a fresh seed."
        )
    return seed


def pytest_configure(config):
    _test_seed()  # a bad GPUIMG_TEST_SEED stops the run at once, not in each test


@pytest.fixture
def rng():
    """A generator with a fresh seed each run; the seed is printed, so a failure can be replayed.

    With the environment variable ``GPUIMG_TEST_SEED`` set to an integer (the printed seed of a
    failure), every test taking ``rng`` draws from that seed instead:
    ``GPUIMG_TEST_SEED=<seed> python -m pytest tests/...::test_name``.
    """
    seed = _test_seed()
    if seed is None:
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


@pytest.fixture
def emulated_cuda():
    """Put a NumPy array on the CUDA device, real or emulated, so that gpuimg's CUDA path runs on it.

    On a GPU: ``cupy.asarray``. Without one: the emulated CUDA device (gpuimg.testing.emulated_cuda),
    whose CuPy-like arrays refuse implicit host conversion and whose every call into CuPy, cupyx,
    cuCIM and cuML is checked against the installed real library; the kernels run in the simulator.
    Skipped where the real GPU libraries are not installed (a failure with GPUIMG_REQUIRE_GPU=1).
    """
    if GPU_VISIBLE:
        import cupy

        yield cupy.asarray
        return
    from gpuimg.testing.emulated_cuda import emulated_cuda as emulate
    from gpuimg.testing.emulated_cuda import emulator

    try:
        emulator()
    except ImportError as exc:  # the test extra installs them
        if REQUIRE_GPU:
            pytest.fail(f"the emulated CUDA device needs the real GPU libraries ({exc})")
        pytest.skip(f"the emulated CUDA device needs the real GPU libraries ({exc})")
    with emulate() as device:
        yield device.modules["cupy"].asarray


def pytest_collection_modifyitems(items):
    """Tests on the (real or emulated) CUDA device carry the marker ``emulated_cuda``, and those on
    the kernels' CUDA target (``on_cuda_target``) the marker ``cudasim``, for ``-m``."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "emulated_cuda" in fixtures:
            item.add_marker(pytest.mark.emulated_cuda)
        if "on_cuda_target" in fixtures:
            item.add_marker(pytest.mark.cudasim)
