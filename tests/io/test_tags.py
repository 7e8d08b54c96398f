"""The quick header reader against pydicom, on pydicom's own test files."""

import re
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.multival import MultiValue

from gpuimg.io import _quick_reader, _tags
from gpuimg.io._quick_reader import _read_tags
from gpuimg.io._tags import _WANTED

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
    if quick is not None:
        _assert_as_pydicom(path, quick)


def _assert_as_pydicom(path, quick):
    """The quick reader's tags, pixel position and size of ``path`` are pydicom's."""
    ds = _pydicom(path)
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


def _slices(testfile, folder, edits):
    """CT_small.dcm written again once for each dict of ``edits`` (keyword -> value; bytes -> bytes
    replaces them in the file), as files 0.dcm, 1.dcm ..., its OtherPatientIDsSequence of undefined
    length."""
    paths = []
    for number, edit in enumerate(edits):
        ds = _pydicom(testfile("CT_small.dcm"))
        ds["OtherPatientIDsSequence"].is_undefined_length = True
        for keyword, value in edit.items():
            if isinstance(keyword, str):
                setattr(ds.file_meta if keyword in ds.file_meta else ds, keyword, value)
        path = folder / f"{number}.dcm"
        ds.save_as(path)
        raw = path.read_bytes()
        for old, new in ((k, v) for k, v in edit.items() if isinstance(k, bytes)):
            assert old in raw
            raw = raw.replace(old, new)
        path.write_bytes(raw)
        paths.append(path)
    return paths


def _walks(monkeypatch):
    """The files walked element by element from now on (not matched against a template)."""
    walked = []
    dataset = _quick_reader._Reader.dataset

    def counted(reader):
        walked.append(reader)
        return dataset(reader)

    monkeypatch.setattr(_quick_reader, "_template", None)
    monkeypatch.setattr(_quick_reader, "_walked", None)
    monkeypatch.setattr(_quick_reader._Reader, "dataset", counted)
    return walked


def test_a_series_differing_in_uids_and_positions_is_walked_twice(testfile, tmp_path, monkeypatch):
    """The files of a series that differ in their instance UIDs and positions (at other lengths too)
    are read from the template of the first two: each file's values, pixel offset and length are
    pydicom's."""
    walked = _walks(monkeypatch)
    uids = ["1.2.3.8", "1.2.3.9", "1.2.3.10", "1.2.3.11", "1.2.3.100", "1.2.3.1000"]
    positions = [[0, 0, 9.5], [0, 0, 8], [0, 0, -10.25], [0, 0, -125.5], [0, 0, 1], [0, 0, 2]]
    edits = [
        {"SOPInstanceUID": uid, "ImagePositionPatient": position}
        for uid, position in zip(uids, positions, strict=True)
    ]
    paths = _slices(testfile, tmp_path, edits)
    for path in paths:
        _assert_as_pydicom(path, _read_tags(path))
    assert len(walked) == 2


def test_files_whose_uids_differ_in_length_are_matched(testfile, tmp_path, monkeypatch):
    """A scanner's files hold their SOP instance UID in the file meta group too, whose length then
    varies with the UID's padded length; the first two files alike in it. Each file is matched to the
    template of the first two, but one of another pixel spacing too (a checked value), which is walked,
    and its values, pixel offset and length are pydicom's."""
    walked = _walks(monkeypatch)
    uids = ["1.2.3.8", "1.2.3.9", "1.2.3.10", "1.2.3.100", "1.2.3.1000", "1.2.3.11", "1.2.3.10000"]
    edits = [
        {"SOPInstanceUID": uid, "MediaStorageSOPInstanceUID": uid, "ImagePositionPatient": [0, 0, k]}
        for k, uid in enumerate(uids)
    ]
    edits[4]["PixelSpacing"] = [0.5, 0.25]
    paths = _slices(testfile, tmp_path, edits)
    lengths = {pydicom.dcmread(path).file_meta.FileMetaInformationGroupLength for path in paths}
    assert len(lengths) == 3
    walks = []
    for path in paths:
        _assert_as_pydicom(path, _read_tags(path))
        walks.append(len(walked))
    # The 5th file is walked, and makes a template with the 2nd in which the pixel spacing differs too.
    assert walks == [1, 2, 2, 2, 3, 3, 3]


