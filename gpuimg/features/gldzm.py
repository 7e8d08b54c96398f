"""Grey level distance zone matrix (GLDZM) features, IBSI 3.9."""

import numpy as np

from gpuimg.backend import namespace
from gpuimg.kernels.zones import border_distance, zones

from ._emphasis import zone_matrices, zone_matrix_features
from ._scalars import Deferred
from .chain import Roi, check_roi
from .texture import GreyLevels, grey_levels, zone_features


def gldzm_matrices(grey: GreyLevels, per_slice: bool):
    """The GLDZMs of the grey levels: one per slice (in-plane zones and distances) or one of the volume.

    A zone's distance is the smallest distance to the border of the morphological mask of its
    voxels, counted in face steps (1 at the border; 4-connected in a slice, 6-connected in 3D).

    Returns
    -------
    int64 array (slices or 1, 1 + levels present, largest possible distance), on the levels' device
        Row 0: the voxels of the zones at each distance (``N_v`` is its sum); row ``k``: the number
        of zones of level index ``k`` at distance ``j`` in column ``j - 1``. There is a column for
        every distance up to half the smallest side of the levels' box (in a slice for 2D), the
        largest a zone can have; those past the zones' largest distance are 0.

    Notes
    -----
    Memory: ``8 (levels + 1) x largest possible distance`` bytes per matrix: 2048 levels and an ROI
    200 voxels across take at most 1.6 MB per matrix.
    """
    ns = namespace(grey.levels)
    xp = ns.xp
    levels = xp.ascontiguousarray(grey.levels)
    distance = border_distance(grey.morph_mask, per_slice=per_slice, target=ns.target, xp=xp)
    level, size, nearest, slices = zones(
        levels, per_slice=per_slice, target=ns.target, xp=xp, distance=distance
    )
    # The largest distance a box of this shape allows (half its smallest side, in a slice for 2D),
    # known on the host: columns past the zones' largest distance stay 0.
    n_columns = max((min(levels.shape[1:] if per_slice else levels.shape) + 1) // 2, 1)
    n_slices = levels.shape[0] if per_slice else 1
    return zone_matrices(
        level, nearest - 1, size, grey.n_present, n_columns, n_slices, slices, xp, family="GLDZM"
    )


def gldzm_features(batch, grey: GreyLevels) -> dict:
    """The 16 GLDZM features of each matrix of a batch (IBSI 3.9), by IBSI name without prefix."""
    xp = namespace(batch).xp
    distances = xp.arange(1, batch.shape[2] + 1, dtype=np.float64)
    return zone_matrix_features(batch, grey.values, distances, xp, "d")


def gldzm(roi: Roi) -> dict[str, float]:
    """GLDZM features of an ROI (IBSI 3.9) for the approaches its settings ask for.

    Zones are those of the GLSZM (:func:`gpuimg.features.glszm.glszm`); each is counted at its
    distance to the ROI's border.

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`.

    Returns
    -------
    dict of str to float
        ``dzm_<feature>_<approach>`` (``dzm_sde_3D``, ``dzm_zd_entr_2_5D``, ...): small and large
        distance emphases (``sde``, ``lde``), low and high grey level zone emphases (``lgze``,
        ``hgze``), their four combinations (``sdlge``, ``sdhge``, ``ldlge``, ``ldhge``), grey level
        and zone distance non-uniformities, plain and normalised (``glnu``, ``glnu_norm``,
        ``zdnu``, ``zdnu_norm``), zone percentage (``z_perc``), grey level and zone distance
        variances (``gl_var``, ``zd_var``) and zone distance entropy (``zd_entr``).

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
    Zwanenburg et al., The Image Biomarker Standardisation Initiative, reference manual, 3.9.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, prepare
    >>> from gpuimg.features.gldzm import gldzm
    >>> image = np.ones((1, 5, 5))
    >>> image[0, 2, 2] = 2.0
    >>> settings = Settings(discretisation="fbs", bin_width=1.0, texture_approaches="2d")
    >>> roi = prepare(image, image > 0, spacing=1.0, settings=settings)
    >>> round(gldzm(roi)["dzm_lde_2D"], 4)  # the ring at distance 1, the centre at 3
    5.0
    """
    return gldzm_deferred(check_roi(roi, "gldzm")).result()


def gldzm_deferred(roi: Roi) -> Deferred:
    """:func:`gldzm` with its results still on the device (:class:`~gpuimg.features._scalars.Deferred`)."""
    return zone_features(grey_levels(roi), gldzm_matrices, gldzm_features, "dzm")
