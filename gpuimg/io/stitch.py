"""Joining the stations (table positions) of one acquisition into one volume along the slice axis."""

import itertools
from collections.abc import Sequence

import numpy as np

from gpuimg._memory import check_allocation
from gpuimg._regrid import past_the_edges
from gpuimg._support import check_choice, check_cval, check_flag
from gpuimg._text import count, some
from gpuimg.backend import is_dask, namespace
from gpuimg.errors import GeometryError, ParameterError
from gpuimg.volume import Volume, slice_meta

_OVERLAPS = ("mean", "first", "last")
#: Directions and spacings that differ by less than this (relative) are the same.
_RTOL = 1e-4


def stitch(
    volumes: Sequence[Volume], overlap: str = "mean", *, resample: bool = False, cval: float = 0.0
) -> Volume:
    """Join stations of one patient along the slice axis, placed by their physical positions.

    Parameters
    ----------
    volumes : sequence of Volume
        The stations, in any order, on one device. They must share the slice direction and lie on one
        slice grid (same z spacing, offsets a whole number of slices). Without ``resample`` they must
        also share orientation, pixel spacing, image size and in-plane position. Dask stations are
        computed first (together, each chunk once): the joined volume is made in memory.
    overlap : {"mean", "first", "last"}
        Slices covered by several stations take their mean (rounded half to even for integer and
        bool data without ``resample``: the stations' majority for a bool mask, False where they
        split evenly), or the value of the station that comes first / last in ``volumes``.
    resample : bool
        Resample every station onto the first station's in-plane grid (its row and column directions,
        pixel spacing, image size and in-plane position) before joining, by linear interpolation in
        patient (LPS) coordinates within each slice; the slices stay where they are. Stations may then
        differ in pixel spacing, image size, in-plane position and in-plane orientation (rows and
        columns rotated, swapped or flipped within the slice plane). The first station's grid rather
        than the finest: it is the grid the result already takes its direction, slice grid and meta
        from, the caller picks it by putting a station first, "finest" has no single meaning when
        stations differ in field of view or have non-square pixels, and a finest grid chosen for the
        caller would silently upsample, and enlarge, every coarser station.
    cval : float
        With ``resample``, the value of voxels that no station covers (a station covers its pixels'
        area, up to half a pixel past its outer pixel centres). Default 0.0; -1024 is air in CT, NaN
        marks them.

    Returns
    -------
    Volume
        On the stations' device, origin at the lowest slice along the slice normal, direction and meta
        of the first station (with ``meta["stations"]`` the number joined, and without its entries per
        slice, ``meta["files"]`` and ``meta["missing_slices"]``, where several are joined: the joined
        slices are not the first station's). Without ``resample`` of the stations' dtype (NumPy's
        promotion of their dtypes); with ``resample`` of a float dtype: float32, or float64 where a
        station is float64 or a 32/64-bit integer, and ``meta["resampled"]`` lists the stations
        (indices into ``volumes``) that were interpolated.

    Raises
    ------
    GeometryError
        If stations name different frames of reference (``meta["frame_of_reference_uid"]``, as
        :func:`read_dicom` sets it), if slice directions (tilted stations) or z spacing disagree,
        stations are off the common slice grid, or a gap separates them; without ``resample`` also if
        in-plane geometry (orientation, pixel spacing, image size, in-plane position) disagrees.
    ParameterError
        If ``overlap`` is unknown, ``cval`` is not one real number, ``volumes`` is empty or the
        stations are on different devices.

    Notes
    -----
    A station whose slice axis points the other way is reversed first. Positions are compared in mm
    against 1% of the pixel (in-plane) or slice (along z) spacing, directions and spacings to 1e-4.

    With ``resample``, each slice of a station whose in-plane grid differs from the first station's is
    interpolated on its own (``ndi.affine_transform`` of the device, order 1, one 2D transform per
    slice, so no value leaks between slices); a station already on that grid is copied unchanged.
    Within half a pixel past a station's outer pixel centres the value of the nearest edge pixel is
    used, as ITK's linear interpolator does; further out the station does not count, so in overlapping
    slices ``"mean"`` averages only the stations that cover a voxel. Stations tilted against the first
    (slice normals apart) are refused: joining them needs 3D resampling, which moves slices.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg import Volume
    >>> head = Volume(np.ones((4, 8, 8)), spacing=(2.0, 1.0, 1.0))
    >>> body = Volume(np.full((6, 3, 3), 3.0), spacing=(2.0, 2.0, 2.0), origin=(0.0, 0.0, 6.0))
    >>> joined = stitch([head, body], resample=True)
    >>> joined.shape, joined.meta["resampled"], float(joined.data[3, 0, 0]), float(joined.data[3, 7, 7])
    ((9, 8, 8), [1], 2.0, 1.0)
    """
    check_choice(overlap, _OVERLAPS, "overlap")
    check_flag(resample, "resample")
    cval = check_cval(cval)
    if isinstance(volumes, Volume) or not isinstance(volumes, Sequence):
        raise ParameterError(
            f"stitch needs a list of Volumes (the stations); got a {type(volumes).__name__}."
        )
    if not volumes:
        raise ParameterError("stitch needs at least one volume; got none.")
    for i, volume in enumerate(volumes):
        if not isinstance(volume, Volume):
            raise ParameterError(
                f"Station {i} is a {type(volume).__name__}, not a Volume: stitch places stations by their "
                "geometry; wrap the array as Volume(data, spacing, origin, direction) first."
            )
    _check_frames_of_reference(volumes)
    reference = volumes[0]
    stations = [_aligned(v, reference, i, resample) for i, v in enumerate(volumes)]
    normal, dz = reference.direction[:, 0], reference.spacing[0]
    starts = []
    for i, station in enumerate(stations):
        offset = float((np.asarray(station.origin) - reference.origin) @ normal) / dz
        if abs(offset - round(offset)) > 0.01:
            raise GeometryError(
                f"Station {i} starts {offset * dz:.3f} mm from station 0 along the slice axis, not a whole "
                f"number of slices of {dz:.4g} mm; resample it onto station 0's slice grid first."
            )
        starts.append(round(offset))
    first = min(starts)
    n = max(s + v.shape[0] for s, v in zip(starts, stations, strict=True)) - first
    end = first
    for start, stop in sorted((s, s + v.shape[0]) for s, v in zip(starts, stations, strict=True)):
        if start > end:
            raise GeometryError(
                f"The stations leave a gap of {count(start - end, 'slice')} ({(start - end) * dz:.4g} mm) "
                f"starting {end * dz:.4g} mm from station 0's first slice; stitch joins touching or "
                "overlapping stations only."
            )
        end = max(end, stop)
    # The joined volume's dtype: with resample a float one (int16 stations join as float32, twice the bytes).
    dtype = np.result_type(*[s.data.dtype for s in stations], *([np.float32] if resample else []))
    check_allocation(
        (n, *reference.shape[1:]), dtype, f"stitch: {len(stations)} stations spanning {n} slices"
    )
    if any(is_dask(s.data) for s in stations):
        import dask

        # The joined volume is made in memory (its size checked above): Dask stations are computed
        # first, together, each chunk once (NumPy's `total += data` of a Dask slab was Dask's
        # NotImplementedError for overlap="mean", and a chunk across two slabs was computed twice).
        computed = dask.compute(*[s.data for s in stations])
        stations = [
            Volume(d, s.spacing, s.origin, s.direction, s.meta)
            for s, d in zip(stations, computed, strict=True)
        ]
    # Joined slices are not station 0's slices one to one: its meta per slice (files) goes.
    kept = range(reference.shape[0]) if len(volumes) == 1 else None
    meta = {**slice_meta(reference.meta, reference.shape[0], kept), "stations": len(volumes)}
    if resample:
        regridded = [_onto_in_plane_grid(s, reference, dtype) for s in stations]
        arrays = [data for data, _ in regridded]
        masks = [mask for _, mask in regridded]
        meta["resampled"] = [i for i, mask in enumerate(masks) if mask is not None]
    else:
        arrays, masks = [s.data for s in stations], [None] * len(stations)
    data = _join(arrays, masks, [s - first for s in starts], n, overlap, cval)
    origin = np.asarray(reference.origin) + normal * dz * first
    return Volume(data, reference.spacing, origin, reference.direction, meta)


