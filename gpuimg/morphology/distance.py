"""Euclidean distance transform in mm."""

from __future__ import annotations

import numpy as np

from gpuimg._arrays import check_ndim, roi_voxels
from gpuimg._support import check_spacing as _spacing
from gpuimg.backend import is_dask, namespace
from gpuimg.errors import ParameterError
from gpuimg.volume import accepts_volume

from .binary import Image, Spacing


@accepts_volume(new_units=True)
def distance_transform(mask: Image, *, spacing: Spacing = None) -> Image:
    """Distance [mm] from each foreground voxel of ``mask`` to the nearest background voxel.

    Parameters
    ----------
    mask : bool array (NumPy or CuPy) or Volume, 1D to 3D
        Non-zero voxels are foreground; NaN voxels of a float mask are background.
    spacing : float or sequence of float [mm], optional
        Voxel spacing (SciPy's ``sampling``); default 1 (voxel units); a Volume brings its own.

    Returns
    -------
    float64 array or Volume
        Equal to ``scipy.ndimage.distance_transform_edt(mask, sampling=spacing)``; 0 on the
        background; on the input's device. ``inf`` everywhere for a mask without a background
        voxel (no distance to measure), where SciPy measures to a voxel before the first along
        each axis (1, 2, 3, ... from one corner); pad the mask (``np.pad(mask, 1)``) to measure
        to the volume's edge instead.

    Raises
    ------
    ParameterError
        For a Dask array (the transform needs the whole mask), a mask that is not 1D to 3D, or a spacing
        that is not positive, not one per axis, or differs from the Volume's own.

    Examples
    --------
    A row of 5 voxels between background, with 0.5 mm pixels along x:

    >>> import numpy as np
    >>> from gpuimg.morphology import distance_transform
    >>> mask = np.zeros((1, 1, 7), bool)
    >>> mask[0, 0, 1:6] = True
    >>> distance_transform(mask).ravel().tolist()  # voxels
    [0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0]
    >>> distance_transform(mask, spacing=(1.0, 1.0, 0.5)).ravel().tolist()  # mm
    [0.0, 0.5, 1.0, 1.5, 1.0, 0.5, 0.0]
    """
    if is_dask(mask):
        raise ParameterError("distance_transform needs the whole mask; pass mask.compute().")
    ns = namespace(mask)
    mask = ns.xp.asarray(mask)
    check_ndim(mask, (1, 2, 3), "mask")
    sampling = _spacing(spacing, mask.ndim)
    inside = roi_voxels(mask)
    if inside.size and bool(inside.all()):  # no background voxel: the nearest one is infinitely far
        return ns.xp.full(inside.shape, np.inf, dtype=np.float64)
    return ns.ndi.distance_transform_edt(inside, sampling=sampling).astype(np.float64, copy=False)
