"""Grey level co-occurrence matrix features (IBSI 3.6): the 25 GLCM features of an ROI."""

import numpy as np

from gpuimg.backend import bincount_fixed, namespace
from gpuimg.kernels.glcm import glcm_counts

from ._scalars import Deferred
from .chain import Roi, check_roi
from .texture import GreyLevels, directional_features, grey_levels

#: Bytes held at once for each byte of one batch of co-occurrence matrices, at most: the batch, its
#: sum over offsets, and :func:`pair_features`' arrays of the entries, which a dense matrix (as many
#: entries as cells: many voxels, a few hundred levels) makes about 7.5 bytes per byte of its counts
#: (int32 indices, the probabilities, a feature's weights; 9.5 in all, measured with tracemalloc).
MATRIX_COPIES = 10

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
    return glcm_deferred(check_roi(roi, "glcm")).result()


def glcm_deferred(roi: Roi) -> Deferred:
    """:func:`glcm` with its results still on the device (:class:`~gpuimg.features._scalars.Deferred`)."""
    return directional_features(grey_levels(roi), glcm_matrices, glcm_features, "cm", MATRIX_COPIES)


def glcm_matrices(grey: GreyLevels, offsets: np.ndarray, per_slice: bool):
    """Symmetric co-occurrence counts (slices or 1, offsets, n, n) of the grey levels present."""
    ns = namespace(grey.levels)
    levels = ns.xp.ascontiguousarray(grey.levels, dtype=np.int32)
    return glcm_counts(levels, ns.xp.asarray(offsets), grey.n_present, per_slice, xp=ns.xp, target=ns.target)


