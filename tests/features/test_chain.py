"""The processing chain: interpolation on the IBSI grid, re-segmentation, discretisation, bad input."""

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import scipy.ndimage
from dask_reads import counted

from gpuimg import Volume
from gpuimg.errors import FeatureError, FeatureWarning, ParameterError
from gpuimg.features import Settings, discretise, extract, prepare
from gpuimg.features.chain import PEAK_RADIUS_MM


def _blob(rng, shape=(18, 22, 20)):
    image = scipy.ndimage.gaussian_filter(rng.normal(0.0, 300.0, shape), 1.5)
    mask = np.zeros(shape, dtype=bool)
    mask[5:12, 6:15, 4:13] = True
    mask[8, 9, 7] = False  # a hole: kept in the morphological mask as drawn
    return image, mask


def _ibsi_positions(n, old, new):
    """Old voxel indices of the new voxel centres (IBSI 2.4, grid centres aligned), independently."""
    m = math.ceil(n * old / new - 1e-9)
    first = (old * (n - 1) - new * (m - 1)) / 2 / old
    return first + np.arange(m) * new / old


def _whole_image(image, mask, spacing, new, order):
    """The image interpolated on the whole IBSI grid with ``order``, and the mask linearly at 0.5."""
    grids = [_ibsi_positions(n, s, t) for n, s, t in zip(image.shape, spacing, new, strict=True)]
    points = np.stack(np.meshgrid(*grids, indexing="ij"))
    whole = scipy.ndimage.map_coordinates(image, points, order=order, mode="nearest")
    fraction = scipy.ndimage.map_coordinates(mask.astype(float), points, order=1, mode="nearest")
    return whole, fraction >= 0.5 - 1e-9


def test_interpolation_equals_map_coordinates_on_the_whole_ibsi_grid(rng):
    """The ROI's box of the new grid equals interpolating the whole image, point by point."""
    image, mask = _blob(rng)
    spacing, new = (3.0, 0.9, 1.1), (2.0, 2.0, 2.0)
    roi = prepare(image, mask, spacing=spacing, settings=Settings(new_spacing=new, interpolation="linear"))
    whole, whole_mask = _whole_image(image, mask, spacing, new, order=1)
    # Find the box by the mask: the ROI's voxels must be those of the whole grid, with their values.
    assert roi.morph_mask.sum() == whole_mask.sum()
    np.testing.assert_allclose(np.sort(roi.values), np.sort(whole[whole_mask]), rtol=1e-12, atol=1e-9)
    # The box reaches the peak radius past the ROI (or the image's edge).
    where, whole_where = np.argwhere(roi.morph_mask), np.argwhere(whole_mask)
    for axis in range(3):
        room = min(where[:, axis].min(), roi.image.shape[axis] - 1 - where[:, axis].max())
        edge = min(whole_where[:, axis].min(), whole.shape[axis] - 1 - whole_where[:, axis].max())
        assert room >= min(math.floor(PEAK_RADIUS_MM / new[axis]), edge)


def test_cubic_interpolation_near_the_roi_equals_the_whole_image(rng):
    """The cubic spline's prefilter spans the whole input; the 8 extra voxels read make it equal
    to interpolating the whole image within 1e-4 of the intensity range."""
    image, mask = _blob(rng, (30, 34, 32))
    spacing, new = (2.5, 1.0, 1.0), (2.0, 2.0, 2.0)
    roi = prepare(image, mask, spacing=spacing, settings=Settings(new_spacing=new, interpolation="cubic"))
    whole, whole_mask = _whole_image(image, mask, spacing, new, order=3)
    np.testing.assert_allclose(np.sort(roi.values), np.sort(whole[whole_mask]), atol=1e-4 * np.ptp(image))


