"""Voxel-based GLCM maps against the NumPy reference GLCM of each voxel's neighbourhood."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_glcm import reference_features, reference_glcm
from texture_cases import ranks, reference_grey, rois
from traced import traced_peak

import gpuimg
from gpuimg.errors import ConfigError, FeatureError, MemoryBudgetError
from gpuimg.features import Settings, glcm_map, ibsi_settings, texture
from gpuimg.features.glcm import NAMES
from gpuimg.features.texture import directions
from gpuimg.kernels.glcm import glcm_windows

FEATURES = ("contrast", "joint_entr", "corr", "inv_diff_norm", "clust_prom", "info_corr2")


def window(z, y, x, radius, shape):
    return tuple(
        slice(max(c - radius, 0), min(c + radius, n - 1) + 1) for c, n in zip((z, y, x), shape, strict=True)
    )


def reference_counts(compact, n, centre, radius, offsets, merged):
    """The co-occurrence counts of the pairs inside the cube around ``centre`` (both voxels in it)."""
    cube = compact[window(*centre, radius, compact.shape)]
    counts = np.array([reference_glcm(cube, n, o) for o in offsets])
    return counts.sum(axis=0, keepdims=True) if merged else counts


def reference_map(image, mask, radius, merged, name):
    compact, present = ranks(image, mask)
    values = present - present.min() + 1  # each intensity its own bin, from the ROI's minimum
    out = np.full(image.shape, np.nan)
    for centre in itertools.product(*map(range, image.shape)):
        if not mask[centre]:
            continue
        counts = reference_counts(compact, present.size, centre, radius, directions("3d"), merged)
        features = [reference_features(c, values, values.max())[name] for c in counts if c.any()]
        if features:
            with np.errstate(invalid="ignore"):
                out[centre] = np.mean(features)
    return out


def rounding_atol(name):
    """The absolute rounding allowance of a map of feature ``name`` against the reference's (the same
    sums in another order: rounding only, 1e-12 besides rtol 1e-9).

    info_corr2 = sqrt(1 - exp(-2 x)) grows as sqrt(2 x) from x = HXY2 - HXY = 0 (a direction whose
    pairs are independent), so the entropies' rounding (below 1e-13 for at most 36 terms of at most
    6 bits) gives up to sqrt(2e-13) = 4.5e-7 there: 0.34806945340 against 0.34806945178 (a mean over
    13 directions) in a map of levels 2 and 4; 0.7062046907 against 0.7062046890 on the CUDA device
    where direction (1, -1, 0) of voxel (1, 1, 1) counts [[8, 4], [4, 2]] of levels 1 and 4
    (GPUIMG_TEST_SEED=199).
    """
    return 5e-7 if name == "info_corr2" else 1e-12


@settings(max_examples=25, deadline=None)
@given(roi=rois(max_side=4), radius=st.integers(1, 2), merged=st.booleans())
def test_cpu_map_equals_reference(roi, radius, merged):
    """Every voxel's features from the reference GLCM of its neighbourhood: random shapes, masks with
    holes, single voxels (no pair: NaN), one grey level (correlation NaN), ROIs on the edge."""
    image, mask = roi
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    aggregation = "merged" if merged else "averaged"
    with np.errstate(invalid="ignore", divide="ignore"):
        maps = glcm_map(
            image, mask, FEATURES, radius=radius, spacing=1.0, settings=chosen, aggregation=aggregation
        )
        for name in FEATURES:
            want = reference_map(image, mask, radius, merged, name)
            np.testing.assert_allclose(
                maps[name], want, rtol=1e-9, atol=rounding_atol(name), equal_nan=True, err_msg=name
            )


@pytest.mark.parametrize("radius", [np.uint8(1), np.int64(2)])
def test_a_numpy_integer_radius_is_the_same_radius(rng, radius):
    # np.uint8(1) wrapped in the window's size arithmetic (OverflowError).
    image = rng.integers(0, 6, (5, 6, 6)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[1:4, 1:5, 2:5] = True
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        got = glcm_map(image, mask, ("contrast",), radius=radius, spacing=1.0, settings=chosen)["contrast"]
        want = reference_map(image, mask, int(radius), False, "contrast")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_nan_outside_a_float_mask_moves_no_voxel(rng):
    # A float mask's NaN voxels are outside the ROI (as prepare takes them); they were counted in the
    # ROI's box, so the map of the box they widened was written from its corner: every voxel shifted.
    image = rng.integers(0, 5, (5, 6, 7)).astype(np.float64)
    roi = np.zeros(image.shape, bool)
    roi[2:5, 3:6, 3:7] = True
    mask = np.where(roi, 1.0, 0.0)
    mask[0, 0, 0] = np.nan
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        got = glcm_map(image, mask, ("contrast",), spacing=1.0, settings=chosen)["contrast"]
        want = reference_map(image, roi, 1, False, "contrast")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_a_radius_past_the_roi_reads_no_further(rng):
    # A cube wider than the ROI's box holds no more voxels than the box: its pair lists had a slot per
    # voxel of the whole (2 radius + 1)^3 cube (radius 30 took 25 s for a 6 x 8 x 8 ROI, 10**4 asked
    # 378 TiB per list: NumPy's MemoryError), for the map of a radius reaching the whole box.
    image = rng.integers(0, 5, (3, 4, 5)).astype(np.float64)
    mask = rng.random(image.shape) < 0.8
    mask[1, 2, 2] = True
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        got = glcm_map(image, mask, ("contrast",), radius=10**4, spacing=1.0, settings=chosen)["contrast"]
        want = reference_map(image, mask, 5, False, "contrast")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_pair_lists_past_the_memory_budget_are_refused(rng, monkeypatch):
    # one voxel's lists: 8 bytes per voxel of the 8^3 box and offset (53 KB), past a budget of 40 KB
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "40K")
    image = rng.integers(0, 5, (8, 8, 8)).astype(np.float64)
    with pytest.raises(MemoryBudgetError, match="radius=20"):
        glcm_map(image, np.ones(image.shape, bool), radius=20, spacing=1.0)


def test_a_fixed_bin_size_of_one_hu_over_ct_s_range(rng):
    # Five intensities from air to bone, each its own bin of 1 HU (levels 1 to 3001): the entropies of
    # |i - j|, i + j and the marginal came from dense distributions of up to 6001 bins per matrix (13
    # per voxel): a peak of 347 MiB for these 192 voxels (a batch of a 40 x 60 x 60 tumour's asked
    # 15 GB), whose pair lists take 0.5 MB. Against the NumPy reference map, and the peak of NumPy's
    # allocations (6 MiB now).
    image = rng.choice([-1000.0, -999.0, 40.0, 1200.0, 2000.0], size=(3, 8, 8))
    mask = np.ones(image.shape, bool)
    names = ("diff_entr", "sum_entr", "info_corr1", "info_corr2", "joint_var", "corr", "inv_diff_norm")
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    glcm_map(image, mask, "contrast", radius=1, spacing=1.0)  # the kernels loaded: not the batches' memory
    with np.errstate(invalid="ignore", divide="ignore"):
        maps, peak = traced_peak(
            lambda: glcm_map(image, mask, names, spacing=(2.5, 0.7, 0.7), settings=chosen)
        )
    assert peak < 32 * 2**20  # the pair lists, their entries and features
    for name in names:
        with np.errstate(invalid="ignore", divide="ignore"):
            want = reference_map(image, mask, 1, False, name)
        np.testing.assert_allclose(
            maps[name], want, rtol=1e-9, atol=rounding_atol(name), equal_nan=True, err_msg=name
        )


def test_the_work_of_a_batch_of_voxels_fits_the_matrix_budget(rng, monkeypatch):
    # Voxels were taken as many at a time as their pair lists fit MATRIX_BUDGET, but their entries'
    # indices, keys, sort and features hold some 24 bytes for each byte of the lists: a map of 32000
    # voxels peaked at 1466 MiB of NumPy allocations for a budget of 64 MiB (65 MiB now), and this one
    # at 15 budgets. Against the NumPy reference map, and the peak of NumPy's allocations.
    monkeypatch.setattr(texture, "MATRIX_BUDGET", 2**18)
    image = rng.choice([1.0, 2.0, 4.0, 7.0, 8.0], size=(4, 8, 8))
    mask = np.ones(image.shape, bool)
    mask[0, :2] = False
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    glcm_map(image, mask, "contrast", radius=1, spacing=1.0)  # the kernels loaded: not the batches' memory
    with np.errstate(invalid="ignore", divide="ignore"):
        maps, peak = traced_peak(
            lambda: glcm_map(image, mask, ("contrast", "corr"), spacing=(2.5, 0.7, 0.7), settings=chosen)
        )
    assert peak < 2 * 2**18  # was 15 budgets
    for name in ("contrast", "corr"):
        with np.errstate(invalid="ignore", divide="ignore"):
            want = reference_map(image, mask, 1, False, name)
        # same sums in another order: rounding only
        np.testing.assert_allclose(maps[name], want, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)


def test_a_voxel_s_features_do_not_depend_on_its_batch(rng, monkeypatch):
    # The entropies sum each key's probabilities over the batch's entries sorted by matrix and key: an
    # unstable sort summed them in an order set by the rest of the batch, so the maps of diff_entr and
    # sum_entr took other last bits with other batch sizes (407 of 2400 voxels of a 6 x 20 x 20 map).
    image = rng.normal(0.0, 100.0, (4, 10, 10))
    mask = np.ones(image.shape, bool)
    names = ("diff_entr", "sum_entr", "info_corr1")
    chosen = Settings(n_bins=16)
    whole = glcm_map(image, mask, names, spacing=1.0, settings=chosen, aggregation="merged")
    monkeypatch.setattr(texture, "MATRIX_BUDGET", 2**14)  # a few voxels per batch
    batched = glcm_map(image, mask, names, spacing=1.0, settings=chosen, aggregation="merged")
    assert all(whole[name].tobytes() == batched[name].tobytes() for name in names)
    # and both the reference's, itself on the fixed number of bins' levels (16, from the ROI's range)
    levels = np.minimum(np.floor(16 * (image - image.min()) / (image.max() - image.min())), 15) + 1
    for name in names:
        want = reference_map(levels, mask, 1, True, name)
        # same sums in another order: rounding only
        np.testing.assert_allclose(whole[name], want, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.cudasim
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roi=rois(max_side=4), radius=st.integers(1, 2))
def test_cuda_windows_equal_reference(on_cuda_target, roi, radius):
    """The simulated CUDA kernel (one thread per voxel) lists each neighbourhood's pairs, which
    counted both ways give the reference counts."""
    image, mask = roi
    grey = reference_grey(image, mask)
    compact = np.asarray(grey.levels)
    centres = np.argwhere(compact > 0).astype(np.int64)
    offsets = directions("3d")
    device = [on_cuda_target(a) for a in (compact, centres, offsets)]
    firsts, seconds = (gpuimg.to_numpy(a) for a in glcm_windows(*device, radius, xp=np, target="cuda"))
    counts = np.zeros((centres.shape[0], offsets.shape[0], grey.n_present, grey.n_present))
    for (c, o, _), a, b in zip(np.argwhere(firsts > 0), firsts[firsts > 0], seconds[firsts > 0], strict=True):
        counts[c, o, a - 1, b - 1] += 1
        counts[c, o, b - 1, a - 1] += 1
    assert np.all((firsts > 0) == (seconds > 0))
    want = [reference_counts(compact, grey.n_present, tuple(c), radius, offsets, False) for c in centres]
    np.testing.assert_array_equal(counts, np.array(want).reshape(counts.shape))


def test_volume_in_volume_out_and_every_feature(rng):
    image = gpuimg.Volume(rng.integers(0, 5, (4, 5, 6)).astype(float), spacing=(2.0, 1.0, 1.0))
    mask = np.ones(image.shape, bool)
    maps = glcm_map(image, mask, [f"cm_{name}" for name in NAMES], settings=Settings(n_bins=4))
    assert set(maps) == {f"cm_{name}" for name in NAMES}
    for volume in maps.values():
        assert isinstance(volume, gpuimg.Volume) and volume.spacing == image.spacing
        assert volume.shape == image.shape and np.isfinite(volume.data[1:-1, 1:-1, 1:-1]).any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": "glcm_contrast"}, "use one or more of the GLCM features"),
        ({"aggregation": "mean"}, "aggregation='mean' is unknown"),
        ({"radius": 0}, "radius=0 must be a whole number of voxels"),
        # near 2**63 the window's bounds wrapped around in the kernel (NaN maps), past it OverflowError
        ({"radius": 2**63 - 1}, "radius=9223372036854775807 must be a whole number of voxels"),
        ({"radius": 10**19}, "radius=10000000000000000000 must be"),
        ({"settings": Settings(new_spacing=(2.0, 2.0, 2.0))}, "texture maps lie on the image's grid"),
        # IBSI's configuration A is 2D and 2.5D: its maps were the 3D ones, without a word
        ({"settings": ibsi_settings("A")}, r"texture_approaches=\('2d', '2.5d'\): texture maps are 3D"),
        ({"settings": Settings(texture_approaches="2d")}, r"texture_approaches=\('2d',\): texture maps"),
    ],
)
def test_bad_input(rng, kwargs, message):
    image = rng.random((3, 4, 5))
    with pytest.raises(ConfigError, match=message):
        glcm_map(image, image > 0.5, spacing=1.0, **kwargs)


@pytest.mark.parametrize(
    ("image", "mask", "spacing", "message"),
    [
        (np.ones((4, 5)), np.ones((3, 4, 5)), 1.0, r"must be 3D \(z, y, x\); got 2D, shape \(4, 5\)"),
        (np.ones((3, 4, 5)), np.ones((3, 4, 6)), 1.0, r"the mask's shape \(3, 4, 6\) differs"),
        (np.ones((3, 4, 5)), np.ones((3, 4, 5)), None, "pass spacing="),
        (np.ones((3, 4, 5)), np.zeros((3, 4, 5)), 1.0, "the mask is empty"),
    ],
)
def test_an_image_and_mask_that_do_not_fit(image, mask, spacing, message):
    # As prepare checks them (a 2D image with a 3D mask was an IndexError from the ROI's box).
    with pytest.raises(FeatureError, match=message):
        glcm_map(image, mask, spacing=spacing)


def test_cuda_map_equals_reference(emulated_cuda, rng):
    """The map on the (real or emulated) CUDA device: a device array of the reference's values."""
    image = rng.integers(1, 5, (3, 4, 5)).astype(np.float64)
    mask = rng.random(image.shape) < 0.8
    mask[1, 1, 1] = True
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        maps = glcm_map(emulated_cuda(image), emulated_cuda(mask), FEATURES, spacing=1.0, settings=chosen)
        for name in FEATURES:
            assert not isinstance(maps[name], np.ndarray)
            want = reference_map(image, mask, 1, False, name)
            np.testing.assert_allclose(
                gpuimg.to_numpy(maps[name]),
                want,
                rtol=1e-9,
                atol=rounding_atol(name),
                equal_nan=True,
                err_msg=name,
            )


