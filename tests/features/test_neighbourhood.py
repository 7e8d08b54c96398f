"""NGTDM and NGLDM matrices and features against a plain NumPy reference of the IBSI definitions
(IBSI 3.10, 3.11): loops over the voxels and their neighbours, and IBSI's formulas written out."""

import dataclasses
import itertools

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from texture_cases import (
    GAPPED_SETTINGS,
    gapped_slices,
    prepared,
    ranks,
    reference_grey,
    reference_zone_features,
    rois,
)

import gpuimg
from gpuimg.errors import MemoryBudgetError
from gpuimg.features import Settings, extract, prepare
from gpuimg.features.ngldm import ngldm, ngldm_features, ngldm_matrices
from gpuimg.features.ngtdm import ngtdm_features, ngtdm_matrices
from gpuimg.features.texture import GreyLevels, grey_levels


def neighbours(compact, z, y, x, distance, in_plane):
    """The compact levels of the ROI voxels at Chebyshev distance 1 ... ``distance`` of (z, y, x)."""
    found = []
    dzs = [0] if in_plane else range(-distance, distance + 1)
    for dz, dy, dx in itertools.product(dzs, *[range(-distance, distance + 1)] * 2):
        zz, yy, xx = z + dz, y + dy, x + dx
        inside = 0 <= zz < compact.shape[0] and 0 <= yy < compact.shape[1] and 0 <= xx < compact.shape[2]
        if (dz, dy, dx) != (0, 0, 0) and inside and compact[zz, yy, xx] > 0:
            found.append(compact[zz, yy, xx])
    return found


def reference_ngtdm(compact, values, distance, in_plane):
    """IBSI 3.10: per grey level, the voxels with a neighbour in the ROI (n_i) and the sum of their
    |grey level - mean grey level of the neighbours| (s_i)."""
    matrix = np.zeros((values.size, 2))
    for z, y, x in np.argwhere(compact > 0):
        found = neighbours(compact, z, y, x, distance, in_plane)
        if found:
            level = compact[z, y, x]
            matrix[level - 1, 0] += 1
            matrix[level - 1, 1] += abs(values[level - 1] - np.mean(values[np.array(found) - 1]))
    return matrix


def reference_ngldm(compact, values, distance, coarseness, in_plane):
    """IBSI 3.11: per grey level, the voxels with k dependent neighbours (grey levels within
    ``coarseness``) in column k."""
    side = 2 * distance + 1
    matrix = np.zeros((values.size, (side**2 if in_plane else side**3)), dtype=np.int64)
    for z, y, x in np.argwhere(compact > 0):
        level = compact[z, y, x]
        found = neighbours(compact, z, y, x, distance, in_plane)
        dependent = sum(abs(values[k - 1] - values[level - 1]) <= coarseness for k in found)
        matrix[level - 1, dependent] += 1
    return matrix


def check_matrices(grey, per_slice):
    """Both families' matrices of ``grey`` (on its device) equal the reference's, slice by slice."""
    options = grey.settings
    levels = gpuimg.to_numpy(grey.levels)
    parts = [levels[z : z + 1] for z in range(levels.shape[0])] if per_slice else [levels]
    want_t = [reference_ngtdm(p, grey.values, options.texture_distance, per_slice) for p in parts]
    want_d = [
        reference_ngldm(p, grey.values, options.texture_distance, options.ngldm_coarseness, per_slice)
        for p in parts
    ]
    # sums of a few means of small integers: exact to a few ulps
    np.testing.assert_allclose(
        gpuimg.to_numpy(ngtdm_matrices(grey, per_slice)), want_t, rtol=1e-12, atol=1e-12
    )
    # a column per dependence a voxel of the levels' box can have (the reference's further ones are 0)
    side = 2 * options.texture_distance + 1
    columns = np.prod([min(side, n) for n in (levels.shape[1:] if per_slice else levels.shape)])
    want_d = np.array(want_d)
    assert not want_d[..., columns:].any()
    np.testing.assert_array_equal(gpuimg.to_numpy(ngldm_matrices(grey, per_slice)), want_d[..., :columns])


