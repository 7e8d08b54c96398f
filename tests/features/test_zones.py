"""GLSZM and GLDZM matrices and features against a plain NumPy reference of the IBSI definitions
(IBSI 3.8, 3.9): zones from scipy.ndimage.label per grey level, distances by brute force."""

import itertools
import tracemalloc

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from texture_cases import (
    GAPPED_SETTINGS,
    gapped_slices,
    prepared,
    reference_grey,
    reference_zone_features,
    rois,
)

import gpuimg
import gpuimg.kernels.zones as zones_kernel
from gpuimg.errors import MemoryBudgetError
from gpuimg.features import Settings, extract, prepare
from gpuimg.features.gldzm import gldzm_features, gldzm_matrices
from gpuimg.features.glszm import glszm_features, glszm_matrices
from gpuimg.features.texture import GreyLevels, grey_levels

#: The features in the order of :func:`reference_zone_features`, as IBSI names them.
SZM = "sze lze lgze hgze szlge szhge lzlge lzhge glnu glnu_norm zsnu zsnu_norm z_perc gl_var zs_var zs_entr"
DZM = "sde lde lgze hgze sdlge sdhge ldlge ldhge glnu glnu_norm zdnu zdnu_norm z_perc gl_var zd_var zd_entr"


def reference_distance(mask, in_plane):
    """Each ROI voxel's smallest number of face steps (in its slice only when ``in_plane``) to a voxel
    outside the ROI or the array: the city-block distance to the nearest voxel outside the mask
    padded by one outside voxel; 0 outside the ROI."""
    distance = np.zeros(mask.shape, dtype=np.int64)
    for z, y, x in np.argwhere(mask):
        if in_plane:
            outside = np.argwhere(~np.pad(mask[z], 1))
            distance[z, y, x] = np.abs(outside - (y + 1, x + 1)).sum(axis=1).min()
        else:
            outside = np.argwhere(~np.pad(mask, 1))
            distance[z, y, x] = np.abs(outside - (z + 1, y + 1, x + 1)).sum(axis=1).min()
    return distance


def reference_zones(compact, morph_mask, in_plane):
    """``(level, size, distance)`` of every zone of an array of compact levels: scipy's components of
    each level, 26-connected, or 8-connected within a slice (``in_plane``, one slice given)."""
    structure = np.ones((3, 3, 3))
    if in_plane:
        structure[[0, 2]] = 0
    distance = reference_distance(morph_mask, in_plane)
    found = []
    for level in np.unique(compact[compact > 0]):
        labels, count = ndi.label(compact == level, structure=structure)
        for zone in range(1, count + 1):
            inside = labels == zone
            found.append((int(level), int(inside.sum()), int(distance[inside].min())))
    return found


def decode(matrix, columns):
    """The zones of one matrix as sorted (level, column value, count) and the voxels it describes."""
    entries = sorted(
        (level, int(columns[c]), int(matrix[level, c]))
        for level, c in itertools.product(range(1, matrix.shape[0]), range(matrix.shape[1]))
        if matrix[level, c]
    )
    return entries, int(matrix[0].sum())


def counted(zones, key):
    """Sorted (level, key of the zone, number of such zones)."""
    tally = {}
    for zone in zones:
        tally[zone[0], key(zone)] = tally.get((zone[0], key(zone)), 0) + 1
    return sorted((level, value, count) for (level, value), count in tally.items())


def check_matrices(grey, per_slice):
    """Both families' matrices of ``grey`` (on its device) equal the reference's, slice by slice."""
    szm = gpuimg.to_numpy(glszm_matrices(grey, per_slice))
    dzm = gpuimg.to_numpy(gldzm_matrices(grey, per_slice))
    levels = gpuimg.to_numpy(grey.levels)
    morph = gpuimg.to_numpy(grey.morph_mask)
    if per_slice:
        parts = [(levels[z : z + 1], morph[z : z + 1]) for z in range(levels.shape[0])]
    else:
        parts = [(levels, morph)]
    assert szm.shape[0] == dzm.shape[0] == len(parts)
    assert szm.shape[1] == dzm.shape[1] == grey.n_present + 1
    # each column's zone size: its voxels over its zones, over the whole batch
    sizes = szm[:, 0].sum(axis=0) // np.maximum(szm[:, 1:].sum(axis=(0, 1)), 1)
    for (compact, mask), s, d in zip(parts, szm, dzm, strict=True):
        zones = reference_zones(compact, mask, per_slice)
        voxels = sum(size for _, size, _ in zones)
        assert decode(s, sizes) == (counted(zones, lambda zone: zone[1]), voxels)
        assert decode(d, np.arange(1, d.shape[1] + 1)) == (counted(zones, lambda zone: zone[2]), voxels)