def test_a_map_of_many_grey_levels_fits_the_memory_budget(monkeypatch):
    # The entropies of |i - j| and i + j were summed densely, a (matrices x keys) array, wherever
    # 4 x keys <= n^2 (n the levels present): right for a batch of dense co-occurrence matrices, but a
    # map's 13 matrices per voxel hold a few pairs each. 150 levels over 4 x 24 x 24 voxels held some
    # 45 bytes per byte of the pair lists (WORK_PER_LIST_BYTE counts 24): 7.6 MiB of NumPy
    # allocations under GPUIMG_MAX_BYTES=4M. Now dense only where the distributions take at most a
    # quarter of the entries a matrix can have. Against the NumPy reference (the IBSI definitions,
    # averaged over the 13 directions) at a few voxels: it takes a second per voxel at 150 levels.
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "4M")
    rng = np.random.default_rng(5)
    image = rng.integers(0, 150, (4, 24, 24)).astype(np.float64)
    mask = np.ones(image.shape, bool)
    chosen = Settings(discretisation="fbs", bin_width=1.0)
    names = ("diff_entr", "sum_entr", "contrast")
    glcm_map(image[:2, :4, :4], mask[:2, :4, :4], "contrast", spacing=1.0)  # the kernels loaded
    maps, peak = traced_peak(lambda: glcm_map(image, mask, names, spacing=1.0, settings=chosen))
    assert peak < 4 * 2**20
    compact, present = ranks(image, mask)
    values = present - present.min() + 1  # each intensity its own bin, from the ROI's minimum
    for centre in [(0, 0, 0), (1, 5, 17), (3, 12, 12)]:
        counts = reference_counts(compact, present.size, centre, 1, directions("3d"), False)
        want = [reference_features(c, values, values.max()) for c in counts]  # each direction's
        for name in names:
            # sums of a few dozen pairs in another order: rounding only
            np.testing.assert_allclose(maps[name][centre], np.mean([w[name] for w in want]), rtol=1e-9)
