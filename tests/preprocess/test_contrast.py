"""gpuimg.preprocess.contrast against scikit-image, SciPy and closed forms, on every target."""

from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.exposure
import skimage.filters
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from nonfinite import assert_same_nonfinite, reached, with_nonfinite

import gpuimg
from gpuimg.preprocess import (
    WINDOWS,
    clahe,
    equalize_hist,
    laplacian_sharpen,
    match_histogram,
    rescale_intensity,
    unsharp_mask,
    window,
    zscore,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# float32 arithmetic on values of order 1 (windows, z-scores, equalised values): a few ulps.
F32 = 2e-6


@pytest.fixture(scope="module")
def ct():
    """A 12 x 64 x 64 region of a real lung CT (int16 HU), through the chest wall and lung."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    volume = gpuimg.read_image(path)
    return volume.data[18:30, 200:264, 100:164].copy()


def hu_volume(rng, shape=(11, 13, 17)):
    return rng.integers(-1024, 3072, shape).astype(np.int16)


# --- window -----------------------------------------------------------------------------------


def test_window_closed_form(rng):
    image = hu_volume(rng)
    level, width = float(rng.uniform(-500, 500)), float(rng.uniform(10, 2000))
    got = window(image, level, width)
    assert got.dtype == np.float32
    want = np.clip((image.astype(np.float64) - (level - width / 2)) / width, 0, 1)
    np.testing.assert_allclose(got, want, rtol=0, atol=F32)


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_window_presets_are_their_level_and_width(rng, name):
    image = hu_volume(rng)
    level, width = WINDOWS[name]
    np.testing.assert_array_equal(window(image, name), window(image, level, width))
    np.testing.assert_array_equal(
        window(np.array([level - width / 2, level, level + width / 2]), name), [0, 0.5, 1]
    )


def test_window_published_values():
    assert WINDOWS["lung"] == (-600.0, 1500.0)
    assert WINDOWS["brain"] == (40.0, 80.0)
    assert WINDOWS["mediastinum"] == (50.0, 350.0)


def test_window_out_range_and_int16_extremes():
    image = np.array([-32768, -1024, 0, 3071, 32767], dtype=np.int16)
    got = window(image, 1000.0, 4000.0, out_range=(-1.0, 1.0))
    np.testing.assert_allclose(got, [-1.0, -1.0, -0.5, 1.0, 1.0], atol=F32)


def test_window_nan_and_inf():
    got = window(np.array([np.nan, -np.inf, np.inf, 40.0], dtype=np.float32), "brain")
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:], [0.0, 1.0, 0.5])


def test_window_equals_rescale_intensity_of_skimage(ct):
    got = window(ct, "lung")
    want = skimage.exposure.rescale_intensity(ct.astype(np.float64), in_range=(-1350, 150), out_range=(0, 1))
    np.testing.assert_allclose(got, want, rtol=0, atol=F32)


# --- rescale_intensity ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64, np.uint8])
def test_rescale_intensity_equals_skimage(rng, dtype, ct):
    image = (rng.normal(0, 50, (9, 10, 11)) + (100 if dtype == np.uint8 else 0)).astype(dtype)
    image = ct if dtype == np.int16 else image
    for in_range, out_range in (("image", (0.0, 1.0)), ((-20.0, 30.0), (-5.0, 7.0))):
        got = rescale_intensity(image, in_range, out_range)
        want = skimage.exposure.rescale_intensity(image.astype(np.float64), in_range, out_range)
        # float32 output: relative 2**-23 of the output range; float64: 1e-12.
        atol = 1e-12 * 12 if got.dtype == np.float64 else F32 * 12
        np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def test_rescale_intensity_ignores_nan_and_inf_for_the_range(rng):
    image = rng.normal(0, 1, (6, 7, 8))
    image[0, 0, 0], image[1, 1, 1], image[2, 2, 2] = np.nan, np.inf, -np.inf
    got = rescale_intensity(image)
    finite = np.isfinite(image)
    want = skimage.exposure.rescale_intensity(
        image, in_range=(image[finite].min(), image[finite].max()), out_range=(0, 1)
    )
    assert np.isnan(got[0, 0, 0]) and got[1, 1, 1] == 1 and got[2, 2, 2] == 0
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=1e-12)


# --- zscore -----------------------------------------------------------------------------------


def test_zscore_closed_form_with_and_without_mask(rng, ct):
    for image in (rng.normal(30, 7, (10, 11, 12)).astype(np.float32), ct):
        got = zscore(image)
        values = image.astype(np.float64)
        np.testing.assert_allclose(got, (values - values.mean()) / values.std(), rtol=0, atol=1e-5)
        mask = image > np.median(image)
        got = zscore(image, mask)
        want = (values - values[mask].mean()) / values[mask].std()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1, np.abs(want).max()))


def test_zscore_nan_stays_and_is_left_out(rng):
    image = rng.normal(0, 1, (5, 6, 7))
    image[0, 0, 0] = np.nan
    got = zscore(image)
    finite = np.isfinite(image)
    assert np.isnan(got[0, 0, 0])
    values = image[finite]
    np.testing.assert_allclose(got[finite], (values - values.mean()) / values.std(), atol=1e-12)


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


# --- match_histogram --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
def test_match_histogram_equals_skimage(rng, dtype, ct):
    if dtype == np.int16:
        image, reference = ct, hu_volume(rng, (7, 8, 9))
    else:
        image = (rng.gamma(2.0, 20.0, (10, 11, 12))).astype(dtype)
        reference = (rng.normal(100, 20, (9, 8, 7))).astype(dtype)
    got = match_histogram(image, reference)
    want = skimage.exposure.match_histograms(image, reference)
    atol = 1e-6 * float(np.abs(want).max()) if got.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def test_match_histogram_nan_is_left_out(rng):
    image, reference = rng.random((6, 7, 8)), rng.normal(0, 1, (5, 5, 5))
    image[0, 0, 0] = np.nan
    got = match_histogram(image, reference)
    assert np.isnan(got[0, 0, 0]) and np.isfinite(got).sum() == got.size - 1
    finite = image[np.isfinite(image)]
    want = skimage.exposure.match_histograms(finite, reference.ravel())
    np.testing.assert_allclose(got[np.isfinite(image)], want, atol=1e-12)


# --- equalize_hist ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("nbins", [256, 7])
def test_equalize_hist_equals_skimage(rng, dtype, nbins):
    image = rng.normal(0, 100, (15, 16, 17))
    image = (image + 128 if dtype == np.uint8 else image).astype(dtype)
    got = equalize_hist(image, nbins)
    want = skimage.exposure.equalize_hist(image, nbins)
    # Same bins (NumPy's) and same interpolation: equal, up to the float32 cast of float64 values.
    np.testing.assert_allclose(got, want, rtol=0, atol=0 if got.dtype == want.dtype else 6e-8)


def test_equalize_hist_with_mask_equals_skimage(rng, ct):
    for image in (rng.normal(0, 1, (12, 13, 14)).astype(np.float32), ct):
        mask = rng.random(image.shape) > 0.7
        got = equalize_hist(image, 64, mask=mask)
        want = skimage.exposure.equalize_hist(image, 64, mask=mask)
        np.testing.assert_allclose(got, want, rtol=0, atol=0 if got.dtype == want.dtype else 6e-8)


def test_equalize_hist_on_real_ct(ct):
    got = equalize_hist(ct)
    np.testing.assert_allclose(got, skimage.exposure.equalize_hist(ct), rtol=0, atol=6e-8)
    as_float = ct.astype(np.float32)
    np.testing.assert_array_equal(equalize_hist(as_float, 100), skimage.exposure.equalize_hist(as_float, 100))


def test_equalize_hist_nan_and_inf(rng):
    image = rng.random((6, 7, 8)).astype(np.float32)
    image[0, 0, :3] = (np.nan, np.inf, -np.inf)
    got = equalize_hist(image, 32)
    finite = np.isfinite(image)
    want = np.interp(image, *skimage.exposure.cumulative_distribution(image[finite], 32)[::-1]).astype(
        np.float32
    )
    assert np.isnan(got[0, 0, 0]) and got[0, 0, 1] == 1.0 and got[0, 0, 2] == want[0, 0, 2]
    np.testing.assert_array_equal(got[finite], want[finite])


@pytest.mark.filterwarnings("ignore:This might be a color image")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    image=st.sampled_from([np.float32, np.float64, np.int16]).flatmap(
        lambda dtype: hnp.arrays(
            dtype=dtype,
            shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
            # NumPy's own histogram cannot split a range of subnormal width into bins.
            elements={"min_value": -1000, "max_value": 1000}
            | ({"allow_subnormal": False} if np.dtype(dtype).kind == "f" else {}),
        )
    ),
    nbins=st.integers(1, 300),
)
def test_equalize_hist_any_shape_equals_skimage(image, nbins):
    got = equalize_hist(image, nbins)
    want = skimage.exposure.equalize_hist(image, nbins)
    np.testing.assert_allclose(got, want, rtol=0, atol=0 if got.dtype == want.dtype else 6e-8)


# --- CLAHE ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "kernel_size", "clip_limit", "nbins"),
    [
        ((20, 24, 28), None, 0.01, 256),
        ((17, 23, 29), (5, 7, 6), 0.05, 64),
        ((13, 21, 9), (20, 4, 3), 0.0, 100),
        ((9, 11, 13), 3, 0.3, 300),
        ((40, 50), None, 0.02, 256),
        ((33, 17), (7, 40), 1.0, 16),
    ],
)
def test_clahe_equals_skimage(rng, shape, kernel_size, clip_limit, nbins):
    """uint16 input (scikit-image's img_as_uint is then the identity): the same numbers, up to the
    float32 output (scikit-image gives float64 here); float32 input on the uint16 grid: equal."""
    image = rng.integers(0, 4000, shape).astype(np.uint16)
    got = clahe(image, kernel_size, clip_limit, nbins)
    want = skimage.exposure.equalize_adapthist(image, kernel_size, clip_limit, nbins)
    np.testing.assert_allclose(got, want, rtol=0, atol=6e-8)
    on_grid = (rng.integers(0, 65536, shape) / 65535).astype(np.float32)
    on_grid.flat[:2] = (0.0, 1.0)
    got = clahe(on_grid, kernel_size, clip_limit, nbins)
    np.testing.assert_array_equal(
        got, skimage.exposure.equalize_adapthist(on_grid, kernel_size, clip_limit, nbins)
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    # scikit-image takes a 3D image with 3 or 4 on its last axis for RGB(A).
    shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9).filter(
        lambda s: len(s) == 2 or s[-1] not in (3, 4)
    ),
    clip_limit=st.sampled_from([0.0, 0.01, 0.1, 0.5]),
    nbins=st.integers(1, 400),
)
def test_clahe_any_shape_and_tiling_equals_skimage(data, shape, clip_limit, nbins):
    """Tiles larger than the image (several reflections), axes of length 1, any bin count."""
    kernel_size = data.draw(st.tuples(*(st.integers(1, 12) for _ in shape)))
    image = data.draw(hnp.arrays(np.uint16, shape, elements=st.integers(0, 3000)))
    assume(image.min() < image.max())
    got = clahe(image, kernel_size, clip_limit, nbins)
    want = skimage.exposure.equalize_adapthist(image, kernel_size, clip_limit, nbins)
    np.testing.assert_allclose(got, want, rtol=0, atol=6e-8)


def test_clahe_on_real_ct_equals_skimage_on_shifted_hu(ct):
    """scikit-image clips negative HU (img_as_uint); the CT shifted to start at 0 is the same image."""
    got = clahe(ct, (4, 16, 16), 0.02)
    shifted = (ct.astype(np.int32) - ct.min()).astype(np.uint16)
    want = skimage.exposure.equalize_adapthist(shifted, (4, 16, 16), 0.02)
    np.testing.assert_allclose(got, want, rtol=0, atol=6e-8)
    assert 0.05 < got.std() and got.min() == 0 and got.max() == 1


def test_clahe_of_a_constant_image_is_zero():
    got = clahe(np.full((6, 7, 8), 300, np.int16))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, 0)


def test_clahe_refuses_nan():
    image = np.ones((8, 8, 8), np.float32)
    image[1, 2, 3] = np.nan
    with pytest.raises(gpuimg.ParameterError, match="NaN or inf"):
        clahe(image)


# --- Volume, Dask, errors ---------------------------------------------------------------------


def test_volume_keeps_its_geometry(rng):
    volume = gpuimg.Volume(hu_volume(rng), spacing=(2.0, 0.5, 0.5), origin=(1.0, 2.0, 3.0))
    for result in (window(volume, "lung"), equalize_hist(volume), clahe(volume), unsharp_mask(volume, 1.0)):
        assert isinstance(result, gpuimg.Volume)
        assert result.spacing == volume.spacing and result.origin == volume.origin
    # The unit rule (regression: sigma was mm for a Volume): sigma is voxels, sigma_mm mm.
    np.testing.assert_array_equal(unsharp_mask(volume, 1.0).data, unsharp_mask(volume.data, 1.0))
    np.testing.assert_array_equal(
        unsharp_mask(volume, sigma_mm=1.0).data, unsharp_mask(volume.data, (0.5, 2.0, 2.0))
    )


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


@pytest.mark.parametrize("dtype", [np.int16, np.uint8])
def test_dask_equalize_hist_of_an_integer_volume_equals_skimage(rng, dtype):
    """One bin per value, counted chunk by chunk from the whole volume's smallest value."""
    da = pytest.importorskip("dask.array")
    image = rng.integers(0, 250, (13, 14, 15)).astype(dtype) - dtype(np.iinfo(dtype).min < 0) * 100
    lazy = da.from_array(image, chunks=((5, 8), (9, 5), (4, 11)))
    got = equalize_hist(lazy)
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), skimage.exposure.equalize_hist(image), rtol=0, atol=6e-8)


