"""Bad input to features.extract and its Settings (issue 14): a FeatureError or ConfigError naming
the problem, never 75 features computed on a misplaced mask or silently NaN.

References: Moran's I written out as its published pairwise definition (IBSI 3.1.18) in NumPy.
"""

import re
import warnings
from functools import partial

import numpy as np
import pytest
from guarded import run_guarded

import gpuimg
from gpuimg import Volume
from gpuimg.errors import ConfigError, FeatureError, ParameterError
from gpuimg.features import Settings, extract, extract_labels, glcm_map, prepare

FAMILY = ["statistics"]


def blob(shape=(10, 12, 14)):
    rng = np.random.default_rng(7)
    image = rng.normal(40.0, 20.0, shape)
    mask = np.zeros(shape, bool)
    mask[2:8, 3:9, 4:11] = True
    return image, mask


def test_mask_placed_elsewhere():
    image, mask = blob()
    spacing = (2.0, 1.0, 1.0)
    shifted = Volume(mask, spacing, origin=(866.0, 0.0, 0.0))
    with pytest.raises(FeatureError, match="origin"):
        extract(Volume(image, spacing), shifted, families=FAMILY)


def test_mask_flipped():
    image, mask = blob()
    spacing = (2.0, 1.0, 1.0)
    flipped = Volume(mask, spacing, direction=np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(FeatureError, match="direction"):
        extract(Volume(image, spacing), flipped, families=FAMILY)


def test_mask_on_the_same_grid_accepted():
    image, mask = blob()
    spacing = (2.0, 1.0, 1.0)
    geometry = {"origin": (5.0, -3.0, 2.0), "direction": np.diag([1.0, -1.0, 1.0])}
    got = extract(Volume(image, spacing, **geometry), Volume(mask, spacing, **geometry), families=FAMILY)
    np.testing.assert_allclose(got["stat_mean"], image[mask].mean(), rtol=1e-12)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_voxel_in_the_roi(value):
    image, mask = blob()
    image[4, 5, 6] = value
    with pytest.raises(FeatureError, match="NaN or infinite"):
        extract(image, mask, spacing=1.0, families=FAMILY)


def test_non_finite_voxels_in_the_roi_are_counted_as_given_without_interpolation():
    """Without interpolation the message said 'after interpolation to (1.0, 1.0, 1.0) mm, which spreads
    them to their neighbours' (no interpolation was asked, nothing spread); now it counts the voxels
    of the mask that are NaN or infinite, as given (2 here), and speaks of interpolation only after
    one (linear to 0.5 mm: the voxels around them are NaN too)."""
    image, mask = blob()
    image[4, 5, 6], image[4, 5, 7] = np.nan, np.inf
    given = int((~np.isfinite(image[mask])).sum())
    with pytest.raises(
        FeatureError, match=rf"^the ROI holds {given} voxel\(s\) that are NaN or infinite: "
    ) as e:
        extract(image, mask, spacing=1.0, families=FAMILY)
    assert "interpolation" not in str(e.value)
    with pytest.raises(FeatureError, match=r"NaN or infinite after interpolation to \(0\.5, 0\.5, 0\.5\) mm"):
        extract(image, mask, spacing=1.0, settings=Settings(new_spacing=(0.5,) * 3), families=FAMILY)


def test_nan_in_a_hole_of_the_roi_leaves_morans_i_defined():
    image, mask = blob()
    mask[5, 6, 7] = False  # a hole, whose voxel is NaN
    image[5, 6, 7] = np.nan
    spacing = (2.0, 1.0, 1.0)
    got = extract(image, mask, spacing=spacing, families=["morphology"])
    # Moran's I (IBSI 3.1.18) over the ROI's voxels, every pair, weights 1 / distance [mm].
    points = np.argwhere(mask) * np.asarray(spacing)
    values = image[mask]
    dev = values - values.mean()
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    weights = np.divide(1.0, distance, out=np.zeros_like(distance), where=distance > 0)
    moran = values.size / weights.sum() * (dev @ weights @ dev) / (dev @ dev)
    np.testing.assert_allclose(got["morph_moran_i"], moran, rtol=1e-9)  # FFT rounding only
    assert np.isfinite(got["morph_geary_c"])


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_image(dtype):
    image, mask = blob()
    with pytest.raises(FeatureError, match="real numbers"):
        extract(image.astype(dtype), mask, spacing=1.0, families=FAMILY)


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"ivh_n_bins": 10**10}, "ivh_n_bins"),
        ({"n_bins": 2**20}, "n_bins"),
        ({"n_bins": 0}, "n_bins"),
        ({"bin_width": 0.0}, "bin_width"),
        ({"new_spacing": (0.0, 1.0, 1.0)}, "new_spacing"),
    ],
)
def test_settings_out_of_range(values, name):
    with pytest.raises(ConfigError, match=name):
        Settings(**values)


