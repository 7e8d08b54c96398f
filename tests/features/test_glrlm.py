"""GLRLM matrices and features against a plain NumPy reference of the IBSI definitions (IBSI 3.7)."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from texture_cases import (
    GAPPED_SETTINGS,
    gapped_slices,
    prepared,
    reference_directional,
    reference_grey,
    rois,
)

import gpuimg
from gpuimg.features import Settings, extract
from gpuimg.features.glrlm import NAMES, glrlm_features, glrlm_matrices
from gpuimg.features.texture import GreyLevels, directions


def reference_glrlm(compact, n, direction, max_run):
    """IBSI's run length counts: follow ``direction`` from every voxel of the ROI and count each
    maximal line of one grey level once, from the voxel whose predecessor is not of that level."""
    counts = np.zeros((n, max_run))
    shape = np.array(compact.shape)

    def level(p):
        return compact[tuple(p)] if np.all(p >= 0) and np.all(p < shape) else 0

    step = np.array(direction)
    for voxel in itertools.product(*map(range, compact.shape)):
        p = np.array(voxel)
        a = level(p)
        if a == 0 or level(p - step) == a:
            continue
        length = 1
        while level(p + length * step) == a:
            length += 1
        counts[a - 1, length - 1] += 1
    return counts


def reference_matrices(grey, offsets, per_slice):
    """On the reference's compact levels (already checked against the chain's)."""
    compact = np.asarray(grey.levels)
    n = grey.values.size
    if not per_slice:
        return np.array([[reference_glrlm(compact, n, o, max(compact.shape)) for o in offsets]])
    return np.array(
        [
            [reference_glrlm(compact[z : z + 1], n, o, max(compact.shape[1:])) for o in offsets]
            for z in range(compact.shape[0])
        ]
    )


def check_matrices(image, mask, approach, device=None):
    reference = reference_grey(image, mask)
    if device is None:
        grey = prepared(image, mask)
        np.testing.assert_array_equal(grey.levels, reference.levels)
    else:
        grey = reference_grey(image, mask, device)
    offsets = directions(approach)
    got = gpuimg.to_numpy(glrlm_matrices(grey, offsets, approach != "3d"))
    np.testing.assert_array_equal(got, reference_matrices(reference, offsets, approach != "3d"))


@settings(max_examples=80, deadline=None)
@given(roi=rois(max_side=6), approach=st.sampled_from(["2d", "3d"]))
def test_cpu_matrices_equal_reference(roi, approach):
    """Random shapes (sides of 1 included), grey levels with gaps, masks with holes, single voxels,
    one grey level, ROIs on the volume's edge."""
    check_matrices(*roi, approach)


@pytest.mark.cudasim
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roi=rois(max_side=4), approach=st.sampled_from(["2d", "3d"]))
def test_cuda_matrices_equal_reference(on_cuda_target, roi, approach):
    """The simulated CUDA kernel with its shared-memory histogram."""
    check_matrices(*roi, approach, on_cuda_target)


@pytest.mark.cudasim
def test_cuda_global_atomics_beyond_shared_memory(rng, on_cuda_target, monkeypatch):
    """A matrix larger than the shared histogram: the kernel counts in global memory."""
    import gpuimg.kernels.glrlm as kernel

    monkeypatch.setattr(kernel, "SHARED_BINS", 4)
    image = rng.integers(0, 3, (3, 4, 5)).astype(np.float64)
    mask = rng.random(image.shape) < 0.8
    mask[0, 0, 0] = True
    check_matrices(image, mask, "3d", on_cuda_target)


def test_a_distance_above_one_still_follows_neighbours():
    """Runs have no distance: offsets of distance 2 give the runs of their unit directions."""
    image = np.array([[[1.0, 1.0, 2.0, 1.0, 1.0, 1.0]]])
    grey = prepared(image, image > 0)
    got = glrlm_matrices(grey, directions("2d", 2), True)
    np.testing.assert_array_equal(got, glrlm_matrices(grey, directions("2d", 1), True))
    assert got[0, 0, 0, 1] == 1 and got[0, 0, 0, 2] == 1 and got[0, 0, 1, 0] == 1


