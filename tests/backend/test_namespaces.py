"""gpuimg.backend.namespaces: the libraries of each device, and transfers."""

import numpy as np
import pytest
import scipy.ndimage
import skimage

import gpuimg
from gpuimg.backend import is_cupy, is_dask, namespace, namespace_for, to_device, to_numpy


def test_numpy_arrays_and_array_likes_get_the_cpu_namespace(rng):
    for data in (rng.random((3, 4)), [[1.0, 2.0]], 3.0):
        ns = namespace(data)
        assert (ns.device, ns.target, ns.xp, ns.ndi, ns.ski) == ("cpu", "cpu", np, scipy.ndimage, skimage)


def test_dask_arrays_get_the_namespace_of_their_chunks(rng):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(rng.random((6, 6)), chunks=3)
    assert is_dask(lazy) and not is_cupy(lazy)
    assert namespace(lazy) is namespace_for("cpu")


def test_to_numpy_and_to_device_on_the_cpu_keep_the_values(rng):
    data = rng.random((4, 5))
    assert to_device(data, "cpu") is data
    np.testing.assert_array_equal(to_numpy(data.tolist()), data)
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(data, chunks=2)
    assert to_device(lazy, "cpu") is lazy
    np.testing.assert_array_equal(to_numpy(lazy), data)


@pytest.mark.skipif(gpuimg.backend.cuda_available(), reason="a GPU is usable here")
def test_to_device_cuda_without_a_gpu_raises_device_error(rng):
    with pytest.raises(gpuimg.DeviceError, match="asks for a GPU"):
        to_device(rng.random(3), "cuda")


@pytest.mark.gpu
def test_round_trip_through_the_gpu(rng):
    import cupy

    data = rng.random((4, 5, 6)).astype(np.float32)
    on_gpu = to_device(data, "cuda")
    ns = namespace(on_gpu)
    assert isinstance(on_gpu, cupy.ndarray)
    # ndi is cupyx.scipy.ndimage behind gpuimg's adapter (SciPy's modes and dimensions).
    assert (ns.device, ns.xp, ns.ndi.__name__) == ("cuda", cupy, "cupyx.scipy.ndimage")
    np.testing.assert_array_equal(to_numpy(on_gpu), data)
    da = pytest.importorskip("dask.array")
    lazy = to_device(da.from_array(data, chunks=2), "cuda")
    assert namespace(lazy).device == "cuda"
    np.testing.assert_array_equal(to_numpy(lazy), data)


def test_cuda_namespace_without_cucim_names_the_extra(monkeypatch):
    import sys

    import scipy.ndimage

    from gpuimg.backend import Namespace

    # `import cucim.skimage` raises ImportError (also where an earlier test imported the real one).
    monkeypatch.setitem(sys.modules, "cucim", None)
    monkeypatch.setitem(sys.modules, "cucim.skimage", None)
    with pytest.raises(gpuimg.DeviceError, match=r"needs cuCIM .* pip install -e '\.\[cuda13\]'"):
        _ = Namespace("cuda", np, scipy.ndimage).ski


@pytest.mark.parametrize("shape", [(5, 6, 7), (64, 128, 130)])  # below and above the threaded size
def test_cpu_fft_equals_numpy(rng, shape):
    ns = namespace(np.zeros(1))
    image = rng.normal(size=shape)
    grid = tuple(n + 3 for n in shape)
    spectrum = ns.fft.rfftn(image, grid, axes=(0, 1, 2))
    # pocketfft in both; the threaded split changes no arithmetic beyond rounding.
    np.testing.assert_allclose(spectrum, np.fft.rfftn(image, grid, axes=(0, 1, 2)), rtol=1e-12, atol=1e-9)
    back = ns.fft.irfftn(spectrum, grid, axes=(0, 1, 2))
    np.testing.assert_allclose(back[tuple(slice(0, n) for n in shape)], image, atol=1e-12)
