"""Grey level co-occurrence matrix features (IBSI 3.6): the 25 GLCM features of an ROI."""

import numpy as np

from gpuimg.backend import namespace
from gpuimg.kernels.glcm import glcm_counts

from .chain import Roi
from .texture import GreyLevels, directional_features, grey_levels

#: The GLCM features by IBSI tag name (without ``cm_`` and the approach), in IBSI's order.
NAMES = (
    "joint_max",
    "joint_avg",
    "joint_var",
    "joint_entr",
    "diff_avg",
    "diff_var",
    "diff_entr",
    "sum_avg",
    "sum_var",
    "sum_entr",
    "energy",
    "contrast",
    "dissimilarity",
    "inv_diff",
    "inv_diff_norm",
    "inv_diff_mom",
    "inv_diff_mom_norm",
    "inv_var",
    "corr",
    "auto_corr",
    "clust_tend",
    "clust_shade",
    "clust_prom",
    "info_corr1",
    "info_corr2",
)


def glcm(roi: Roi) -> dict[str, float]:
    """The 25 IBSI grey level co-occurrence matrix features of an ROI, for each approach asked.

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`; its settings say the discretisation, the approaches
        (``texture_approaches``), the aggregations (``texture_aggregations``) and the neighbour
        distance (``texture_distance`` [voxels], Chebyshev).

    Returns
    -------
    dict of str to float
        Keyed ``cm_<feature>_<approach>_<aggregation>`` as IBSI spells them (``cm_joint_max_3D_avg``,
        ``cm_contrast_2_5D_comb``, ...).

    Notes
    -----
    Matrices are symmetric (a pair counts in both orders) and built on the ROI's device by
    :mod:`gpuimg.kernels.glcm`, over the grey levels present only. Information correlations use
    ``HXY1 = HXY2 = 2 HX``, which holds for any symmetric matrix. A feature IBSI leaves undefined on
    a matrix (the correlation of one grey level, whose variance is 0) is NaN.

    References
    ----------
    Zwanenburg A. et al., The Image Biomarker Standardisation Initiative, reference manual, 3.6.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, glcm, prepare
    >>> image = np.array([[[1.0, 1.0, 2.0, 2.0]]])
    >>> settings = Settings(discretisation="fbs", bin_width=1.0, texture_aggregations="merged")
    >>> features = glcm(prepare(image, image > 0, spacing=1.0, settings=settings))
    >>> round(features["cm_contrast_3D_comb"], 4), round(features["cm_joint_max_3D_comb"], 4)
    (0.3333, 0.3333)
    """
    return directional_features(grey_levels(roi), glcm_matrices, glcm_features, "cm")


def glcm_matrices(grey: GreyLevels, offsets: np.ndarray, per_slice: bool):
    """Symmetric co-occurrence counts (slices or 1, offsets, n, n) of the grey levels present."""
    ns = namespace(grey.levels)
    levels = ns.xp.ascontiguousarray(grey.levels, dtype=np.int32)
    return glcm_counts(levels, ns.xp.asarray(offsets), grey.n_present, per_slice, xp=ns.xp, target=ns.target)


def glcm_features(batch, grey: GreyLevels) -> dict:
    """The 25 features of each (non-empty, symmetric) co-occurrence matrix of ``batch`` (b, n, n).

    Every feature that is a mean of a function of ``(i, j)`` comes from one matrix product of the
    flattened probabilities with those functions; the cluster moments from the moments of
    ``i + j`` about a fixed centre (binomial expansion, which keeps the sums small); the entropies
    of ``|i - j|`` and ``i + j`` from cumulative sums over the pairs sorted by them.
    """
    xp = namespace(batch).xp
    v = xp.asarray(grey.values)
    b, n = batch.shape[0], batch.shape[1]
    p = batch.reshape(b, n * n)
    p = p / p.sum(axis=1, keepdims=True)
    i, j = v[:, None], v[None, :]
    diff, total = xp.abs(i - j), i + j
    centre = float(grey.values[0] + grey.values[-1])  # i + j about the middle of the levels present
    shifted = total - centre
    inverse_square = xp.where(diff > 0, 1.0 / xp.where(diff > 0, diff, 1.0) ** 2, 0.0)
    weights = xp.stack(
        [diff, diff * diff, 1.0 / (1.0 + diff), 1.0 / (1.0 + diff * diff), inverse_square, i * j]
        + [shifted**k for k in (2, 3, 4)]
    ).reshape(9, n * n)
    diff_avg, contrast, inv_diff, inv_diff_mom, inv_var, auto_corr, m2, m3, m4 = (p @ weights.T).T
    relative = diff.reshape(1, n * n) / xp.asarray(grey.n_levels, dtype=np.float64).reshape(-1, 1)
    marginal = p.reshape(b, n, n).sum(axis=2)  # p_i. = p_.j (symmetric)
    mu = marginal @ v
    var = marginal @ (v * v) - mu * mu
    d = 2.0 * mu - centre  # the mean of i + j, about the centre
    sum_var = m2 - d * d
    entropy = _entropy(p, xp)
    hx = _entropy(marginal, xp)
    return {
        "joint_max": p.max(axis=1),
        "joint_avg": mu,
        "joint_var": var,
        "joint_entr": entropy,
        "diff_avg": diff_avg,
        "diff_var": contrast - diff_avg**2,
        "diff_entr": _entropy(_grouped(p, diff, xp), xp),
        "sum_avg": 2.0 * mu,
        "sum_var": sum_var,
        "sum_entr": _entropy(_grouped(p, total, xp), xp),
        "energy": (p * p).sum(axis=1),
        "contrast": contrast,
        "dissimilarity": diff_avg,
        "inv_diff": inv_diff,
        "inv_diff_norm": (p / (1.0 + relative)).sum(axis=1),
        "inv_diff_mom": inv_diff_mom,
        "inv_diff_mom_norm": (p / (1.0 + relative * relative)).sum(axis=1),
        "inv_var": inv_var,
        "corr": xp.where(var > 0, (auto_corr - mu * mu) / xp.where(var > 0, var, 1.0), xp.nan),
        "auto_corr": auto_corr,
        "clust_tend": sum_var,
        "clust_shade": m3 - 3.0 * d * m2 + 2.0 * d**3,
        "clust_prom": m4 - 4.0 * d * m3 + 6.0 * d * d * m2 - 3.0 * d**4,
        "info_corr1": xp.where(hx > 0, (entropy - 2.0 * hx) / xp.where(hx > 0, hx, 1.0), xp.nan),
        "info_corr2": xp.sqrt(xp.maximum(1.0 - xp.exp(-2.0 * (2.0 * hx - entropy)), 0.0)),
    }


def _entropy(p, xp):
    """``-sum p log2 p`` along the last axis (0 log 0 = 0)."""
    return -(p * xp.log2(xp.where(p > 0, p, 1.0))).sum(axis=-1)


def _grouped(p, key, xp):
    """The sums of ``p`` (b, n * n) over the pairs of each value of ``key`` (n, n): the distribution
    of ``key``, one column per distinct value."""
    flat = key.ravel()
    order = xp.argsort(flat, kind="stable")
    ends = xp.flatnonzero(xp.diff(flat[order]) != 0)
    cumulative = xp.cumsum(p[:, order], axis=1)
    last = xp.concatenate([cumulative[:, ends], cumulative[:, -1:]], axis=1)
    return xp.diff(last, axis=1, prepend=0.0)