def test_a_float_mask_holds_its_non_zero_voxels_and_not_its_nan(rng):
    # A float mask with NaN where it has no value (outside a resampled label image's field of
    # view): NaN != 0, so those voxels were counted in the ROI.
    image, mask = _blob(rng)
    float_mask = np.where(mask, 1.0, np.nan).astype(np.float32)
    float_mask[0, 0, :3] = (0.0, -1.0, 0.5)  # a 0, and two non-zero values: inside
    inside = mask.copy()
    inside[0, 0, 1:3] = True
    roi = prepare(image, float_mask, spacing=1.0)
    np.testing.assert_array_equal(roi.morph_mask, inside)
    np.testing.assert_array_equal(np.sort(roi.values), np.sort(image[inside]))


def test_resegmentation_range_then_outliers(rng):
    image, mask = _blob(rng)
    settings = Settings(reseg_range=(-200.0, 250.0), outlier_sigma=2.0)
    roi = prepare(image, mask, spacing=1.0, settings=settings)
    inside = image[mask]
    kept = inside[(inside >= -200.0) & (inside <= 250.0)]
    mean, sd = kept.mean(), kept.std()
    expected = kept[np.abs(kept - mean) <= 2.0 * sd]
    np.testing.assert_array_equal(np.sort(roi.values), np.sort(expected))
    assert roi.morph_mask.sum() == mask.sum()


@pytest.mark.parametrize("new", [(1.0, 1.0, 1.0), (2.0, 2.0, 2.0)])
def test_the_chain_interpolates_rounds_resegments_then_filters_outliers(rng, new):
    """IBSI's order on 2.5 x 0.7 x 0.7 mm voxels, against SciPy and NumPy step by step: image and mask
    interpolated on the grid centred on the old one, the mask kept where its fraction is 0.5 or more,
    the intensities rounded, the range [0, 150] HU kept, then the voxels within 3 standard deviations
    of the kept ones' mean. A region of -0.4 HU is in the range only once rounded (to 0), and one of
    1000 HU (contrast), left out by the range, would widen the 3 standard deviations: rounding after
    the range drops 30 voxels more at 1 mm, outliers before it keep 5 to 10 more."""
    spacing = (2.5, 0.7, 0.7)
    image, mask = _blob(rng, (16, 40, 36))
    image = image * (25.0 / image[mask].std()) + 40.0  # soft tissue: 40 +- 25 HU
    image[5:8, 6:11, 4:10] = -0.4
    image[9:12, 9:15, 4:10] = 1000.0
    settings = Settings(new_spacing=new, round_intensities=True, reseg_range=(0.0, 150.0), outlier_sigma=3.0)
    roi = prepare(image, mask, spacing=spacing, settings=settings)
    whole, whole_mask = _whole_image(image, mask, spacing, new, order=1)
    values = np.rint(whole[whole_mask])
    values = values[(values >= 0.0) & (values <= 150.0)]
    values = values[np.abs(values - values.mean()) <= 3.0 * values.std()]
    assert int(roi.morph_mask.sum()) == int(whole_mask.sum())
    np.testing.assert_array_equal(np.sort(roi.values), np.sort(values))


def test_rounding_to_integers(rng):
    image, mask = _blob(rng)
    roi = prepare(
        image, mask, spacing=1.0, settings=Settings(new_spacing=(1.5, 1.5, 1.5), round_intensities=True)
    )
    np.testing.assert_array_equal(roi.values, np.rint(roi.values))


def _exact_linear(image, spacing, new):
    """``image`` (whole numbers) linearly interpolated on the whole IBSI grid in exact rational arithmetic,
    one axis after another, positions clamped to the image (SciPy's mode 'nearest')."""
    grid = np.vectorize(Fraction, otypes=[object])(image.astype(np.int64))
    for axis, (n, old, step) in enumerate(zip(image.shape, spacing, new, strict=True)):
        old, step = Fraction(str(old)), Fraction(str(step))
        m = math.ceil(n * old / step)
        first = (old * (n - 1) - step * (m - 1)) / 2 / old
        moved, planes = np.moveaxis(grid, axis, 0), []
        for j in range(m):
            p = min(max(first + j * step / old, Fraction(0)), Fraction(n - 1))
            i = min(math.floor(p), n - 2)
            planes.append(moved[i] * (1 - (p - i)) + moved[i + 1] * (p - i))
        grid = np.moveaxis(np.array(planes, dtype=object), 0, axis)
    return grid


