"""Bad input to the array operations (issue 14): a ParameterError naming the parameter, or the
correct result; sizes that would allocate terabytes or run for minutes are refused first.

The references are SciPy and scikit-image on the same input made valid (float32 for float16, an
array for a list). Sizes that would exhaust the machine if their check regressed run in a child
process under a memory limit and a timeout.
"""

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.exposure
from guarded import run_guarded
from skimage._shared.utils import _supported_float_type

from gpuimg import ConfigError, MemoryBudgetError, ParameterError, Volume
from gpuimg._arrays import float_dtype
from gpuimg.morphology import label
from gpuimg.preprocess import (
    bilateral_filter,
    clahe,
    crop_to_mask,
    equalize_hist,
    gaussian_filter,
    ibsi_grid,
    mean_filter,
    median_filter,
    resample,
)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: gaussian_filter(x, 1.0),
        lambda x: median_filter(x, 3),
        lambda x: mean_filter(x, 3),
        lambda x: equalize_hist(x),
        lambda x: clahe(x),
        lambda x: label(x),
    ],
)
def test_zero_d_input(call):
    with pytest.raises(ParameterError, match="axes"):
        call(np.float32(3.0))


@pytest.mark.parametrize(
    ("call", "shape"),
    [
        (clahe, (0, 5, 5)),
        (clahe, (4, 0)),
        (equalize_hist, (0, 5, 5)),
        (equalize_hist, (4, 0)),
        (equalize_hist, (0,)),
    ],
)
def test_empty_input_to_histogram_operations(call, shape):
    with pytest.raises(ParameterError, match="no voxel"):
        call(np.zeros(shape, np.float32))


@pytest.mark.parametrize("call", [lambda x: gaussian_filter(x, 1.0), lambda x: median_filter(x, 3)])
def test_complex_input(call):
    with pytest.raises(ParameterError, match="real numbers"):
        call(np.ones((4, 4, 4), np.complex64))


def test_complex_input_to_label():
    with pytest.raises(ParameterError, match="real numbers"):
        label(np.ones((4, 4, 4), np.complex64))


@pytest.mark.parametrize("dtype", ["<f2", ">f2"])
def test_float16_median_equals_scipy_on_float32(rng, dtype):
    # Big-endian float16 (">f2", from a file) was made native float16, not float32: SciPy's
    # "RuntimeError: array type not supported".
    image = rng.normal(0, 100, (6, 7, 8)).astype(dtype)
    got = median_filter(image, 3)
    np.testing.assert_array_equal(got, ndi.median_filter(image.astype(np.float32), 3))  # exact: a median


def test_float16_label_equals_scipy(rng):
    image = (rng.uniform(0, 1, (6, 7, 8)) > 0.6).astype(np.float16)
    labels, count = label(image)
    want, want_count = ndi.label(image.astype(np.float32), np.ones((3, 3, 3)))  # 26-connectivity
    assert count == want_count
    np.testing.assert_array_equal(labels, want)


def test_float16_volume_stays_a_volume(rng):
    volume = Volume(rng.normal(0, 1, (4, 5, 6)).astype(np.float16), spacing=(2.0, 1.0, 1.0))
    got = gaussian_filter(volume, 1.0)
    assert isinstance(got, Volume) and got.spacing == volume.spacing
    want = ndi.gaussian_filter(volume.data.astype(np.float32), 1.0)
    np.testing.assert_allclose(got.data, want, rtol=0, atol=1e-6)  # same float32 passes


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="longdouble is float64 here")
def test_longdouble_computes_in_float64_as_scipy_on_float64(rng):
    """A longdouble (float128) image was computed in float32: gaussian_filter of activities near 1e6
    Bq/mL came back with steps of 0.0625 (a relative error of 3e-8), equalize_hist and clahe raised
    Numba's TypingError and median_filter SciPy's RuntimeError. SciPy and scikit-image refuse
    longdouble ("array type not supported"), so the reference is theirs on the image as float64."""
    image = (1e6 + rng.normal(0, 100, (6, 7, 8))).astype(np.longdouble)
    as64 = image.astype(np.float64)
    got = gaussian_filter(image, 1.0)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ndi.gaussian_filter(as64, 1.0), rtol=1e-13, atol=0)  # float64 sums
    np.testing.assert_array_equal(median_filter(image, 3), ndi.median_filter(as64, 3))  # exact: a median
    want = skimage.exposure.equalize_hist(as64)
    np.testing.assert_allclose(equalize_hist(image), want, rtol=0, atol=1e-12)  # same float64 CDF
    assert clahe(image, 4).dtype == np.float64
    assert float_dtype(np.longdouble) == _supported_float_type(np.longdouble) == np.float64


