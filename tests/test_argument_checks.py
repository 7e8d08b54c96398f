"""Arguments of the wrong kind get a ParameterError that names the parameter, not a TypeError from
deep inside (a dict lookup of an unhashable mode, a Numba typing error for a tuple cval) or an
allocation the size of a typo. Found by calling the public operations with random arguments."""

import re

import numpy as np
import pytest
import scipy.ndimage
import skimage.exposure
import skimage.transform
from guarded import run_guarded

import gpuimg.features as features
from gpuimg import (
    ConfigError,
    DeviceError,
    FeatureError,
    MemoryBudgetError,
    ParameterError,
    Volume,
    stitch,
    to_device,
)
from gpuimg._memory import check_allocation, max_bytes
from gpuimg._support import MAX_WINDOW
from gpuimg.contours import hough_circle, hough_circle_peaks, hough_line, hough_line_peaks, marching_cubes
from gpuimg.edges import canny, gaussian_gradient_magnitude, gradient_magnitude, laplace, log, sobel
from gpuimg.features import Settings, discretise, extract, glcm_map
from gpuimg.ml import segment_kmeans, segment_som, voxel_features
from gpuimg.morphology import (
    dilate,
    erode,
    fill_holes,
    footprint,
    label,
    multiotsu,
    opening,
    remove_small_objects,
)
from gpuimg.preprocess import (
    clahe,
    crop_to_mask,
    equalize_hist,
    gaussian_filter,
    laplacian_sharpen,
    match_histogram,
    mean_filter,
    median_filter,
    resample,
    rescale_intensity,
    unsharp_mask,
)

#: Every feature family that takes a Roi, by name.
FAMILY_FUNCTIONS = {
    name: getattr(features, name)
    for name in (
        "glcm",
        "glrlm",
        "glszm",
        "gldzm",
        "ngtdm",
        "ngldm",
        "intensity_statistics",
        "intensity_histogram",
        "intensity_volume_histogram",
        "local_intensity",
    )
}

#: Every public operation that takes a boundary mode and cval.
STENCILS = {
    "gaussian_filter": lambda x, **k: gaussian_filter(x, 1.0, **k),
    "mean_filter": mean_filter,
    "median_filter": median_filter,
    "laplacian_sharpen": laplacian_sharpen,
    "unsharp_mask": lambda x, **k: unsharp_mask(x, 1.0, **k),
    "resample": lambda x, **k: resample(x, (1.0, 1.0, 1.0), (2.0, 2.0, 2.0), **k),
    "gradient_magnitude": gradient_magnitude,
    "sobel": sobel,
    "laplace": laplace,
    "gaussian_gradient_magnitude": lambda x, **k: gaussian_gradient_magnitude(x, 1.0, **k),
    "canny": lambda x, **k: canny(x, 1.0, **k),
    "dilate": lambda x, **k: dilate(x, "ball", 1, **k),
}


@pytest.mark.parametrize("name", sorted(STENCILS))
@pytest.mark.parametrize("mode", [["reflect"], np.array(["reflect"]), 3, None])
def test_a_mode_that_is_not_a_name(rng, name, mode):
    with pytest.raises(ParameterError, match=r"mode=.* is unknown; use one of \['constant'"):
        STENCILS[name](rng.random((6, 7, 8)), mode=mode)


@pytest.mark.parametrize("name", sorted(STENCILS))
@pytest.mark.parametrize("cval", ["0", None, (0, 0, 0), np.zeros(3), 1j])
def test_a_cval_that_is_not_one_real_number(rng, name, cval):
    with pytest.raises(ParameterError, match=r"cval=.* must be one real number"):
        STENCILS[name](rng.random((6, 7, 8)), mode="constant", cval=cval)


@pytest.mark.parametrize("cval", [-1024, np.float32(2.5), np.int16(7)])
def test_a_cval_of_any_real_type_fills_the_border(cval):
    """The border of a 3 x 3 x 3 mean of zeros in "constant" mode, against its closed form."""
    got = mean_filter(np.zeros((5, 5, 5)), 3, mode="constant", cval=cval)
    assert got[0, 0, 0] == pytest.approx(float(cval) * (27 - 8) / 27)
    assert got[2, 2, 2] == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: gradient_magnitude(x, ["sobel"]), r"operator=\['sobel'\] is unknown"),
        (lambda x: canny(x, method=["sobel"]), r"method=\['sobel'\] is unknown; use 'sobel'"),
        (
            lambda x: opening(x, ["ball"]),
            r"footprint must be one of \['ball', 'cube', 'cross'\] or a 3D array",
        ),
    ],
)
def test_a_choice_that_is_not_a_name(rng, call, message):
    with pytest.raises(ParameterError, match=message):
        call(rng.random((6, 7, 8)))


