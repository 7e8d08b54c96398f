"""gpuimg.preprocess.denoise against scipy.ndimage and SimpleITK, on every target."""

from functools import partial

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from nonfinite import assert_same_nonfinite, reached, with_nonfinite
from preprocess_images import F32, atol, lung_ct_with_spacing, random_image

import gpuimg
from gpuimg.kernels.median import median_network
from gpuimg.preprocess import bilateral_filter, gaussian_filter, mean_filter, median_filter

MODES = ["reflect", "nearest", "mirror", "wrap", "constant"]
DTYPES = [np.int16, np.uint16, np.float32, np.float64]


@pytest.fixture(scope="module")
def ct():
    """A 12 x 40 x 48 crop of a lung CT (int16 HU) with its spacing, across the chest wall."""
    return lung_ct_with_spacing()


# --- mean ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_equals_scipy_uniform_filter(rng, mode, dtype):
    image = random_image(rng, (9, 11, 13), dtype)
    size = (3, 5, 4)
    got = mean_filter(image, size, mode=mode, cval=-3.0)
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    want = ndi.uniform_filter(image.astype(np.float64), size, mode=mode, cval=-3.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, got.dtype))


def test_mean_of_a_real_ct_does_not_overflow(ct):
    image, _ = ct
    got = mean_filter(image, 5)
    assert got.dtype == np.float32
    want = ndi.uniform_filter(image.astype(np.float64), 5)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, np.float32))
    assert got.min() >= image.min() and got.max() <= image.max()


# --- gaussian ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_equals_scipy(rng, mode, dtype):
    image = random_image(rng, (10, 12, 9), dtype)
    sigma = tuple(rng.uniform(0.3, 2.5, 3))
    got = gaussian_filter(image, sigma, mode=mode, cval=5.0, truncate=3.0)
    want = ndi.gaussian_filter(image.astype(np.float64), sigma, mode=mode, cval=5.0, truncate=3.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, got.dtype))


def test_gaussian_sigma_mm_is_divided_by_the_spacing(rng):
    image = random_image(rng, (8, 14, 14), np.float64)
    spacing = (2.5, 0.7, 0.5)
    got = gaussian_filter(image, sigma_mm=1.5, spacing=spacing)
    want = ndi.gaussian_filter(image, [1.5 / s for s in spacing])
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, np.float64))


@pytest.mark.parametrize("device", ["cpu", "cuda", "dask"])
def test_gaussian_with_sigma_0_on_an_axis_smooths_the_others_only(rng, device, request):
    """sigma (0, s, s): within each slice of thick-slice CT, as SciPy and cupyx skip an axis of sigma 0
    (regression: ParameterError 'sigma=(0, ...) must be positive'). All 0 stays refused (cupyx fails)."""
    image = random_image(rng, (5, 12, 9), np.int16)
    want = ndi.gaussian_filter(image.astype(np.float64), (0.0, 1.0, 1.5))
    given = image
    if device == "cuda":
        given = request.getfixturevalue("emulated_cuda")(image)
    elif device == "dask":
        given = pytest.importorskip("dask.array").from_array(image, chunks=(2, 5, 4))
    for got in (
        gaussian_filter(given, (0, 1.0, 1.5)),
        gaussian_filter(given, sigma_mm=(0.0, 0.4, 0.6), spacing=(5.0, 0.4, 0.4)),
    ):
        got = np.asarray(got.compute()) if device == "dask" else gpuimg.to_numpy(got)
        np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, np.float32))
    with pytest.raises(gpuimg.ParameterError, match=r"sigma=\(0, 0, 0\) must be .* not on all"):
        gaussian_filter(image, (0, 0, 0))


def test_gaussian_of_a_volume_uses_its_spacing_and_keeps_its_geometry(ct):
    image, spacing = ct
    volume = gpuimg.Volume(image, spacing=spacing, origin=(1.0, 2.0, 3.0), meta={"modality": "CT"})
    result = gaussian_filter(volume, sigma_mm=2.0)
    assert isinstance(result, gpuimg.Volume)
    assert result.spacing == volume.spacing and result.origin == volume.origin
    assert result.meta == {"modality": "CT"}
    want = ndi.gaussian_filter(image.astype(np.float64), [2.0 / s for s in spacing])
    np.testing.assert_allclose(result.data, want, rtol=0, atol=atol(image, np.float32))


