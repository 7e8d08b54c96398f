"""Grey level size zone matrix (GLSZM) features, IBSI 3.8."""

import numpy as np

from gpuimg.backend import namespace
from gpuimg.kernels.zones import zones

from ._emphasis import zone_matrices, zone_matrix_features
from ._scalars import Deferred
from .chain import Roi, check_roi
from .texture import GreyLevels, grey_levels, zone_features


def glszm_matrices(grey: GreyLevels, per_slice: bool):
    """The GLSZMs of the grey levels: one per slice (8-connected zones) or one of the volume (26-connected).

    Returns
    -------
    int64 array (slices or 1, 1 + levels present, zone sizes present), on the levels' device
        Row 0: the voxels of the zones of each column's size; row ``k``: the number of zones of
        level index ``k`` of each size. Only the sizes some zone has get a column, in increasing
        order; a column's size is its row 0 over its zone count (in any matrix with such zones).

    Notes
    -----
    Memory: ``8 (levels + 1) x sizes`` bytes per matrix. The sizes present are distinct integers
    whose sum is at most the ROI's voxel count ``N_v``, so there are fewer than ``sqrt(2 N_v)``
    (613 for 188 000 voxels): 2048 levels take at most 10 MB per matrix for such an ROI.
    """
    ns = namespace(grey.levels)
    xp = ns.xp
    levels = xp.ascontiguousarray(grey.levels)
    level, size, _, slices = zones(levels, per_slice=per_slice, target=ns.target, xp=xp)
    sizes, column = xp.unique(size, return_inverse=True)
    n_slices = levels.shape[0] if per_slice else 1
    n_columns = max(int(sizes.size), 1)
    return zone_matrices(
        level, column.reshape(-1), size, grey.n_present, n_columns, n_slices, slices, xp, family="GLSZM"
    )


def glszm_features(batch, grey: GreyLevels) -> dict:
    """The 16 GLSZM features of each matrix of a batch (IBSI 3.8), by IBSI name without prefix."""
    xp = namespace(batch).xp
    # each matrix's own column sizes: batches may pool matrices of separate calls (other columns)
    counts = batch[:, 1:, :].sum(axis=1).astype(np.float64)
    sizes = batch[:, 0, :] / xp.maximum(counts, 1.0)
    return zone_matrix_features(batch, grey.values, xp.maximum(sizes, 1.0), xp, "z")


def glszm(roi: Roi) -> dict[str, float]:
    """GLSZM features of an ROI (IBSI 3.8) for the approaches its settings ask for.

    Zones are groups of connected voxels of one grey level: 26-connected in 3D, 8-connected within
    each slice in 2D and 2.5D.

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`.

    Returns
    -------
    dict of str to float
        ``szm_<feature>_<approach>`` (``szm_sze_3D``, ``szm_zs_entr_2_5D``, ...): small and large
        zone emphases (``sze``, ``lze``), low and high grey level zone emphases (``lgze``,
        ``hgze``), their four combinations (``szlge``, ``szhge``, ``lzlge``, ``lzhge``), grey level
        and zone size non-uniformities, plain and normalised (``glnu``, ``glnu_norm``, ``zsnu``,
        ``zsnu_norm``), zone percentage (``z_perc``), grey level and zone size variances
        (``gl_var``, ``zs_var``) and zone size entropy (``zs_entr``).

    Raises
    ------
    ParameterError
        If ``roi`` is not a :class:`Roi` (an array: make one with :func:`prepare`).
    FeatureError
        If a fixed bin size makes more than 65536 bins over the ROI's intensities (``bin_width``).
    MemoryBudgetError
        If the zone matrices exceed the memory budget: too many grey levels present.

    References
    ----------
    Zwanenburg et al., The Image Biomarker Standardisation Initiative, reference manual, 3.8.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, prepare
    >>> from gpuimg.features.glszm import glszm
    >>> image = np.array([[[1.0, 1.0, 2.0], [1.0, 2.0, 2.0], [3.0, 3.0, 3.0]]])
    >>> settings = Settings(discretisation="fbs", bin_width=1.0, texture_approaches="2d")
    >>> roi = prepare(image, image > 0, spacing=1.0, settings=settings)
    >>> round(glszm(roi)["szm_z_perc_2D"], 4)  # 3 zones of 9 voxels
    0.3333
    """
    return glszm_deferred(check_roi(roi, "glszm")).result()


def glszm_deferred(roi: Roi) -> Deferred:
    """:func:`glszm` with its results still on the device (:class:`~gpuimg.features._scalars.Deferred`)."""
    return zone_features(grey_levels(roi), glszm_matrices, glszm_features, "szm")
