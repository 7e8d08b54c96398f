"""A quick reader of the few header tags gpuimg needs, for plain explicit-VR little-endian files.

pydicom builds a full dataset for every file and converts values on access, which costs about a
millisecond a file; a series or a cohort of thousands of files pays it under the GIL. The files
scanners and PACS write most (Part 10, explicit VR little endian, uncompressed) are read here by one
walk over their element headers, up to Pixel Data, converting only the values listed in ``_WANTED``.
Anything else (another transfer syntax, no preamble, functional groups, non-ASCII text, a value that
is not a plain number, an element that runs past the end of the file) returns None, and pydicom
reads the file as before, with all its checks and messages.
"""

import os
import re
import struct
from pathlib import Path

import pydicom

#: Tag -> (keyword, the VR the standard gives it) of every value the headers are read for.
_WANTED = {
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080060: ("Modality", "CS"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00100020: ("PatientID", "LO"),
    0x00180050: ("SliceThickness", "DS"),
    0x00180088: ("SpacingBetweenSlices", "DS"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200010: ("StudyID", "SH"),
    0x00200032: ("ImagePositionPatient", "DS"),
    0x00200037: ("ImageOrientationPatient", "DS"),
    0x00200052: ("FrameOfReferenceUID", "UI"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280004: ("PhotometricInterpretation", "CS"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280030: ("PixelSpacing", "DS"),
    0x00280100: ("BitsAllocated", "US"),
    0x00280101: ("BitsStored", "US"),
    0x00280103: ("PixelRepresentation", "US"),
    0x00281050: ("WindowCenter", "DS"),
    0x00281051: ("WindowWidth", "DS"),
    0x00281052: ("RescaleIntercept", "DS"),
    0x00281053: ("RescaleSlope", "DS"),
    0x00281055: ("WindowCenterWidthExplanation", "LO"),
    0x3004000C: ("GridFrameOffsetVector", "DS"),
    0x3004000E: ("DoseGridScaling", "DS"),
}
#: Shared and per-frame functional groups: an enhanced multi-frame file, which pydicom reads.
_FUNCTIONAL_GROUPS = (0x52009229, 0x52009230)
_TRANSFER_SYNTAX = 0x00020010
_PIXEL_DATA = 0x7FE00010
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
#: VRs whose element header has two reserved bytes and a 4-byte length.
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_SHORT_HEADER = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")
_TAG = struct.Struct("<HHI")
_UNSIGNED_SHORT = struct.Struct("<H")
#: Plain decimal and integer strings; anything else (nan, hex, blanks inside) goes to pydicom.
_DECIMAL = re.compile(rb" *[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)? *")
_INTEGER = re.compile(rb" *[-+]?\d+ *")
#: First read [bytes]; a longer header is read in growing steps.
_FIRST_READ = 16384


class _Tags(dict):
    """Keyword -> value of the wanted tags of one file, used where a pydicom dataset is otherwise.

    Values are converted as pydicom converts them: ``str`` for text and UIDs (trailing spaces and
    NULs removed), ``float``/``int`` for DS/IS, ``int`` for US, and a list where the value has several.
    """

    def __init__(self, values: dict, transfer_syntax: pydicom.uid.UID):
        super().__init__(values)
        self.file_meta = {"TransferSyntaxUID": transfer_syntax}

    def __getattr__(self, keyword: str):
        try:
            return self[keyword]
        except KeyError:
            raise AttributeError(keyword) from None


class _Unread(Exception):
    """The file is not one this reader takes; pydicom reads it."""


def _read_tags(path: Path) -> tuple[_Tags, tuple[int, int], int] | None:
    """The wanted tags of an uncompressed explicit-VR little-endian Part 10 file, and where its pixels lie.

    Returns
    -------
    tags, (offset, length), size or None
        The tags; the offset [bytes from the start of the file] of the Pixel Data value and its length
        [bytes]: the length its element declares, or what the file holds after the offset where that
        is less (a truncated file); the file's size [bytes]. None for any file this reader does not
        take (see the module's docstring): read it with pydicom.
    """
    try:
        with open(path, "rb", buffering=0) as file:
            reader = _Reader(file, os.fstat(file.fileno()).st_size)
            if reader.bytes(128, 4) != b"DICM":
                return None
            syntax = reader.meta()
            if syntax != pydicom.uid.ExplicitVRLittleEndian:
                return None
            values, (offset, length) = reader.dataset()
    except (_Unread, OSError):
        return None
    if "Rows" not in values or "SOPInstanceUID" not in values:
        return None
    return _Tags(values, syntax), (offset, min(length, reader.size - offset)), reader.size


class _Reader:
    """Walks the element headers of one file, reading it in growing blocks from the start."""

    def __init__(self, file, size: int):
        self.file, self.size, self.data, self.at = file, size, b"", 0

    def bytes(self, start: int, length: int) -> bytes:
        """``length`` bytes from ``start``; _Unread where the file ends first."""
        end = start + length
        if end > len(self.data):
            if end > self.size:
                raise _Unread
            self.data += self.file.read(max(end, 2 * len(self.data), _FIRST_READ) - len(self.data))
            if end > len(self.data):
                raise _Unread
        return self.data[start:end]

    def element(self) -> tuple[int, bytes, int, int]:
        """Tag, VR, value offset and value length of the element at ``self.at``, moving past its header."""
        group, number, vr, length = _SHORT_HEADER.unpack(self.bytes(self.at, 8))
        self.at += 8
        if vr in _LONG_VRS:
            (length,) = _LONG_LENGTH.unpack(self.bytes(self.at, 4))
            self.at += 4
        elif not vr.isalpha() or not vr.isupper():
            raise _Unread
        return group << 16 | number, vr, self.at, length

    def meta(self) -> pydicom.uid.UID | None:
        """Walk the file meta group (0002); the transfer syntax it names."""
        self.at, syntax = 132, None
        while self.bytes(self.at, 2) == b"\x02\x00":
            tag, _vr, start, length = self.element()
            if length == _UNDEFINED:
                raise _Unread
            if tag == _TRANSFER_SYNTAX:
                syntax = pydicom.uid.UID(self.bytes(start, length).decode("ascii").rstrip("\0 "))
            self.at = start + length
        return syntax

    def dataset(self) -> tuple[dict, tuple[int, int]]:
        """The wanted values of the main dataset, and the Pixel Data value's offset and length."""
        values = {}
        while True:
            tag, vr, start, length = self.element()
            if tag == _PIXEL_DATA:
                if length == _UNDEFINED or vr not in (b"OB", b"OW"):
                    raise _Unread
                return values, (start, length)
            if tag in _FUNCTIONAL_GROUPS:
                raise _Unread
            if length == _UNDEFINED:
                if vr != b"SQ":
                    raise _Unread
                self.skip_sequence()
                continue
            wanted = _WANTED.get(tag)
            if wanted is not None:
                keyword, standard_vr = wanted
                if vr.decode() != standard_vr:
                    raise _Unread
                values[keyword] = _value(self.bytes(start, length), standard_vr)
            self.at = start + length

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


def _value(raw: bytes, vr: str):
    """One element's value as pydicom gives it; _Unread for anything but plain ASCII numbers and text."""
    if vr == "US":
        if len(raw) != 2:
            raise _Unread
        return _UNSIGNED_SHORT.unpack(raw)[0]
    if not raw or not raw.isascii():
        if not raw and vr in ("CS", "LO", "SH", "UI"):
            return ""
        raise _Unread
    if vr in ("DS", "IS"):
        pattern, kind = (_DECIMAL, float) if vr == "DS" else (_INTEGER, int)
        parts = raw.rstrip(b" \0").split(b"\\")
        if not all(pattern.fullmatch(part) for part in parts):
            raise _Unread
        numbers = [kind(part) for part in parts]
        return numbers[0] if len(numbers) == 1 else numbers
    if vr in ("LO", "SH"):
        parts = [part.rstrip("\0 ") for part in raw.decode("ascii").split("\\")]
    else:  # CS, UI
        parts = raw.decode("ascii").rstrip(" \0").split("\\")
    return parts[0] if len(parts) == 1 else parts