@pytest.mark.parametrize(
    ("spacing", "new"),
    [((3.0, 1.0, 1.0), (2.0,) * 3), ((1.25, 1.25, 1.25), (2.0,) * 3), ((3.0, 0.5, 0.5), (1.0,) * 3)],
)
def test_rounding_after_interpolation_takes_halves_to_even(rng, spacing, new):
    """IBSI rounds the interpolated intensities: a new centre halfway between two old ones holds the mean
    of two integers, an exact half (a quarter of the voxels from 3 mm slices to 2 mm), which rint takes
    to the even integer. The rounding of the grid's positions put those halves a few ulps to either side,
    so that 1 to 6 % of the voxels were 1 HU off, up or down by chance. Reference: the
    interpolation in exact rational arithmetic, rounded half to even (Python's round of a Fraction)."""
    image = rng.integers(-200, 200, (8, 10, 10)).astype(np.float64)
    settings = Settings(new_spacing=new, round_intensities=True)
    roi = prepare(image, np.ones(image.shape, bool), spacing=spacing, settings=settings)
    exact = _exact_linear(image, spacing, new)
    assert np.count_nonzero(np.vectorize(lambda f: f.denominator == 2)(exact)) > 0  # halves to take
    np.testing.assert_array_equal(roi.image, np.vectorize(lambda f: float(round(f)))(exact))


def test_fixed_bin_number_equals_equal_width_bins(rng):
    values = rng.normal(10.0, 5.0, 5000)
    edges = np.linspace(values.min(), values.max(), 33)
    expected = np.clip(np.digitize(values, edges[1:-1]) + 1, 1, 32)
    np.testing.assert_array_equal(discretise(values, Settings(n_bins=32)), expected)


