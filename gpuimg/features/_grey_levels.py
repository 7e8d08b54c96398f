"""The ROI's discretised grey levels as the texture families take them (IBSI 2.7): one compact level per
grey level present, cut to the morphological mask's box, made once per ROI."""

from dataclasses import dataclass

import numpy as np

from gpuimg.backend import bincount_fixed, namespace, to_numpy

from ._discretisation import bins_bound, discretise
from .chain import Roi


@dataclass(frozen=True)
class GreyLevels:
    """The discretised ROI as texture matrices take it.

    Attributes
    ----------
    levels : int32 array (z, y, x), NumPy or CuPy
        ``k`` (1, 2, ...) where the voxel is in the intensity mask with the ``k``-th grey level
        present in the ROI, 0 elsewhere. Cut to the morphological mask's bounding box (which holds
        the intensity mask), so that outside the array is outside the ROI.
    values : float64 array (NumPy), 1D
        The IBSI grey level (bin number, 1 ... ``n_levels``) of each compact level: ``levels == k``
        has grey level ``values[k - 1]``. Only levels present in the ROI get an index, so matrices
        grow with the number of levels present, not with ``n_levels``.
    n_levels : int
        ``N_g``, the number of grey levels of the discretisation: ``n_bins`` for a fixed bin number,
        the highest bin present for a fixed bin size (bins count from the lower bound).
    morph_mask : bool array of ``levels``' shape
        The morphological mask (for the GLDZM's distance to the ROI's border).
    settings : Settings
    slices : bool array (NumPy), 1D, optional
        Which slices (first axis) of ``levels`` hold a voxel of the ROI; found from ``levels``
        (one device read) where not given.
    """

    levels: object
    values: np.ndarray
    n_levels: int
    morph_mask: object
    settings: object
    slices: np.ndarray | None = None

    @property
    def n_present(self) -> int:
        """The number of grey levels present in the ROI (the compact levels' count)."""
        return int(self.values.size)


def grey_levels(roi: Roi) -> GreyLevels:
    """The ROI's discretised grey levels (IBSI 2.7, the texture discretisation of the settings).

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`.

    Returns
    -------
    GreyLevels

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, prepare
    >>> from gpuimg.features.texture import grey_levels
    >>> image = np.array([[[1.0, 3.0, 3.0], [6.0, 6.0, 1.0]]])
    >>> roi = prepare(image, image > 0, spacing=1.0, settings=Settings(discretisation="fbs", bin_width=1.0))
    >>> grey = grey_levels(roi)
    >>> grey.levels.tolist(), grey.values.tolist(), grey.n_levels
    ([[[1, 2, 2], [3, 3, 1]]], [1.0, 3.0, 6.0], 6)
    >>> grey_levels(roi) is grey  # made once per Roi: the six families of one extract share it
    True
    """
    # Kept in the Roi's own __dict__ (as functools.cached_property keeps its values, which a frozen
    # dataclass allows), so it lives and dies with the Roi.
    cached = roi.__dict__.get("_grey_levels")
    if cached is None:
        cached = roi.__dict__["_grey_levels"] = _grey_levels(roi)
    return cached


def _grey_levels(roi: Roi) -> GreyLevels:
    xp = namespace(roi.image).xp
    bins = discretise(roi.values, roi.settings, value_range=roi.value_range)
    # The bins present among as many as the host knows there can be, and each bin's rank among them
    # (the compact level), as cupy.unique would give them but without its read of the device.
    length = bins_bound(roi.settings, roi.value_range)
    present = bincount_fixed(bins - 1, length=length) > 0
    compact = xp.cumsum(present) - 1
    box = tuple(slice(first, last + 1) for first, last in roi.morph_box)
    levels = xp.zeros(roi.image.shape, dtype=np.int32)
    levels[roi.intensity_mask] = compact[bins - 1].astype(np.int32) + 1
    levels = levels[box]
    # The bins present and the slices holding ROI voxels, in one device read.
    host = to_numpy(
        xp.concatenate([present.astype(np.float64), (levels > 0).any(axis=(1, 2)).astype(np.float64)])
    )
    values, slices = (np.flatnonzero(host[:length]) + 1).astype(np.float64), host[length:] > 0
    n_levels = roi.settings.n_bins if roi.settings.discretisation == "fbn" else int(values[-1])
    return GreyLevels(levels, values, n_levels, roi.morph_mask[box], roi.settings, slices)
