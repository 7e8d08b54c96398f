"""The statistics IBSI computes alike from GLSZM, GLDZM and NGLDM matrices (IBSI 3.8, 3.9, 3.11).

Each of these matrices counts, for a grey level ``i`` (a row) and a column value ``j`` (a zone's size,
a zone's distance to the border, a voxel's dependence), how often they occur: ``s_ij``. The
emphases, non-uniformities, variances and entropy are the same sums over ``s_ij`` whatever ``j``
stands for; each family names them by its IBSI tags.
"""

import numpy as np

from gpuimg._memory import check_bytes
from gpuimg.backend import bincount_fixed

#: Bytes held at once for each byte of a batch of zone matrices, at most: the counts, the copy that
#: pools them with other batches of their shape, and one product of them (:func:`emphases`, which
#: makes no float64 copy of the counts nor of their probabilities).
_MATRIX_COPIES = 3


def emphases(s, grey, j, n_voxels, xp) -> dict:
    """The shared statistics of a batch of matrices.

    Parameters
    ----------
    s : int64 or float64 array (batch, levels, columns)
        ``s_ij`` of each matrix of the batch.
    grey : float64 array (levels,)
        The grey level ``i`` of each row, as IBSI numbers it.
    j : float64 array (columns,) or (batch, columns)
        The value ``j`` of each column (>= 1), for all matrices or for each.
    n_voxels : array (batch,)
        ``N_v``, the number of voxels each matrix describes.
    xp : module

    Returns
    -------
    dict of str to 1D float64 array (batch,)
        Under generic names: ``small``, ``large`` (``sum s / j^2``, ``sum s j^2``, over ``N_s``),
        ``low_grey``, ``high_grey``, the four joint emphases ``small_low``, ``small_high``,
        ``large_low``, ``large_high``, ``glnu``, ``glnu_norm``, ``jnu``, ``jnu_norm``,
        ``percentage`` (``N_s / N_v``), ``grey_variance``, ``j_variance``, ``entropy`` and
        ``energy``.

    Notes
    -----
    Every weight is a product of a function of ``i`` and one of ``j``, so each sum over a matrix is
    a sum over its rows of sums over its columns, and at most one array of ``s``'s size is made at a
    time: the product of ``s`` with the column weights. The probabilities ``p = s / N_s`` are not
    formed; the entropy is ``log2 N_s - sum s log2 s / N_s``.
    """
    n_s = s.sum(axis=(1, 2)).astype(np.float64)
    safe = xp.maximum(n_s, 1.0)  # an empty matrix (left out of every average) divides by 1
    j = xp.asarray(j, dtype=np.float64).reshape(-1, 1, j.shape[-1])
    i = grey[None, :]

    def by_row(column_weights):
        """(batch, levels): each row's sum of ``s`` times the column weights."""
        return (s * column_weights).sum(axis=2)

    def mean(rows, row_weights):
        """The mean of a weight ``row_weights(i) x column_weights(j)`` over each matrix, from ``rows``,
        its ``by_row(column_weights)``."""
        return (rows * row_weights).sum(axis=1) / safe

    by_grey = s.sum(axis=2).astype(np.float64)
    by_j = s.sum(axis=1).astype(np.float64)
    small, large, plain, column_mean = by_row(1.0 / j**2), by_row(j**2), by_grey, by_row(j)
    grey_mean = mean(plain, i)
    j_mean = mean(column_mean, 1.0)
    centred_j = by_row((j - j_mean[:, None, None]) ** 2)
    # sum s log2 s over s > 0, one array at a time: log2 max(s, 1) is 0 where s is 0 (and 1)
    s_log_s = xp.maximum(s, 1.0)
    xp.log2(s_log_s, out=s_log_s)
    s_log_s *= s
    sum_s_log_s = s_log_s.sum(axis=(1, 2))
    del s_log_s
    energy = xp.square(s, dtype=np.float64).sum(axis=(1, 2))  # sum s^2
    return {
        "small": mean(small, 1.0),
        "large": mean(large, 1.0),
        "low_grey": mean(plain, 1.0 / i**2),
        "high_grey": mean(plain, i**2),
        "small_low": mean(small, 1.0 / i**2),
        "small_high": mean(small, i**2),
        "large_low": mean(large, 1.0 / i**2),
        "large_high": mean(large, i**2),
        "glnu": (by_grey**2).sum(axis=1) / safe,
        "glnu_norm": (by_grey**2).sum(axis=1) / safe**2,
        "jnu": (by_j**2).sum(axis=1) / safe,
        "jnu_norm": (by_j**2).sum(axis=1) / safe**2,
        "percentage": n_s / xp.maximum(n_voxels, 1.0),
        "grey_variance": mean(plain, (i - grey_mean[:, None]) ** 2),
        "j_variance": mean(centred_j, 1.0),
        "entropy": xp.log2(safe) - sum_s_log_s / safe,
        "energy": energy / safe**2,
    }


