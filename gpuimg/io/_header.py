"""DICOM headers: what a file's header says of its frames, where each lies, and whether its pixels
can be read.

A *frame* is one 2D image: a single-frame file holds one, an enhanced (multi-frame) CT or MR file
many, each with its own position, orientation and rescale in its functional groups.
"""

import dataclasses
import functools
import gzip
import io
import os
import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import Decoder, get_decoder

from gpuimg._support import caller_level
from gpuimg._text import count
from gpuimg.errors import DicomError
from gpuimg.io._charset import _CharacterSetError, _check_character_set, _raw_values
from gpuimg.io._tags import _as_text, _ran_on, _Tags

#: Transfer syntaxes whose pixel data are stored as is, so their size is known from the header.
_NATIVE = {
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.ExplicitVRBigEndian,
    pydicom.uid.DeflatedExplicitVRLittleEndian,
}
#: BitsAllocated values a pixel module may hold.
_BITS_ALLOCATED = (1, 8, 16, 32, 64)
#: Largest ratio of decoded to stored bytes that deflate can reach (its format limit is 1032:1).
_DEFLATE_RATIO = 1032
#: Bytes an encapsulated frame takes at least (one item tag and length).
_ITEM_BYTES = 8
#: ImageType's third value in a reconstructed NM (SPECT) image, whose slices its detector places.
_NM_RECONSTRUCTIONS = ("RECON TOMO", "RECON GATED TOMO")


@dataclass(frozen=True)
class _Frame:
    """One 2D image of a series: where it lies and how its stored values map to real values."""

    path: Path
    index: int | None  # frame number in a multi-frame file; None in a single-frame file
    position: tuple[float, float, float] | None  # ImagePositionPatient [mm, LPS]
    orientation: tuple[float, ...] | None  # ImageOrientationPatient: row then column cosines
    pixel_spacing: tuple[float, float] | None  # between rows, between columns [mm]
    shape: tuple[int, int]  # rows, columns
    slope: float
    intercept: float

    # Its own __init__ (the dataclass keeps it), which fills the fields at once: the frozen dataclass'
    # sets each through object.__setattr__ (1.9 µs, where a file's header makes one or more).
    def __init__(self, path, index, position, orientation, pixel_spacing, shape, slope, intercept):
        self.__dict__.update(
            path=path,
            index=index,
            position=position,
            orientation=orientation,
            pixel_spacing=pixel_spacing,
            shape=shape,
            slope=slope,
            intercept=intercept,
        )

    @property
    def name(self) -> str:
        """The file, and the frame within it where the file holds several."""
        return str(self.path) if self.index is None else f"{self.path} (frame {self.index + 1})"


@dataclass(frozen=True)
class _Excess:
    """Uncompressed pixel data of a file longer than its header claims, beyond the byte that pads an
    odd length (see :func:`_warn_of_excess`)."""

    path: Path
    image: str  # the header's frames, size and bits, in words
    claimed: int  # bytes the header describes
    length: int  # bytes the pixel data hold


