"""gpuimg.preprocess.equalize against scikit-image and NumPy, on every target."""

import numpy as np
import pytest
import skimage.exposure
from dask_reads import counted
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from preprocess_images import hu_volume, lung_ct

import gpuimg
from gpuimg.kernels import clahe as clahe_kernels
from gpuimg.preprocess import clahe, equalize_hist, match_histogram


@pytest.fixture(scope="module")
def ct():
    """A 12 x 64 x 64 region of a real lung CT (int16 HU), through the chest wall and lung."""
    return lung_ct()


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


def test_a_dask_image_and_a_reference_made_from_it_are_read_once(rng):
    """The histograms of a Dask image and of a Dask reference sharing its graph are computed in one pass.
    Each was computed on its own, so every chunk of the image was read twice (16 reads for 8 chunks)."""
    pytest.importorskip("dask.array")
    image = rng.gamma(2.0, 20.0, (10, 11, 12))
    lazy, reads = counted(image, (5, 6, 6))
    got = match_histogram(lazy, lazy[::2] * 1.5 + 10)
    assert len(reads) == lazy.npartitions == 8
    want = skimage.exposure.match_histograms(image, image[::2] * 1.5 + 10)
    np.testing.assert_allclose(got.compute(), want, rtol=0, atol=1e-12)


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


@pytest.mark.parametrize("nbins", [1, 2, 256])
def test_equalize_hist_of_a_bool_image_equals_skimage(rng, nbins):
    # scikit-image bins a bool image as floats (nbins bins over [min, max]), not one bin per value:
    # an all-False image maps to 0.5 (it was 1) and nbins=1 maps everything to 1.
    images = [np.zeros((3, 4, 5), bool), rng.random((3, 4, 5)) > 0.6]
    for image in images:
        for mask in (None, rng.random(image.shape) > 0.5):
            got = equalize_hist(image, nbins, mask=mask)
            with pytest.warns(RuntimeWarning, match="from bool"):  # NumPy converts it to uint8
                want = skimage.exposure.equalize_hist(image, nbins, mask=mask)
            # Same bins and interpolation; float32 cast of scikit-image's float64 values.
            np.testing.assert_allclose(got, want, rtol=0, atol=6e-8)


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
    if image.dtype.kind == "f":
        # A float range too narrow for nbins bins is refused (tested on its own above): their edges
        # repeat in the image's dtype, or their inverse width overflows float64, as hypothesis found
        # for [2.2e-308, 0] in 256 bins. Ranges are kept where the bins are at least 4 steps of the
        # dtype at the largest value and 2**-1020 wide (a margin over both limits), or none (a
        # constant image).
        width = (float(image.max()) - float(image.min())) / nbins
        assume(width == 0 or width >= max(4 * float(np.spacing(np.abs(image).max())), 2.0**-1020))
    got = equalize_hist(image, nbins)
    want = skimage.exposure.equalize_hist(image, nbins)
    np.testing.assert_allclose(got, want, rtol=0, atol=0 if got.dtype == want.dtype else 6e-8)


def test_equalize_hist_of_tiny_float64_values():
    """Equalization does not change when the values are scaled by a power of two: values near 2**-1000
    give scikit-image's result on the unscaled ones. Near 2**-1020 the bins' inverse width overflows
    float64 (the lookup's slopes gave NaN): refused, naming the fix."""
    image = np.random.default_rng(5).uniform(0, 1, (6, 8, 8))
    want = skimage.exposure.equalize_hist(image)
    np.testing.assert_allclose(equalize_hist(np.ldexp(image, -1000)), want, rtol=0, atol=1e-12)
    with pytest.raises(gpuimg.ParameterError, match=r"too narrow for 256 bins.*np\.ldexp"):
        equalize_hist(np.ldexp(image, -1020))


def test_equalize_hist_refuses_float_bins_of_no_width(rng):
    """A float32 SUV region from 5.0 to 5.00001 holds about 20 float32 values, so 256 bins between
    them have repeated edges (newer NumPy's histogram, so scikit-image, refuses them: 'Too many bins';
    NumPy 2.0 does not); the uniform lookup made of them gave the smallest voxel 0 (outside (0, 1]) and others
    values up to 0.02 off the fraction of voxels at or below them. As float64 it is scikit-image's
    result."""
    image = (5.0 + 1e-5 * rng.random((4, 10, 10))).astype(np.float32)
    edges = np.linspace(image.min(), image.max(), 257, dtype=np.float32)
    assert np.unique(edges).size < 257  # bins of no width
    for mask in (None, image > 5.000002):
        with pytest.raises(gpuimg.ParameterError, match=r"cannot split into 256 bins.*float64"):
            equalize_hist(image, mask=mask)
    as_float64 = image.astype(np.float64)
    want = skimage.exposure.equalize_hist(as_float64)
    np.testing.assert_allclose(equalize_hist(as_float64), want, rtol=0, atol=1e-12)


