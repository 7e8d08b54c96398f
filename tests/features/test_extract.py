"""extract and extract_labels: families, inputs on every device, many ROIs at once."""

import re
import warnings

import numpy as np
import pytest
import scipy.ndimage

import gpuimg
from gpuimg import Volume
from gpuimg.errors import ConfigError, FeatureError, FeatureWarning, MemoryBudgetError
from gpuimg.features import FAMILIES, Settings, extract, extract_labels, glcm, prepare

SETTINGS = Settings(new_spacing=(2.0, 2.0, 2.0), round_intensities=True, reseg_range=(-300.0, 300.0))


def _labelled(rng, shape=(24, 30, 28)):
    """A smooth random image (HU-like) and a label image of three blobs, one of them touching the edge."""
    image = 40.0 + scipy.ndimage.gaussian_filter(rng.normal(0.0, 600.0, shape), 1.0)
    labels = np.zeros(shape, dtype=np.int16)
    labels[3:10, 4:14, 5:12] = 2
    labels[12:20, 15:27, 14:26] = 7
    labels[0:5, 20:30, 0:6] = 9
    labels[scipy.ndimage.binary_erosion(labels == 7, iterations=2)] = 0  # a shell with a hole
    return image, labels


def test_extract_labels_equals_extract_on_each_mask(rng):
    image, labels = _labelled(rng)
    spacing = (2.5, 1.2, 1.4)
    many = extract_labels(image, labels, spacing=spacing, settings=SETTINGS)
    assert list(many) == [2, 7, 9]
    for value, features in many.items():
        one = extract(image, labels == value, spacing=spacing, settings=SETTINGS)
        assert features.keys() == one.keys()
        np.testing.assert_allclose(list(features.values()), list(one.values()), rtol=1e-12, equal_nan=True)


def test_families_select_their_tags(rng):
    image, labels = _labelled(rng)
    prefixes = {
        "morphology": "morph_",
        "local_intensity": "loc_",
        "statistics": "stat_",
        "histogram": "ih_",
        "ivh": "ivh_",
        "glcm": "cm_",
        "glrlm": "rlm_",
        "glszm": "szm_",
        "gldzm": "dzm_",
        "ngtdm": "ngt_",
        "ngldm": "ngl_",
    }
    for family, prefix in prefixes.items():
        tags = extract(image, labels == 2, spacing=1.0, families=[family])
        assert tags and all(tag.startswith(prefix) for tag in tags), family
    assert set(prefixes) == set(FAMILIES)
    with pytest.raises(ConfigError, match="texture"):
        extract(image, labels == 2, spacing=1.0, families=["texture"])


def test_morphology_of_extract_reads_the_roi_s_box_only(rng, monkeypatch):
    """extract gave morphology the prepared arrays whole, with their margin for the local intensity sphere
    (8 times the ROI's box for a demo nodule), which it packed, brought to the host and searched for the
    ROI's box again. It now gets the morphological mask's box, which holds the intensity mask: the same
    features, to the bit, as on the whole arrays; the volume is scikit-image's mesh volume, the integrated
    intensity that volume times NumPy's mean over the re-segmented voxels."""
    import importlib

    from skimage.measure import marching_cubes

    from gpuimg.features import morphology

    module = importlib.import_module("gpuimg.features.morphology")
    image = 40.0 + scipy.ndimage.gaussian_filter(rng.normal(0.0, 300.0, (30, 32, 34)), 1.0)
    mask = np.zeros(image.shape, bool)
    mask[9:17, 10:24, 8:20] = True
    mask[12:15, 6:10, 12:16] = True  # a bump: the box is not the block's
    image[12, 12:15, 10] = 500.0  # re-segmented out
    spacing = (2.0, 1.25, 1.25)
    settings = Settings(reseg_range=(-200.0, 200.0))  # takes voxels out of the intensity mask
    shapes = []

    def spy(values, morph, inside, *args):
        shapes.append((values.shape, morph.shape, inside.shape))
        return deferred(values, morph, inside, *args)

    deferred = module._deferred
    monkeypatch.setattr(module, "_deferred", spy)
    features = extract(image, mask, spacing=spacing, settings=settings, families=["morphology"])
    assert shapes == [((8, 18, 12),) * 3]  # z 9..16, y 6..23, x 8..19
    roi = prepare(image, mask, spacing=spacing, settings=settings)
    assert roi.image.shape > (8, 18, 12) and roi.intensity_mask.sum() < mask.sum()
    whole = morphology(roi.image, roi.morph_mask, roi.intensity_mask, roi.spacing)
    assert features.keys() == whole.keys()
    for name, value in whole.items():
        assert features[name] == value or (np.isnan(value) and np.isnan(features[name])), name
    vertices, faces, _, _ = marching_cubes(np.pad(mask, 1).astype(float), 0.5, spacing=spacing)
    a, b, c = (vertices.astype(float)[faces[:, k]] for k in range(3))  # float32 holds these exactly
    volume = abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0  # signed tetrahedra
    np.testing.assert_allclose(features["morph_volume"], volume, rtol=1e-12)  # sums in another order
    inside = mask & (image >= -200.0) & (image <= 200.0)
    np.testing.assert_allclose(features["morph_integ_int"], volume * image[inside].mean(), rtol=1e-12)