def test_gaussian_keeps_the_sum_of_a_hounsfield_impulse():
    """Dense metal (3071 HU) in air (-1024 HU): the excess above air keeps its total, no overflow."""
    ct = np.full((15, 15, 15), -1024, dtype=np.int16)
    ct[7, 7, 7] = 3071
    got = gaussian_filter(ct, 1.0, mode="nearest")
    assert got.dtype == np.float32
    assert float((got.astype(np.float64) + 1024).sum()) == pytest.approx(4095, rel=1e-5)


# --- NaN and inf (mean and Gaussian) -------------------------------------------------------------


def finite_atol(image, dtype):
    """``atol`` of the finite voxels (the scale of a NaN-holding image is that of its finite ones)."""
    return atol(np.where(np.isfinite(image), image, 0), dtype)


#: SciPy's boundary modes as np.pad's (SciPy's "reflect" repeats the edge voxel, "mirror" does not).
_PAD_MODES = {
    "reflect": "symmetric",
    "nearest": "edge",
    "mirror": "reflect",
    "wrap": "wrap",
    "constant": "constant",
}


def boxes(image, size, mode, cval):
    """Each voxel's box of ``size`` (float64), the image padded as ``mode`` extends it: the box of side
    ``s`` reaches ``s // 2`` voxels back and ``s - 1 - s // 2`` on, as SciPy's with origin 0. Axes
    ``-len(size):`` of the result."""
    pads = [(s // 2, s - 1 - s // 2) for s in size]
    extra = {"constant_values": cval} if mode == "constant" else {}
    padded = np.pad(image.astype(np.float64), pads, mode=_PAD_MODES[mode], **extra)
    return np.lib.stride_tricks.sliding_window_view(padded, size)


def direct_box_mean(image, size, mode, cval):
    """The mean of each voxel's box, summed directly in float64 (no running sums)."""
    return boxes(image, size, mode, cval).sum(axis=tuple(range(-len(size), 0))) / np.prod(size)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_nan_and_inf_stay_in_the_boxes_that_hold_them(rng, mode, dtype):
    """As a direct mean of each box: NaN where a box holds a NaN or both infs, an inf of its sign
    where it holds one kind. (Regression: NumPy's path took SciPy's running sums, which carried a
    NaN, or the inf - inf of a box leaving an inf, on to the end of every line: 82% of such an image
    non-finite, against the 21% whose boxes hold a NaN or inf.)"""
    image = with_nonfinite(rng, (9, 11, 13), dtype)
    size = (3, 4, 5)
    got = mean_filter(image, size, mode=mode, cval=-3.0)
    want = direct_box_mean(image, size, mode, -3.0)
    assert_same_nonfinite(got, want)
    np.testing.assert_array_equal(~np.isfinite(got), reached(~np.isfinite(image), mode, size))
    finite = np.isfinite(want)
    # Same tolerance as the finite case: the finite voxels never saw a NaN or inf.
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=finite_atol(image, got.dtype))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("cval", [np.nan, np.inf, -np.inf])
def test_mean_with_a_non_finite_cval_changes_only_the_boxes_past_the_edges(rng, cval):
    image = with_nonfinite(rng, (6, 12, 14), np.float64, count=1)
    got = mean_filter(image, 3, mode="constant", cval=cval)
    want = direct_box_mean(image, (3, 3, 3), "constant", cval)
    assert_same_nonfinite(got, want)
    assert np.isfinite(got[1:-1, 1:-1, 1:-1]).any()
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=finite_atol(image, got.dtype))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_mean_nan_on_dask_equals_whole_volume(rng):
    da = pytest.importorskip("dask.array")
    image = with_nonfinite(rng, (19, 13, 23), np.float32, count=1)
    chunks = ((5, 1, 9, 4), (13,), (3, 11, 2, 7))
    got = mean_filter(da.from_array(image, chunks=chunks), 3).compute()
    whole = mean_filter(image, 3)
    # Each box lies within a chunk and its halo: the same non-finite voxels.
    assert_same_nonfinite(got, whole)
    finite = np.isfinite(whole)
    # The running sums start at other voxels: float32 rounding of sums of values up to max|image|.
    np.testing.assert_allclose(got[finite], whole[finite], rtol=0, atol=finite_atol(image, np.float32))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_nan_and_inf_spread_within_the_kernel_radius_as_scipy(rng, mode, dtype):
    image = with_nonfinite(rng, (12, 13, 15), dtype)
    sigma = tuple(rng.uniform(0.3, 1.2, 3))
    got = gaussian_filter(image, sigma, mode=mode, cval=5.0, truncate=3.0)
    want = ndi.gaussian_filter(image.astype(np.float64), sigma, mode=mode, cval=5.0, truncate=3.0)
    assert_same_nonfinite(got, want)
    # The docstring's model: exactly the voxels within the radius int(truncate * sigma + 0.5) per
    # axis; NaN where a NaN, or both a +inf and a -inf, reach; otherwise the sign of the inf.
    size = tuple(2 * int(3.0 * s + 0.5) + 1 for s in sigma)
    nan, pos, neg = (reached(kind(image), mode, size) for kind in (np.isnan, np.isposinf, np.isneginf))
    np.testing.assert_array_equal(np.isnan(got), nan | (pos & neg))
    np.testing.assert_array_equal(np.isposinf(got), pos & ~nan & ~neg)
    np.testing.assert_array_equal(np.isneginf(got), neg & ~nan & ~pos)
    finite = np.isfinite(want)
    # Same tolerance as the finite case: the finite voxels never saw a NaN or inf.
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=finite_atol(image, got.dtype))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_gaussian_nan_on_dask_equals_whole_volume(rng):
    da = pytest.importorskip("dask.array")
    image = with_nonfinite(rng, (19, 13, 23), np.float32)
    lazy = da.from_array(image, chunks=((5, 1, 9, 4), (13,), (3, 11, 2, 7)))
    # Direct sums over the kernel, which the halo covers: the same numbers and non-finite voxels.
    np.testing.assert_array_equal(gaussian_filter(lazy, 1.2).compute(), gaussian_filter(image, 1.2))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.gpu