def test_equalize_hist_of_float64_values_too_close_for_its_bins_is_told_what_applies(rng):
    """A float64 image of 20 values one float64 step apart above 5.0 (a map of differences at the
    limit of its precision) cannot be split into 256 bins (their edges in float64 are not distinct;
    later scikit-image: 'Too many bins'), but the advice was to cast it to float64, which it is.
    Now: fewer bins, or subtract the
    smallest value, which gives scikit-image's result on the differences; the values are shown in
    full (they read '5 to 5')."""
    steps = rng.integers(0, 20, (4, 10, 10))
    steps.flat[:2] = 0, 19
    image = 5.0 + steps * np.spacing(5.0)
    # 256 bins' 257 edges from the least to the largest value are not all distinct in float64 (later
    # NumPy's histogram, and so scikit-image's equalize_hist, refuse it: 'Too many bins').
    edges = np.linspace(image.min(), image.max(), 257)
    assert np.any(edges[1:] <= edges[:-1])
    mask = image > 5.0
    for roi in (None, mask):
        with pytest.raises(gpuimg.ParameterError) as caught:
            equalize_hist(image, mask=roi)
        message = str(caught.value)
        assert "cast" not in message
        kept = image if roi is None else image[roi]
        assert f"span only {kept.min()} to {kept.max()}, which float64 cannot split" in message
        advice = "subtract the smallest value first (image - np.nanmin(image), or np.nanmin(image[mask])"
        assert advice in message
        shifted = image - np.nanmin(kept)  # as advised
        want = skimage.exposure.equalize_hist(shifted, mask=roi)
        np.testing.assert_allclose(equalize_hist(shifted, mask=roi), want, rtol=0, atol=1e-12)
    few = equalize_hist(image, nbins=8)  # fewer bins than the 20 values: edges that differ
    np.testing.assert_allclose(few, skimage.exposure.equalize_hist(image, nbins=8), rtol=0, atol=1e-12)


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


@pytest.mark.filterwarnings("ignore:Downcasting:UserWarning")  # scikit-image's, for 32/64 bits
@pytest.mark.parametrize(
    ("dtype", "high"),
    [
        (np.uint8, 255),
        (np.int8, 127),
        (np.uint16, 65535),
        (np.int16, 32767),
        (np.uint32, 65535),
        (np.int32, 65535),
        (np.uint64, 65535),
        (np.int64, 65535),
    ],
)
def test_clahe_equals_skimage_for_the_integer_images_its_notes_say(rng, dtype, high):
    """The Notes said: exact for every unsigned integer image. scikit-image keeps only the top 16
    bits of uint32/uint64 values (img_as_uint), so that held for 8/16-bit images and for 32/64-bit
    ones within 0 to 65535 (taken as they are), as the Notes now say; a uint32 image of 0 to
    131070 is two levels there and differs."""
    image = rng.integers(0, high, (9, 24, 28), endpoint=True).astype(dtype)
    image.flat[:2] = 0, high
    got = clahe(image, (3, 7, 9), 0.02)
    want = skimage.exposure.equalize_adapthist(image, (3, 7, 9), 0.02)
    np.testing.assert_allclose(got, want, rtol=0, atol=6e-8)  # float32 here for 8/16 bits
    if np.dtype(dtype).kind == "u" and np.dtype(dtype).itemsize >= 4:
        wide = image * dtype(2)  # 0 to 131070: scikit-image's top 16 bits of it are 1 or 2 levels
        got = clahe(wide, (3, 7, 9), 0.02)
        assert np.abs(got - skimage.exposure.equalize_adapthist(wide, (3, 7, 9), 0.02)).max() > 0.5


@pytest.mark.parametrize(
    ("value", "dtype", "shape"),
    [
        (300, np.int16, (6, 7, 8)),
        (-32768, np.int16, (6, 7, 8)),
        (65535, np.uint16, (6, 7, 8)),
        (0, np.uint8, (16, 16)),
        (0.5, np.float32, (1, 9)),
        (0.0, np.float64, (3, 1, 5)),
    ],
)
@pytest.mark.parametrize("clip_limit", [0.01, 0.0])
def test_clahe_of_a_constant_image_is_scikit_image_s(value, dtype, shape, clip_limit):
    """A constant image (a blank slice, a mask's background) gave 0 everywhere, where scikit-image
    (0.24 to 0.26) gives 1: its one grey level maps to a level above 0, clipped to 1 at the end."""
    image = np.full(shape, value, dtype)
    got = clahe(image, clip_limit=clip_limit)
    want = skimage.exposure.equalize_adapthist(image, clip_limit=clip_limit)
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    np.testing.assert_array_equal(got, want)


def test_clahe_refuses_nan():
    image = np.ones((8, 8, 8), np.float32)
    image[1, 2, 3] = np.nan
    with pytest.raises(gpuimg.ParameterError, match="NaN or inf"):
        clahe(image)