@pytest.mark.parametrize("n_bins", [50, 100, 49, 32])
def test_fixed_bin_number_of_integer_intensities_on_bin_edges_is_exact(n_bins):
    # HU from -100 to 400: n_bins (x - min) / (max - min) is a whole number k at the edges. Divided
    # first, 190 HU (290 above the minimum, of a range of 500) with 50 bins was 50 * 0.58 =
    # 28.999999999999996: bin 29, where IBSI's floor(...) + 1 is 30 (as MIRP computes it); with 100
    # bins, 29, 57 and 58 % of the range.
    def ibsi(values):  # in exact rational arithmetic
        low, high = int(values.min()), int(values.max())
        return [min(math.floor(Fraction(n_bins * (int(x) - low), high - low)) + 1, n_bins) for x in values]

    values = np.arange(-100, 401, dtype=np.int16)
    np.testing.assert_array_equal(discretise(values, Settings(n_bins=n_bins)), ibsi(values))
    # Through extract: the intensity histogram of an ROI of 500 of these intensities.
    image = np.append(values[:499], values[-1]).astype(np.float64).reshape(5, 10, 10)
    counts = np.bincount(ibsi(image.ravel()), minlength=n_bins + 1)[1:]
    p = counts / counts.sum()
    settings = Settings(n_bins=n_bins)
    features = extract(image, np.ones(image.shape), spacing=1.0, settings=settings, families=["histogram"])
    assert features["ih_uniformity"] == pytest.approx((p * p).sum(), rel=1e-12)
    assert features["ih_mean"] == pytest.approx(
        np.average(np.arange(1, n_bins + 1), weights=counts), rel=1e-12
    )


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint8, np.float32])
@pytest.mark.parametrize("method", ["fbn", "fbs"])
def test_discretise_integer_and_float32_values_over_their_whole_range(dtype, method):
    # The extremes of the dtype (HU -32768 and 32767 in an int16 CT): its span wrapped in the dtype's own
    # arithmetic (every bin 1). Expected from the IBSI definitions in float64, as for float64 values.
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    values = np.array([info.min, info.min // 2, 0, 1, info.max // 3, info.max], dtype=dtype)
    width = float(info.max) / 2
    settings = Settings(n_bins=4) if method == "fbn" else Settings(discretisation="fbs", bin_width=width)
    exact = values.astype(np.float64)
    low, high = exact.min(), exact.max()
    if method == "fbn":
        expected = np.minimum(np.floor(4 * (exact - low) / (high - low)) + 1, 4)
    else:
        expected = np.floor((exact - low) / width) + 1
    np.testing.assert_array_equal(discretise(values, settings, method=method), expected)


@pytest.mark.parametrize("method", ["fbn", "fbs"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e308], ids=["nan", "inf", "-inf", "span-overflow"])
def test_discretise_refuses_values_without_bin_edges(method, bad):
    # A fixed bin number gave every value bin 1 (NaN) or int64's least value (inf), a fixed bin size
    # a bare ValueError or OverflowError from int(NaN) or int(inf).
    values = np.array([-1e308 if bad == 1e308 else 1.0, bad, 3.0])
    with pytest.raises(FeatureError, match="NaN or infinite"):
        discretise(values, Settings(discretisation=method), method=method)


def test_discretise_refuses_values_below_the_fixed_bin_sizes_first_bin():
    # Bin numbers 0 and below, where the docstring promises 1, 2, ...
    settings = Settings(discretisation="fbs", bin_width=25.0, reseg_range=(0.0, 100.0))
    with pytest.raises(FeatureError, match="below the lower re-segmentation bound 0"):
        discretise(np.array([-50.0, 3.0]), settings)
    np.testing.assert_array_equal(discretise(np.array([0.0, 30.0]), settings), [1, 2])


@pytest.mark.parametrize(
    ("settings", "family"),
    [
        (Settings(discretisation="fbs", bin_width=1e-320), "glcm"),
        (Settings(discretisation="fbs", bin_width=1e-320), "histogram"),
        (Settings(ivh_discretisation="fbs", ivh_bin_width=1e-320), "ivh"),
    ],
)
def test_a_bin_width_too_small_to_count_its_bins_is_refused(settings, family):
    # A subnormal width (valid in Settings: positive and finite) over a span of 100 makes more bins
    # than float64 counts: their count was int(inf), Python's OverflowError.
    image = np.linspace(0.0, 100.0, 60).reshape(3, 4, 5)
    with pytest.raises(FeatureError, match=r"bin width \S+ makes inf bins over the ROI"):
        extract(image, np.ones(image.shape), spacing=1.0, settings=settings, families=[family])


@pytest.mark.parametrize("n_bins", [np.uint64(7), np.uint8(7), np.int64(7), 7])
def test_a_numpy_bin_number_gives_int64_bins(rng, n_bins):
    # A uint64 bin number made every bin a float64 (int64 and uint64 meet in float64).
    values = rng.uniform(-3.0, 5.0, 200)
    expected = np.minimum(np.floor(7 * (values - values.min()) / np.ptp(values)) + 1, 7).astype(np.int64)
    got = discretise(values, Settings(), method="fbn", n_bins=n_bins)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n_bins", [np.uint64(2**64 - 1), 2**63, 10**30, 2**16 + 1])
def test_a_bin_number_past_max_bins_is_refused(n_bins):
    # uint64's largest gave bins from -9.2e18 to 6.1e18, Python's 2**63 and beyond an OverflowError.
    with pytest.raises(ParameterError, match="from 1 to 65536"):
        discretise(np.array([0.0, 0.5, 1.0, 3.0]), Settings(), method="fbn", n_bins=n_bins)


def test_the_ivh_bin_number_may_pass_the_texture_limit():
    # The IVH's fixed bin number goes up to MAX_IVH_BINS (2**20), past the texture's MAX_BINS.
    image = np.linspace(0.0, 1.0, 60).reshape(3, 4, 5)
    settings = Settings(ivh_discretisation="fbn", ivh_n_bins=100_000)
    features = extract(image, np.ones(image.shape), spacing=1.0, settings=settings, families=["ivh"])
    assert np.isfinite(features["ivh_v10"])


def test_fixed_bin_size_counts_from_the_lower_resegmentation_bound(rng):
    values = rng.uniform(-480.0, 390.0, 5000)
    settings = Settings(discretisation="fbs", bin_width=25.0, reseg_range=(-500.0, 400.0))
    np.testing.assert_array_equal(discretise(values, settings), (values + 500.0) // 25.0 + 1)
    # Without a range, bin 1 starts at the ROI's minimum.
    plain = Settings(discretisation="fbs", bin_width=25.0)
    np.testing.assert_array_equal(discretise(values, plain), (values - values.min()) // 25.0 + 1)


def test_bad_input_raises_feature_error(rng):
    image, mask = _blob(rng)
    with pytest.raises(FeatureError, match="empty"):
        prepare(image, np.zeros_like(mask), spacing=1.0)
    with pytest.raises(FeatureError, match="shape"):
        prepare(image, mask[:-1], spacing=1.0)
    with pytest.raises(FeatureError, match="3D"):
        prepare(image[0], mask[0], spacing=1.0)
    with pytest.raises(FeatureError, match="spacing"):
        prepare(
            Volume(image, spacing=(2.0, 1.0, 1.0)), Volume(mask.astype(np.uint8), spacing=(3.0, 1.0, 1.0))
        )
    with pytest.raises(FeatureError, match="spacing"):
        prepare(image, mask, spacing=(1.0, -1.0, 1.0))
    with pytest.raises(FeatureError, match="re-segmentation range"):
        prepare(image, mask, spacing=1.0, settings=Settings(reseg_range=(5000.0, 6000.0)))
    tiny = np.zeros_like(mask)
    tiny[9, 9, 9] = True
    with pytest.raises(FeatureError, match="smaller than a new voxel"):
        prepare(image, tiny, spacing=1.0, settings=Settings(new_spacing=(4.0, 4.0, 4.0)))


@pytest.mark.parametrize("threshold", [1e-12, 1e-10, 0.5, 1.0])
def test_a_small_partial_volume_threshold_keeps_the_voxels_outside_the_roi_out(rng, threshold):
    # partial_volume=1e-12 is valid (any threshold in (0, 1]), but 1e-9 was taken off it, so the
    # threshold was below 0 and every voxel of the ROI's box, fraction 0 included, was in the ROI
    # (all 3780 of the box here, 390 of them in it). Expected: the fraction by
    # scipy.ndimage.map_coordinates on the whole IBSI grid, at least the threshold.
    image, mask = _blob(rng)
    spacing, new = (1.0, 1.0, 1.0), (1.3, 0.8, 2.0)
    settings = Settings(new_spacing=new, partial_volume=threshold)
    roi = prepare(image, mask, spacing=spacing, settings=settings)
    grids = [_ibsi_positions(n, s, t) for n, s, t in zip(image.shape, spacing, new, strict=True)]
    points = np.stack(np.meshgrid(*grids, indexing="ij"))
    fraction = scipy.ndimage.map_coordinates(mask.astype(float), points, order=1, mode="nearest")
    # 1e-9 relative: the 0.5 of a centre halfway between two voxels may come out 0.49999999999999994.
    expected = fraction >= threshold * (1 - 1e-9)
    assert int(roi.morph_mask.sum()) == int(expected.sum())
    assert roi.morph_mask.sum() < roi.morph_mask.size  # the box's voxels far from the ROI stay out


def _within_sigmas(values, sigma):
    """IBSI's outlier filter in exact rational arithmetic: the values ``x`` with ``|x - mean| <= sigma sd``
    (population sd), compared squared: ``(x - mean)^2 <= sigma^2 mean((x - mean)^2)``."""
    exact = [Fraction(float(v)) for v in values]  # the doubles' exact values
    mean = sum(exact) / len(exact)
    variance = sum((x - mean) ** 2 for x in exact) / len(exact)
    return np.array([float(x) for x in exact if (x - mean) ** 2 <= Fraction(sigma) ** 2 * variance])


@pytest.mark.parametrize(("sigma", "share"), [(1.0, 1), (3.0, 9), (2.0, 4)])
def test_outlier_filtering_keeps_the_voxels_at_exactly_sigma_deviations(rng, sigma, share):
    """Two intensities, one voxel of b for every ``share`` of a: b lies exactly sqrt(share) sd from the
    mean (1 sd for two values in equal numbers, 3 sd for one voxel in ten), so IBSI's filter keeps it.
    The rounding of the mean and the sd dropped such voxels for 51 of 300 integer pairs at 3 sigma (and
    at 1 sigma, for 7 of 300 pairs in steps of 0.001, every voxel: 'no voxel of the ROI is left').
    Reference: the filter in exact arithmetic."""
    for a, b in rng.integers(-(10**6), 10**6 + 1, (100, 2)) / 1000.0:
        if a == b:
            continue
        image = np.full((share + 1, 2, 3), a)
        image[0] = b
        roi = prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=Settings(outlier_sigma=sigma))
        expected = _within_sigmas(image.ravel(), sigma)
        assert expected.size == image.size  # on the boundary, kept
        np.testing.assert_array_equal(np.sort(roi.values), np.sort(expected), err_msg=f"{a}, {b}")


@pytest.mark.parametrize("sigma", [1.5, 2.0, 3.0])
def test_outlier_filtering_equals_exact_arithmetic(rng, sigma):
    """Integer HU of a skewed ROI (contrast in some voxels): the kept voxels are exactly those of the
    filter in rational arithmetic, none more (1e-9 of the limit takes in no voxel beyond it)."""
    values = np.concatenate([rng.integers(20, 60, 200), rng.integers(200, 900, 12)]).astype(np.float64)
    image = values.reshape(4, 53, 1)
    roi = prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=Settings(outlier_sigma=sigma))
    np.testing.assert_array_equal(np.sort(roi.values), np.sort(_within_sigmas(values, sigma)))


@pytest.mark.parametrize("reseg_range", [None, (-100.0, 100.0)])
def test_outlier_filtering_that_keeps_no_voxel_says_to_widen_outlier_sigma(reseg_range):
    """Below 1 sigma the filter may keep no voxel (two values 0 and 10 HU: each 1 sd from the mean 5);
    at 1 or more one voxel at least lies within (the variance is the mean squared deviation). The
    message told the user to check the image's units and the reseg_range, neither of which was wrong."""
    image = np.zeros((2, 3, 4))
    image[0] = 10.0
    assert _within_sigmas(image.ravel(), 0.5).size == 0  # the exact filter keeps none, as ours
    values = image.ravel()
    limit = 0.5 * values.std()  # NumPy: 0.5 sd = 2.5 HU around the mean 5
    settings = Settings(outlier_sigma=0.5, reseg_range=reseg_range)
    with pytest.raises(FeatureError) as error:
        prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=settings)
    message = str(error.value)
    assert "reseg_range" not in message and "units" not in message
    assert f"0.5 standard deviations ({limit:g}) from the ROI's mean {values.mean():g}" in message
    assert "Use an outlier_sigma of 1 or more (IBSI: 3)." in message
    assert prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=Settings(outlier_sigma=1.0))


