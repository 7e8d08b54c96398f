"""Reading NRRD files (.nrrd, .nhdr) for :func:`gpuimg.io.read_image`: the voxels (i, j, k), attached
or in one or several data files, gzip- and bzip2-compressed voxels decompressed once and checked,
raw and hex-encoded ones read here (pynrrd reads neither several files nor hex, nor raw voxels
followed by other bytes, nor compressed ones after a byte skip), and the LPS geometry from ``space
directions`` and ``space origin`` in a named space (or, without a space, from the per-axis fields),
the header checked before any voxel is read.
"""

import bz2
import math
import os
import re
import zlib
from pathlib import Path

import nrrd
import numpy as np

from gpuimg._memory import check_bytes
from gpuimg.errors import GeometryError, ImageFileError
from gpuimg.io._image_header import _check_claims, _check_spacing, _squared
from gpuimg.io._nrrd_header import _read_header

#: Sign flips taking a named NRRD space to LPS.
_NRRD_SPACES = {
    "left-posterior-superior": (1, 1, 1),
    "right-anterior-superior": (-1, -1, 1),
    "left-anterior-superior": (1, -1, 1),
}
_NRRD_ABBREVIATIONS = {"LPS": "left-posterior-superior", "RAS": "right-anterior-superior"}
_NRRD_ABBREVIATIONS["LAS"] = "left-anterior-superior"
#: The compressed encodings read by :func:`_decompressed_voxels`: a new decompressor for each.
_DECOMPRESSORS = {
    "gzip": lambda: zlib.decompressobj(zlib.MAX_WBITS | 16),  # gzip framing
    "gz": lambda: zlib.decompressobj(zlib.MAX_WBITS | 16),
    "bzip2": bz2.BZ2Decompressor,
    "bz2": bz2.BZ2Decompressor,
}
_ENCODED = {"gzip": "gzip", "gz": "gzip", "bzip2": "bzip2", "bz2": "bzip2"}
#: Millimetres in a length unit of NRRD's 'space units' or 'units' (lower case; none or unknown, "" or
#: "???": mm, as in NIfTI).
_NRRD_MM = {"": 1.0, "???": 1.0, "mm": 1.0, "millimeter": 1.0, "millimeters": 1.0, "cm": 10.0, "m": 1e3}
_NRRD_MM.update({"meter": 1e3, "meters": 1e3, "um": 1e-3, "\u00b5m": 1e-3, "\u03bcm": 1e-3, "micron": 1e-3})
_NRRD_MM.update({"microns": 1e-3, "micrometer": 1e-3, "micrometers": 1e-3})
#: Compressed bytes decompressed at a time: at most 1032 times as many come out (deflate's limit).
_PIECE = 1 << 16