def test_dask_whole_volume_operations_use_global_statistics(rng):
    """Range, mean, histograms are of the whole volume; the result is lazy and equals NumPy's."""
    da = pytest.importorskip("dask.array")
    image = rng.normal(0, 100, (19, 14, 21)).astype(np.float32)
    image[3, 3, 3] = np.nan
    mask = rng.random(image.shape) > 0.3
    lazy = da.from_array(image, chunks=((5, 7, 7), (9, 5), (21,)))
    lazy_mask = da.from_array(mask, chunks=(4, 14, 10))
    for call in (
        lambda x, m: window(x, "soft_tissue"),
        lambda x, m: rescale_intensity(x),
        lambda x, m: zscore(x, m),
        lambda x, m: equalize_hist(x, 50, mask=m),
        lambda x, m: match_histogram(x, image[::2]),
    ):
        got = call(lazy, lazy_mask)
        assert isinstance(got, da.Array)
        np.testing.assert_allclose(got.compute(), call(image, mask), rtol=0, atol=1e-6, equal_nan=True)
    finite = np.nan_to_num(image)
    got = clahe(da.from_array(finite, chunks=7))
    assert isinstance(got, da.Array) and got.chunks == da.from_array(finite, chunks=7).chunks
    np.testing.assert_array_equal(got.compute(), clahe(finite))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: window(x, "lungs"), "window 'lungs' is unknown"),
        (lambda x: window(x, "lung", 400), "is a preset"),
        (lambda x: window(x, 40, 0), "width=0 must be a positive number"),
        (lambda x: window(x, 40, -5), "width=-5 must be a positive number"),
        (lambda x: window(x, 40), "width=None must be a positive number"),
        (lambda x: window(x, 40, 80, out_range=(1, 0)), "out_range=(1, 0)"),
        (lambda x: rescale_intensity(x, "dtype"), "in_range='dtype'"),
        (lambda x: zscore(x, np.ones((2, 2), bool)), "does not match the image"),
        (lambda x: zscore(x, np.zeros(x.shape, bool)), "selects no finite voxel"),
        (lambda x: laplacian_sharpen(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: unsharp_mask(x, 0.0), "sigma=0.0 must be positive"),
        (lambda x: unsharp_mask(x, sigma_mm=1.0, spacing=(1.0, 1.0)), "one per axis (3)"),
        (lambda x: unsharp_mask(x, sigma_mm=1.0), "sigma_mm=1.0 needs the voxel spacing"),
        (lambda x: equalize_hist(x, 0), "nbins=0 must be a positive integer"),
        (lambda x: equalize_hist(x, 2.5), "nbins=2.5 must be a positive integer"),
        (lambda x: equalize_hist(x, mask=np.ones((3, 3), bool)), "does not match the image"),
        (lambda x: equalize_hist((x * 2**31).astype(np.int64)), "cast the image to float32"),
        (lambda x: clahe(x, nbins=-1), "nbins=-1 must be a positive integer"),
        (lambda x: clahe(x, clip_limit=-0.1), "clip_limit=-0.1"),
        (lambda x: clahe(x, (4, 4)), "one per axis (3)"),
        (lambda x: clahe(x, 0), "kernel_size=0"),
        (lambda x: clahe(x[0, 0]), "2D or 3D"),
        (lambda x: equalize_hist(x.astype(complex)), "must hold real numbers"),
    ],
)
def test_bad_parameters_raise_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)