def test_cupy_mean_and_gaussian_keep_nan_and_inf_in_the_boxes(rng):
    import cupy

    image = with_nonfinite(rng, (12, 13, 15), np.float32)
    bad = ~np.isfinite(image)
    # cupyx sums each box directly (no running sum): non-finite exactly where a box holds one.
    got = mean_filter(cupy.asarray(image), 3).get()
    np.testing.assert_array_equal(~np.isfinite(got), reached(bad, "reflect", 3))
    got = gaussian_filter(cupy.asarray(image), 1.0).get()
    assert_same_nonfinite(got, ndi.gaussian_filter(image.astype(np.float64), 1.0))


# --- median --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [27, 125])
def test_median_network_selects_the_median(rng, n):
    """The pruned network brings the median to n // 2, for values with many ties (0-1-like) too."""
    pairs = median_network(n)
    start = rng.integers(0, 3, (n, 500)).astype(np.float64)
    values = start.copy()
    for i, j in pairs:
        values[i], values[j] = np.minimum(values[i], values[j]), np.maximum(values[i], values[j])
    np.testing.assert_array_equal(values[n // 2], np.median(start, axis=0))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [3, 5])
def test_median_equals_scipy_exactly(rng, mode, dtype, size):
    image = random_image(rng, (9, 10, 12), dtype)
    image.flat[rng.integers(0, image.size, 40)] = image.flat[0]  # ties
    got = median_filter(image, size, mode=mode, cval=7)
    assert got.dtype == image.dtype
    np.testing.assert_array_equal(got, ndi.median_filter(image, size, mode=mode, cval=7))


@pytest.mark.parametrize("size", [2, 4, 7, (3, 3, 1), (1, 5, 5)])
def test_median_of_other_sizes_equals_scipy(rng, size):
    image = random_image(rng, (8, 9, 10), np.float32)
    np.testing.assert_array_equal(median_filter(image, size), ndi.median_filter(image, size))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, bool])
def test_median_of_other_dtypes_equals_scipy(rng, dtype):
    image = rng.integers(0, 2 if dtype is bool else 100, (7, 8, 9)).astype(dtype)
    np.testing.assert_array_equal(median_filter(image, 3), ndi.median_filter(image, 3))


def test_median_of_a_real_ct_equals_scipy(ct):
    image, _ = ct
    for size in (3, 5):
        np.testing.assert_array_equal(median_filter(image, size), ndi.median_filter(image, size))


