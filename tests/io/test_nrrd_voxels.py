"""NRRD voxels read by gpuimg's own routes equal pynrrd's or SimpleITK's reading, and damaged streams
are refused.

``read_image`` reads raw, hex, gzip- and bzip2-encoded voxels itself (compressed ones bounded by the
header's size, checked by the stream's CRC and length) and leaves ASCII ones to pynrrd.
"""

import bz2
import gzip
import os
import re
from pathlib import Path

import nrrd
import numpy as np
import pytest

from gpuimg.errors import ImageFileError
from gpuimg.io import read_image


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, ">i2"])
@pytest.mark.parametrize("encoding", ["gzip", "raw"])
def test_voxels_equal_pynrrd(tmp_path, dtype, encoding):
    data = np.random.default_rng(1).integers(-500, 500, (7, 5, 3)).astype(dtype)
    path = tmp_path / "image.nrrd"
    nrrd.write(str(path), data, {"encoding": encoding})
    expected, _ = nrrd.read(str(path))  # axes (i, j, k)
    image = read_image(path, device="cpu")
    np.testing.assert_array_equal(image.data, expected.transpose(2, 1, 0))
    assert image.data.dtype.newbyteorder("=") == np.dtype(dtype).newbyteorder("=")
    assert image.data.flags.writeable and image.data.flags.c_contiguous


def test_detached_gzip_voxels_equal_pynrrd(tmp_path):
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    path = tmp_path / "image.nhdr"
    nrrd.write(str(path), data, {"encoding": "gzip"}, detached_header=True)
    np.testing.assert_array_equal(read_image(path, device="cpu").data, data.transpose(2, 1, 0))


def _gzip_nrrd(tmp_path, payload: bytes, sizes=(4, 5, 6)):
    path = tmp_path / "mask.nrrd"
    header = f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: {' '.join(map(str, sizes))}\nencoding: gzip\n\n"
    path.write_bytes(header.encode() + payload)
    return path


