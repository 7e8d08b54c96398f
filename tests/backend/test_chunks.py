"""gpuimg.backend.chunks: chunked stencils and threaded separable passes equal the whole-volume result."""

import functools

import numba
import numpy as np
import pytest
import scipy.ndimage as ndi

from gpuimg.backend import map_stencil, separable_passes

da = pytest.importorskip("dask.array")


@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap", "constant"])
@pytest.mark.parametrize("size", [3, 5])
def test_any_scipy_filter_chunked_equals_whole(rng, mode, size):
    image = rng.normal(size=(19, 14, 23))
    stencil = functools.partial(ndi.uniform_filter, size=size, mode=mode, cval=2.5)
    lazy = da.from_array(image, chunks=((4, 2, 13), (14,), (7, 3, 9, 4)))
    got = map_stencil(stencil, lazy, depth=size // 2, periodic=mode == "wrap", dtype=image.dtype)
    np.testing.assert_allclose(got.compute(), stencil(image), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(9, 31, 17), (1, 40, 3), (64,)])
def test_separable_passes_equal_scipy_exactly(rng, threads, shape):
    """Slabs across another axis keep every filtered line whole: SciPy's own result, bit for bit."""
    image = rng.normal(size=shape).astype(np.float32)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        ours = separable_passes(
            lambda src, axis, out: ndi.gaussian_filter1d(src, 1.5, axis, 0, out, "mirror"),
            image,
            range(image.ndim),
        )
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(ours, ndi.gaussian_filter(image, 1.5, mode="mirror"))
    assert ours is not image
