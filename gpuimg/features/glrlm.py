"""Grey level run length matrix features (IBSI 3.7): the 16 GLRLM features of an ROI."""

import numpy as np

from gpuimg.backend import namespace
from gpuimg.kernels.glrlm import glrlm_counts

from ._scalars import Deferred
from .chain import Roi, check_roi
from .texture import GreyLevels, directional_features, grey_levels

#: Bytes held at once for each byte of one batch of run length matrices, at most: the batches pooled
#: for one call of :func:`glrlm_features` (the 2D matrices and their sum over directions), their
#: concatenated copy and the features' arrays of the matrices' size (the probabilities, the entropy's
#: terms): 5.4, measured with tracemalloc on 150 levels over 8 x 96 x 96 voxels in 2D with 2.5D.
MATRIX_COPIES = 6

#: The GLRLM features by IBSI tag name (without ``rlm_`` and the approach), in IBSI's order.
NAMES = (
    "sre",
    "lre",
    "lgre",
    "hgre",
    "srlge",
    "srhge",
    "lrlge",
    "lrhge",
    "glnu",
    "glnu_norm",
    "rlnu",
    "rlnu_norm",
    "r_perc",
    "gl_var",
    "rl_var",
    "rl_entr",
)


def glrlm(roi: Roi) -> dict[str, float]:
    """The 16 IBSI grey level run length matrix features of an ROI, for each approach asked.

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`; its settings say the discretisation, the approaches
        (``texture_approaches``) and the aggregations (``texture_aggregations``). Runs follow the
        unit directions (``texture_distance`` does not apply to runs).

    Returns
    -------
    dict of str to float
        Keyed ``rlm_<feature>_<approach>_<aggregation>`` as IBSI spells them (``rlm_sre_2D_avg``,
        ``rlm_r_perc_3D_comb``, ...).

    Raises
    ------
    ParameterError
        If ``roi`` is not a :class:`Roi` (an array: make one with :func:`prepare`).
    FeatureError
        If a fixed bin size makes more than 65536 bins over the ROI's intensities (``bin_width``).
    MemoryBudgetError
        If the matrices of one batch of directions exceed the memory budget: too many grey levels present.

    Notes
    -----
    The run percentage divides the number of runs by the number of voxels the matrix counts,
    ``sum_ij j r_ij``: the ROI's voxel count for one direction, and for a merged matrix the sum
    over the matrices merged, as IBSI asks.

    References
    ----------
    Zwanenburg A. et al., The Image Biomarker Standardisation Initiative, reference manual, 3.7.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, glrlm, prepare
    >>> image = np.array([[[1.0, 1.0, 2.0, 2.0]]])
    >>> settings = Settings(discretisation="fbs", bin_width=1.0, texture_aggregations="merged")
    >>> features = glrlm(prepare(image, image > 0, spacing=1.0, settings=settings))
    >>> round(features["rlm_r_perc_3D_comb"], 4)
    0.9615
    """
    return glrlm_deferred(check_roi(roi, "glrlm")).result()


def glrlm_deferred(roi: Roi) -> Deferred:
    """:func:`glrlm` with its results still on the device (:class:`~gpuimg.features._scalars.Deferred`)."""
    return directional_features(grey_levels(roi), glrlm_matrices, glrlm_features, "rlm", MATRIX_COPIES)


def glrlm_matrices(grey: GreyLevels, offsets: np.ndarray, per_slice: bool):
    """Run length counts (slices or 1, offsets, n, longest side) of the grey levels present.

    Runs follow the unit direction of each offset (IBSI's runs have no distance).
    """
    ns = namespace(grey.levels)
    levels = ns.xp.ascontiguousarray(grey.levels, dtype=np.int32)
    units = np.sign(offsets)
    max_run = max(levels.shape[1:] if per_slice else levels.shape)
    return glrlm_counts(
        levels, ns.xp.asarray(units), grey.n_present, max_run, per_slice, xp=ns.xp, target=ns.target
    )


def glrlm_features(batch, grey: GreyLevels) -> dict:
    """The 16 features of each (non-empty) run length matrix of ``batch`` (b, n, max_run)."""
    xp = namespace(batch).xp
    i = xp.asarray(grey.values)
    j = xp.arange(1, batch.shape[2] + 1, dtype=np.float64)
    runs = batch.sum(axis=(1, 2))
    voxels = batch.sum(axis=1) @ j
    p = batch / runs[:, None, None]
    by_level, by_length = p.sum(axis=2), p.sum(axis=1)
    # The variances about the means, from the whole-number run counts (exact sums): E[x^2] - E[x]^2
    # lost the digits of grey levels far from 0 (levels 60000 and 60001: 1.5e-6 off, relatively) and gave
    # one grey level a variance of 3e-17, not 0.
    per_level, per_length = batch.sum(axis=2), batch.sum(axis=1)
    mu_i, mu_j = (per_level @ i) / runs, (per_length @ j) / runs
    inv_i2, inv_j2 = 1.0 / (i * i), 1.0 / (j * j)
    return {
        "sre": by_length @ inv_j2,
        "lre": by_length @ (j * j),
        "lgre": by_level @ inv_i2,
        "hgre": by_level @ (i * i),
        "srlge": ((p @ inv_j2) * inv_i2).sum(axis=1),
        "srhge": ((p @ inv_j2) * (i * i)).sum(axis=1),
        "lrlge": ((p @ (j * j)) * inv_i2).sum(axis=1),
        "lrhge": ((p @ (j * j)) * (i * i)).sum(axis=1),
        "glnu": (by_level * by_level).sum(axis=1) * runs,
        "glnu_norm": (by_level * by_level).sum(axis=1),
        "rlnu": (by_length * by_length).sum(axis=1) * runs,
        "rlnu_norm": (by_length * by_length).sum(axis=1),
        "r_perc": runs / voxels,
        "gl_var": (per_level * (i - mu_i[:, None]) ** 2).sum(axis=1) / runs,
        "rl_var": (per_length * (j - mu_j[:, None]) ** 2).sum(axis=1) / runs,
        "rl_entr": -(p * xp.log2(xp.where(p > 0, p, 1.0))).sum(axis=(1, 2)),
    }
