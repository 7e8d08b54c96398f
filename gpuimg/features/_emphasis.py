"""The statistics IBSI computes alike from GLSZM, GLDZM and NGLDM matrices (IBSI 3.8, 3.9, 3.11).

Each of these matrices counts, for a grey level ``i`` (a row) and a column value ``j`` (a zone's size,
a zone's distance to the border, a voxel's dependence), how often they occur: ``s_ij``. The
emphases, non-uniformities, variances and entropy are the same sums over ``s_ij`` whatever ``j``
stands for; each family names them by its IBSI tags.
"""

import numpy as np

from gpuimg._memory import check_bytes
from gpuimg.backend import bincount_fixed

#: Bytes held at once for each byte of a batch of zone matrices, at most: the counts and the voxels'
#: row added to them, their float64 copy and the probabilities (:func:`emphases`).
_MATRIX_COPIES = 4


def emphases(s, grey, j, n_voxels, xp) -> dict:
    """The shared statistics of a batch of matrices.

    Parameters
    ----------
    s : float64 array (batch, levels, columns)
        ``s_ij`` of each matrix of the batch.
    grey : float64 array (levels,)
        The grey level ``i`` of each row, as IBSI numbers it.
    j : float64 array (columns,) or (batch, columns)
        The value ``j`` of each column (>= 1), for all matrices or for each.
    n_voxels : float64 array (batch,)
        ``N_v``, the number of voxels each matrix describes.
    xp : module

    Returns
    -------
    dict of str to 1D array (batch,)
        Under generic names: ``small``, ``large`` (``sum s / j^2``, ``sum s j^2``, over ``N_s``),
        ``low_grey``, ``high_grey``, the four joint emphases ``small_low``, ``small_high``,
        ``large_low``, ``large_high``, ``glnu``, ``glnu_norm``, ``jnu``, ``jnu_norm``,
        ``percentage`` (``N_s / N_v``), ``grey_variance``, ``j_variance``, ``entropy`` and
        ``energy``.
    """
    n_s = s.sum(axis=(1, 2))
    safe = xp.maximum(n_s, 1.0)  # an empty matrix (left out of every average) divides by 1
    p = s / safe[:, None, None]
    j = j.reshape(-1, 1, j.shape[-1])
    i2 = (grey**2)[None, :, None]
    j2 = j**2

    def mean(weights):
        return (p * weights).sum(axis=(1, 2))

    by_grey = s.sum(axis=2)
    by_j = s.sum(axis=1)
    grey_mean = mean(grey[None, :, None])
    j_mean = mean(j)
    logs = xp.log2(xp.where(p > 0, p, 1.0))
    return {
        "small": mean(1.0 / j2),
        "large": mean(j2),
        "low_grey": mean(1.0 / i2),
        "high_grey": mean(i2),
        "small_low": mean(1.0 / (i2 * j2)),
        "small_high": mean(i2 / j2),
        "large_low": mean(j2 / i2),
        "large_high": mean(i2 * j2),
        "glnu": (by_grey**2).sum(axis=1) / safe,
        "glnu_norm": (by_grey**2).sum(axis=1) / safe**2,
        "jnu": (by_j**2).sum(axis=1) / safe,
        "jnu_norm": (by_j**2).sum(axis=1) / safe**2,
        "percentage": n_s / xp.maximum(n_voxels, 1.0),
        "grey_variance": mean((grey[None, :, None] - grey_mean[:, None, None]) ** 2),
        "j_variance": mean((j - j_mean[:, None, None]) ** 2),
        "entropy": -(p * logs).sum(axis=(1, 2)),
        "energy": (p**2).sum(axis=(1, 2)),
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
    batch = batch.astype(np.float64)
    stats = emphases(batch[:, 1:, :], xp.asarray(grey_values), j, batch[:, 0, :].sum(axis=1), xp)
    return {tag: stats[name] for name, tag in zone_tags(letter).items()}


def zone_matrices(level, column, voxels, n_levels, n_columns, n_slices, slices, xp):
    """Zone matrices of ``n_slices`` slices (or 1) from each zone's level, column and voxel count.

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
        f"The zone matrices of the {n_levels} grey levels present in the ROI ({n_slices} of "
        f"{n_columns} columns; set by the settings' discretisation, n_bins or bin_width)",
    )
    rows = n_levels + 1
    shape = (n_slices, rows, n_columns)
    size = n_slices * rows * n_columns
    counts = bincount_fixed((slices * rows + level) * n_columns + column, length=size)
    totals = bincount_fixed(slices * rows * n_columns + column, voxels, length=size)
    return counts.reshape(shape) + totals.astype(np.int64).reshape(shape)
