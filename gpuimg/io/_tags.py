"""The few header tags gpuimg needs, their values and checks, for the quick reader of plain explicit-VR
little-endian files (:mod:`gpuimg.io._quick_reader`).

pydicom builds a full dataset for every file and converts values on access, which costs about a
millisecond a file; a series or a cohort of thousands of files pays it under the GIL. The files
scanners and PACS write most (Part 10, explicit VR little endian, uncompressed) are read by one walk
over their element headers, up to Pixel Data, converting only the values listed in ``_WANTED`` as this
module converts them (:class:`_Tags`). Anything else (another transfer syntax, no preamble, functional
groups, text that is not plain ASCII or that runs into the next elements, a value that is not a plain
number, several numbers where one belongs, an element that runs past the end of the file) is read by
pydicom as before, with all its checks and messages; :func:`_damaged_value` then checks the values
pydicom gives.
"""

import re
import struct
from types import MappingProxyType

import pydicom
from pydicom.multival import MultiValue

#: Tag -> (keyword, the VR the standard gives it) of every value the headers are read for.
_WANTED = {
    0x00080008: ("ImageType", b"CS"),
    0x00080016: ("SOPClassUID", b"UI"),
    0x00080018: ("SOPInstanceUID", b"UI"),
    0x00080060: ("Modality", b"CS"),
    0x0008103E: ("SeriesDescription", b"LO"),
    0x00100020: ("PatientID", b"LO"),
    0x00180050: ("SliceThickness", b"DS"),
    0x00180088: ("SpacingBetweenSlices", b"DS"),
    0x0020000D: ("StudyInstanceUID", b"UI"),
    0x0020000E: ("SeriesInstanceUID", b"UI"),
    0x00200010: ("StudyID", b"SH"),
    0x00200032: ("ImagePositionPatient", b"DS"),
    0x00200037: ("ImageOrientationPatient", b"DS"),
    0x00200052: ("FrameOfReferenceUID", b"UI"),
    0x00280002: ("SamplesPerPixel", b"US"),
    0x00280004: ("PhotometricInterpretation", b"CS"),
    0x00280008: ("NumberOfFrames", b"IS"),
    0x00280010: ("Rows", b"US"),
    0x00280011: ("Columns", b"US"),
    0x00280030: ("PixelSpacing", b"DS"),
    0x00280100: ("BitsAllocated", b"US"),
    0x00280101: ("BitsStored", b"US"),
    0x00280103: ("PixelRepresentation", b"US"),
    0x00281050: ("WindowCenter", b"DS"),
    0x00281051: ("WindowWidth", b"DS"),
    0x00281052: ("RescaleIntercept", b"DS"),
    0x00281053: ("RescaleSlope", b"DS"),
    0x00281055: ("WindowCenterWidthExplanation", b"LO"),
    0x00541001: ("Units", b"CS"),
    0x3004000C: ("GridFrameOffsetVector", b"DS"),
    0x3004000E: ("DoseGridScaling", b"DS"),
}
#: The wanted numbers that hold several values; each of the other wanted numbers is one value.
_NUMBER_LISTS = frozenset(
    {
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "PixelSpacing",
        "WindowCenter",
        "WindowWidth",
        "GridFrameOffsetVector",
    }
)
#: The values no voxel and no series depends on: the display presets, their names, the series
#: description and the units of a PET or NM series. A damaged one does not make the header damaged:
#: read_dicom keeps the presets that are numbers, leaves out the others and a description or units it
#: cannot read, each with a warning naming the file.
_OPTIONAL = frozenset(
    {"WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "SeriesDescription", "Units"}
)
#: The slice spacings: only a series of one slice (its z spacing, series._thickness) and an NM
#: reconstruction (its slices' positions, _header._detector_frames) read them, so a damaged one makes
#: only such a series or file damaged, and a series of several slices is measured from positions.
_SPACINGS = frozenset({"SliceThickness", "SpacingBetweenSlices"})
#: Keyword -> (tag, the VR the standard gives it) of every wanted value.
_KEYWORDS = {keyword: (tag, vr) for tag, (keyword, vr) in _WANTED.items()}
#: VR -> the type a wanted number of that VR is read as.
_NUMBER_TYPES = {b"US": int, b"IS": int, b"DS": float}
#: The most characters one DS or IS value holds (the standard's maximum length of a DS).
_NUMBER_CHARACTERS = 16
#: What a message about a damaged value says to do.
_DAMAGED = "the header is damaged. Export the file again."
#: What no text or number value holds: a control character, but ESC (which switches character sets).
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f]")
#: What a text value the quick reader takes does not hold, but for the NULs that pad it: a byte that is
#: not printable ASCII (another character set, ESC, or a control character, as :data:`_CONTROL`).
_NOT_PLAIN = re.compile(rb"[^\x20-\x7e]")
#: Numbers as written that a converter of DS or IS values keeps with their values, at most.
_KNOWN_NUMBERS = 4096