# --- CUDA target (simulator here, the GPU where there is one) ---------------------------------


@pytest.mark.cudasim
@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_cuda_target_equalize_hist(rng, on_cuda_target, dtype):
    image = rng.normal(0, 100, (19, 9, 12)).astype(dtype)
    mask = rng.random(image.shape) > 0.4
    got = gpuimg.to_numpy(equalize_hist(on_cuda_target(image), 40, mask=on_cuda_target(mask)))
    want = skimage.exposure.equalize_hist(image, 40, mask=mask)
    np.testing.assert_allclose(got, want, rtol=0, atol=0 if got.dtype == want.dtype else 6e-8)


@pytest.mark.cudasim
def test_cuda_target_histogram_with_many_bins_uses_global_atomics(rng, on_cuda_target):
    """int16 spanning more values than the shared-memory histogram holds (4096 bins), and more
    slices than one CUDA thread counts (16). With a mask, so that the histogram kernel counts
    (without one, an integer image's histogram is its integer count, tested with integer_counts)."""
    image = rng.integers(-3000, 3000, (21, 5, 8)).astype(np.int16)
    mask = rng.random(image.shape) > 0.2
    got = gpuimg.to_numpy(equalize_hist(on_cuda_target(image), mask=on_cuda_target(mask)))
    np.testing.assert_allclose(got, skimage.exposure.equalize_hist(image, mask=mask), rtol=0, atol=6e-8)


