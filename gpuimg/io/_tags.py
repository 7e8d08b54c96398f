"""A quick reader of the few header tags gpuimg needs, for plain explicit-VR little-endian files.

pydicom builds a full dataset for every file and converts values on access, which costs about a
millisecond a file; a series or a cohort of thousands of files pays it under the GIL. The files
scanners and PACS write most (Part 10, explicit VR little endian, uncompressed) are read here by one
walk over their element headers, up to Pixel Data, converting only the values listed in ``_WANTED``.
Anything else (another transfer syntax, no preamble, functional groups, text that is not plain
ASCII or that runs into the next elements, a value that is not a plain number, several numbers where
one belongs, an element that runs past the end of the file) returns None, and pydicom reads the file
as before, with all its checks and messages; :func:`_damaged_value` then checks the values pydicom
gives.

The files of one series repeat their elements, most of them byte for byte: once two files have been
walked in full, the next ones are compared with what they share (:class:`_Template`), and only the
values that differ among them are read.
"""

import os
import re
import struct
from pathlib import Path
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
#: First read [bytes]: the header of most files fits (a plain CT slice's is about 1 KB); a longer one is
#: read on in doubling steps.
_FIRST_READ = 4096
#: A file of at most this many bytes [bytes] is read whole by the first read, and its bytes are kept with
#: its tags (:attr:`_Tags.data`), from which read_dicom takes its pixels without opening it again (a
#: demo CT slice of 48 x 48 pixels is 5.7 KB). A SeriesInfo of such files holds them: at most this much
#: memory a file, its voxels and its header.
_WHOLE_FILE = 16384
#: os.open flags: read only, and no newline translation where the platform has it.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


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
    #: The template of its series that the file matched (:class:`_Template`), None where it was walked.
    template: "_Template | None" = None

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


def _read_tags(path: Path) -> tuple[_Tags, tuple[int, int], int] | None:
    """The wanted tags of an uncompressed explicit-VR little-endian Part 10 file, and where its pixels lie.

    Returns
    -------
    tags, (offset, length), size or None
        The tags (with the whole file's bytes as ``tags.data`` where it holds at most
        :data:`_WHOLE_FILE` bytes, else None); the offset [bytes from the start of the file] of the Pixel
        Data value and its length
        [bytes]: the length its element declares, or what the file holds after the offset where that
        is less (a truncated file); the file's size [bytes]. None for any file this reader does not
        take (see the module's docstring): read it with pydicom.
    """
    quick = _quick(path)
    return None if type(quick) is bytes else quick


def _quick(path: Path) -> tuple[_Tags, tuple[int, int], int] | bytes | None:
    """:func:`_read_tags`, but for a file of at least 132 bytes without 'DICM' at byte 128 (no Part 10
    file): its first 132 bytes, which tell whether it is DICOM at all, without opening it again."""
    try:
        fd = os.open(path, _OPEN_FLAGS)  # a file descriptor: no file object to build and close
    except OSError:
        return None
    syntax = pydicom.uid.ExplicitVRLittleEndian
    try:
        reader = _Reader(fd, os.fstat(fd).st_size)
        if not reader.need(132).startswith(b"DICM", 128):
            return reader.data[:132]
        template = _template
        matched = None if template is None else template.match(reader)
        if matched is None and template is not None and template.wider is not None:
            template = template.wider  # the template of two series': a file of the next series
            matched = template.match(reader)
        if matched is not None:
            tags, offset = matched
            length = template.length
            if template.first is not None:
                _tighten(template, tags, reader.data)
        else:
            if reader.meta() != syntax:
                return None
            values, (offset, length) = reader.dataset()
            _learn(reader.data, reader.starts, values, length)
            tags = _Tags(values)
    except (_Unread, OSError):
        return None
    finally:
        os.close(fd)
    if "Rows" not in tags or "SOPInstanceUID" not in tags:
        return None
    if reader.size <= _WHOLE_FILE and len(reader.data) == reader.size:
        tags.data = reader.data
    return tags, (offset, min(length, reader.size - offset)), reader.size


