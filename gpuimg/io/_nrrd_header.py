"""The header of an NRRD file as pynrrd's ``read_header`` reads it, parsed here where every line is plain
ASCII (the common case), and the data files a detached header lists after ``data file: LIST``.
"""

import re
from collections import OrderedDict

import nrrd
import numpy as np

#: pynrrd's types of the fields the NRRD format defines (its _get_field_type took 2 of a header's 16 us),
#: but 'space directions', whose type pynrrd's user may change (``nrrd.SPACE_DIRECTIONS_TYPE``).
_FIELD_TYPES = {
    field: nrrd.reader._get_field_type(field, None)
    for field in (
        "dimension", "lineskip", "line skip", "byteskip", "byte skip", "space dimension", "min", "max",
        "oldmin", "old min", "oldmax", "old max", "endian", "encoding", "content", "sample units",
        "datafile", "data file", "space", "type", "sizes", "spacings", "thicknesses", "axismins",
        "axis mins", "axismaxs", "axis maxs", "kinds", "centerings", "labels", "units", "space units",
        "space origin", "measurement frame",
    )
}  # fmt: skip
#: A ``data file: LIST`` field, whose data files are named on the header's last lines.
_LIST_FIELD = re.compile(rb"data ?file\s*:=?\s*LIST(\s|$)")


def _read_header(file) -> tuple[dict, list[str]]:
    """pynrrd's reading of the header of ``file`` (:func:`_plain_header`'s where pynrrd's is the same), and
    the data files listed after ``data file: LIST``.

    The lines after a ``data file: LIST`` field name the data files, one a line, to the end of the
    (detached) header; pynrrd would take them for fields. Otherwise the file is left at the voxels.
    """
    lines = []
    for line in file:
        if not line.strip():
            lines.append(line)
            break
        lines.append(line)
        if b"LIST" in line and _LIST_FIELD.match(line):  # the match alone took 5 of a header's 23 us
            listed = [name.decode().strip() for name in file if name.strip() and not name.startswith(b"#")]
            return nrrd.read_header(lines), listed
    header = _plain_header(lines)
    if header is not None:
        file.seek(sum(map(len, lines)))  # after the blank line, where pynrrd leaves it
        return header, []
    file.seek(0)
    return nrrd.read_header(file), []


def _plain_header(lines: list[bytes]) -> dict | None:
    """What pynrrd's ``read_header`` makes of a header's ``lines`` (the magic line to the blank line that
    ends it, or the file's end), read here where every line is ASCII and no field is given twice; None
    where pynrrd is to read it (and raise its own errors): any value this does not parse as pynrrd does.

    pynrrd's loop (a regular expression, a decoding, an OrderedDict lookup a line) and its parse of
    ``space directions`` (NumPy's unique and vstack) took 27 us of a demo mask's 160; this, about 5
    (most lines found in :data:`_PARSED`). The values are pynrrd's own parsers' (its field types), but
    for a matrix of vectors without ``none``, whose rows are parsed as its parse_vector parses them,
    stacked as its vstack does.
    """
    if not lines or not b"".join(lines).isascii():
        return None
    header = OrderedDict()
    try:
        nrrd.reader._validate_magic_line(lines[0].decode("ascii"))
        for k, line in enumerate(lines[1:], 1):
            parsed = _PARSED.get(line)  # a field's line parsed before, as it is in the file
            if parsed is None or (
                parsed[0] == "space directions" and parsed[1] != nrrd.SPACE_DIRECTIONS_TYPE
            ):
                text = line.decode("ascii").rstrip()  # as pynrrd: str whitespace, \x1c-\x1f too
                if text.startswith("#"):
                    continue
                if not text:
                    if k != len(lines) - 1:  # pynrrd's header ends before the one read here
                        return None
                    break
                parsed = _parsed_line(line, text)
                if parsed is None:
                    return None
            field, _, value = parsed
            if field in header:
                return None
            # a new value each time, as pynrrd parses one: the cache's own is never handed out
            header[field] = value.copy() if type(value) in (np.ndarray, list) else value
    except Exception:  # pynrrd refuses it: let it say why
        return None
    return header


#: Lines of a header (as in the file) that :func:`_parsed_line` parsed, as (field, pynrrd's type of it,
#: value): a cohort's masks repeat most of their lines (type, encoding, kinds, often sizes and
#: space directions), whose parse took 9 of a demo mask's 14 us. Bounded: emptied when full.
_PARSED: dict[bytes, tuple[str, str, object]] = {}
_PARSED_MOST = 1024
#: The fields whose lines :data:`_PARSED` keeps (of at most :data:`_PARSED_LINE` bytes): the format's
#: own, which repeat from file to file, not its free text (content, labels, units, data file names), which
#: may name a patient and is not kept past its file's read.
_PARSED_FIELDS = frozenset(_FIELD_TYPES).union({"space directions"}) - {
    "content", "labels", "units", "sample units", "datafile", "data file",
}  # fmt: skip
_PARSED_LINE = 256


def _parsed_line(line: bytes, text: str) -> tuple[str, str, object] | None:
    """``(field, type, value)`` of a header's field ``line`` (``text``: decoded and right-stripped) as
    pynrrd parses it, kept in :data:`_PARSED` where the field is one of :data:`_PARSED_FIELDS` (not one the
    format does not define: pynrrd warns of those each time) and its value a string, a number, a list of
    strings or an array of numbers; None where its line has no colon (pynrrd is to say why). A value
    pynrrd refuses raises its error."""
    field, colon, value = text.partition(":")  # pynrrd splits at the first ':' or ':='
    if not colon:
        return None
    field, value = field.strip(), value.removeprefix("=").strip()
    kind = _FIELD_TYPES.get(field) or nrrd.reader._get_field_type(field, None)
    if kind == "double matrix" and "none" not in value.split():
        parsed = field, kind, _matrix(value)
    else:
        parsed = field, kind, nrrd.reader._parse_field_value(value, kind)
    value = parsed[2]
    plain = type(value) in (str, int, float) or (type(value) is np.ndarray and value.dtype.kind in "iuf")
    if (field in _PARSED_FIELDS and len(line) <= _PARSED_LINE) and (
        plain or (type(value) is list and all(type(v) is str for v in value))
    ):
        if len(_PARSED) >= _PARSED_MOST:
            _PARSED.clear()
        _PARSED[line] = parsed
    return parsed


def _matrix(value: str) -> np.ndarray:
    """pynrrd's parse_optional_matrix of ``value``, rows of vectors ``(x,y,z)`` without ``none``."""
    rows = []
    for vector in value.split():
        if vector[0] != "(" or vector[-1] != ")":
            raise ValueError("not a vector")
        rows.append([float(x) for x in vector[1:-1].split(",")])
    if not rows or len({len(row) for row in rows}) != 1:
        raise ValueError("rows of several lengths")
    return np.array(rows)
