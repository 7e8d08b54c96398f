"""DICOM Segmentation objects (SEG): one segment's frames placed on an image's voxel grid."""

import numbers
import os
from functools import partial
from pathlib import Path

import numpy as np
import pydicom

from gpuimg._support import check_path
from gpuimg._text import count
from gpuimg.errors import DicomError, GeometryError, ParameterError
from gpuimg.io._header import _NATIVE, _Excess, _transfer_syntax, _warn_of_excess
from gpuimg.io._objects import (
    _check_every_slice,
    _check_frame_of_reference,
    _label,
    _mask_volume,
    _named,
)
from gpuimg.io._pixels import _keep_claimed, _pixel_array
from gpuimg.io._tags import _as_text, _ran_on
from gpuimg.volume import Volume

#: How far a frame may lie from the image's grid [fraction of a voxel].
_GRID_TOLERANCE = 0.1
#: The values of SegmentationType (PS3.3 C.8.20.2): how a frame's pixels say what is in a segment.
_KINDS = ("BINARY", "FRACTIONAL", "LABELMAP")
#: Transfer syntaxes whose pixel data is held as stored, little endian: 1-bit frames unpacked here.
_PACKED_BITS = _NATIVE - {pydicom.uid.ExplicitVRBigEndian}


def read_seg(
    path: str | os.PathLike, reference: Volume, segment: str | int | None = None, *, device: str | None = None
) -> Volume:
    """One segment of a DICOM SEG on the voxel grid of the image it was drawn on.

    Parameters
    ----------
    path : str or path
        A DICOM Segmentation file (BINARY, FRACTIONAL or LABELMAP).
    reference : Volume
        The image (usually :func:`gpuimg.read_dicom` of the segmented series): the mask takes its
        shape and geometry.
    segment : str or int, optional
        SegmentNumber, or SegmentLabel (exact, case-insensitive, or a regular expression searched in the
        label; in Unicode's NFC form, so a composed ``"ä"`` finds a label stored decomposed). Needed
        when the file holds several segments; a LABELMAP SEG's background (see Notes) is not one of
        them.
    device : {"auto", "cpu", "cuda"}, optional
        Where the mask goes; default the reference's device.

    Returns
    -------
    Volume
        uint8 mask (1 in the segment) on the reference grid; ``meta["roi"]`` the segment's label (one
        holding a backslash as written).

    Raises
    ------
    DicomError
        Unreadable file, not a SEG, no segment or several matching ``segment``, segments sharing a
        SegmentNumber; a segment that marks no pixel (empty); ``segment`` the number of a LABELMAP SEG's
        background. A header that contradicts the frames: a SegmentationType other than BINARY,
        FRACTIONAL and LABELMAP, a MaximumFractionalValue not positive or below a stored value, another
        number of per-frame functional groups than of frames. A SegmentLabel, FrameOfReferenceUID or
        referenced SeriesInstanceUID that runs into the next elements (a damaged length: not shown, as
        it may hold the patient's name).
    GeometryError
        A SEG in another frame of reference than the reference's (``meta["frame_of_reference_uid"]``,
        which :func:`gpuimg.read_dicom` sets; not checked where either is missing). Frames whose
        orientation or pixel spacing differ from the image's, or that lie off its grid or outside its
        slices; a segment none of whose pixels lies on the image (frames beside its rows and columns). A
        SEG of another series (its ReferencedSeriesSequence, not ``meta["series_uid"]``), or of this one and
        the image resampled along z, whose segment's frames lie on one slice in m >= 2 of the image (made
        on slices m times as far apart): the slices between would be left empty.
    ParameterError
        ``reference`` is not a Volume; ``segment`` is neither a number nor a label, or a label that
        matches none exactly and is not a valid regular expression.
    MemoryBudgetError
        If the mask (a byte a voxel of the reference) exceeds the memory budget (``GPUIMG_MAX_BYTES``).
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or asks for CUDA where no GPU is usable (the
        message says what is missing and which extra to install).

    Warns
    -----
    UserWarning
        Where uncompressed (or deflated) pixel data hold more bytes than the header claims (and the byte
        that pads an odd length), as read_dicom warns of an image file's: the claimed bytes are read.

    Notes
    -----
    Each frame's ImagePositionPatient (per-frame functional groups) is mapped to voxel indices of the
    reference; the frame's rows and columns must run along the image's (a SEG made on the series'
    own grid, as segmentation tools write it), possibly offset by whole voxels in-plane. A FRACTIONAL
    segment is in where its value is at least half of MaximumFractionalValue; a LABELMAP SEG (frames
    shared by all segments, each pixel the number of its segment) where the value is its number. A
    LABELMAP SEG's segment numbered as its PixelPaddingValue describes its background (the pixels of no
    segment; highdicom writes one, "Background", numbered 0), so it is no segment to choose, as
    highdicom's ``Segmentation.segment_numbers`` leaves it out.

    Examples
    --------
    >>> mask = read_seg("seg.dcm", gpuimg.read_dicom("CT/"), segment="liver")  # doctest: +SKIP
    """
    path = check_path(path)
    excesses: list[_Excess] = []
    place = partial(_place_frames, path=path, reference=reference, segment=segment, excesses=excesses)
    mask = _mask_volume(path, "SEG", "SegmentSequence", reference, device, place)
    # Once for the file, after its frames are placed, not once for each frame that holds excess bytes.
    _warn_of_excess(excesses, [path])
    return mask


