"""GLCM matrices and features against a plain NumPy reference of the IBSI definitions (IBSI 3.6)."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from texture_cases import (
    GAPPED_SETTINGS,
    gapped_slices,
    prepared,
    ranks,
    reference_directional,
    reference_grey,
    rois,
)

import gpuimg
from gpuimg.features import Settings, extract, glcm, prepare
from gpuimg.features.glcm import NAMES, glcm_features, glcm_matrices
from gpuimg.features.texture import GreyLevels, directions


def reference_glcm(compact, n, offset):
    """IBSI's symmetric co-occurrence counts: every voxel of the ROI and its neighbour at ``offset``,
    both in the ROI, count once as (a, b) and once as (b, a)."""
    counts = np.zeros((n, n))
    for z, y, x in itertools.product(*map(range, compact.shape)):
        nz, ny, nx = z + offset[0], y + offset[1], x + offset[2]
        if not (0 <= nz < compact.shape[0] and 0 <= ny < compact.shape[1] and 0 <= nx < compact.shape[2]):
            continue
        a, b = compact[z, y, x], compact[nz, ny, nx]
        if a > 0 and b > 0:
            counts[a - 1, b - 1] += 1
            counts[b - 1, a - 1] += 1
    return counts


def reference_matrices(image, mask, offsets, per_slice):
    compact, present = ranks(image, mask)
    n = present.size
    if not per_slice:
        return np.array([[reference_glcm(compact, n, o) for o in offsets]])
    # only slices holding ROI voxels, as GreyLevels cuts the volume to the ROI's box
    slices = [z for z in range(compact.shape[0]) if mask[z].any()]
    slices = range(slices[0], slices[-1] + 1)
    return np.array([[reference_glcm(compact[z : z + 1], n, o) for o in offsets] for z in slices])


def check_matrices(image, mask, approach, distance, device=None):
    """The matrices of the processing chain's grey levels on the CPU, or of the reference's on the
    simulated CUDA target (``device``), equal the reference's."""
    if device is None:
        grey = prepared(image, mask)
        np.testing.assert_array_equal(grey.levels, reference_grey(image, mask).levels)
    else:
        grey = reference_grey(image, mask, device)
    offsets = directions(approach, distance)
    got = gpuimg.to_numpy(glcm_matrices(grey, offsets, approach != "3d"))
    want = reference_matrices(image, mask, offsets, approach != "3d")
    np.testing.assert_array_equal(got, want)


@settings(max_examples=80, deadline=None)
@given(roi=rois(), approach=st.sampled_from(["2d", "3d"]), distance=st.integers(1, 2))
def test_cpu_matrices_equal_reference(roi, approach, distance):
    """Random shapes (sides of 1 included), grey levels with gaps, masks with holes, single voxels,
    one grey level, ROIs on the volume's edge; distances 1 and 2."""
    check_matrices(*roi, approach, distance)


@pytest.mark.cudasim
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roi=rois(max_side=4), approach=st.sampled_from(["2d", "3d"]))
def test_cuda_matrices_equal_reference(on_cuda_target, roi, approach):
    """The simulated CUDA kernel with its shared-memory histogram (few levels present)."""
    check_matrices(*roi, approach, 1, on_cuda_target)


@pytest.mark.cudasim
def test_cuda_global_atomics_beyond_shared_memory(rng, on_cuda_target, monkeypatch):
    """More levels present than the shared histogram holds: the kernel counts in global memory."""
    import gpuimg.kernels.glcm as kernel

    monkeypatch.setattr(kernel, "SHARED_BINS", 4)
    image = rng.integers(0, 9, (3, 4, 5)).astype(np.float64)
    mask = rng.random(image.shape) < 0.8
    mask[0, 0, 0] = True
    check_matrices(image, mask, "3d", 1, on_cuda_target)