@pytest.mark.cudasim
def test_cuda_target_clahe(rng, on_cuda_target):
    image = rng.integers(0, 4000, (8, 12, 16)).astype(np.uint16)
    got = gpuimg.to_numpy(clahe(on_cuda_target(image.astype(np.float32)), (3, 5, 6), 0.05, 32))
    want = skimage.exposure.equalize_adapthist(image, (3, 5, 6), 0.05, 32)
    np.testing.assert_allclose(got, want, rtol=0, atol=6e-8)


@pytest.mark.gpu
def test_cupy_input_stays_on_the_gpu(rng):
    import cupy

    image = rng.normal(0, 100, (40, 50, 60)).astype(np.float32)
    for ours, theirs in (
        (lambda x: equalize_hist(x), skimage.exposure.equalize_hist),
        (lambda x: window(x, "lung"), lambda x: np.clip((x.astype(np.float64) + 1350) / 1500, 0, 1)),
    ):
        got = ours(cupy.asarray(image))
        assert isinstance(got, cupy.ndarray)
        np.testing.assert_allclose(got.get(), theirs(image), rtol=0, atol=F32)
    on_grid = (rng.integers(0, 65536, (40, 50, 60)) / 65535).astype(np.float32)
    got = clahe(cupy.asarray(on_grid))
    np.testing.assert_allclose(got.get(), skimage.exposure.equalize_adapthist(on_grid), rtol=0, atol=6e-8)


