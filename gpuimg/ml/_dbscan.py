"""DBSCAN on voxel positions: groups of a mask's voxels (or of points) closer than a radius, in voxels
or mm (:func:`dbscan_candidates`)."""

import math

import numpy as np

from gpuimg._arrays import roi_voxels
from gpuimg._memory import check_bytes
from gpuimg._support import is_finite, shown
from gpuimg._units import voxels
from gpuimg.backend import namespace
from gpuimg.errors import ParameterError
from gpuimg.volume import accepts_volume

from .estimators import make_estimator


@accepts_volume(new_units=True)
def dbscan_candidates(
    mask_or_points,
    eps: float | None = None,
    min_samples: int = 5,
    *,
    eps_mm: float | None = None,
    spacing=None,
):
    """Group voxels (or points) closer than ``eps`` [voxels] or ``eps_mm`` [mm] into clusters with DBSCAN.

    Parameters
    ----------
    mask_or_points : mask (array or Volume), or array (points, ndim) [voxel coordinates]
        A mask is a Volume, a 3D array of any dtype (non-zero voxels: the bool, uint8 or int16 masks
        gpuimg makes; a float mask's NaN voxels are outside) or a 2D bool array; any other 2D array
        is a table of points.
    eps : float [voxels]
        Neighbourhood radius, in voxel steps. Give this or ``eps_mm``.
    min_samples : int
        Neighbours (itself included) that make a core point.
    eps_mm : float [mm]
        Neighbourhood radius in mm: the voxel coordinates are scaled by the spacing first.
    spacing : float or sequence of float [mm], optional
        Voxel spacing per axis, for ``eps_mm``; a Volume brings its own.

    Returns
    -------
    array of int32 (a Volume for a Volume)
        For a mask, a label image: 1, 2, ... per cluster, 0 for background and noise. For points,
        one label per point: 0, 1, ... per cluster, -1 for noise. On the input's device.

    Raises
    ------
    ParameterError
        For input that is neither a mask nor a 2D table of points, or not real numbers; neither or both
        of ``eps`` and ``eps_mm``; a radius that is not a positive, finite number; ``eps_mm`` without a
        spacing, or a spacing that is not positive or not one per axis; a ``min_samples`` that DBSCAN
        refuses (not an integer of at least 1).
    MemoryBudgetError
        If scikit-learn's DBSCAN (NumPy input, or CuPy input without cuML) would keep more neighbours
        of a mask's voxels than the memory budget holds: 8 bytes for each voxel within the radius
        of each (all of them, for a voxel inside the mask; a larger radius has more).

    Notes
    -----
    Runs :func:`make_estimator` ``("dbscan", "clustering")``: cuML on CuPy input where installed.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import dbscan_candidates
    >>> mask = np.zeros((6, 6, 12), np.uint8); mask[1:3, 1:3, 1:3] = mask[1:3, 1:3, 8:10] = 1
    >>> int(dbscan_candidates(mask, eps=1.5, min_samples=3).max())  # two clusters
    2
    >>> int(dbscan_candidates(mask, eps_mm=12.0, min_samples=3, spacing=2.0).max())  # one
    1
    """
    xp = namespace(mask_or_points).xp
    data = xp.asarray(mask_or_points)
    is_mask = data.dtype == bool or data.ndim == 3
    # A mask's voxels by gpuimg's one rule: a float mask's NaN voxels are outside (NaN != 0 made them
    # a candidate of their own).
    inside = roi_voxels(data) if is_mask else None
    points = xp.argwhere(inside).astype(np.float64) if is_mask else data.astype(np.float64)
    if points.ndim != 2:
        raise ParameterError(
            f"points must be (points, ndim); got shape {points.shape}. Pass a 3D mask (or a 2D bool "
            "mask) for an image."
        )
    if (eps is None) == (eps_mm is None):
        raise ParameterError(f"give one of eps (voxels) and eps_mm (mm); got eps={eps!r}, eps_mm={eps_mm!r}.")
    radius = eps if eps_mm is None else eps_mm
    # A bool is refused, as elsewhere in gpuimg: eps=True ran as a radius of 1 voxel.
    # is_finite: an int beyond float's range (eps=10**400) made an OverflowError in DBSCAN.
    if not (isinstance(radius, (int, float, np.integer, np.floating)) and is_finite(radius) and radius > 0):
        name, unit = ("eps", "voxels") if eps_mm is None else ("eps_mm", "mm")
        raise ParameterError(
            f"{name}={shown(radius)} must be a positive, finite distance [{unit}] of at most 1.8e308 "
            f"(a float); pass the neighbourhood radius, e.g. {name}=1.5."
        )
    if isinstance(min_samples, bool | np.bool_):  # DBSCAN took True as 1
        raise ParameterError(f"min_samples={min_samples!r} must be an integer of at least 1 (neighbours).")
    # eps_mm: DBSCAN on positions in mm (each axis scaled by its spacing), else on voxel indices.
    if eps_mm is None:
        scale = (1.0,) * points.shape[1]
    elif spacing is None:
        raise ParameterError(
            f"eps_mm={eps_mm!r} needs the voxel spacing: pass spacing= (mm per axis), a Volume, "
            "or eps in voxels."
        )
    else:
        scale = voxels("spacing", spacing, None, None, points.shape[1])
    if points.shape[0] == 0:
        return xp.zeros(data.shape, np.int32) if is_mask else xp.zeros(0, np.int32)
    ns = namespace(points)
    if is_mask and (ns.device == "cpu" or ns.ml is None):
        # scikit-learn's DBSCAN keeps each point's neighbours (8-byte indices) all at once: a mask of
        # 1.5 million voxels at eps_mm=10 (voxels of 0.7 x 0.7 x 2.5 mm: 3377 neighbours each) asked
        # for 40 GB, and the process was killed for memory.
        each = min(_neighbours(float(radius), scale, data.shape), points.shape[0])
        name = "eps" if eps_mm is None else "eps_mm"
        check_bytes(
            8 * points.shape[0] * each,
            f"DBSCAN's neighbourhoods of {points.shape[0]} mask voxels within {name}={radius!r} (up to "
            f"{each} neighbours each; a smaller {name} has fewer)",
        )
    labels = make_estimator("dbscan", "clustering", eps=float(radius), min_samples=min_samples)
    found = xp.asarray(labels.fit(points * xp.asarray(scale)).labels_, dtype=np.int32)
    if not is_mask:
        return found
    out = xp.zeros(data.shape, np.int32)
    out[inside] = found + 1
    return out


def _neighbours(radius: float, scale, shape) -> int:
    """The most voxels of a mask of ``shape`` within ``radius`` of one, itself included: the points of
    the lattice of steps ``scale`` in the ball of that radius, each offset within the mask's extent.

    Counted along the last axis in closed form for each offset along the others. A radius beyond
    twice the mask's diagonal holds all offsets, as that does (eps=1e200 squared overflowed)."""
    radius = min(radius, 2 * math.hypot(*[(n - 1) * step for step, n in zip(scale, shape, strict=True)]))
    reach = [min(int(radius // step), n - 1) for step, n in zip(scale, shape, strict=True)]
    lead = np.meshgrid(
        *[np.arange(-r, r + 1) * step for r, step in zip(reach[:-1], scale[:-1], strict=True)], indexing="ij"
    )
    left = radius**2 - sum(offset**2 for offset in lead)
    along = np.minimum(np.floor(np.sqrt(np.maximum(left, 0.0)) / scale[-1]), reach[-1])
    return int(np.where(left >= 0, 2 * along + 1, 0).sum())