@settings(max_examples=60, deadline=None)
@given(roi=rois(), per_slice=st.booleans())
def test_cpu_matrices_equal_reference(roi, per_slice):
    """Random shapes (sides of 1 included), grey levels with gaps, masks with holes, single voxels,
    one grey level, ROIs on the volume's edge; zones per slice and in 3D."""
    image, mask = roi
    grey = prepared(image, mask)
    np.testing.assert_array_equal(grey.levels, reference_grey(image, mask).levels)
    check_matrices(grey, per_slice)


def test_cpu_distance_uses_the_morphological_mask():
    """A hole in the intensity mask (re-segmentation) is not a border: the distance is that of the
    morphological mask (IBSI 3.9)."""
    image = np.full((1, 7, 7), 5.0)
    image[0, 2:5, 2:5] = 9.0
    image[0, 3, 3] = 100.0  # removed by re-segmentation
    grey = prepared(image, np.ones(image.shape, bool), reseg_range=(0.0, 50.0), texture_approaches="2d")
    assert grey.levels[0, 3, 3] == 0 and grey.morph_mask[0, 3, 3]
    check_matrices(grey, True)
    # the outer ring of 5 at distance 1, the inner ring of 9 at distance 3 (not 1 from the hole)
    # (columns run to the largest distance a 7 x 7 slice allows, 4: the last is empty here)
    found = gpuimg.to_numpy(gldzm_matrices(grey, True))[0, 1:]
    assert found[:, :3].tolist() == [[1, 0, 0], [0, 0, 1]] and not found[:, 3:].any()


@settings(max_examples=30, deadline=None)
@given(roi=rois(max_side=6))
def test_cpu_slabs_joined_across_their_boundaries(roi):
    """Every slice its own slab: 3D zones that cross slices are joined in the boundary pass."""
    image, mask = roi
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zones_kernel, "slabs", lambda nz: nz)
        check_matrices(prepared(image, mask), False)


@pytest.mark.cudasim
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roi=rois(max_side=4), per_slice=st.booleans())
def test_cuda_matrices_equal_reference(on_cuda_target, roi, per_slice):
    """The simulated CUDA kernels (lock-free union-find, distance sweeps, atomics)."""
    check_matrices(reference_grey(*roi, on_cuda_target), per_slice)


def test_one_grey_level_in_a_large_cube():
    """A cube of one level: one zone of every voxel (3D), one per slice (2D), each at distance 1."""
    grey = prepared(np.ones((4, 9, 9)), np.ones((4, 9, 9), bool))
    assert gpuimg.to_numpy(glszm_matrices(grey, False)).tolist() == [[[324], [1]]]
    distances = gpuimg.to_numpy(gldzm_matrices(grey, True))  # a column per distance a 9 x 9 slice allows
    assert distances[..., :1].tolist() == [[[81], [1]]] * 4 and not distances[..., 1:].any()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_levels=st.integers(1, 6), n_columns=st.integers(1, 6))
def test_features_equal_ibsi_formulas(seed, n_levels, n_columns):
    """Both families' 16 features of random matrices (batches of 3) against IBSI's formulas."""
    rng = np.random.default_rng(seed)
    grey = GreyLevels(
        None, np.sort(rng.choice(np.arange(1.0, 40.0), n_levels, replace=False)), 40, None, None
    )
    sizes = np.sort(rng.choice(np.arange(1, 30), n_columns, replace=False))
    counts = rng.integers(0, 4, (3, n_levels, n_columns))
    counts[:, 0, 0] += 1  # no empty matrix
    # the layout of the matrices: row 0 the voxels of each column's zones (size x zones for a GLSZM)
    szm = np.concatenate([(counts * sizes).sum(axis=1, keepdims=True), counts], axis=1)
    got_szm = glszm_features(szm, grey)
    distances = np.arange(1, n_columns + 1)
    voxels = rng.integers(1, 5, (3, 1, n_columns)) * (counts.sum(axis=1, keepdims=True) > 0)
    dzm = np.concatenate([voxels + counts.sum(axis=1, keepdims=True), counts], axis=1)
    got_dzm = gldzm_features(dzm, grey)
    # atol: a variance of equal values is 0, which the reference's rounding gives as about 1e-30
    for b in range(3):
        want = reference_zone_features(counts[b], grey.values, sizes, (counts[b] * sizes).sum())
        np.testing.assert_allclose([got_szm[name][b] for name in SZM.split()], want, rtol=1e-12, atol=1e-24)
        want = reference_zone_features(counts[b], grey.values, distances, dzm[b, 0].sum())
        np.testing.assert_allclose([got_dzm[name][b] for name in DZM.split()], want, rtol=1e-12, atol=1e-24)


