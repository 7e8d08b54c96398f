"""extract and extract_labels: families, inputs on every device, many ROIs at once."""

import numpy as np
import pytest
import scipy.ndimage

import gpuimg
from gpuimg import Volume
from gpuimg.errors import ConfigError, FeatureError, MemoryBudgetError
from gpuimg.features import FAMILIES, Settings, extract, extract_labels

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
    assert plain == as_volumes == chunked


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