def _ran_on(value) -> bool:
    """Whether a value read from a header (text, or a number as text) ran into the next elements.

    A damaged length makes a value take in the bytes that follow it: the next elements' tags, VRs
    and lengths, whose group numbers (0x0008 ... 0x0028, the patient's 0x0010) put a 0 byte or
    another control character into it. Such a value is never shown: it may hold the patient's name.
    The NULs that pad a value to an even length are no damage. Where the bytes taken in hold a
    backslash, pydicom gives a list (a MultiValue), whose ``str`` is its repr with the control
    characters escaped: each of its items is checked.
    """
    items = value if isinstance(value, list | MultiValue) else (value,)
    return any(_CONTROL.search(str(item).rstrip("\0")) is not None for item in items)


def _as_text(value) -> str:
    """A header's text value as written: the items of a MultiValue joined by backslashes, as in the file."""
    if type(value) is str:  # most values: no isinstance test of two types (0.3 µs)
        return value
    return "\\".join(map(str, value)) if isinstance(value, list | MultiValue) else str(value)


def _key(tag: int) -> int:
    """The tag (group, element) as its 4 bytes in the file read as one little-endian number: (element,
    group), so that the walk needs no shift to put the two halves together."""
    return tag >> 16 | (tag & 0xFFFF) << 16


#: The keys (see :func:`_key`) of the wanted numbers that hold one value.
_SINGLE_NUMBERS = frozenset(
    _key(tag)
    for tag, (keyword, vr) in _WANTED.items()
    if vr in _NUMBER_TYPES and keyword not in _NUMBER_LISTS
)
_TRANSFER_SYNTAX = _key(0x00020010)
_PIXEL_DATA = _key(0x7FE00010)
#: The keys of the tags that end the walk: Pixel Data, and the shared and per-frame functional groups
#: (an enhanced multi-frame file, which pydicom reads).
_STOPS = frozenset({_PIXEL_DATA, _key(0x52009229), _key(0x52009230)})
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
#: VRs whose element header has two reserved bytes and a 4-byte length.
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
#: VRs whose element header has a 2-byte length.
_SHORT_VRS = {
    b"AE",
    b"AS",
    b"AT",
    b"CS",
    b"DA",
    b"DS",
    b"DT",
    b"FD",
    b"FL",
    b"IS",
    b"LO",
    b"LT",
    b"PN",
    b"SH",
    b"SL",
    b"SS",
    b"ST",
    b"TM",
    b"UI",
    b"UL",
    b"US",
}
#: An element header as the walk reads it: the tag's key (see :func:`_key`), the VR, a 2-byte length.
_SHORT_HEADER = struct.Struct("<I2sH")
_ELEMENT_HEADER = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")
_TAG = struct.Struct("<HHI")
_UNSIGNED_SHORT = struct.Struct("<H")
#: Plain decimal and integer strings; anything else (nan, hex, blanks inside) goes to pydicom.
_DECIMAL = rb" *[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)? *"
_INTEGER = rb" *[-+]?\d+ *"
#: Key (see :func:`_key`) -> (keyword, VR, raw value, its conversion) of every wanted tag, with the raw
#: value last converted (None before the first). The files of one series repeat most values (UIDs,
#: image size, orientation, pixel spacing, rescale), which then cost a comparison instead of a
#: conversion (0.3-1.5 µs). Lists are copied out, so no two files share one. The tags that end the walk
#: (``_STOPS``) are here too, as (None, None, None, None), so that one look-up an element finds both.
_LAST: dict[int, tuple[str | None, bytes | None, bytes | None, object]] = {
    _key(tag): (keyword, vr, None, None) for tag, (keyword, vr) in _WANTED.items()
} | dict.fromkeys(_STOPS, (None, None, None, None))