@pytest.mark.parametrize("labels", [False, True])
def test_families_of_the_roi_s_voxels_keep_the_image_near_the_roi_s_box_only(rng, monkeypatch, labels):
    """Morphology, statistics, the intensity histogram and the IVH read the image at the ROI's voxels
    only: without interpolation extract keeps the ROI's box and the few voxels that interpolation's
    footprint takes around it (2 before, 3 after), not the local intensity sphere's margin, which is
    for that family. The features equal those with local_intensity asked for too (the sphere's
    margin), to the bit, and NumPy's mean, energy and range of the ROI's values."""
    import importlib

    chain = importlib.import_module("gpuimg.features.chain")
    image = 40.0 + scipy.ndimage.gaussian_filter(rng.normal(0.0, 300.0, (24, 30, 30)), 1.0)
    mask = np.zeros(image.shape, bool)
    mask[9:15, 10:20, 8:19] = rng.random((6, 10, 11)) < 0.8
    mask[9, 10, 8] = mask[14, 19, 18] = True  # the box: z 9..14, y 10..19, x 8..18
    spacing = (2.0, 1.25, 1.25)
    shapes = []

    def spy(data, roi_in, box, *args, **kwargs):  # the prepared image's shape
        roi = prepare_box(data, roi_in, box, *args, **kwargs)
        shapes.append(roi.image.shape)
        return roi

    prepare_box = chain.prepare_box
    monkeypatch.setattr(importlib.import_module("gpuimg.features.extract"), "prepare_box", spy)
    monkeypatch.setattr(chain, "prepare_box", spy)
    within = ["morphology", "statistics", "histogram", "ivh"]

    def run(families):
        if labels:
            return extract_labels(image, mask.astype(np.uint8) * 3, spacing=spacing, families=families)[3]
        return extract(image, mask, spacing=spacing, families=families)

    features, wider = run(within), run([*within, "local_intensity"])
    assert shapes[0] == (6 + 5, 10 + 5, 11 + 5) and shapes[1] > shapes[0]
    for name, value in features.items():
        assert wider[name] == value or (np.isnan(value) and np.isnan(wider[name])), name
    values = image[mask]
    np.testing.assert_allclose(features["stat_mean"], values.mean(), rtol=1e-13)
    np.testing.assert_allclose(features["stat_energy"], (values**2).sum(), rtol=1e-13)
    assert features["stat_range"] == np.ptp(values)