def test_a_footprint_past_the_memory_budget_is_refused_before_it_is_built():
    """A ball of radius 10⁶ voxels has (2 * 10⁶ + 1)³ voxels: its box would take 10²⁰ bytes."""
    with pytest.raises(MemoryBudgetError, match=r"the footprint 'ball' of 2000001 x .*\(radius;"):
        footprint("ball", 10**6)
    with pytest.raises(MemoryBudgetError, match=r"\(radius_mm; a smaller one needs less\)"):
        dilate(np.zeros((4, 4, 4), bool), radius_mm=10**6, spacing=1.0)
    assert footprint("ball", 60).shape == (121, 121, 121)


def test_a_named_footprint_past_the_window_limit_is_refused_where_its_work_grows_with_it():
    """The cross of radius 60 spans (2 * 60 + 1)³ voxels, past the window limit: SciPy's binary and
    grey operations visit that box at every voxel."""
    assert (2 * 60 + 1) ** 3 > MAX_WINDOW >= (2 * 50 + 1) ** 3
    for image in (np.zeros((4, 4, 4), bool), np.zeros((4, 4, 4))):
        with pytest.raises(ParameterError, match="radius gives a window of 121 x 121 x 121"):
            dilate(image, "cross", 60)
    with pytest.raises(ParameterError, match="radius_mm gives a window of 121 x 121 x 121"):
        erode(np.zeros((4, 4, 4)), "ball", radius_mm=60, spacing=1.0)


def test_an_empty_image_has_no_range_to_rescale():
    with pytest.raises(ParameterError, match=r"the image is empty \(shape \(0, 5, 5\)\)"):
        rescale_intensity(np.zeros((0, 5, 5)))


def test_an_image_of_nan_only_matches_any_histogram_as_nan(rng):
    got = match_histogram(np.full((3, 4, 5), np.nan), rng.random((4, 4, 4)))
    assert got.shape == (3, 4, 5) and np.isnan(got).all()


def test_multiotsu_of_fewer_values_than_classes(rng):
    with pytest.raises(ParameterError, match=r"classes=3: .*only 2 different values"):
        multiotsu((rng.random((6, 7)) > 0.5).astype(float), classes=3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: canny(x, 1.0, low_threshold="low"), r"low_threshold='low' must be a finite number"),
        (lambda x: fill_holes(x > 0.5, slice_by_slice=True, axis="z"), r"axis='z' is not an axis"),
        # A bool is an int to Python: axis=True filled the slices along axis 1 (NumPy refuses it).
        (lambda x: fill_holes(x > 0.5, slice_by_slice=True, axis=True), r"axis=True is not an axis of a 3D"),
        (lambda x: log(x, 1.0, normalize=np.ones(2)), r"normalize=array\(\[1., 1.\]\) must be True or False"),
        (
            lambda x: label(x > 0.5, np.ones((3, 3, 3))),
            r"connectivity=an array of shape \(3, 3, 3\) .*a structuring element is not",
        ),
        (lambda x: label(x > 0.5, True), r"connectivity=True is not one of \[6, 18, 26\]"),
        (
            lambda x: remove_small_objects(x > 0.5, min_voxels=2, connectivity=[6]),
            r"connectivity=an array of shape \(1,\)",
        ),
        (lambda x: match_histogram(x, "x"), r"the reference is a file name \('x'\), not an array"),
        (lambda x: hough_circle(x[0] > 0.5, "three"), r"radius='three' must be a non-empty 1D array"),
        # A flag given for a number was taken for 1.0 (and False for 0.0) by check_positive and
        # check_finite, where check_axis, check_sizes and check_bins refuse a bool.
        (lambda x: gaussian_filter(x, 1.0, truncate=True), r"truncate=True must be positive and finite"),
        (lambda x: unsharp_mask(x, 1.0, amount=True), r"amount=True must be a finite number"),
        (lambda x: canny(x, 1.0, low_threshold=np.True_), r"low_threshold=np.True_ must be a finite number"),
        (lambda x: remove_small_objects(x > 0.5, min_voxels=False), r"min_voxels=False must be a finite"),
        # And so were sizes and spacings: sigma=True smoothed by 1 voxel, spacing=True was 1 mm.
        (lambda x: gaussian_filter(x, True), r"sigma=True must be positive and finite"),
        (lambda x: resample(x, (1.0, True, 1.0), 2.0), r"spacing=\(1.0, True, 1.0\) must be one positive"),
        (lambda x: crop_to_mask(x, x > 0.5, margin=np.True_), r"margin=np.True_ must be non-negative"),
    ],
)
def test_a_number_or_flag_of_the_wrong_kind(rng, call, message):
    with pytest.raises(ParameterError, match=message):
        call(rng.random((6, 7, 8)))