def _bincount_from_smallest(image) -> np.ndarray:
    """``np.bincount`` of the values minus the smallest: the differences taken in the image's own
    type for unsigned integers (never negative there), in int64 for signed ones."""
    flat = np.asarray(image).ravel()
    if flat.dtype.kind == "u":
        return np.bincount((flat - flat.min()).astype(np.int64))
    return np.bincount(flat.astype(np.int64) - int(flat.min()))


_INTEGER_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.uint64]


@pytest.mark.parametrize("dtype", _INTEGER_DTYPES)
@pytest.mark.parametrize("shape", [(7,), (5, 9), (4, 6, 11)])
def test_integer_counts_equal_numpy_bincount(dtype, shape, rng):
    from gpuimg.errors import ParameterError
    from gpuimg.preprocess.contrast import integer_counts

    info = np.iinfo(dtype)
    low, high = max(info.min, -3000), min(info.max, 3000)
    image = rng.integers(low, high, shape, endpoint=True).astype(dtype)
    smallest, counts = integer_counts(image)
    assert smallest == image.min()
    np.testing.assert_array_equal(counts, _bincount_from_smallest(image))
    with pytest.raises(ParameterError, match="integer"):
        integer_counts(image.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32])
def test_integer_counts_of_non_contiguous_views(dtype, rng):
    from gpuimg.preprocess.contrast import integer_counts

    image = rng.integers(0, 2000, (9, 10, 12)).astype(dtype) - dtype(np.iinfo(dtype).min < 0) * 1000
    for view in (image.T, image[::2, :, ::3], image[:, 3], image[4, ::-1, 5]):
        assert not view.flags.c_contiguous
        smallest, counts = integer_counts(view)
        assert smallest == view.min()
        np.testing.assert_array_equal(counts, _bincount_from_smallest(view))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint64])