def test_morphology_of_extract_takes_the_intensity_box_within_the_morphological_one(rng):
    """extract's morphology takes prepare's boxes, intensity count and range instead of finding them again.
    Re-segmentation here empties the first slice and the last column of the ROI, so the intensity mask's
    box lies inside the morphological mask's, off its corner: Moran's I and Geary's C over all pairs of
    the re-segmented voxels in plain NumPy (IBSI 3.1.24-25, inverse distance weights), the
    intensity-weighted centre of mass and the integrated intensity as NumPy gives them, and every
    feature equal to morphology's on the Roi's whole arrays."""
    from gpuimg.features import morphology

    image = 40.0 + scipy.ndimage.gaussian_filter(rng.normal(0.0, 300.0, (16, 18, 20)), 1.0)
    mask = np.zeros(image.shape, bool)
    mask[4:10, 5:13, 6:15] = True
    image[4] = image[:, :, 14] = 900.0  # out of the re-segmentation range
    spacing = (2.0, 0.8, 1.1)
    settings = Settings(reseg_range=(-400.0, 400.0))
    features = extract(image, mask, spacing=spacing, settings=settings, families=["morphology"])
    roi = prepare(image, mask, spacing=spacing, settings=settings)
    assert roi.morph_box != roi.intensity_box
    whole = morphology(roi.image, roi.morph_mask, roi.intensity_mask, roi.spacing)
    for name, value in whole.items():
        assert features[name] == value or (np.isnan(value) and np.isnan(features[name])), name
    inside = mask & (image >= -400.0) & (image <= 400.0)
    assert not inside[4].any() and not inside[:, :, 14].any() and inside.sum() == 5 * 8 * 8
    positions = np.argwhere(inside) * np.asarray(spacing)  # [mm]
    g = image[inside]
    d = g - g.mean()
    distances = np.sqrt(((positions[:, None, :] - positions[None, :, :]) ** 2).sum(axis=2))
    w = np.divide(1.0, distances, out=np.zeros_like(distances), where=distances > 0)
    n, total = g.size, w.sum()
    moran = n / total * (w * np.outer(d, d)).sum() / (d * d).sum()
    geary = (n - 1) / (2.0 * total) * (w * (d[:, None] - d[None, :]) ** 2).sum() / (d * d).sum()
    # The FFT's rounding against sums over 320^2 pairs in another order, of terms of both signs.
    np.testing.assert_allclose(
        [features["morph_moran_i"], features["morph_geary_c"]], [moran, geary], rtol=1e-9
    )
    centre = (positions * g[:, None]).sum(axis=0) / g.sum()
    shift = np.linalg.norm(np.argwhere(mask).mean(axis=0) * np.asarray(spacing) - centre)
    np.testing.assert_allclose(features["morph_com"], shift, rtol=1e-9)  # a difference of two centres
    np.testing.assert_allclose(features["morph_integ_int"] / features["morph_volume"], g.mean(), rtol=1e-13)


def test_volume_and_dask_inputs_equal_arrays(rng):
    da = pytest.importorskip("dask.array")
    image, labels = _labelled(rng)
    spacing = (2.5, 1.2, 1.4)
    plain = extract(image, labels == 9, spacing=spacing, settings=SETTINGS, families=["statistics", "ivh"])
    as_volumes = extract(
        Volume(image, spacing=spacing),
        Volume((labels == 9).astype(np.uint8), spacing=spacing),
        settings=SETTINGS,
        families=["statistics", "ivh"],
    )
    chunked = extract(
        da.from_array(image, chunks=(7, 11, 9)),
        labels == 9,
        spacing=spacing,
        settings=SETTINGS,
        families=["statistics", "ivh"],
    )
    assert plain.keys() == as_volumes.keys() == chunked.keys()
    # Equal to the bit; a NaN (stat_qcod where P25 + P75 is 0, 2 seeds in 400) equals a NaN.
    np.testing.assert_array_equal(list(as_volumes.values()), list(plain.values()))
    np.testing.assert_array_equal(list(chunked.values()), list(plain.values()))


def test_label_errors(rng):
    image, labels = _labelled(rng)
    with pytest.raises(FeatureError, match="no label"):
        extract_labels(image, np.zeros_like(labels), spacing=1.0)
    with pytest.raises(FeatureError, match="integer"):
        extract_labels(image, labels.astype(np.float32), spacing=1.0)
    far = Settings(reseg_range=(5000.0, 6000.0))
    with pytest.raises(FeatureError, match="label 2"):
        extract_labels(image, labels, spacing=1.0, settings=far, families=["statistics"])
    kept = extract_labels(image, labels, spacing=1.0, settings=far, families=["statistics"], skip_errors=True)
    assert all("re-segmentation" in row["error"] for row in kept.values())


def test_a_label_past_the_memory_budget_is_named_or_skipped(rng, monkeypatch):
    # One large ROI's Moran's I grid past the budget ended extract_labels, skip_errors or not, in a
    # MemoryBudgetError that named no label; the small ROI's features were lost with it.
    image = rng.normal(size=(40, 40, 40))
    labels = np.zeros(image.shape, np.uint8)
    labels[2:34, 2:34, 2:34] = 1
    labels[36:39, 36:39, 36:39] = 2
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")
    with pytest.raises(MemoryBudgetError, match=r"^label 1: "):
        extract_labels(image, labels, spacing=1.0, families=["morphology"])
    kept = extract_labels(image, labels, spacing=1.0, families=["morphology"], skip_errors=True)
    assert "memory budget" in kept[1]["error"]
    monkeypatch.delenv("GPUIMG_MAX_BYTES")
    assert kept[2] == extract(image, labels == 2, spacing=1.0, families=["morphology"])


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.uint32])
def test_label_values_up_to_the_dtype_s_largest(rng, dtype):
    # uint64 labels above 2^63 wrapped to negative ones in int64: a ZeroDivisionError in the kernel.
    image = rng.normal(size=(6, 7, 8))
    top = np.iinfo(dtype).max
    labels = np.where(image > 0.5, top, np.where(image < -0.5, 3, 0)).astype(dtype)
    got = extract_labels(image, labels, spacing=1.0, families=["statistics"])
    assert sorted(got) == [3, int(top)]
    assert got[int(top)]["stat_mean"] == pytest.approx(image[image > 0.5].mean(), rel=1e-12)
    assert got[3]["stat_mean"] == pytest.approx(image[image < -0.5].mean(), rel=1e-12)


