"""The emulated CUDA device behaves as CuPy / cupyx / cuML do where gpuimg's CUDA path depends on it.

Each test states a behaviour of the real library (from its documentation or source) and checks the
emulator against it; where the real library can answer without a GPU (signatures, validators,
cuML's constructors), the check asks the real library.
"""

import inspect

import numpy as np
import pytest

from gpuimg.testing.emulated_cuda import MEMORY, DeviceArray

pytestmark = pytest.mark.emulated_cuda


def test_arrays_are_their_own_type_and_refuse_implicit_conversion(device):
    import cupy

    x = cupy.asarray(np.arange(6.0).reshape(2, 3))
    assert isinstance(x, cupy.ndarray) and not isinstance(x, np.ndarray)
    message = "Implicit conversion to a NumPy array is not allowed"
    for implicit in (
        lambda: np.asarray(x),
        lambda: np.float32(x.sum()),
        lambda: np.ones(2)[cupy.asarray([0, 1])],
        lambda: np.array([1.0, x.max()]),
    ):
        with pytest.raises(TypeError, match=message):
            implicit()
    np.testing.assert_array_equal(x.get(), np.arange(6.0).reshape(2, 3))
    assert cupy.asnumpy(x).sum() == 15.0


def test_reductions_and_elements_are_zero_dimensional_device_arrays(device):
    import cupy

    x = cupy.asarray(np.arange(6.0))
    for value in (x.sum(), x.max(), cupy.percentile(x, 50), x[2], np.mean(x), cupy.linalg.norm(x)):
        assert isinstance(value, DeviceArray) and value.shape == ()
    assert float(x.sum()) == 15.0 and int(x[2]) == 2 and bool(x[1] > 0)


def test_host_arrays_are_refused_in_device_operations(device):
    import cupy

    x = cupy.asarray(np.arange(3.0))
    for mixed in (lambda: x + np.ones(3), lambda: np.ones(3) * x, lambda: cupy.where(x > 1, np.ones(3), 0)):
        with pytest.raises(TypeError, match="Unsupported type"):
            mixed()
    # Host index arrays and scalars are accepted, as CuPy converts them (_prepare_slice_list).
    assert float(x[np.array([2])][0]) == 2.0 and float((x + np.float64(1)).sum()) == 6.0


def test_numpy_functions_dispatch_to_the_device(device):
    import cupy

    x = cupy.asarray(np.arange(4.0))
    assert isinstance(np.sqrt(x), DeviceArray) and isinstance(np.concatenate([x, x]), DeviceArray)
    out = cupy.empty(4)
    assert np.multiply(x, 2, out=out) is out


def test_calls_bind_to_the_real_signatures(device):
    import cupy
    import cupyx.scipy.ndimage as ndi

    real = device.real["cupyx.scipy.ndimage"]
    assert "float64_coords" in inspect.signature(real.affine_transform).parameters
    x = cupy.asarray(np.ones((4, 4)))
    with pytest.raises(TypeError, match="unexpected keyword"):
        ndi.gaussian_filter(x, 1.0, axes_order=0)
    with pytest.raises(AttributeError):
        cupy.not_a_cupy_function  # noqa: B018
    with pytest.raises(AttributeError):
        x.not_a_cupy_method  # noqa: B018


def test_accepted_values_are_the_real_libraries(device):
    import cupy
    import cupyx.scipy.ndimage as ndi

    x = cupy.asarray(np.ones((4, 4)))
    with pytest.raises(RuntimeError, match="boundary mode not supported"):
        ndi.uniform_filter(x, 3, mode="grid-constant")
    ndi.affine_transform(x, np.eye(2), mode="grid-constant")  # cupyx's interpolation takes it
    with pytest.raises(NotImplementedError):
        ndi.distance_transform_edt(cupy.asarray(np.ones(5)))


@pytest.mark.parametrize(
    ("module", "name", "params"),
    [
        ("ensemble", "RandomForestRegressor", {"split_criterion": "squared_error"}),
        ("ensemble", "RandomForestClassifier", {"split_criterion": "log_loss"}),
        ("linear_model", "LogisticRegression", {"solver": "lbfgs"}),
        ("linear_model", "Ridge", {"solver": "cholesky"}),
        ("decomposition", "PCA", {"svd_solver": "randomized"}),
        ("cluster", "DBSCAN", {"algorithm": "kd_tree"}),
        ("svm", "SVC", {"probability": True}),
    ],
)
def test_cuml_rejects_what_cuml_rejects(device, module, name, params):
    import importlib

    cls = getattr(importlib.import_module(f"cuml.{module}"), name)
    if name == "SVC" and "probability" in inspect.signature(cls).parameters:
        pytest.skip("this cuML's SVC takes probability (26.02 does, 26.10 not); gpuimg calibrates either way")
    with pytest.raises((ValueError, TypeError)):
        cls(**params)


def test_memory_counts_device_buffers_alive(device):
    import cupy

    before = MEMORY.current
    MEMORY.reset()
    x = cupy.zeros(1000)  # 8000 bytes
    view = x[10:]
    y = x + 1
    assert MEMORY.current - before == 16000 and MEMORY.peak - before == 16000
    del x, y
    assert MEMORY.current - before == 8000  # the view keeps its buffer alive
    del view
    assert MEMORY.current == before


def test_auto_is_the_cpu_where_the_real_cupy_sees_no_gpu(monkeypatch):
    """The real CuPy installed (the test extra) and no GPU: "auto" still picks the CPU."""
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() > 0:
            pytest.skip("a GPU is visible")
    except Exception:  # no driver: what this test is about
        pass
    from gpuimg.backend import device

    monkeypatch.delenv("GPUIMG_DEVICE", raising=False)
    device._probe_cuda.cache_clear()
    try:
        assert device.resolve_device("auto") == "cpu" and not device.cuda_available()
        with pytest.raises(device.DeviceError, match=r"cannot use a GPU|sees no GPU"):
            device.resolve_device("cuda")
    finally:
        device._probe_cuda.cache_clear()


def test_a_host_array_of_the_other_byte_order_is_copied_as_bytes(device):
    # CuPy copies the bytes of a big-endian host array and reads them in the native order: 1 as '>i2'
    # arrives as 256 (cupy/cupy#3652, #9014, unfixed in CuPy 13); the emulator does the same, so that an
    # upload which forgets to swap them shows in the emulated runs.
    import cupy

    big = np.array([1, 2], dtype=">i2")
    for upload in (cupy.asarray, cupy.array):
        got = upload(big)
        assert got.dtype == np.dtype("=i2")
        assert got.get().tolist() == [256, 512]