class _Reader:
    """Walks the element headers of one file, reading it in growing blocks from the start."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size, self.data, self.at = fd, size, b"", 0
        # Where each element of the file meta group and the main dataset starts, in file order, up to and
        # with Pixel Data (those within a sequence of undefined length not): what _learn compares.
        self.starts: list[int] = []

    def need(self, end: int) -> bytes:
        """The file's bytes read so far, at least up to ``end``; _Unread where the file ends first."""
        if end > len(self.data):
            if end > self.size:
                raise _Unread
            first = self.size if self.size <= _WHOLE_FILE else _FIRST_READ  # a small file whole
            self.data += os.read(self.fd, max(end, 2 * len(self.data), first) - len(self.data))
            if end > len(self.data):
                raise _Unread
        return self.data

    def bytes(self, start: int, length: int) -> bytes:
        """``length`` bytes from ``start``; _Unread where the file ends first."""
        return self.need(start + length)[start : start + length]

    def element(self) -> tuple[int, bytes, int, int]:
        """Tag, VR, value offset and value length of the element at ``self.at``, moving past its header."""
        tag, vr, self.at, length = _element(self.need(self.at + 12), self.at)
        return tag, vr, self.at, length

    def meta(self) -> str | None:
        """Walk the file meta group (0002); the transfer syntax UID it names."""
        data, at, syntax = self.data, 132, None
        while True:
            try:
                key, vr, length = _SHORT_HEADER.unpack_from(data, at)
                if key & 0xFFFF != 2:
                    break
                if vr in _SHORT_VRS:
                    start = at + 8
                elif vr in _LONG_VRS:
                    (length,) = _LONG_LENGTH.unpack_from(data, at + 8)
                    if length == _UNDEFINED:
                        raise _Unread
                    start = at + 12
                else:
                    raise _Unread
            except struct.error:  # the header runs past the bytes read so far
                data = self.need(at + 12)
                continue
            self.starts.append(at)
            at = start + length
            if key == _TRANSFER_SYNTAX:
                # latin-1 decodes any bytes: a UID that is not ASCII is no syntax of ours; pydicom reads it.
                syntax = self.bytes(start, length).decode("latin-1").rstrip("\0 ")
                data = self.data
        self.at = at
        return syntax

    def dataset(self) -> tuple[dict, tuple[int, int]]:
        """The wanted values of the main dataset, and the Pixel Data value's offset and length.

        One loop over the element headers with the bytes read so far and the tables in locals (about
        0.2 µs an element); :meth:`need` reads on only where an element header or a wanted value runs
        past them (``struct.error`` from an unpack past the end, which costs nothing where it is not
        raised). The tag is unpacked as it lies in the file (:func:`_key`), and one look-up in ``_LAST``
        finds the wanted values and the tags that end the walk (Pixel Data, the functional groups).
        Only a long VR can have an undefined length. A wanted value equal to the last one converted for
        its tag is not converted again.
        """
        values, data, at = {}, self.data, self.at
        end = len(data)
        unpack_short, unpack_long = _SHORT_HEADER.unpack_from, _LONG_LENGTH.unpack_from
        short_vrs, long_vrs, last_values, started = _SHORT_VRS, _LONG_VRS, _LAST, self.starts.append
        while True:
            try:
                key, vr, length = unpack_short(data, at)
                if vr in short_vrs:
                    started(at)
                    at += 8 + length
                elif vr in long_vrs:
                    (length,) = unpack_long(data, at + 8)
                    started(at)
                    if length == _UNDEFINED:  # a sequence, or a file pydicom reads
                        if vr != b"SQ" or key in _STOPS:
                            raise _Unread
                        self.at = at + 12
                        self.skip_sequence()
                        data, at = self.data, self.at
                        end = len(data)
                        continue
                    at += 12 + length
                else:
                    raise _Unread
            except struct.error:  # the header runs past the bytes read so far
                data = self.need(at + 12)
                end = len(data)
                continue
            wanted = last_values.get(key)
            if wanted is not None:
                keyword, standard_vr, last_raw, value = wanted
                if vr != standard_vr:
                    if keyword is None:  # Pixel Data or a functional group (see _STOPS)
                        return values, self.stop(key, vr, at - length, length)
                    raise _Unread
                if at > end:
                    data = self.need(at)
                    end = len(data)
                raw = data[at - length : at]
                if raw != last_raw:
                    value = _converted(key, keyword, vr, raw)
                values[keyword] = value.copy() if type(value) is list else value

    @staticmethod
    def stop(key: int, vr: bytes, start: int, length: int) -> tuple[int, int]:
        """The Pixel Data value's offset and length where ``key`` is Pixel Data of a VR that takes
        them (OB, OW); _Unread for a functional group (an enhanced multi-frame file)."""
        if key != _PIXEL_DATA or vr not in (b"OB", b"OW"):
            raise _Unread
        return start, length

    def skip_sequence(self) -> None:
        """Move past a sequence of undefined length (items of defined or undefined length)."""
        while True:
            tag, length = self.item()
            if tag == _SEQUENCE_END:
                return
            if tag != _ITEM:
                raise _Unread
            if length != _UNDEFINED:
                self.at += length
                continue
            while self.bytes(self.at, 4) != b"\xfe\xff\x0d\xe0":
                _tag, vr, start, element_length = self.element()
                if element_length == _UNDEFINED:
                    if vr != b"SQ":
                        raise _Unread
                    self.skip_sequence()
                else:
                    self.at = start + element_length
            self.item()

    def item(self) -> tuple[int, int]:
        """Tag and length of the item (or delimiter) at ``self.at``, moving past its header."""
        group, number, length = _TAG.unpack(self.bytes(self.at, 8))
        self.at += 8
        return group << 16 | number, length