def test_lists_equal_arrays():
    image = [[0.0, 0.2, 0.4, 0.6], [0.1, 0.3, 0.5, 0.7], [0.9, 0.8, 0.2, 0.1], [0.5, 0.5, 0.5, 1.0]]
    want = skimage.exposure.equalize_hist(np.asarray(image))
    np.testing.assert_allclose(equalize_hist(image), want, rtol=0, atol=1e-6)  # float32 vs float64 CDF
    np.testing.assert_allclose(
        clahe(image, 2), skimage.exposure.equalize_adapthist(np.asarray(image), 2), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("sigma_range", [1e200, 1e-200])
def test_a_sigma_range_whose_square_float64_cannot_hold(rng, sigma_range):
    # Its square overflowed in Python (OverflowError) or its inverse divided by zero.
    with pytest.raises(ParameterError, match=r"sigma_range=1e[+-]200 is outside 1e-150 to 1e\+150"):
        bilateral_filter(rng.normal(0, 1, (4, 5, 6)), 1.0, sigma_range)


@pytest.mark.parametrize("nbins", [0, -3, 2.5, True])  # 2**31: a guarded case below
def test_histogram_bins_bounded(nbins):
    image = np.random.default_rng(0).uniform(0, 1, (8, 8))
    for call in (equalize_hist, clahe):
        with pytest.raises(ParameterError, match="nbins"):
            call(image, nbins=nbins)


def test_small_windows_still_run(rng):
    image = rng.normal(0, 1, (6, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(median_filter(image, 5), ndi.median_filter(image, 5))
    # a window longer than the image on an axis is fine (SciPy's boundary modes define it)
    np.testing.assert_array_equal(median_filter(image[:1, :2], 5), ndi.median_filter(image[:1, :2], 5))


GUARDED_SETUP = """
import numpy as np
from gpuimg.edges import canny, gaussian_gradient_magnitude, log
from gpuimg.ml import voxel_features
from gpuimg.preprocess import bilateral_filter, clahe, equalize_hist, gaussian_filter, median_filter, resample
from gpuimg.preprocess import unsharp_mask
IMAGE = np.random.default_rng(0).uniform(0, 1, (20, 20, 20)).astype(np.float32)
"""

GUARDED = {
    "median_1000": ("median_filter(IMAGE, 1000)", "ParameterError", "window"),
    "median_flat": ("median_filter(IMAGE, (3, 700, 700))", "ParameterError", "window"),
    "median_103": ("median_filter(np.zeros((60, 60, 60), np.float32), 103)", "ParameterError", "window"),
    "resample_um": ("resample(IMAGE, spacing=1.0, new_spacing=1e-3)", "MemoryBudgetError", "new_spacing"),
    "bilateral_sigma": ("bilateral_filter(IMAGE, 1e6, 10.0)", "ParameterError", "window"),
    "bilateral_range": (
        "bilateral_filter(IMAGE, 1.0, 1e30, range_samples=10**13)",
        "MemoryBudgetError",
        "range_samples",
    ),
    "clahe_kernel": ("clahe(IMAGE, kernel_size=10**6)", "ParameterError", "kernel_size"),
    "equalize_bins": ("equalize_hist(IMAGE, nbins=2**31)", "ParameterError", "nbins"),
    "clahe_bins": ("clahe(IMAGE, nbins=2**31)", "ParameterError", "nbins"),
    # One histogram and one map of 2**16 bins per voxel (20³ tiles of 1 voxel): 7.8 GiB, allocated
    # unchecked (a bare MemoryError, or the machine's memory on one without an address-space limit).
    "clahe_tiles": ("clahe(IMAGE, kernel_size=1, nbins=2**16)", "MemoryBudgetError", "8000 tiles"),
    # Values whose span overflows: CLAHE's bins came from int() of NaN and indexed memory (a crash).
    "clahe_span": (
        "clahe(np.array([-1e308, 0.0, 1e308] * 9).reshape(3, 3, 3))",
        "ParameterError",
        "float64 holds",
    ),
    "equalize_span": (
        "equalize_hist(np.array([-3e38, 0.0, 3e38] * 9, np.float32).reshape(3, 3, 3))",
        "ParameterError",
        "more than float32 holds",
    ),
    # A Gaussian's taps (8e9 of them, 60 GiB) were allocated before any check.
    "gaussian_sigma": ("gaussian_filter(IMAGE, 1e9)", "ParameterError", "Gaussian kernel"),
    "gaussian_sigma_mm": (
        "gaussian_filter(IMAGE, sigma_mm=1e9, spacing=0.5)",
        "ParameterError",
        "Gaussian kernel",
    ),
    "unsharp_sigma": ("unsharp_mask(IMAGE, 1e9)", "ParameterError", "Gaussian kernel"),
    "gradient_sigma": ("gaussian_gradient_magnitude(IMAGE, 1e9)", "ParameterError", "Gaussian kernel"),
    "log_sigma": ("log(IMAGE, (1.0, 1.0, 1e9))", "ParameterError", "Gaussian kernel"),
    "canny_sigma": ("canny(IMAGE, 1e9)", "ParameterError", "Gaussian kernel"),
    "voxel_features_sigma": ("voxel_features(IMAGE, sigmas=(1.0, 1e9))", "ParameterError", "Gaussian kernel"),
}


@pytest.fixture(scope="module")
def guarded_results():
    cases = {name: code for name, (code, _, _) in GUARDED.items()}
    return run_guarded(cases, GUARDED_SETUP, memory=3 * 1024**3, timeout=180)


@pytest.mark.parametrize("case", sorted(GUARDED))
def test_unbounded_sizes_refused(guarded_results, case):
    _, kind, words = GUARDED[case]
    result = guarded_results[case]
    assert result is not None, f"{case}: no error"
    name, message, classes = result
    assert name == kind, f"{case}: {name}: {message}"
    assert words in message and "GpuimgError" in classes


def test_budget_error_is_a_memory_error(monkeypatch):
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")  # 80³ float32 voxels need 2 MiB
    with pytest.raises(MemoryError):
        resample(np.ones((4, 4, 4), np.float32), spacing=1.0, new_spacing=0.05)
    with pytest.raises(MemoryBudgetError, match="GPUIMG_MAX_BYTES"):
        resample(np.ones((4, 4, 4), np.float32), spacing=1.0, new_spacing=0.05)


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1k")
    with pytest.raises(MemoryBudgetError, match=r"1\.0 KiB"):
        resample(np.ones((4, 4, 4), np.float32), spacing=1.0, new_spacing=0.5)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "lots")
    with pytest.raises(ConfigError, match="GPUIMG_MAX_BYTES"):
        resample(np.ones((4, 4, 4), np.float32), spacing=1.0, new_spacing=0.5)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")
    assert resample(np.ones((4, 4, 4), np.float32), spacing=1.0, new_spacing=0.5).shape == (8, 8, 8)


def test_budget_counts_the_resampled_dtype(monkeypatch):
    """A float64 image resamples to float64: 64³ voxels need 2 MiB, twice the float32 count."""
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(64**3 * 4))  # 64³ float32 voxels fit, float64 do not
    assert resample(np.ones((4, 4, 4), np.float32), spacing=1.0, new_spacing=1 / 16).shape == (64, 64, 64)
    with pytest.raises(MemoryBudgetError, match=r"2\.0 MiB"):
        resample(np.ones((4, 4, 4), np.float64), spacing=1.0, new_spacing=1 / 16)


@pytest.mark.parametrize("new_spacing", [1e-300, (1.0, 1.0, 1e-300)])
def test_a_grid_beyond_any_number_of_voxels_is_refused(new_spacing):
    # 2 voxels of 1e300 mm at 1e-300 mm are 2e600 voxels an axis, beyond the largest float (closed
    # form): ibsi_grid took math.ceil(inf), a bare OverflowError, instead of refusing new_spacing.
    assert not np.isfinite(np.float64(2) * 1e300 / 1e-300)
    with pytest.raises(MemoryBudgetError, match=r"new_spacing=.*1e-300.* more than 1\.8e308 voxels"):
        resample(np.zeros((2, 2, 2)), spacing=1e300, new_spacing=new_spacing)
    with pytest.raises(MemoryBudgetError, match="new_spacing"):
        ibsi_grid((2, 2, 2), (1e300, 1e300, 1e300), (1e-300, 1e-300, 1e-300))


@pytest.mark.parametrize(
    "call",
    [
        lambda x, m: gaussian_filter(x, sigma_mm=1e300, spacing=1e-300),
        lambda x, m: crop_to_mask(x, m, margin_mm=1e300, spacing=1e-300),
    ],
)
def test_a_size_in_mm_beyond_any_number_of_voxels_is_refused(call):
    # 1e300 mm at 1e-300 mm a voxel is 1e600 voxels (closed form), beyond the largest float: math.ceil
    # of inf raised a bare OverflowError in the filter's kernel and the crop's margin.
    assert not np.isfinite(np.float64(1e300) / 1e-300)
    mask = np.zeros((3, 3, 3), bool)
    mask[1, 1, 1] = True
    match = r"_mm=1e\+300 at spacing=1e-300 mm is more than 1\.8e308 voxels"
    with pytest.raises(ParameterError, match=match):
        call(np.zeros((3, 3, 3)), mask)
