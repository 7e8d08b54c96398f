"""gpuimg.preprocess.contrast (windows, rescaling, z-scores) against scikit-image and closed forms;
and what every intensity, sharpening and histogram operation shares: Volumes, Dask, bad input, CuPy."""

import re

import dask.array as da
import numpy as np
import pytest
import skimage.exposure
import skimage.filters
from dask_reads import counted
from preprocess_images import hu_volume, lung_ct

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

# float32 arithmetic on values of order 1 (windows, z-scores, equalised values): a few ulps.
F32 = 2e-6


@pytest.fixture(scope="module")
def ct():
    """A 12 x 64 x 64 region of a real lung CT (int16 HU), through the chest wall and lung."""
    return lung_ct()


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


@pytest.mark.parametrize("pair", [WINDOWS["lung"], (40, 400), np.array([-600.0, 1500.0])])
def test_window_of_a_pair_says_both_readings(ct, pair):
    """window(ct, WINDOWS["lung"]) (the preset's pair as the level) got 'width=None must be a positive
    number of HU', which did not say that the pair went to level. Both readings the message gives
    work: the level and width as two numbers, and the pair as rescale_intensity's range."""
    with pytest.raises(gpuimg.ParameterError, match=r"is a pair") as caught:
        window(ct, pair)
    calls = re.findall(
        r"(window\(image, [^)]*\)|rescale_intensity\(image, in_range=\([^)]*\)\))", str(caught.value)
    )
    assert len(calls) == 2
    level, width = (float(v) for v in pair)
    hu = ct.astype(np.float64)
    as_window, as_range = (
        eval(call, {"window": window, "rescale_intensity": rescale_intensity, "image": ct}) for call in calls
    )
    want = np.clip((hu - (level - width / 2)) / width, 0, 1)  # the window's closed form
    np.testing.assert_allclose(as_window, want, rtol=0, atol=F32)
    want = skimage.exposure.rescale_intensity(hu, in_range=(level, width), out_range=(0, 1))
    np.testing.assert_allclose(as_range, want, rtol=0, atol=F32)


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


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_a_narrow_range_off_zero_maps_its_ends_to_the_output_ends(dtype):
    """A range whose ends float32 rounds (100.3 to 100.31): the values clipped to it were divided by
    the width rounded on its own, so a voxel above it got 0.99945, not 1 (skimage gives 1 exactly)."""
    image = np.array([0, 100, 101, 200], dtype=dtype)
    for in_range in ((100.3, 100.31), (-196.88, -196.796)):
        want = skimage.exposure.rescale_intensity(image.astype(np.float64), in_range, (0.0, 1.0))
        got = rescale_intensity(image, in_range, (0.0, 1.0))
        np.testing.assert_array_equal(got, want)  # every voxel is outside: exactly 0 or 1
        level, width = (in_range[0] + in_range[1]) / 2, in_range[1] - in_range[0]
        np.testing.assert_array_equal(window(image, level, width), want)
    inside = np.array([-1000.25, -1000.1, -999.95], np.float32)  # the window's ends and its middle
    np.testing.assert_allclose(window(inside, -1000.1, 0.3), [0.0, 0.5, 1.0], rtol=0, atol=2e-4)
    assert window(inside, -1000.1, 0.3)[[0, 2]].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("device", ["cpu", "cuda", "dask"])
