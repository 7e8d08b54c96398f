"""Volumes onto another Volume's voxel grid: the same voxels in another axis order, found exactly.

A mask drawn on a NIfTI written by dcm2niix (rows stored bottom-up), a segmentation model's output or
an NRRD saved in another orientation often lies on the image's very voxels, only with its axes
permuted or reversed: :func:`on_same_voxels` finds that and reorders the voxels without
interpolating them.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from gpuimg.backend import is_dask
from gpuimg.volume import Volume, slice_meta

#: A new slice centre within this many old slices of an old one is that slice (for the meta per slice).
SAME_SLICE = 1e-6


def on_same_voxels(volume: Volume, reference: Volume, atol_mm: float) -> Volume | None:
    """``volume``'s voxels on ``reference``'s grid where both grids hold the same voxel centres.

    Parameters
    ----------
    volume : Volume
        The voxels to place.
    reference : Volume
        The grid to place them on (its voxels are not read).
    atol_mm : float [mm]
        How far a voxel centre of ``volume`` may lie from the reference centre it is matched with.
        :func:`gpuimg.preprocess.resample` uses 1e-3 of the reference's smallest spacing, as
        :func:`gpuimg.volume.check_same_grid` does.

    Returns
    -------
    Volume or None
        Where every voxel centre of ``volume`` lies within ``atol_mm`` of one voxel centre of
        ``reference``, one to one (the same shape up to the axes' order, the same spacing along
        matched axes, the axes permuted and/or reversed): ``volume``'s voxels transposed and flipped
        onto the reference's grid, a new C-contiguous array of the same dtype on the same device (a
        Dask array is reordered lazily, without computing it), in a Volume with the reference's shape,
        spacing, origin and direction and ``volume``'s meta; its entries per slice
        (:data:`gpuimg.volume.SLICE_META`) follow the slices where the reference's slices are
        ``volume``'s, in the same or reversed order, and are dropped where they come from another
        axis. None where the voxel centres differ.

    Notes
    -----
    Reference voxel ``r`` lies at ``volume``'s continuous index ``M r + t``, with ``M, t`` from
    ``inv(volume.affine) @ reference.affine``. The axis of ``volume`` that each reference axis runs
    along, and its sense, are read from the largest entry of each column of ``M``; the first index
    along it is 0 or the last voxel. The positions of the reference's 8 corner voxels are then
    compared with those of the ``volume`` voxels matched with them: both maps are affine, so the
    largest distance between matched centres is at a corner.

    Examples
    --------
    A mask stored with its rows reversed, as dcm2niix stores a DICOM series' rows, and its origin at
    the last row:

    >>> import numpy as np
    >>> from gpuimg import Volume
    >>> from gpuimg.preprocess._grid import on_same_voxels
    >>> image = Volume(np.zeros((2, 3, 4), np.int16), spacing=(2.0, 0.5, 0.5))
    >>> rows_up = Volume(
    ...     np.arange(24).reshape(2, 3, 4)[:, ::-1],
    ...     spacing=(2.0, 0.5, 0.5),
    ...     origin=(0.0, 1.0, 0.0),
    ...     direction=np.diag([1.0, -1.0, 1.0])[::-1],
    ... )
    >>> on_same_voxels(rows_up, image, atol_mm=1e-3).data[0].tolist()
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    >>> on_same_voxels(rows_up, Volume(np.zeros((2, 3, 4)), spacing=1.0), atol_mm=1e-3) is None
    True
    """
    found = _axis_map(volume, reference, atol_mm)
    if found is None:
        return None
    axes, flips = found
    view = volume.data.transpose(axes)[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    data = view if is_dask(view) else view.copy(order="C")
    n_old = volume.shape[0]
    kept = (range(n_old)[::-1] if flips[0] else range(n_old)) if axes[0] == 0 else None
    return _on_reference(volume, reference, data, slice_meta(volume.meta, n_old, kept))


def _axis_map(volume: Volume, reference: Volume, atol_mm: float):
    """``(axes, flips)`` taking ``volume``'s voxels onto the reference's same voxel centres: reference
    axis ``b`` runs along ``volume`` axis ``axes[b]``, reversed where ``flips[b]``; None where the
    centres differ by more than ``atol_mm`` [mm] anywhere (or do not pair one to one)."""
    linear = np.linalg.solve(volume.affine, reference.affine)[:3, :3]
    axes = tuple(int(a) for a in np.argmax(np.abs(linear), axis=0))
    if sorted(axes) != [0, 1, 2] or [volume.shape[a] for a in axes] != list(reference.shape):
        return None
    flips = tuple(bool(linear[a, b] < 0) for b, a in enumerate(axes))
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in reference.shape])), dtype=float)
    matched = np.zeros_like(corners)
    for b, (a, flip) in enumerate(zip(axes, flips, strict=True)):
        matched[:, a] = volume.shape[a] - 1 - corners[:, b] if flip else corners[:, b]
    at_reference = reference.affine[:3, :3] @ corners.T + reference.affine[:3, 3:]
    at_volume = volume.affine[:3, :3] @ matched.T + volume.affine[:3, 3:]
    if not np.all(np.linalg.norm(at_reference - at_volume, axis=0) <= atol_mm):
        return None
    return axes, flips


def _on_reference(volume: Volume, reference: Volume, data, meta: dict) -> Volume:
    """``data`` in a Volume of the reference's geometry, with ``volume``'s other fields and ``meta``."""
    return dataclasses.replace(
        volume,
        data=data,
        spacing=reference.spacing,
        origin=reference.origin,
        direction=reference.direction.copy(),
        meta=meta,
    )
