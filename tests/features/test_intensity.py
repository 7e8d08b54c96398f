"""Intensity statistics, histogram, IVH and local intensity features against direct computations."""

import warnings

import numpy as np
import pytest
import scipy.stats

from gpuimg.errors import FeatureWarning, MemoryBudgetError
from gpuimg.features import Settings, extract
from gpuimg.features.chain import PEAK_RADIUS_MM


def _roi(rng, shape=(12, 14, 13)):
    image = np.rint(rng.normal(40.0, 30.0, shape))
    mask = rng.random(shape) < 0.6
    return image, mask


def test_statistics_equal_numpy_and_scipy(rng):
    image, mask = _roi(rng)
    f = extract(image, mask, spacing=1.0, families=["statistics"])
    x = image[mask]
    p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
    central = x[(x >= p10) & (x <= p90)]
    expected = {
        "stat_mean": x.mean(),
        "stat_var": x.var(),
        "stat_skew": scipy.stats.skew(x),
        "stat_kurt": scipy.stats.kurtosis(x, fisher=True),
        "stat_median": np.median(x),
        "stat_min": x.min(),
        "stat_p10": p10,
        "stat_p90": p90,
        "stat_max": x.max(),
        "stat_iqr": p75 - p25,
        "stat_range": np.ptp(x),
        "stat_mad": np.abs(x - x.mean()).mean(),
        "stat_rmad": np.abs(central - central.mean()).mean(),
        "stat_medad": np.abs(x - np.median(x)).mean(),
        "stat_cov": x.std() / x.mean(),
        "stat_qcod": (p75 - p25) / (p75 + p25),
        "stat_energy": (x**2).sum(),
        "stat_rms": np.sqrt((x**2).mean()),
    }
    assert set(f) == set(expected)
    for tag, value in expected.items():
        np.testing.assert_allclose(f[tag], value, rtol=1e-10, err_msg=tag)  # float64 sums, reordered


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 800, 801])
def test_percentiles_from_one_sort_equal_numpy_percentile(rng, n):
    """Linear interpolation between order statistics, as numpy.percentile: values of many scales, whole
    numbers with ties (HU, bin numbers) and values near 1e15."""
    from gpuimg.features.intensity import _PERCENTILES, _percentiles

    for x in (
        rng.normal(0.0, 10.0 ** rng.uniform(-3, 6), n),
        rng.integers(-5, 5, n) * 1.0,
        1e15 + rng.integers(0, 8, n),
    ):
        expected = np.percentile(x, _PERCENTILES)
        # numpy's own formulas on the same order statistics: the same bits (the central mean's voxels
        # from P10 to P90 must not change with it).
        np.testing.assert_array_equal(_percentiles(np, x), expected)


def test_histogram_features_equal_a_direct_count(rng):
    image, mask = _roi(rng)
    f = extract(image, mask, spacing=1.0, settings=Settings(n_bins=16), families=["histogram"])
    x = image[mask]
    levels = np.clip(np.floor(16 * (x - x.min()) / np.ptp(x)).astype(int) + 1, 1, 16)
    counts = np.bincount(levels, minlength=17)[1:]
    p = counts / counts.sum()
    gradient = np.empty(16)
    gradient[0], gradient[-1] = counts[1] - counts[0], counts[-1] - counts[-2]
    gradient[1:-1] = (counts[2:] - counts[:-2]) / 2
    np.testing.assert_allclose(f["ih_mean"], levels.mean(), rtol=1e-12)
    np.testing.assert_allclose(f["ih_kurt"], scipy.stats.kurtosis(levels), rtol=1e-10)
    np.testing.assert_allclose(f["ih_entropy"], scipy.stats.entropy(p, base=2), rtol=1e-12)
    np.testing.assert_allclose(f["ih_uniformity"], (p**2).sum(), rtol=1e-12)
    assert (f["ih_min"], f["ih_max"], f["ih_range"]) == (1.0, 16.0, 15.0)
    assert f["ih_max_grad"] == gradient.max() and f["ih_max_grad_g"] == np.argmax(gradient) + 1
    assert f["ih_min_grad"] == gradient.min() and f["ih_min_grad_g"] == np.argmin(gradient) + 1
    fullest = np.flatnonzero(counts == counts.max()) + 1
    assert f["ih_mode"] == fullest[np.argmin(np.abs(fullest - levels.mean()))]