# --- Dask ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int16, np.uint8])
def test_dask_equalize_hist_of_an_integer_volume_equals_skimage(rng, dtype):
    """One bin per value, counted chunk by chunk from the whole volume's smallest value."""
    da = pytest.importorskip("dask.array")
    image = rng.integers(0, 250, (13, 14, 15)).astype(dtype) - dtype(np.iinfo(dtype).min < 0) * 100
    lazy = da.from_array(image, chunks=((5, 8), (9, 5), (4, 11)))
    got = equalize_hist(lazy)
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), skimage.exposure.equalize_hist(image), rtol=0, atol=6e-8)


def test_a_dask_image_and_a_mask_made_from_it_are_read_once_per_pass(rng):
    """equalize_hist of a Dask image reads it twice, once for its range and once for its histogram; a
    mask made from the image shares those reads. The histogram pass took the image's and the mask's
    chunks from graphs optimised apart, so it read each chunk twice (24 reads for 8 chunks)."""
    pytest.importorskip("dask.array")
    image = rng.gamma(2.0, 20.0, (10, 11, 12))
    lazy, reads = counted(image, (5, 6, 6))
    got = equalize_hist(lazy, 40, mask=lazy > 30)
    assert len(reads) == 2 * lazy.npartitions == 16
    want = skimage.exposure.equalize_hist(image, 40, mask=image > 30)
    np.testing.assert_allclose(got.compute(), want, rtol=0, atol=1e-12)


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


# --- integer_counts -----------------------------------------------------------------------------


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
    from gpuimg.preprocess.equalize import integer_counts

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
    from gpuimg.preprocess.equalize import integer_counts

    image = rng.integers(0, 2000, (9, 10, 12)).astype(dtype) - dtype(np.iinfo(dtype).min < 0) * 1000
    for view in (image.T, image[::2, :, ::3], image[:, 3], image[4, ::-1, 5]):
        assert not view.flags.c_contiguous
        smallest, counts = integer_counts(view)
        assert smallest == view.min()
        np.testing.assert_array_equal(counts, _bincount_from_smallest(view))


@pytest.mark.parametrize("dtype", [">i2", ">u2", ">i4", ">u8"])
def test_integer_counts_of_big_endian_values(dtype, rng):
    """Values in a file's byte order (nibabel's dataobj of a big-endian NIfTI or ANALYZE file): the
    kernel took them as they were and Numba refused them (a TypingError, 'non-precise type pyobject')."""
    from gpuimg.preprocess.equalize import integer_counts

    image = rng.integers(-1024 if dtype[1] == "i" else 0, 3071, (5, 6, 70)).astype(dtype)
    smallest, counts = integer_counts(image)
    assert smallest == image.min()
    np.testing.assert_array_equal(counts, _bincount_from_smallest(image))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint64])
def test_integer_counts_of_a_single_value(dtype):
    from gpuimg.preprocess.equalize import integer_counts

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
    from gpuimg.preprocess.equalize import integer_counts

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
    from gpuimg.preprocess.equalize import integer_counts

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
    from gpuimg.preprocess.equalize import integer_counts

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
    from gpuimg.preprocess.equalize import integer_counts

    image = rng.integers(low, high, (12, 20, 21), endpoint=True).astype(dtype)
    image.flat[:2] = low, high
    assert (high - low + 1 > SHARED_BINS) == (high - low > 5000)
    smallest, counts = integer_counts(on_cuda_target(image))
    assert smallest == low
    np.testing.assert_array_equal(to_numpy(counts), _bincount_from_smallest(image))


@pytest.mark.emulated_cuda
def test_integer_counts_on_the_device_equal_numpy_bincount(emulated_cuda, rng):
    from gpuimg.backend import to_numpy
    from gpuimg.preprocess.equalize import integer_counts

    image = rng.integers(-40, 90, (4, 6, 11)).astype(np.int16)
    smallest, counts = integer_counts(emulated_cuda(image))
    assert smallest == image.min()
    np.testing.assert_array_equal(to_numpy(counts), np.bincount(image.ravel().astype(np.int64) - image.min()))


@pytest.mark.cudasim
@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_clahe_quantises_float32_in_float64(target):
    """Regression: the CUDA kernel's voxels were made float64 by ``+ 0.0``, which Numba types as
    float64 but the CUDA simulator's NumPy scalars keep as float32: grey levels near a half, rounded
    in float32, fell into the next level (and bin). Values just off the halves of the 14-bit levels,
    against the definition in float64: ``rint((v - low) / denom * top) // bin_size``."""
    top, bin_size = 2**14 - 1, 65
    image = ((np.arange(0, top, 4) + 0.5) / top).astype(np.float32)[None, None]
    image[0, 0, [0, -1]] = (0.0, 1.0)
    bins = np.empty(image.shape, np.uint16)
    clahe_kernels.quantise(image, bins, target=target, low=0.0, denom=1.0, top=top, bin_size=bin_size)
    want = np.rint(image.astype(np.float64) * top).astype(np.int64) // bin_size
    np.testing.assert_array_equal(bins, want)