@settings(max_examples=60, deadline=None)
@given(
    roi=rois(),
    per_slice=st.booleans(),
    distance=st.integers(1, 2),
    coarseness=st.sampled_from([0, 1, 3]),
)
def test_cpu_matrices_equal_reference(roi, per_slice, distance, coarseness):
    """Random shapes (sides of 1 included), grey levels with gaps, masks with holes, single voxels,
    one grey level, ROIs on the volume's edge; distances 1 and 2; coarseness 0, 1 and 3."""
    image, mask = roi
    grey = prepared(image, mask, texture_distance=distance, ngldm_coarseness=coarseness)
    np.testing.assert_array_equal(grey.levels, reference_grey(image, mask).levels)
    check_matrices(grey, per_slice)


def simulated(roi, device, **options):
    """The reference's grey levels on ``device`` with texture settings ``options``."""
    return dataclasses.replace(reference_grey(*roi, device), settings=Settings(**options))


@pytest.mark.cudasim
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roi=rois(max_side=4), per_slice=st.booleans(), coarseness=st.sampled_from([0, 3]))
def test_cuda_matrices_equal_reference(on_cuda_target, roi, per_slice, coarseness):
    """The simulated CUDA kernels with their shared-memory matrices (3D, few levels present)."""
    check_matrices(simulated(roi, on_cuda_target, ngldm_coarseness=coarseness), per_slice)


@pytest.mark.cudasim
def test_cuda_global_atomics_beyond_shared_memory(rng, on_cuda_target, monkeypatch):
    """More levels present than the shared matrices hold: the kernels count in global memory."""
    import gpuimg.kernels.neighbourhood as kernel

    monkeypatch.setattr(kernel, "SHARED_WORDS", 4)
    image = rng.integers(0, 9, (3, 4, 5)).astype(np.float64)
    mask = rng.random(image.shape) < 0.8
    mask[0, 0, 0] = True
    check_matrices(simulated((image, mask), on_cuda_target, texture_distance=2), False)


def reference_ngtdm_features(matrix, grey):
    """IBSI 3.10's five formulas, written out, for one NGTDM (n_i, s_i) of grey levels ``grey``."""
    n, s = matrix[:, 0], matrix[:, 1]
    n_vc = n.sum()
    p = n / n_vc
    present = [k for k in range(len(p)) if p[k] > 0]
    n_gp = len(present)
    pairs = list(itertools.product(present, present))
    contrast = sum(p[a] * p[b] * (grey[a] - grey[b]) ** 2 for a, b in pairs) / (n_gp * (n_gp - 1))
    busyness = sum(abs(grey[a] * p[a] - grey[b] * p[b]) for a, b in pairs)
    complexity = sum(abs(grey[a] - grey[b]) * (p[a] * s[a] + p[b] * s[b]) / (p[a] + p[b]) for a, b in pairs)
    strength = sum((p[a] + p[b]) * (grey[a] - grey[b]) ** 2 for a, b in pairs)
    return [
        1.0 / (p * s).sum(),
        contrast * s.sum() / n_vc,
        (p * s).sum() / busyness if busyness > 0 else np.nan,  # all i p_i equal: undefined
        complexity / n_vc,
        strength / s.sum(),
    ]


def reference_ngldm_features(counts, grey):
    """IBSI 3.11's 17 formulas for one NGLDM ``counts[i, k]`` (column k: dependence k, IBSI's
    j = k + 1) of grey levels ``grey``: the 16 it shares with the GLSZM (every ROI voxel is a
    neighbourhood, N_s = N_v), then the dependence count energy."""
    n_s = counts.sum()
    dependence = np.arange(1, counts.shape[1] + 1)
    energy = ((counts / n_s) ** 2).sum()
    return [*reference_zone_features(counts, grey, dependence, n_s), energy]


