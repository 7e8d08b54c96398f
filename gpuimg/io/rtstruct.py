"""DICOM RT structure sets: a named ROI's planar contours rasterised on an image's voxel grid."""

import os
from functools import partial
from pathlib import Path

import numpy as np
import pydicom

from gpuimg._support import check_path
from gpuimg.errors import DicomError, GeometryError
from gpuimg.io._objects import (
    _check_every_slice,
    _check_frame_of_reference,
    _damage_named,
    _label,
    _mask_volume,
    _named,
    _read_object,
)
from gpuimg.io._tags import _as_text
from gpuimg.io._unchecked import unchecked_values
from gpuimg.volume import Volume

#: Contour types that enclose no area (a marker, a line): they mark no voxel.
_NO_AREA = ("POINT", "OPEN_PLANAR", "OPEN_NONPLANAR")

#: How far a contour plane may lie from the nearest slice centre [fraction of the slice spacing].
_PLANE_TOLERANCE = 0.25
#: How near a point must lie to a voxel centre in-plane to be placed on it [fraction of a voxel]: the
#: rounding of its mm text and of the mapping to indices (about 1e-13), not a distance drawn.
_ON_CENTRE = 1e-6


def rtstruct_roi_names(path: str | os.PathLike) -> list[str]:
    """The ROI names of an RTSTRUCT file, in the file's order.

    Parameters
    ----------
    path : str or path
        An RTSTRUCT DICOM file.

    Returns
    -------
    list of str
        Each ROI's ROIName, without the leading and trailing spaces DICOM ignores, in Unicode's NFC
        form (accented letters composed, as most systems type them); a name holding a backslash as
        written.

    Raises
    ------
    DicomError
        If the file cannot be read or is not an RTSTRUCT, or an ROIName runs into the next elements (a
        damaged length: it is not shown).

    Examples
    --------
    The names of a structure set (here a minimal one written with pydicom; a planning system's
    holds the contours too), to choose the ``roi`` of :func:`read_rtstruct`:

    >>> import tempfile
    >>> from pydicom import Dataset
    >>> from gpuimg.io import rtstruct_roi_names
    >>> rs = Dataset()
    >>> rs.Modality = "RTSTRUCT"
    >>> rs.StructureSetROISequence = [Dataset(), Dataset()]
    >>> rs.StructureSetROISequence[0].ROIName = "GTV"
    >>> rs.StructureSetROISequence[1].ROIName = "Lung_L "  # DICOM ignores the trailing space
    >>> path = f"{tempfile.mkdtemp()}/RS.dcm"
    >>> rs.save_as(path, implicit_vr=True, little_endian=True)
    >>> rtstruct_roi_names(path)
    ['GTV', 'Lung_L']
    """
    path = check_path(path)
    with unchecked_values():
        ds = _read_object(path, "RTSTRUCT", "StructureSetROISequence")
        with _damage_named(path, "RTSTRUCT"):
            return [_roi_name(item, path) for item in ds.StructureSetROISequence]