def _place_frames(
    ds: pydicom.Dataset, path: Path, reference: Volume, segment: str | int | None, excesses: list[_Excess]
) -> tuple[np.ndarray, str]:
    """The mask of the segment on the reference grid, and the segment's label; pixel data longer than
    the header claims are appended to ``excesses`` (:func:`gpuimg.io._pixels._keep_claimed`).

    Only the segment's frames are decoded, one at a time (a LABELMAP's frames all: each holds every
    segment), so the memory held is the mask's and one frame's, not every segment's frames.
    """
    number, label = _segment(ds, segment, path)
    _check_frame_of_reference(path, "the SEG", ds.get("FrameOfReferenceUID"), reference)
    kind, top = _kind(ds, path)
    ds.file_meta.TransferSyntaxUID = _transfer_syntax(ds)  # of a file without meta header: as it was read
    excess = _keep_claimed(ds, path, int(ds.get("NumberOfFrames", 1) or 1), len(ds.PixelData))
    if excess is not None:
        excesses.append(excess)
    shared = ds.get("SharedFunctionalGroupsSequence", [pydicom.Dataset()])[0]
    mask = np.zeros(reference.shape, dtype=np.uint8)
    marked = 0  # the segment's pixels in the file, on the image or not
    planes = set()  # the slice indices of the frames that mark the segment
    inverse, origin, spacing = (
        reference.direction.T,
        np.asarray(reference.origin),
        np.asarray(reference.spacing),
    )
    for i, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        if kind != "LABELMAP":
            identification = _item(group, shared, "SegmentIdentificationSequence", path)
            if int(identification.ReferencedSegmentNumber) != number:
                continue
        frame = _in_segment(_frame(ds, path, i), kind, number, top, path)
        marked += int(np.count_nonzero(frame))
        _check_plane(group, shared, reference, path)
        position = np.asarray(_item(group, shared, "PlanePositionSequence", path).ImagePositionPatient, float)
        index = inverse @ (position - origin) / spacing
        whole = np.round(index)
        if np.abs(index - whole).max() > _GRID_TOLERANCE:
            raise GeometryError(
                f"{path}: frame {i + 1} lies off the image's voxel grid (index "
                f"{np.round(index, 2).tolist()}); the SEG was made on another series or grid. Pass the "
                "image it was drawn on."
            )
        k, row, column = (int(v) for v in whole)
        if not 0 <= k < reference.shape[0]:
            raise GeometryError(
                f"{path}: frame {i + 1} lies at slice index {k}, outside the image's {reference.shape[0]} "
                "slices; pass the image series the SEG refers to."
            )
        if frame.any():
            planes.add(k)
        rows, columns = frame.shape
        r0, c0 = max(row, 0), max(column, 0)
        r1, c1 = min(row + rows, reference.shape[1]), min(column + columns, reference.shape[2])
        if r0 < r1 and c0 < c1:
            mask[k, r0:r1, c0:c1] |= (frame[r0 - row : r1 - row, c0 - column : c1 - column] > 0).astype(
                np.uint8
            )
    if not marked:
        empty = (
            "has no pixel of at least half its MaximumFractionalValue (the fraction counted as in)"
            if kind == "FRACTIONAL"
            else "marks no pixel in any frame (an empty segment)"
        )
        raise DicomError(
            f"{path}: segment {number} ({label!r}) {empty}, so it covers no voxel; choose another segment "
            "or draw it again."
        )
    drawn_on = {
        _as_text(series.get("SeriesInstanceUID", "")).strip()
        for series in ds.get("ReferencedSeriesSequence", [])
    }
    _check_every_slice(
        path, f"segment {number} ({label!r})", "frames", drawn_on - {""}, reference, sorted(planes)
    )
    if not mask.any():
        raise GeometryError(
            f"{path}: segment {number} ({label!r}) covers no voxel of the image: its {marked} pixels lie "
            "beside the image's rows and columns (drawn on another field of view). Pass the image it was "
            "drawn on."
        )
    return mask, label