def test_features_of_pooled_matrices_with_other_columns():
    """Regression: a batch may pool matrices of separate calls (the 3D matrix with the slices'), whose
    columns stand for other zone sizes; each matrix's features are its own."""
    grey = GreyLevels(None, np.array([2.0, 5.0]), 5, None, None)
    counts = [np.array([[3, 0], [1, 2]]), np.array([[0, 2], [4, 1]])]
    sizes = [np.array([1, 4]), np.array([2, 3])]
    pairs = zip(counts, sizes, strict=True)
    batches = [np.concatenate([(c * z).sum(axis=0)[None], c])[None] for c, z in pairs]
    pooled = glszm_features(np.concatenate(batches), grey)
    for b, batch in enumerate(batches):
        alone = glszm_features(batch, grey)
        want = reference_zone_features(counts[b], grey.values, sizes[b], (counts[b] * sizes[b]).sum())
        np.testing.assert_allclose([alone[name][0] for name in SZM.split()], want, rtol=1e-12)
        np.testing.assert_allclose([pooled[name][b] for name in SZM.split()], want, rtol=1e-12)


def reference_features(zones, column, n_voxels):
    """IBSI's 16 features of the zones ``(level, size, distance)``, counted by level and by their
    ``column``-th entry (1: size, 2: distance), describing ``n_voxels`` voxels."""
    levels = sorted({zone[0] for zone in zones})
    values = sorted({zone[column] for zone in zones})
    counts = np.zeros((len(levels), len(values)))
    for zone in zones:
        counts[levels.index(zone[0]), values.index(zone[column])] += 1
    return reference_zone_features(counts, levels, values, n_voxels)


def test_every_approach_over_gapped_slices_and_resegmentation_holes(rng):
    """An ROI with a slice without voxels between two with, a slice that re-segmentation empties (its
    morphological voxels still border the GLDZM's zones), holes from re-segmentation, a slice of one
    voxel, at anisotropic spacing: 2D is the mean over the slices holding intensity voxels, 2.5D their
    zones pooled, 3D the volume's (IBSI 3.6.1), against scipy's zones and brute-force distances."""
    image, morph = gapped_slices(rng)
    chosen = Settings(**GAPPED_SETTINGS)
    got = extract(image, morph, spacing=(5.0, 0.7, 0.7), settings=chosen, families=["glszm", "gldzm"])
    inside = morph & (image <= 40.5)
    levels = np.where(inside, np.floor(image).astype(np.int64) + 1, 0)  # bins of 1 from the range's 0
    slices = [z for z in range(levels.shape[0]) if inside[z].any()]
    assert slices == [0, 1, 3, 5]
    volume = reference_zones(levels, morph, False)
    per_slice = [reference_zones(levels[z : z + 1], morph[z : z + 1], True) for z in slices]
    for prefix, names, column in (("szm", SZM, 1), ("dzm", DZM, 2)):
        want = {
            "3D": reference_features(volume, column, inside.sum()),
            "2D": np.mean(
                [
                    reference_features(found, column, inside[z].sum())
                    for z, found in zip(slices, per_slice, strict=True)
                ],
                axis=0,
            ),
            "2_5D": reference_features([zone for found in per_slice for zone in found], column, inside.sum()),
        }
        for tag, values in want.items():
            # the same sums of a few small integers in another order: rounding only; atol for a
            # variance of 0 (every zone at one distance), which the reference's mean leaves at 1e-32
            got_values = [got[f"{prefix}_{name}_{tag}"] for name in names.split()]
            np.testing.assert_allclose(got_values, values, rtol=1e-10, atol=1e-12, err_msg=tag)