def test_files_without_a_group_length_are_matched(testfile, tmp_path, monkeypatch):
    """Files whose file meta group has no length element (0002,0000) are matched to the template of the
    first two, which has none either; one that has it, among them, is walked. Each file's values, pixel
    offset and length are pydicom's."""
    walked = _walks(monkeypatch)
    uids = ["1.2.3.8", "1.2.3.10", "1.2.3.100", "1.2.3.1000", "1.2.3.11"]
    edits = [
        {"SOPInstanceUID": uid, "MediaStorageSOPInstanceUID": uid, "ImagePositionPatient": [0, 0, k]}
        for k, uid in enumerate(uids)
    ]
    paths = _slices(testfile, tmp_path, edits)
    for path in paths[:3] + paths[4:]:
        raw = path.read_bytes()
        assert raw[132:140] == b"\x02\x00\x00\x00UL\x04\x00"  # the element, its value 4 bytes
        path.write_bytes(raw[:132] + raw[144:])
    walks = []
    for path in paths:
        _assert_as_pydicom(path, _read_tags(path))
        walks.append(len(walked))
    assert walks == [1, 2, 2, 3, 3]  # the 4th keeps its group length


def test_series_read_in_turn_are_matched_to_a_template_of_their_own(testfile, tmp_path, monkeypatch):
    """Series read one after another (a cohort's studies): the first file of the next series is walked and
    makes a template with the last series' file, which varies in their UIDs too; the next file of that
    series matches it and narrows it to the files of its own series (instance UID and position). A file
    differing from it in a checked value (its pixel spacing) is walked, and each file's values, pixel
    offset and length are pydicom's."""
    walked = _walks(monkeypatch)
    edits = []
    for series, count in enumerate((2, 5, 3)):
        for k in range(count):
            edits.append(
                {
                    "SeriesInstanceUID": f"1.2.3.{series}",
                    "StudyInstanceUID": f"1.2.4.{series}",
                    "PatientID": f"P{series}",
                    "SOPInstanceUID": f"1.2.5.{series}.{k}",
                    "ImagePositionPatient": [0, 0, k],
                }
            )
    edits[5]["PixelSpacing"] = [0.5, 0.25]  # the 4th file of the second series
    paths = _slices(testfile, tmp_path, edits)
    narrowed, walks = [], []
    for path in paths:
        _assert_as_pydicom(path, _read_tags(path))
        narrowed.append(getattr(_quick_reader._template, "wider", None) is not None)
        walks.append(len(walked))
    # The first two files; the first of the second series, and its 4th; the first of the third.
    assert [k for k, n in enumerate(walks) if n > (walks[k - 1] if k else 0)] == [0, 1, 2, 5, 7]
    assert narrowed == [False, False, False, True, True, False, False, False, True, True]
    assert _quick_reader._template.varying == {"SOPInstanceUID", "ImagePositionPatient"}
    assert "SeriesInstanceUID" in _quick_reader._template.wider.varying