@pytest.mark.parametrize(
    ("image", "level", "width"),
    [
        # A window narrower than float32's step at its level: both ends rounded to 1000, and every
        # voxel, 2000 too, came out 0 (a threshold at 1000 as a window of width 1e-5).
        (np.array([0.0, 999.99, 1000.0, 1000.01, 2000.0], np.float32), 1000.0, 1e-5),
        (np.float32(1e5) + np.arange(-0.25, 0.5, 0.0078125, dtype=np.float32), 1e5, 0.005),
        # uint16 (float32 output) under a window far below it: every voxel is above (1), was 0.
        (np.array([0, 1, 65535], np.uint16), -1e9, 1.0),
        # A window wider than float32's range: its span overflowed, 3e38 came out NaN, 0 and 1 as 0.
        (np.array([-3e38, 0.0, 1.0, 3e38], np.float32), 0.0, 6e38),
    ],
)
def test_a_window_float32_cannot_hold_equals_skimage(image, level, width, device, request):
    in_range = (level - width / 2, level + width / 2)
    want = skimage.exposure.rescale_intensity(image.astype(np.float64), in_range, (0.0, 1.0))
    given = image
    if device == "cuda":
        given = request.getfixturevalue("emulated_cuda")(image)
    elif device == "dask":
        given = da.from_array(image, chunks=2)
    for got in (window(given, level, width), rescale_intensity(given, in_range, (0.0, 1.0))):
        got = got.compute() if device == "dask" else gpuimg.to_numpy(got)
        assert got.dtype == np.float32
        # float32 output of values in [0, 1]: a few ulps.
        np.testing.assert_allclose(got, want, rtol=0, atol=F32)


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_zscore_of_a_constant_region_is_image_minus_its_mean(dtype):
    image = np.array([[5, 5, 7], [5, -3, 5]], dtype=dtype)
    mask = image == 5
    np.testing.assert_array_equal(zscore(image, mask), image.astype(np.float64) - 5)
    np.testing.assert_array_equal(zscore(np.full((2, 3), 2.0**1000), None), np.zeros((2, 3)))


@pytest.mark.parametrize("value", [0.1, 1 / 3, 2.675, 1.1e308])
def test_zscore_of_a_constant_region_of_any_value_is_zero(value):
    # The rounded mean of 0.1 missed it by an ulp, and the z-score of the 1e-17 deviations was 1 (-1 for
    # 2.675) in every voxel; the closed form (and scikit-learn's StandardScaler) gives 0.
    image = np.full((4, 5, 6), value)
    np.testing.assert_array_equal(zscore(image), np.zeros(image.shape))
    mask = np.zeros(image.shape, dtype=bool)
    mask[1:3] = True
    image[0] = 7.0
    np.testing.assert_array_equal(zscore(image, mask), image - value)
    lazy = zscore(da.from_array(np.full((4, 5, 6), value), chunks=(3, 2, 4)))
    np.testing.assert_array_equal(lazy.compute(), np.zeros(image.shape))


def test_zscore_nan_stays_and_is_left_out(rng):
    image = rng.normal(0, 1, (5, 6, 7))
    image[0, 0, 0] = np.nan
    got = zscore(image)
    finite = np.isfinite(image)
    assert np.isnan(got[0, 0, 0])
    values = image[finite]
    np.testing.assert_allclose(got[finite], (values - values.mean()) / values.std(), atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "power"),
    [(np.float64, 1013), (np.float64, -600), (np.float64, -1074), (np.float32, 117), (np.float32, -149)],
)
def test_zscore_near_the_ends_of_the_float_type_equals_numpy_on_the_unscaled_values(rng, dtype, power):
    """A z-score does not change when the values are scaled. Sums of values near 2**1023 overflow
    float64, squared deviations of values near 2**-600 underflow it, and 1 / std of subnormal values
    overflows float32: integers below 1000 scaled by 2**power (exact) give those of the integers."""
    counts = rng.integers(0, 1000, (6, 7, 8)).astype(np.float64)
    image = np.ldexp(counts, power).astype(dtype)
    assert np.array_equal(np.ldexp(image.astype(np.float64), -power), counts)
    mask = counts > 300
    atol = 1e-12 if dtype == np.float64 else 2e-6
    for got, kept in ((zscore(image), counts), (zscore(image, mask), counts[mask])):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, (counts - kept.mean()) / kept.std(), rtol=0, atol=atol)
    lazy = zscore(da.from_array(image, chunks=(3, 7, 4)))
    np.testing.assert_allclose(lazy.compute(), (counts - counts.mean()) / counts.std(), rtol=0, atol=atol)


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


#: The intensity mappings into new units (of a Volume: HU, SUV ... in; [0, 1], z-scores ... out).
INTENSITY_MAPPINGS = pytest.mark.parametrize(
    "mapping",
    [
        lambda ct: window(ct, "lung"),
        lambda ct: rescale_intensity(ct),
        lambda ct: zscore(ct),
        lambda ct: equalize_hist(ct),
        lambda ct: clahe(ct),
        lambda ct: match_histogram(ct, np.linspace(0.0, 15.0, 100)),  # onto SUV-like values
    ],
    ids=["window", "rescale_intensity", "zscore", "equalize_hist", "clahe", "match_histogram"],
)