def test_integer_counts_of_a_single_value(dtype):
    from gpuimg.preprocess.contrast import integer_counts

    value = np.iinfo(dtype).max - 3
    smallest, counts = integer_counts(np.full((3, 4, 5), value, dtype=dtype))
    assert smallest == value
    np.testing.assert_array_equal(counts, [60])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
@pytest.mark.parametrize("whole_dtype", [False, True])
def test_integer_counts_at_the_ends_of_8_and_16_bit_types(dtype, whole_dtype, rng):
    """Both ways of counting (from the smallest value after a min/max pass, or over every value of
    the dtype for large enough images): the ends of the dtype, values missing between them."""
    from gpuimg.kernels import histogram
    from gpuimg.preprocess.contrast import integer_counts

    info = np.iinfo(dtype)
    whole = histogram.WHOLE_DTYPE_VALUES_PER_BIN * 256 ** np.dtype(dtype).itemsize
    size = whole if whole_dtype else min(whole - 1, 5000)
    ends = [info.min, info.min + 1, -1, 0, 5, info.max - 1, info.max]
    values = np.unique(np.clip(ends, info.min, info.max))
    image = rng.choice(values.astype(dtype), size)
    image[:2] = info.min, info.max
    assert histogram.counts_whole_dtype(image, target="cpu") == whole_dtype
    smallest, counts = integer_counts(image.reshape(1, 1, -1) if whole_dtype else image)
    assert smallest == info.min
    assert counts.size == int(info.max) - int(info.min) + 1
    np.testing.assert_array_equal(counts, _bincount_from_smallest(image))