@pytest.mark.parametrize("sigma", [0.5, 3.0])
@pytest.mark.parametrize("value", [1 / 3, 0.1, 2.675, 5.0])
def test_outlier_filtering_keeps_a_constant_roi(value, sigma):
    # Every voxel of a constant ROI is its mean (the standard deviation is 0), so none is an outlier.
    # The rounded mean of 1/3 missed it by an ulp, more than 0.5 sigma of the rounded deviations:
    # outlier_sigma=0.5 dropped every voxel and prepare raised 'no voxel of the ROI is left'.
    image = np.full((6, 7, 8), value)
    mask = np.zeros(image.shape, bool)
    mask[1:5, 1:6, 1:7] = True
    roi = prepare(image, mask, spacing=1.0, settings=Settings(outlier_sigma=sigma))
    np.testing.assert_array_equal(roi.values, image[mask])


@pytest.mark.parametrize("new", [(1.0, 1.0, 1.0), (2.0, 2.0, 2.0), (None, 1.0, 1.0)])
@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_a_uniform_region_keeps_its_one_value_after_interpolation(interpolation, new):
    """A weighted mean of equal values is that value, and so is the spline of a constant: an ROI inside
    a uniform region (a PET insert of SUV 2.7 on 2.5 x 0.7 x 0.7 mm voxels) keeps the one value, and
    IBSI's features of one level are closed forms (no spread, one bin, one grey level).

    The rounding of the interpolation spread 2.7 over 2.6999999999999993 ... 2.700000000000001 (5 to
    10 values): a variance of 1e-31 with a skewness of 1.3, an entropy of 1.3 to 2.8 bits over the 32
    fixed bins of those ulps, a GLCM joint entropy of 2.6 to 5.5, and 3-sigma outlier filtering
    dropped voxels."""
    image = np.full((14, 40, 40), 2.7)
    if interpolation == "linear":  # a colder background beyond the insert, outside each new voxel's corners
        image[:, :, :8] = 0.9
    mask = np.zeros(image.shape, bool)
    mask[4:10, 12:28, 14:28] = True
    settings = Settings(new_spacing=new, interpolation=interpolation, outlier_sigma=3.0)
    roi = prepare(image, mask, spacing=(2.5, 0.7, 0.7), settings=settings)
    np.testing.assert_array_equal(roi.values, 2.7)
    assert roi.values.size == int(roi.morph_mask.sum())  # no voxel is an outlier of a spread of 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeatureWarning)  # correlations of one grey level: undefined
        f = extract(
            image,
            mask,
            spacing=(2.5, 0.7, 0.7),
            settings=settings,
            families=["statistics", "histogram", "glcm"],
        )
    closed_forms = {
        "stat_var": 0.0,
        "stat_skew": 0.0,  # IBSI: 0 for no variance
        "stat_kurt": 0.0,
        "stat_range": 0.0,
        "ih_mean": 1.0,  # one fixed bin: bin 1
        "ih_entropy": 0.0,
        "ih_uniformity": 1.0,
        "cm_joint_max_3D_avg": 1.0,  # a GLCM of one grey level
        "cm_joint_entr_3D_avg": 0.0,
    }
    assert {k: f[k] for k in closed_forms} == closed_forms