class _Tags(dict):
    """Keyword -> value of the wanted tags of one file, used where a pydicom dataset is otherwise.

    Values are converted as pydicom converts them: ``str`` for text and UIDs (trailing spaces and
    NULs removed), ``float``/``int`` for DS/IS, ``int`` for US, and a list where the value has several.
    Made as a dict of them; its reader sets ``data`` and ``template`` where the file has them (class
    attributes, not an ``__init__`` of its own: a file's tags are made in 0.2 µs, not 0.6).
    """

    #: The file meta group's transfer syntax: explicit VR little endian, the only one the quick reader
    #: takes; one read-only mapping for all files.
    file_meta = MappingProxyType({"TransferSyntaxUID": pydicom.uid.ExplicitVRLittleEndian})
    #: The whole file, as its header was read, where it is small (see :data:`_WHOLE_FILE`); else None.
    data: bytes | None = None
    #: The template of its series that the file matched (:class:`gpuimg.io._quick_reader._Template`), None
    #: where it was walked.
    template: object = None

    def __getattr__(self, keyword: str):
        try:
            return self[keyword]
        except KeyError:
            raise AttributeError(keyword) from None


def _damaged_value(ds: pydicom.Dataset | _Tags, numbers: bool, spacings: bool = False) -> str | None:
    """Why one of the wanted values of a header cannot be read as it must be, or None where all can.

    pydicom converts a value when it is first read, so a damaged element (an unknown VR, a length
    that runs into the next elements, letters in a number, two values where one belongs) would
    otherwise fail later, in whatever reads it, with an error of another kind (see :func:`_damaged_number`).

    The values no voxel depends on (``_OPTIONAL``: display presets, series description) are not checked,
    nor the slice spacings (``_SPACINGS``) unless ``spacings``: they are checked where they are used.

    Parameters
    ----------
    ds : pydicom.Dataset or _Tags
    numbers : bool
        Check the numbers (VR US, IS, DS) if True, the text values (modality, UIDs, IDs) if False.
    spacings : bool
        Check the slice spacings too (with the numbers): the file places its slices by them.
    """
    if isinstance(ds, _Tags):  # see _damaged_number
        return None
    for keyword, (_tag, vr) in _KEYWORDS.items():
        skipped = keyword in _OPTIONAL or (keyword in _SPACINGS and not spacings)
        if (vr in _NUMBER_TYPES) == numbers and not skipped:
            damaged = _damaged_number(ds, keyword)
            if damaged is not None:
                return damaged
    return None


def _damaged_number(ds: pydicom.Dataset | _Tags, keyword: str) -> str | None:
    """Why the wanted value ``keyword`` of a header cannot be read as it must be, or None where it can.

    A number that does not convert is shown where each of its values is no longer than a DS may be (16
    characters): the wanted numbers lie after the patient's group 0010, and a value that ran into the
    next elements (other names may follow) is longer. Text and what pydicom cannot read at all are never
    shown, since a damaged length there can take in the bytes of the patient's name; text that ran into
    the next elements (:func:`_ran_on`; the modality aside) makes the header damaged, as it may be shown
    (a UID in a message, the photometric interpretation) and it may hold the patient's elements.

    A ``_Tags`` holds only values the quick reader converted, one number where one belongs and no text
    that ran on: it has nothing to check.
    """
    if isinstance(ds, _Tags):
        return None
    tag, vr = _KEYWORDS[keyword]
    element = f"its {keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"
    try:
        value = ds.get(keyword)  # a pydicom Dataset converts the value here
    except Exception as exc:  # pydicom raises many types on a damaged element
        return f"{element} cannot be read ({type(exc).__name__}); {_DAMAGED}"
    kind = _NUMBER_TYPES.get(vr)
    if kind is None:
        # Text (a UID, an ID, a code string) that ran into the next elements is not shown: the patient's
        # elements may follow it (a misplaced patient module, or a value within a sequence before them).
        # The modality is read where it is used, a damaged one with a warning (series._optional_text).
        if keyword != "Modality" and _ran_on(value):
            return f"{element} runs into the next elements, and is not shown; {_DAMAGED}"
        return None
    if value is None or value == "":
        return None
    several = keyword in _NUMBER_LISTS
    try:
        for one in value if several and isinstance(value, list | MultiValue) else (value,):
            kind(one)
    except (TypeError, ValueError):
        items = list(value) if isinstance(value, list | MultiValue) else [value]
        what = "numbers" if several else "one number"
        # Longer than a DS or IS may be, or run into the next elements: not shown.
        if len(items) > 6 or any(len(str(item)) > _NUMBER_CHARACTERS or _ran_on(item) for item in items):
            return f"{element} is not {what}, and not shown (it runs into the next elements); {_DAMAGED}"
        return f"{element} is {items if len(items) > 1 else items[0]!r}, not {what}; {_DAMAGED}"
    return None