def _frame(ds: pydicom.Dataset, path: Path, index: int) -> np.ndarray:
    """The stored values of the SEG's frame ``index`` alone, (rows, columns).

    An uncompressed little-endian 1-bit frame (a BINARY SEG's) is unpacked here: frame i holds bits
    i*n to (i+1)*n - 1 of the pixel data (n pixels a frame, each in the next bit from the lowest), so
    it starts inside a byte where n is not a multiple of 8, which pydicom's decoding of one frame
    misses (a 7 x 9 frame: "cannot reshape array of size 57"). Other frames: pydicom.
    """
    if int(ds.get("BitsAllocated", 1)) != 1 or _transfer_syntax(ds) not in _PACKED_BITS:
        return _pixel_array(ds, path, index=index)
    rows, columns = int(ds.Rows), int(ds.Columns)
    data = ds.PixelData  # of the frames' length (_keep_claimed)
    first, n = index * rows * columns, rows * columns
    start = first // 8
    packed = np.frombuffer(data, np.uint8, count=(first + n + 7) // 8 - start, offset=start)
    skip = first - 8 * start
    return np.unpackbits(packed, bitorder="little")[skip : skip + n].reshape(rows, columns)


def _kind(ds: pydicom.Dataset, path: Path) -> tuple[str, float]:
    """The SEG's SegmentationType, and its MaximumFractionalValue (the stored value of a fraction of 1;
    0 where not FRACTIONAL).

    Raises
    ------
    DicomError
        A SegmentationType other than BINARY, FRACTIONAL and LABELMAP; a FRACTIONAL SEG's
        MaximumFractionalValue not positive; another number of per-frame functional groups than of
        frames (NumberOfFrames).
    """
    value = ds.get("SegmentationType", "BINARY")
    kind = _as_text(value).strip()
    if kind not in _KINDS:
        # A value that ran into the next elements may hold the patient's name: not shown.
        shown = "damaged (it runs into the next elements)" if _ran_on(value) else repr(kind)
        raise DicomError(
            f"{path}: its SegmentationType is {shown}, not one of {', '.join(_KINDS)}, so what its pixels "
            "say of a segment is unknown; export the SEG again."
        )
    frames, groups = int(ds.get("NumberOfFrames", 1) or 1), len(ds.PerFrameFunctionalGroupsSequence)
    if groups != frames:
        raise DicomError(
            f"{path}: the SEG holds {count(frames, 'frame')} and {count(groups, 'per-frame group')} "
            "(PerFrameFunctionalGroupsSequence, which places each frame and names its segment: one a frame), "
            "so its frames cannot all be placed; the file is damaged. Export it again."
        )
    top = float(ds.get("MaximumFractionalValue", 255)) if kind == "FRACTIONAL" else 0.0
    if kind == "FRACTIONAL" and not top > 0:
        raise DicomError(
            f"{path}: its MaximumFractionalValue (the stored value of a fraction of 1) is {top:g}, not "
            "positive, so its fractions are unknown; export the SEG again."
        )
    return kind, top


def _in_segment(frame: np.ndarray, kind: str, number: int, top: float, path: Path) -> np.ndarray:
    """A frame's pixels, nonzero where in its segment (in segment ``number`` for a LABELMAP, whose
    frames hold every segment; at least half of ``top``, MaximumFractionalValue, for a FRACTIONAL).

    Raises
    ------
    DicomError
        A FRACTIONAL frame's stored value above ``top``.
    """
    if kind == "FRACTIONAL":
        highest = int(frame.max(initial=0))
        if highest > top:
            raise DicomError(
                f"{path}: its MaximumFractionalValue (the stored value of a fraction of 1) is {top:g}, "
                f"below its stored value {highest}, so its fractions are unknown; export the SEG again."
            )
        return frame >= top / 2
    if kind == "LABELMAP":
        return frame == number
    return frame


def _segment(ds: pydicom.Dataset, segment: str | int | None, path: Path) -> tuple[int, str]:
    # SegmentLabel (LO) without the leading and trailing spaces, which DICOM ignores, in NFC form
    items = [
        (int(item.SegmentNumber), _label(item.get("SegmentLabel", ""), path, "SegmentLabel"))
        for item in ds.SegmentSequence
    ]
    background = _background(ds)
    if background is not None and any(n == background for n, _ in items):
        others = sorted(f"{n}: {name}" for n, name in items if n != background)
        if isinstance(segment, numbers.Integral) and not isinstance(segment, bool) and segment == background:
            raise DicomError(
                f"{path}: segment {background} of this LABELMAP SEG is its background (its "
                "PixelPaddingValue: the pixels of no segment), not a segment; pass segment= with one of the "
                f"others ({others})."
            )
        if not others:
            raise DicomError(
                f"{path}: this LABELMAP SEG describes its background only (segment {background}, its "
                "PixelPaddingValue), no segment; export it again with the segments drawn."
            )
        items = [(n, name) for n, name in items if n != background]
    segments = dict(items)
    if len(segments) < len(items):
        given = [n for n, _ in items]
        shared = ", ".join(str(n) for n in sorted(set(given)) if given.count(n) > 1)
        raise DicomError(
            f"{path}: several segments share the SegmentNumber {shared}, so their frames cannot be told "
            "apart (SegmentNumber must be unique); export the SEG again."
        )
    if segment is None:
        matches = list(segments)
    elif isinstance(segment, numbers.Integral) and not isinstance(segment, bool):
        matches = [int(segment)] if int(segment) in segments else []
    elif not isinstance(segment, str):
        raise ParameterError(f"segment={segment!r} must be a SegmentNumber (int) or a SegmentLabel (str).")
    else:
        labels = set(_named(list(segments.values()), segment, "segment"))
        matches = [n for n, name in segments.items() if name in labels]
    if len(matches) != 1:
        listed = sorted(f"{n}: {name}" for n, name in segments.items())
        what = (
            f"holds {len(segments)} segments"
            if segment is None
            else f"has {len(matches)} segments matching {segment!r}"
        )
        raise DicomError(f"{path} {what} ({listed}); pass segment= with one number or label.")
    return matches[0], segments[matches[0]]


def _background(ds: pydicom.Dataset) -> int | None:
    """The pixel value of a LABELMAP SEG's background (its PixelPaddingValue), which a segment of that
    number describes (highdicom writes one, "Background", numbered 0); None for another SEG."""
    if str(ds.get("SegmentationType", "")) != "LABELMAP" or ds.get("PixelPaddingValue") is None:
        return None
    return int(ds.PixelPaddingValue)


def _item(group: pydicom.Dataset, shared: pydicom.Dataset, sequence: str, path: Path) -> pydicom.Dataset:
    """The first item of a functional group sequence, per frame where present, else shared."""
    for source in (group, shared):
        if sequence in source and len(source[sequence].value):
            return source[sequence].value[0]
    raise DicomError(f"{path}: the SEG has no {sequence} for a frame; it is incomplete. Export it again.")


def _check_plane(group, shared, reference: Volume, path: Path) -> None:
    plane = _item(group, shared, "PlaneOrientationSequence", path)
    orientation = np.asarray(plane.ImageOrientationPatient, float)
    pixel = np.asarray(_item(group, shared, "PixelMeasuresSequence", path).PixelSpacing, float)
    # The image's columns (x) run along its row direction cosine, rows (y) along the column one.
    expected = np.r_[reference.direction[:, 2], reference.direction[:, 1]]
    if not np.allclose(orientation, expected, atol=1e-3) or not np.allclose(
        pixel, reference.spacing[1:], rtol=1e-3
    ):
        raise GeometryError(
            f"{path}: the SEG's frames (orientation {orientation.round(3).tolist()}, pixel spacing "
            f"{pixel.tolist()} mm) are not on the image's grid (orientation {expected.round(3).tolist()}, "
            f"{list(reference.spacing[1:])} mm). Pass the image it was drawn on; for a resampled image, read "
            "the SEG on that one and resample the mask as the image was (gpuimg.preprocess.resample_mask)."
        )