@dataclass(frozen=True)
class _Header:
    """The header of one DICOM image file (read without its pixel data)."""

    path: Path
    dataset: pydicom.Dataset | _Tags  # _Tags where the quick reader took the file
    frames: tuple[_Frame, ...]  # every frame with its geometry and rescale, in file order
    problem: str | None = None  # why its pixels cannot be read, found from the header alone
    # Offset and length of the Pixel Data value in the file [bytes], where the quick reader found them.
    pixels: tuple[int, int] | None = None

    def __init__(self, path, dataset, frames, problem=None, pixels=None):  # as _Frame's
        self.__dict__.update(path=path, dataset=dataset, frames=frames, problem=problem, pixels=pixels)

    @property
    def series_uid(self) -> str:
        return _as_text(self.dataset.get("SeriesInstanceUID", ""))

    @property
    def transfer_syntax(self) -> pydicom.uid.UID:
        return _transfer_syntax(self.dataset)

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def check_pixels(self) -> _Excess | None:
        """Refuse a file whose pixels cannot be decoded, or which holds fewer bytes than it claims.

        Returns
        -------
        _Excess or None
            Where uncompressed (or deflated) pixel data are longer than the header's image size by more
            than the byte that pads an odd length: what the header claims and the data hold, which
            the caller warns of once for its series (:func:`_warn_of_excess`).

        Raises
        ------
        DicomError
            If the header's pixel description is invalid, the transfer syntax has no installed
            decoder, or the pixel data are shorter than the header's image size (or at least twice as
            long: BitsAllocated, Rows, Columns or NumberOfFrames is wrong), checked before any memory
            is allocated.
        """
        if self.problem is not None:
            raise DicomError(f"{self.path}: {self.problem}")
        syntax = self.transfer_syntax
        try:
            decoder, available = _decoder(syntax)
        except NotImplementedError:
            raise DicomError(
                f"{self.path}: transfer syntax {syntax} ({syntax.name}) is not one gpuimg can decode. "
                "Convert the file to an uncompressed or standard JPEG/JPEG 2000/RLE syntax "
                "(e.g. `gdcmconv --raw` or `dcmdjpeg`)."
            ) from None
        if not available:
            missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
            raise DicomError(
                f"{self.path}: pixels are compressed as {syntax.name} and no decoder for it is installed "
                f"(missing: {missing}). Install pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg and "
                "pylibjpeg-rle (they come with gpuimg)."
            )
        if syntax in _NATIVE:
            ds = self.dataset
            bits = int(ds.get("BitsAllocated", 16))
            claimed = _native_bytes(ds, self.n_frames)
            length = _pixel_data_length(self.path, claimed, syntax) if self.pixels is None else self.pixels[1]
            if length is not None and not _pixel_bytes_fit(claimed, length):
                cause = (
                    "The file is truncated; export it again from the scanner or PACS."
                    if length < claimed
                    else "BitsAllocated, Rows, Columns or NumberOfFrames does not match the pixel data."
                )
                raise DicomError(
                    f"{self.path}: the header claims {count(self.n_frames, 'frame')} of "
                    f"{ds.Rows} x {ds.Columns} pixels at {bits} bits ({claimed} bytes), but the pixel data "
                    f"hold {length} bytes. " + cause
                )
            if length is not None and length > claimed + 1:
                return _excess(self.path, ds, self.n_frames, claimed, length)
        return None


@functools.cache
def _decoder(syntax: pydicom.uid.UID) -> tuple[Decoder, bool]:
    """pydicom's pixel decoder for ``syntax`` and whether it can run, looked up once a syntax.

    NotImplementedError where pydicom has no decoder for ``syntax``.
    """
    decoder = get_decoder(syntax)
    return decoder, decoder.is_available


def _frames(path: Path, ds: pydicom.Dataset) -> tuple[_Frame, ...]:
    """Every frame of the file with its geometry and rescale, in file order.

    Enhanced multi-frame files give them per frame (PerFrameFunctionalGroupsSequence) or for all
    frames (SharedFunctionalGroupsSequence); classic files in their top-level attributes, read once
    for all their frames.
    """
    shape = (int(ds.get("Rows")), int(ds.get("Columns")))
    n_frames = _frame_count(ds)
    shared = _first(ds.get("SharedFunctionalGroupsSequence"))
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if shared is None and per_frame is None:
        first = _frame(path, None if n_frames == 1 else 0, (), ds, shape)
        frames = [first] + [dataclasses.replace(first, index=index) for index in range(1, n_frames)]
    else:
        frames = []
        for index in range(n_frames):
            item = per_frame[index] if per_frame is not None and index < len(per_frame) else None
            groups = [g for g in (item, shared) if g is not None]
            frames.append(_frame(path, index if n_frames > 1 else None, groups, ds, shape))
    offsets = _listed(ds.get("GridFrameOffsetVector"))  # one value (a dose of one frame) is no list
    if per_frame is None and offsets and len(offsets) == n_frames:
        return _offset_frames(frames, [float(o) for o in offsets])
    if per_frame is None and frames[0].position is None and "DetectorInformationSequence" in ds:
        return _detector_frames(frames, ds)
    return tuple(frames)


def _frame(path: Path, index: int | None, groups, ds: pydicom.Dataset, shape: tuple[int, int]) -> _Frame:
    """One frame: each value from its functional ``groups`` (per-frame, then shared), else the top level."""
    return _Frame(
        path=path,
        index=index,
        position=_floats(_group(groups, "PlanePositionSequence", "ImagePositionPatient", ds)),
        orientation=_floats(_group(groups, "PlaneOrientationSequence", "ImageOrientationPatient", ds)),
        pixel_spacing=_floats(_group(groups, "PixelMeasuresSequence", "PixelSpacing", ds)),
        shape=shape,
        slope=_slope(groups, ds),
        intercept=float(_group(groups, "PixelValueTransformationSequence", "RescaleIntercept", ds, 0.0)),
    )