def test_truncated_gzip_voxels(tmp_path):
    full = gzip.compress(np.arange(120, dtype=np.uint8).tobytes())
    path = _gzip_nrrd(tmp_path, full[: len(full) // 2])
    with pytest.raises(ImageFileError, match=r"mask\.nrrd.*truncated or corrupted"):
        read_image(path, device="cpu")


def test_corrupted_gzip_voxels_fail_the_crc(tmp_path):
    """A flipped byte in a stored (uncompressed) deflate block: only the gzip CRC can tell."""
    stored = bytearray(gzip.compress(np.arange(120, dtype=np.uint8).tobytes(), compresslevel=0))
    stored[len(stored) // 2] ^= 0x10
    with pytest.raises(ImageFileError, match=r"mask\.nrrd"):
        read_image(_gzip_nrrd(tmp_path, bytes(stored)), device="cpu")


@pytest.mark.parametrize("voxels", [60, 240])
def test_gzip_voxels_of_another_size(tmp_path, voxels):
    """A stream holding fewer or more voxels than the header's 120 is refused, the larger one unread."""
    path = _gzip_nrrd(tmp_path, gzip.compress(bytes(voxels)))
    with pytest.raises(ImageFileError, match=r"mask\.nrrd.*(end early|run on)"):
        read_image(path, device="cpu")


def _pieces_nhdr(tmp_path, data, field, names, encoding="raw", listed=()):
    """A detached header 'volume.nhdr' whose voxels (axes i, j, k in Fortran order) are in the files
    ``names``, each the next equal piece of the voxels in Fortran order, written with ``encoding``."""
    flat = np.asfortranarray(data).ravel(order="F")
    for name, piece in zip(names, np.split(flat, len(names)), strict=True):
        raw = piece.astype("<i2").tobytes()
        encoded = {"gzip": gzip.compress(raw), "hex": raw.hex().encode() + b"\n"}.get(encoding, raw)
        (tmp_path / name).write_bytes(encoded)
    header = (
        f"NRRD0004\ntype: short\ndimension: 3\nsizes: {' '.join(map(str, data.shape))}\n"
        f"encoding: {encoding}\nendian: little\nspace: left-posterior-superior\n"
        "space directions: (0,0.5,0) (-0.7,0,0) (0,0,2.5)\n"
        f"space origin: (1,2,3)\ndata file: {field}\n" + "".join(f"{name}\n" for name in listed)
    )
    (tmp_path / "volume.nhdr").write_text(header)
    return tmp_path / "volume.nhdr"


@pytest.mark.parametrize(
    ("field", "names", "listed"),
    [
        ("slice%03d.raw 0 4 1", [f"slice{k:03d}.raw" for k in range(5)], ()),  # one file a slice
        ("slice%d.raw 9 1 -2", [f"slice{k}.raw" for k in (9, 7, 5, 3, 1)], ()),  # counting down
        ("slab%d.raw 1 5 1 3", [f"slab{k}.raw" for k in range(1, 6)], ()),  # slabs of one slice, 3D
        ("row%02d.raw 0 29 1 1", [f"row{k:02d}.raw" for k in range(30)], ()),  # one file a row
        ("LIST", [f"s{k}.raw" for k in range(5)], [f"s{k}.raw" for k in range(5)]),
        ("LIST 2", [f"s{k}.raw" for k in range(5)], [f"s{k}.raw" for k in range(5)]),
        ("whole%d.raw 7 7 1 3", ["whole7.raw"], ()),  # one file, named by a format
    ],
)
@pytest.mark.parametrize("encoding", ["raw", "gzip", "hex"])
def test_voxels_in_several_data_files_equal_simpleitk(tmp_path, field, names, listed, encoding):
    # The NRRD format's 'data file: <format> <min> <max> <step> [<subdim>]' and 'data file: LIST
    # [<subdim>]' (the names on the header's last lines) split the voxels among files, as microscopy
    # and slice-wise exports write them; read_image took the whole field for one file's name ("...
    # data file does not exist") or failed in pynrrd on the listed names ("cannot be read as NRRD").
    sitk = pytest.importorskip("SimpleITK")
    data = np.random.default_rng(2).integers(-1000, 1000, (7, 6, 5)).astype(np.int16)  # axes (i, j, k)
    path = _pieces_nhdr(tmp_path, data, field, names, encoding, listed=listed)
    image = read_image(path, device="cpu")
    reference = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(image.data, sitk.GetArrayFromImage(reference))
    np.testing.assert_array_equal(image.data, data.transpose(2, 1, 0))
    # The geometry is the header's, read as from one data file (exact: the values are in the header).
    np.testing.assert_allclose(image.spacing, reference.GetSpacing()[::-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(image.origin, reference.GetOrigin(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("slice%d.raw 0 3 1", "names 4 data files of 2 dimensions"),  # 5 slices
        ("slice%d.raw 0 4 -1", "from 0 to 4 by -1, which reaches no file"),
        ("slab%d.raw 0 1 1 3", "names 2 data files of 3 dimensions"),  # 5 slices in 2 equal slabs
        ("LIST", "names 0 data files of 2 dimensions"),
    ],
)
def test_data_files_that_do_not_divide_the_volume_are_refused(tmp_path, field, words):
    sitk = pytest.importorskip("SimpleITK")
    path = _pieces_nhdr(tmp_path, np.zeros((7, 6, 5), np.int16), field, ["unused.raw"])
    with pytest.raises(ImageFileError, match=re.escape(words)):
        read_image(path, device="cpu")
    with pytest.raises(RuntimeError):  # teem, in SimpleITK, refuses the header too
        sitk.ReadImage(str(path))


def test_a_missing_one_of_several_data_files_is_named(tmp_path):
    data = np.zeros((7, 6, 5), np.int16)
    path = _pieces_nhdr(tmp_path, data, "slice%d.raw 0 4 1", [f"slice{k}.raw" for k in range(5)])
    (tmp_path / "slice3.raw").unlink()
    with pytest.raises(ImageFileError, match=r"slice3\.raw: the header's data file does not exist"):
        read_image(path, device="cpu")


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("folder", "is a folder, not a file of voxels"),
        ("device", r"is not a regular file \(a device, pipe or socket\)"),
        ("pipe", r"is not a regular file \(a device, pipe or socket\)"),
    ],
    ids=["folder", "device", "pipe"],
)
def test_a_data_file_that_is_no_regular_file_is_named_as_such(tmp_path, kind, words):
    # 'data file: /dev/zero' or a folder was refused as a data file that "does not exist"; the message
    # says what it is, and to point the header at the file of voxels. A pipe is not opened (no wait).
    if not Path("/dev/zero").exists() or not hasattr(os, "mkfifo"):
        pytest.skip("needs /dev/zero and named pipes (POSIX)")
    if kind == "folder":
        (tmp_path / "voxels").mkdir()
    elif kind == "pipe":
        os.mkfifo(tmp_path / "voxels")
    data_file = "/dev/zero" if kind == "device" else "voxels"
    path = tmp_path / "image.nhdr"
    header = "NRRD0004\ntype: short\ndimension: 3\nsizes: 7 6 5\nencoding: raw\nendian: little\n"
    path.write_text(header + f"data file: {data_file}\n")
    with pytest.raises(ImageFileError, match=words + r".*Point the header at the file of voxels"):
        read_image(path, device="cpu")


@pytest.mark.parametrize("target", ["voxels.raw", "gone.raw"])
def test_a_data_file_that_is_a_link_is_read_through_it(tmp_path, rng, target):
    # A link to the file of voxels is that file (as is_file and open follow it); a dangling one is
    # a data file that does not exist. Reference: the voxels written.
    if not hasattr(os, "symlink"):
        pytest.skip("needs symbolic links")
    data = rng.integers(-1000, 1000, (5, 6, 7)).astype("<i2")  # (k, j, i)
    (tmp_path / "voxels.raw").write_bytes(data.tobytes())
    os.symlink(tmp_path / target, tmp_path / "link.raw")
    path = tmp_path / "image.nhdr"
    header = "NRRD0004\ntype: short\ndimension: 3\nsizes: 7 6 5\nencoding: raw\nendian: little\n"
    path.write_text(header + "data file: link.raw\n")
    if target == "gone.raw":
        with pytest.raises(ImageFileError, match=r"link\.raw: the header's data file does not exist"):
            read_image(path, device="cpu")
    else:
        np.testing.assert_array_equal(read_image(path, device="cpu").data, data)


_NRRD_TYPES = {"i2": "short", "f4": "float", "f8": "double", "u1": "uchar"}


def _hex_nrrd(path, data, dtype, digits: bytes):
    header = (
        f"NRRD0005\ntype: {_NRRD_TYPES[np.dtype(dtype).str[1:]]}\ndimension: 3\n"
        f"sizes: {' '.join(map(str, data.shape))}\n"
        f"encoding: hex\nendian: {'big' if np.dtype(dtype).byteorder == '>' else 'little'}\n"
        "space: left-posterior-superior\nspace directions: (0.5,0,0) (0,0.7,0) (0,0,2.5)\n\n"
    )
    path.write_bytes(header.encode() + digits)
    return path


@pytest.mark.parametrize("dtype", ["<i2", ">i2", "<f4", ">f8", "u1"])
@pytest.mark.parametrize("layout", ["one line", "lines of 32, upper case"])
def test_hex_voxels_equal_simpleitk(tmp_path, dtype, layout):
    # The NRRD format's hex encoding (two hexadecimal digits a byte, whitespace between them ignored),
    # which teem (SimpleITK) reads, was 'cannot be read as NRRD (NRRDError: Unsupported encoding: hex).
    # The file is truncated, corrupted or not in this format' (pynrrd does not read it).
    sitk = pytest.importorskip("SimpleITK")
    data = np.random.default_rng(3).integers(0, 250, (7, 6, 5)).astype(dtype)  # axes (i, j, k)
    digits = np.asfortranarray(data).tobytes(order="F").hex().encode()
    if layout != "one line":
        digits = b"\n".join(digits[k : k + 32] for k in range(0, len(digits), 32)).upper()
    path = _hex_nrrd(tmp_path / "hex.nrrd", data, dtype, digits + b"\n")
    image = read_image(path, device="cpu")
    np.testing.assert_array_equal(image.data, sitk.GetArrayFromImage(sitk.ReadImage(str(path))))
    np.testing.assert_array_equal(image.data, data.transpose(2, 1, 0))
    assert image.data.dtype == np.dtype(dtype).newbyteorder("=")


@pytest.mark.parametrize(("cut", "words"), [(-2, "not 420 bytes"), (None, "not all hexadecimal digits")])
def test_damaged_hex_voxels_are_refused(tmp_path, cut, words):
    data = np.arange(210, dtype="<i2").reshape(7, 6, 5)
    digits = np.asfortranarray(data).tobytes(order="F").hex().encode()
    digits = digits[:cut] if cut else digits[:-2] + b"zz"
    with pytest.raises(ImageFileError, match=re.escape(words)):
        read_image(_hex_nrrd(tmp_path / "hex.nrrd", data, "<i2", digits), device="cpu")


@pytest.mark.parametrize("detached", [False, True])
def test_gzip_voxels_of_several_members_equal_simpleitk(tmp_path, detached):
    # A gzip stream of several members (files concatenated, bgzip, parallel compressors), which gzip
    # and teem (SimpleITK) read to its end, was refused after the first: 'its gzip-compressed voxels end
    # early (100 of the 420 bytes the header describes). The file is truncated or corrupted'.
    sitk = pytest.importorskip("SimpleITK")
    data = np.random.default_rng(4).integers(-1000, 1000, (7, 6, 5)).astype(np.int16)  # axes (i, j, k)
    raw = np.asfortranarray(data).tobytes(order="F")
    payload = b"".join(gzip.compress(raw[k : k + 100]) for k in range(0, len(raw), 100))  # 5 members
    assert gzip.decompress(payload) == raw  # Python's gzip reads every member
    header = "NRRD0004\ntype: short\ndimension: 3\nsizes: 7 6 5\nencoding: gzip\nendian: little\n"
    path = _nrrd_file(tmp_path / "members", header, payload, "voxels.raw.gz" if detached else None)
    image = read_image(path, device="cpu")
    np.testing.assert_array_equal(image.data, sitk.GetArrayFromImage(sitk.ReadImage(str(path))))
    np.testing.assert_array_equal(image.data, data.transpose(2, 1, 0))
    if not detached:  # members that end before the voxels do are still a truncated file
        path.write_bytes(header.encode() + b"\n" + payload[: len(payload) // 2])
        with pytest.raises(ImageFileError, match="end early"):
            read_image(path, device="cpu")


def _nrrd_file(stem: Path, header: str, payload: bytes, data_file: str | None) -> Path:
    """A NRRD of ``header`` (its fields, without the blank line) and ``payload``: attached
    (``stem.nrrd``), or detached (``stem.nhdr``) with the payload in ``data_file`` beside it."""
    if data_file is None:
        path = stem.with_suffix(".nrrd")
        path.write_bytes(header.encode() + b"\n" + payload)
    else:
        (stem.parent / data_file).write_bytes(payload)
        path = stem.with_suffix(".nhdr")
        path.write_text(header + f"data file: {data_file}\n")
    return path


@pytest.mark.parametrize("detached", [False, True])
@pytest.mark.parametrize("dtype", ["<i2", ">f4"])
def test_raw_voxels_followed_by_more_bytes_equal_simpleitk(tmp_path, detached, dtype):
    # Raw voxels followed by bytes the header does not describe (padding to a block, a file appended
    # to), which teem (SimpleITK) leaves unread, were refused: 'cannot be read as NRRD (NRRDError: Size
    # of the data does not equal the product of all the dimensions: 210-212=-2). The file is
    # truncated, corrupted ...' (pynrrd reads the file to its end).
    sitk = pytest.importorskip("SimpleITK")
    data = np.random.default_rng(5).integers(-1000, 1000, (7, 6, 5)).astype(dtype)  # axes (i, j, k)
    payload = np.asfortranarray(data).tobytes(order="F") + bytes(512 - 420 % 512)  # padded to a block
    header = (
        f"NRRD0004\ntype: {_NRRD_TYPES[np.dtype(dtype).str[1:]]}\ndimension: 3\nsizes: 7 6 5\n"
        f"encoding: raw\nendian: {'big' if dtype[0] == '>' else 'little'}\n"
    )
    path = _nrrd_file(tmp_path / "padded", header, payload, "voxels.raw" if detached else None)
    image = read_image(path, device="cpu")
    np.testing.assert_array_equal(image.data, sitk.GetArrayFromImage(sitk.ReadImage(str(path))))
    np.testing.assert_array_equal(image.data, data.transpose(2, 1, 0))


def test_raw_voxels_cut_short_by_a_byte_skip_are_refused(tmp_path):
    payload = np.arange(210, dtype="<i2").tobytes()  # 420 bytes, 418 past the skip
    (tmp_path / "voxels.raw").write_bytes(payload)
    path = tmp_path / "short.nhdr"
    path.write_text(
        "NRRD0004\ntype: short\ndimension: 3\nsizes: 7 6 5\nencoding: raw\nendian: little\nbyte skip: 2\n"
        "data file: voxels.raw\n"
    )
    with pytest.raises(ImageFileError, match=r"voxels\.raw: its raw voxels end early \(418 of the 420 bytes"):
        read_image(path, device="cpu")


@pytest.mark.parametrize("detached", [False, True])
@pytest.mark.parametrize(
    ("encoding", "dtype", "skips"),
    [
        ("gzip", "<i2", "byte skip: 16\n"),
        ("gzip", ">i2", "byte skip: 16\n"),
        ("gzip", "<i2", "line skip: 2\nbyte skip: 10\n"),
        ("gzip", "<i2", "byte skip: -1\n"),
        ("bzip2", "<i2", "byte skip: 16\n"),
        ("bzip2", ">i2", "line skip: 2\nbyte skip: -1\n"),
    ],
)
def test_compressed_voxels_after_a_byte_skip_equal_simpleitk(tmp_path, detached, encoding, dtype, skips):
    # The NRRD format's byte skip counts decompressed bytes where the voxels are compressed (teem skips
    # them after decompressing; its line skip counts lines of the file, before the stream). pynrrd
    # skipped as many compressed bytes too, so read_image failed: 'cannot be read as NRRD (error: Error
    # -3 while decompressing data: incorrect header check)'. References: the voxels written, and
    # SimpleITK's reading (its teem has no bzip2).
    sitk = pytest.importorskip("SimpleITK")
    data = np.random.default_rng(6).integers(-1000, 1000, (7, 6, 5)).astype(dtype)  # axes (i, j, k)
    skipped = b"a 16-byte prefix" if "16" in skips else b"ten bytes!" if "10" in skips else b"preceding bytes"
    stream = skipped + np.asfortranarray(data).tobytes(order="F")
    payload = (b"line 1\nline 2\n" if "line skip" in skips else b"") + (
        gzip.compress(stream) if encoding == "gzip" else bz2.compress(stream)
    )
    header = (
        f"NRRD0004\ntype: short\ndimension: 3\nsizes: 7 6 5\nencoding: {encoding}\n"
        f"endian: {'big' if dtype[0] == '>' else 'little'}\n{skips}"
    )
    path = _nrrd_file(tmp_path / "skipped", header, payload, "voxels.raw" if detached else None)
    image = read_image(path, device="cpu")
    np.testing.assert_array_equal(image.data, data.transpose(2, 1, 0))
    assert image.data.flags.writeable  # the voxels copied out of the stream's bytes, as without a skip
    if encoding == "gzip":
        np.testing.assert_array_equal(image.data, sitk.GetArrayFromImage(sitk.ReadImage(str(path))))


def test_compressed_voxels_cut_short_by_a_byte_skip_are_refused(tmp_path):
    payload = gzip.compress(np.arange(210, dtype="<i2").tobytes())  # 420 bytes, 418 past the skip
    header = "NRRD0004\ntype: short\ndimension: 3\nsizes: 7 6 5\nencoding: gzip\nendian: little\n"
    path = _nrrd_file(tmp_path / "short", header + "byte skip: 2\n", payload, None)
    words = r"short\.nrrd: .* end early \(418 of the 420 bytes .* byte skip of 2"
    with pytest.raises(ImageFileError, match=words):
        read_image(path, device="cpu")


_ENCODED = {
    "raw": lambda data: data.astype("<i2").tobytes(order="F"),
    "gzip": lambda data: gzip.compress(data.astype("<i2").tobytes(order="F")),
    "hex": lambda data: data.astype("<i2").tobytes(order="F").hex().encode() + b"\n",
    "ascii": lambda data: " ".join(map(str, data.ravel(order="F"))).encode() + b"\n",
}


@pytest.mark.parametrize("detached", [False, True])
@pytest.mark.parametrize("encoding", list(_ENCODED))
def test_voxels_after_a_line_skip_equal_the_voxels_written(tmp_path, detached, encoding):
    # ASCII voxels are pynrrd's, after gpuimg's own line skip (see the next test).
    data = np.arange(-30, 30, dtype=np.int16).reshape(5, 4, 3)  # axes (i, j, k)
    header = f"NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4 3\nencoding: {encoding}\nendian: little\n"
    payload = b"line 1\nline 2\n" + _ENCODED[encoding](data)
    path = _nrrd_file(tmp_path / "skipped", header + "line skip: 2\n", payload, "v.raw" if detached else None)
    np.testing.assert_array_equal(read_image(path, device="cpu").data, data.transpose(2, 1, 0))


@pytest.mark.parametrize("detached", [False, True])
@pytest.mark.parametrize("encoding", list(_ENCODED))
def test_a_line_skip_past_the_end_of_the_file_is_refused(tmp_path, detached, encoding):
    # A damaged line skip (found by fuzzing: 99999999) read on at the end of the file, one empty line
    # at a time, for many seconds (pynrrd's loop for ASCII voxels too), before another error or none.
    data = np.zeros((5, 4, 3), np.int16)
    header = f"NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4 3\nencoding: {encoding}\nendian: little\n"
    payload = b"line 1\nline 2\n" + _ENCODED[encoding](data)
    path = _nrrd_file(
        tmp_path / "skip", header + "line skip: 10000000\n", payload, "v.raw" if detached else None
    )
    name = r"v\.raw" if detached else r"skip\.nrrd"
    with pytest.raises(ImageFileError, match=rf"{name}: its line skip of 10000000 lines runs past the end"):
        read_image(path, device="cpu")


@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize("type_", ["short", "double", "uchar"])
def test_a_header_over_the_memory_budget_names_its_dtype_as_numpy_does(tmp_path, monkeypatch, endian, type_):
    # Twice, as the dtype's name is looked up the second time. Reference: NumPy's str of the dtype.
    from gpuimg.errors import MemoryBudgetError

    path = tmp_path / "big.nrrd"
    header = f"NRRD0004\ntype: {type_}\ndimension: 3\nsizes: 7 6 5\nencoding: raw\nendian: {endian}\n\n"
    dtype = np.dtype({"short": "i2", "double": "f8", "uchar": "u1"}[type_])
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder("<" if endian == "little" else ">")
    path.write_bytes(header.encode() + bytes(210 * dtype.itemsize))
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "100")
    for _ in range(2):
        with pytest.raises(
            MemoryBudgetError, match=re.escape(f"big.nrrd: (7, 6, 5) voxels of {dtype} needs")
        ):
            read_image(path, device="cpu")