def _read_nrrd(
    path: Path, status: os.stat_result | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Voxels (i, j, k) and LPS geometry of a NRRD file; the header is checked before any voxel is read.
    ``status``: the file's :func:`~gpuimg.io._image_header._file_status`, where the caller has it."""
    with open(path, "rb") as file:
        header, listed = _read_header(file)  # leaves the file at the voxels, where they are attached
        sizes = _sizes(header)
        dtype = np.dtype(nrrd.reader._determine_datatype(header))
        data_file = header.get("data file") or header.get("datafile")
        encoding = header.get("encoding", "raw")
        pieces = None if data_file is None else _data_files(str(data_file), listed, sizes, path)
        if pieces is None or len(pieces) == 1:
            source = path if pieces is None else path.parent / pieces[0]
            _check_claims(source, sizes, dtype, dtype, encoding, status if pieces is None else None)
        else:
            for piece in pieces:
                _check_claims(path.parent / piece, (math.prod(sizes) // len(pieces),), dtype, dtype, encoding)
            check_bytes(math.prod(sizes) * 2 * dtype.itemsize, f"{path}: {sizes} voxels of {dtype}")
        lps = _nrrd_geometry(header, len(sizes), path)
        if data_file is None and _compressed(header):
            data = _decompressed_voxels(file, header, math.prod(sizes), dtype, path).reshape(sizes, order="F")
        elif pieces is not None:
            data = _read_pieces(header, pieces, sizes, path)
        elif encoding == "hex":
            data = _hex_voxels(file, header, math.prod(sizes), dtype, path).reshape(sizes, order="F")
        elif encoding == "raw":
            data = _raw_voxels(file, header, math.prod(sizes), dtype, path).reshape(sizes, order="F")
        else:
            data = _pynrrd_voxels(file, header, path)  # Fortran order: axes (i, j, k) = (x, y, z)
    # A non-spatial axis ("none" in space directions) of one entry, as a leading list axis of one
    # component ("kinds: list domain domain domain"), is not an axis of the volume (as SimpleITK reads it).
    if 1 not in data.shape:  # no axis of one entry, none to drop (finding the 'none' rows took 2 us)
        return data, lps
    directions = header.get("space directions")
    if directions is not None and len(directions) == data.ndim:
        single = [k for k, none in enumerate(_none_rows(directions)) if none]
        data = data.squeeze(axis=tuple(k for k in single if data.shape[k] == 1))
    elif directions is None:
        data = data.squeeze(axis=tuple(_single_range_axes(header, data.shape)))
    return data, lps


def _sizes(header: dict) -> tuple[int, ...]:
    """The header's ``sizes`` as Python ints (pynrrd's int array through its list: a third of the time)."""
    sizes = header.get("sizes", ())
    if isinstance(sizes, np.ndarray) and sizes.ndim == 1 and sizes.dtype.kind in "iu":
        return tuple(sizes.tolist())
    return tuple(int(n) for n in np.atleast_1d(sizes))


def _data_files(field: str, listed: list[str], sizes: tuple[int, ...], path: Path) -> list[str]:
    """The names of the data files of a detached header's ``data file`` field, in order.

    One name; or a ``printf`` format with the first and last numbers and the step (``slice%03d.raw 1 40
    1``, the last number included); or ``LIST`` with the names on the header's last lines. Each file
    holds a piece of ``<subdim>`` dimensions (the field's last number; by default one fewer than the
    image has): one per entry of the slower axes, or, of the image's dimension, equal slabs of its last.
    """
    parts = field.split()
    pattern = re.fullmatch(r"(\S*%\S*)\s+([-+]?\d+)\s+([-+]?\d+)\s+([-+]?\d+)(?:\s+(\d+))?", field.strip())
    if parts and parts[0] == "LIST" and len(parts) <= 2:
        names, subdim = listed, parts[1] if len(parts) == 2 else None
    elif pattern:
        first, last, step = (int(pattern[k]) for k in (2, 3, 4))
        if step == 0 or (last - first) * step < 0:
            raise ImageFileError(
                f"{path}: 'data file: {field}' numbers its files from {first} to {last} by {step}, which "
                "reaches no file. The header is damaged; write the file again."
            )
        names, subdim = [pattern[1] % n for n in range(first, last + np.sign(step), step)], pattern[5]
    else:
        return [field]
    subdim = len(sizes) - 1 if subdim is None else int(subdim)
    if subdim < 1 or subdim > len(sizes):
        expected = None
    elif subdim < len(sizes):
        expected = math.prod(sizes[subdim:])
    else:
        expected = len(names) if names and sizes[-1] % len(names) == 0 else None
    if len(names) != expected:
        raise ImageFileError(
            f"{path}: 'data file: {field}' names {len(names)} data files of {subdim} dimensions, which do "
            f"not divide an image of sizes {' '.join(map(str, sizes))} into equal pieces. The header is "
            "damaged; write the file again."
        )
    return names


def _read_pieces(header: dict, pieces: list[str], sizes: tuple[int, ...], path: Path) -> np.ndarray:
    """The voxels (i, j, k) of a header whose data are in several files, each a piece of the volume in
    Fortran order (its encoding, byte skip and line skip apply to each file, as teem reads them)."""
    count = math.prod(sizes) // len(pieces)
    piece = {k: v for k, v in header.items() if k not in ("data file", "datafile")}
    piece.update(dimension=1, sizes=np.array([count]))
    dtype, data = np.dtype(nrrd.reader._determine_datatype(header)), []
    for name in pieces:
        if header.get("encoding") == "hex":
            with open(path.parent / name, "rb") as file:
                data.append(_hex_voxels(file, header, count, dtype, path.parent / name))
        elif _compressed(header):
            with open(path.parent / name, "rb") as file:
                data.append(_decompressed_voxels(file, header, count, dtype, path.parent / name))
        elif header.get("encoding") == "raw":
            with open(path.parent / name, "rb") as file:
                data.append(_raw_voxels(file, header, count, dtype, path.parent / name))
        else:
            with open(path.parent / name, "rb") as file:
                data.append(_pynrrd_voxels(file, piece, path.parent / name))
    return (data[0] if len(data) == 1 else np.concatenate(data)).reshape(sizes, order="F")


def _raw_voxels(file, header: dict, count: int, dtype: np.dtype, path: Path) -> np.ndarray:
    """``count`` raw voxels of ``dtype`` after the header's line skip and byte skip (-1: the file's last
    bytes), read into one array; bytes after them are left unread, as teem leaves them (pynrrd refused
    a file with any)."""
    _skip_lines(file, header, path)
    skip = int(header.get("byte skip", header.get("byteskip", 0)))
    data = np.empty(count, dtype)
    if skip == -1:
        file.seek(-data.nbytes, 2)  # from the end
    elif skip > 0:
        file.seek(skip, 1)
    view, done = memoryview(data).cast("B"), 0
    while done < data.nbytes and (read := file.readinto(view[done:])):
        done += read
    if done < data.nbytes:
        raise ImageFileError(
            f"{path}: its raw voxels end early ({done} of the {data.nbytes} bytes the header describes). "
            "The file is truncated; write it again."
        )
    return data


def _pynrrd_voxels(file, header: dict, path: Path) -> np.ndarray:
    """The voxels of another encoding (ascii), read by pynrrd from ``file`` after the line skip."""
    _skip_lines(file, header, path)
    skipped = ("line skip", "lineskip", "data file", "datafile")
    return nrrd.read_data({k: v for k, v in header.items() if k not in skipped}, file, str(path))


def _skip_lines(file, header: dict, path: Path) -> None:
    """Read past the header's line skip: lines of the file before its voxels, which must all be there
    (a damaged skip of 10⁹ lines would otherwise read on at the end of the file for minutes)."""
    lines = int(header.get("line skip", header.get("lineskip", 0)))
    for skipped in range(lines):
        if not file.readline():
            raise ImageFileError(
                f"{path}: its line skip of {lines} lines runs past the end of the file, which holds "
                f"{skipped} more lines. The header is damaged or the file truncated; write it again."
            )


def _hex_voxels(file, header: dict, count: int, dtype: np.dtype, path: Path) -> np.ndarray:
    """``count`` voxels of ``dtype`` in the NRRD format's hex encoding (two hexadecimal digits a byte,
    in the header's byte order; whitespace between them ignored), which pynrrd does not read."""
    if any(header.get(key, 0) for key in ("byte skip", "byteskip")):
        raise ImageFileError(
            f"{path}: a 'byte skip' with hex encoding, which the NRRD format does not define (it counts "
            "bytes of raw or decompressed data). The header is damaged; write the file again."
        )
    _skip_lines(file, header, path)
    digits = b"".join(file.read().split())
    expected = count * dtype.itemsize
    if len(digits) != 2 * expected or not re.fullmatch(rb"[0-9a-fA-F]*", digits):
        raise ImageFileError(
            f"{path}: its hex-encoded voxels are not {expected} bytes (as {2 * expected} hexadecimal "
            f"digits) as the header describes, but {len(digits)} characters"
            f"{'' if re.fullmatch(rb'[0-9a-fA-F]*', digits) else ', not all hexadecimal digits'}. The "
            "file is truncated or corrupted; write it again."
        )
    return np.frombuffer(bytes.fromhex(digits.decode("ascii")), dtype).copy()


def _compressed(header: dict) -> bool:
    """Whether the header's voxels are gzip- or bzip2-compressed (read by :func:`_decompressed_voxels`)."""
    return header.get("encoding") in _DECOMPRESSORS


def _decompressed_voxels(file, header: dict, count: int, dtype: np.dtype, path: Path) -> np.ndarray:
    """``count`` voxels of ``dtype`` compressed with the header's encoding (gzip or bzip2), attached to
    a NRRD header or in its data file, in the file's order.

    As teem (SimpleITK) reads them: the line skip counts lines of the file, before the stream; the byte
    skip counts decompressed bytes (-1: the voxels are the stream's last bytes). pynrrd skipped as many
    compressed bytes too, so a file with a byte skip was 'incorrect header check'. A stream of several
    members (files concatenated, bgzip, parallel compressors) is read on to its end, as gzip and teem
    read it; what follows the voxels is left unread. The stream is decompressed once, bounded by the
    header's size and checked (CRC and length) at its end.
    """
    _skip_lines(file, header, path)
    skip = int(header.get("byte skip", header.get("byteskip", 0)))
    expected = count * dtype.itemsize
    wanted = None if skip == -1 else skip + expected  # the decompressed bytes read; None: all
    new = _DECOMPRESSORS[header["encoding"]]
    stream, compressed, at, raw = new(), memoryview(file.read()), 0, bytearray()
    while at < len(compressed) and (wanted is None or len(raw) <= wanted):
        if stream.eof:  # the next member
            if wanted is not None and len(raw) >= wanted:
                break
            stream = new()
        # In pieces: a stream that decompresses far beyond the header's size stops after one of them.
        raw += stream.decompress(compressed[at : at + _PIECE])
        at += min(_PIECE, len(compressed) - at) - len(stream.unused_data if stream.eof else b"")
        if wanted is None and len(raw) > 2 * expected + _PIECE:
            del raw[: len(raw) - expected]  # only the last bytes are the voxels
    got = len(raw) if wanted is None else len(raw) - skip
    ran_on = wanted is not None and len(raw) > wanted
    if got < expected or ran_on or not stream.eof:  # not at its end: the stream is cut short
        if ran_on:
            amount = f"more than the {expected} bytes the header describes"
        elif got < expected:
            amount = f"{max(got, 0)} of the {expected} bytes the header describes"
        else:
            amount = f"the {expected} bytes the header describes, but not the stream's end and its checksum"
        encoded, ended = _ENCODED[header["encoding"]], "run on" if ran_on else "end early"
        raise ImageFileError(
            f"{path}: its {encoded}-compressed voxels {ended} ({amount}"
            f"{f', after a byte skip of {skip}' if skip > 0 else ''}). The file is truncated or corrupted; "
            "write it again."
        )
    # The bytearray's voxels are writable like every other read's; copied only where the stream held more
    # bytes (a byte skip), not to keep those: a mask's 73 KB copied twice (3 of its 160 us) now once.
    voxels = np.frombuffer(raw, dtype, count, len(raw) - expected if wanted is None else skip)
    return voxels if len(raw) == expected else voxels.copy()


def _nrrd_geometry(header: dict, ndim: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The LPS matrix (columns: steps along i, j, k [mm]) and origin of a NRRD header."""
    plain = _plain_geometry(header)
    if plain is not None:
        return plain
    if "space directions" not in header:
        sizes = _sizes(header)
        single = _single_range_axes(header, sizes)
        return _axis_geometry(header, [k for k in range(ndim) if k not in single][:3], path)
    space = str(header.get("space", "left-posterior-superior")).lower()
    space = _NRRD_ABBREVIATIONS.get(space.upper(), space)
    if space not in _NRRD_SPACES:
        raise GeometryError(
            f"{path}: NRRD space {header.get('space')!r} is not a patient space gpuimg knows; "
            "expected left-posterior-superior, right-anterior-superior or left-anterior-superior. Where "
            "its axes are the patient's left, posterior and superior (ITK reads any space so), write "
            "'space: left-posterior-superior' in its header; else resample it into patient space first."
        )
    signs = np.array(_NRRD_SPACES[space], dtype=float)
    directions = header["space directions"]
    none = _none_rows(directions)  # "none": a non-spatial axis
    rows = [np.asarray(r, dtype=float) for r, left_out in zip(directions, none, strict=True) if not left_out]
    origin = np.asarray(header["space origin"], dtype=float) if "space origin" in header else np.zeros(3)
    if "space" not in header and header.get("space dimension") == 2:
        # An unnamed 2D space, as SimpleITK writes a 2D image: its axes are x and y of the patient's
        # (LPS, as SimpleITK reads it), the image lies in the plane z = 0.
        rows = [np.append(r, 0.0) if r.shape == (2,) else r for r in rows]
        origin = np.append(origin, 0.0) if origin.shape == (2,) else origin
    if len(rows) not in (2, 3) or any(r.shape != (3,) for r in rows):
        raise ImageFileError(
            f"{path}: 'space directions' gives {len(rows)} spatial axes; a 3D (or 2D) image needs one "
            "3-vector per spatial axis. The header is damaged; write the file again."
        )
    # np.linalg.norm's sum of squares (its dot) without its checks: a mask's read made three calls.
    _check_spacing(path, [np.sqrt(r.dot(r)) for r in rows], "the lengths of 'space directions'")
    scale = signs * _millimetres(header, "space units", range(3), path)  # to LPS, in mm
    # np.column_stack's array (C order), without its Python-level steps for each row
    matrix = scale[:, None] * np.ascontiguousarray(np.array(rows).T)
    if len(rows) == 2:  # one slice placed in 3D space: its third axis is the plane's normal, 1 mm
        normal = np.cross(matrix[:, 0], matrix[:, 1])
        matrix = np.column_stack([matrix, normal / np.linalg.norm(normal)])
    if origin.shape != (3,) or not all(math.isfinite(v) for v in origin.tolist()):
        raise ImageFileError(
            f"{path}: 'space origin' is {origin.tolist()}; it must be 3 finite numbers [mm]. The header "
            "is damaged; write the file again."
        )
    return _squared(matrix), scale * origin


def _plain_geometry(header: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_nrrd_geometry`'s matrix and origin of the common header, worked out on Python floats (the
    same IEEE products, bit for bit), or None for :func:`_nrrd_geometry` to work out and check.

    The common header: a space of :data:`_NRRD_SPACES` (or none: LPS), 3 finite rows of ``space
    directions`` whose squared lengths lie far inside the float range (so NumPy's lengths, whatever its
    order of sums, are positive and finite), no ``space units``, an axis-aligned matrix, a ``space
    origin`` of 3 finite numbers or none. NumPy's calls on 3x3 arrays took 8 of a demo mask's 14 us.
    """
    directions, origin = header.get("space directions"), header.get("space origin", (0.0, 0.0, 0.0))
    space = header.get("space", "left-posterior-superior")
    if (
        type(directions) is not np.ndarray
        or directions.dtype != np.float64
        or directions.shape != (3, 3)
        or "space units" in header
        or type(space) is not str
        or ("space" not in header and header.get("space dimension") == 2)
    ):
        return None
    space = space.lower()
    signs = _NRRD_SPACES.get(_NRRD_ABBREVIATIONS.get(space.upper(), space))
    if type(origin) is np.ndarray and origin.dtype == np.float64:
        origin = origin.tolist()
    if signs is None or type(origin) not in (list, tuple) or len(origin) != 3:
        return None
    rows = directions.tolist()
    if not all(1e-300 < (x * x + y * y) + z * z < 1e300 for x, y, z in rows):
        return None  # none, NaN, infinite, or so short or long that NumPy's sum may round otherwise
    if not all(type(v) is float and math.isfinite(v) for v in origin):
        return None
    matrix = [[float(signs[i]) * row[i] for row in rows] for i in range(3)]  # scale[:, None] * rows.T
    if any(matrix[i][k] != 0.0 for i in range(3) for k in range(3) if i != k):
        return None  # oblique: made orthonormal by _squared
    return np.array(matrix), np.array([float(signs[i]) * origin[i] for i in range(3)])


def _none_rows(directions) -> list[bool]:
    """Whether each row of a header's ``space directions`` is ``none`` (all NaN, as pynrrd parses it):
    for a float matrix (as pynrrd and :func:`_matrix` give it) on its list, not three NumPy calls a row."""
    if isinstance(directions, np.ndarray) and directions.ndim == 2 and directions.dtype == np.float64:
        return [all(v != v for v in row) for row in directions.tolist()]  # v != v: NaN
    return [bool(np.isnan(np.asarray(row, dtype=float)).all()) for row in directions]


def _single_range_axes(header: dict, sizes: tuple[int, ...]) -> list[int]:
    """The axes of one entry whose ``kinds`` entry is not a domain kind (``list``, ``scalar``,
    ``vector``, ...: teem's range axes; domain, space, time and unknown ones are domain axes): one
    component a voxel, not an axis of the volume."""
    kinds = header.get("kinds", ())
    kinds = [str(kind).lower() for kind in (kinds.split() if isinstance(kinds, str) else kinds)]
    domain = ("domain", "space", "time", "???", "none")
    return [k for k, kind in enumerate(kinds[: len(sizes)]) if kind not in domain and sizes[k] == 1]


def _axis_geometry(header: dict, axes: list[int], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The axis-aligned LPS matrix and origin of a NRRD header without a space, from the per-axis fields
    of its spatial ``axes`` (at most 3: those but the range axes of one entry).

    Each axis's step is its ``spacings`` entry, else ``(max - min) / size`` (cell centering) or
    ``/ (size - 1)`` (node centering) of its ``axis mins`` and ``axis maxs`` (negative where the max is
    the lower: the axis runs against its world axis), else 1 mm. Its first
    sample lies at its ``axis mins`` entry (node centering) or half a step past it (cell centering, the
    format's default where ``centerings`` says none), as teem and ITK place it; at 0 without one.
    """
    n = len(axes)
    sizes = np.atleast_1d(np.asarray(header.get("sizes", ()), dtype=float))[axes]
    scale = _millimetres(header, "units", axes, path)
    mins = _per_axis(header, ("axis mins", "axismins"), axes) * scale
    maxs = _per_axis(header, ("axis maxs", "axismaxs"), axes) * scale
    centerings = header.get("centerings", header.get("centers", ()))
    if isinstance(centerings, str):
        centerings = centerings.split()
    centerings = [str(c).lower() for c in centerings]
    node = np.array([centerings[k] if k < len(centerings) else "???" for k in axes]) == "node"
    if "spacings" in header:
        spacings = _per_axis(header, ("spacings",), axes) * scale
        _check_spacing(path, spacings, "spacings")
    else:
        cells = np.where(node, sizes - 1, sizes)
        ranged = np.isfinite(mins) & np.isfinite(maxs) & (cells > 0)
        spacings = np.where(ranged, (maxs - mins) / np.maximum(cells, 1), 1.0)  # < 0: the axis runs back
        _check_spacing(path, np.abs(spacings), "the steps of 'axis mins' to 'axis maxs'")
    origin = np.where(np.isfinite(mins), mins + np.where(node, 0.0, spacings / 2), 0.0)
    matrix = np.diag(np.concatenate([spacings, np.ones(3 - n)]))
    return matrix, np.concatenate([origin, np.zeros(3 - n)])


def _millimetres(header: dict, key: str, axes, path: Path) -> np.ndarray:
    """Millimetres in the length unit of each of ``axes`` in the header's ``key`` field ('space units':
    one a world axis, for 'space directions' and 'space origin'; 'units': one an axis, for its
    'spacings', 'axis mins' and 'axis maxs'); 1 where it names none. teem and ITK leave the numbers in
    the file's unit, so a file in microns was read as if in mm, 1000 times too large."""
    if key not in header:  # mm, as most files are (the loop below took 3 of a mask's 21 us of geometry)
        return np.array([1.0] * len(axes))
    units = header[key]
    units = units.split() if isinstance(units, str) else list(units)
    scale = []
    for k in axes:
        unit = str(units[k]).strip() if k < len(units) else ""
        if unit.lower() not in _NRRD_MM:
            raise GeometryError(
                f"{path}: '{key}' gives the unit {unit!r}, not a length gpuimg knows (m, cm, mm, um), so "
                "its voxel steps cannot be put in mm. Write the file with its geometry in one of those."
            )
        scale.append(_NRRD_MM[unit.lower()])
    return np.array(scale)


def _per_axis(header: dict, keys: tuple[str, ...], axes: list[int]) -> np.ndarray:
    """The values for ``axes`` of the per-axis field named by one of ``keys``, NaN where it is absent."""
    values = next((header[key] for key in keys if key in header), ())
    values = np.atleast_1d(np.asarray(values, dtype=float))
    return np.array([values[k] if k < values.size else np.nan for k in axes])