NGT = ["coarseness", "contrast", "busyness", "complexity", "strength"]
NGL = (
    "lde hde lgce hgce ldlge ldhge hdlge hdhge glnu glnu_norm dcnu dcnu_norm dc_perc gl_var dc_var "
    "dc_entr dc_energy"
).split()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_levels=st.integers(2, 6))
def test_features_equal_ibsi_formulas(seed, n_levels):
    """Both families' features of random matrices (batches of 3, at least 2 grey levels present in
    each, so that every NGTDM feature is defined) against IBSI's formulas."""
    rng = np.random.default_rng(seed)
    values = np.sort(rng.choice(np.arange(1.0, 40.0), n_levels, replace=False))
    grey = GreyLevels(None, values, 40, None, None)
    ngt = np.stack([rng.integers(0, 5, (n_levels, 2)) * [1.0, 0.37] for _ in range(3)])
    ngt[:, :2] += [1.0, 0.5]  # two levels present, some difference
    got = ngtdm_features(ngt, grey)
    ngl = rng.integers(0, 4, (3, n_levels, 9))
    ngl[:, 0, 0] += 1
    got_l = ngldm_features(ngl, grey)
    for b in range(3):
        np.testing.assert_allclose(
            [got[name][b] for name in NGT], reference_ngtdm_features(ngt[b], values), rtol=1e-12
        )
        np.testing.assert_allclose(
            [got_l[name][b] for name in NGL], reference_ngldm_features(ngl[b], values), rtol=1e-12
        )


def test_one_grey_level_leaves_ngtdm_ratios_undefined():
    """One grey level: no difference anywhere, so coarseness, contrast, busyness and strength have a
    zero denominator (NaN); complexity is 0."""
    got = ngtdm_features(np.array([[[4.0, 0.0]]]), GreyLevels(None, np.array([3.0]), 3, None, None))
    assert np.isnan([got[name][0] for name in ("coarseness", "contrast", "busyness", "strength")]).all()
    assert got["complexity"][0] == 0.0


def test_a_distance_past_the_roi_adds_no_column(rng):
    # A distance of 10**4 reaches no voxel more than one of the ROI's sides: the NGLDM had a column
    # per voxel of the (2 * 10**4 + 1)^3 cube (64 TB asked, NumPy's MemoryError).
    image = rng.integers(1, 5, (2, 3, 4)).astype(np.float64)
    mask = rng.random(image.shape) < 0.8
    mask[0, 0, 0] = True
    chosen = Settings(
        discretisation="fbs", bin_width=1.0, texture_approaches=("2d", "3d"), texture_distance=10**4
    )
    got = extract(image, mask, spacing=1.0, settings=chosen, families=["ngldm"])
    compact, present = ranks(image, mask)
    values = present - present.min() + 1  # each intensity its own bin, from the ROI's minimum
    slices = [compact[z : z + 1] for z in range(compact.shape[0]) if mask[z].any()]
    # the reference's loops at distance 4 reach every voxel of these arrays
    for tag, parts, in_plane in (("3D", [compact], False), ("2D", slices, True)):
        want = [reference_ngldm_features(reference_ngldm(p, values, 4, 0, in_plane), values) for p in parts]
        # the same sums in another order: rounding only
        np.testing.assert_allclose(
            [got[f"ngl_{name}_{tag}"] for name in NGL], np.mean(want, axis=0), rtol=1e-12, err_msg=tag
        )


def test_every_approach_over_gapped_slices_and_resegmentation_holes(rng):
    """An ROI with a slice without voxels between two with, a slice that re-segmentation empties, holes
    from re-segmentation, a slice of one voxel (no neighbour: no NGTDM entry, dependence 0), distance 2
    and coarseness 1, at anisotropic spacing: 2D is the mean over the slices with a matrix entry, 2.5D
    from their matrices summed, 3D the volume's (IBSI 3.6.1), against the loops over the neighbours."""
    image, morph = gapped_slices(rng)
    chosen = Settings(**GAPPED_SETTINGS, texture_distance=2, ngldm_coarseness=1)
    got = extract(image, morph, spacing=(5.0, 0.7, 0.7), settings=chosen, families=["ngtdm", "ngldm"])
    inside = morph & (image <= 40.5)
    levels = np.where(inside, np.floor(image).astype(np.int64) + 1, 0)  # bins of 1 from the range's 0
    values = np.arange(1.0, levels.max() + 1)  # level k is grey level k: rows of absent levels stay 0
    parts = [levels[z : z + 1] for z in range(levels.shape[0]) if inside[z].any()]
    assert len(parts) == 4
    ngt = [reference_ngtdm(p, values, 2, True) for p in parts]
    ngl = [reference_ngldm(p, values, 2, 1, True) for p in parts]
    want = {
        ("ngt", "3D"): reference_ngtdm_features(reference_ngtdm(levels, values, 2, False), values),
        ("ngt", "2D"): np.mean([reference_ngtdm_features(m, values) for m in ngt if m[:, 0].any()], axis=0),
        ("ngt", "2_5D"): reference_ngtdm_features(sum(ngt), values),
        ("ngl", "3D"): reference_ngldm_features(reference_ngldm(levels, values, 2, 1, False), values),
        ("ngl", "2D"): np.mean([reference_ngldm_features(m, values) for m in ngl], axis=0),
        ("ngl", "2_5D"): reference_ngldm_features(sum(ngl), values),
    }
    for (prefix, tag), expected in want.items():
        names = NGT if prefix == "ngt" else NGL
        # the same sums of a few means of small integers in another order: rounding only
        np.testing.assert_allclose(
            [got[f"{prefix}_{name}_{tag}"] for name in names], expected, rtol=1e-10, err_msg=f"{prefix} {tag}"
        )


