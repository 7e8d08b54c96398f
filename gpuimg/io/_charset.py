"""A DICOM file's Specific Character Set (0008,0005), checked before pydicom reads the file.

pydicom converts the character set inside ``dcmread`` (and again whenever it decodes a text value), and
quotes a value it does not know in its warning and in its ``pydicom`` logger's record ("Unknown
encoding '...'"). A damaged value length there takes in the elements that follow, the patient's name
among them, so the warning would carry the name to a console, a log or a cohort's run.log. The value
is therefore read here, from the file's bytes, before pydicom reads the file, and a file whose value
pydicom would quote is refused, naming the file and not the value (:func:`_check_character_set`).

A value is let through where each of its items is one pydicom takes without a word (a defined term of
the standard, in ``pydicom.charset.python_encoding``, or a Python codec name), or where it has the
shape of a defined term (``ISO_IR 999``, ``ISO IR 100``, ``ISO-2022-IR 87``), which pydicom corrects
or replaces by its default with its own warning: such an item holds only "ISO", "IR", digits and
separators, never a name. Anything else may be a name or hold one. Such a file is refused, as gpuimg
refuses a header whose other text values ran into the next elements (``_tags._damaged_number``), rather
than handed to pydicom with the value's bytes rewritten: a rewrite would have to follow pydicom into
deflated data and into its deferred reads, which open the file again by its name. The cohort still
reads the patient's identity of a refused file, from its bytes (:func:`_raw_values`), to scrub it from
its messages.

Only the dataset's own (0008,0005) is checked, not one within a sequence item, which pydicom converts
when it reads the item. A plain file that gpuimg's quick reader takes (:mod:`gpuimg.io._quick_reader`) is
never read by pydicom, so nothing quotes its (0008,0005), and it is read whatever that holds.
"""

import codecs
import io
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom import config
from pydicom.charset import python_encoding
from pydicom.values import converters

from gpuimg.errors import DicomError
from gpuimg.io._tags import _ran_on

_CHARACTER_SET = 0x00080005
_PIXEL_DATA = 0x7FE00010
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
#: VRs whose explicit element header has two reserved bytes and a 4-byte length.
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
#: An item of a character set that has the shape of a defined term: no name fits it.
_TERM_SHAPED = re.compile(r"ISO[ _-]?(?:2022[ _-]?)?IR[ _-]?\d{1,4}", re.IGNORECASE)
#: The most bytes of a deflated dataset inflated to find the values read here (they lie near its start).
_INFLATED = 1 << 20


class _CharacterSetError(DicomError):
    """A file refused for its Specific Character Set, which pydicom would quote.

    ``reason`` is the message without the file, for the messages that name the file themselves
    (:func:`gpuimg.io._header._cause`).
    """

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}.")
        self.reason = reason


class _Unknown(Exception):
    """The walk cannot follow the file; pydicom reads it as before."""


def _check_character_set(file: BinaryIO, path: Path, force: bool) -> None:
    """Refuse ``path`` (open as ``file``, at its start) where pydicom would quote its Specific Character
    Set in a warning; ``file`` is left at its start.

    Parameters
    ----------
    file : binary file
        The file, positioned at its start.
    path : Path
        Its path, for the message.
    force : bool
        ``force`` as pydicom will read the file (a dataset without preamble and meta header).

    Raises
    ------
    DicomError
        If the dataset's own (0008,0005) runs into the next elements (control characters: their tags
        and lengths), or holds an item that is neither a defined term, a Python codec name nor shaped
        like a defined term (see the module's docstring). The value is not shown.
    """
    values = _raw_values(file, force, frozenset({_CHARACTER_SET}))
    file.seek(0)
    if _CHARACTER_SET not in values:
        return
    if values[_CHARACTER_SET] is None:  # pydicom would quote what the file holds of it
        raise _CharacterSetError(
            path,
            "it ends within its Specific Character Set (0008,0005): the file is cut short; export it again",
        )
    text = values[_CHARACTER_SET].decode("latin-1")
    if _ran_on(text):
        raise _CharacterSetError(
            path,
            "its Specific Character Set (0008,0005) runs into the next elements and is not shown (they may "
            "hold the patient's name): the header is damaged; export the file again",
        )
    if not all(_harmless(item.strip(" \0")) for item in text.split("\\")):
        raise _CharacterSetError(
            path,
            "its Specific Character Set (0008,0005) is neither a defined term of the DICOM standard nor a "
            "character set pydicom knows, and is not shown (it may hold the patient's name): set it to the "
            "term of the character set the file's text is written in (e.g. ISO_IR 100 for Latin-1, "
            'ISO_IR 192 for UTF-8: dcmodify -m "(0008,0005)=ISO_IR 100"), or export the file again',
        )


def _harmless(item: str) -> bool:
    """Whether pydicom takes ``item`` of a character set without a word, or its warning would quote
    no more than a defined term's shape."""
    if item in python_encoding or _TERM_SHAPED.fullmatch(item):
        return True
    try:
        codecs.lookup(item)
    except (LookupError, ValueError):
        return False
    return True