def test_nan_outside_a_pet_field_of_view_and_cubic_interpolation_are_told_apart(rng):
    """NaN outside a PET field of view, 8 voxels from the ROI: the cubic spline's prefilter spread them
    along whole rows, to every ROI voxel, and the message said 'spreads them to their neighbours:
    replace them or leave them out of the mask', which they were. It now names the spline and the
    linear interpolation, which works: the ROI's values equal map_coordinates on the whole IBSI grid."""
    image = scipy.ndimage.gaussian_filter(rng.gamma(2.0, 1.5, (20, 40, 40)), 1.0)
    image[:, :, :6] = np.nan
    mask = np.zeros(image.shape, bool)
    mask[8:12, 15:25, 14:22] = True
    spacing, new = (2.5, 0.7, 0.7), (1.0, 1.0, 1.0)
    with pytest.raises(
        FeatureError,
        match=r"NaN or infinite after cubic interpolation to \(1\.0, 1\.0, 1\.0\) mm, whose spline spreads "
        r"one many voxels along its row.*interpolation='linear'",
    ):
        prepare(image, mask, spacing=spacing, settings=Settings(new_spacing=new, interpolation="cubic"))
    roi = prepare(image, mask, spacing=spacing, settings=Settings(new_spacing=new, interpolation="linear"))
    whole, whole_mask = _whole_image(image, mask, spacing, new, order=1)
    np.testing.assert_allclose(np.sort(roi.values), np.sort(whole[whole_mask]), rtol=1e-12)