def reference_features(counts, levels):
    """The 16 IBSI GLRLM features of one run length matrix, as the manual writes them."""
    n_s = counts.sum()
    i = levels[:, None]
    j = np.arange(1, counts.shape[1] + 1)[None, :]
    n_v = (j * counts).sum()
    r_i, r_j = counts.sum(axis=1), counts.sum(axis=0)
    p = counts / n_s
    mu_i, mu_j = (i * p).sum(), (j * p).sum()
    nonzero = p[p > 0]
    return {
        "sre": (r_j / j[0] ** 2).sum() / n_s,
        "lre": (r_j * j[0] ** 2).sum() / n_s,
        "lgre": (r_i / levels**2).sum() / n_s,
        "hgre": (r_i * levels**2).sum() / n_s,
        "srlge": (counts / (i**2 * j**2)).sum() / n_s,
        "srhge": (counts * i**2 / j**2).sum() / n_s,
        "lrlge": (counts * j**2 / i**2).sum() / n_s,
        "lrhge": (counts * i**2 * j**2).sum() / n_s,
        "glnu": (r_i**2).sum() / n_s,
        "glnu_norm": (r_i**2).sum() / n_s**2,
        "rlnu": (r_j**2).sum() / n_s,
        "rlnu_norm": (r_j**2).sum() / n_s**2,
        "r_perc": n_s / n_v,
        "gl_var": ((i - mu_i) ** 2 * p).sum(),
        "rl_var": ((j - mu_j) ** 2 * p).sum(),
        "rl_entr": -(nonzero * np.log2(nonzero)).sum(),
    }


@pytest.mark.parametrize("n_present", [1, 3, 6])
def test_features_equal_reference(rng, n_present):
    """Random run length matrices over levels with gaps, several at once (a batch)."""
    levels = np.sort(rng.choice(np.arange(1, 20), n_present, replace=False)).astype(np.float64)
    counts = rng.integers(0, 5, (3, n_present, 7)).astype(np.float64)
    counts[:, 0, 0] += 1.0
    grey = GreyLevels(None, levels, 20, None, None)
    got = glrlm_features(counts, grey)
    assert tuple(got) == NAMES
    for b in range(counts.shape[0]):
        want = reference_features(counts[b], levels)
        for name in NAMES:
            # same sums in another order: rounding only
            np.testing.assert_allclose(got[name][b], want[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_2048_grey_levels(rng):
    """2048 grey levels present (every voxel its own): every run has length 1."""
    image = rng.permutation(2048).reshape(8, 16, 16).astype(np.float64)
    grey = prepared(image, np.ones(image.shape, bool))
    got = glrlm_features(glrlm_matrices(grey, directions("3d"), False)[0], grey)
    np.testing.assert_allclose(got["sre"], 1.0)
    np.testing.assert_allclose(got["r_perc"], 1.0)
    np.testing.assert_allclose(got["glnu"], 1.0)
    np.testing.assert_allclose(got["hgre"], np.mean(np.arange(1, 2049) ** 2.0), rtol=1e-12)


def test_variances_of_far_grey_levels_and_of_one_level():
    """gl_var and rl_var were E[x^2] - E[x]^2: grey levels 60000 and 60001 (a fixed bin size of 1 far
    above the lower bound) were 1.5e-6 off, relatively, and one grey level had a variance of about 1e-17,
    not IBSI's 0 (its run fractions summed to 1 only up to rounding). Against the plain NumPy
    definition about the mean, and the closed form 0 for one level and for one run length."""
    levels = np.array([60000.0, 60001.0])
    counts = np.array(
        [
            [[3.0, 1.0, 0.0], [2.0, 0.0, 1.0]],
            [[5.0, 2.0, 1.0], [0.0, 0.0, 0.0]],  # one grey level
            [[0.0, 7.0, 0.0], [0.0, 3.0, 0.0]],  # one run length
        ]
    )
    got = glrlm_features(counts, GreyLevels(None, levels, 60001, None, None))
    want = reference_features(counts[0], levels)
    # sums of a few products of small counts and levels: a few ulps of the variance
    np.testing.assert_allclose(got["gl_var"][0], want["gl_var"], rtol=1e-12)
    np.testing.assert_allclose(got["rl_var"][0], want["rl_var"], rtol=1e-12)
    assert got["gl_var"][1] == 0.0 and got["rl_var"][2] == 0.0


def test_every_approach_and_aggregation_over_gapped_slices(rng):
    """A slice without ROI voxels between two with, one that re-segmentation empties, holes, a slice of
    one voxel (a run of 1 in each direction), at anisotropic spacing, and a distance of 2 (which runs
    do not use): each of the six tags against the reference's matrices aggregated as IBSI 3.6.1 says."""
    image, morph = gapped_slices(rng)
    chosen = Settings(**GAPPED_SETTINGS, texture_distance=2)
    got = extract(image, morph, spacing=(5.0, 0.7, 0.7), settings=chosen, families=["glrlm"])

    def matrix(compact, n, step):
        return reference_glrlm(compact, n, np.sign(step), max(image.shape))

    def features(counts, levels):
        found = reference_features(counts, levels)
        return [found[name] for name in NAMES]

    for tag, want in reference_directional(image, morph, matrix, features).items():
        # the same sums of a few small integers in another order: rounding only
        np.testing.assert_allclose([got[f"rlm_{name}_{tag}"] for name in NAMES], want, rtol=1e-9, err_msg=tag)
