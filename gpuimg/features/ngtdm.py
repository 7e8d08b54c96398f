"""Neighbourhood grey tone difference matrix (NGTDM) features, IBSI 3.10."""

import numpy as np

from gpuimg.backend import namespace
from gpuimg.kernels import neighbourhood

from ._scalars import Deferred
from .chain import Roi, check_roi
from .texture import GreyLevels, grey_levels, zone_features


def ngtdm_matrices(grey: GreyLevels, per_slice: bool):
    """The NGTDMs of the grey levels: one per slice (in-plane neighbours) or one of the volume.

    Returns
    -------
    float64 array (slices or 1, levels present, 2), on the levels' device
        ``[..., k - 1, 0]``: ``n_i``, the voxels of level index ``k`` with at least one neighbour
        in the ROI; ``[..., k - 1, 1]``: ``s_i``, the sum of their ``|i - mean of the neighbours|``.
        16 bytes per level present.
    """
    ns = namespace(grey.levels)
    xp = ns.xp
    return neighbourhood.ngtdm(
        xp.ascontiguousarray(grey.levels),
        xp.asarray(grey.values),
        distance=grey.settings.texture_distance,
        per_slice=per_slice,
        target=ns.target,
        xp=xp,
    )


def ngtdm_features(batch, grey: GreyLevels) -> dict:
    """The 5 NGTDM features of each matrix of a batch (IBSI 3.10), by IBSI name without prefix.

    IBSI's double sums over pairs of grey levels present (``p_i, p_j > 0``) are computed in
    ``O(levels)`` where they separate: contrast's ``sum p_i p_j (i - j)^2 = 2 sum p_i (i - mean)^2``,
    strength's ``sum (p_i + p_j)(i - j)^2 = 2 sum_i p_i (N_gp (i - c)^2 + sum_j (j - c)^2)`` (``c``
    the mean of the levels present), busyness's ``sum |i p_i - j p_j|`` from the sorted ``i p_i``;
    complexity's, which does not, by a kernel (one row of pairs per task). A feature
    whose denominator is 0 is NaN: coarseness and strength without any grey level difference,
    contrast and busyness with one grey level.
    """
    ns = namespace(batch)
    xp = ns.xp
    i = xp.asarray(grey.values)[None, :]
    n = batch[:, :, 0]
    s = batch[:, :, 1]
    n_vc = xp.maximum(n.sum(axis=1), 1.0)
    p = n / n_vc[:, None]
    present = p > 0
    n_gp = present.sum(axis=1).astype(np.float64)
    ps = (p * s).sum(axis=1)
    s_total = s.sum(axis=1)
    mean = (p * i).sum(axis=1, keepdims=True)
    contrast = 2.0 * (p * (i - mean) ** 2).sum(axis=1)
    centre = xp.where(present, i, 0.0).sum(axis=1, keepdims=True) / xp.maximum(n_gp, 1.0)[:, None]
    spread = xp.where(present, (i - centre) ** 2, 0.0)
    strength = 2.0 * (p * (n_gp[:, None] * spread + spread.sum(axis=1, keepdims=True))).sum(axis=1)
    ranked = xp.sort(xp.where(present, i * p, xp.inf), axis=1)  # the present ones first, increasing
    rank = xp.arange(1, ranked.shape[1] + 1)[None, :]
    weight = 2.0 * rank - n_gp[:, None] - 1.0
    busyness = 2.0 * xp.where(rank <= n_gp[:, None], ranked * weight, 0.0).sum(axis=1)
    complexity = neighbourhood.ngtdm_complexity(
        xp.ascontiguousarray(p),
        xp.ascontiguousarray(p * s),
        xp.ascontiguousarray(i[0]),
        target=ns.target,
        xp=xp,
    )

    def ratio(a, b):  # NaN where IBSI's denominator is 0 (one grey level, no difference at all)
        return xp.where(b > 0, a / xp.where(b > 0, b, 1.0), xp.nan)

    return {
        "coarseness": ratio(1.0, ps),
        "contrast": ratio(contrast, n_gp * (n_gp - 1.0)) * s_total / n_vc,
        "busyness": ratio(ps, busyness),
        "complexity": complexity / n_vc,
        "strength": ratio(strength, s_total),
    }


def ngtdm(roi: Roi) -> dict[str, float]:
    """NGTDM features of an ROI (IBSI 3.10) for the approaches its settings ask for.

    Each ROI voxel is compared with the mean grey level of its neighbours in the ROI within
    Chebyshev distance ``settings.texture_distance`` (in-plane for 2D and 2.5D); voxels without
    such a neighbour are left out.

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`.

    Returns
    -------
    dict of str to float
        ``ngt_<feature>_<approach>``: ``coarseness``, ``contrast``, ``busyness``, ``complexity``
        and ``strength`` (``ngt_coarseness_3D``, ...).

    Raises
    ------
    ParameterError
        If ``roi`` is not a :class:`Roi` (an array: make one with :func:`prepare`).
    FeatureError
        If a fixed bin size makes more than 65536 bins over the ROI's intensities (``bin_width``).

    References
    ----------
    Zwanenburg et al., The Image Biomarker Standardisation Initiative, reference manual, 3.10.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, prepare
    >>> from gpuimg.features.ngtdm import ngtdm
    >>> image = np.array([[[1.0, 2.0], [2.0, 2.0]]])
    >>> settings = Settings(discretisation="fbs", bin_width=1.0, texture_approaches="2d")
    >>> roi = prepare(image, image > 0, spacing=1.0, settings=settings)
    >>> round(ngtdm(roi)["ngt_coarseness_2D"], 4)  # 1 / (p_1 s_1 + p_2 s_2) = 1 / (1/4 * 1 + 3/4 * 3 * 1/3)
    1.0
    """
    return ngtdm_deferred(check_roi(roi, "ngtdm")).result()


def ngtdm_deferred(roi: Roi) -> Deferred:
    """:func:`ngtdm` with its results still on the device (:class:`~gpuimg.features._scalars.Deferred`)."""
    return zone_features(grey_levels(roi), ngtdm_matrices, ngtdm_features, "ngt")
