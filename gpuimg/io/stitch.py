"""Joining the stations (table positions) of one acquisition into one volume along the slice axis."""

from collections.abc import Sequence

import numpy as np

from gpuimg.backend import namespace
from gpuimg.errors import GeometryError, ParameterError
from gpuimg.volume import Volume

_OVERLAPS = ("mean", "first", "last")
#: Directions and spacings that differ by less than this (relative) are the same.
_RTOL = 1e-4


def stitch(volumes: Sequence[Volume], overlap: str = "mean") -> Volume:
    """Join stations of one patient along the slice axis, placed by their physical positions.

    Parameters
    ----------
    volumes : sequence of Volume
        The stations, in any order, on one device. They must share orientation, in-plane spacing,
        image size and in-plane position, and lie on one slice grid (same z spacing, offsets a whole
        number of slices).
    overlap : {"mean", "first", "last"}
        Slices covered by several stations take their mean (rounded for integer data), or the value
        of the station that comes first / last in ``volumes``.

    Returns
    -------
    Volume
        On the stations' device, dtype of the stations (NumPy's promotion of their dtypes), origin at
        the lowest slice along the slice normal, direction and meta of the first station (with
        ``meta["stations"]`` the number joined).

    Raises
    ------
    GeometryError
        If in-plane geometry (orientation, pixel spacing, image size, in-plane position) or z spacing
        disagree, stations are off the common slice grid, or a gap separates them.
    ParameterError
        If ``overlap`` is unknown or ``volumes`` is empty.

    Notes
    -----
    A station whose slice axis points the other way is reversed first. Positions are compared in mm
    against 1% of the pixel (in-plane) or slice (along z) spacing.
    """
    if overlap not in _OVERLAPS:
        raise ParameterError(f"overlap={overlap!r}; use one of {_OVERLAPS}.")
    if not volumes:
        raise ParameterError("stitch needs at least one volume; got none.")
    reference = volumes[0]
    stations = [_aligned(v, reference, i) for i, v in enumerate(volumes)]
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
    covered = np.zeros(n, bool)
    for start, station in zip(starts, stations, strict=True):
        covered[start - first : start - first + station.shape[0]] = True
    if not covered.all():
        gap = np.flatnonzero(~covered)
        raise GeometryError(
            f"The stations leave a gap of {gap.size} slice(s) ({gap.size * dz:.4g} mm) starting "
            f"{(gap[0] + first) * dz:.4g} mm from station 0's first slice; stitch joins touching or "
            "overlapping stations only."
        )
    data = _join(stations, [s - first for s in starts], n, overlap)
    origin = np.asarray(reference.origin) + normal * dz * first
    return Volume(
        data, reference.spacing, origin, reference.direction, {**reference.meta, "stations": len(volumes)}
    )


def _aligned(volume: Volume, reference: Volume, index: int) -> Volume:
    """``volume`` with its slice axis along the reference's; GeometryError if in-plane geometry differs."""
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
    checks = [
        ("orientation (direction cosines)", volume.direction, reference.direction, _RTOL),
        (
            "pixel spacing (y, x) [mm]",
            volume.spacing[1:],
            reference.spacing[1:],
            _RTOL * max(volume.spacing[1:]),
        ),
        ("slice spacing [mm]", volume.spacing[0], reference.spacing[0], _RTOL * volume.spacing[0]),
        ("image size (y, x)", volume.shape[1:], reference.shape[1:], 0),
    ]
    offset = np.asarray(volume.origin) - reference.origin
    in_plane = reference.direction[:, 1:].T @ offset
    checks.append(("in-plane position offset [mm]", in_plane, (0.0, 0.0), 0.01 * min(reference.spacing[1:])))
    for what, value, expected, atol in checks:
        if not np.allclose(value, expected, rtol=0, atol=atol):
            raise GeometryError(
                f"Station {index} and station 0 differ in {what}: {np.round(value, 6).tolist()} against "
                f"{np.round(expected, 6).tolist()}. Stitching joins stations of one acquisition; resample "
                "the station onto station 0's in-plane grid first."
            )
    return volume


def _join(stations: list[Volume], starts: list[int], n: int, overlap: str):
    xp = namespace(stations[0].data).xp
    dtype = np.result_type(*[s.data.dtype for s in stations])
    shape = (n, *stations[0].shape[1:])
    if overlap == "mean":
        total = xp.zeros(shape, dtype=np.float64)
        count = xp.zeros((n, 1, 1), dtype=np.float64)
        for start, station in zip(starts, stations, strict=True):
            total[start : start + station.shape[0]] += station.data
            count[start : start + station.shape[0]] += 1
        mean = total / count
        return (xp.rint(mean) if np.issubdtype(dtype, np.integer) else mean).astype(dtype)
    out = xp.empty(shape, dtype=dtype)
    order = zip(starts, stations, strict=True)
    for start, station in reversed(list(order)) if overlap == "first" else order:
        out[start : start + station.shape[0]] = station.data
    return out