def reference_features(counts, levels, n_levels):
    """The 25 IBSI GLCM features of one symmetric count matrix, written out as the manual defines them."""
    p = counts / counts.sum()
    i, j = np.meshgrid(levels, levels, indexing="ij")
    p_i, p_j = p.sum(axis=1), p.sum(axis=0)
    mu_i, mu_j = (levels * p_i).sum(), (levels * p_j).sum()
    sd_i = np.sqrt(((levels - mu_i) ** 2 * p_i).sum())
    sd_j = np.sqrt(((levels - mu_j) ** 2 * p_j).sum())
    diffs = {}
    sums = {}
    for a, b in itertools.product(range(levels.size), repeat=2):
        k = abs(levels[a] - levels[b])
        diffs[k] = diffs.get(k, 0.0) + p[a, b]
        s = levels[a] + levels[b]
        sums[s] = sums.get(s, 0.0) + p[a, b]

    def entropy(q):
        q = np.asarray(q, dtype=float)
        q = q[q > 0]
        return -(q * np.log2(q)).sum()

    dk, dp = np.array(list(diffs)), np.array(list(diffs.values()))
    sk, sp = np.array(list(sums)), np.array(list(sums.values()))
    diff_avg, sum_avg, mu = (dk * dp).sum(), (sk * sp).sum(), (i * p).sum()
    hxy = entropy(p.ravel())
    hx = entropy(p_i)
    outer = np.outer(p_i, p_j)
    hxy1 = -(p[p > 0] * np.log2(outer[p > 0])).sum()
    hxy2 = entropy(outer.ravel())
    return {
        "joint_max": p.max(),
        "joint_avg": mu,
        "joint_var": ((i - mu) ** 2 * p).sum(),
        "joint_entr": hxy,
        "diff_avg": diff_avg,
        "diff_var": ((dk - diff_avg) ** 2 * dp).sum(),
        "diff_entr": entropy(dp),
        "sum_avg": sum_avg,
        "sum_var": ((sk - sum_avg) ** 2 * sp).sum(),
        "sum_entr": entropy(sp),
        "energy": (p**2).sum(),
        "contrast": ((i - j) ** 2 * p).sum(),
        "dissimilarity": (np.abs(i - j) * p).sum(),
        "inv_diff": (p / (1 + np.abs(i - j))).sum(),
        "inv_diff_norm": (p / (1 + np.abs(i - j) / n_levels)).sum(),
        "inv_diff_mom": (p / (1 + (i - j) ** 2)).sum(),
        "inv_diff_mom_norm": (p / (1 + (i - j) ** 2 / n_levels**2)).sum(),
        "inv_var": sum(p[a, b] / (i[a, b] - j[a, b]) ** 2 for a, b in zip(*np.nonzero(i != j), strict=True)),
        "corr": ((i - mu_i) * (j - mu_j) * p).sum() / (sd_i * sd_j),
        "auto_corr": (i * j * p).sum(),
        "clust_tend": ((i + j - mu_i - mu_j) ** 2 * p).sum(),
        "clust_shade": ((i + j - mu_i - mu_j) ** 3 * p).sum(),
        "clust_prom": ((i + j - mu_i - mu_j) ** 4 * p).sum(),
        "info_corr1": (hxy - hxy1) / hx,
        # HXY2 - HXY is a mutual information, never negative: rounding made it about -1e-16 (NaN)
        # where the pairs are independent (a matrix that is the outer product of its marginals).
        "info_corr2": np.sqrt(1 - np.exp(-2 * max(hxy2 - hxy, 0.0))),
    }


def assert_features_equal(got, b, want, levels):
    """Matrix ``b``'s features equal the reference's ``want``: the same sums in another order, so
    rounding only, 1e-9 relative and 1e-12 absolute; for the cluster shade and prominence 1e-12 of
    the terms they are expanded from.

    glcm_features takes those two from the moments of i + j about the middle of the levels present:
    m3 - 3 d m2 + 2 d^3 and m4 - 4 d m3 + 6 d^2 m2 - 3 d^4, where |i + j - centre| and |d| are at
    most the levels' spread S, so terms adding up to 6 S^3 and 14 S^4 round whatever the value. A
    distribution of i + j symmetric about its mean has a cluster shade of 0, which came out as
    -1.03e-12 (levels 6 and 17, counts [[4, 1], [1, 4]]: 3.5 eps S^3; GPUIMG_TEST_SEED=120). Over
    the 36000 matrices of seeds 0-2999 of test_features_equal_reference the errors stay below
    90 eps S^3 and 60 eps S^4, 1/300 of this allowance.
    """
    spread = levels[-1] - levels[0]
    terms = {"clust_shade": 6 * spread**3, "clust_prom": 14 * spread**4}
    for name in NAMES:
        atol = 1e-12 * terms.get(name, 1.0)
        np.testing.assert_allclose(got[name][b], want[name], rtol=1e-9, atol=atol, err_msg=name)


@pytest.mark.parametrize("n_present", [2, 3, 6])
def test_features_equal_reference(rng, n_present):
    """Random symmetric matrices over levels with gaps, several at once (a batch)."""
    levels = np.sort(rng.choice(np.arange(1, 20), n_present, replace=False)).astype(np.float64)
    counts = rng.integers(0, 6, (4, n_present, n_present)).astype(np.float64)
    counts = counts + counts.transpose(0, 2, 1)
    counts[:, 0, 1] = counts[:, 1, 0] = 1.0  # at least two levels, so the correlation is defined
    grey = GreyLevels(None, levels, 20, None, None)
    got = glcm_features(counts, grey)
    assert tuple(got) == NAMES
    for b in range(counts.shape[0]):
        assert_features_equal(got, b, reference_features(counts[b], levels, 20), levels)


