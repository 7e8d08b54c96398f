"""gpuimg.backend.device: choosing the device, and failing clearly where CUDA is missing."""

import subprocess
import sys
import textwrap
import types

import pytest

import gpuimg
from gpuimg.backend import device as device_module
from gpuimg.backend import resolve_device


@pytest.fixture
def fresh_probe():
    """Forget the cached CUDA probe before and after the test."""
    device_module._probe_cuda.cache_clear()
    yield
    device_module._probe_cuda.cache_clear()


def test_cpu_is_always_available(monkeypatch):
    monkeypatch.setenv("GPUIMG_DEVICE", "cuda")
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("value", ["cpu", "CPU", " cpu "])
def test_environment_variable_chooses_the_device(monkeypatch, value):
    monkeypatch.setenv("GPUIMG_DEVICE", value)
    assert resolve_device() == "cpu"
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize("value", ["CPU", "Cpu", " cpu ", "CUDA", "Cuda", "AUTO"])
def test_the_keyword_takes_a_device_name_in_any_case_as_the_environment_variable_does(monkeypatch, value):
    """device="CUDA" or "Cpu" was refused ('is not a device') while GPUIMG_DEVICE=CUDA was lower-cased:
    the keyword now gives what the environment variable gives for the same name (a DeviceError for
    CUDA without a GPU, its message the same)."""
    monkeypatch.setenv("GPUIMG_DEVICE", value)
    try:
        want = resolve_device("auto")  # the environment variable's rule: the reference
    except gpuimg.DeviceError as exc:
        want = str(exc).replace("GPUIMG_DEVICE=", "device=", 1)  # the source it names
    monkeypatch.delenv("GPUIMG_DEVICE")
    try:
        got = resolve_device(value)
    except gpuimg.DeviceError as exc:
        got = str(exc)
    if value.strip().lower() == "auto":  # the keyword "AUTO" reads the (now unset) variable
        want = resolve_device("auto")
    assert got == want
    assert "is not a device" not in got


def test_auto_without_environment_follows_the_probe(monkeypatch):
    monkeypatch.delenv("GPUIMG_DEVICE", raising=False)
    assert resolve_device() == ("cuda" if gpuimg.backend.cuda_available() else "cpu")


@pytest.mark.parametrize(
    ("argument", "env", "source"), [("gpu", None, "device"), ("auto", "gpu", "GPUIMG_DEVICE")]
)
def test_unknown_device_names_the_choices(monkeypatch, argument, env, source):
    if env:
        monkeypatch.setenv("GPUIMG_DEVICE", env)
    with pytest.raises(
        gpuimg.DeviceError, match=f"{source}='gpu' is not a device; use 'auto', 'cpu' or 'cuda'"
    ):
        resolve_device(argument)


@pytest.mark.parametrize(("argument", "env"), [("cuda:1", None), ("auto", "cuda:1"), ("CUDA : 1", None)])
def test_a_gpu_by_number_is_refused_with_the_way_to_choose_it(monkeypatch, argument, env):
    # 'cuda:1' (PyTorch's spelling) was refused as any unknown name, without saying how gpuimg
    # computes on the second GPU.
    if env:
        monkeypatch.setenv("GPUIMG_DEVICE", env)
    with pytest.raises(gpuimg.DeviceError, match=r"is not a device.* pass 'cuda' .*CUDA_VISIBLE_DEVICES=1 "):
        resolve_device(argument)


class _CUDARuntimeError(RuntimeError):
    pass


def _fake_cupy(fail_at: str):
    """A CuPy whose runtime fails where a machine without a usable driver fails."""

    def device_count():
        if fail_at == "count":
            raise _CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
        return 0 if fail_at == "none" else 1

    def zeros(_):
        raise _CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    runtime = types.SimpleNamespace(getDeviceCount=device_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), zeros=zeros)


@pytest.mark.parametrize(
    ("fail_at", "reason"),
    [
        ("count", "CuPy is installed but cannot use a GPU (_CUDARuntimeError: cudaErrorInsufficientDriver"),
        ("alloc", "CuPy is installed but cannot use a GPU (_CUDARuntimeError: cudaErrorInsufficientDriver"),
        ("none", "CuPy is installed but sees no GPU"),
    ],
)
def test_cupy_without_a_usable_gpu_falls_back_or_explains(monkeypatch, fresh_probe, fail_at, reason):
    """Where `import cupy` works but the driver is missing, auto means CPU and cuda is a DeviceError."""
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(fail_at))
    monkeypatch.delenv("GPUIMG_DEVICE", raising=False)
    assert not gpuimg.backend.cuda_available()
    assert resolve_device("auto") == "cpu"
    with pytest.raises(gpuimg.DeviceError) as caught:
        resolve_device("cuda")
    assert reason in str(caught.value)
    assert "pip install -e '.[cuda13]'" in str(caught.value)
    assert isinstance(caught.value, RuntimeError)


def test_without_cupy_gpuimg_imports_and_computes_on_the_cpu():
    """In a fresh interpreter where CuPy cannot be imported at all."""
    script = textwrap.dedent(
        """
        import os, sys
        sys.modules["cupy"] = None  # makes `import cupy` raise ImportError
        os.environ.pop("GPUIMG_DEVICE", None)
        import numpy as np, scipy.ndimage as ndi
        import gpuimg
        from gpuimg.edges import sobel
        assert gpuimg.backend.resolve_device() == "cpu"
        image = np.random.default_rng().random((6, 7, 8))
        assert np.allclose(sobel(image, 1), ndi.sobel(image, axis=1))
        os.environ["GPUIMG_DEVICE"] = "cuda"
        try:
            gpuimg.backend.resolve_device()
        except gpuimg.DeviceError as exc:
            print(exc)
        """
    )
    env = {"NUMBA_ENABLE_CUDASIM": "0", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "CuPy is not installed" in done.stdout
    assert "pip install -e '.[cuda13]'" in done.stdout