#: What tells apart the images of one series at one position, in the order asked: keyword, the
#: functional group (sequence) of an enhanced file that holds it per frame (None: the top level only),
#: and what each image is then.
_STACKED_BY = (
    ("EchoNumbers", None, "echo"),
    ("EchoTime", None, "echo"),
    ("EffectiveEchoTime", "MREchoSequence", "echo"),
    ("DiffusionBValue", "MRDiffusionSequence", "b-value"),
    ("TemporalPositionIdentifier", None, "time point"),
    ("TemporalPositionIndex", "FrameContentSequence", "time point"),
    ("TriggerTime", None, "time point"),
    ("StackID", "FrameContentSequence", "stack"),
    ("AcquisitionNumber", None, "acquisition"),
)


def _told_apart(frames: list[_Frame]) -> tuple[str, str, list] | None:
    """What tells apart ``frames`` (images at one position): the first keyword of :data:`_STACKED_BY`
    whose values differ among them, what each image is then (an echo, a b-value ...), and the values in
    frame order; None where none differs or a header cannot be read again.

    Read again from the files (without pixels), since the quick header reader does not keep these
    values: only where a series is refused for images at one position.
    """
    datasets: dict[Path, pydicom.Dataset] = {}
    try:
        for frame in frames:
            if frame.path not in datasets:
                datasets[frame.path] = _dcmread(frame.path, stop_before_pixels=True)
        for keyword, sequence, what in _STACKED_BY:
            values = []
            for frame in frames:
                ds = datasets[frame.path]
                per_frame = ds.get("PerFrameFunctionalGroupsSequence")
                groups = []
                if sequence is not None and frame.index is not None and per_frame is not None:
                    groups = [per_frame[frame.index], _first(ds.get("SharedFunctionalGroupsSequence"))]
                value = _group([g for g in groups if g is not None], sequence or "", keyword, ds)
                # A value that ran into the next elements (the patient's may follow) tells nothing.
                values.append(None if value is None or _ran_on(value) else _as_text(value))
            if None not in values and len(set(values)) > 1:
                return keyword, what, values
    except Exception:  # a header that cannot be read again: the message says less
        return None
    return None


def _offset_frames(frames: list[_Frame], offsets: list[float]) -> tuple[_Frame, ...]:
    """Place the frames of a classic multi-frame file (RT dose, NM) along the slice normal.

    Such a file has one ImagePositionPatient, for its first frame, and a GridFrameOffsetVector [mm]:
    offsets from it (first offset 0) or z positions (first offset = z of the first frame), so both
    kinds put frame k at ``position + (offsets[k] - offsets[0]) * normal``.
    """
    first = frames[0]
    if first.position is None or first.orientation is None or len(first.orientation) != 6:
        return tuple(frames)
    normal = np.cross(first.orientation[:3], first.orientation[3:])
    return tuple(
        dataclasses.replace(frame, position=tuple(np.add(first.position, (offset - offsets[0]) * normal)))
        for frame, offset in zip(frames, offsets, strict=True)
    )


def _detector_frames(frames: list[_Frame], ds: pydicom.Dataset) -> tuple[_Frame, ...]:
    """Place the slices of a reconstructed NM (SPECT) file, which has no ImagePositionPatient of its own.

    Its DetectorInformationSequence gives the first slice's position and the orientation (NM Detector
    Module, where ImageType's third value is RECON TOMO or RECON GATED TOMO), and slice ``n`` (its
    SliceVector entry, from 1) lies ``(n - 1) * SpacingBetweenSlices`` along the normal (row x column),
    the spacing's sign saying which way the slices are stacked (NM Reconstruction Module). Any other
    file (projections, no detector position or spacing) comes back as it is.
    """
    detector = _first(ds.get("DetectorInformationSequence"))
    if not _nm_reconstruction(ds) or detector is None:
        return tuple(frames)
    position = _floats(detector.get("ImagePositionPatient"))
    orientation = _floats(detector.get("ImageOrientationPatient"))
    step = ds.get("SpacingBetweenSlices")
    step = ds.get("SliceThickness") if step is None or step == "" else step
    if position is None or orientation is None or len(orientation) != 6 or step is None or step == "":
        return tuple(frames)
    numbers = [int(n) for n in _listed(ds.get("SliceVector"))]
    if len(numbers) != len(frames):
        numbers = list(range(1, len(frames) + 1))
    normal = np.cross(orientation[:3], orientation[3:])
    return tuple(
        dataclasses.replace(
            frame,
            position=tuple(np.add(position, (number - 1) * float(step) * normal)),
            orientation=orientation,
        )
        for frame, number in zip(frames, numbers, strict=True)
    )