@INTENSITY_MAPPINGS
def test_an_intensity_mapping_leaves_out_the_window_presets_of_the_input_units(rng, tmp_path, mapping):
    """The mappings into new units kept read_dicom's window presets, in HU: write_dicom wrote
    WindowCenter 40 / WindowWidth 400 over values in [0, 1], which pydicom's VOI LUT (a viewer's
    display) shows as one grey (a spread of 0.001 of its 65535 levels). The result has none, the
    other meta stays and the input's is untouched; written, pydicom displays the values' own spread
    (no window: the modality LUT's values). A filter in HU (median) keeps the presets."""
    from pydicom import dcmread
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    presets = [{"center": 40.0, "width": 400.0, "name": "SOFT_TISSUE"}]
    ct = gpuimg.Volume(hu_volume(rng), spacing=(2.5, 0.7, 0.7), meta={"modality": "CT", "windows": presets})
    mapped = mapping(ct)
    assert "windows" not in mapped.meta and mapped.meta["modality"] == "CT"
    assert ct.meta["windows"] == presets
    files = gpuimg.write_dicom(mapped, tmp_path / "mapped")
    written = dcmread(files[len(files) // 2])
    assert "WindowCenter" not in written
    values = apply_modality_lut(written.pixel_array, written)
    shown = apply_voi_lut(values, written)
    np.testing.assert_array_equal(shown, values)
    middle = gpuimg.to_numpy(mapped.data)[len(files) // 2]
    assert np.ptp(shown) > 0.5 * np.ptp(middle) > 0  # the values' own spread, not one grey
    assert gpuimg.preprocess.median_filter(ct, 3).meta["windows"] == presets  # HU stay HU


@INTENSITY_MAPPINGS
def test_an_intensity_mapping_leaves_out_the_units_of_a_pet_series(rng, tmp_path, mapping):
    """read_dicom keeps a PET series' Units (meta["units"], "GML" for SUVs in g/ml); the mappings
    kept it over values that are no longer SUVs, so a z-scored PET Volume said its values were
    g/ml, and write_dicom's advice, units=volume.meta["units"], labelled z-scores as SUVs. The
    result has no units, the rest of the meta stays and the input's is untouched; a filter in SUV
    (median) keeps them."""
    suv = gpuimg.Volume(rng.uniform(0.0, 12.0, (4, 8, 8)), spacing=(3.0, 4.0, 4.0))
    files = gpuimg.write_dicom(suv, tmp_path / "pet", modality="PT", units="GML")
    pet = gpuimg.read_dicom(files, device="cpu")
    assert pet.meta["units"] == "GML"
    mapped = mapping(pet)
    assert "units" not in mapped.meta
    assert mapped.meta["modality"] == "PT" and mapped.meta["series_uid"] == pet.meta["series_uid"]
    assert pet.meta["units"] == "GML"
    assert gpuimg.preprocess.median_filter(pet, 3).meta["units"] == "GML"  # SUVs stay SUVs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"origin": (1.0, 2.0, 7.0)}, "origin (1.0, 2.0, 7.0) mm, 4 mm from"),
        ({"direction": np.diag([1.0, -1.0, 1.0]) @ gpuimg.volume.AXIAL}, "a flipped or rotated grid"),
        ({"spacing": (2.5, 0.5, 0.5)}, "spacing (2.5, 0.5, 0.5) mm against"),
    ],
    ids=["shifted", "mirrored", "other-spacing"],
)
def test_a_mask_volume_on_another_grid_is_refused(rng, change, message):
    """A mask Volume of the image's shape on another grid (regression: its voxels were used as the
    image's, a region 2 slices off or mirrored, without a word); the same grid, to float32 rounding of a
    NIfTI header, gives NumPy's z-score and equalize_hist gives scikit-image's over the mask's voxels."""
    image = hu_volume(rng)
    inside = np.zeros(image.shape, bool)
    inside[1:3, 2:9, 3:12] = True
    volume = gpuimg.Volume(image, spacing=(2.0, 0.5, 0.5), origin=(1.0, 2.0, 3.0))
    other = gpuimg.Volume(inside, **{"spacing": volume.spacing, "origin": volume.origin, **change})
    for call in (lambda m: zscore(volume, m), lambda m: equalize_hist(volume, mask=m)):
        with pytest.raises(gpuimg.GeometryError, match=re.escape(message)):
            call(other)
    rounded = gpuimg.Volume(inside, spacing=volume.spacing, origin=np.float32(volume.origin) + 1e-5)
    got = zscore(volume, rounded)
    values = image.astype(np.float64)
    want = (values - values[inside].mean()) / values[inside].std()
    np.testing.assert_allclose(got.data, want, rtol=F32, atol=F32)
    np.testing.assert_allclose(
        equalize_hist(volume, mask=rounded).data,
        skimage.exposure.equalize_hist(image, mask=inside),
        rtol=0,
        atol=F32,
    )


def test_unsharp_mask_with_sigma_0_on_an_axis_equals_skimage(rng):
    """Blur and sharpen within each slice, scikit-image's radius=(0, 1, 1.5) (regression: refused)."""
    image = hu_volume(rng)
    got = unsharp_mask(image, (0, 1.0, 1.5), 0.8)
    want = skimage.filters.unsharp_mask(image, (0, 1.0, 1.5), 0.8, preserve_range=True)
    np.testing.assert_allclose(got, want, rtol=F32, atol=F32 * 3072)  # float32 of HU up to 3071


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


def test_a_dask_image_with_nan_is_read_once_for_its_range(rng):
    """The range of a float Dask image was its min and max, then, for a NaN or inf voxel, its finite
    min and max in a second pass: rescale_intensity read each chunk twice (16 reads for 8 chunks), and
    equalize_hist three times (range twice, histogram once)."""
    image = rng.gamma(2.0, 20.0, (10, 11, 12))
    image[0, 0, 0], image[9, 10, 11] = np.nan, np.inf
    finite = np.isfinite(image)
    low, high = image[finite].min(), image[finite].max()
    lazy, reads = counted(image, (5, 6, 6))
    got = rescale_intensity(lazy)
    assert len(reads) == lazy.npartitions == 8
    want = skimage.exposure.rescale_intensity(image, in_range=(low, high), out_range=(0.0, 1.0))
    np.testing.assert_allclose(got.compute()[finite], want[finite], rtol=0, atol=1e-12)
    lazy, reads = counted(image, (5, 6, 6))
    got = equalize_hist(lazy, 40)
    assert len(reads) == 2 * lazy.npartitions  # the range, then the histogram
    want = skimage.exposure.equalize_hist(image, 40, mask=finite)  # NaN and inf left out of the histogram
    np.testing.assert_allclose(got.compute()[finite], want[finite], rtol=0, atol=1e-12)


def _with_empty_chunks(array, how):
    """``array`` as a Dask array with chunks of no voxel: given so, or left by a boolean selection by a
    Dask array (chunk sizes unknown, NaN, or known once computed)."""
    if how == "given":
        return da.from_array(array, chunks=((0, 4, 0, array.shape[0] - 4), (5, 0, array.shape[1] - 5), -1))
    doubled = np.concatenate([array[:4], array[:4], array[4:]])  # rows 4:8 are dropped again
    keep = np.ones(doubled.shape[0], bool)
    keep[4:8] = False
    selected = da.from_array(doubled, chunks=(4, 5, -1))[da.from_array(keep, chunks=4)]
    if how == "unknown":
        return selected
    selected = selected.compute_chunk_sizes()
    assert 0 in selected.chunks[0]
    return selected


@pytest.mark.parametrize("how", ["given", "selected"])
def test_dask_arrays_with_chunks_of_no_voxel_equal_skimage(rng, ct, how):
    """Dask's min and max fail on an array with a chunk of no voxel (ValueError 'all the input array
    dimensions except for the concatenation axis must match exactly'): rescale_intensity and
    equalize_hist, which take the image's range, failed; zscore, window and match_histogram did not."""
    image = rng.normal(0, 100, (11, 9, 10)).astype(np.float32)
    mask = rng.random(image.shape) > 0.3
    lazy, lazy_mask, lazy_ct = (_with_empty_chunks(a, how) for a in (image, mask, ct[:11, :9, :10]))
    for x, lazy_x in ((image, lazy), (ct[:11, :9, :10], lazy_ct)):
        values = x.astype(np.float64)
        rescaled, equalized = skimage.exposure.rescale_intensity, skimage.exposure.equalize_hist
        checks = [
            (rescale_intensity(lazy_x), rescaled(values, "image", (0.0, 1.0)), 12 * F32),
            (equalize_hist(lazy_x, 50), equalized(x, 50), 6e-8),
            (equalize_hist(lazy_x, 50, mask=lazy_mask), equalized(x, 50, mask=mask), 6e-8),
            (zscore(lazy_x, lazy_mask), (values - values[mask].mean()) / values[mask].std(), 2e-5),
            (window(lazy_x, 10, 200), np.clip((values + 90) / 200, 0, 1), F32),
        ]
        for got, want, atol in checks:
            assert isinstance(got, da.Array) and got.chunks == lazy_x.chunks
            np.testing.assert_allclose(got.compute(), want, rtol=0, atol=atol)
    reference = rng.normal(50, 10, (5, 6, 7))
    got = match_histogram(lazy, reference).compute()
    np.testing.assert_allclose(got, skimage.exposure.match_histograms(image, reference), rtol=0, atol=1e-4)


def test_dask_arrays_with_chunks_of_no_voxel_of_unknown_sizes_equal_skimage(rng, ct):
    """The same failure where the chunk sizes are not known (NaN) after the selection, so that the chunks
    of no voxel cannot be found before computing."""
    image = rng.normal(0, 100, (11, 9, 10)).astype(np.float32)
    for x in (image, ct[:11, :9, :10]):
        lazy = _with_empty_chunks(x, "unknown")
        assert np.isnan(lazy.shape[0])
        rescaled = skimage.exposure.rescale_intensity(x.astype(np.float64), "image", (0.0, 1.0))
        np.testing.assert_allclose(rescale_intensity(lazy).compute(), rescaled, rtol=0, atol=12 * F32)
        equalized = skimage.exposure.equalize_hist(x, 50)
        np.testing.assert_allclose(equalize_hist(lazy, 50).compute(), equalized, rtol=0, atol=6e-8)
    # A mask cannot be matched to such an image: the message asks for what makes it work. It said that
    # the mask of shape (nan, 9, 10) did not match the image of shape (nan, 9, 10).
    lazy = _with_empty_chunks(image, "unknown")
    for call in (lambda m: equalize_hist(lazy, 50, mask=m), lambda m: zscore(lazy, m)):
        with pytest.raises(gpuimg.ParameterError, match=r"the image is a Dask array of unknown chunk sizes"):
            call(lazy > 0)
    known, mask = lazy.compute_chunk_sizes(), image > 0
    want = skimage.exposure.equalize_hist(image, 50, mask=mask)
    np.testing.assert_allclose(equalize_hist(known, 50, mask=known > 0).compute(), want, rtol=0, atol=6e-8)


def test_a_mask_given_as_a_list_or_a_file_name(rng):
    """A mask is read as every image is (_arrays.as_image): a nested list is an array, a file name a
    ParameterError saying how to read it; zscore and equalize_hist asked either for its .shape (a
    bare AttributeError). Values: the z-score's closed form and scikit-image's equalize_hist."""
    image = rng.normal(40, 200, (3, 8, 9))
    mask = image > 0
    inside = image[mask]
    want = (image - inside.mean()) / inside.std()
    np.testing.assert_allclose(zscore(image, mask.tolist()), want, rtol=1e-12, atol=1e-12)
    want = skimage.exposure.equalize_hist(image, mask=mask)
    np.testing.assert_allclose(equalize_hist(image, mask=mask.tolist()), want, rtol=0, atol=1e-12)
    for call in (lambda: zscore(image, "roi.nii.gz"), lambda: equalize_hist(image, mask="roi.nrrd")):
        with pytest.raises(gpuimg.ParameterError, match=r"mask is a file name .* gpuimg.read_image"):
            call()


def test_an_output_range_from_high_to_low_inverts_as_in_scikit_image(rng):
    """out_range=(1, 0) (bone dark, an inverted display) maps the low end to 1 and the high end to 0,
    as scikit-image's rescale_intensity does and window's docstring reads ('values given to the lower
    and the upper end'); both refused it ('min < max'). A constant image is clipped to it as NumPy
    clips to (1, 0): 0."""
    ct = rng.integers(-1024, 3071, (3, 20, 24)).astype(np.int16)
    as_float = ct.astype(np.float64)
    for in_range, out_range in (("image", (1.0, 0.0)), ((0.0, 80.0), (255.0, 0.0)), ((-200, 300), (5, -5))):
        want = skimage.exposure.rescale_intensity(as_float, in_range, out_range)
        got = rescale_intensity(ct, in_range, out_range)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-7 * abs(out_range[1] - out_range[0]))
    want = skimage.exposure.rescale_intensity(as_float, (0.0, 80.0), (1.0, 0.0))  # brain window, L 40 W 80
    np.testing.assert_allclose(window(ct, "brain", out_range=(1, 0)), want, rtol=0, atol=2e-7)
    constant = np.full((2, 3, 4), 7.0)
    want = skimage.exposure.rescale_intensity(constant, out_range=(1.0, 0.0))
    np.testing.assert_array_equal(rescale_intensity(constant, out_range=(1.0, 0.0)), want)


