"""The quick header reader against pydicom, on pydicom's own test files."""

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.multival import MultiValue

from gpuimg.io._tags import _WANTED, _read_tags

FILES = sorted((Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm"))


def _pydicom(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some test files are deliberately odd
        return pydicom.dcmread(path, force=True)


def _expected(ds, keyword):
    """pydicom's value of ``keyword``, a list where it has several (as the quick reader gives it)."""
    value = ds[keyword].value
    return list(value) if isinstance(value, MultiValue) else value


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_tags_and_pixel_position_equal_pydicom(path):
    quick = _read_tags(path)
    ds = _pydicom(path)
    if quick is None:
        return
    # Only plain Part 10 explicit-VR little-endian files are taken; everything else is pydicom's.
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    tags, (offset, length), size = quick
    assert size == path.stat().st_size
    for keyword, _vr in _WANTED.values():
        if keyword in ds:
            assert tags.get(keyword) == _expected(ds, keyword), keyword
        else:
            assert keyword not in tags
    assert path.read_bytes()[offset : offset + length] == ds.PixelData


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "MR_small_padded.dcm"])
def test_plain_files_are_taken(testfile, name):
    assert _read_tags(testfile(name)) is not None


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",  # implicit VR
        "MR_small_bigendian.dcm",  # big endian
        "MR_small_RLE.dcm",  # compressed
        "JPEG2000.dcm",
        "image_dfl.dcm",  # deflated
        "ExplVR_LitEndNoMeta.dcm",  # no preamble or meta header
        "liver_1frame.dcm",  # enhanced multi-frame: functional groups
        "badVR.dcm",  # a VR that is not two capital letters
    ],
)
def test_other_files_fall_back_to_pydicom(testfile, name):
    assert _read_tags(testfile(name)) is None


def test_cut_short_header_falls_back(testfile, tmp_path):
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(testfile("CT_small.dcm").read_bytes()[:600])
    assert _read_tags(cut) is None


def test_values_follow_each_file_and_lists_are_not_shared(testfile, tmp_path):
    """A value equal to the last file's is reused: never another file's value, nor a shared list."""
    original = testfile("CT_small.dcm")
    ds = _pydicom(original)
    ds.PixelSpacing, ds.SliceThickness, ds.SeriesInstanceUID = [0.5, 0.25], "3.5", "1.2.3.4"
    edited = tmp_path / "edited.dcm"
    ds.save_as(edited)
    references = {path: _pydicom(path) for path in (original, edited)}
    keywords = ("PixelSpacing", "SliceThickness", "SeriesInstanceUID", "ImagePositionPatient")
    for path in [original, original, edited, original, edited, edited]:
        tags = _read_tags(path)[0]
        assert {k: tags[k] for k in keywords} == {k: _expected(references[path], k) for k in keywords}
        tags["PixelSpacing"].append(9.0)  # a list belongs to its file's tags alone


def test_transfer_syntax_not_ascii_falls_back(testfile, tmp_path):
    """A transfer syntax UID with a byte outside ASCII: pydicom's file to read, not a crash here."""
    raw = testfile("CT_small.dcm").read_bytes()
    uid = pydicom.uid.ExplicitVRLittleEndian.encode()
    odd = tmp_path / "odd.dcm"
    odd.write_bytes(raw.replace(uid, uid[:-1] + b"\xe9", 1))
    assert _read_tags(odd) is None