def test_neighbourhood_matrices_past_the_memory_budget_are_refused(rng, monkeypatch):
    """A large distance over a large ROI: a column per voxel of each slice, refused before allocating."""
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")
    image = rng.integers(0, 1000, (4, 30, 30)).astype(np.float64)
    chosen = Settings(texture_approaches="2d", texture_distance=20)
    roi = prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=chosen)
    with pytest.raises(MemoryBudgetError, match="texture_distance=20"):
        ngldm(roi)


def test_2048_grey_levels(rng):
    """2048 grey levels present (a fixed bin number of 2048 on noise), coarseness 2."""
    image = rng.permutation(np.arange(4096.0)).reshape(4, 32, 32)
    chosen = Settings(discretisation="fbn", n_bins=2048, ngldm_coarseness=2)
    grey = grey_levels(prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=chosen))
    assert grey.n_present == 2048
    check_matrices(grey, False)


@pytest.mark.cudasim
def test_cuda_features_equal_ibsi_formulas(rng, on_cuda_target):
    """NGTDM features with complexity's pair sums on the simulated CUDA target, against IBSI's formulas."""
    values = np.array([1.0, 3.0, 4.0, 9.0])
    grey = GreyLevels(None, values, 9, None, None)
    batch = np.stack([rng.integers(0, 5, (4, 2)) * [1.0, 0.37] for _ in range(3)])
    batch[:, :2] += [1.0, 0.5]
    got = ngtdm_features(on_cuda_target(batch), grey)
    for b in range(3):
        want = reference_ngtdm_features(batch[b], values)
        np.testing.assert_allclose([float(got[name][b]) for name in NGT], want, rtol=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_ngtdm_bits_do_not_depend_on_the_number_of_threads(rng, monkeypatch):
    """The 3D NGTDM's float sums were split into a slab per Numba thread: 4 of the 5 features took
    other last bits on 1 thread than on 2 (an ROI's box of 1M voxels or more on machines of other
    core counts, or NUMBA_NUM_THREADS=1 in a job). Both against the loops over the neighbours."""
    import gpuimg.kernels.registry as registry

    monkeypatch.setattr(registry, "SERIAL_WORK", 0)  # the threads' path for this small ROI too
    image = rng.normal(0.0, 100.0, (12, 24, 24))
    roi = prepare(image, np.ones(image.shape, bool), spacing=1.0, settings=Settings(n_bins=64))
    grey = grey_levels(roi)
    threads = numba.get_num_threads()
    got = []
    try:
        for count in (1, 2):
            numba.set_num_threads(count)
            got.append(ngtdm_features(ngtdm_matrices(grey, False), grey))
    finally:
        numba.set_num_threads(threads)
    assert [got[0][name].tobytes() for name in NGT] == [got[1][name].tobytes() for name in NGT]
    levels = gpuimg.to_numpy(grey.levels)
    want = reference_ngtdm_features(reference_ngtdm(levels, grey.values, 1, False), grey.values)
    # sums of a few means of small integers in another order: rounding only
    np.testing.assert_allclose([got[0][name][0] for name in NGT], want, rtol=1e-10)