def _check_frames_of_reference(volumes: Sequence[Volume]) -> None:
    """Refuse stations whose ``meta["frame_of_reference_uid"]`` name different frames of reference.

    Positions in two frames of reference are in two coordinate systems (each scanner, or each
    acquisition with the patient repositioned, sets its own origin), so their difference does not say
    where one station lies against the other. A station without a UID (a NIfTI file, an array wrapped
    by hand) is not compared.

    Raises
    ------
    GeometryError
        Naming the stations of each frame of reference.
    """
    frames: dict[str, list[int]] = {}
    for i, volume in enumerate(volumes):
        uid = str(volume.meta.get("frame_of_reference_uid") or "").strip()
        if uid:
            frames.setdefault(uid, []).append(i)
    if len(frames) > 1:
        listing = "; ".join(
            f"{'station' if len(i) == 1 else 'stations'} {some(i)} in {uid}" for uid, i in frames.items()
        )
        raise GeometryError(
            f"The stations lie in {len(frames)} frames of reference (meta['frame_of_reference_uid']): "
            f"{listing}. Positions in different frames of reference are in different coordinate systems, "
            "so they do not place the stations against each other. Join stations of one acquisition (one "
            "FrameOfReferenceUID), or register a station onto station 0 first and then set its "
            "meta['frame_of_reference_uid'] to station 0's."
        )