def test_median_3_equals_simpleitk_median_inside(rng):
    """SimpleITK's Median (radius 1) extends the image as "nearest"; on float32 it picks the same value."""
    sitk = pytest.importorskip("SimpleITK")
    image = random_image(rng, (10, 12, 14), np.float32)
    want = sitk.GetArrayFromImage(sitk.Median(sitk.GetImageFromArray(image), [1, 1, 1]))
    np.testing.assert_array_equal(median_filter(image, 3, mode="nearest"), want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    image=st.sampled_from(DTYPES).flatmap(
        lambda dtype: hnp.arrays(
            dtype, hnp.array_shapes(min_dims=3, max_dims=3, max_side=6), elements=st.integers(0, 9)
        )
    ),
    size=st.sampled_from([3, 5]),
    mode=st.sampled_from(MODES),
)
def test_median_of_any_small_shape_equals_scipy(image, size, mode):
    """Axes of 1 and 2 voxels under a 5³ window: modes must extend over several periods."""
    want = ndi.median_filter(image, size, mode=mode)
    np.testing.assert_array_equal(median_filter(image, size, mode=mode), want)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_median_of_a_short_1d_line_equals_the_closed_form(rng, mode, dtype):
    """SciPy's own 1D rank filter reads past a line of 1 voxel in "mirror" mode, or of 2-5 voxels under
    a window longer than it (values not in the image, different from run to run); here each median is
    the middle value of the window padded as the mode extends the line."""
    for _ in range(5):
        for n in range(1, 6):
            line = rng.integers(10, 100, n).astype(dtype)
            for size in range(1, 12):
                kw = {"constant_values": 7} if mode == "constant" else {}
                padded = np.pad(line.astype(np.float64), (size // 2, (size - 1) // 2), _PAD_MODES[mode], **kw)
                want = np.sort(np.lib.stride_tricks.sliding_window_view(padded, size), axis=1)[:, size // 2]
                got = median_filter(line, size, mode=mode, cval=7)
                assert got.dtype == line.dtype
                np.testing.assert_array_equal(got, want, err_msg=f"line {line}, size {size}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [3, 5])
def test_median_nan_makes_its_windows_nan_and_inf_is_ordered(rng, mode, size):
    image = random_image(rng, (9, 9, 9), np.float64)
    image[4, 4, 4] = np.nan
    image[0, 8, 3] = np.inf
    image[:4, :4, :4] = -np.inf
    got = median_filter(image, size, mode=mode)
    nan_window = ndi.maximum_filter(np.isnan(image), size, mode=mode)
    np.testing.assert_array_equal(np.isnan(got), nan_window)
    finite = np.where(np.isnan(image), 0.0, image)
    np.testing.assert_array_equal(got[~nan_window], ndi.median_filter(finite, size, mode=mode)[~nan_window])
    assert np.isinf(got).any()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("shape", "size", "cval"),
    [
        ((9, 10), 3, 7.0),
        ((21,), 4, 7.0),
        ((9, 9, 9), 7, 7.0),
        ((8, 9, 7), (3, 3, 1), np.nan),
        ((7, 8, 9), 4, 7.0),
    ],
)
def test_median_on_scipys_path_makes_windows_with_nan_nan(rng, mode, shape, size, cval):
    """Shapes, sizes and a NaN cval that SciPy's median_filter filters (not our kernels): the middle
    value of each window, NaN where it holds a NaN. (Regression: SciPy's value there depends on
    the order of its comparisons: in 2D under 3 x 3 only the NaN voxel itself was NaN, its 8
    neighbours' windows gave values neither NaN nor the median of the others.)"""
    image = random_image(rng, shape, np.float32)
    image[tuple(n // 2 for n in shape)] = np.nan
    image[(0,) * len(shape)] = np.nan
    sizes = (size,) * len(shape) if np.ndim(size) == 0 else size
    windows = boxes(image, sizes, mode, cval).reshape((*shape, -1))
    # SciPy's median: the value of rank n // 2 of the n in the window (the upper one for even n).
    want = np.sort(windows, axis=-1)[..., windows.shape[-1] // 2]
    want[np.isnan(windows).any(axis=-1)] = np.nan
    got = median_filter(image, size, mode=mode, cval=cval)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])  # a voxel's value


def test_median_on_the_gpu_path_of_ndimage_makes_windows_with_nan_nan(rng, emulated_cuda):
    """The same on the CUDA device, whose cupyx median_filter takes 2D images."""
    image = random_image(rng, (9, 10), np.float64)
    image[4, 5] = np.nan
    got = gpuimg.to_numpy(median_filter(emulated_cuda(image), 3))
    np.testing.assert_array_equal(np.isnan(got), ndi.maximum_filter(np.isnan(image), 3))
    finite = np.where(np.isnan(image), 0.0, image)
    np.testing.assert_array_equal(got[~np.isnan(got)], ndi.median_filter(finite, 3)[~np.isnan(got)])


# --- every stencil on Dask -----------------------------------------------------------------------

STENCILS = {
    "mean": lambda x, mode: mean_filter(x, (3, 4, 5), mode=mode, cval=2.0),
    "gaussian": lambda x, mode: gaussian_filter(x, (0.8, 1.5, 0.5), mode=mode, cval=2.0),
    "gaussian_mm": lambda x, mode: gaussian_filter(x, sigma_mm=2.0, spacing=(2.5, 1.0, 0.8), mode=mode),
    "median3": lambda x, mode: median_filter(x, 3, mode=mode, cval=2.0),
    "median5": lambda x, mode: median_filter(x, 5, mode=mode, cval=2.0),
    "median4": lambda x, mode: median_filter(x, 4, mode=mode, cval=2.0),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(STENCILS))
def test_dask_with_uneven_chunks_equals_whole_volume(rng, mode, name):
    da = pytest.importorskip("dask.array")
    image = random_image(rng, (19, 13, 23), np.float32)
    lazy = da.from_array(image, chunks=((5, 1, 9, 4), (13,), (3, 11, 2, 7)))
    got = STENCILS[name](lazy, mode)
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), STENCILS[name](image, mode))


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: mean_filter(x, 0), "size=0 must be a positive whole number"),
        (lambda x: mean_filter(x, (3, 3)), "one per axis (3)"),
        (lambda x: mean_filter(x, 2.5), "size=2.5 must be a positive whole number"),
        (lambda x: mean_filter(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: mean_filter(x.astype(complex)), "must hold real numbers"),
        (lambda x: median_filter(x, -3), "size=-3 must be a positive whole number"),
        (lambda x: median_filter(x, (3, 3, 3, 3)), "one per axis (3)"),
        (lambda x: median_filter(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: gaussian_filter(x), "give sigma (voxels) or sigma_mm (mm)"),
        (lambda x: gaussian_filter(x, 1.0, sigma_mm=1.0, spacing=1.0), "not both"),
        (lambda x: gaussian_filter(x, 0.0), "sigma=0.0 must be positive"),
        (lambda x: gaussian_filter(x, (1.0, -1.0, 1.0)), "must be positive"),
        (lambda x: gaussian_filter(x, (1.0, 1.0)), "one per axis (3)"),
        (lambda x: gaussian_filter(x, float("nan")), "must be positive and finite"),
        (lambda x: gaussian_filter(x, sigma_mm=2.0), "needs the voxel spacing"),
        (lambda x: gaussian_filter(x, sigma_mm=2.0, spacing=(1.0, 0.0, 1.0)), "spacing="),
        (lambda x: gaussian_filter(x, 1.0, truncate=0.0), "truncate=0.0 must be positive"),
    ],
)
def test_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_empty_image_gives_empty_result():
    for op in (mean_filter, median_filter, lambda x: gaussian_filter(x, 1.0)):
        assert op(np.zeros((0, 4, 4), np.float32)).shape == (0, 4, 4)


# --- CUDA target ---------------------------------------------------------------------------------


@pytest.mark.cudasim
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_target_median_3_equals_scipy(rng, on_cuda_target, mode, dtype):
    image = random_image(rng, (5, 6, 7), dtype)
    got = gpuimg.to_numpy(median_filter(on_cuda_target(image), 3, mode=mode, cval=4))
    np.testing.assert_array_equal(got, ndi.median_filter(image, 3, mode=mode, cval=4))


@pytest.mark.gpu
def test_cupy_input_stays_on_the_gpu(rng):
    import cupy

    image = random_image(rng, (40, 50, 60), np.int16)
    for size in (3, 5):
        got = median_filter(cupy.asarray(image), size)
        assert isinstance(got, cupy.ndarray)
        np.testing.assert_array_equal(got.get(), ndi.median_filter(image, size))
    got = gaussian_filter(cupy.asarray(image), sigma_mm=2.0, spacing=(2.0, 1.0, 1.0))
    assert isinstance(got, cupy.ndarray) and got.dtype == cupy.float32
    want = ndi.gaussian_filter(image.astype(np.float64), (1.0, 2.0, 2.0))
    np.testing.assert_allclose(got.get(), want, rtol=0, atol=atol(image, np.float32))


# --- bilateral -----------------------------------------------------------------------------------


def simpleitk_bilateral(image, sigma_spatial_mm, sigma_range, spacing):
    """SimpleITK's Bilateral, on float input (on int16 it would round its output to int16)."""
    sitk = pytest.importorskip("SimpleITK")
    itk_image = sitk.GetImageFromArray(image if image.dtype == np.float64 else image.astype(np.float32))
    itk_image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    return sitk.GetArrayFromImage(sitk.Bilateral(itk_image, sigma_spatial_mm, sigma_range))


def reference_bilateral(image, sigma_spatial_mm, sigma_range, spacing, mode="nearest", truncate=2.5):
    """Closed form in float64 with NumPy: the box's spatial Gaussian times the exact range Gaussian."""
    image = image.astype(np.float64)
    radius = [int(np.ceil(truncate * sigma_spatial_mm / d)) for d in spacing]
    padded = np.pad(image, [(r, r) for r in radius], mode={"nearest": "edge", "reflect": "symmetric"}[mode])
    total = np.zeros_like(image)
    norm = np.zeros_like(image)
    for offset in np.ndindex(*(2 * r + 1 for r in radius)):
        shift = [o - r for o, r in zip(offset, radius, strict=True)]
        spatial = np.exp(
            -0.5 * sum((s * d / sigma_spatial_mm) ** 2 for s, d in zip(shift, spacing, strict=True))
        )
        window = tuple(slice(o, o + n) for o, n in zip(offset, image.shape, strict=True))
        values = padded[window]
        diff = np.abs(values - image)
        weight = np.where(diff < 4 * sigma_range, spatial * np.exp(-0.5 * (diff / sigma_range) ** 2), 0.0)
        total += np.where(weight > 0, weight * values, 0.0)  # a NaN neighbour has weight 0
        norm += weight
    with np.errstate(invalid="ignore"):
        return total / norm


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float64])
def test_bilateral_with_the_lookup_table_equals_simpleitk(rng, dtype):
    """Same box, same table, double sums: only the float32 rounding of the output differs. The box
    (radius 2, 5, 6) leaves 8 x 6 x 8 voxels to the CPU's row-at-a-time path, the rest to its
    voxel-at-a-time path."""
    image = random_image(rng, (12, 16, 20), np.float32).astype(dtype)
    spacing = (2.0, 0.8, 0.7)
    got = bilateral_filter(image, None, 80.0, sigma_spatial_mm=1.5, spacing=spacing, range_samples=100)
    want = simpleitk_bilateral(image, 1.5, 80.0, spacing)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, np.float32))


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_bilateral_equals_the_closed_form(rng, mode):
    image = random_image(rng, (10, 14, 18), np.float64)
    spacing = (1.5, 0.9, 0.6)
    got = bilateral_filter(image, None, 60.0, sigma_spatial_mm=1.2, spacing=spacing, mode=mode)
    np.testing.assert_allclose(
        got, reference_bilateral(image, 1.2, 60.0, spacing, mode), rtol=1e-12, atol=1e-9
    )