def test_numbers_given_as_text_are_read_as_numbers(rng):
    """A width or clip limit typed into a form or read from a CSV ("400", "0.02") is a number, as
    unsharp_mask's amount or canny's thresholds take it (_support.check_finite): window and clahe
    compared the text with 0, a bare TypeError. Their values: the window's closed form and
    scikit-image's equalize_adapthist."""
    ct = rng.integers(-1024, 3071, (3, 20, 24)).astype(np.int16)
    want = np.clip((ct.astype(np.float64) - (40.0 - 200.0)) / 400.0, 0.0, 1.0)
    np.testing.assert_allclose(window(ct, 40, "400"), want, rtol=0, atol=1e-7)  # float32 output
    mr = rng.integers(0, 4096, (32, 40)).astype(np.uint16)
    want = skimage.exposure.equalize_adapthist(mr, clip_limit=0.02)
    np.testing.assert_allclose(clahe(mr, clip_limit="0.02"), want, rtol=0, atol=6e-8)
    for call in (lambda: window(ct, 40, "-5"), lambda: clahe(mr, clip_limit="-0.1")):
        with pytest.raises(gpuimg.ParameterError, match="must be a"):
            call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: window(x, "lungs"), "window 'lungs' is unknown"),
        (lambda x: window(x, "lung", 400), "is a preset"),
        (lambda x: window(x, 40, 0), "width=0 must be a positive number"),
        (lambda x: window(x, 40, -5), "width=-5 must be a positive number"),
        (lambda x: window(x, 40), "width=None must be a positive number"),
        (lambda x: window(x, 40, 80, out_range=(1, 1)), "out_range=(1, 1) must be two different"),
        (lambda x: rescale_intensity(x, out_range=(0, np.inf)), "out_range=(0, inf) must be two finite"),
        (lambda x: rescale_intensity(x, "dtype"), "in_range='dtype'"),
        (lambda x: zscore(x, np.ones((2, 2), bool)), "differs from the image's"),
        (lambda x: zscore(x, np.zeros(x.shape, bool)), "selects no finite voxel"),
        (lambda x: laplacian_sharpen(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: unsharp_mask(x, 0.0), "sigma=0.0 must be positive"),
        (lambda x: unsharp_mask(x, sigma_mm=1.0, spacing=(1.0, 1.0)), "one per axis (3)"),
        (lambda x: unsharp_mask(x, sigma_mm=1.0), "sigma_mm=1.0 needs the voxel spacing"),
        (lambda x: equalize_hist(x, 0), "nbins=0 must be a positive integer"),
        (lambda x: equalize_hist(x, 2.5), "nbins=2.5 must be a positive integer"),
        (lambda x: equalize_hist(x, mask=np.ones((3, 3), bool)), "differs from the image's"),
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


# --- CUDA target (the GPU where there is one) ---------------------------------------------------


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