def read_rtstruct(
    path: str | os.PathLike, reference: Volume, roi: str | int | None = None, *, device: str | None = None
) -> Volume:
    """Rasterise one ROI of an RTSTRUCT on the voxel grid of its image.

    Parameters
    ----------
    path : str or path
        An RTSTRUCT DICOM file.
    reference : Volume
        The image the structure set was drawn on (usually :func:`gpuimg.read_dicom` of its series):
        the mask takes its shape, spacing, origin and direction.
    roi : str or int, optional
        ROIName of the structure, matched exactly, else case-insensitively, else as a regular
        expression searched in the name (``"GTV"`` matches ``"GTV_Mass_CT"``), both in Unicode's NFC
        form (a composed ``"ä"`` finds a name stored decomposed); or its ROINumber (an int), which
        tells apart ROIs of one name. Needed when the file holds several ROIs.
    device : {"auto", "cpu", "cuda"}, optional
        Where the mask goes; default the reference's device.

    Returns
    -------
    Volume
        uint8 mask (1 inside the ROI) on the reference grid, ``meta["roi"]`` the ROI's name (a name
        holding a backslash as written).

    Raises
    ------
    DicomError
        Unreadable file, not an RTSTRUCT, no ROI or several matching ``roi`` (several of one name too:
        pass its ROINumber), an ROI sharing its ROINumber with another, an ROI without closed contours, or
        one whose ContourData is damaged (no points, not three numbers a point, text that is no number).
        An ROIName, FrameOfReferenceUID or drawn-on SeriesInstanceUID that runs into the next elements
        (a damaged length: not shown, as it may hold the patient's name).
    GeometryError
        An ROI in another frame of reference than the reference's (``meta["frame_of_reference_uid"]``,
        which :func:`gpuimg.read_dicom` sets; not checked where either is missing). A contour that is
        not in an image plane, or lies outside the image's slices; an ROI that covers no voxel centre
        (drawn beside the image, or smaller than a voxel). An ROI drawn on another series (one the
        structure set names, not ``meta["series_uid"]``), or on this one and the image resampled along z,
        whose contours lie on one slice in m >= 2 of the image (drawn on slices m times as far apart): the
        slices between would be left empty.
    ParameterError
        ``reference`` is not a Volume; ``roi`` is neither a string nor an int, or matches no name exactly
        and is not a valid regular expression.
    MemoryBudgetError
        If the mask (a byte a voxel of the reference) exceeds the memory budget (``GPUIMG_MAX_BYTES``).
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or asks for CUDA where no GPU is usable (the
        message says what is missing and which extra to install).

    Notes
    -----
    Each closed (CLOSED_PLANAR) contour's points (LPS, mm) are mapped to continuous voxel indices
    ``direction.T @ (p - origin) / spacing``; the contour's plane is the nearest slice (within a
    quarter of the slice spacing), and a voxel is inside where its centre is inside the polygon
    (the crossing-number test, W. R. Franklin's PNPOLY, all rows of a contour at once). A centre exactly
    on an edge is inside on the edge's low side only (half-open: a square from voxel 2 to voxel 6
    holds 4 x 4 voxels, where :func:`skimage.draw.polygon2mask`, which counts edges as inside, gives
    5 x 5), so the area is unbiased and two contours sharing an edge do not both take its voxels. A point
    within 1e-6 voxel of a centre in-plane (drawn on it, but for the rounding of its mm text and of the
    mapping) is taken as on it, so the rule holds on any spacing.
    Several contours on one slice combine by exclusive or, so a contour inside another is a hole, as
    the DICOM standard's even-odd rule says. A contour given again (the same points, in any order or
    with its first point repeated to close it), as some exports write it, counts once.
    POINT, OPEN_PLANAR and OPEN_NONPLANAR contours (markers, lines) enclose no voxel and are left out.

    Examples
    --------
    >>> mask = read_rtstruct("RS.dcm", gpuimg.read_dicom("CT/"), roi="GTV")  # doctest: +SKIP
    >>> int(mask.data.sum())  # doctest: +SKIP
    2145
    """
    path = check_path(path)
    place = partial(_rasterise, path=path, reference=reference, roi=roi)
    return _mask_volume(path, "RTSTRUCT", "StructureSetROISequence", reference, device, place)


def _rasterise(
    ds: pydicom.Dataset, path: Path, reference: Volume, roi: str | int | None
) -> tuple[np.ndarray, str]:
    """The mask of the ROI on the reference grid, and the ROI's name."""
    number, name = _roi(ds, roi, path)
    frame = next(
        item.get("ReferencedFrameOfReferenceUID")
        for item in ds.StructureSetROISequence
        if int(item.ROINumber) == number
    )
    _check_frame_of_reference(path, f"ROI {name!r}", frame, reference)
    kinds = [
        (str(item.get("ContourGeometricType", "CLOSED_PLANAR")), item)
        for roi_contour in ds.get("ROIContourSequence", [])
        if int(roi_contour.ReferencedROINumber) == number
        for item in roi_contour.get("ContourSequence", [])
    ]
    contours = [item for kind, item in kinds if kind not in _NO_AREA]
    if not contours:
        only = f" (only {', '.join(sorted({kind for kind, _ in kinds}))})" if kinds else ""
        raise DicomError(
            f"{path}: ROI {name!r} has no closed contours{only}, so it encloses no voxel; choose another "
            "ROI or draw it again."
        )
    shape = reference.shape
    mask = np.zeros(shape, dtype=np.uint8)
    inverse = reference.direction.T
    origin = np.asarray(reference.origin)
    spacing = np.asarray(reference.spacing)
    extents = {}  # a contour's extent -> the contours before it of that extent, its only possible repeats
    drawn = 0  # the contours drawn: a contour exported twice must not cut itself out
    planes = set()  # the slice indices of the contours
    for item in contours:
        try:
            points = _contour_points(item)
        except ValueError as exc:  # no text of numbers, or not three a point
            raise DicomError(
                f"{path}: a contour of ROI {name!r} has damaged ContourData ({exc}), so its outline is "
                "unknown; export the structure set again, or choose another ROI."
            ) from exc
        alike = extents.setdefault(_extent(points), [])
        if _repeats(points, alike):
            continue
        alike.append(item)
        drawn += 1
        index = (points - origin) @ inverse.T / spacing  # (n, 3) continuous (z, y, x)
        centre = np.round(index[:, 1:])  # a point drawn on a centre is on it, so the half-open rule decides
        index[:, 1:] = np.where(np.abs(index[:, 1:] - centre) < _ON_CENTRE, centre, index[:, 1:])
        z = float(np.median(index[:, 0]))
        k = round(z)
        if np.ptp(index[:, 0]) > 2 * _PLANE_TOLERANCE:
            raise GeometryError(
                f"{path}: a contour of ROI {name!r} is not in one plane of the image: its points span slice "
                f"indices {index[:, 0].min():.2f} to {index[:, 0].max():.2f}. It was drawn on a series of "
                "another orientation (or is not planar); pass the image it was drawn on."
            )
        if abs(z - k) > _PLANE_TOLERANCE:
            raise GeometryError(
                f"{path}: a contour of ROI {name!r} lies between image slices (index {z:.2f}); the "
                "structure set was drawn on another series or geometry. Pass the image it was drawn on."
            )
        if not 0 <= k < shape[0]:
            raise GeometryError(
                f"{path}: a contour of ROI {name!r} lies at slice index {k}, outside the image's "
                f"{shape[0]} slices; pass the image series the structure set refers to."
            )
        mask[k] ^= _inside(shape[1:], index[:, 1], index[:, 2])
        planes.add(k)
    _check_every_slice(path, f"ROI {name!r}", "contours", _drawn_on(ds), reference, sorted(planes))
    if not mask.any():
        raise GeometryError(
            f"{path}: ROI {name!r} covers no voxel centre of the image: its {drawn} closed contours lie "
            "beside the image's rows and columns (drawn on another field of view), or enclose no voxel "
            "centre. Pass the image it was drawn on."
        )
    return mask, name


