"""gpuimg.preprocess.sharpen against SciPy and scikit-image, on every target."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.filters
from nonfinite import assert_same_nonfinite, reached, with_nonfinite
from preprocess_images import lung_ct

from gpuimg.backend import to_numpy
from gpuimg.preprocess import laplacian_sharpen, unsharp_mask


@pytest.fixture(scope="module")
def ct():
    """A 12 x 64 x 64 region of a real lung CT (int16 HU), through the chest wall and lung."""
    return lung_ct()


# --- sharpening -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap", "constant"])
def test_laplacian_sharpen_equals_scipy(rng, mode, ct):
    for image in (rng.normal(0, 100, (9, 10, 11)).astype(np.float32), ct):
        got = laplacian_sharpen(image, 0.7, mode=mode, cval=5.0)
        values = image.astype(np.float64)
        want = values - 0.7 * ndi.laplace(values, mode=mode, cval=5.0)
        # float32: a 7-point sum of values up to ~4000 HU -> about 1e-7 * 6 * 4000 * 4.
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_unsharp_mask_equals_skimage_preserve_range(rng, dtype, ct):
    image = ct if dtype == np.int16 else rng.normal(0, 100, (10, 12, 14)).astype(dtype)
    got = unsharp_mask(image, 1.5, 0.8)
    want = skimage.filters.unsharp_mask(image, radius=1.5, amount=0.8, preserve_range=True)
    scale = float(np.abs(want).max())
    atol = scale * (1e-12 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def test_unsharp_mask_sigma_mm_is_divided_by_the_spacing(rng):
    image = rng.normal(0, 10, (8, 16, 16))
    got = unsharp_mask(image, None, 1.0, sigma_mm=2.0, spacing=(4.0, 1.0, 0.5))
    blurred = ndi.gaussian_filter(image, (0.5, 2.0, 4.0))
    np.testing.assert_allclose(got, 2 * image - blurred, rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap", "constant"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_laplacian_sharpen_nan_and_inf_reach_the_face_neighbours_as_scipy(rng, mode, dtype):
    image = with_nonfinite(rng, (9, 10, 11), dtype)
    got = laplacian_sharpen(image, 0.7, mode=mode, cval=5.0)
    values = image.astype(np.float64)
    want = values - 0.7 * ndi.laplace(values, mode=mode, cval=5.0)
    assert_same_nonfinite(got, want)
    cross = ndi.generate_binary_structure(3, 1)
    np.testing.assert_array_equal(~np.isfinite(got), reached(~np.isfinite(image), mode, footprint=cross))
    finite = np.isfinite(want)
    # As the finite case: a 7-point sum of float32 values up to ~400 -> well under 1e-3.
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=1e-3)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_laplacian_sharpen_isolated_nan_and_inf_away_from_the_edges(rng):
    image = rng.normal(0, 100, (9, 10, 11)).astype(np.float32)
    nan, pos, neg = (4, 2, 2), (4, 7, 5), (2, 5, 8)  # 3 or more apart (L1), 2 or more from the edges
    image[nan], image[pos], image[neg] = np.nan, np.inf, -np.inf
    cross = ndi.generate_binary_structure(3, 1)
    for alpha in (0.7, 2.0):
        got = laplacian_sharpen(image, alpha)
        for centre, itself, around in ((nan, np.nan, np.nan), (pos, np.inf, -np.inf), (neg, -np.inf, np.inf)):
            box = tuple(slice(c - 1, c + 2) for c in centre)
            want = np.where(cross, around, got[box])
            want[1, 1, 1] = itself
            np.testing.assert_array_equal(got[box], want)  # NaN equals NaN here


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_laplacian_sharpen_alpha_0_returns_the_image_nan_and_inf_included(rng, dtype):
    # Regression: image - 0 * laplace(image) was NaN around every NaN and inf (0 * inf = NaN).
    image = with_nonfinite(rng, (6, 7, 8), dtype)
    got = laplacian_sharpen(image, 0.0)
    assert got.dtype == dtype and not np.shares_memory(got, image)
    np.testing.assert_array_equal(got, image)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unsharp_mask_nan_and_inf_as_skimage(rng, dtype):
    image = with_nonfinite(rng, (12, 14, 15), dtype)
    sigma = float(rng.uniform(0.4, 1.2))
    got = unsharp_mask(image, sigma, 0.8)
    want = skimage.filters.unsharp_mask(image, radius=sigma, amount=0.8, preserve_range=True)
    assert_same_nonfinite(got, want)
    # The docstring's model: every voxel within int(4 sigma + 0.5) of a NaN or inf is non-finite;
    # NaN at a NaN, at an inf itself, and where a NaN or both signs reach; else the opposite sign.
    size = 2 * int(4.0 * sigma + 0.5) + 1
    nan, pos, neg = (reached(kind(image), "reflect", size) for kind in (np.isnan, np.isposinf, np.isneginf))
    np.testing.assert_array_equal(np.isnan(got), nan | (pos & neg) | np.isinf(image))
    np.testing.assert_array_equal(np.isneginf(got), pos & ~nan & ~neg & ~np.isinf(image))
    np.testing.assert_array_equal(np.isposinf(got), neg & ~nan & ~pos & ~np.isinf(image))
    finite = np.isfinite(want)
    # As the finite case: a few roundings of values up to max|finite image| in the output dtype.
    scale = float(np.abs(want[finite]).max())
    np.testing.assert_allclose(
        got[finite], want[finite], rtol=0, atol=scale * (1e-12 if dtype == np.float64 else 1e-6)
    )


# --- Dask ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", "nearest"])
def test_dask_stencils_with_uneven_chunks_equal_whole_volume(rng, mode):
    da = pytest.importorskip("dask.array")
    image = rng.normal(0, 100, (23, 17, 29)).astype(np.float32)
    lazy = da.from_array(image, chunks=((5, 1, 9, 8), (17,), (3, 13, 2, 11)))
    got = laplacian_sharpen(lazy, 0.5, mode=mode, cval=2.0)
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), laplacian_sharpen(image, 0.5, mode=mode, cval=2.0))
    got = unsharp_mask(lazy, (0.8, 1.2, 0.6), 1.5, mode=mode, cval=2.0).compute()
    np.testing.assert_allclose(got, unsharp_mask(image, (0.8, 1.2, 0.6), 1.5, mode=mode, cval=2.0), atol=1e-4)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_dask_stencils_in_grid_wrap_mode_equal_scipy(rng, device, request):
    """ "grid-wrap" is "wrap" (regression: the chunks of a Dask array were given no halo from the
    opposite edge in "grid-wrap" mode, so each edge chunk wrapped around itself)."""
    da = pytest.importorskip("dask.array")
    image = rng.normal(0, 100, (9, 12, 14)).astype(np.float32)
    lazy = da.from_array(image, chunks=((4, 5), (12,), (7, 7)))
    if device == "cuda":
        lazy = lazy.map_blocks(request.getfixturevalue("emulated_cuda"))
    got = laplacian_sharpen(lazy, 0.5, mode="grid-wrap").compute()
    want = image - np.float32(0.5) * ndi.laplace(image, mode="wrap")
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6, atol=1e-4)  # float32 rounding of ~100s
    got = unsharp_mask(lazy, 1.0, 1.5, mode="grid-wrap").compute()
    want = image + (image - ndi.gaussian_filter(image, 1.0, mode="wrap")) * np.float32(1.5)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6, atol=1e-4)