def _nm_reconstruction(ds: pydicom.Dataset | _Tags) -> bool:
    """Whether ImageType's third value says an NM reconstruction, whose slices are placed by
    SpacingBetweenSlices (else SliceThickness): see :func:`_detector_frames`."""
    image_type = _listed(ds.get("ImageType"))
    return len(image_type) >= 3 and str(image_type[2]).upper() in _NM_RECONSTRUCTIONS


def _listed(value) -> list:
    """A DICOM value as a list: [] where absent, one item where it holds one value."""
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple | MultiValue) else [value]


def _slope(groups, ds: pydicom.Dataset) -> float:
    """RescaleSlope, else DoseGridScaling (RT dose), else 1; a slope of 0 stays 0 (it is refused later)."""
    slope = _group(groups, "PixelValueTransformationSequence", "RescaleSlope", ds, None)
    if slope is None:
        slope = ds.get("DoseGridScaling")
    return 1.0 if slope is None or slope == "" else float(slope)


def _frame_count(ds: pydicom.Dataset) -> int:
    """NumberOfFrames (1 where absent or empty); ValueError unless it is a whole number >= 1."""
    value = ds.get("NumberOfFrames")
    if value is None or value == "":
        return 1
    try:
        count = float(value)
    except (TypeError, ValueError):
        count = float("nan")
    if not (1 <= count < float("inf") and count == int(count)):
        # A number is shown; text is not, since a damaged length can take in other elements' bytes.
        shown = f"{count:g}" if count == count else "no number"
        raise ValueError(f"NumberOfFrames (0028,0008) is {shown}; it must be a whole number of at least 1")
    return int(count)


def _native_bytes(ds: pydicom.Dataset, n_frames: int) -> int:
    """Bytes of uncompressed pixel data the header describes (1-bit pixels packed)."""
    samples = int(ds.get("SamplesPerPixel", 1))
    bits = int(ds.get("BitsAllocated", 16))
    return (int(ds.get("Rows")) * int(ds.get("Columns")) * samples * n_frames * bits + 7) // 8


def _pixel_bytes_fit(claimed: int, length: int) -> bool:
    """Whether ``length`` bytes of native pixel data hold the ``claimed`` ones: at least as many, and
    fewer than twice as many (more means BitsAllocated, Rows or Columns is wrong), or one more, the
    byte that pads an odd length to an even one (a 1 x 1 image of 8 bits holds 2)."""
    return claimed <= length < max(2 * claimed, claimed + 2)


def _excess(path: Path, ds: pydicom.Dataset | _Tags, n_frames: int, claimed: int, length: int) -> _Excess:
    """What ``length`` bytes of uncompressed pixel data hold beyond the ``claimed`` bytes of ``ds``'s
    ``n_frames`` frames, where they hold more than those and the byte that pads an odd length."""
    bits = int(ds.get("BitsAllocated", 16))
    image = f"{count(n_frames, 'frame')} of {ds.get('Rows')} x {ds.get('Columns')} pixels at {bits} bits"
    return _Excess(path, image, claimed, length)


