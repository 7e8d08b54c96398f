"""The quick reader's walk over a file's element headers, and the templates of a series' files.

:func:`_read_tags` opens a file once, reads its first block and walks its element headers up to Pixel
Data, converting only the wanted values (:mod:`gpuimg.io._tags`); a file it does not take returns None,
and pydicom reads it. The files of one series repeat their elements, most of them byte for byte: once
two files have been walked in full, the next ones are compared with what they share
(:class:`_Template`), and only the values that differ among them are read.
"""

import os
import struct
from pathlib import Path

import pydicom

from gpuimg.io._tags import (
    _ITEM,
    _LAST,
    _LONG_LENGTH,
    _LONG_VRS,
    _PIXEL_DATA,
    _SEQUENCE_END,
    _SHORT_HEADER,
    _SHORT_VRS,
    _STOPS,
    _TAG,
    _TRANSFER_SYNTAX,
    _UNDEFINED,
    _UNSIGNED_SHORT,
    _converted,
    _element,
    _Tags,
    _Unread,
)

#: First read [bytes]: the header of most files fits (a plain CT slice's is about 1 KB); a longer one is
#: read on in doubling steps.
_FIRST_READ = 4096
#: A file of at most this many bytes [bytes] is read whole by the first read, and its bytes are kept with
#: its tags (:attr:`_Tags.data`), from which read_dicom takes its pixels without opening it again (a
#: demo CT slice of 48 x 48 pixels is 5.7 KB). A SeriesInfo of such files holds them: at most this much
#: memory a file, its voxels and its header.
_WHOLE_FILE = 16384
#: The header of the file meta group's length element (0002,0000), UL of 4 bytes, as it lies in the file
#: after 'DICM': a template skips its value (see :attr:`_Template.head`), as a scanner's files of one
#: series hold their own SOP instance UID in the group (MediaStorageSOPInstanceUID), whose padded
#: length, and so the group's, varies from file to file.
_GROUP_LENGTH = b"\x02\x00\x00\x00UL\x04\x00"
#: os.open flags: read only, and no newline translation where the platform has it.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


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
    head : bytes
        'DICM' and the header of the file meta group's length element (:data:`_GROUP_LENGTH`), whose
        value a matched file may hold any of, where the template's files began with it, and the pieces
        start after that value (:attr:`start`); else empty, and they start at 'DICM'.
    start : int
        Where the first piece starts [bytes from the start of the file].
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
        "head",
        "length",
        "lists",
        "pieces",
        "start",
        "tail",
        "tail_size",
        "values",
        "varying",
        "wider",
    )

    def __init__(
        self,
        pieces: tuple,
        tail: bytes,
        values: dict,
        length: int,
        first: tuple | None = None,
        head: bytes = b"",
    ):
        self.first, self.wider = first, None
        self.head, self.start = head, 128 + len(head) + 4 if head else 128
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
        data, at, last_values = reader.data, self.start, _LAST
        if not data.startswith(self.head, 128):  # the first read holds it (at least 132 bytes read)
            return None
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
        spans, at = [], self.start
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
        pieces, joined, at = [], b"", self.start
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
        tight = _Template(tuple(pieces), joined + self.tail, values, self.length, head=self.head)
        tight.derived, tight.wider = self.derived, self
        return tight


#: The template of the series read last (see :class:`_Template`), and the bytes, element starts
#: (:attr:`_Reader.starts`) and series UID of the last file walked in full. Each is replaced whole, so
#: that threads reading headers at once each see one or the other; a template's ``first`` alone changes
#: (:func:`_tighten`), and any template a thread uses matches only files holding its bytes.
_template: _Template | None = None
_walked: tuple[bytes, list[int], str | None] | None = None


def _learn(data: bytes, starts: list[int], values: dict, length: int) -> None:
    """Make the template (:class:`_Template`) of the file walked in full, whose first bytes are ``data``,
    elements start at ``starts`` and wanted values are ``values``, and the last file walked in full,
    where their elements are alike in number, tags and VRs, and none differs that the template cannot
    skip: the transfer syntax, a sequence of undefined length (the walk goes through its items). The file
    meta group's length is skipped where both begin with it (:attr:`_Template.head`).

    Two files of two series make a template too, which matches the files of both series where a folder
    mixes them, and the next study's files in a cohort: its ``first`` is the second file's series and
    bytes (see :func:`_tighten`)."""
    global _template, _walked
    series = values.get("SeriesInstanceUID")
    walked, _walked = _walked, (data, starts, series)
    if walked is None or len(walked[1]) != len(starts):
        return
    last_data, last_starts, last_series = walked
    pieces, at, head = [], 128, b""
    if data.startswith(_GROUP_LENGTH, 132) and last_data.startswith(_GROUP_LENGTH, 132):
        head, at = data[128:140], 144  # 'DICM' and the element's header; its value is any file's own
        starts, last_starts = starts[1:], last_starts[1:]
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
    _template = _Template(tuple(pieces), data[at : starts[-1] + 12], values, length, first, head)


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