def _converted(key: int, keyword: str, vr: bytes, raw: bytes):
    """The wanted value ``raw`` of the tag ``key`` (see :func:`_key`) converted, and kept in ``_LAST``;
    _Unread where it does not convert, or is several numbers where one belongs."""
    value = _CONVERT[vr](raw)
    if type(value) is list and key in _SINGLE_NUMBERS:
        raise _Unread
    _LAST[key] = (keyword, vr, raw, value)
    return value


class _Template:
    """What the headers of the files of one series share, learnt from two of them read in full.

    The file meta group and the main dataset up to the Pixel Data value, cut into ``pieces``: the bytes
    the two files held alike up to each element whose value (or length) differed between them, with
    that element's tag, VR (and a long VR's reserved bytes), and the ``tail`` after the last of them,
    which ends with the Pixel Data element's header. A file holding these bytes, each piece after the
    value of the element before it at whatever length it has, has the elements of the file the template
    was made of, in the same order and with the same VRs, and their values but those of the elements
    between the pieces: :meth:`match` reads only these (about 4 µs a file instead of 15 µs for a walk
    over the 43 elements of a demo CT slice). A file that differs elsewhere is walked in full.

    Attributes
    ----------
    pieces : tuple of (bytes, int, bool, int)
        The shared bytes before each differing value and their number, whether its element has a long
        VR (a 4-byte length after two reserved bytes, else a 2-byte length), and its tag's key (see
        :func:`_key`).
    tail : bytes
        The shared bytes after the last differing value, up to the Pixel Data value.
    tail_size : int
        Their number.
    values : dict
        Keyword -> value of the wanted tags of the file the template was made of, in file order.
    lists : tuple of str
        The keywords whose values are lists, and not among ``varying``: each file gets its own copy.
    length : int
        The length of the Pixel Data value its element declares [bytes].
    varying : frozenset of str
        The keywords of the wanted values among the differing elements: the only wanted values in which
        the files it matches may differ from ``values``.
    derived : object
        What the header reader derives from the shared values, once, for the files it matches (see
        :func:`gpuimg.io._scan._header`: a frame and the size of the file it was read from); None
        before. Replaced whole, never changed.
    first : tuple or None
        Where the two files were of two series (the last file of one study and the first of the next,
        as a cohort's folders are read in turn), the SeriesInstanceUID and the bytes of the last file it
        matched (or was made of) that was the first of its series: the next file of that series makes
        the template of the two (:func:`_tighten`). None where they were of one series.
    wider : _Template or None
        The template of two series' files that this one was made narrower from (:meth:`tightened`),
        which a file this one does not match is matched to before it is walked; else None.
    """

    __slots__ = (
        "derived",
        "first",
        "length",
        "lists",
        "pieces",
        "tail",
        "tail_size",
        "values",
        "varying",
        "wider",
    )

    def __init__(self, pieces: tuple, tail: bytes, values: dict, length: int, first: tuple | None = None):
        self.first, self.wider = first, None
        self.pieces, self.tail, self.tail_size, self.length = pieces, tail, len(tail), length
        # Its own lists: those of ``values`` are the file's, which its reader may change.
        self.values = {k: v.copy() if type(v) is list else v for k, v in values.items()}
        self.varying = frozenset(
            _LAST[key][0] for *_, key in pieces if key in _LAST and _LAST[key][0] is not None
        )
        # Those that vary are each file's own value.
        self.lists = tuple(k for k, v in values.items() if type(v) is list and k not in self.varying)
        self.derived = None

    def match(self, reader: "_Reader") -> tuple[_Tags, int] | None:
        """The wanted values of the file ``reader`` reads (its tags, matched to this template) and the
        offset of its Pixel Data value [bytes], where it holds the template's bytes (see the class'
        docstring); None where it does not, or ends before they do; _Unread where a differing wanted
        value does not convert, as the walk over its elements would find (:meth:`_Reader.dataset`)."""
        values = _Tags(self.values)
        values.template = self
        for keyword in self.lists:
            values[keyword] = values[keyword].copy()
        data, at, last_values = reader.data, 128, _LAST
        end = len(data)
        unpack_long, unpack_short = _LONG_LENGTH.unpack_from, _UNSIGNED_SHORT.unpack_from
        for shared, size, long, key in self.pieces:
            start = at + size + (4 if long else 2)  # the value's start
            if start > end:  # read on (the header of a CT slice often holds 5-10 KB)
                if start > reader.size:
                    return None
                data = reader.need(start)
                end = len(data)
            if not data.startswith(shared, at):  # no copy of the bytes compared
                return None
            if long:
                (length,) = unpack_long(data, start - 4)
                if length == _UNDEFINED:
                    return None
            else:
                (length,) = unpack_short(data, start - 2)
            at = start + length
            wanted = last_values.get(key)
            if wanted is not None:
                if at > end:
                    if at > reader.size:
                        return None
                    data = reader.need(at)
                    end = len(data)
                keyword, vr, last_raw, value = wanted
                raw = data[start:at]
                if raw != last_raw:
                    value = _converted(key, keyword, vr, raw)
                values[keyword] = value.copy() if type(value) is list else value
        tail = at + self.tail_size
        if tail > end:
            if tail > reader.size:
                return None
            data = reader.need(tail)
        if not data.startswith(self.tail, at):
            return None
        return values, tail

    def spans(self, data: bytes) -> list[tuple[int, int]]:
        """Where the value of each of :attr:`pieces`' elements starts and ends in the bytes ``data`` of a
        file this template matched [bytes]."""
        spans, at = [], 128
        for _shared, size, long, _key in self.pieces:
            start = at + size + (4 if long else 2)
            unpack = _LONG_LENGTH.unpack_from if long else _UNSIGNED_SHORT.unpack_from
            at = start + unpack(data, start - (4 if long else 2))[0]
            spans.append((start, at))
        return spans

    def tightened(self, other: bytes, data: bytes, values: dict) -> "_Template":
        """The template that :func:`_learn` makes of two files this template matched, the bytes
        ``other`` and ``data`` (wanted values ``values``), without walking them: each differing element
        whose value is alike in both joins the shared bytes around it. It keeps this template's
        ``derived`` (its files are among this one's) and this template as its ``wider``."""
        pieces, joined, at = [], b"", 128
        for (shared, _size, long, key), (start, end), (other_start, other_end) in zip(
            self.pieces, self.spans(data), self.spans(other), strict=True
        ):
            if data[start:end] == other[other_start:other_end]:
                joined += data[at:end]  # the shared bytes, the value's length and the value
            else:
                joined += shared
                pieces.append((joined, len(joined), long, key))
                joined = b""
            at = end
        tight = _Template(tuple(pieces), joined + self.tail, values, self.length)
        tight.derived, tight.wider = self.derived, self
        return tight