def _warn_of_excess(excesses: Sequence[_Excess], files: Sequence[Path], series_uid: str = "") -> None:
    """Warn once, for a series of ``files`` (or one file), of the ``excesses`` among them: pixel data
    that hold more than the bytes their headers claim and one byte of padding. No warning where
    ``excesses`` is empty.

    The first claimed bytes of each file are read as its image. Padding after the pixels is harmless
    (pydicom's MR_small_padded.dcm holds 128 bytes of it, and some exporters pad every slice of a
    series); a damaged Rows, Columns, BitsAllocated or NumberOfFrames reads as a sheared or shifted
    image, which the bytes alone cannot tell apart (pydicom decodes it too, warning of "excess
    padding"). One warning a series, not a file: each file's would name its own path, so Python's
    default filter would show all of them. It names the file of a series of one, else the series and
    its folder (its first file where the files lie in several), how many of its files hold more, and
    the bytes of the first of them (their range, where they differ). It points at the first frame
    outside gpuimg.io: the call to read_dicom, list_series or read_seg, at whatever depth their helpers
    check.
    """
    if not excesses:
        return
    first = excesses[0]
    if len(files) == 1:
        held = (
            f"{first.path}: its pixel data hold {first.length} bytes, {first.length - first.claimed} more "
            f"than the {first.claimed} the header claims ({first.image}); the first {first.claimed} are "
            "read as the image."
        )
    else:
        one_folder = len({path.parent for path in files}) == 1
        where = f"in {files[0].parent}" if one_folder else f"(its first file {files[0]})"
        which = f"all {len(files)} files"
        if len(excesses) < len(files):
            named = first.path.name if one_folder else first.path
            which = f"{len(excesses)} of {len(files)} files (the first {named})"
        one_image = len({e.image for e in excesses}) == 1
        claimed = _span(e.claimed for e in excesses)
        found, more = _span(e.length for e in excesses), _span(e.length - e.claimed for e in excesses)
        held = (
            f"Series {series_uid} {where}: the pixel data of {which} hold {found} bytes, {more} more than "
            f"the {claimed} their headers claim{f' ({first.image})' if one_image else ''}; the first "
            f"{claimed if one_image else 'claimed'} bytes of each are read as the image."
        )
    warnings.warn(
        f"{held} Padding after the pixels is harmless, but where the image looks sheared or shifted, Rows, "
        "Columns, BitsAllocated or NumberOfFrames is wrong: check them against the scanner's or PACS's "
        "export.",
        stacklevel=caller_level(__file__),
    )


def _span(values: Iterable[int]) -> str:
    """Whole numbers in words: the one value, or the range "a to b" where they differ."""
    values = list(values)
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low} to {high}"


#: The values :func:`_claims_problem` reads, besides the transfer syntax and the file's size.
_CLAIMED = (
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
)

#: The wanted values that a plain header's frames (:func:`_frames`) and the verdict on its pixel
#: description (:func:`_claims_problem`) are made of, but for ImagePositionPatient.
_FRAME_VALUES = frozenset(
    {
        *_CLAIMED,
        "ImageOrientationPatient",
        "PixelSpacing",
        "RescaleSlope",
        "RescaleIntercept",
        "DoseGridScaling",
        "GridFrameOffsetVector",
    }
)


def _claims_problem(path: Path, ds: pydicom.Dataset | _Tags, size: int) -> str | None:
    """Why the header's description of its pixels cannot be right, or None.

    Checked before the frames are listed, so that a NumberOfFrames of 10⁹ or an image larger than
    the file could hold is refused before anything of that size is built or allocated. The verdict on
    the quick reader's plain values is kept for the next file of the same values and size (the files
    of a series), as :func:`_plain_claims_problem`.
    """
    if isinstance(ds, _Tags):
        return _plain_claims_problem(tuple(map(ds.get, _CLAIMED)), size)
    return _pixels_problem(ds, size)


@functools.lru_cache(maxsize=64)
def _plain_claims_problem(values: tuple, size: int) -> str | None:
    """:func:`_claims_problem` of a :class:`_Tags` holding ``values`` (those of :data:`_CLAIMED`, None
    where absent; its transfer syntax that of every _Tags) in a file of ``size`` bytes."""
    tags = _Tags({k: v for k, v in zip(_CLAIMED, values, strict=True) if v is not None})
    return _pixels_problem(tags, size)