def _drawn_on(ds: pydicom.Dataset) -> set[str]:
    """The SeriesInstanceUIDs of the series the structure set names (RTReferencedSeriesSequence)."""
    return {
        _as_text(series.get("SeriesInstanceUID", "")).strip()
        for frame in ds.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
    } - {""}


def _contour_points(item: pydicom.Dataset) -> np.ndarray:
    """ContourData as an (n, 3) float array [mm], parsed from the raw text (pydicom's DS values are slow).

    Raises
    ------
    ValueError
        If it holds no points, a number of values that is not three a point, or text that is no number.
    """
    raw = item.get_item("ContourData")
    value = raw.value
    if isinstance(value, bytes):
        text = value.strip(b" \0")
        parts = text.split(b"\\") if text else []
    else:
        parts = value
    try:
        numbers = np.asarray(parts, dtype=float)
    except (TypeError, ValueError):  # NumPy's message quotes the text, which may be another element's
        raise ValueError("text that is no number") from None
    if numbers.size == 0 or numbers.size % 3:
        raise ValueError(f"{numbers.size} numbers, where each point takes three: x, y, z in mm")
    return numbers.reshape(-1, 3)


def _extent(points: np.ndarray) -> tuple[float, ...]:
    """The least and greatest x, y and z of a contour's points [mm]: equal for contours of one point set."""
    return (*points.min(axis=0).tolist(), *points.max(axis=0).tolist())


def _repeats(points: np.ndarray, alike: list[pydicom.Dataset]) -> bool:
    """Whether the contour ``points`` has the point set of one of the contours ``alike`` (of its extent).

    The same points in any order, or with the first repeated to close the outline, are the same set.
    Only contours of one extent, so of one plane, are compared, and most contours have none: the sets
    (a tuple a point) are built for those few only, not for each of a body outline's slices.
    """
    if not alike:
        return False
    outline = frozenset(map(tuple, points.tolist()))
    return any(frozenset(map(tuple, _contour_points(other).tolist())) == outline for other in alike)


