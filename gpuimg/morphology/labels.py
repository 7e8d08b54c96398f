"""Connected components (also across the chunks of a Dask array), small-object removal and hole filling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpuimg._arrays import check_ndim, roi_voxels
from gpuimg._support import check_axis, check_finite, check_flag, shown
from gpuimg._support import check_spacing as _spacing
from gpuimg.backend import is_dask, label_chunks, namespace, to_numpy
from gpuimg.errors import ParameterError
from gpuimg.kernels import labels as kernel
from gpuimg.volume import accepts_volume

from .binary import Image, Spacing

#: Connectivity (neighbours of a voxel) to the rank of ``scipy.ndimage.generate_binary_structure``.
CONNECTIVITY = {2: {4: 1, 8: 2}, 3: {6: 1, 18: 2, 26: 3}}


@dataclass(frozen=True, repr=False)
class Labels:
    """Connected components of a mask; unpacks as ``labels, count`` like ``scipy.ndimage.label``.

    Attributes
    ----------
    labels : int32 array (NumPy, CuPy or Dask), or Volume for a Volume mask
        0 for background, 1 to ``count`` for the components.
    count : int
    sizes : NumPy int64 array of ``count``
        Voxels per component (label ``k`` at index ``k - 1``).
    volumes_mm3 : NumPy float64 array of ``count`` [mm³], or None
        ``sizes`` times the voxel volume; None without a spacing (give ``spacing=`` or a Volume).
    bboxes : list of tuples of slices
        Bounding box of each component, as ``scipy.ndimage.find_objects`` gives it.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.morphology import label
    >>> mask = np.zeros((6, 6, 6), bool)
    >>> mask[0, 0, 0] = mask[3:, 3:, 3:] = True  # one voxel and a 3 x 3 x 3 cube
    >>> found = label(mask, spacing=(2.0, 0.5, 0.5))  # voxels of 0.5 mm³
    >>> found
    Labels(count=2, shape=(6, 6, 6), largest=27 voxels)
    >>> found.sizes.tolist(), found.volumes_mm3.tolist(), found.bboxes[1]
    ([1, 27], [0.5, 13.5], (slice(3, 6, None), slice(3, 6, None), slice(3, 6, None)))
    >>> labels, count = found  # as scipy.ndimage.label
    >>> count, int(labels[4, 4, 4])
    (2, 2)
    """

    labels: object
    count: int
    sizes: np.ndarray
    volumes_mm3: np.ndarray | None
    bboxes: list

    def __iter__(self):
        return iter((self.labels, self.count))

    def __repr__(self) -> str:
        largest = int(self.sizes.max()) if self.count else 0
        return f"Labels(count={self.count}, shape={tuple(self.labels.shape)}, largest={largest} voxels)"


def _structure(ndim, connectivity):
    ranks = CONNECTIVITY.get(ndim)
    if ranks is None:
        raise ParameterError(f"the mask must be 2D or 3D; got {ndim}D.")
    if connectivity is None:
        connectivity = max(ranks)
    whole = isinstance(connectivity, int | np.integer) and not isinstance(connectivity, bool)
    if not whole or connectivity not in ranks:
        shown = (
            repr(connectivity)
            if np.ndim(connectivity) == 0
            else f"an array of shape {np.shape(connectivity)}"
        )
        raise ParameterError(
            f"connectivity={shown} is not one of {sorted(ranks)} for a {ndim}D mask: the number of "
            "neighbours each voxel joins (a structuring element is not taken)."
        )
    import scipy.ndimage

    return scipy.ndimage.generate_binary_structure(ndim, ranks[connectivity])


@accepts_volume(new_units=True)
def label(mask: Image, connectivity: int | None = None, *, spacing: Spacing = None) -> Labels:
    """Label the connected components of ``mask``, with their sizes and bounding boxes.

    Parameters
    ----------
    mask : bool array (NumPy, CuPy or Dask) or Volume, 2D or 3D
        Non-zero voxels are foreground; NaN voxels of a float mask are not.
    connectivity : {6, 18, 26} in 3D, {4, 8} in 2D, optional
        Which neighbours connect: faces, faces and edges, or all; by default all (26 in 3D, 8 in
        2D), as scikit-image's ``label``.
    spacing : float or sequence of float [mm], optional
        For ``volumes_mm3``; a Volume brings its own.

    Returns
    -------
    Labels
        Equal to ``scipy.ndimage.label`` with the same structure up to a permutation of the
        labels (identical for NumPy and CuPy input), with ``find_objects`` boxes. It unpacks as
        ``labels, count``; the labels of a Volume are a Volume of the same geometry.

    Raises
    ------
    ParameterError
        For a mask that is not 2D or 3D, a ``connectivity`` that is not one of the mask's (6, 18, 26 in
        3D; 4, 8 in 2D), or a spacing that is not positive, not one per axis, or differs from the Volume's
        own.

    Notes
    -----
    The labels are the library's (``scipy.ndimage.label`` or cupyx's); the sizes and boxes come
    from one pass over them (:mod:`gpuimg.kernels.labels`). A Dask array is labelled chunk by
    chunk, each chunk's labels offset to be unique; the labels of voxels that touch across a chunk
    face (within the connectivity) are joined by a union-find on those face pairs (on the host: the
    pairs are few), and a lookup table renumbers them 1 to ``count``. The sizes and boxes are
    computed per chunk and merged.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.morphology import label
    >>> mask = np.zeros((5, 5, 5), bool); mask[0, 0, 0] = mask[3:, 3:, 3:] = True
    >>> labels, n = label(mask)
    >>> n
    2
    >>> label(mask, spacing=(2.0, 1.0, 1.0)).volumes_mm3.tolist()
    [2.0, 16.0]
    """
    ndim = check_ndim(mask, tuple(CONNECTIVITY), "mask")
    structure = _structure(ndim, connectivity)
    spacing = None if spacing is None else _spacing(spacing, ndim)
    if np.dtype(mask.dtype).kind == "f":  # NaN is no part of the mask (NaN != 0 would count it in)
        mask = roi_voxels(mask)
    if is_dask(mask):
        return _label_dask(mask, structure, spacing)
    ns = namespace(mask)
    labels, count = ns.ndi.label(mask, ns.xp.asarray(structure))
    labels = labels.astype(np.int32, copy=False)
    count = int(count)
    sizes, boxes = _statistics(ns, labels, count)
    return Labels(labels, count, sizes, _volumes(sizes, spacing), boxes)


def _volumes(sizes, spacing):
    return None if spacing is None else sizes * float(np.prod(spacing))


def _statistics(ns, labels, count):
    """The sizes (NumPy int64, one per label) and ``find_objects`` boxes, from one pass."""
    volume = ns.xp.ascontiguousarray(labels).reshape((1,) * (3 - labels.ndim) + labels.shape)
    sizes, lows, highs = (
        to_numpy(a) for a in kernel.label_statistics(volume, count, xp=ns.xp, target=ns.target)
    )
    axes = slice(3 - labels.ndim, None)
    boxes = [
        tuple(slice(lo, hi + 1) for lo, hi in zip(low, high, strict=True))
        for low, high in zip(lows[1:, axes].tolist(), highs[1:, axes].tolist(), strict=True)
    ]
    return sizes[1:], boxes


def _label_dask(mask, structure, spacing):
    """Labels of a Dask mask, merged across its chunks (:func:`gpuimg.backend.label_chunks`)."""
    labels, count, sizes, lows, highs, _ = label_chunks(mask, structure)
    boxes = [
        tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high, strict=True))
        for low, high in zip(lows.tolist(), highs.tolist(), strict=True)
    ]
    return Labels(labels, count, sizes, _volumes(sizes, spacing), boxes)


@accepts_volume(new_units=True)
def remove_small_objects(
    mask: Image,
    min_size_mm3: float | None = None,
    *,
    min_voxels: int | None = None,
    connectivity: int | None = None,
    spacing: Spacing = None,
) -> Image:
    """Remove the connected components smaller than ``min_size_mm3`` [mm³] or ``min_voxels``.

    Parameters
    ----------
    mask : bool array (NumPy, CuPy or Dask) or Volume, 2D or 3D
        A Dask mask is labelled across its chunks (see :func:`label`).
    min_size_mm3 : float [mm³], optional
        Components of a smaller volume (voxels times the voxel volume) go.
    min_voxels : int, optional
        Components of fewer voxels go (give this or ``min_size_mm3``).
    connectivity : {6, 18, 26} in 3D, {4, 8} in 2D, optional
        As in :func:`label`; by default all neighbours (26 in 3D, 8 in 2D).
    spacing : float or sequence of float [mm], optional

    Returns
    -------
    bool array or Volume
        Components of at least ``min_voxels`` (or ``min_size_mm3``) kept: equal to
        ``skimage.morphology.remove_small_objects(mask.astype(bool), max_size=min_voxels - 1,
        connectivity=rank)``; on the input's device. An integer mask is a mask here (its non-zero
        voxels, joined by ``connectivity``), where scikit-image takes an integer array as labels,
        each label one object however its voxels touch; a float mask's NaN voxels are not in it.

    Raises
    ------
    ParameterError
        Neither or both of ``min_size_mm3`` and ``min_voxels``, one that is not a finite number
        >= 0, ``min_size_mm3`` without a spacing, or a bad ``connectivity``.

    Examples
    --------
    A one-voxel speck (0.5 mm³) removed, a 27-voxel nodule (13.5 mm³) kept:

    >>> import numpy as np
    >>> from gpuimg.morphology import remove_small_objects
    >>> mask = np.zeros((6, 6, 6), bool)
    >>> mask[0, 0, 0] = mask[3:, 3:, 3:] = True
    >>> kept = remove_small_objects(mask, min_size_mm3=1.0, spacing=(2.0, 0.5, 0.5))
    >>> int(kept.sum()), bool(kept[0, 0, 0])
    (27, False)
    >>> int(remove_small_objects(mask, min_voxels=1).sum())  # both have at least 1 voxel
    28
    """
    if (min_size_mm3 is None) == (min_voxels is None):
        raise ParameterError("give one of min_size_mm3 (mm³) or min_voxels, not both or neither.")
    if min_voxels is not None:
        min_voxels = check_finite(min_voxels, "min_voxels", low=0)
    else:
        min_size_mm3 = check_finite(min_size_mm3, "min_size_mm3", low=0)
    if min_size_mm3 is not None and spacing is None:
        raise ParameterError(
            f"min_size_mm3={min_size_mm3!r} needs the voxel spacing: pass spacing= (mm per axis), "
            "a Volume, or min_voxels."
        )
    result = label(mask, connectivity, spacing=spacing)
    ns = namespace(result.labels)
    if min_voxels is not None:
        keep = result.sizes >= min_voxels
    else:
        # A volume is a rounded product (1000 voxels of 0.7³ mm: 342.99999999999994 mm³), so a
        # component of exactly min_size_mm3 is kept within 1e-12 relative (one voxel of 10¹² voxels).
        keep = result.volumes_mm3 >= min_size_mm3 * (1.0 - 1e-12)
    lut = ns.xp.asarray(np.concatenate([[False], keep]))
    if is_dask(result.labels):
        return result.labels.map_blocks(lambda block: lut[block], dtype=bool)
    return lut[result.labels]


@accepts_volume(new_units=True)
def fill_holes(mask: Image, *, slice_by_slice: bool = False, axis: int | None = None) -> Image:
    """Fill the holes of a binary mask (``scipy.ndimage.binary_fill_holes``), in 3D or per slice.

    Parameters
    ----------
    mask : bool array (NumPy or CuPy) or Volume, 2D or 3D
        Non-zero voxels are foreground; NaN voxels of a float mask are not.
    slice_by_slice : bool
        Fill each 2D slice along ``axis`` on its own (a hole open in 3D but closed in its slice,
        as a vessel through an organ, is filled).
    axis : int, optional
        The slicing axis with ``slice_by_slice``; default 0 (axial slices of a (z, y, x) volume).
        Without ``slice_by_slice`` the holes are filled in 3D, along no axis, so it is refused there.

    Returns
    -------
    bool array or Volume, on the input's device.

    Raises
    ------
    ParameterError
        For a Dask array (a hole may span chunks), a mask that is not 2D or 3D, a ``slice_by_slice``
        that is not True or False, an ``axis`` without ``slice_by_slice``, or, slice by slice, a mask
        that is not 3D or an ``axis`` that is not a whole number from -3 to 2.

    Examples
    --------
    A hollow cube is filled in 3D; a vessel running through an organ is a hole only in each slice:

    >>> import numpy as np
    >>> from gpuimg.morphology import fill_holes
    >>> shell = np.zeros((5, 5, 5), bool)
    >>> shell[1:4, 1:4, 1:4] = True
    >>> shell[2, 2, 2] = False
    >>> int(fill_holes(shell).sum())  # 26 voxels and the hole
    27
    >>> organ = np.ones((3, 3, 3), bool)
    >>> organ[:, 1, 1] = False  # a vessel along z, open at both ends
    >>> int(fill_holes(organ).sum()), int(fill_holes(organ, slice_by_slice=True).sum())
    (24, 27)
    """
    if is_dask(mask):
        raise ParameterError("fill_holes needs the whole mask (a hole may span chunks); pass mask.compute().")
    check_ndim(mask, (2, 3), "mask")  # an extra axis of length 1 left every hole open: all on the edge
    ns = namespace(mask)
    mask = roi_voxels(ns.xp.asarray(mask))
    if not check_flag(slice_by_slice, "slice_by_slice"):
        if axis is not None:
            fix = (
                "add slice_by_slice=True, or leave axis out to fill the holes in 3D"
                if mask.ndim == 3
                else f"leave it out for a {mask.ndim}D mask, filled as a whole"
            )
            raise ParameterError(
                f"axis={shown(axis)} is used only with slice_by_slice=True (the axis across the slices "
                f"filled one by one); {fix}."
            )
        return ns.ndi.binary_fill_holes(mask)
    if mask.ndim != 3:
        raise ParameterError(f"slice_by_slice needs a 3D mask; got {mask.ndim}D.")
    structure = ns.xp.zeros((3, 3, 3), dtype=bool)
    index = [slice(None)] * 3
    index[0 if axis is None else check_axis(axis, 3)] = 1
    structure[tuple(index)] = ns.xp.asarray(_structure(2, 4))
    return ns.ndi.binary_fill_holes(mask, structure=structure)