def zone_tags(letter: str) -> dict[str, str]:
    """IBSI names of the statistics for a zone matrix whose columns are sizes (``letter`` "z", GLSZM:
    ``sze``, ``zsnu``) or distances ("d", GLDZM: ``sde``, ``zdnu``): generic name -> tag name."""
    column = "s" if letter == "z" else letter
    return {
        "small": f"s{letter}e",
        "large": f"l{letter}e",
        "low_grey": "lgze",
        "high_grey": "hgze",
        "small_low": f"s{letter}lge",
        "small_high": f"s{letter}hge",
        "large_low": f"l{letter}lge",
        "large_high": f"l{letter}hge",
        "glnu": "glnu",
        "glnu_norm": "glnu_norm",
        "jnu": f"z{column}nu",
        "jnu_norm": f"z{column}nu_norm",
        "percentage": "z_perc",
        "grey_variance": "gl_var",
        "j_variance": f"z{column}_var",
        "entropy": f"z{column}_entr",
    }


def zone_matrix_features(batch, grey_values, j, xp, letter: str) -> dict:
    """The 16 features of a batch of GLSZMs or GLDZMs in the layout of :func:`zone_matrices`.

    ``batch`` is (batch, 1 + levels, columns): row 0 holds the voxels of each column's zones, the
    other rows the zone counts ``s_ij``; ``j`` is the value of each column, (columns,) or
    (batch, columns).
    """
    stats = emphases(batch[:, 1:, :], xp.asarray(grey_values), j, batch[:, 0, :].sum(axis=1), xp)
    return {tag: stats[name] for name, tag in zone_tags(letter).items()}


def zone_matrices(level, column, voxels, n_levels, n_columns, n_slices, slices, xp, *, family: str):
    """Zone matrices of ``n_slices`` slices (or 1) from each zone's level, column and voxel count.

    ``family`` (``"GLSZM"``, ``"GLDZM"``) names the matrices in an error.

    Returns an int64 array (n_slices, 1 + n_levels, n_columns): row 0 the voxels of each column's
    zones (so that the matrices stay summable and ``N_v`` is their sum), row ``k`` the number of
    zones of level index ``k`` (1 ... ``n_levels``) in each column.

    Raises
    ------
    MemoryBudgetError
        If the matrices, with the copies made of them here and by their features, exceed the memory
        budget: too many grey levels present (for the 2D approach, in every slice at once).
    """
    check_bytes(
        _MATRIX_COPIES * 8 * n_slices * (n_levels + 1) * n_columns,
        f"The {family} matrices of the {n_levels} grey levels present in the ROI ({n_slices} matrices of "
        f"{n_columns} columns; fewer grey levels make smaller matrices: a coarser bin_width for a fixed "
        "bin size, a smaller n_bins for a fixed bin number),",
    )
    rows = n_levels + 1
    shape = (n_slices, rows, n_columns)
    size = n_slices * rows * n_columns
    counts = bincount_fixed((slices * rows + level) * n_columns + column, length=size).reshape(shape)
    # row 0 only: the voxels of each slice's columns
    totals = bincount_fixed(slices * n_columns + column, voxels, length=n_slices * n_columns)
    counts[:, 0, :] += totals.astype(np.int64).reshape(n_slices, n_columns)
    return counts