def test_a_connectivity_of_any_integer_type_labels_as_scipy(rng):
    mask = rng.random((6, 7, 8)) > 0.6
    expected, count = scipy.ndimage.label(mask, scipy.ndimage.generate_binary_structure(3, 1))
    got = label(mask, np.int64(6))
    assert got.count == count
    np.testing.assert_array_equal(np.asarray(got.labels) > 0, expected > 0)


@pytest.fixture
def lines():
    """hough_line's accumulator of a 16 x 16 image with one diagonal line."""
    image = np.eye(16, dtype=bool)
    return hough_line(image)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_distance": -1}, "min_distance=-1 must be a whole number of at least 0"),
        ({"min_angle": 2.5}, "min_angle=2.5 must be a whole number of at least 0"),
        ({"num_peaks": 0}, "num_peaks=0 must be a whole number of at least 1, or inf"),
        ({"num_peaks": "3"}, "num_peaks='3' must be a whole number of at least 1, or inf"),
        ({"threshold": np.nan}, "threshold=nan must be a finite number"),
    ],
)
def test_hough_line_peaks_options(lines, options, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        hough_line_peaks(*lines, **options)


def test_hough_peaks_of_arrays_that_are_not_an_accumulator_and_its_axes(lines):
    hspace, angles, dists = lines
    with pytest.raises(ParameterError, match=r"hough_line's \(distances, angles\) accumulator"):
        hough_line_peaks(hspace, dists, angles)
    accumulator = hough_circle(np.eye(16), [2, 3])
    with pytest.raises(ParameterError, match=r"got shapes \(2, 16, 16\) and \(3,\)"):
        hough_circle_peaks(accumulator, [2, 3, 4])
    with pytest.raises(ParameterError, match="total_num_peaks=-1 must be"):
        hough_circle_peaks(accumulator, [2, 3], total_num_peaks=-1)
    # the checks leave scikit-image's results as they are
    want = skimage.transform.hough_line_peaks(hspace, angles, dists, num_peaks=1)
    for got, expected in zip(hough_line_peaks(hspace, angles, dists, num_peaks=1), want, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">i2", ">u2"])
def test_big_endian_values_read_from_a_file_are_taken(rng, dtype):
    """Numba takes native byte order only: the histogram operations failed with a typing error on the
    big-endian arrays that pynrrd or np.fromfile give. Each gives what it gives on native values, and
    equalize_hist what scikit-image gives."""
    native = (rng.normal(100, 30, (6, 7, 8))).astype(np.dtype(dtype).newbyteorder("="))
    big = native.astype(dtype)
    assert not big.dtype.isnative and np.array_equal(big, native)
    for operation in (equalize_hist, clahe, median_filter, gradient_magnitude):
        np.testing.assert_array_equal(operation(big), operation(native))
    np.testing.assert_allclose(equalize_hist(big), skimage.exposure.equalize_hist(native), atol=1e-6)