def _raw_values(file: BinaryIO, force: bool, tags: frozenset[int]) -> dict[int, bytes | None]:
    """Tag -> value of each of the dataset's own elements ``tags`` (as numbers) that the file holds,
    as its bytes give it, read from ``file`` at its start; None for a value the file ends within.

    The walk reads the element headers as pydicom's ``read_partial`` and ``data_element_generator`` do,
    without converting any value, over the whole dataset up to Pixel Data: pydicom keeps an element
    wherever it lies (out of tag order too), and the last of two with one tag. A value of undefined
    length is left out. Where it cannot follow the file, or the file ends within a value, it gives what
    it found up to there (pydicom then reads the file as before, and fails on it as before).
    """
    values: dict[int, bytes | None] = {}
    try:
        dataset, implicit, little = _dataset(file, force)
        while (found := _element(dataset, implicit, little))[0] < _PIXEL_DATA:
            tag, length, _ = found
            if length == _UNDEFINED:
                _skip_items(dataset, implicit, little)
            elif tag in tags:
                value = dataset.read(length)
                if len(value) < length:  # the file ends within it
                    values[tag] = None
                    raise _Unknown
                values[tag] = value
            else:
                dataset.seek(length, io.SEEK_CUR)
    except (_Unknown, struct.error, zlib.error, OSError, ValueError, RecursionError):
        pass
    return values


def _dataset(file: BinaryIO, force: bool) -> tuple[BinaryIO, bool, bool]:
    """The dataset of ``file`` (inflated, where deflated), at its first element, and whether it is
    implicit VR and little endian: past the preamble, the file meta (group 0002) and the command set
    (group 0000), its encoding from the transfer syntax or, without one, from its first element (as
    pydicom's ``read_partial`` finds them)."""
    if file.read(132)[128:] == b"DICM":
        file.seek(132)
    elif force:
        file.seek(0)
    else:
        raise _Unknown  # pydicom refuses the file
    syntax = None
    while (found := _element(file, False, True))[0] >> 16 == 0x0002:
        tag, length, _ = found
        value = file.read(length)
        if tag == 0x00020010:
            syntax = value.decode("latin-1").rstrip("\0 ")
    file.seek(-found[2], io.SEEK_CUR)
    while (found := _element(file, True, True))[0] >> 16 == 0x0000:
        file.seek(found[1], io.SEEK_CUR)
    file.seek(-found[2], io.SEEK_CUR)
    if syntax is None:
        group, _, vr = struct.unpack("<HH2s", file.read(6))
        file.seek(-6, io.SEEK_CUR)
        explicit = vr.decode("latin-1") in converters
        return file, not explicit, not explicit or group < 1024
    implicit, little = False, True  # explicit VR little endian, and every encapsulated syntax
    if syntax == pydicom.uid.ImplicitVRLittleEndian:
        implicit = True
    elif syntax == pydicom.uid.ExplicitVRBigEndian:
        little = False
    elif syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        file = io.BytesIO(zlib.decompressobj(-zlib.MAX_WBITS).decompress(file.read(), _INFLATED))
    elif syntax in pydicom.uid.PrivateTransferSyntaxes:
        private = pydicom.uid.PrivateTransferSyntaxes[pydicom.uid.PrivateTransferSyntaxes.index(syntax)]
        implicit, little = private.is_implicit_VR, private.is_little_endian
    return file, _found_implicit(file, implicit), little


def _found_implicit(dataset: BinaryIO, implicit: bool) -> bool:
    """Whether ``dataset`` (at its first element) is implicit VR, as pydicom's ``_is_implicit_vr``
    decides for a top-level dataset: by its first element's VR bytes, two capitals or not, whatever the
    transfer syntax says (pydicom warns "Expected implicit VR, but found explicit VR" and reads on)."""
    start = dataset.tell()
    vr = dataset.read(6)[4:]
    dataset.seek(start)
    if len(vr) < 2:
        return implicit
    return not (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B)


def _element(file: BinaryIO, implicit: bool, little: bool) -> tuple[int, int, int]:
    """Tag, value length and header size [bytes] of the element at the position of ``file``, moving
    past its header; an explicit VR that is not two capitals is read as implicit, as pydicom does
    (``config.assume_implicit_vr_switch``)."""
    header = file.read(8)
    if len(header) < 8:
        raise _Unknown
    order = "<" if little else ">"
    group, number = struct.unpack(order + "HH", header[:4])
    vr = header[4:6]
    capitals = b"AA" <= vr <= b"ZZ"
    if implicit or (not capitals and config.assume_implicit_vr_switch):
        return group << 16 | number, struct.unpack(order + "I", header[4:])[0], 8
    if vr in _LONG_VRS:
        return group << 16 | number, struct.unpack(order + "I", file.read(4))[0], 12
    return group << 16 | number, struct.unpack(order + "H", header[6:])[0], 8


def _skip_items(file: BinaryIO, implicit: bool, little: bool) -> None:
    """Move past the items of an element of undefined length and its sequence delimiter."""
    while True:
        tag, length, _ = _element(file, True, little)  # an item's header is a tag and a 4-byte length
        if tag == _SEQUENCE_END:
            return
        if tag != _ITEM:
            raise _Unknown
        if length != _UNDEFINED:
            file.seek(length, io.SEEK_CUR)
            continue
        while (found := _element(file, implicit, little))[0] != _ITEM_END:
            if found[1] == _UNDEFINED:
                _skip_items(file, implicit, little)
            else:
                file.seek(found[1], io.SEEK_CUR)