#: The template of the series read last (see :class:`_Template`), and the bytes and element starts
#: (:attr:`_Reader.starts`) of the last file walked in full. Each is replaced whole, never changed, so
#: that threads reading headers at once each see one or the other.
_template: _Template | None = None
_walked: tuple[bytes, list[int]] | None = None


def _learn(data: bytes, starts: list[int], values: dict, length: int) -> None:
    """Make the template (:class:`_Template`) of the file walked in full, whose first bytes are ``data``,
    elements start at ``starts`` and wanted values are ``values``, and the last file walked in full,
    where their elements are alike in number, tags and VRs, and none differs that the template cannot
    skip: the transfer syntax, a sequence of undefined length (the walk goes through its items).

    Two files of two series make a template too, which matches the files of both series where a folder
    mixes them, and the next study's files in a cohort: its ``first`` is the second file's series and
    bytes (see :func:`_tighten`)."""
    global _template, _walked
    series = values.get("SeriesInstanceUID")
    walked, _walked = _walked, (data, starts, series)
    if walked is None or len(walked[1]) != len(starts):
        return
    last_data, last_starts, last_series = walked
    pieces, at = [], 128
    for start, end, last_start, last_end in zip(
        starts, starts[1:], last_starts, last_starts[1:], strict=False
    ):
        if data[start:end] == last_data[last_start:last_end]:
            continue
        if data[start : start + 6] != last_data[last_start : last_start + 6]:
            return  # another tag or VR
        key, vr, _length = _SHORT_HEADER.unpack_from(data, start)
        long = vr in _LONG_VRS
        if key == _TRANSFER_SYNTAX or (
            long
            and _UNDEFINED
            in (
                _LONG_LENGTH.unpack_from(data, start + 8)[0],
                _LONG_LENGTH.unpack_from(last_data, last_start + 8)[0],
            )
        ):
            return
        shared = data[at : start + (8 if long else 6)]
        pieces.append((shared, len(shared), long, key))
        at = end
    first = None if series == last_series else (series, data)
    _template = _Template(tuple(pieces), data[at : starts[-1] + 12], values, length, first)


def _tighten(template: _Template, values: _Tags, data: bytes) -> None:
    """After ``template``, made of two series' files, matched a file (its bytes ``data`` and values
    ``values``): where the file before of its series that it matched (``template.first``) is of the same
    series, make the template of those two (:meth:`_Template.tightened`) the one in use, else remember this
    file as the first of its series.

    The template of two series differs in their UIDs and patient IDs as well, which each file it
    matches then reads (2 µs a file of a demo CT); that of one series' files only in the instance's
    UID and position.
    """
    global _template
    series, first = values.get("SeriesInstanceUID"), template.first
    if first[0] == series:
        _template = template.tightened(first[1], data, values)
    else:
        template.first = (series, data)


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