GUARDED = {
    "new_spacing": "extract(IMAGE, MASK, spacing=1.0, settings=Settings(new_spacing=(1e-3, 1e-3, 1e-3)), "
    "families=['statistics'])",
    "bin_width": "extract(IMAGE, MASK, spacing=1.0, settings=Settings(discretisation='fbs', "
    "bin_width=1e-12), "
    "families=['glcm'])",
}
GUARDED.update(
    histogram_bins="extract(IMAGE, MASK, spacing=1.0, settings=Settings(discretisation='fbs', "
    "bin_width=1e-12), families=['histogram'])",
    ivh_bins="extract(IMAGE, MASK, spacing=1.0, settings=Settings(ivh_discretisation='fbs', "
    "ivh_bin_width=1e-12), families=['ivh'])",
    ivh_levels="extract(IMAGE * 1e9, MASK, spacing=1.0, settings=Settings(ivh_discretisation='none'), "
    "families=['ivh'])",
    # 32768 grey levels present (within the bin count allowed): one 3D GLCM would take 8.6 GB.
    grey_levels="extract(np.arange(32**3, dtype=float).reshape(32, 32, 32), np.ones((32, 32, 32), bool), "
    "spacing=1.0, settings=Settings(discretisation='fbs', bin_width=1.0), families=['glcm'])",
)
EXPECTED = {
    "new_spacing": ("MemoryBudgetError", "new_spacing"),
    "bin_width": ("FeatureError", "bin width"),
    "histogram_bins": ("FeatureError", "bin width"),
    "ivh_bins": ("FeatureError", "bin width"),
    "ivh_levels": ("FeatureError", "levels"),
    "grey_levels": (
        "MemoryBudgetError",
        "GLCM matrices (one direction of the volume) for the 32768 grey levels present",
    ),
}


@pytest.fixture(scope="module")
def guarded_results():
    setup = (
        "import numpy as np\nfrom gpuimg.features import Settings, extract\n"
        "IMAGE = np.random.default_rng(0).normal(0, 100, (12, 12, 12))\n"
        "MASK = np.zeros((12, 12, 12), bool); MASK[3:9, 3:9, 3:9] = True\n"
    )
    return run_guarded(GUARDED, setup, memory=3 * 1024**3, timeout=240)


@pytest.mark.parametrize("case", sorted(GUARDED))
def test_settings_that_would_exhaust_memory(guarded_results, case):
    result = guarded_results[case]
    assert result is not None
    name, message, classes = result
    assert (name, EXPECTED[case][1] in message) == (EXPECTED[case][0], True), message
    assert "GpuimgError" in classes


@pytest.mark.parametrize(
    "call", [extract, lambda image, mask, spacing: glcm_map(image, mask, spacing=spacing)]
)
def test_intensities_whose_span_overflows(call):
    # +-1e308: the fixed bin number's scale was inf / inf, its bins int64's least value, and NumPy's
    # bincount refused them (on the GPU such an index would land anywhere).
    # The error alone: NumPy's 'RuntimeWarning: overflow encountered in scalar subtract' came first.
    image = np.repeat([-1e308, 0.0, 1e308], 8).reshape(3, 2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FeatureError, match=r"span -1e\+308 to 1e\+308, more than float64 holds"):
            call(image, np.ones(image.shape, bool), spacing=1.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64, np.uint64])
