"""Neighbouring grey level dependence matrix (NGLDM) features, IBSI 3.11."""

import numpy as np

from gpuimg._memory import check_bytes
from gpuimg.backend import namespace
from gpuimg.kernels import neighbourhood

from ._emphasis import emphases
from ._scalars import Deferred
from .chain import Roi, check_roi
from .texture import GreyLevels, grey_levels, zone_features

#: IBSI names of the statistics of :func:`gpuimg.features._emphasis.emphases` for the NGLDM.
TAGS = {
    "small": "lde",
    "large": "hde",
    "low_grey": "lgce",
    "high_grey": "hgce",
    "small_low": "ldlge",
    "small_high": "ldhge",
    "large_low": "hdlge",
    "large_high": "hdhge",
    "glnu": "glnu",
    "glnu_norm": "glnu_norm",
    "jnu": "dcnu",
    "jnu_norm": "dcnu_norm",
    "percentage": "dc_perc",
    "grey_variance": "gl_var",
    "j_variance": "dc_var",
    "entropy": "dc_entr",
    "energy": "dc_energy",
}
#: Bytes held at once for each byte of one NGLDM, at most: the counts, the copy that pools them with
#: other batches of their shape, and one product of them (:func:`gpuimg.features._emphasis.emphases`).
_MATRIX_COPIES = 3


def ngldm_matrices(grey: GreyLevels, per_slice: bool):
    """The NGLDMs of the grey levels: one per slice (in-plane neighbours) or one of the volume.

    Returns
    -------
    int64 array (slices or 1, levels present, neighbourhood size + 1), on the levels' device
        ``[..., k - 1, j - 1]``: the voxels of level index ``k`` with dependence ``j - 1`` (the
        neighbours in the ROI within ``settings.texture_distance`` whose grey level differs by at
        most ``settings.ngldm_coarseness``). ``8 (neighbourhood + 1)`` bytes per level present:
        80 in 2D and 224 in 3D at distance 1; the neighbourhood counts only the voxels the
        levels' box holds, so a distance past the ROI's sides adds no column.

    Raises
    ------
    MemoryBudgetError
        If the matrices (with the copies their features make) exceed the memory budget: a large
        distance over a large ROI, or many grey levels present.
    """
    ns = namespace(grey.levels)
    xp = ns.xp
    settings = grey.settings
    columns = neighbourhood.neighbourhood_size(settings.texture_distance, per_slice, grey.levels.shape) + 1
    matrices = grey.levels.shape[0] if per_slice else 1
    check_bytes(
        _MATRIX_COPIES * 8 * matrices * grey.n_present * columns,
        f"The NGLDMs of the {grey.n_present} grey levels present in the ROI, each with "
        f"{columns} dependence columns (set by the settings' texture_distance="
        f"{settings.texture_distance} and the ROI's size)",
    )
    return neighbourhood.ngldm(
        xp.ascontiguousarray(grey.levels),
        xp.asarray(grey.values),
        distance=settings.texture_distance,
        coarseness=settings.ngldm_coarseness,
        per_slice=per_slice,
        target=ns.target,
        xp=xp,
    )


def ngldm_features(batch, grey: GreyLevels) -> dict:
    """The 17 NGLDM features of each matrix of a batch (IBSI 3.11), by IBSI name without prefix.

    Column ``j`` (1, 2, ...) of IBSI's matrix holds dependence ``j - 1``; every ROI voxel is a
    neighbourhood, so ``N_v`` is the matrix's sum.
    """
    xp = namespace(batch).xp
    j = xp.arange(1, batch.shape[2] + 1, dtype=np.float64)
    stats = emphases(batch, xp.asarray(grey.values), j, batch.sum(axis=(1, 2)), xp)
    return {tag: stats[name] for name, tag in TAGS.items()}


def ngldm(roi: Roi) -> dict[str, float]:
    """NGLDM features of an ROI (IBSI 3.11) for the approaches its settings ask for.

    Each ROI voxel's dependence is the number of its neighbours in the ROI (within Chebyshev
    distance ``settings.texture_distance``, in-plane for 2D and 2.5D) whose grey level differs
    from its own by at most ``settings.ngldm_coarseness``.

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`.

    Returns
    -------
    dict of str to float
        ``ngl_<feature>_<approach>`` (``ngl_lde_3D``, ``ngl_dc_energy_2_5D``, ...): low and high
        dependence emphases (``lde``, ``hde``), low and high grey level count emphases (``lgce``,
        ``hgce``), their four combinations (``ldlge``, ``ldhge``, ``hdlge``, ``hdhge``), grey
        level and dependence count non-uniformities, plain and normalised (``glnu``,
        ``glnu_norm``, ``dcnu``, ``dcnu_norm``), dependence count percentage (``dc_perc``), grey
        level and dependence count variances (``gl_var``, ``dc_var``), dependence count entropy
        (``dc_entr``) and energy (``dc_energy``).

    Raises
    ------
    ParameterError
        If ``roi`` is not a :class:`Roi` (an array: make one with :func:`prepare`).
    FeatureError
        If a fixed bin size makes more than 65536 bins over the ROI's intensities (``bin_width``).
    MemoryBudgetError
        If the NGLDMs exceed the memory budget: many grey levels present, or a large
        ``texture_distance``.

    References
    ----------
    Zwanenburg et al., The Image Biomarker Standardisation Initiative, reference manual, 3.11.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, prepare
    >>> from gpuimg.features.ngldm import ngldm
    >>> image = np.ones((1, 3, 3))
    >>> settings = Settings(discretisation="fbs", bin_width=1.0, texture_approaches="2d")
    >>> roi = prepare(image, image > 0, spacing=1.0, settings=settings)
    >>> round(ngldm(roi)["ngl_hde_2D"], 4)  # j = 1 + dependence: 4 (corners), 6 (edges), 9 (centre)
    32.1111
    """
    return ngldm_deferred(check_roi(roi, "ngldm")).result()


def ngldm_deferred(roi: Roi) -> Deferred:
    """:func:`ngldm` with its results still on the device (:class:`~gpuimg.features._scalars.Deferred`)."""
    return zone_features(grey_levels(roi), ngldm_matrices, ngldm_features, "ngl")