def test_integer_counts_of_large_ct_values_and_64_bit_ends(rng):
    """A CT-like int16 volume counted over the whole dtype (no min/max pass), trimmed to its values;
    int64 and uint64 values at the ends of their types and across 2**63."""
    from gpuimg.kernels import histogram
    from gpuimg.preprocess.contrast import integer_counts

    ct = rng.integers(-1024, 3001, (64, 128, 128)).astype(np.int16)
    ct[rng.random(ct.shape) < 0.4] = -1024  # air, a quarter or more of a CT volume
    assert histogram.counts_whole_dtype(ct.ravel(), target="cpu")
    smallest, counts = integer_counts(ct)
    assert smallest == ct.min()
    np.testing.assert_array_equal(counts, _bincount_from_smallest(ct))
    for values in (
        np.array([-(2**63), -(2**63) + 9, -(2**63) + 3], dtype=np.int64),
        np.array([2**63 - 10, 2**63 - 1], dtype=np.int64),
        np.array([2**63 - 4, 2**63 + 2, 2**63, 2**63 - 4], dtype=np.uint64),
        np.array([2**64 - 1, 2**64 - 7], dtype=np.uint64),
    ):
        image = rng.choice(values, (6, 7))
        image.flat[: values.size] = values
        smallest, counts = integer_counts(image)
        assert smallest == image.min()
        np.testing.assert_array_equal(counts, _bincount_from_smallest(image))


def test_integer_counts_refuses_an_empty_image_and_too_wide_a_span():
    from gpuimg.errors import ParameterError
    from gpuimg.preprocess.contrast import integer_counts

    with pytest.raises(ParameterError, match="empty"):
        integer_counts(np.zeros((0, 4), dtype=np.int16))
    with pytest.raises(ParameterError, match="2\\*\\*24"):
        integer_counts(np.array([0, 2**24], dtype=np.int32))
    smallest, counts = integer_counts(np.array([5, 2**24 + 4], dtype=np.int32))
    assert (smallest, counts.size, counts[0], counts[-1]) == (5, 2**24, 1, 1)


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [
        (np.uint8, 0, 255),
        (np.int8, -128, 127),
        (np.int16, -1024, 3000),  # 4,025 bins: counted in shared memory
        (np.uint16, 100, 9000),  # more bins than fit in shared memory: global atomics
        (np.int16, -32768, 32767),  # the ends of int16, global atomics
    ],
)
def test_cuda_target_integer_counts(dtype, low, high, rng, on_cuda_target):
    from gpuimg.backend import to_numpy
    from gpuimg.kernels.histogram import SHARED_BINS
    from gpuimg.preprocess.contrast import integer_counts

    image = rng.integers(low, high, (12, 20, 21), endpoint=True).astype(dtype)
    image.flat[:2] = low, high
    assert (high - low + 1 > SHARED_BINS) == (high - low > 5000)
    smallest, counts = integer_counts(on_cuda_target(image))
    assert smallest == low
    np.testing.assert_array_equal(to_numpy(counts), _bincount_from_smallest(image))


@pytest.mark.emulated_cuda
def test_integer_counts_on_the_device_equal_numpy_bincount(emulated_cuda, rng):
    from gpuimg.backend import to_numpy
    from gpuimg.preprocess.contrast import integer_counts

    image = rng.integers(-40, 90, (4, 6, 11)).astype(np.int16)
    smallest, counts = integer_counts(emulated_cuda(image))
    assert smallest == image.min()
    np.testing.assert_array_equal(to_numpy(counts), np.bincount(image.ravel().astype(np.int64) - image.min()))