def test_an_integer_mask_of_several_labels_is_refused(dtype):
    """Regression: labels 1 and 2 were merged into one ROI without a word (PyRadiomics measures
    label 1 only). One label of any value (0/1, 0/255) is one ROI: stat_mean against NumPy's mean."""
    image, mask = blob()
    labels = mask.astype(dtype)
    labels[:, :, 8:] *= 2
    with pytest.raises(
        FeatureError, match=r"the mask holds 2 labels \(1, 2\) .* pass mask == 1 .*extract_labels"
    ):
        extract(image, labels, spacing=1.0, families=FAMILY)
    for one in (labels == 2, np.where(mask, np.iinfo(dtype).max, 0).astype(dtype)):
        got = extract(image, one, spacing=1.0, families=FAMILY)["stat_mean"]
        np.testing.assert_allclose(got, image[one != 0].mean(), rtol=1e-12)  # float64 sums, other order


def test_the_label_expressions_of_the_several_labels_error_work_on_a_label_volume(rng):
    """A label map read with read_image is a Volume: the error's expressions for one label and for
    their union run on it (regression: they said mask == 1 and mask > 0, which a Volume refuses with a
    VolumeUsageError), and measure what NumPy measures on those voxels."""
    image = rng.normal(40.0, 10.0, (6, 10, 12))
    labels = np.zeros(image.shape, np.uint8)
    labels[1:5, 2:8, 1:5], labels[1:5, 2:8, 7:11] = 3, 4
    mask = Volume(labels, spacing=(2.0, 0.8, 0.8))
    volume = Volume(image, spacing=mask.spacing)
    with pytest.raises(FeatureError) as caught:
        extract(volume, mask, families=FAMILY)
    one, union = re.search(r"pass (.+) for one of them, (.+) for their union", str(caught.value)).groups()
    for expression, inside in ((one, labels == 3), (union, labels > 0)):
        got = extract(volume, eval(expression, {"mask": mask}), families=FAMILY)
        np.testing.assert_allclose(got["stat_mean"], image[inside].mean(), rtol=1e-12)


def test_an_integer_mask_of_several_labels_on_the_gpu(emulated_cuda):
    image, mask = blob()
    labels = mask.astype(np.int32)
    labels[2, 3, 4] = -1
    with pytest.raises(FeatureError, match=r"holds 2 labels \(-1, 1\)"):
        extract(emulated_cuda(image), emulated_cuda(labels), spacing=1.0, families=FAMILY)
    got = extract(emulated_cuda(image), emulated_cuda(labels == 1), spacing=1.0, families=FAMILY)
    np.testing.assert_allclose(got["stat_mean"], image[labels == 1].mean(), rtol=1e-12)


def test_a_misspelt_family_or_a_pyradiomics_class_name_is_told_the_family_meant():
    image, mask = blob()
    with pytest.raises(
        ConfigError, match=r"\]; for 'glcmm' use 'glcm'; for 'firstorder' use 'statistics'\.$"
    ):
        extract(image, mask, spacing=1.0, families=["glcmm", "firstorder"])
    with pytest.raises(ConfigError, match=r"for 'shape' use 'morphology'\.$"):
        extract(image, mask, spacing=1.0, families="shape")
    got = extract(image, mask, spacing=1.0, families=["statistics"])  # as advised
    np.testing.assert_allclose(got["stat_mean"], image[mask].mean(), rtol=1e-12)  # float64, other order


FEATURE_CALLS = {
    "extract": lambda image, mask: extract(image, mask, spacing=1.0, families=FAMILY),
    "glcm_map": lambda image, mask: glcm_map(image, mask, spacing=1.0),
    "prepare": lambda image, mask: prepare(image, mask, spacing=1.0),  # the families' Roi
}