def test_masked_array_with_masked_voxels_is_refused_not_half_read(rng):
    """A NumPy masked array (a CT whose padding outside the field of view is masked) was half read:
    equalize_hist and clahe took the range from NumPy's min/max, which skip masked voxels, and the
    histogram and values from every voxel, so a masked voxel above the range mapped to the top. It
    is refused, saying how to give the mask; what it says equals scikit-image with the mask, and a
    masked array with no masked voxel is its plain array."""
    ct = np.clip(rng.normal(40, 300, (6, 7, 8)), -1000.0, 2000.0)
    ct[:, :2] = -3024.0  # outside the scanner's field of view
    ct[0, 3, 3] = 3071.0
    padded = np.ma.masked_outside(ct, -1024.0, 3000.0)
    assert np.ma.count_masked(padded) == 6 * 2 * 8 + 1
    refusal = r"masked array with 97 masked voxel\(s\) of 336.*mask=~image\.mask"
    for operation in (equalize_hist, clahe, median_filter, rescale_intensity):
        with pytest.raises(ParameterError, match=refusal):
            operation(padded)
    # what the message says to do: the data, and the mask for the operation's histogram
    np.testing.assert_allclose(
        equalize_hist(padded.data, mask=~padded.mask),
        skimage.exposure.equalize_hist(padded.data, mask=~padded.mask),
        atol=1e-12,
    )
    whole = np.ma.masked_array(ct, mask=False)  # nothing masked: the plain array
    np.testing.assert_allclose(equalize_hist(whole), skimage.exposure.equalize_hist(ct), atol=1e-12)
    np.testing.assert_array_equal(median_filter(whole, 3), scipy.ndimage.median_filter(ct, 3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x: extract(x, x > 0.5, spacing=1.0, families=3), ParameterError, "families=3 must be a name"),
        (lambda x: glcm_map(x, x > 0.5, 3.0, spacing=1.0), ParameterError, "features=3.0 must be a name"),
        (
            lambda x: glcm_map(x, x > 0.5, spacing=1.0, aggregation=np.ones(2)),
            ConfigError,
            "aggregation=array",
        ),
        (
            lambda x: stitch([Volume(x)], overlap=np.ones(2)),
            ParameterError,
            r"overlap=array\(\[1., 1.\]\) is unknown",
        ),
        (lambda x: to_device(x, np.ones(3)), DeviceError, "is not a device"),
        (lambda x: segment_kmeans(x, 2, max_iter="x"), ParameterError, "max_iter='x' must be a whole number"),
        (lambda x: voxel_features(x[:0]), ParameterError, r"with voxels; got shape \(0, 7, 8\)"),
        (lambda x: discretise(x > 0.5, Settings()), ParameterError, "discretise takes intensities"),
        (lambda x: discretise(x.ravel(), (1, 2)), ConfigError, "settings must be a Settings"),
        (lambda x: discretise(x[:0], Settings()), FeatureError, "no intensities to discretise"),
        (lambda x: discretise(x, Settings(), method="fixed"), ParameterError, "method='fixed' is unknown"),
        (lambda x: discretise(x, Settings(), method="fbn", n_bins=0), ParameterError, "n_bins=0 must be"),
        (
            lambda x: discretise(x, Settings(), method="fbs", bin_width=0),
            ParameterError,
            "bin_width=0 must be",
        ),
        (lambda x: segment_kmeans(x, 2, return_centers=np.ones(2)), ParameterError, "return_centers=array"),
        (
            lambda x: segment_som(x, 2, return_centers="yes"),
            ParameterError,
            "return_centers='yes' must be True",
        ),
        (lambda x: fill_holes(x > 0.5, slice_by_slice=np.ones(2)), ParameterError, "slice_by_slice=array"),
        (lambda x: hough_circle(x[0] > 0.5, 2, normalize=np.ones(3)), ParameterError, "normalize=array"),
        (lambda x: hough_circle(x[0] > 0.5, 2, full_output="no"), ParameterError, "full_output='no' must be"),
        (
            lambda x: gaussian_gradient_magnitude(x, 1.0, truncate=[]),
            ParameterError,
            r"truncate=\[\] must be",
        ),
    ],
)
def test_an_argument_of_the_wrong_kind_in_features_ml_and_io(rng, call, error, message):
    with pytest.raises(error, match=message):
        call(rng.random((6, 7, 8)))


@pytest.mark.parametrize("family", sorted(FAMILY_FUNCTIONS))
def test_a_feature_family_given_an_image_instead_of_a_roi(rng, family):
    with pytest.raises(ParameterError, match=f"{family} takes a Roi, which gpuimg.features.prepare"):
        FAMILY_FUNCTIONS[family](rng.random((6, 7, 8)))


def test_canny_of_an_empty_image_by_quantiles_has_no_edges():
    edges = canny(np.zeros((0, 5, 5)), 1.0, low_threshold=0.1, high_threshold=0.2, use_quantiles=True)
    assert edges.shape == (0, 5, 5) and edges.dtype == bool


@pytest.mark.parametrize(
    ("volume", "level", "message"),
    [
        (
            np.zeros((5, 6, 7)),
            None,
            r"no surface crosses the default level 0 \(the volume's values run from 0 to 0\)",
        ),
        (np.full((5, 6, 7), np.nan), None, "the volume holds no finite value"),
        (
            np.repeat([0.0, 1.0], [2, 3])[:, None, None] * np.ones((5, 6, 7)),
            1.0,
            "no surface crosses level=1.0",
        ),
    ],
)
def test_marching_cubes_with_no_surface_at_the_level(volume, level, message):
    # scikit-image's RuntimeError ("No surface found at the given iso value.") for a level its values
    # reach without passing, or a volume without a finite value.
    with pytest.raises(ParameterError, match=message):
        marching_cubes(volume, level)