def _pixels_problem(ds: pydicom.Dataset | _Tags, size: int) -> str | None:
    """:func:`_claims_problem`, read from ``ds`` afresh."""
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows < 1 or columns < 1:
        return f"the image is {rows} x {columns} pixels (Rows x Columns); the header is damaged."
    try:
        n_frames = _frame_count(ds)
    except ValueError as exc:
        return f"a header value cannot be read: {exc}; the header is damaged."
    samples = ds.get("SamplesPerPixel", 1)
    if samples is None or samples == "" or samples < 1:
        shown = "empty" if samples is None or samples == "" else _number(samples)
        return f"SamplesPerPixel is {shown}; it must be 1 (grey levels) or 3 (colour). The header is damaged."
    bits = int(ds.get("BitsAllocated") or 0)
    stored = _bits_stored(ds, bits)
    if bits not in _BITS_ALLOCATED or not 1 <= stored <= bits:
        return (
            f"BitsAllocated {bits} and BitsStored {stored} are invalid (BitsAllocated is 1, 8, 16, 32 or "
            "64, and BitsStored between 1 and BitsAllocated); the header is damaged."
        )
    representation = ds.get("PixelRepresentation", 0)
    if representation not in (0, 1):
        shown = "empty" if representation in (None, "") else _number(representation)
        return (
            f"PixelRepresentation is {shown}; it must be 0 (unsigned) or 1 (signed). The header is damaged."
        )
    syntax = _transfer_syntax(ds)
    claimed = _native_bytes(ds, n_frames)
    if syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        limit, how = _DEFLATE_RATIO * size, "even deflated at its best ratio"
    elif syntax in _NATIVE:
        limit, how = size, "uncompressed"
    else:
        claimed, limit, how = n_frames * _ITEM_BYTES, size, f"at {_ITEM_BYTES} bytes per compressed frame"
    if claimed > limit:
        return (
            f"the header claims {count(n_frames, 'frame')} of {rows} x {columns} pixels at {bits} bits, "
            f"which need {claimed} bytes {how}, but the whole file is {size} bytes. The file is truncated or "
            "its header is wrong; export it again."
        )
    return None


def _bits_stored(ds: pydicom.Dataset | _Tags, bits: int) -> int:
    """BitsStored, or ``bits`` (BitsAllocated) where it is absent or empty."""
    stored = ds.get("BitsStored")
    return bits if stored is None or stored == "" else int(stored)


def _pixel_data_length(path: Path, expected: int, syntax: pydicom.uid.UID) -> int | None:
    """The length [bytes] of the Pixel Data value of an uncompressed file of transfer syntax ``syntax``
    (inflated, where deflated); None if it has none; 0 where the file cannot be parsed again.

    Fast path: the element header just before the last ``expected`` bytes (Pixel Data is almost
    always the last element). Otherwise the file is parsed again without loading large values. A
    deflated file is inflated and parsed again whole (pydicom inflates it whole to read its header
    anyway): its element lengths and positions are those of the inflated dataset, not of the file.
    """
    if syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        try:
            value = _dcmread(path).get("PixelData")
        except Exception:  # pydicom and zlib raise many types on a damaged file
            return 0
        return None if value is None else len(value)
    size = path.stat().st_size
    if size >= expected + 12:
        with open(path, "rb") as file:
            file.seek(size - expected - 12)
            head = file.read(12)
        for start in (0, 4):  # explicit VR (12-byte element header), implicit VR (8 bytes)
            if head[start : start + 4] == b"\xe0\x7f\x10\x00":
                if int.from_bytes(head[-4:], "little") == expected:
                    return expected
    try:
        ds = pydicom.dcmread(path, defer_size=256, force=_checked(path))  # large values not read
        element = ds.get_item("PixelData")
    except Exception:  # pydicom raises many types on a damaged file
        return 0
    if element is None:
        return None
    start = getattr(element, "value_tell", None)
    length = getattr(element, "length", None)
    if start is None or length is None or length == 0xFFFFFFFF:
        return 0 if element.value is None else len(element.value)  # None: an empty value
    return min(int(length), size - int(start))


def _transfer_syntax(ds: pydicom.Dataset) -> pydicom.uid.UID:
    """The file's transfer syntax; for a file without meta header, the encoding pydicom found."""
    syntax = (getattr(ds, "file_meta", None) or {}).get("TransferSyntaxUID")
    if syntax:
        return syntax if isinstance(syntax, pydicom.uid.UID) else pydicom.uid.UID(str(syntax))
    implicit, little = ds.original_encoding
    if implicit:
        return pydicom.uid.ImplicitVRLittleEndian
    return pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian


def _first(sequence):
    return sequence[0] if sequence else None


def _group(groups, sequence: str, keyword: str, ds: pydicom.Dataset, default=None):
    """``keyword`` from the per-frame then shared functional group ``sequence``, else from the top level."""
    for group in groups:
        item = _first(group.get(sequence))
        if item is not None and keyword in item:
            return item[keyword].value
    value = ds.get(keyword, default)
    return default if value is None or value == "" else value


def _floats(value) -> tuple[float, ...] | None:
    """A DICOM list of numbers as floats; one number (where several belong) as a list of one, which
    :func:`gpuimg.io._stack._check_values` refuses, naming the file."""
    if value is None or value == "":
        return None
    return tuple(map(float, value if type(value) is list else _listed(value)))  # a _Tags list as it is