@pytest.mark.parametrize("call", sorted(FEATURE_CALLS))
def test_a_masked_array_with_masked_voxels_is_refused_not_half_read(call):
    """Regression: a masked array's hidden voxels were read as ROI voxels (a CT whose padding
    outside the field of view, -3024 HU, is masked: stat_min -3024 of an ROI reaching into it), and
    a masked mask's hidden voxels of 1 were in the ROI (1428 outside it here), as as_image refuses for
    the preprocessing functions. What the message says to do measures what NumPy measures on the
    voxels kept; a masked array with nothing masked is its plain array."""
    image, mask = blob()
    image[:, :4] = -3024.0  # rows 3 and 4 of the ROI lie in it
    padded = np.ma.masked_equal(image, -3024.0)
    hidden = int(padded.mask.sum())
    labels = mask.astype(np.uint8)
    with pytest.raises(FeatureError, match=rf"the image is a NumPy masked array with {hidden} masked"):
        FEATURE_CALLS[call](padded, labels)
    with pytest.raises(FeatureError) as caught:
        FEATURE_CALLS[call](Volume(padded, spacing=1.0), labels)
    data, roi = re.search(r"pass (\S+) and leave them out of the ROI: (.+)\.$", str(caught.value)).groups()
    assert (data, roi) == ("image.data.data", "mask & ~image.data.mask")
    # 1 everywhere, masked outside the ROI
    unsure = np.ma.masked_array(np.ones(image.shape, np.uint8), mask=~mask)
    with pytest.raises(
        FeatureError, match=r"the mask is a NumPy masked array .*mask\.filled\(value\), False"
    ):
        FEATURE_CALLS[call](image, unsure)
    volume = Volume(padded, spacing=1.0)
    kept = mask & ~padded.mask
    as_said = extract(
        eval(data, {"image": volume}),
        eval(roi, {"image": volume, "mask": labels}),
        spacing=1.0,
        families=FAMILY,
    )
    np.testing.assert_allclose(as_said["stat_min"], image[kept].min(), rtol=0)
    np.testing.assert_allclose(as_said["stat_mean"], image[kept].mean(), rtol=1e-12)  # float64 sums
    whole = extract(np.ma.masked_array(image, mask=False), unsure.filled(0), spacing=1.0, families=FAMILY)
    np.testing.assert_allclose(whole["stat_mean"], image[mask].mean(), rtol=1e-12)


def test_a_masked_array_given_to_extract_labels_is_refused_with_advice_for_labels():
    """As for a mask, with advice that works on a label image: a label image and-ed with the
    image's ~mask (mask & ~image.mask) would turn label 2 into 0 (2 & 1). What the message says,
    evaluated, gives NumPy's min and mean of each label's voxels kept."""
    image, mask = blob()
    image[:, :4] = -3024.0  # rows 3 and 4 of both labels lie in it
    padded = np.ma.masked_equal(image, -3024.0)
    labels = mask.astype(np.int16)
    labels[:, :, 8:] *= 2
    with pytest.raises(FeatureError) as caught:
        extract_labels(padded, labels, spacing=1.0, families=FAMILY)
    data, roi = re.search(r"pass (\S+) and leave them out of the ROI: (.+)\.$", str(caught.value)).groups()
    assert roi == "np.where(image.mask, 0, labels)"
    hidden = np.ma.masked_array(labels, mask=labels == 0)  # the background masked
    with pytest.raises(
        FeatureError, match=r"the labels is a NumPy .*labels\.filled\(value\), 0 \(background\)"
    ):
        extract_labels(image, hidden, spacing=1.0, families=FAMILY)
    scope = {"image": padded, "labels": labels, "np": np}
    got = extract_labels(eval(data, scope), eval(roi, scope), spacing=1.0, families=FAMILY)
    assert sorted(got) == [1, 2]
    for label, row in got.items():
        kept = (labels == label) & ~padded.mask
        np.testing.assert_allclose(row["stat_min"], image[kept].min(), rtol=0)
        np.testing.assert_allclose(row["stat_mean"], image[kept].mean(), rtol=1e-12)  # float64 sums
    filled = extract_labels(image, hidden.filled(0), spacing=1.0, families=FAMILY)  # as advised
    np.testing.assert_allclose(filled[2]["stat_mean"], image[labels == 2].mean(), rtol=1e-12)