def test_a_dask_image_and_a_mask_made_from_it_are_read_once(rng):
    """A mask made from the Dask image (image > t) shares its reads: both are computed in one pass.
    Each was computed on its own, so every chunk of the image was read twice."""
    pytest.importorskip("dask.array")
    image, _ = _blob(rng)
    lazy, reads = counted(image, (9, 11, 10))
    bright = float(np.quantile(image, 0.8))  # the brightest fifth, whatever the random seed
    roi = prepare(lazy, lazy > bright, spacing=1.0)
    assert len(reads) == lazy.npartitions == 8
    np.testing.assert_array_equal(np.sort(roi.values), np.sort(image[image > bright]))


def test_discretise_by_the_other_method_needs_its_bin_parameter():
    """The settings hold only their own method's bin parameter (the other is None); a method given
    here without its parameter is refused, naming it, instead of a TypeError on None. Given here (as
    the IVH gives its own), the bins are IBSI's: floor((x - min) / 10) + 1 and floor(2 (x - min) / 30)
    + 1 with the maximum in bin 2."""
    values = np.array([0.0, 10.0, 20.0, 30.0])
    with pytest.raises(ParameterError, match=r"method='fbs' needs bin_width=.*discretisation='fbn'"):
        discretise(values, Settings(), method="fbs")
    with pytest.raises(ParameterError, match=r"method='fbn' needs n_bins=.*discretisation='fbs'"):
        discretise(values, Settings(discretisation="fbs"), method="fbn")
    np.testing.assert_array_equal(discretise(values, Settings(), method="fbs", bin_width=10.0), [1, 2, 3, 4])
    np.testing.assert_array_equal(
        discretise(values, Settings(discretisation="fbs"), method="fbn", n_bins=2), [1, 1, 2, 2]
    )


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.float32])
def test_prepare_keeps_a_copy_of_the_mask_s_crop(rng, dtype):
    """A bool mask is read in place, not copied whole: the Roi's masks are its voxels on the image's
    crop (the ROI's box grown by the peak's reach), as mask != 0 gives them, and no view of the
    caller's array, which may change after (as for the masks of other dtypes)."""
    image = rng.normal(0.0, 10.0, (12, 14, 16))
    mask = np.zeros(image.shape, dtype)
    mask[3:9, 4:11, 5:12] = rng.random((6, 7, 7)) < 0.6
    mask[5, 6, 7] = 1
    roi = prepare(image, mask, spacing=(4.0, 4.0, 4.0))
    # The crop's origin in the image, where its values lie (normal values: one place only).
    where = np.argwhere(
        np.all(np.lib.stride_tricks.sliding_window_view(image, roi.image.shape) == roi.image, axis=(3, 4, 5))
    )
    (grid,) = where
    crop = tuple(slice(g, g + n) for g, n in zip(grid, roi.image.shape, strict=True))
    expected = mask[crop] != 0
    np.testing.assert_array_equal(roi.morph_mask, expected)
    assert not np.shares_memory(roi.morph_mask, mask) and not np.shares_memory(roi.intensity_mask, mask)
    mask[...] = 0
    np.testing.assert_array_equal(roi.morph_mask, expected)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.float16, ">f4", object])
def test_roi_box_of_any_mask_dtype_is_the_first_and_last_index_of_its_voxels(rng, dtype):
    """Against numpy.nonzero, for the bool masks the chain makes (one kernel pass) and for masks of other
    dtypes (a float16, a big-endian or an object array, which the kernel does not take); an empty one is
    a FeatureError."""
    from gpuimg.features.chain import roi_box

    mask = np.zeros((7, 9, 8), dtype=bool)
    mask[2:5, 3, 1:7] = rng.random((3, 6)) < 0.5
    mask[3, 3, 4] = True
    voxels = np.nonzero(mask)
    expected = [(int(v.min()), int(v.max())) for v in voxels]
    assert roi_box(mask.astype(dtype)) == expected
    with pytest.raises(FeatureError, match="empty"):
        roi_box(np.zeros((3, 3, 3), dtype=dtype))