#: Bytes a read of :class:`_BoundedFile` may ask for unchecked.
_SMALL_READ = 1 << 16


class _BoundedFile(io.BufferedReader):
    """A file whose reads ask for no more bytes than remain in it.

    pydicom reads a value of the length its element header gives, and Python allocates the bytes asked
    for before it reads them: a damaged length of 4 GB asked for 4 GB (a MemoryError under a memory
    limit). Here the read gets what is there, and pydicom finds the file cut short, as it is. Reads of up
    to :data:`_SMALL_READ` bytes (tags, lengths, most values) are not checked: they cannot allocate
    much, and the check (``tell``) made a header read about 45 % slower.
    """

    def __init__(self, path: Path):
        super().__init__(io.FileIO(path, "rb"))
        self._size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > _SMALL_READ:
            size = min(size, max(self._size - self.tell(), 0))
        return super().read(size)


def _number(value) -> str:
    """A header value as a message may show it: a whole number as itself, anything else (a list or
    text a damaged length made, which can hold the bytes of the patient's name) as "damaged"."""
    return str(value) if isinstance(value, int) else "damaged"


def _cause(exc: BaseException) -> str:
    """What a message may show of an exception that pydicom, a pixel decoder, nibabel or pynrrd
    raised: its type, with an OS error's reason or a zlib or gzip error's text (fixed texts, and
    checksums), or why gpuimg refused a file for its character set (a text of ours, which quotes none
    of the header). Not the rest of its text, which can quote raw value bytes: a damaged length lets a
    value run over the next elements, the patient's name, birth date and ID among them."""
    if isinstance(exc, _CharacterSetError):
        return exc.reason
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def _dcmread(path: Path, **options) -> pydicom.Dataset:
    """``pydicom.dcmread(path, **options)``, no read asking for more bytes than the file holds (see
    :class:`_BoundedFile`), forced where the file is a dataset without preamble (:func:`_raw_dataset`),
    once its Specific Character Set is checked (:func:`_check_character_set`: a DicomError where
    pydicom would quote it in a warning); the file opened once for all three."""
    with _BoundedFile(path) as file:
        return pydicom.dcmread(file, force=_checked_file(file, path), **options)


def _checked(path: Path) -> bool:
    """pydicom's ``force`` for ``path`` (:func:`_raw_dataset`), once its Specific Character Set is
    checked (:func:`_check_character_set`): call it before every pydicom read of a whole file by name."""
    with _BoundedFile(path) as file:
        return _checked_file(file, path)


def _checked_file(file, path: Path) -> bool:
    """:func:`_checked` of ``path``, open as ``file`` (at its start, where it is left)."""
    force = _raw_start(file.read(4))
    file.seek(0)
    _check_character_set(file, path, force)
    return force


def _written_texts(path: Path, keywords: Sequence[str]) -> dict[str, str]:
    """The dataset's own text values ``keywords`` of ``path`` as written, without pydicom: for a file
    refused for its Specific Character Set (:func:`_check_character_set`), whose text pydicom would
    decode as Latin-1, its default for a character set it does not know, as they are decoded here
    (several values stay joined by backslashes; trailing spaces and NULs are left out). A value absent
    behind what the walk can follow, or cut short by the file's end, is "".
    """
    tags = {keyword: pydicom.datadict.tag_for_keyword(keyword) for keyword in keywords}
    with _BoundedFile(path) as file:
        values = _raw_values(file, _raw_dataset(path), frozenset(tags.values()))
    texts = {keyword: values.get(tag) or b"" for keyword, tag in tags.items()}
    return {keyword: value.decode("latin-1").rstrip(" \0") for keyword, value in texts.items()}


def _raw_dataset(path: Path) -> bool:
    """Whether ``path`` starts like a DICOM dataset written without preamble and meta header.

    Such files (older scanners and archives) start with an element of group 0008 or 0002; reading
    other files with ``force=True`` would parse noise.
    """
    with open(path, "rb") as file:
        return _raw_start(file.read(4))


def _raw_start(start: bytes) -> bool:
    """Whether a file that starts with the bytes ``start`` (at least its first 4) is a dataset
    without preamble and meta header (see :func:`_raw_dataset`)."""
    return start[:2] in (b"\x08\x00", b"\x02\x00") or start[:4] == b"\x00\x08\x00\x05"