def test_cuda_path_of_the_four_families_equals_the_cpu(emulated_cuda, rng):
    """GLSZM, GLDZM, NGTDM and NGLDM of an ROI on the (real or emulated) CUDA device, every approach:
    the CPU's values (kernels on the CUDA target, array glue through CuPy's API)."""
    image = rng.integers(0, 4, (3, 6, 7)).astype(np.float64)
    mask = rng.random(image.shape) < 0.85
    mask[1, 2, 3] = True
    chosen = Settings(discretisation="fbs", bin_width=1.0, texture_approaches=("2d", "2.5d", "3d"))
    families = ["glszm", "gldzm", "ngtdm", "ngldm"]
    want = extract(image, mask, spacing=1.0, settings=chosen, families=families)
    got = extract(emulated_cuda(image), emulated_cuda(mask), spacing=1.0, settings=chosen, families=families)
    assert got.keys() == want.keys()
    # the same sums in another order (atomics): equal to rounding
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-12)


def test_2048_grey_levels(rng):
    """2048 grey levels present (a fixed bin number of 2048 on noise): every level its own rows."""
    image = rng.permutation(np.arange(4096.0)).reshape(4, 32, 32)
    chosen = Settings(discretisation="fbn", n_bins=2048)
    grey = grey_levels(prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=chosen))
    assert grey.n_present == 2048
    check_matrices(grey, False)


@pytest.mark.parametrize("family", ["glszm", "gldzm"])
def test_zone_matrices_past_the_memory_budget_are_refused(rng, monkeypatch, family):
    # The 2D approach's matrices of every slice at once: 16 slices x 1025 rows x 16 distances (GLDZM)
    # or the zone sizes present (GLSZM, at least one), at least 131 kB, 4 copies of them past a budget
    # of 256 KiB; they were allocated whatever their size (1.56 GiB for 100 slices of 64 x 64 voxels
    # and 65536 bins: a MemoryError). The message names the family (it said "zone matrices"), the
    # levels and what to do.
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "256K")
    image = rng.permutation(np.arange(16 * 32 * 32.0)).reshape(16, 32, 32)
    chosen = Settings(discretisation="fbn", n_bins=1024, texture_approaches="2d")
    match = f"{family.upper()} matrices of the 1024 grey levels .*coarser bin_width"
    with pytest.raises(MemoryBudgetError, match=match):
        extract(image, np.ones(image.shape, bool), spacing=1.0, settings=chosen, families=[family])


@pytest.mark.parametrize("family", ["glszm", "gldzm"])
def test_zone_matrices_and_their_features_keep_the_documented_copies(family):
    """Regression: the budget check counts ``_MATRIX_COPIES`` (then 4) bytes for each byte of a batch
    of zone matrices, but the matrices took 4 and their features 5 more (a float64 copy, the
    probabilities, their product with a weight, log2 and its product), so a 2D and 2.5D GLDZM of many
    levels held 6x its batch. The batch of 2D matrices and its 2.5D sum are pooled into one call, as
    ``zone_batches`` yields them; tracemalloc counts every NumPy allocation above what was held."""
    from gpuimg.features import _emphasis
    from gpuimg.features.texture import _Means

    rng = np.random.default_rng(1)
    n_slices, n_levels, n_columns, n_zones = 16, 300, 500, 40_000
    level = rng.integers(1, n_levels + 1, n_zones)
    column = rng.integers(0, n_columns, n_zones)
    voxels = rng.integers(1, 9, n_zones)
    slices = rng.integers(0, n_slices, n_zones)
    grey = GreyLevels(None, np.arange(1.0, n_levels + 1.0), n_levels, None, None)
    batch_bytes = 8 * n_slices * (n_levels + 1) * n_columns  # 19 MB
    pooled_bytes = batch_bytes * (n_slices + 1) // n_slices  # with the 2.5D sum
    features = glszm_features if family == "glszm" else gldzm_features
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        batch = _emphasis.zone_matrices(
            level, column, voxels, n_levels, n_columns, n_slices, slices, np, family=family.upper()
        )
        making = tracemalloc.get_traced_memory()[1] - held
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0]
        means = _Means([("2d",), ("2.5d",)], features, grey)
        means.add(("2d",), batch)
        means.add(("2.5d",), batch.sum(axis=0)[None])
        result = means.result("x").result()
        measuring = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    # the matrices alone, then beside them their pooled copy and one product of them
    assert making < 1.1 * batch_bytes
    assert measuring < (_emphasis._MATRIX_COPIES - 1 + 0.1) * pooled_bytes
    assert len(result) == 2 * 16
