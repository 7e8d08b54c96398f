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
    """The 25 features of each (non-empty, symmetric) co-occurrence matrix of ``batch`` (b, n, n)."""
    xp = namespace(batch).xp
    v = xp.asarray(grey.values)
    n_levels = grey.n_levels
    p = batch / batch.sum(axis=(1, 2), keepdims=True)
    i, j = v[:, None], v[None, :]
    marginal = p.sum(axis=2)  # p_i. = p_.j (symmetric)
    mu = marginal @ v
    var = marginal @ (v * v) - mu * mu
    diff, total = xp.abs(i - j), i + j

    def mean(weights):
        return (p * weights).sum(axis=(1, 2))

    diff_avg, sum_avg = mean(diff), 2.0 * mu
    centred = total[None] - 2.0 * mu[:, None, None]
    auto_corr = mean(i * j)
    entropy = _entropy(p, axis=(1, 2), xp=xp)
    hx = _entropy(marginal, axis=1, xp=xp)
    safe_var = xp.where(var > 0, var, 1.0)
    safe_hx = xp.where(hx > 0, hx, 1.0)
    inverse_square = xp.where(diff > 0, 1.0 / xp.where(diff > 0, diff, 1.0) ** 2, 0.0)
    return {
        "joint_max": p.max(axis=(1, 2)),
        "joint_avg": mu,
        "joint_var": var,
        "joint_entr": entropy,
        "diff_avg": diff_avg,
        "diff_var": mean(diff * diff) - diff_avg**2,
        "diff_entr": _distribution_entropy(p, diff, xp),
        "sum_avg": sum_avg,
        "sum_var": mean(total * total) - sum_avg**2,
        "sum_entr": _distribution_entropy(p, total, xp),
        "energy": (p * p).sum(axis=(1, 2)),
        "contrast": mean(diff * diff),
        "dissimilarity": diff_avg,
        "inv_diff": mean(1.0 / (1.0 + diff)),
        "inv_diff_norm": mean(1.0 / (1.0 + diff / n_levels)),
        "inv_diff_mom": mean(1.0 / (1.0 + diff * diff)),
        "inv_diff_mom_norm": mean(1.0 / (1.0 + (diff / n_levels) ** 2)),
        "inv_var": mean(inverse_square),
        "corr": xp.where(var > 0, (auto_corr - mu * mu) / safe_var, xp.nan),
        "auto_corr": auto_corr,
        "clust_tend": (p * centred**2).sum(axis=(1, 2)),
        "clust_shade": (p * centred**3).sum(axis=(1, 2)),
        "clust_prom": (p * centred**4).sum(axis=(1, 2)),
        "info_corr1": xp.where(hx > 0, (entropy - 2.0 * hx) / safe_hx, xp.nan),
        "info_corr2": xp.sqrt(xp.maximum(1.0 - xp.exp(-2.0 * (2.0 * hx - entropy)), 0.0)),
    }


def _entropy(p, axis, xp):
    """``-sum p log2 p`` over ``axis`` (0 log 0 = 0)."""
    return -(p * xp.log2(xp.where(p > 0, p, 1.0))).sum(axis=axis)


def _distribution_entropy(p, key, xp):
    """The entropy of the distribution of ``key`` (an integer-valued (n, n) array) under each ``p``."""
    b = p.shape[0]
    keys = key.astype(np.int64)
    width = int(keys.max()) + 1 if keys.size else 1
    index = (xp.arange(b, dtype=np.int64)[:, None, None] * width + keys[None]).ravel()
    sums = xp.bincount(index, weights=p.ravel(), minlength=b * width).reshape(b, width)
    return _entropy(sums, axis=1, xp=xp)
