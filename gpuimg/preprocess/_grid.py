"""Volumes onto another Volume's voxel grid (``resample(..., reference=)``), exactly where they can be.

A mask drawn on a NIfTI written by dcm2niix (rows stored bottom-up), a segmentation model's output or
an NRRD saved in another orientation often lies on the image's very voxels, only with its axes
permuted or reversed: :func:`on_same_voxels` finds that and reorders the voxels without
interpolating them. Elsewhere :func:`onto_reference` interpolates in patient coordinates, as
SimpleITK's resampler does with an identity transform.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from gpuimg._arrays import as_image, check_gathered, float_dtype
from gpuimg._memory import check_allocation
from gpuimg._regrid import edge_limits, past_the_edges
from gpuimg._support import check_cval, check_mode
from gpuimg.backend import is_dask, namespace
from gpuimg.errors import ParameterError
from gpuimg.volume import Volume, slice_meta

#: The interpolation orders of ``resample``: nearest neighbour, linear, cubic B-spline.
ORDERS = (0, 1, 3)
#: A new slice centre within this many old slices of an old one is that slice (for the meta per slice).
SAME_SLICE = 1e-6
#: How much "constant" mode contracts the grid read about the image's centre (see :func:`contracted`).
CONTRACTION = 1e-12


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
    return _reordered(volume, reference, atol_mm, volume.dtype)


def same_voxels_atol(reference: Volume) -> float:
    """How far [mm] ``resample(reference=)`` lets a voxel centre lie from the reference's and still be
    its voxel (:func:`on_same_voxels`): 1e-3 of the reference's smallest spacing, as
    :func:`gpuimg.volume.check_same_grid`."""
    return 1e-3 * min(reference.spacing)


def _reordered(volume: Volume, reference: Volume, atol_mm: float, dtype) -> Volume | None:
    """:func:`on_same_voxels`, its voxels converted to ``dtype`` in the same pass."""
    found = _axis_map(volume, reference)
    if found is None or not _corners_within(volume, reference, *found, atol_mm):
        return None
    data, meta = _turned(volume, *found, dtype)
    return _on_reference(volume, reference, data, meta)


def in_axis_order(volume: Volume, reference: Volume) -> Volume | None:
    """``volume`` with its axes permuted and reversed into the reference's order and directions, each
    voxel at the position it had: its geometry turned with them (spacings, direction columns, and the
    origin at the voxel that comes first); None where its axes do not pair one to one with the
    reference's (each reference axis along the ``volume`` axis nearest its direction, of as many
    voxels). Whether it then lies on the reference's grid is the caller's test (e.g. with the
    tolerances of a file header's rounding); :func:`on_same_voxels` tests it to ``atol_mm``.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg import Volume
    >>> from gpuimg.preprocess._grid import in_axis_order
    >>> image = Volume(np.zeros((2, 3, 4), np.int16), spacing=(2.0, 0.5, 0.5))
    >>> rows_up = Volume(
    ...     np.arange(24).reshape(2, 3, 4), (2.0, 0.5, 0.5), (0.0, 1.0, 0.0), np.diag([1.0, -1.0, 1.0])[::-1]
    ... )
    >>> turned = in_axis_order(rows_up, image)
    >>> turned.origin, turned.data[0, 0].tolist()  # the last row comes first
    ((0.0, 0.0, 0.0), [8, 9, 10, 11])
    """
    found = _axis_map(volume, reference)
    if found is None:
        return None
    axes, flips = found
    data, meta = _turned(volume, axes, flips, volume.dtype)
    first = [volume.shape[a] - 1 if flip else 0 for a, flip in sorted(zip(axes, flips, strict=True))]
    signs = np.where(flips, -1.0, 1.0)
    return dataclasses.replace(
        volume,
        data=data,
        spacing=tuple(volume.spacing[a] for a in axes),
        origin=tuple(volume.affine[:3, :3] @ np.asarray(first, dtype=float) + volume.affine[:3, 3]),
        direction=volume.direction[:, list(axes)] * signs,
        meta=meta,
    )


def _turned(volume: Volume, axes, flips, dtype):
    """``volume``'s voxels transposed to ``axes`` and reversed where ``flips``, in ``dtype`` (a new
    C-contiguous array on its device; a Dask array lazily), and its meta with the entries per slice
    following the slices where the first axis stays the first."""
    view = volume.data.transpose(axes)[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    if is_dask(view):
        data = view.astype(dtype)
    else:
        shape = tuple(volume.shape[a] for a in axes)
        check_allocation(shape, dtype, f"reordering {volume.shape} voxels onto the grid of reference=")
        data = namespace(view).xp.array(view, dtype=dtype, order="C", copy=True)
    n_old = volume.shape[0]
    kept = (range(n_old)[::-1] if flips[0] else range(n_old)) if axes[0] == 0 else None
    return data, slice_meta(volume.meta, n_old, kept)


def _axis_map(volume: Volume, reference: Volume):
    """``(axes, flips)`` pairing ``volume``'s axes with the reference's: reference axis ``b`` runs along
    ``volume`` axis ``axes[b]`` (the one nearest its direction), reversed where ``flips[b]``; None where
    they do not pair one to one, or the paired axes differ in length."""
    linear = np.linalg.solve(volume.affine, reference.affine)[:3, :3]
    axes = tuple(int(a) for a in np.argmax(np.abs(linear), axis=0))
    if sorted(axes) != [0, 1, 2] or [volume.shape[a] for a in axes] != list(reference.shape):
        return None
    return axes, tuple(bool(linear[a, b] < 0) for b, a in enumerate(axes))


def _corners_within(volume: Volume, reference: Volume, axes, flips, atol_mm: float) -> bool:
    """Whether the reference's 8 corner voxels lie within ``atol_mm`` [mm] of the ``volume`` voxels that
    ``axes`` and ``flips`` pair them with: both maps are affine, so then every pair does."""
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in reference.shape])), dtype=float)
    matched = np.zeros_like(corners)
    for b, (a, flip) in enumerate(zip(axes, flips, strict=True)):
        matched[:, a] = volume.shape[a] - 1 - corners[:, b] if flip else corners[:, b]
    at_reference = reference.affine[:3, :3] @ corners.T + reference.affine[:3, 3:]
    at_volume = volume.affine[:3, :3] @ matched.T + volume.affine[:3, 3:]
    return bool(np.all(np.linalg.norm(at_reference - at_volume, axis=0) <= atol_mm))


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


def check_reference(caller: str, image, reference, spacing, new_spacing) -> None:
    """Refuse a ``reference=`` that is no Volume, an ``image`` that is no Volume (a plain array has no
    position to resample from), and a spacing given besides a reference (one of the two would be
    ignored).

    Raises
    ------
    ParameterError
        Naming ``reference`` and what to do.
    """
    if not isinstance(reference, Volume):
        raise ParameterError(
            f"{caller}: reference= must be a Volume, whose grid (shape, spacing, origin, direction) the "
            f"result takes; got a {type(reference).__name__}. Pass the image Volume whose grid to resample "
            "onto (from gpuimg.read_dicom or gpuimg.read_image), or new_spacing= for the IBSI grid."
        )
    if not isinstance(image, Volume):
        raise ParameterError(
            f"{caller}: reference= needs a Volume to resample, and got a {type(image).__name__}: a plain "
            "array has no position in the patient, so it cannot be placed on the reference's grid. Pass "
            "it as gpuimg.Volume(array, spacing=..., origin=..., direction=...) with its own geometry."
        )
    given = [
        name for name, value in (("spacing", spacing), ("new_spacing", new_spacing)) if value is not None
    ]
    if given:
        raise ParameterError(
            f"{caller}: got reference= and {' and '.join(f'{g}=' for g in given)}: the reference gives the "
            "new grid (its shape, spacing, origin and direction) and the Volume its own spacing, so "
            f"{given[0]}= would be ignored. Leave it out, or leave reference= out to resample to new_spacing "
            "on the IBSI grid."
        )


def check_order(order) -> int:
    """``order`` itself where it is one of :data:`ORDERS`, else a ParameterError."""
    if not isinstance(order, int | np.integer) or isinstance(order, bool) or order not in ORDERS:
        raise ParameterError(f"order={order!r} is not supported; use 0 (nearest), 1 (linear) or 3 (cubic).")
    return int(order)


def onto_reference(image: Volume, reference: Volume, order: int, mode: str, cval: float) -> Volume:
    """``image`` resampled onto ``reference``'s grid: :func:`gpuimg.preprocess.resample`'s ``reference=``.

    Exactly (:func:`on_same_voxels`, to :func:`same_voxels_atol`) where both hold the same voxel
    centres; else by ``ndi.affine_transform`` of the device at each reference centre's continuous index
    in ``image`` (on the CPU, orders 0 and 1: its same values from :mod:`gpuimg.kernels.affine`),
    ``cval`` past ``image``'s outer voxel edges. A float dtype either way
    (:func:`gpuimg._arrays.float_dtype` of the image's).
    """
    order = check_order(order)
    check_mode(mode)
    cval = check_cval(cval)
    image = dataclasses.replace(image, data=as_image(image.data))
    dtype = float_dtype(image.dtype)
    same = _reordered(image, reference, same_voxels_atol(reference), dtype)
    if same is not None:
        return same
    if is_dask(image.data):
        import dask.array as da

        check_gathered("resample", image.data)
        whole = onto_reference(
            dataclasses.replace(image, data=image.data.compute()), reference, order, mode, cval
        )
        return dataclasses.replace(whole, data=da.from_array(whole.data, chunks=whole.shape, asarray=False))
    affine = np.linalg.solve(image.affine, reference.affine)
    matrix, offset = affine[:3, :3], affine[:3, 3]
    data = _interpolated(image.data, matrix, offset, reference.shape, dtype, order, mode, cval)
    kept = slices_on_old(matrix[0], offset[0], reference.shape, image.shape[0])
    return _on_reference(image, reference, data, slice_meta(image.meta, image.shape[0], kept))


def _interpolated(data, matrix, offset, shape, dtype, order, mode, cval):
    """``data`` read at the continuous indices ``matrix @ r + offset`` of the output indices ``r`` of
    ``shape``, in ``dtype``; ``cval`` where that index lies past ``data``'s outer voxel edges.

    On the CPU, orders 0 and 1 run :func:`gpuimg.kernels.affine.affine_transform` (SciPy's values,
    on the Numba threads, the edges' ``cval`` in the same pass); elsewhere ``ndi.affine_transform``
    of the device, then :func:`gpuimg._regrid.past_the_edges`' mask.
    """
    ns = namespace(data)
    xp = ns.xp
    what = f"resampling {tuple(data.shape)} voxels onto reference=, a grid of {tuple(shape)} voxels,"
    check_allocation(shape, dtype, what)
    if 0 in data.shape:  # no voxel to read (SciPy would read past the input)
        return xp.full(shape, cval, dtype=dtype)
    kernel = ns.device == "cpu" and order <= 1  # gpuimg.kernels.affine, which reads C order
    if data.dtype != dtype or (kernel and not data.flags.c_contiguous):
        check_allocation(data.shape, dtype, f"{what}: the image in {dtype}")
    if order > 1:
        check_allocation(data.shape, np.float64, f"{what}: its spline coefficients")
    read_matrix, read_offset = (
        contracted(matrix, offset, data.shape) if mode == "constant" else (matrix, offset)
    )
    if kernel:
        from gpuimg.kernels.affine import affine_transform  # here: `import gpuimg` need not load Numba

        out = np.empty(tuple(shape), dtype=dtype)
        edges = _edge_bounds(matrix, offset, data.shape, shape)
        return affine_transform(
            np.ascontiguousarray(data, dtype=dtype),
            read_matrix,
            read_offset,
            out,
            order=order,
            mode=mode,
            cval=cval,
            edges=edges,
        )
    out = ns.ndi.affine_transform(
        xp.asarray(data, dtype=dtype),
        xp.asarray(read_matrix, dtype=np.float64),  # on the device: cupyx calls its methods
        offset=tuple(float(t) for t in read_offset),
        output_shape=tuple(shape),
        order=order,
        mode=mode,
        cval=cval,
        prefilter=order > 1,
    ).astype(dtype, copy=False)
    outside = past_the_edges(xp, matrix, offset, data.shape, shape, what)
    if outside is not None:
        xp.copyto(out, cval, where=outside)
    return out


def _edge_bounds(matrix, offset, shape, out_shape):
    """:func:`gpuimg._regrid.past_the_edges`' test for the kernel: ``(matrix, lows, highs)``, output voxel
    ``(k, j, i)`` lying past the edges of an image of ``shape`` where ``(0 + matrix[a, 1] j) +
    matrix[a, 2] i`` lies below ``lows[a, k]`` or above ``highs[a, k]`` on an axis ``a``, the same
    float64 operations as that mask's; None where it finds every output corner within (no mask)."""
    limits = edge_limits(matrix, offset, shape, out_shape)
    if limits is None:
        return None
    matrix, offset, low, high = limits
    along = matrix[:, :1] * np.arange(out_shape[0], dtype=np.float64) + offset[:, None]
    return matrix, low - along, high[:, None] - along


def contracted(matrix, offset, shape) -> tuple[np.ndarray, np.ndarray]:
    """The map ``matrix @ r + offset`` (to continuous indices of an image of ``shape``) contracted about
    the image's centre by the factor ``1 - CONTRACTION``, for reading in "constant" mode.

    SciPy's "constant" gives ``cval`` to a point past the outer centres by any amount, and a new centre
    on an old outer one can round past it (-0.4 + 2 * 0.2 = -5.6e-17 voxel from 5 mm to 1 mm): the
    contraction of 1e-12 is far above that rounding (a few ulp of n) and far below any interpolation
    error (5e-10 voxel at 1000 voxels). ``matrix`` may be a diagonal given as its diagonal.
    """
    centre = (np.asarray(shape, dtype=float) - 1) / 2
    keep = 1.0 - CONTRACTION
    return np.asarray(matrix, dtype=float) * keep, centre + (np.asarray(offset, dtype=float) - centre) * keep


def slices_on_old(row, first: float, new_shape, n_old: int) -> list[int] | None:
    """The old slice index of each new slice where every new slice lies on an old one (for
    :func:`gpuimg.volume.slice_meta`), else None.

    New voxel ``(k, j, i)`` lies at old slice index ``first + row @ (k, j, i)``: every new slice lies on
    old slice ``round(first + row[0] k)`` where that is within :data:`SAME_SLICE` of a whole slice in
    ``[0, n_old)`` and the slice does not tilt across old slices (``row[1]``, ``row[2]`` move it by at
    most :data:`SAME_SLICE` over the new slice).
    """
    row = np.asarray(row, dtype=float)
    tilt = (
        float(np.abs(row[1:]) @ (np.asarray(new_shape[1:], dtype=float) - 1).clip(0)) if len(row) > 1 else 0.0
    )
    centres = float(first) + np.arange(new_shape[0]) * float(row[0])
    nearest = np.rint(centres)
    on_old = (
        tilt <= SAME_SLICE
        and np.all(np.abs(centres - nearest) <= SAME_SLICE)
        and np.all((nearest >= 0) & (nearest < n_old))
    )
    return nearest.astype(int).tolist() if on_old else None