class _Unread(Exception):
    """The file is not one this reader takes; pydicom reads it."""


def _converted(key: int, keyword: str, vr: bytes, raw: bytes):
    """The wanted value ``raw`` of the tag ``key`` (see :func:`_key`) converted, and kept in ``_LAST``;
    _Unread where it does not convert, or is several numbers where one belongs."""
    value = _CONVERT[vr](raw)
    if type(value) is list and key in _SINGLE_NUMBERS:
        raise _Unread
    _LAST[key] = (keyword, vr, raw, value)
    return value


def _element(data: bytes, at: int) -> tuple[int, bytes, int, int]:
    """Tag, VR, value offset and value length of the element whose header starts at ``data[at]``.

    ``data`` must hold 12 bytes from ``at``, the longest element header: in a file that goes on to
    Pixel Data, which has a 12-byte header, they are always there.
    """
    group, number, vr, length = _ELEMENT_HEADER.unpack_from(data, at)
    if vr in _LONG_VRS:
        (length,) = _LONG_LENGTH.unpack_from(data, at + 8)
        return group << 16 | number, vr, at + 12, length
    if vr in _SHORT_VRS:
        return group << 16 | number, vr, at + 8, length
    raise _Unread


def _unsigned_short(raw: bytes) -> int:
    if len(raw) != 2:
        raise _Unread
    return _UNSIGNED_SHORT.unpack(raw)[0]


def _numbers(pattern: bytes, kind: type):
    """A converter of DS or IS values: plain ASCII numbers only (else _Unread), one or a list.

    ``pattern`` matches one number; each of the value's numbers, separated by backslashes, must match
    it. A number as written is matched and converted once (at most :data:`_KNOWN_NUMBERS` are kept):
    the positions of a series' files repeat most of their numbers (an axial series differs in z alone).
    """
    one = re.compile(pattern)
    known: dict[bytes, object] = {}  # a number as written -> its value

    def convert(raw: bytes):
        raw = raw.rstrip(b" \0")
        if b"\\" not in raw:
            return number(raw)
        return list(map(number, raw.split(b"\\")))

    def number(part: bytes):
        value = known.get(part)
        if value is None:
            if one.fullmatch(part) is None:
                raise _Unread
            if len(known) >= _KNOWN_NUMBERS:
                known.clear()
            value = known[part] = kind(part)
        return value

    return convert


def _text(strip_each: bool):
    """A converter of text values: plain ASCII only (else _Unread), one or a list.

    LO and SH values are split, then each stripped of trailing spaces and NULs; CS and UI values are
    stripped, then split (pydicom's ``convert_text`` and ``multi_string``).
    """

    def convert(raw: bytes):
        # Not ASCII, an ISO 2022 escape (which switches to other character sets), or a control character
        # (_ran_on's test, on the text before it is split): pydicom reads the file, and _damaged_value
        # checks the value it gives.
        if _NOT_PLAIN.search(raw.rstrip(b"\0")) is not None:
            raise _Unread
        text = raw.decode("ascii")
        if "\\" not in text:
            return text.rstrip("\0 ")
        parts = (
            [part.rstrip("\0 ") for part in text.split("\\")]
            if strip_each
            else text.rstrip(" \0").split("\\")
        )
        return parts[0] if len(parts) == 1 else parts

    return convert


#: VR -> converter of a wanted value, as pydicom converts it.
_CONVERT = {
    b"US": _unsigned_short,
    b"DS": _numbers(_DECIMAL, float),
    b"IS": _numbers(_INTEGER, int),
    b"LO": _text(strip_each=True),
    b"SH": _text(strip_each=True),
    b"CS": _text(strip_each=False),
    b"UI": _text(strip_each=False),
}
