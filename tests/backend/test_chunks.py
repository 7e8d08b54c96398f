"""gpuimg.backend.map_stencil: chunked stencils equal the whole-volume result, with SciPy as the stencil."""

import functools

import numpy as np
import pytest
import scipy.ndimage as ndi

from gpuimg.backend import map_stencil

da = pytest.importorskip("dask.array")


@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap", "constant"])
@pytest.mark.parametrize("size", [3, 5])
def test_any_scipy_filter_chunked_equals_whole(rng, mode, size):
    image = rng.normal(size=(19, 14, 23))
    stencil = functools.partial(ndi.uniform_filter, size=size, mode=mode, cval=2.5)
    lazy = da.from_array(image, chunks=((4, 2, 13), (14,), (7, 3, 9, 4)))
    got = map_stencil(stencil, lazy, depth=size // 2, periodic=mode == "wrap", dtype=image.dtype)
    np.testing.assert_allclose(got.compute(), stencil(image), rtol=1e-12, atol=1e-12)