@pytest.mark.parametrize(
    ("levels", "mode"),
    [
        ([1, 1, 1, 2, 3, 3, 3], 1.0),  # bins 1 and 3 tie, equally near the mean 2: the lower
        ([1, 1, 2, 3, 3, 3, 2, 3], 3.0),  # bin 3 alone is fullest
    ],
)
def test_mode_ties_go_to_the_bin_nearest_the_mean_then_the_lower(levels, mode):
    """IBSI 3.4.10: the fullest bin; among equally full ones the nearest the mean, then the lower."""
    image = np.array(levels, dtype=float).reshape(1, 1, -1)
    settings = Settings(discretisation="fbs", bin_width=1.0)
    f = extract(image, np.ones_like(image, bool), spacing=1.0, settings=settings, families=["histogram"])
    assert f["ih_mode"] == mode


def test_ivh_of_uniform_levels_is_the_closed_form():
    """Levels 0..99 once each, range [0, 99]: volume fraction at level i is 1 - i/100."""
    image = np.arange(100.0).reshape(4, 5, 5)
    f = extract(
        image,
        np.ones_like(image, bool),
        spacing=1.0,
        settings=Settings(ivh_discretisation="none"),
        families=["ivh"],
    )
    # V10: first level with (i - 0)/99 >= 0.1 is 10 -> 0.90; V90: level 90 -> 0.10.
    np.testing.assert_allclose([f["ivh_v10"], f["ivh_v90"]], [0.90, 0.10], rtol=1e-12)
    # I10: first level with volume fraction <= 0.1 is 90; I90: 10.
    assert (f["ivh_i10"], f["ivh_i90"]) == (90.0, 10.0)
    # The area under 1 - i/100 against i/99, by the trapezoidal rule.
    nu = 1 - np.arange(100) / 100
    np.testing.assert_allclose(f["ivh_auc"], np.trapezoid(nu, np.arange(100) / 99), rtol=1e-12)


def test_ivh_fixed_bin_size_uses_bin_centres_and_the_resegmentation_range(rng):
    x = rng.uniform(-990.0, 390.0, (10, 10, 10))
    settings = Settings(reseg_range=(-1000.0, 400.0), ivh_discretisation="fbs", ivh_bin_width=2.5)
    f = extract(x, np.ones_like(x, bool), spacing=1.0, settings=settings, families=["ivh"])
    centres = -1000.0 + (np.floor((x.ravel() + 1000.0) / 2.5) + 0.5) * 2.5
    levels = np.arange(-998.75, 398.76, 2.5)
    nu = np.array([(centres >= level).mean() for level in levels])
    gamma = (levels - levels[0]) / (levels[-1] - levels[0])
    np.testing.assert_allclose(f["ivh_v10"], nu[np.argmax(gamma >= 0.1)], rtol=1e-12)
    np.testing.assert_allclose(f["ivh_i90"], levels[np.argmax(nu <= 0.9)], rtol=1e-12)


@pytest.mark.parametrize("width", [30.0, 35.0, 40.0, 45.0, 25.0, 12.5])
def test_ivh_fixed_bin_size_ends_at_the_bin_of_the_upper_bound(width):
    # A range (0, 100) that is no whole number of bins of 30: its levels were the centres up to the
    # upper bound less half a bin, rounded, 15, 45 and 75, leaving out the bin [90, 120) that holds
    # the range's top and a third of these voxels (AUC 0.67 for 0.56, I10 105 for 135); bins of 35
    # kept theirs, and the bound 100 itself, in bins of 25, lay past the last level. Expected: the
    # IBSI curve over the centres of every bin from the lower bound to the one holding the upper
    # bound (as for an open upper end), by NumPy.
    x = np.concatenate([[0.0, 100.0], np.linspace(0.0, 60.0, 130), np.linspace(90.0, 100.0, 68)])
    settings = Settings(ivh_discretisation="fbs", ivh_bin_width=width, reseg_range=(0.0, 100.0))
    f = extract(x.reshape(2, 10, 10), np.ones((2, 10, 10)), spacing=1.0, settings=settings, families=["ivh"])
    centres = (np.floor(x / width) + 0.5) * width
    levels = (np.arange(np.floor(100.0 / width) + 1) + 0.5) * width
    expected = _ivh_reference(centres, levels, width)
    # the same sums as the trapezoids, in another order: rounding only
    np.testing.assert_allclose([f[k] for k in expected], list(expected.values()), rtol=1e-12)


