"""gpuimg.edges.canny of a Dask array (gpuimg/edges/_canny_chunks.py): chunk by chunk, the edges of
the whole image, edges that cross chunk borders and hysteresis chains that link across them included."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.feature

import gpuimg
from gpuimg.edges import canny

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


def _scene(rng, shape):
    """Smoothed noise with a bright box: edges everywhere, long chains crossing every chunk border."""
    image = ndi.gaussian_filter(rng.normal(size=shape), 1.5) * 4.0
    image[tuple(slice(n // 4, 3 * n // 4) for n in shape)] += 3.0
    return image


@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "wrap"])
def test_2d_dask_canny_equals_scikit_image(rng, mode):
    image = _scene(rng, (61, 47))
    want = skimage.feature.canny(image, 1.5, 0.4, 1.2, mode=mode)
    lazy = canny(da.from_array(image, chunks=((20, 7, 34), (13, 17, 17))), 1.5, 0.4, 1.2, mode=mode)
    assert isinstance(lazy, da.Array) and want.sum() > 100
    np.testing.assert_array_equal(lazy.compute(), want)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_2d_dask_canny_of_integers_in_wrap_mode_equals_scikit_image(rng, device, request):
    """The smoothing wraps around the image, the derivatives stop at its edge (regression: the chunks
    at the edge were classified with the opposite edge as their halo, so the image's edge pixels
    became edges and their neighbours' suppression read the wrong side). An integer image: its
    default thresholds are fractions of the dtype's maximum, as in scikit-image."""
    image = (_scene(rng, (40, 33)) * 20 + 100).clip(0, 255).astype(np.uint8)
    want = skimage.feature.canny(image, 1.5, mode="wrap")
    lazy = da.from_array(image, chunks=((15, 25), (10, 23)))
    if device == "cuda":
        lazy = lazy.map_blocks(request.getfixturevalue("emulated_cuda"))
    with dask.config.set(scheduler="synchronous"):  # the kernels' simulator runs one launch at a time
        got = canny(lazy, 1.5, mode="wrap").compute()
    assert want.sum() > 50 and want[[0, -1]].sum() + want[:, [0, -1]].sum() == 0
    np.testing.assert_array_equal(gpuimg.to_numpy(got), want)


@pytest.mark.parametrize("method", ["sobel", "zero_crossing"])
def test_3d_dask_canny_equals_the_whole_volume(rng, method):
    """The in-core canny (tested against scikit-image and SimpleITK) on the whole volume; the
    comparison covers every crop, those straddling the chunk borders among them."""
    image = _scene(rng, (22, 25, 19)).astype(np.float32)
    low, high = (0.3, 0.9) if method == "sobel" else (0.02, 0.08)
    whole = canny(image, 1.0, low, high, method=method, mode="nearest")
    lazy = canny(
        da.from_array(image, chunks=(7, (5, 11, 9), 10)), 1.0, low, high, method=method, mode="nearest"
    )
    got = lazy.compute()
    assert whole.sum() > 100 and whole[6:8].sum() > 0  # edges on both sides of a chunk border
    np.testing.assert_array_equal(got, whole)


def test_dask_canny_refuses_a_mask_or_quantiles_and_checks_at_once(rng):
    lazy = da.from_array(rng.random((8, 8, 8)), chunks=4)
    with pytest.raises(gpuimg.ParameterError, match="compute"):
        canny(lazy, mask=np.ones((8, 8, 8), bool))
    with pytest.raises(gpuimg.ParameterError, match="compute"):
        canny(lazy, use_quantiles=True)
    with pytest.raises(gpuimg.ParameterError, match="high_threshold"):
        canny(lazy, 1.0, 0.5, 0.1)


def test_dask_canny_refuses_a_single_slice_volume_before_computing(rng):
    """One slice: all its voxels lie on the border, where the Sobel method marks no edge, though
    scikit-image finds the edges of the slice; refused when called, not an empty lazy map."""
    image = _scene(rng, (1, 40, 36))
    assert skimage.feature.canny(image[0], 1.5, 0.4, 1.2).sum() > 50
    with pytest.raises(gpuimg.ParameterError, match=r"shape \(1, 40, 36\): axis 0 has 1 voxel"):
        canny(da.from_array(image, chunks=(1, 20, 18)), 1.5, 0.4, 1.2)


@pytest.mark.parametrize("mode", ["constant", "wrap"])
def test_3d_dask_canny_of_3_slices_in_chunks_of_one_equals_the_whole_volume(rng, mode):
    """Three slices are measured; each chunk of one slice gets its neighbours as halo, so no chunk
    is refused as too thin."""
    image = _scene(rng, (3, 30, 28))
    whole = canny(image, 1.0, 0.3, 0.9, mode=mode)
    lazy = canny(da.from_array(image, chunks=(1, 15, 14)), 1.0, 0.3, 0.9, mode=mode)
    assert whole.sum() > 20
    np.testing.assert_array_equal(lazy.compute(), whole)