def test_series_read_by_threads_at_once_are_read_as_pydicom_reads_them(testfile, tmp_path, monkeypatch):
    """Four series (their own UIDs, patient and pixel spacing) read by four threads at once, each its own
    series file by file, in several rounds, with the interpreter switching threads often: the template
    state they share (the last template, the file walked last, the first file of a series) only decides
    which files are walked, and each file's values, pixel offset and length are pydicom's."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(_quick_reader, "_template", None)
    monkeypatch.setattr(_quick_reader, "_walked", None)
    series = []
    for s in range(4):
        folder = tmp_path / f"s{s}"
        folder.mkdir()
        edits = [
            {
                "SeriesInstanceUID": f"1.2.3.{s}",
                "StudyInstanceUID": f"1.2.4.{s}",
                "PatientID": f"P{s}",
                "SOPInstanceUID": f"1.2.5.{s}.{k}",
                "ImagePositionPatient": [0, 0, k * (s + 1)],
                "PixelSpacing": [0.5 + s, 0.25 + s],
            }
            for k in range(6)
        ]
        series.append(_slices(testfile, folder, edits))
    for paths in series:  # pydicom's reading is the reference; the quick reader's state starts empty
        for path in paths:
            _assert_as_pydicom(path, _read_tags(path))
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(4) as pool:
            rounds = [list(pool.map(lambda paths: [_read_tags(p) for p in paths], series)) for _ in range(5)]
    finally:
        sys.setswitchinterval(switch)
    for read in rounds:
        for paths, quick in zip(series, read, strict=True):
            for path, tags in zip(paths, quick, strict=True):
                _assert_as_pydicom(path, tags)


def test_files_differing_elsewhere_read_as_pydicom_reads_them(testfile, tmp_path, monkeypatch):
    """Files read one after another that differ from the template of the last ones in other values
    (wanted or not, longer or shorter), in a sequence of undefined length, in their elements (one more)
    or in the length of their pixel data: each file's values, pixel offset and length are pydicom's,
    and a damaged value or another transfer syntax leaves a file to pydicom."""
    walked = _walks(monkeypatch)
    plain = [{"SOPInstanceUID": f"1.2.3.{k}", "ImagePositionPatient": [0, 0, k]} for k in range(4)]
    edits = [
        *plain,
        {"SOPInstanceUID": "1.2.3.40", "WindowCenter": 40, "InstanceNumber": 1234567},
        {"SOPInstanceUID": "1.2.3.41", "WindowCenter": [40, 400], "PixelSpacing": [0.5, 0.25]},
        {"ImageType": ["DERIVED", "SECONDARY"], "StationName": "STATION NO 12"},
        {b"ABCD1234": b"ABCD5678"},  # a patient ID within the sequence of undefined length
        {"RescaleIntercept": -1000, "WindowWidth": 350},  # one element more
        {"Rows": 64, "PixelData": bytes(64 * 128 * 2)},
        {"SOPInstanceUID": "1.2.3.50", "ImagePositionPatient": [0, 0, 5]},
        {"SOPInstanceUID": "1.2.3.51", "ImagePositionPatient": [0, 0, 6]},
        *plain,
    ]
    paths = _slices(testfile, tmp_path, edits)
    sequence = b"\x10\x00\x02\x10SQ\x00\x00\xff\xff\xff\xff"  # OtherPatientIDsSequence
    assert all(sequence in path.read_bytes() for path in paths)
    (tmp_path / "damaged").mkdir()
    position = {"ImagePositionPatient": [0, 0, 7.5], b"0.0\\0.0\\7.5 ": b"0.0\\0.0\\7.x "}
    damaged = _slices(testfile, tmp_path / "damaged", [position])[0]  # a letter in a number
    implicit = tmp_path / "implicit.dcm"
    ds = _pydicom(paths[1])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(implicit)
    for path in [*paths[:4], damaged, implicit, *paths[4:], damaged, implicit]:
        quick = _read_tags(path)
        if path in (damaged, implicit):
            assert quick is None, path.name
        else:
            _assert_as_pydicom(path, quick)
    assert len(walked) < len(paths)  # the template read some


def test_headers_of_files_matched_to_a_template_are_pydicoms(testfile, tmp_path, monkeypatch):
    """Files matched to their series' template: each header's frame (position, orientation, pixel
    spacing, size, rescale), problem and pixel data length are those pydicom reads from the file,
    whether the frame is the template's first file's at the file's own position (the files differ in
    UIDs and positions only, and in size by the positions' lengths) or made afresh (they differ in a
    rescale too)."""
    from gpuimg.io import _scan

    walked = _walks(monkeypatch)
    made = []
    frames = _scan._frames

    def counted(path, ds):
        made.append(path)
        return frames(path, ds)

    monkeypatch.setattr(_scan, "_frames", counted)
    plain = [
        {"SOPInstanceUID": f"1.2.3.{n}", "ImagePositionPatient": [0, 0, k]}
        for n, k in enumerate((1, 20, 300, 4, -5.5, 6))
    ]
    rescaled = [
        {"SOPInstanceUID": f"1.2.3.{k}", "ImagePositionPatient": [0, 0, k], "RescaleIntercept": -k}
        for k in (7, 80, 9, 100)
    ]
    paths = _slices(testfile, tmp_path, [*plain, *rescaled, *plain[:2]])
    assert len({path.stat().st_size for path in paths}) > 1
    for path in paths:
        ds = _pydicom(path)
        header = _scan._read_header(path)
        assert header.problem is None and header.pixels[1] == len(ds.PixelData)
        (frame,) = header.frames
        assert frame.path == path and frame.index is None
        assert frame.position == tuple(float(v) for v in ds.ImagePositionPatient)
        assert frame.orientation == tuple(float(v) for v in ds.ImageOrientationPatient)
        assert frame.pixel_spacing == tuple(float(v) for v in ds.PixelSpacing)
        assert frame.shape == (ds.Rows, ds.Columns)
        assert (frame.slope, frame.intercept) == (float(ds.RescaleSlope), float(ds.RescaleIntercept))
    assert (
        len(walked) == 3
    )  # the first two plain files, the first rescaled one (its template made with the 2nd)
    assert len(made) == len(paths) - 3  # the frame of the 4th to 6th plain file taken from the 3rd


@pytest.mark.parametrize("kind", ["_Frame", "_Header"])
def test_a_headers_own_init_fills_every_field(kind):
    """_Frame and _Header fill their fields in their own __init__ (faster than the frozen dataclass'):
    each field, in order, none left out, and the instance stays frozen."""
    import dataclasses
    import inspect

    from gpuimg.io import _header

    cls = getattr(_header, kind)
    names = [field.name for field in dataclasses.fields(cls)]
    assert list(inspect.signature(cls).parameters) == names
    values = [object() for _ in names]
    instance = cls(*values)
    assert all(getattr(instance, name) is value for name, value in zip(names, values, strict=True))
    assert dataclasses.replace(instance) == instance
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(instance, names[0], None)


def _reference(vr, raw):
    """The value the quick reader takes ``raw`` of ``vr`` as, by the definition (None: pydicom reads the
    file): DS and IS values whole, plain decimal or integer numbers separated by backslashes, trailing
    spaces and NULs left out; text values of printable ASCII but for the NULs padding them."""
    if vr in (b"DS", b"IS"):
        number = rb" *[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)? *" if vr == b"DS" else rb" *[-+]?\d+ *"
        raw = raw.rstrip(b" \0")
        if re.fullmatch(number + rb"(?:\\" + number + rb")*", raw) is None:
            return None
        kind = float if vr == b"DS" else int
        values = [kind(part.decode()) for part in raw.split(b"\\")]
        return values if len(values) > 1 else values[0]
    if any(not 0x20 <= byte < 0x7F for byte in raw.rstrip(b"\0")):
        return None
    parts = [part.rstrip("\0 ") for part in raw.decode().split("\\")]
    return parts if len(parts) > 1 else parts[0]


@pytest.mark.parametrize("vr", [b"DS", b"IS", b"LO"])
def test_values_are_converted_by_their_definition_each_time(vr):
    """A DS or IS value's numbers, once converted, are looked up when they come again; a text value is
    taken only where it is printable ASCII: the same value (or refusal) the first time and the next."""
    raws = [
        b"1.5\\-2\\3e2 ",
        b" +7 \\.5\\-0.0\\",
        b"12\\12\\12",
        b" 12 \\+12",
        b"4\\nan",
        b"1_0",
        b"0x1F",
        b"1.2.840.10008.5.1.4.1.1.2\0",
        b"CT\\SCOUT ",
        b"caf\xe9",
        b"a\x1b$Bb",
        b"run\x10\x00on",
        b"ok\0\0",
        b"\x7f",
        b"",
    ]
    for raw in raws * 2:
        try:
            value = _tags._CONVERT[vr](raw)
        except _tags._Unread:
            value = None
        assert value == _reference(vr, raw), raw
