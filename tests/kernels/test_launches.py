"""gpuimg.kernels.registry's CPU drivers under Numba's threading layers: threads that launch at once
(Dask's threaded scheduler) and processes forked after a launch (``multiprocessing`` on Linux, PyTorch's
DataLoader) get SciPy's results instead of a process ended by Numba ("Concurrent access has been
detected" under ``workqueue``; "fork() called from a process already using GNU OpenMP" under
``omp``, where ``multiprocessing.Pool.map`` then waited forever, as it did for any layer on the
separable filters' thread pool, whose threads a forked child does not have)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage as ndi

from gpuimg.edges import sobel
from gpuimg.kernels import registry
from gpuimg.kernels.registry import CPU_DRIVERS

_FORKED = """
import json, multiprocessing, numba, numpy as np
from gpuimg.edges import sobel
from gpuimg.kernels import registry
from gpuimg.preprocess import gaussian_filter

image = np.random.default_rng(0).normal(0, 100, (48, 64, 64)).astype(np.float32)
parent = np.asarray(sobel(image, 0)), np.asarray(gaussian_filter(image, 1.5))

def child(axis):
    # The Gaussian's passes run one slab per thread, in a pool the parent started.
    results = np.asarray(sobel(image, axis)), np.asarray(gaussian_filter(image, 1.5))
    return [r.tolist() for r in results], registry._LAUNCHES.serial

if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(child, [0, 2])
    parent = [r.tolist() for r in parent]
    layer = numba.threading_layer()
    gnu = layer == "omp" and __import__("numba.np.ufunc.omppool").np.ufunc.omppool.openmp_vendor == "GNU"
    print(json.dumps({"layer": layer, "gnu_openmp": gnu, "parent": parent, "children": results}))
"""

_THREADS = """
import json
from concurrent.futures import ThreadPoolExecutor
import dask.array as da, numba, numpy as np
from gpuimg.edges import sobel

image = np.random.default_rng(0).normal(0, 100, (48, 64, 64)).astype(np.float32)
lazy = sobel(da.from_array(image, chunks=(12, 64, 64)), 1).compute(scheduler="threads", num_workers=4)
with ThreadPoolExecutor(4) as pool:
    eager = list(pool.map(lambda axis: np.asarray(sobel(image, axis)).tolist(), [0, 1, 2, 0, 1, 2]))
print(json.dumps({"layer": numba.threading_layer(), "lazy": lazy.tolist(), "eager": eager}))
"""


def _run(code, tmp_path, layer):
    script = tmp_path / "job.py"
    script.write_text(code)
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    if done.returncode and "No threading layer could be loaded" in done.stderr:
        pytest.skip(f"Numba's {layer} threading layer is not available here")
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def _sobel(image, axis):
    """SciPy's Sobel derivative, in float64 (ours: float32 for float32 input)."""
    return ndi.sobel(image.astype(np.float64), axis)


@pytest.mark.parametrize("layer", ["omp", "workqueue"])
def test_processes_forked_after_a_launch_equal_scipy(tmp_path, layer):
    result = _run(_FORKED, tmp_path, layer)
    assert result["layer"] == layer
    image = np.random.default_rng(0).normal(0, 100, (48, 64, 64)).astype(np.float32)
    smooth = ndi.gaussian_filter(image.astype(np.float64), 1.5)
    np.testing.assert_allclose(result["parent"][0], _sobel(image, 0), rtol=0, atol=2e-3)
    np.testing.assert_allclose(result["parent"][1], smooth, rtol=0, atol=1e-4)
    for ((edges, smoothed), serial), axis in zip(result["children"], [0, 2], strict=True):
        np.testing.assert_allclose(edges, _sobel(image, axis), rtol=0, atol=2e-3)
        np.testing.assert_allclose(smoothed, smooth, rtol=0, atol=1e-4)
        # GNU OpenMP cannot run in a forked child: there the serial twin ran.
        assert serial == result["gnu_openmp"]


@pytest.mark.parametrize("layer", ["omp", "workqueue"])
def test_threads_launching_at_once_equal_scipy(tmp_path, layer):
    result = _run(_THREADS, tmp_path, layer)
    assert result["layer"] == layer
    image = np.random.default_rng(0).normal(0, 100, (48, 64, 64)).astype(np.float32)
    np.testing.assert_allclose(result["lazy"], _sobel(image, 1), rtol=0, atol=2e-3)
    for values, axis in zip(result["eager"], [0, 1, 2, 0, 1, 2], strict=True):
        np.testing.assert_allclose(values, _sobel(image, axis), rtol=0, atol=2e-3)


def test_serial_twins_equal_scipy_and_cache_apart(rng, monkeypatch):
    """What a child forked from a GNU OpenMP process runs, here in this process."""
    monkeypatch.setattr(registry._LAUNCHES, "direct", False)
    monkeypatch.setattr(registry._LAUNCHES, "serial", True)
    image = rng.normal(0, 100, (6, 20, 24)).astype(np.float32)
    np.testing.assert_allclose(sobel(image, 1), _sobel(image, 1), rtol=0, atol=2e-3)
    driver = CPU_DRIVERS["gpuimg.kernels.gradient._gradient_cpu"]
    assert driver.serial.signatures and not driver.serial.targetoptions.get("parallel")
    assert driver.targetoptions["parallel"]
    index = driver.serial._cache._cache_file._index_name
    assert index.endswith("-serial.nbi") and index != driver._cache._cache_file._index_name