def test_hough_radii_beyond_the_memory_budget_are_refused_before_any_circle_is_drawn():
    # A radius of 10⁹ pixels drew its 8·10⁹-pixel perimeter first (a MemoryError); full_output with
    # 10⁵ asked for a 300 GiB accumulator.
    cases = {
        "perimeter": "hough_circle(IMAGE, 1e9)",
        "accumulator": "hough_circle(IMAGE, 10**5, full_output=True)",
    }
    setup = "import numpy as np\nfrom gpuimg.contours import hough_circle\nIMAGE = np.eye(16, dtype=bool)"
    results = run_guarded(cases, setup, memory=3 * 1024**3, timeout=120)
    assert (
        results["perimeter"][0] == "MemoryBudgetError"
        and "the circles' perimeters" in results["perimeter"][1]
    )
    assert results["accumulator"][0] == "MemoryBudgetError" and "the accumulator" in results["accumulator"][1]


def test_hough_angles_beyond_the_memory_budget_are_refused_before_the_tables_are_built():
    # 10⁷ angles of a 16 x 16 image: 10 GB of sine and cosine tables and accumulator, NumPy's MemoryError.
    setup = "import numpy as np\nfrom gpuimg.contours import hough_line\nIMAGE = np.eye(16, dtype=bool)"
    cases = {"angles": "hough_line(IMAGE, theta=np.linspace(-1.5, 1.5, 10**7))"}
    name, message, _ = run_guarded(cases, setup, memory=3 * 1024**3, timeout=120)["angles"]
    assert name == "MemoryBudgetError" and "at 10000000 angles (theta)" in message, (name, message)


#: The memory budget of GPUIMG_MAX_BYTES=9.2G [bytes], and the float64 values just over it.
_BUDGET = int(9.2 * 2**30)
_OVER = _BUDGET // 8 + 1


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        # 9.24 GiB over a budget of 9.2 GiB read "needs 9.2 GiB, more than the memory budget of 9.2 GiB"
        (int(9.24 * 2**30) // 8, ("9.24 GiB", "9.20 GiB")),
        # 4 bytes over it: no number of decimals of GiB tells them apart, bytes do
        (_OVER, (f"{8 * _OVER:,} bytes", f"{_BUDGET:,} bytes")),
    ],
)
def test_a_need_just_over_the_memory_budget_is_shown_apart_from_it(monkeypatch, count, shown):
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "9.2G")
    assert 8 * _OVER - _BUDGET == 4
    with pytest.raises(MemoryBudgetError) as error:
        check_allocation((count,), np.float64, "a test array")
    expected = f"a test array needs {shown[0]}, more than the memory budget of {shown[1]}."
    assert str(error.value).startswith(expected), str(error.value)


@pytest.mark.parametrize(
    ("text", "budget"), [("1.5k", 1536), ("9.2G", 9878424780), ("2048", 2048), ("8 MiB", 2**23)]
)
def test_the_memory_budget_of_a_size_in_whole_bytes(monkeypatch, text, budget):
    # 9.2 x 2**30 = 9878424780.8 bytes, rounded down to whole bytes.
    monkeypatch.setenv("GPUIMG_MAX_BYTES", text)
    assert max_bytes() == budget


@pytest.mark.parametrize("text", ["0.5", "1.5", "0.0001k", "0"])
def test_a_memory_budget_of_a_fraction_of_a_byte_is_refused(monkeypatch, text):
    # "0.5" was a budget of int(0.5) = 0 bytes, and "1.5" one of 1 byte: every checked allocation
    # failed, for a budget too small to be meant.
    monkeypatch.setenv("GPUIMG_MAX_BYTES", text)
    with pytest.raises(
        ConfigError, match=rf"GPUIMG_MAX_BYTES='{re.escape(text)}' is not a positive size of whole"
    ):
        max_bytes()


def test_marching_cubes_spacing_that_is_not_numbers():
    with pytest.raises(ParameterError, match="spacing='reflect' must be one positive number"):
        marching_cubes(
            np.repeat([0.0, 1.0], [2, 3])[:, None, None] * np.ones((5, 6, 7)), 0.5, spacing="reflect"
        )