def glcm_features(batch, grey: GreyLevels) -> dict:
    """The 25 features of each (non-empty, symmetric) co-occurrence matrix of ``batch`` (b, n, n).

    Computed from the matrices' non-zero entries (:func:`pair_features`): a matrix holds at most as
    many as the ROI has pairs, often far fewer than ``n^2`` (a voxel's neighbourhood, a large ``n``).
    """
    xp = namespace(batch).xp
    cells = batch.shape[1] * batch.shape[2]
    flat = xp.flatnonzero(batch)
    counts = batch.reshape(-1)[flat]  # a copy, which pair_features overwrites
    # int32 levels (they fit; the matrix stays int64, as bincount takes it without a copy): a dense
    # matrix has as many entries as cells
    matrix = flat // cells
    flat %= cells
    first, second = (flat // batch.shape[2]).astype(np.int32), (flat % batch.shape[2]).astype(np.int32)
    del flat
    return pair_features(matrix, first, second, counts, batch.shape[0], grey)


def pair_features(
    matrix, first, second, counts, n_matrices: int, grey: GreyLevels, most_entries: int | None = None
) -> dict:
    """The 25 features of symmetric co-occurrence matrices given by their non-zero entries.

    Parameters
    ----------
    matrix, first, second : int arrays (e,)
        The matrix (0 .. ``n_matrices - 1``) and the two compact levels (0-based) of each entry.
    counts : float64 array (e,)
        The entries' counts; overwritten (by the entries' probabilities).
    n_matrices : int
        Features are given for every matrix; those without entries get meaningless values.
    grey : GreyLevels
        ``values`` (the grey level of each compact level) and ``n_levels`` (N_g) are read.
    most_entries : int, optional
        The most entries a matrix can have: its ``n^2`` cells (the default, ``n`` the levels
        present), or fewer where the matrices come from a few pairs (a texture map's neighbourhood).
        It chooses how the entropies are summed (:func:`_entropy_of`), the same for every batch.

    Returns
    -------
    dict of str to float64 array (n_matrices,)

    Notes
    -----
    Every mean of a function of ``(i, j)`` is one weighted ``bincount`` over the entries; the
    cluster moments come from the moments of ``i + j`` about a fixed centre (binomial expansion,
    which keeps the sums small); the entropies of the marginal and of the distributions of
    ``|i - j|`` and ``i + j`` from the entries sorted by matrix and key, and the joint maximum from
    the entries sorted by matrix and probability. Memory and work grow with the entries, whatever
    the number of levels between the lowest and the highest present.
    """
    xp = namespace(counts).xp
    v = xp.asarray(grey.values)
    b, n = n_matrices, grey.values.size
    most = n * n if most_entries is None else most_entries
    p = counts  # divided in place: the entry-sized arrays are made one feature at a time, then freed
    p /= bincount_fixed(matrix, counts, length=b)[matrix]
    low = int(grey.values[0])
    spread = int(grey.values[-1]) - low  # the largest |i - j|, known on the host: no device read
    centre = float(grey.values[0] + grey.values[-1])  # i + j about the middle of the levels present

    def mean(weights):
        """The mean of ``weights`` (a new array, which this overwrites) in each matrix."""
        weights *= p
        return bincount_fixed(matrix, weights, length=b)

    # The marginals are equal (p_i. = p_.j): the mean of i is that of j. Variance and covariance about
    # the mean, not E[v^2] - mu^2 (nor E[ij] - mu^2), which lost the digits of grey levels far from 0:
    # the variance of levels 60000 to 60003 was 3e-7 off, relatively.
    i, j = v[first], v[second]
    mu = mean(i.copy())
    auto_corr = mean(i * j)
    i -= mu[matrix]
    j -= mu[matrix]
    var, covariance = mean(i * i), mean(i * j)
    del i, j
    diff = v[first]  # whole numbers (the deviations from the mean are not), as the entropy's keys are
    diff -= v[second]
    diff = xp.abs(diff, out=diff)
    diff_avg, contrast = mean(diff.copy()), mean(diff * diff)
    inverse = {
        "inv_diff": mean(1.0 / (1.0 + diff)),
        "inv_diff_norm": mean(1.0 / (1.0 + diff / grey.n_levels)),
        "inv_diff_mom": mean(1.0 / (1.0 + diff * diff)),
        "inv_diff_mom_norm": mean(1.0 / (1.0 + (diff / grey.n_levels) ** 2)),
        "inv_var": mean(xp.where(diff > 0, 1.0 / xp.where(diff > 0, diff, 1.0) ** 2, 0.0)),
    }
    diff_entr = _entropy_of(matrix, diff, p, spread + 1, b, xp, most)
    del diff
    shifted = v[first] + v[second]
    sum_entr = _entropy_of(matrix, shifted - 2 * low, p, 2 * spread + 1, b, xp, most)
    shifted -= centre
    m2 = mean(shifted * shifted)
    m3 = mean(shifted**3)
    m4 = mean(shifted**4)
    del shifted
    d = 2.0 * mu - centre  # the mean of i + j, about the centre
    sum_var = m2 - d * d
    entropy = -mean(xp.log2(p))
    hx = _entropy_of(matrix, first, p, n, b, xp, most)  # of the marginal p_i.
    return {
        "joint_max": _largest(matrix, p, b, xp),
        "joint_avg": mu,
        "joint_var": var,
        "joint_entr": entropy,
        "diff_avg": diff_avg,
        "diff_var": contrast - diff_avg**2,
        "diff_entr": diff_entr,
        "sum_avg": 2.0 * mu,
        "sum_var": sum_var,
        "sum_entr": sum_entr,
        "energy": mean(p.copy()),
        "contrast": contrast,
        "dissimilarity": diff_avg,
        **inverse,
        "corr": xp.where(var > 0, covariance / xp.where(var > 0, var, 1.0), xp.nan),
        "auto_corr": auto_corr,
        "clust_tend": sum_var,
        "clust_shade": m3 - 3.0 * d * m2 + 2.0 * d**3,
        "clust_prom": m4 - 4.0 * d * m3 + 6.0 * d * d * m2 - 3.0 * d**4,
        "info_corr1": xp.where(hx > 0, (entropy - 2.0 * hx) / xp.where(hx > 0, hx, 1.0), xp.nan),
        "info_corr2": xp.sqrt(xp.maximum(1.0 - xp.exp(-2.0 * (2.0 * hx - entropy)), 0.0)),
    }


def _entropy_of(matrix, key, p, width: int, b: int, xp, most: int):
    """Each matrix's entropy (bits) of the distribution of the whole-number ``key`` (0 .. ``width``
    - 1) of its entries: ``-sum q log2 q`` over the keys present, ``q`` the sum of ``p`` of a key's
    entries; 0 for a matrix without entries.

    From the entries sorted by matrix and key, so memory and work grow with the entries only, not
    with ``b x width`` (a dense distribution per matrix: a voxel map's 13 matrices per voxel over
    a fixed bin size of 1 HU on CT, ``width`` 6001, took 48 kB per matrix, 15 GB a batch). Sizes
    are known on the host: no device read. Where the ``b x width`` distributions take at most a
    quarter of the ``b x most`` entries the matrices can have (``n x n`` cells of dense matrices of
    ``n`` levels present: many levels, few matrices; a texture map's few pairs per matrix are not),
    they are summed densely instead, with fewer entry-sized temporaries than the sort. ``most`` is
    the same for every batch of a call, so a matrix's entropy takes the same path (and rounding) in
    any batch.
    """
    e = p.size
    if e == 0:
        return xp.zeros(b)
    if 4 * width <= most:
        keys = matrix.astype(np.int64) * width
        keys += key.astype(np.int64)
        q = bincount_fixed(keys, p, length=b * width).reshape(b, width)
        del keys
        return -(q * xp.log2(xp.where(q > 0, q, 1.0))).sum(axis=1)
    keys = matrix.astype(np.int64) * width
    keys += key.astype(np.int64)
    # stable: a group's entries keep their order, so its sum is the same whatever else the batch holds
    order = xp.argsort(keys, kind="stable")
    ordered = keys[order]
    del keys  # temporaries freed as soon as done with: memory grows with the entries (see pair_features)
    starts = xp.ones(e, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group = xp.cumsum(starts)
    del starts
    group -= 1  # each entry's (matrix, key) group, numbered in sorted order
    q = bincount_fixed(group, p[order], length=e)  # 0 past the last group
    del order
    owner = xp.zeros(e, dtype=np.int64)
    ordered //= width
    owner[group] = ordered
    del group, ordered
    q = -q * xp.log2(xp.where(q > 0, q, 1.0))
    return bincount_fixed(owner, q, length=b)


def _largest(matrix, p, b, xp):
    """The largest ``p`` of each matrix's entries (0 for a matrix without entries)."""
    out = xp.zeros(b)
    if p.size == 0:
        return out
    order = xp.lexsort(xp.stack([p, matrix]))
    owners = xp.arange(b)
    # where each matrix's entries start and end in the sorted order (b of each: no device read, as a
    # search for the ends of the runs of owners would take)
    first = xp.searchsorted(matrix[order], owners, side="left")
    end = xp.searchsorted(matrix[order], owners, side="right")
    return xp.where(end > first, p[order][xp.maximum(end - 1, 0)], out)