@pytest.mark.parametrize(
    ("shape", "corner"),
    [((9, 12, 11), (2, 3, 1)), ((20, 26, 24), (7, 9, 8))],
    ids=["spheres-cut-by-the-edge", "spheres-inside"],
)
def test_local_intensity_equals_a_sphere_mean_by_loops(rng, shape, corner):
    spacing = (2.5, 1.7, 1.3)
    image = rng.normal(0.0, 50.0, shape)
    mask = np.zeros(shape, bool)
    z, y, x = corner
    mask[z : z + 5, y : y + 6, x : x + 5] = rng.random((5, 6, 5)) < 0.7
    centres = np.argwhere(mask)
    grid = np.stack(np.indices(shape), axis=-1) * np.asarray(spacing)
    peaks = []
    for c in centres:
        inside = np.linalg.norm(grid - c * np.asarray(spacing), axis=-1) <= PEAK_RADIUS_MM
        peaks.append(image[inside].mean())
    peaks = np.array(peaks)
    values = image[mask]
    f = extract(image, mask, spacing=spacing, families=["local_intensity"])
    # The FFT convolution adds ~1e-12 relative rounding; the sphere membership is exact.
    np.testing.assert_allclose(f["loc_peak_glob"], peaks.max(), rtol=1e-9)
    np.testing.assert_allclose(f["loc_peak_loc"], peaks[values == values.max()].max(), rtol=1e-9)


@pytest.mark.parametrize("thin", [0, 1, 2])
def test_local_intensity_of_a_single_slice_image(rng, thin):
    """An image one voxel thick (a single CT slice, a 2D image) with the ROI far from its other edges:
    each sphere holds the disc of its slice only. The peak divided the disc's sum by the voxels of the
    whole 3D sphere (at 1 mm, 121 of 925: a constant image of 100 had a peak of 11.9)."""
    shape = [24, 24, 24]
    shape[thin] = 1
    spacing = (1.0, 0.9, 1.1)
    image = rng.normal(100.0, 20.0, shape)
    mask = np.zeros(shape, bool)
    mask[tuple(slice(0, 1) if axis == thin else slice(9, 15) for axis in range(3))] = True
    grid = np.stack(np.indices(shape), axis=-1) * np.asarray(spacing)
    peaks = np.array(
        [
            image[np.linalg.norm(grid - c * np.asarray(spacing), axis=-1) <= PEAK_RADIUS_MM].mean()
            for c in np.argwhere(mask)
        ]
    )
    values = image[mask]
    f = extract(image, mask, spacing=spacing, families=["local_intensity"])
    # The FFT convolution adds ~1e-12 relative rounding; the sphere membership is exact.
    np.testing.assert_allclose(f["loc_peak_glob"], peaks.max(), rtol=1e-9)
    np.testing.assert_allclose(f["loc_peak_loc"], peaks[values == values.max()].max(), rtol=1e-9)


@pytest.mark.parametrize("far_only", [True, False], ids=["beyond-every-sphere", "within-spheres"])
def test_local_intensity_leaves_out_nan_and_infinite_voxels_outside_the_roi(rng, far_only):
    # A field of view padded with NaN: the FFT spread one NaN (or inf) to every voxel's sum, so the
    # peaks were NaN even where no sphere reaches it. Such voxels count as past the image's edge.
    spacing = (2.0, 1.5, 1.0)
    shape = (15, 17, 19)
    image = rng.normal(0.0, 50.0, shape)
    mask = np.zeros(shape, bool)
    mask[6:9, 7:10, 8:11] = rng.random((3, 3, 3)) < 0.8
    mask[7, 8, 9] = True
    image[1, 1, 0] = np.nan  # 10 mm or more from every ROI voxel, within the image cut around the ROI
    if not far_only:
        image[5, 8, 9], image[7, 6, 9], image[9, 10, 11] = np.nan, np.inf, -np.inf
        mask[5, 8, 9] = mask[7, 6, 9] = mask[9, 10, 11] = False
    grid = np.stack(np.indices(shape), axis=-1) * np.asarray(spacing)
    peaks = []
    for c in np.argwhere(mask):
        inside = np.linalg.norm(grid - c * np.asarray(spacing), axis=-1) <= PEAK_RADIUS_MM
        peaks.append(image[inside & np.isfinite(image)].mean())
    peaks, values = np.array(peaks), image[mask]
    f = extract(image, mask, spacing=spacing, families=["local_intensity"])
    # As in the loop test above: FFT rounding only.
    np.testing.assert_allclose(f["loc_peak_glob"], peaks.max(), rtol=1e-9)
    np.testing.assert_allclose(f["loc_peak_loc"], peaks[values == values.max()].max(), rtol=1e-9)


