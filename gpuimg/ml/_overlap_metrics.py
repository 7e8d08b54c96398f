"""Overlap of segmentations: the Dice coefficient and the Jaccard index of two masks, with the check
that two Volumes lie on one grid."""

from gpuimg._arrays import roi_voxels
from gpuimg.errors import ParameterError
from gpuimg.volume import Volume, check_same_grid

from ._metric_inputs import _one_device


def dice(a, b) -> float:
    """Dice coefficient of two masks, 2 |A and B| / (|A| + |B|) (1 when both are empty).

    A mask's non-zero voxels are in it; a float mask's NaN voxels are not (as for every gpuimg mask:
    features, labels, the cohort's masks). Two Volumes are compared voxel by voxel, so they must lie
    on one grid.

    Raises
    ------
    ParameterError
        If the masks' shapes differ.
    GeometryError
        If both are Volumes on different grids (spacing, origin or direction): resample one onto the
        other's grid first.

    Examples
    --------
    >>> import numpy as np
    >>> dice(np.array([0.0, 1.0, np.nan, 1.0]), np.array([0, 1, 1, 0]))
    0.5
    """
    a, b, _xp = _masks(a, b, "dice")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def jaccard(a, b) -> float:
    """Jaccard index of two masks, |A and B| / |A or B| (1 when both are empty).

    Masks as :func:`dice` reads them: non-zero voxels in, NaN voxels out; two Volumes on one grid
    (a GeometryError otherwise).

    Raises
    ------
    ParameterError
        If the masks' shapes differ.
    GeometryError
        If both are Volumes on different grids (spacing, origin or direction): resample one onto the
        other's grid first.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import jaccard
    >>> jaccard(np.array([0, 1, 1, 1]), np.array([0, 1, 1, 0])) == 2 / 3  # 2 shared of 3 in either
    True
    """
    a, b, _xp = _masks(a, b, "jaccard")
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def _masks(a, b, caller: str):
    if isinstance(a, Volume) and isinstance(b, Volume):  # voxel by voxel: one grid, or a wrong overlap
        check_same_grid(a, b, caller)
    a, b, xp = _one_device(a, b)
    if a.shape != b.shape:
        raise ParameterError(f"the masks must have the same shape; got {a.shape} and {b.shape}.")
    # NaN != 0, so astype(bool) counted a float mask's NaN voxels in; gpuimg's masks leave them out.
    return roi_voxels(a), roi_voxels(b), xp
