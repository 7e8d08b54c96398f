"""Geometry: resampling to a new voxel spacing on the IBSI grid or onto another Volume's grid, and
cropping to a mask.

These change the voxel grid, so for a :class:`~gpuimg.Volume` they return a Volume whose spacing and
origin describe the new grid (:func:`_regridded`; onto another Volume's grid, :mod:`._grid`); the
meta is kept, but for the entries per slice (``meta["files"]``, ``meta["missing_slices"]``), which
follow the slices kept, or are dropped where the new slices are not old ones. Plain arrays take
their spacing as an argument.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import (
    as_image,
    check_gathered,
    check_known_shape,
    check_mask_shape,
    float_dtype,
    roi_voxels,
)
from gpuimg._memory import check_allocation
from gpuimg._support import check_cval, check_mode, shown
from gpuimg._support import check_spacing as _spacing
from gpuimg._units import voxels
from gpuimg.backend import is_dask, namespace, to_numpy
from gpuimg.errors import GeometryError, MemoryBudgetError, ParameterError
from gpuimg.volume import Volume, check_same_grid, slice_meta

from ._grid import (
    check_order,
    check_reference,
    contracted,
    on_same_voxels,
    onto_reference,
    same_voxels_atol,
    slices_on_old,
)

Image = ArrayLike | Volume
Spacing = float | Sequence[float] | None


def resample(
    image: Image,
    spacing: Spacing = None,
    new_spacing: Spacing = None,
    order: int = 1,
    *,
    mode: str = "nearest",
    cval: float = 0.0,
    reference: Volume | None = None,
) -> Image:
    """Resample to ``new_spacing`` [mm] on the IBSI grid (grid centres aligned), or onto the grid of
    another Volume (``reference``).

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 1D to 3D
        A Volume with ``reference``.
    spacing : float or sequence of float [mm]
        The current spacing per axis (z, y, x); a Volume brings its own (leave None).
    new_spacing : float or sequence of float [mm]
        The wanted spacing; leave None with ``reference``.
    order : {0, 1, 3}
        Interpolation: nearest neighbour, linear or cubic B-spline (``scipy.ndimage`` orders).
    mode, cval
        Values past the original grid, as in ``scipy.ndimage`` (the IBSI grid reaches at most half
        an original voxel past the outer voxel centres). Default "nearest", which equals SimpleITK's
        resampler with orders 0 and 1: it counts that rim as inside the image (its default pixel
        value goes only past the outer voxel edges). With order 3, SimpleITK's B-spline
        (``sitkBSpline``) takes its coefficients with mirror boundaries: "mirror" equals it, while
        "nearest" (SciPy's prefilter with constant extension) differs near the outer voxels (by about
        250 HU on noise of standard deviation 100 HU; see Notes). With "constant" the rim takes
        ``cval``: 5 mm slices resampled to 1 mm lose 2 new slices at each end to it. With
        ``reference``, a reference voxel whose centre lies past the image's outer voxel EDGES gets
        ``cval`` whatever the mode, as SimpleITK's default pixel value; ``mode`` applies within them.
    reference : Volume, optional
        The grid to resample onto (its shape, spacing, origin and direction; its voxels are not read),
        in the same patient coordinates: for a mask on another grid than its image,
        ``resample_mask(mask, reference=image)``. Where the image holds the reference's very voxel
        centres (to 1e-3 of the reference's smallest spacing), in another axis order or direction
        (dcm2niix's rows stored bottom-up, an NRRD saved in another orientation), its voxels are
        reordered exactly, without interpolation (nor the blur of order 3's prefilter); else they
        are interpolated at each reference voxel's position.

    Returns
    -------
    array or Volume
        Of shape ``ceil(n * spacing / new_spacing)`` per axis; float32 (float64 for float64 and
        32/64-bit integer input). A Volume gets ``new_spacing`` and the origin of the new grid; its
        meta per slice (``meta["files"]``, ``meta["missing_slices"]``) is kept where every new slice
        centre lies on an old one (z spacing unchanged, or a multiple of it whose IBSI grid falls on
        old centres) and dropped where the slices are new ones. With ``reference``: a Volume of the
        reference's shape, spacing, origin and direction, and the image's meta (its entries per slice
        kept where every reference slice lies on an image slice); the same dtype as interpolation
        gives, also where the voxels are only reordered.

    Raises
    ------
    ParameterError
        For a spacing that is missing, not positive or of the wrong length, or a ``spacing=`` that
        differs from the Volume's own; an unknown order or mode. With ``reference``: a reference that
        is not a Volume, an image that is not one (a plain array has no position), or a
        ``spacing``/``new_spacing`` given besides it (one of the two would be ignored).
    MemoryBudgetError
        If the new grid would exceed the memory budget (a ``new_spacing`` far finer than ``spacing``,
        a large reference grid), or a Dask input, computed whole, would (checked before it is read).

    Notes
    -----
    IBSI 1 reference manual, section 2.4 (interpolation, "align grid centres"): along an axis of
    ``n_a`` voxels of spacing ``s_a``, the new grid has ``n_b = ceil(n_a s_a / s_b)`` voxels, and its
    first voxel centre lies at ``(s_a (n_a - 1) - s_b (n_b - 1)) / 2`` mm from the old first centre,
    so both grids share their centre. New voxel ``j`` is read at the old index
    ``((n_a - 1) - (n_b - 1) s_b / s_a) / 2 + j s_b / s_a`` with ``scipy.ndimage.affine_transform``
    (``cupyx.scipy.ndimage`` on the GPU); order 3 uses SciPy's spline prefilter, whose boundary is
    ``mode``'s: with "mirror" the result is SimpleITK's ``sitkBSpline`` (to float rounding), with
    "nearest" it differs from it within a few voxels of the faces (the interior, farther than the
    prefilter's reach, agrees). On a Dask array
    the volume is computed into memory, resampled whole, and returned as a one-chunk Dask array.
    With order 0 or 1, a NaN spreads to the new voxels whose interpolation reads it, and so does an
    inf, as NaN (``0 * inf``) where it has weight 0 (a new centre on an old one) and an inf elsewhere.
    With order 3, SciPy's spline prefilter runs along whole lines: one NaN or inf makes every new
    voxel NaN; replace them first (e.g. ``np.nan_to_num``). With order 0, a new centre exactly
    halfway between two old ones (the middle of an even axis resampled to an odd number of
    voxels) takes either neighbour, as floating-point rounding of its position decides.

    With ``reference``, reference voxel ``r`` is read at the image's continuous index ``M r + t``
    (``M, t`` from ``inv(image.affine) @ reference.affine``), with ``affine_transform`` as above; a
    voxel whose index lies outside ``[-0.5, n - 0.5]`` (by more than 1e-6 voxel) along an image axis
    of ``n`` voxels gets ``cval``. That is SimpleITK's ``sitk.Resample(image, reference,
    sitk.Transform(), interpolator, cval)`` with ``sitkNearestNeighbor`` (order 0) and ``sitkLinear``
    (order 1, mode "nearest"), but for order 0's ties (a reference centre halfway between two image
    centres) and points within 1e-6 voxel of the outer edges. A Dask image on the same voxels is
    reordered lazily; otherwise it is computed whole, as above.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg import Volume
    >>> from gpuimg.preprocess import resample
    >>> ct = Volume(np.zeros((4, 10, 10), np.int16), spacing=(5.0, 0.4, 0.4))
    >>> iso = resample(ct, new_spacing=1.0)
    >>> iso.shape, iso.spacing, iso.dtype
    ((20, 4, 4), (1.0, 1.0, 1.0), dtype('float32'))
    >>> [round(v, 6) for v in iso.origin]  # LPS: 0.3 mm along x (L) and y (P), -2 mm along z (S)
    [0.3, 0.3, -2.0]

    Onto another Volume's grid: the same voxels stored with their rows bottom-up (as dcm2niix stores
    a DICOM series) come back exactly; a grid shifted by 0.75 mm along x is interpolated.

    >>> ramp = Volume(np.arange(8.0).reshape(2, 2, 2), spacing=(2.0, 1.0, 1.0))
    >>> up = np.diag([1.0, -1.0, 1.0])[::-1]  # columns z, y, x: y runs anterior (-P)
    >>> rows_up = Volume(ramp.data[:, ::-1], ramp.spacing, origin=(0.0, 1.0, 0.0), direction=up)
    >>> resample(rows_up, reference=ramp).data.tolist() == ramp.data.tolist()
    True
    >>> shifted = Volume(np.zeros((2, 2, 2)), spacing=(2.0, 1.0, 1.0), origin=(0.75, 0.0, 0.0))
    >>> resample(ramp, reference=shifted).data[0].tolist()  # x = 1.75 mm lies past the edge: cval
    [[0.75, 0.0], [2.75, 0.0]]
    """
    if reference is not None:
        check_reference("resample", image, reference, spacing, new_spacing)
        return onto_reference(image, reference, order, mode, cval)
    if isinstance(image, Volume):
        _check_own_spacing(
            "resample", image, spacing, "pass new_spacing only (resample(volume, new_spacing=...))"
        )
        data, offset, _ = _resample(image.data, image.spacing, new_spacing, order, mode, cval)
        # The spacing asked for, not spacing * (new / spacing): 0.7 * (1.5 / 0.7) is 1.4999999999999998.
        return _regridded(image, data, offset, _spacing(new_spacing, 3, "new_spacing"))
    return _resample(image, spacing, new_spacing, order, mode, cval)[0]


def resample_mask(
    mask: Image,
    spacing: Spacing = None,
    new_spacing: Spacing = None,
    threshold: float = 0.5,
    *,
    reference: Volume | None = None,
) -> Image:
    """Resample a mask onto the IBSI grid of :func:`resample`, or onto another Volume's grid: linear
    interpolation, then ``>= threshold``.

    Parameters
    ----------
    mask : array (NumPy, CuPy or Dask) or Volume
        Non-zero voxels are the ROI (NaN voxels of a float mask are not), as for every mask of
        gpuimg: a 0/255 mask or a label image gives the mask of all its labels; resample one
        label's mask to keep it apart: ``labels == k`` of an array, ``dataclasses.replace(labels,
        data=labels.data == k)`` of a Volume.
    spacing, new_spacing : float or sequence of float [mm]
        As :func:`resample`; leave None with ``reference``.
    threshold : float
        Partial-volume threshold in (0, 1]: a new voxel belongs to the mask when the
        interpolated fraction is at least this (IBSI: 0.5).
    reference : Volume, optional
        The grid to resample onto, as :func:`resample`'s: ``resample_mask(mask, reference=image)``
        puts a mask Volume on its image's grid. A mask on the image's very voxels in another axis
        order or direction is reordered exactly; else its 0/1 fraction is interpolated linearly
        (0 past the mask's outer voxel edges) and thresholded.

    Returns
    -------
    array of bool or Volume
        The mask on the new grid (with ``reference``, a Volume on the reference's grid).

    Raises
    ------
    ParameterError
        For a ``threshold`` outside (0, 1]; a spacing or new spacing that is missing, not positive or not
        one per axis; a ``spacing=`` that differs from the mask Volume's own. With ``reference``: a
        reference or mask that is not a Volume, or a spacing given besides it.
    MemoryBudgetError
        If the new grid would exceed the memory budget (a ``new_spacing`` far finer than ``spacing``,
        a large reference grid), or a Dask input, computed whole, would (checked before it is read).

    Examples
    --------
    Two 5 mm slices of a mask resampled to 2.5 mm: four new slices, the same 10 mm.

    >>> import numpy as np
    >>> from gpuimg.preprocess import resample_mask
    >>> mask = np.zeros((4, 4, 4), bool)
    >>> mask[1:3] = True
    >>> new = resample_mask(mask, spacing=(5.0, 1.0, 1.0), new_spacing=(2.5, 1.0, 1.0))
    >>> new.shape, new.dtype
    ((8, 4, 4), dtype('bool'))
    >>> new[:, 0, 0].astype(int).tolist()  # fractions 0.25 at the ends: below 0.5, outside
    [0, 0, 1, 1, 1, 1, 0, 0]
    """
    number = isinstance(threshold, int | float | np.integer | np.floating) and not isinstance(threshold, bool)
    if not (number and 0 < threshold <= 1):  # True would be 1, a fraction of a voxel
        raise ParameterError(f"threshold={threshold!r} must be a number in (0, 1].")
    if reference is not None:
        check_reference("resample_mask", mask, reference, spacing, new_spacing)
    data = mask.data if isinstance(mask, Volume) else as_image(mask, "mask")
    roi = roi_voxels(data)
    if reference is not None:
        same = on_same_voxels(
            dataclasses.replace(mask, data=roi), reference, atol_mm=same_voxels_atol(reference)
        )
        if same is not None:
            return same
    inside = roi.astype(np.float32)  # 0/1: a 0/255 mask would reach 0.5 far outside
    fraction = resample(
        dataclasses.replace(mask, data=inside) if isinstance(mask, Volume) else inside,
        spacing,
        new_spacing,
        order=1,
        reference=reference,
    )
    if isinstance(fraction, Volume):
        return dataclasses.replace(fraction, data=fraction.data >= np.float32(threshold))
    return fraction >= np.float32(threshold)


def crop_to_mask(
    image: Image,
    mask: ArrayLike | Volume,
    margin: float | Sequence[float] | None = None,
    *,
    margin_mm: float | Sequence[float] | None = None,
    spacing: Spacing = None,
) -> Image:
    """Crop to the bounding box of ``mask`` grown by ``margin`` [voxels] or ``margin_mm`` [mm] on each side.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume
    mask : array or Volume, the image's shape
        Non-zero voxels mark the region of interest (NaN voxels of a float mask are outside).
    margin : float or sequence of float [voxels], optional
        Margin kept around the box, per axis; rounded up to whole voxels, cut at the volume's edge.
        Default 0.
    margin_mm : float or sequence of float [mm], optional
        The margin in mm instead: ``margin_mm / spacing[a]`` voxels along axis ``a``; needs
        ``spacing`` or a Volume.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``margin_mm``; a Volume brings its own (another one is refused).

    Returns
    -------
    array or Volume
        A view (NumPy, CuPy) or lazy slice (Dask) of ``image``; a Volume gets the origin of its
        first kept voxel, and the meta per slice of the kept slices (``meta["files"]`` their files,
        ``meta["missing_slices"]`` their new indices). To crop the mask alike:
        ``crop_to_mask(mask, mask, margin)``.

    Raises
    ------
    GeometryError
        If the mask's shape differs from the image's, or a mask Volume lies on another grid than
        an image Volume (spacing, origin or direction).
    ParameterError
        If the mask is empty, or the margin or spacing is not valid.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> from gpuimg.preprocess import crop_to_mask
    >>> mask = np.zeros((8, 8, 8), bool)
    >>> mask[2:4, 3:6, 1] = True  # a box of 2 x 3 x 1 voxels
    >>> crop_to_mask(mask, mask).shape, crop_to_mask(mask, mask, margin=1).shape
    ((2, 3, 1), (4, 5, 3))
    >>> ct = gpuimg.Volume(np.zeros((8, 8, 8), np.int16), spacing=(2.5, 0.5, 0.5))
    >>> roi = crop_to_mask(ct, mask, margin_mm=1.0)  # 1, 2 and 2 voxels; x stops at the edge
    >>> roi.shape, roi.origin  # origin (x, y, z) [mm] of the first kept voxel, (z, y, x) = (1, 1, 0)
    ((4, 7, 4), (0.0, 0.5, 2.5))
    """
    data = image.data if isinstance(image, Volume) else image
    if not hasattr(data, "shape"):  # a list becomes an array; a file name is told to be read
        data = as_image(data)
    if isinstance(image, Volume):
        _check_own_spacing("crop_to_mask", image, spacing, "leave spacing out")
        spacing = image.spacing
    if isinstance(image, Volume) and isinstance(mask, Volume):
        check_same_grid(image, mask, "crop_to_mask")
    mask = as_image(mask.data if isinstance(mask, Volume) else mask, "mask")
    check_known_shape(data)
    check_known_shape(mask, "mask")
    ndim = np.ndim(data)
    check_mask_shape(mask, data, error=GeometryError)
    margins = voxels("margin", margin, margin_mm, spacing, ndim, default=0.0, allow_zero=True)
    xp = namespace(mask).xp
    found = roi_voxels(mask if is_dask(mask) else xp.asarray(mask))
    bounds = []
    for axis in range(ndim):
        others = tuple(a for a in range(ndim) if a != axis)
        bounds.append(found.any(axis=others) if others else found)
    if is_dask(found):
        import dask

        bounds = dask.compute(*bounds)
    # One read of the device for all axes' projections (not one per axis).
    flat = to_numpy(xp.concatenate([xp.asarray(along) for along in bounds]))
    bounds = np.split(flat, np.cumsum(np.shape(data))[:-1])
    slices = []
    for axis, along in enumerate(bounds):
        hits = np.flatnonzero(along)
        if hits.size == 0:
            raise ParameterError("crop_to_mask: the mask is empty; there is nothing to crop to.")
        grow = math.ceil(margins[axis] - 1e-9)
        slices.append(slice(max(int(hits[0]) - grow, 0), min(int(hits[-1]) + 1 + grow, data.shape[axis])))
    cropped = data[tuple(slices)]
    if isinstance(image, Volume):
        return _regridded(image, cropped, tuple(float(s.start) for s in slices), image.spacing)
    return cropped


def _check_own_spacing(caller: str, volume: Volume, spacing, advice: str) -> None:
    """Refuse a ``spacing`` [mm] given with a Volume that differs from its own (one would be dropped
    without a word); its own given again is accepted, as by :func:`gpuimg.volume.accepts_volume`."""
    if spacing is not None and not np.allclose(_spacing(spacing, 3), volume.spacing, rtol=1e-6, atol=0.0):
        raise ParameterError(
            f"{caller}: a Volume brings its own spacing, {volume.spacing} mm, and spacing={shown(spacing)} "
            f"differs from it; {advice}."
        )


def _resample(image, spacing, new_spacing, order, mode, cval):
    """The resampled array, the new first centre in old voxel indices, and the step per axis."""
    image = as_image(image)  # a list becomes an array; a file name is told to be read
    ndim = np.ndim(image)
    if ndim not in (1, 2, 3):
        raise ParameterError(f"the image must be 1D, 2D or 3D; got {ndim}D, shape {np.shape(image)}.")
    if spacing is None or new_spacing is None:
        raise ParameterError("resample needs spacing and new_spacing (mm), one per axis or one for all.")
    old = _spacing(spacing, ndim)
    new = _spacing(new_spacing, ndim, "new_spacing")
    check_order(order)
    check_mode(mode)
    check_cval(cval)
    check_known_shape(image)
    dtype = float_dtype(image.dtype)
    shape, offset, step = ibsi_grid(np.shape(image), old, new, dtype)
    if is_dask(image):
        import dask.array as da

        check_gathered("resample", image)
        whole = _resample(image.compute(), old, new, order, mode, cval)[0]
        return da.from_array(whole, chunks=whole.shape, asarray=False), offset, step
    ns = namespace(image)
    if 0 in np.shape(image):  # no voxel to read (SciPy would read past the input): none on the new grid
        shape = tuple(0 if n == 0 else m for n, m in zip(np.shape(image), shape, strict=True))
        return ns.xp.zeros(shape, dtype=dtype), offset, step
    work = ns.xp.asarray(image, dtype=dtype)
    # "constant": read the grid contracted about its centre, so that no new centre on an outer old one
    # rounds past it (contracted).
    read_step, read_offset = (step, offset)
    if mode == "constant":
        read_step, read_offset = contracted(step, offset, np.shape(image))
    out = ns.ndi.affine_transform(
        work,
        ns.xp.asarray(read_step, dtype=np.float64),  # on the device: cupyx divides the offset by it
        offset=tuple(float(o) for o in read_offset),
        output_shape=shape,
        order=order,
        mode=mode,
        cval=cval,
        prefilter=order > 1,
    )
    return out.astype(dtype, copy=False), offset, step


def ibsi_grid(
    shape: Sequence[int], spacing: Sequence[float], new_spacing: Sequence[float], dtype=np.float32
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """The IBSI resampling grid: its shape, its first centre (in old voxel indices), and its step.

    ``n_b = ceil(n_a s_a / s_b)``; first centre ``((n_a - 1) - (n_b - 1) s_b / s_a) / 2``; step ``s_b / s_a``
    (IBSI 1, section 2.4). The size is computed with a tolerance of 1e-9 voxel, so that a ratio
    such as 0.3 / 0.1 does not gain a voxel from rounding. A grid whose voxels of ``dtype`` (the
    resampled image's) would exceed the memory budget (:mod:`gpuimg._memory`) raises
    MemoryBudgetError before anything is made; a shape that is not whole numbers of voxels, or a
    spacing that is not one positive number [mm] or one per axis, raises ParameterError.

    Raises
    ------
    ParameterError
        For a ``shape`` that is not whole numbers of voxels, 0 or more, or a spacing or new spacing that is
        not one positive number [mm] or one per axis.
    MemoryBudgetError
        If the new grid, in voxels of ``dtype``, would exceed the memory budget.

    Examples
    --------
    Four 5 mm slices of 0.4 mm pixels to 1 mm voxels: the 20 mm along z hold 20 new slices, whose
    first centre lies 0.4 old slices (2 mm) before the old first centre, so both grids share their
    centre; the 4 mm along y and x hold 4 voxels, read every 2.5 old pixels.

    >>> from gpuimg.preprocess import ibsi_grid
    >>> shape, first, step = ibsi_grid((4, 10, 10), (5.0, 0.4, 0.4), (1.0, 1.0, 1.0))
    >>> shape, [round(v, 6) for v in first], step
    ((20, 4, 4), [-0.4, 0.75, 0.75], (0.2, 2.5, 2.5))
    """
    if not all(isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ParameterError(
            f"shape={shown(shape)} must be whole numbers of voxels, 0 or more, one per axis."
        )
    spacing = _spacing(spacing, len(shape))
    new_spacing = _spacing(new_spacing, len(shape), "new_spacing")
    what = f"resampling {tuple(shape)} voxels to new_spacing={tuple(new_spacing)} mm"
    sizes = [n * s_a / s_b for n, s_a, s_b in zip(shape, spacing, new_spacing, strict=True)]
    if not all(math.isfinite(size) for size in sizes):
        # Beyond the largest float (1.8e308 voxels along an axis): no whole size to make, nor memory for it.
        raise MemoryBudgetError(
            f"{what} needs more than 1.8e308 voxels along an axis (spacing={tuple(spacing)} mm), more than "
            "any memory holds. Check new_spacing and spacing, and that both are in mm."
        )
    shape_b, offset, step = [], [], []
    for n, size, s_a, s_b in zip(shape, sizes, spacing, new_spacing, strict=True):
        n_b = max(math.ceil(size - 1e-9), 1)
        ratio = s_b / s_a
        shape_b.append(n_b)
        offset.append(((n - 1) - (n_b - 1) * ratio) / 2)
        step.append(ratio)
    check_allocation(shape_b, dtype, what)
    return tuple(shape_b), tuple(offset), tuple(step)


def _regridded(volume: Volume, data, first_index, spacing) -> Volume:
    """``volume`` with new ``data`` on a new grid: its first voxel at the old (fractional) voxel
    index ``first_index``, with ``spacing`` [mm]; direction kept, and meta but for the entries per
    slice (:func:`gpuimg.volume.slice_meta`): kept for the old slices whose centres the new slices
    lie on (a crop, or a z spacing left as it was), dropped where any new slice lies between old ones."""
    offset_mm = np.asarray(volume.spacing) * np.asarray(first_index, dtype=float)
    origin = np.asarray(volume.origin) + volume.direction @ offset_mm
    n_old = volume.shape[0]
    kept = slices_on_old((spacing[0] / volume.spacing[0], 0.0, 0.0), first_index[0], data.shape, n_old)
    meta = slice_meta(volume.meta, n_old, kept)
    return dataclasses.replace(volume, data=data, spacing=tuple(spacing), origin=tuple(origin), meta=meta)