@pytest.mark.parametrize("offset", [1e15, -(2.0**52), 1e12])
def test_spread_statistics_do_not_depend_on_an_offset(rng, offset):
    """Variance, skewness, kurtosis and the deviations are translation invariant. With intensities
    1e15 + 0 ... 49 (exact in float64, steps of 0.125 there), the mean, rounded to a multiple of 0.125,
    missed the exact one by up to 0.0625, so the variance was off by its square and the skewness by
    its effect on the third moment (0.580 for 0.636 for 1e15 + (0, 1, 2, 3, 4, 7); up to 40 % here,
    1.5e-5 still at 1e12). Reference: NumPy and SciPy of the values
    without the offset. 21 voxels, so that P10 to P90 are order statistics, exact with the offset."""
    x = rng.integers(0, 50, 21).astype(np.float64)
    x[:3] = 0.0, 49.0, 3.0  # a skewed set, spread over the range
    f = extract((x + offset).reshape(1, 3, 7), np.ones((1, 3, 7)), spacing=1.0, families=["statistics"])
    p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
    central = x[(x >= p10) & (x <= p90)]
    expected = {
        "stat_var": x.var(),
        "stat_skew": scipy.stats.skew(x),
        "stat_kurt": scipy.stats.kurtosis(x),
        "stat_mad": np.abs(x - x.mean()).mean(),
        "stat_rmad": np.abs(central - central.mean()).mean(),
        "stat_medad": np.abs(x - np.median(x)).mean(),
        "stat_iqr": p75 - p25,
        "stat_range": np.ptp(x),
    }
    # The deviations are exact; their sums and the rounded means' corrections leave ~1e-15 relative.
    np.testing.assert_allclose([f[k] for k in expected], list(expected.values()), rtol=1e-12)