@pytest.mark.parametrize("flag", ["False", "no", np.array([True, False]), None])
def test_extract_labels_skip_errors_must_be_true_or_false(flag):
    """skip_errors='False' (a flag read from text) was truthy, so label 2's error was kept as its
    row instead of raised; an array gave NumPy's bare ValueError. Refused, as every flag of gpuimg
    (check_flag); np.False_ and np.True_ act as False and True."""
    image, mask = blob()
    labels = mask.astype(np.uint8)
    labels[0, 0, 0] = 2  # one voxel far below the re-segmentation range of the others
    image[0, 0, 0] = -900.0
    settings = Settings(reseg_range=(-500.0, 500.0))
    call = partial(extract_labels, image, labels, spacing=1.0, families=FAMILY, settings=settings)
    with pytest.raises(ParameterError, match=r"skip_errors=.* must be True or False"):
        call(skip_errors=flag)
    with pytest.raises(FeatureError, match=r"^label 2: no voxel of the ROI is left"):
        call(skip_errors=np.False_)
    kept = call(skip_errors=np.True_)
    assert list(kept[2]) == ["error"]
    np.testing.assert_allclose(kept[1]["stat_mean"], image[labels == 1].mean(), rtol=1e-12)


@pytest.mark.parametrize(
    "spacing", [True, np.True_, (2.5, True, 0.7), np.ones(3, bool), "1.0", {"z": 2.5}], ids=repr
)
@pytest.mark.parametrize(
    "call", [extract, lambda image, mask, spacing: glcm_map(image, mask, spacing=spacing)]
)
def test_a_spacing_that_is_a_bool_or_text_is_refused(spacing, call):
    """spacing=True was read as 1 mm (and (2.5, True, 0.7) as 1 mm along y), '1.0' as 1 mm, where
    every other spacing= of gpuimg refuses them (be67c89; gaussian_filter's is the reference here);
    a dict gave NumPy's bare TypeError. Whole numbers are still taken: IBSI's approximate volume is
    the voxel count times the voxel's volume."""
    image, mask = blob()
    with pytest.raises(gpuimg.ParameterError):  # the library's rule
        gpuimg.preprocess.gaussian_filter(image, sigma_mm=1.0, spacing=spacing)
    with pytest.raises(FeatureError, match=r"spacing=.* must be one or three positive numbers \(mm\)"):
        call(image, mask, spacing=spacing)
    got = extract(image, mask, spacing=(np.int64(2), 1, 1), families=["morphology"])
    assert got["morph_vol_approx"] == mask.sum() * 2.0


def test_a_label_map_read_as_floats_is_told_to_be_cast(tmp_path):
    """A NIfTI label map read with nibabel's get_fdata() is float64: extract_labels said 'labels
    must be an integer image (0 for background); got dtype float64.', not what to do. Now the cast,
    which, evaluated, gives NumPy's mean of each label; a map of fractions is told it is no label
    image."""
    nib = pytest.importorskip("nibabel")
    image, mask = blob()
    labels = mask.astype(np.uint8)
    labels[:, :, 8:] *= 3
    path = tmp_path / "labels.nii.gz"
    nib.save(nib.Nifti1Image(labels.T, np.eye(4)), path)  # NIfTI's axes are x, y, z
    read = nib.load(path).get_fdata().T
    assert read.dtype == np.float64
    for given, name in ((read, "labels"), (Volume(read, spacing=1.0), "labels.data")):
        with pytest.raises(FeatureError, match=r"got dtype float64, of whole numbers") as caught:
            extract_labels(image, given, spacing=1.0, families=FAMILY)
        advice = re.search(r"pass (\S+)\.$", str(caught.value)).group(1)
        assert advice == f"{name}.astype(np.int64)"
        got = extract_labels(image, eval(advice, {"labels": given, "np": np}), spacing=1.0, families=FAMILY)
        assert sorted(got) == [1, 3]
        for label, row in got.items():
            np.testing.assert_allclose(row["stat_mean"], image[labels == label].mean(), rtol=1e-12)
    with pytest.raises(
        FeatureError, match=r"which holds 0\.5, not a label: .*extract\(image, map >= threshold\)"
    ):
        extract_labels(image, read / 2, spacing=1.0, families=FAMILY)