def test_bilateral_of_a_real_ct_equals_simpleitk(ct):
    """int16 HU across the chest wall: tables equal SimpleITK to float32 rounding; the exact range
    Gaussian differs from the table's steps of 0.04 sigma_range by a fraction of sigma_range."""
    image, spacing = ct
    image = image[:6, :24, :24]
    want = simpleitk_bilateral(image, 1.0, 40.0, spacing)
    np.testing.assert_allclose(
        bilateral_filter(image, None, 40.0, sigma_spatial_mm=1.0, spacing=spacing, range_samples=100),
        want,
        rtol=0,
        atol=4e3 * F32,
    )
    exact = bilateral_filter(gpuimg.Volume(image, spacing=spacing), sigma_range=40.0, sigma_spatial_mm=1.0)
    np.testing.assert_allclose(exact.data, want, rtol=0, atol=0.1 * 40.0)
    np.testing.assert_allclose(
        exact.data, reference_bilateral(image, 1.0, 40.0, spacing), rtol=1e-6, atol=1e-3
    )
    # The unit rule: sigma_spatial is voxels for a Volume as for its array; sigma_spatial_mm is
    # sigma_spatial_mm / spacing voxels.
    volume = gpuimg.Volume(image, spacing=spacing)
    np.testing.assert_array_equal(
        bilateral_filter(volume, 1.0, 40.0).data, bilateral_filter(image, 1.0, 40.0)
    )
    in_voxels = bilateral_filter(image, [1.0 / d for d in spacing], 40.0)
    np.testing.assert_allclose(exact.data, in_voxels, rtol=1e-6, atol=1e-3)