def test_robust_mean_absolute_deviation_of_two_values_is_nan_with_a_warning():
    # Two distinct values: P10 = 1 and P90 = 9 lie strictly between them, so IBSI's set of values from
    # P10 to P90 is empty. The NaN came with NumPy's "invalid value" RuntimeWarning, not a FeatureWarning.
    image = np.array([0.0, 10.0]).reshape(1, 1, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = extract(image, np.ones_like(image, bool), spacing=1.0, families=["statistics", "histogram"])
    assert np.isnan(f["stat_rmad"]) and np.isnan(f["ih_rmad"])
    assert np.percentile([0.0, 10.0], [10, 90]).tolist() == [f["stat_p10"], f["stat_p90"]] == [1.0, 9.0]
    messages = [str(w.message) for w in caught if issubclass(w.category, FeatureWarning)]
    assert any("stat_rmad" in m for m in messages) and any("ih_rmad" in m for m in messages)
    assert not [w for w in caught if w.category is RuntimeWarning]


def test_undefined_ratios_are_nan_with_a_warning():
    image = np.array([-3.0, 1.0, 1.0, 1.0]).reshape(1, 2, 2)  # mean 0, P25 + P75 = 1
    with pytest.warns(FeatureWarning, match="stat_cov"):
        f = extract(image, np.ones_like(image, bool), spacing=1.0, families=["statistics"])
    assert np.isnan(f["stat_cov"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = extract(
            np.full((2, 2, 2), 5.0), np.ones((2, 2, 2), bool), spacing=1.0, families=["statistics"]
        )
    assert constant["stat_skew"] == 0.0 and constant["stat_kurt"] == 0.0  # IBSI: 0 for no variance


@pytest.mark.parametrize("value", [0.1, 1 / 3, 2.675, np.float32(0.1)])
def test_constant_roi_of_any_value_has_no_spread(value):
    """A constant ROI's mean is its value and its spread 0 (IBSI: skewness and kurtosis 0), also for
    values whose rounded mean missed them by an ulp (variance 1e-34, skewness -1, kurtosis -2)."""
    image = np.full((3, 3, 3), value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = extract(image, np.ones(image.shape, bool), spacing=1.0, families=["statistics"])
    assert f["stat_mean"] == float(image.flat[0]) == f["stat_median"]
    spread = [
        "stat_var",
        "stat_skew",
        "stat_kurt",
        "stat_mad",
        "stat_rmad",
        "stat_medad",
        "stat_cov",
        "stat_iqr",
    ]
    assert [f[name] for name in spread] == [0.0] * len(spread)


@pytest.mark.parametrize("method", [{}, {"discretisation": "fbs", "bin_width": 0.5}])
def test_the_entropy_of_one_bin_is_zero_not_minus_zero(method):
    """One bin holds every voxel: -(1 log2 1) is 0 (IBSI 3.4.18), which came out as -0.0, written
    "-0.0" in a feature table (the texture families' entropies of one grey level are +0.0)."""
    image = np.full((3, 4, 4), 2.7)  # a PET ROI of one SUV
    f = extract(image, np.ones(image.shape, bool), spacing=1.0, settings=method, families=["histogram"])
    assert f["ih_entropy"] == 0.0 and not np.signbit(f["ih_entropy"])
    assert f["ih_uniformity"] == 1.0


def test_local_intensity_past_the_memory_budget_is_refused(rng, monkeypatch):
    # A fine spacing (micro-CT) makes the 1 cm³ sphere reach many voxels, and the FFT's grid the
    # ROI's box grown by that reach: at 0.05 mm a 2 mm cube took a grid of 432³ points, and NumPy's
    # MemoryError (pocketfft's std::bad_alloc) ended extract. Here 0.2 mm (31 voxels' reach) on a
    # 40³ image: a grid of 72 x 72 x 72 points, about 15 MB, past a budget of 1 MB.
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")
    image = rng.normal(0.0, 50.0, (40, 40, 40))
    mask = np.zeros(image.shape, bool)
    mask[18:22, 18:22, 18:22] = True
    with pytest.raises(
        MemoryBudgetError, match=r"local intensity peaks over the ROI's box of \(40, 40, 40\)"
    ):
        extract(image, mask, spacing=0.2, families=["local_intensity"])
    extract(image, mask, spacing=0.2, families=["statistics"])  # the other families need no such grid


def test_local_intensity_of_an_image_thinner_than_the_sphere(rng, monkeypatch):
    # At 0.02 mm the sphere reaches 310 voxels, past every voxel of this 24³ image (0.48 mm wide): each
    # sphere holds the whole image, so every peak is the image's mean (closed form). The FFT's grid
    # was 24 + 310 points per axis (1.5 GB at 40 bytes a point, past a budget of 100 MB); 2 x 24 - 1
    # suffice, no offset of two voxels being longer.
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "100M")
    image = rng.normal(0.0, 50.0, (24, 24, 24))
    mask = np.zeros(image.shape, bool)
    mask[5:15, 8:20, 3:9] = rng.random((10, 12, 6)) < 0.7
    f = extract(image, mask, spacing=0.02, families=["local_intensity"])
    # FFT rounding (1e-16 times log of the size) relative to the sums of 13824 values of about 50
    np.testing.assert_allclose([f["loc_peak_loc"], f["loc_peak_glob"]], image.mean(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("top", [10.3, 10.7, 11.0])
@pytest.mark.parametrize("reseg_range", [None, (0.0, np.inf)], ids=["no-range", "open-upper-end"])
def test_ivh_fixed_bin_size_ends_at_the_bin_of_the_largest_intensity(rng, top, reseg_range):
    # Without an upper bound the range ended at the ROI's maximum less half a bin: for a maximum of
    # 10.3 in 1-wide bins from 0 that is 9.8, and the levels stopped at 9.5, leaving out the bin
    # [10, 11) that holds it (its AUC 0.59 for 0.54); a maximum of 10.7 kept it. Expected: IBSI's
    # definition over the bin centres, from the first bin's to the last's, by NumPy.
    x = np.concatenate([[0.0, top], rng.uniform(0.0, top, 198)])
    settings = Settings(ivh_discretisation="fbs", ivh_bin_width=1.0, reseg_range=reseg_range)
    f = extract(
        x.reshape(2, 10, 10), np.ones((2, 10, 10), bool), spacing=1.0, settings=settings, families=["ivh"]
    )
    centres = np.floor(x) + 0.5  # bins of width 1 from the minimum 0
    levels = np.arange(centres.min(), centres.max() + 0.5)
    expected = _ivh_reference(centres, levels, 1.0)
    # the same sums as the trapezoids, in another order: rounding only
    np.testing.assert_allclose([f[k] for k in expected], list(expected.values()), rtol=1e-12)


def _ivh_reference(centres, levels, width):
    """V10, V90, I10, I90 and the AUC of the IVH (IBSI 1, 4.3) of voxels at bin ``centres``, at
    ``levels`` a bin ``width`` apart, in plain NumPy."""
    nu = np.array([(centres >= level).mean() for level in levels])
    gamma = (levels - levels[0]) / (levels[-1] - levels[0])
    # past the last level no voxel is left: where more than a tenth of the voxels lie in the top bin,
    # the intensity of 10 % of the volume is the level after it
    past_levels, past_nu = np.append(levels, levels[-1] + width), np.append(nu, 0.0)
    return {
        "ivh_v10": nu[np.argmax(gamma >= 0.1)],
        "ivh_v90": nu[np.argmax(gamma >= 0.9)],
        "ivh_i10": past_levels[np.argmax(past_nu <= 0.1)],
        "ivh_i90": past_levels[np.argmax(past_nu <= 0.9)],
        "ivh_auc": np.trapezoid(nu, gamma),
    }


@pytest.mark.parametrize(
    ("settings", "advice"),
    [
        ({"ivh_discretisation": "none"}, r"one step of 1 with ivh_discretisation='none', which is for whole"),
        ({"ivh_discretisation": "fbs", "ivh_bin_width": 0.5}, r"one step of 0\.5 .*narrower ivh_bin_width"),
    ],
)
def test_an_ivh_of_one_level_says_why_for_an_roi_of_many_values(settings, advice):
    """A PET ROI of SUV 2.1 to 2.4 (60 values) has one IVH level with steps of 1 ('none') or 0.5:
    V10 and V90 are undefined (IBSI 3.5: the intensity fraction has no 10 % point), and the warning
    said 'the ROI has a single intensity level', which it has not. It now names the range, the step
    and what to change. Following it (10 fixed bins) gives IBSI's closed form: value k of 0..59 is in
    bin floor(10 k / 59) + 1, so V10 (level 2, the first at 10 % of the range, (2 - 1) / 9) is the
    fraction from k = 6, 54 / 60, and V90 (level 10) the fraction from k = 54, 6 / 60."""
    pet = np.linspace(2.1, 2.4, 60).reshape(3, 4, 5)
    mask = np.ones(pet.shape, bool)
    words = r"the IVH has a single level: the ROI's intensities, 2\.1 to 2\.4, fall in " + advice
    with pytest.warns(FeatureWarning, match=words) as caught:
        f = extract(pet, mask, spacing=(2.5, 0.7, 0.7), settings=settings, families=["ivh"])
    assert np.isnan(f["ivh_v10"]) and "single intensity level" not in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binned = {"ivh_discretisation": "fbn", "ivh_n_bins": 10}
        fine = extract(pet, mask, spacing=(2.5, 0.7, 0.7), settings=binned, families=["ivh"])
    assert (fine["ivh_v10"], fine["ivh_v90"]) == pytest.approx((54 / 60, 6 / 60), abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 17, 300])
def test_histogram_gradient_equals_numpy_gradient(rng, n):
    """The histogram's gradient, written out (central differences inside, one-sided at the ends), is
    numpy.gradient's to the bit, on counts and on fractions."""
    from gpuimg.features.intensity import _gradient

    for counts in (rng.integers(0, 1000, n).astype(np.float64), rng.random(n) / 3.0):
        np.testing.assert_array_equal(_gradient(counts), np.gradient(counts))


def test_skewness_and_kurtosis_of_intensities_near_1e150_are_numpys_not_an_overflow_error():
    """Intensities of +-1e150 (a variance of 1e300, whose 1.5th power overflows): skewness and kurtosis
    are what NumPy's float64 makes of their definitions, m3 / m2**1.5 and m4 / m2**2 - 3 (inf or NaN),
    not an OverflowError; the mean is NumPy's."""
    image = np.zeros((4, 4, 4))
    image[1:3, 1:3, 1:3] = np.array([1e150, -1e150] * 3 + [1e150, 3e-300]).reshape(2, 2, 2)
    mask = np.zeros(image.shape, bool)
    mask[1:3, 1:3, 1:3] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = extract(image, mask, spacing=(1.0, 1.0, 1.0), families=["statistics"])
        values = image[mask]
        d = values - values.mean()
        m2, m3, m4 = (np.mean(d**k) for k in (2, 3, 4))
        skew, kurt = m3 / m2**1.5, m4 / m2**2 - 3.0
    np.testing.assert_allclose(features["stat_mean"], values.mean(), rtol=1e-12)
    np.testing.assert_equal([features["stat_skew"], features["stat_kurt"]], [skew, kurt])