def test_one_grey_level_has_no_correlation(rng):
    """One grey level: the variance is 0, so the correlations are undefined (NaN), the rest is not."""
    grey = GreyLevels(None, np.array([3.0]), 5, None, None)
    got = glcm_features(np.array([[[8.0]]]), grey)
    assert np.isnan(got["corr"][0]) and np.isnan(got["info_corr1"][0])
    assert got["joint_max"][0] == 1.0 and got["joint_avg"][0] == 3.0 and got["contrast"][0] == 0.0


def test_2048_grey_levels(rng):
    """2048 grey levels present (every voxel its own): matrices far beyond shared memory and the
    framework's budget for one batch; features from the pairs themselves, without a matrix."""
    image = rng.permutation(2048).reshape(8, 16, 16).astype(np.float64)
    grey = prepared(image, np.ones(image.shape, bool))
    assert grey.n_present == 2048
    got = glcm_features(glcm_matrices(grey, directions("3d")[:3], False)[0], grey)
    contrasts = []
    for o, offset in enumerate(directions("3d")):
        a = image[tuple(slice(max(0, -d), image.shape[k] - max(0, d)) for k, d in enumerate(offset))]
        b = image[tuple(slice(max(0, d), image.shape[k] - max(0, -d)) for k, d in enumerate(offset))]
        pairs = np.concatenate([a.ravel(), b.ravel()]), np.concatenate([b.ravel(), a.ravel()])
        contrasts.append(np.mean((pairs[0] - pairs[1]) ** 2))
        if o < 3:  # levels 1 .. 2048 (the ROI's minimum is bin 1); every (i, j) pair is distinct
            np.testing.assert_allclose(got["contrast"][o], contrasts[-1], rtol=1e-9)
            np.testing.assert_allclose(got["joint_avg"][o], np.mean(pairs[0]) + 1, rtol=1e-12)
            np.testing.assert_allclose(got["energy"][o], 1.0 / pairs[0].size, rtol=1e-12)
            np.testing.assert_allclose(got["joint_entr"][o], np.log2(pairs[0].size), rtol=1e-12)
    # through the framework, which holds a few of the 32 MB matrices at a time
    features = glcm(prepare(image, np.ones(image.shape), spacing=1.0, settings=grey.settings))
    np.testing.assert_allclose(features["cm_contrast_3D_avg"], np.mean(contrasts), rtol=1e-9)


def test_variance_and_correlation_of_far_grey_levels():
    """joint_var was E[v^2] - mu^2 and corr (E[ij] - mu^2) / var: grey levels 60000 to 60003 (a fixed
    bin size of 1 far above the lower bound) made them 3e-7 off, relatively. Against the plain NumPy
    definitions about the means."""
    levels = np.array([60000.0, 60001.0, 60003.0])
    counts = np.array([[[4.0, 3.0, 1.0], [3.0, 2.0, 0.0], [1.0, 0.0, 6.0]]])
    got = glcm_features(counts, GreyLevels(None, levels, 60003, None, None))
    want = reference_features(counts[0], levels, 60003)
    for name in ("joint_var", "corr"):
        # sums of a few products of small counts and levels: a few ulps
        np.testing.assert_allclose(got[name][0], want[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("distance", [1, 2])
def test_every_approach_and_aggregation_over_gapped_slices(rng, distance):
    """A slice without ROI voxels between two with, one that re-segmentation empties, holes, a slice of
    one voxel (no pair: left out of the 2D means), at anisotropic spacing and distances 1 and 2: each
    of the six tags against the reference's matrices aggregated as IBSI 3.6.1 says."""
    image, morph = gapped_slices(rng)
    chosen = Settings(**GAPPED_SETTINGS, texture_distance=distance)
    got = extract(image, morph, spacing=(5.0, 0.7, 0.7), settings=chosen, families=["glcm"])

    def features(counts, levels):
        found = reference_features(counts, levels, levels.max())
        return [found[name] for name in NAMES]

    for tag, want in reference_directional(image, morph, reference_glcm, features, distance).items():
        # the same sums of a few small integers in another order: rounding only
        np.testing.assert_allclose([got[f"cm_{name}_{tag}"] for name in NAMES], want, rtol=1e-9, err_msg=tag)


def test_features_of_many_levels_equal_reference(rng):
    """30 grey levels present (with gaps): the distributions of |i - j| and i + j have few keys for
    the matrices' cells (4 x width <= n^2), so their entropies are summed densely, not from the sorted
    entries; every feature of every matrix of a batch against the written-out IBSI definitions."""
    levels = np.sort(rng.choice(np.arange(1, 50), 30, replace=False)).astype(np.float64)
    counts = rng.integers(0, 3, (3, 30, 30)).astype(np.float64)
    counts = counts + counts.transpose(0, 2, 1)
    counts[1] = 0.0  # an empty matrix in the batch: its neighbours' values do not depend on it
    grey = GreyLevels(None, levels, 49, None, None)
    got = glcm_features(counts.copy(), grey)
    for b in (0, 2):
        assert_features_equal(got, b, reference_features(counts[b], levels, 49), levels)