@pytest.mark.gpu
def test_cupy_input_equals_numpy(rng):
    image, labels = _labelled(rng)
    on_gpu = extract(
        gpuimg.to_device(image, "cuda"), gpuimg.to_device(labels == 7, "cuda"), spacing=1.3, settings=SETTINGS
    )
    on_cpu = extract(image, labels == 7, spacing=1.3, settings=SETTINGS)
    assert on_gpu.keys() == on_cpu.keys()
    # Device reductions and FFTs sum in another order: 1e-9 relative covers float64 rounding.
    np.testing.assert_allclose(list(on_gpu.values()), list(on_cpu.values()), rtol=1e-9, equal_nan=True)


def _feature_warnings(func, *args, **kwargs):
    """``func``'s result and the FeatureWarnings it gave, every one of them (no once-per-place filter)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func(*args, **kwargs)
    return result, [w.message for w in caught if issubclass(w.category, FeatureWarning)]


def _nan_keys(features):
    return {name for name, value in features.items() if np.isnan(value)}


def _single_voxel(rng):
    mask = np.zeros((5, 6, 7), dtype=bool)
    mask[2, 3, 3] = True
    return rng.normal(40.0, 10.0, mask.shape), mask


def _constant(rng):
    mask = np.zeros((5, 6, 7), dtype=bool)
    mask[1:4, 1:5, 2:6] = True
    return np.full(mask.shape, 7.0), mask


@pytest.mark.parametrize("make", [_single_voxel, _constant])
@pytest.mark.parametrize("approaches", [("3d",), ("2d", "2.5d", "3d")])
def test_undefined_features_give_one_warning_that_names_them(rng, make, approaches):
    """An ROI of one voxel left 166 features undefined with all texture approaches, each with its own
    warning (56 with the 3D default): one warning now, grouped by reason, counting exactly the features
    that are NaN, and short however many there are."""
    image, mask = make(rng)
    settings = Settings(texture_approaches=approaches)
    features, caught = _feature_warnings(extract, image, mask, spacing=1.0, settings=settings)
    nan = _nan_keys(features)
    assert len(nan) >= 10 and len(caught) == 1
    message = str(caught[0])
    assert set(caught[0].undefined) == nan
    assert f"these {len(nan)} features are NaN" in message
    # The names shown (every feature name holds an underscore, no reason does) and those counted.
    shown = re.findall(r"\b[a-z]+_\w+", message)
    more = sum(int(n) for n in re.findall(r"and (\d+) more", message))
    assert set(shown) <= nan and len(shown) == len(set(shown)) and len(shown) + more == len(nan)
    assert len(message) < 1200
    if len(nan) <= 10:  # the constant ROI's: every name shown
        assert set(shown) == nan


def test_one_warning_for_every_label_of_a_label_image(rng):
    image, single = _single_voxel(rng)
    labels = single.astype(np.int16) * 3
    labels[0:2, 0:3, 0:3] = 5  # varied intensities: every feature defined, no warning
    labels[3:5, 4:6, 4:7] = 8
    image[labels == 8] = 11.0  # constant
    results, caught = _feature_warnings(extract_labels, image, labels, spacing=1.0)
    nan = {label: _nan_keys(features) for label, features in results.items()}
    assert len(caught) == 1 and nan[3] and nan[8] and not nan[5]
    assert {label: set(found) for label, found in caught[0].undefined.items()} == {3: nan[3], 8: nan[8]}
    message = str(caught[0])
    assert "for labels 3, 8:" in message and f"{len(nan[3]) + len(nan[8])} feature values are NaN" in message
    assert "morph_moran_i, morph_geary_c (constant intensities; label 8)" in message


def test_a_single_family_gives_one_warning_too(rng):
    image, mask = _constant(rng)
    features, caught = _feature_warnings(glcm, prepare(image, mask, spacing=1.0))
    assert len(caught) == 1 and set(caught[0].undefined) == _nan_keys(features) != set()