def _inside(shape: tuple[int, int], rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The pixels of ``shape`` whose centres lie inside the polygon (even-odd rule), as uint8.

    The crossing-number test (W. R. Franklin's PNPOLY) on every row at once: an edge from row r0 to r1
    crosses the rows y of centres with min(r0, r1) <= y < max(r0, r1) once each, at the column
    ``c0 + (y - r0) * (c1 - c0) / (r1 - r0)``, and a centre is inside where an odd number of crossings
    lie to its right. Half-open: a centre on an edge counts on the edge's low side only.

    A crossing at column c lies to the right of the centres x < n = ceil(c) (n clipped to 0..width),
    so a centre's parity is the exclusive or of the crossings' marks at n > x. A row holds an even
    number of crossings (an edge spans y where ``r > y`` changes along the closed outline, an even
    number of times), so that equals the exclusive or of the marks at n <= x: one running XOR over
    the rows' marks laid end to end. Time O(crossings + rows x columns of the contour's band), not
    O(rows x edges) in Python as a loop over the rows.
    """
    height, width = shape
    r1, c1 = np.roll(rows, -1), np.roll(columns, -1)
    first = np.clip(np.ceil(np.minimum(rows, r1)), 0, height)  # the rows y each edge spans: first <= y < stop
    stop = np.clip(np.ceil(np.maximum(rows, r1)), 0, height)
    count = (stop - first).astype(np.intp)
    inside = np.zeros(shape, dtype=np.uint8)
    if not count.any():
        return inside
    edge = np.repeat(np.arange(rows.size), count)
    y = first[edge] + (np.arange(edge.size) - np.repeat(np.cumsum(count) - count, count))
    r0, c0, r1, c1 = rows[edge], columns[edge], r1[edge], c1[edge]
    crossings = c0 + (y - r0) * (c1 - c0) / (r1 - r0)
    # fmin, not clip: a NaN crossing (inf / inf, coordinates near 1e308) lies right of every centre.
    ends = np.fmin(np.maximum(np.ceil(crossings), 0), width).astype(np.intp)
    low, high = int(y.min()), int(y.max()) + 1
    toggles = np.zeros((high - low) * (width + 1), dtype=np.int32)  # int32: NumPy's fast XOR loop
    np.bitwise_xor.at(toggles, (y.astype(np.intp) - low) * (width + 1) + ends, np.int32(1))
    parity = np.bitwise_xor.accumulate(toggles, out=toggles).reshape(high - low, width + 1)
    inside[low:high] = parity[:, :width]
    return inside


def _roi(ds: pydicom.Dataset, roi: str | int | None, path: Path) -> tuple[int, str]:
    rois = [(_roi_name(item, path), int(item.ROINumber)) for item in ds.StructureSetROISequence]
    names = [name for name, _ in rois]
    if not rois:
        raise DicomError(f"{path}: the structure set holds no ROI; export it again with the drawn ROIs.")
    if isinstance(roi, int | np.integer) and not isinstance(roi, bool):
        return _numbered(rois, int(roi), path)
    matches = names if roi is None else _named(names, roi, "roi")
    if len(matches) > 1 and len(set(matches)) == 1:
        numbers = [str(number) for name, number in rois if name == matches[0]]
        raise DicomError(
            f"{path}: ROIs {', '.join(numbers[:-1])} and {numbers[-1]} are "
            f"{'both' if len(numbers) == 2 else 'all'} named {matches[0]!r}, so the name cannot tell them "
            f"apart; pass roi= with the ROINumber of the one meant ({' or '.join(numbers)}), or rename all "
            "but one in the structure set."
        )
    if len(matches) != 1:
        what = "no ROI matches" if not matches else f"{len(matches)} ROIs match"
        raise DicomError(
            f"{path}: {what} {roi!r}; its ROIs are {sorted(names)}. Pass roi= with one of them."
            if roi is not None
            else f"{path} holds {len(names)} ROIs {sorted(names)}; pass roi= with one of them."
        )
    number = dict(rois)[matches[0]]
    sharing = sorted(name for name, n in rois if n == number)
    if len(sharing) > 1:
        raise DicomError(
            f"{path}: ROIs {', '.join(map(repr, sharing))} share the ROINumber {number}, so their contours "
            "cannot be told apart (ROINumber must be unique); renumber them in the structure set and read "
            "it again."
        )
    return number, matches[0]


def _numbered(rois: list[tuple[str, int]], number: int, path: Path) -> tuple[int, str]:
    """The ROI whose ROINumber is ``number``, and its name."""
    named = [name for name, n in rois if n == number]
    if not named:
        listed = ", ".join(f"{n} ({name!r})" for name, n in rois)
        raise DicomError(f"{path}: no ROI has the ROINumber {number}; its ROIs are {listed}.")
    if len(named) > 1:
        raise DicomError(
            f"{path}: ROIs {', '.join(map(repr, named))} share the ROINumber {number}, so their contours "
            "cannot be told apart (ROINumber must be unique); renumber them in the structure set and read "
            "it again."
        )
    return number, named[0]


def _roi_name(item: pydicom.Dataset, path: Path) -> str:
    """An ROI's ROIName without the leading and trailing spaces, which DICOM ignores in an LO value, in
    Unicode's NFC form; DicomError where it ran into the next elements (see :func:`_label`)."""
    return _label(item.ROIName, path, "ROIName")