def _aligned(volume: Volume, reference: Volume, index: int, resample: bool) -> Volume:
    """``volume`` with its slice axis along the reference's; GeometryError if it cannot join it."""
    if namespace(volume.data).device != namespace(reference.data).device:
        raise ParameterError(
            f"Station {index} is on {volume.device}, station 0 on {reference.device}; move them to one "
            "device first (Volume.to)."
        )
    if volume.direction[:, 0] @ reference.direction[:, 0] < 0:
        far = volume.affine @ [volume.shape[0] - 1, 0, 0, 1]
        volume = Volume(
            volume.data[::-1], volume.spacing, far[:3], volume.direction * [-1, 1, 1], volume.meta
        )
    normal, expected = volume.direction[:, 0], reference.direction[:, 0]
    if not np.allclose(normal, expected, rtol=0, atol=_RTOL):
        angle = np.degrees(np.arccos(np.clip(normal @ expected, -1.0, 1.0)))
        raise GeometryError(
            f"Station {index} and station 0 differ in orientation (direction cosines): its slices are "
            f"tilted {angle:.3g} degrees against station 0's (slice normals {np.round(normal, 6).tolist()} "
            f"and {np.round(expected, 6).tolist()}). stitch keeps every slice where it is, so even "
            "resample=True resamples within the slice plane only; resample the station in 3D onto "
            "station 0's slice planes first."
        )
    if not np.isclose(volume.spacing[0], reference.spacing[0], rtol=0, atol=_RTOL * volume.spacing[0]):
        raise GeometryError(
            f"Station {index} and station 0 differ in slice spacing [mm]: {volume.spacing[0]:.6g} against "
            f"{reference.spacing[0]:.6g}. stitch keeps every slice where it is (resample=True resamples "
            "within the slice plane only); resample the station onto station 0's slice spacing first."
        )
    difference = None if resample else _in_plane_difference(volume, reference)
    if difference is not None:
        what, value, expected = difference
        raise GeometryError(
            f"Station {index} and station 0 differ in {what}: {np.round(value, 6).tolist()} against "
            f"{np.round(expected, 6).tolist()}. Pass resample=True to resample every station onto "
            "station 0's in-plane grid (linear interpolation), or resample it yourself first."
        )
    return volume


def _in_plane_difference(volume: Volume, reference: Volume):
    """The first in-plane property (name, value, reference's value) that differs, or None."""
    offset = np.asarray(volume.origin) - reference.origin
    checks = [
        ("orientation (direction cosines)", volume.direction, reference.direction, _RTOL),
        (
            "pixel spacing (y, x) [mm]",
            volume.spacing[1:],
            reference.spacing[1:],
            _RTOL * max(volume.spacing[1:]),
        ),
        ("image size (y, x)", volume.shape[1:], reference.shape[1:], 0),
        (
            "in-plane position offset [mm]",
            reference.direction[:, 1:].T @ offset,
            (0.0, 0.0),
            0.01 * min(reference.spacing[1:]),
        ),
    ]
    for what, value, expected, atol in checks:
        if not np.allclose(value, expected, rtol=0, atol=atol):
            return what, value, expected
    return None