def test_bilateral_keeps_an_edge_and_ignores_nan_neighbours():
    step = np.zeros((7, 7, 8))
    step[:, :, 4:] = 1000.0
    step[3, 3, 1] = np.nan
    got = bilateral_filter(step, 1.0, 50.0)
    assert np.isnan(got[3, 3, 1]) and np.isnan(got).sum() == 1
    np.testing.assert_allclose(got[:, :, 4:], 1000.0, rtol=1e-12)
    np.testing.assert_allclose(
        got, reference_bilateral(step, 1.0, 50.0, (1.0, 1.0, 1.0)), rtol=1e-12, atol=1e-9
    )


@pytest.mark.parametrize("mode", MODES)
def test_bilateral_dask_with_uneven_chunks_equals_whole_volume(rng, mode):
    da = pytest.importorskip("dask.array")
    image = random_image(rng, (12, 13, 15), np.float32)
    lazy = da.from_array(image, chunks=((5, 1, 6), (13,), (3, 8, 4)))
    run = partial(
        bilateral_filter, sigma_spatial_mm=1.0, sigma_range=70.0, spacing=(2.0, 1.0, 0.8), mode=mode
    )
    np.testing.assert_array_equal(run(lazy).compute(), run(image))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: bilateral_filter(x, 0.0, 50.0), "sigma_spatial=0.0 must be positive"),
        (lambda x: bilateral_filter(x, sigma_spatial_mm=1.0, sigma_range=5.0), "needs the voxel spacing"),
        (lambda x: bilateral_filter(x, 1.0), "needs sigma_range"),
        (lambda x: bilateral_filter(x, (1.0, 1.0), 50.0), "one per axis (3)"),
        (lambda x: bilateral_filter(x, 1.0, -5.0), "sigma_range=-5.0 must be positive"),
        (lambda x: bilateral_filter(x, None, 5.0, sigma_spatial_mm=1.0, spacing=(1.0, 0.0, 1.0)), "spacing="),
        (lambda x: bilateral_filter(x, 1.0, 5.0, range_samples=0), "range_samples=0 must be None"),
        (lambda x: bilateral_filter(x[0], 1.0, 5.0), "must be 3D (z, y, x); got 2D"),
        (lambda x: bilateral_filter(x, 1.0, 5.0, mode="edge"), "mode='edge' is unknown"),
    ],
)
def test_bilateral_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)


@pytest.mark.cudasim
@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_cuda_target_bilateral_equals_simpleitk(rng, on_cuda_target, dtype):
    image = random_image(rng, (5, 6, 7), np.float32).astype(dtype)
    got = gpuimg.to_numpy(bilateral_filter(on_cuda_target(image), 1.0, 80.0, range_samples=100))
    want = simpleitk_bilateral(image, 1.0, 80.0, (1.0, 1.0, 1.0))
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, np.float32))


@pytest.mark.cudasim
def test_cuda_target_bilateral_of_large_float32_values_computes_in_float64(rng, on_cuda_target):
    """Regression: the CUDA kernel's intensities were made float64 by ``+ zero``, which Numba types
    as float64 but the simulator's NumPy scalars keep as float32, so squared differences of values
    near 1e35 overflowed there (every voxel NaN) while the compiled targets were right."""
    image = np.ldexp(random_image(rng, (4, 5, 6), np.float32), 110)
    sigma_range = 2.0**116  # about 50 of the image's standard deviation of 100 * 2**110
    got = gpuimg.to_numpy(bilateral_filter(on_cuda_target(image), 1.0, sigma_range))
    want = reference_bilateral(image, 1.0, sigma_range, (1.0, 1.0, 1.0))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, np.float32))