def _onto_in_plane_grid(station: Volume, reference: Volume, dtype):
    """The station's slices on the reference's in-plane grid, and the 2D mask of pixels it covers.

    The mask is None where the station already lies on that grid (its data copied, not interpolated).
    A station to interpolate is converted to ``dtype`` one slice at a time: a float copy of it whole
    (of its own image size, which may be far larger than the reference's) is not made.
    """
    ns = namespace(station.data)
    xp = ns.xp
    if _in_plane_difference(station, reference) is None:
        return xp.asarray(station.data, dtype=dtype), None
    # Reference pixel (j, i) of a slice sits at p = o_ref + R_yx @ (dy j, dx i) (plus a move along the
    # common normal); the station's continuous index of p is S_yx^T (p - o_s) / (dy_s, dx_s).
    own, target = station.direction[:, 1:], reference.direction[:, 1:]
    own_spacing, target_spacing = np.asarray(station.spacing[1:]), np.asarray(reference.spacing[1:])
    normal = reference.direction[:, 0]
    shift = np.asarray(reference.origin) - station.origin
    shift -= normal * (shift @ normal)  # in-plane part only: the slice itself stays where it is
    linear = (own.T @ target) * target_spacing[None, :] / own_spacing[:, None]
    offset = own.T @ shift / own_spacing
    matrix = xp.asarray(np.column_stack([linear, offset]))  # (2, 3): on the device, as cupyx wants it
    shape = reference.shape[1:]
    out = xp.empty((station.shape[0], *shape), dtype=dtype)
    for k in range(station.shape[0]):
        out[k] = ns.ndi.affine_transform(
            xp.asarray(station.data[k], dtype=dtype),
            matrix,
            output_shape=shape,
            output=dtype,
            order=1,
            mode="nearest",
            prefilter=False,
        )
    outside = past_the_edges(xp, linear, offset, station.shape[1:], shape, "stitch: a station's slices")
    return out, xp.ones(shape, dtype=bool) if outside is None else ~outside


def _join(arrays: list, masks: list, starts: list[int], n: int, overlap: str, cval: float):
    """The stations' arrays placed at their first slices; a mask (2D, or None for all) says what counts."""
    xp = namespace(arrays[0]).xp
    dtype = np.result_type(*[a.dtype for a in arrays])
    shape = (n, *arrays[0].shape[1:])
    masked = any(m is not None for m in masks)
    if overlap == "mean":
        # Slab by slab between the stations' first and last slices: a slab of one station (all of it
        # counting) is copied; float64 sums only over the others, so the temporaries are the overlaps'.
        out = xp.empty(shape, dtype=dtype)
        ends = [start + a.shape[0] for start, a in zip(starts, arrays, strict=True)]
        edges = sorted({0, n, *starts, *ends})
        for lo, hi in itertools.pairwise(edges):
            cover = [
                (a[lo - start : hi - start], mask)
                for start, end, a, mask in zip(starts, ends, arrays, masks, strict=True)
                if start <= lo and hi <= end
            ]
            if len(cover) == 1 and cover[0][1] is None:
                out[lo:hi] = cover[0][0]
            else:
                out[lo:hi] = _mean_of(xp, cover, dtype, cval)
        return out
    out = xp.full(shape, cval, dtype=dtype) if masked else xp.empty(shape, dtype=dtype)
    order = list(zip(starts, arrays, masks, strict=True))
    for start, data, mask in reversed(order) if overlap == "first" else order:
        region = slice(start, start + data.shape[0])
        out[region] = data if mask is None else xp.where(mask, data, out[region])
    return out


def _mean_of(xp, cover: list, dtype, cval: float):
    """The mean over the stations of one slab (``(data, mask)`` pairs) in float64, rounded for an integer
    or bool ``dtype`` (a bool cast of the unrounded mean would be any station's True); ``cval`` where
    no station's mask counts."""
    shape = cover[0][0].shape
    masked = any(mask is not None for _, mask in cover)
    total = xp.zeros(shape, dtype=np.float64)
    count = xp.zeros(shape if masked else (shape[0], 1, 1), dtype=np.float64)
    for data, mask in cover:
        if mask is None:
            total += data
            count += 1
        else:
            total += xp.where(mask, data, 0)
            count += mask
    mean = xp.where(count > 0, total / xp.maximum(count, 1), cval) if masked else total / count
    rounded = np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)
    return (xp.rint(mean) if rounded else mean).astype(dtype)
