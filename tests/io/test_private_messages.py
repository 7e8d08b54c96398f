"""No message shows the patient's name, birth date or ID, whatever a damaged file holds.

pydicom's, NumPy's and the decoders' exception texts quote raw values, and a damaged length runs a
value over the next elements: the patient's name, birth date and ID among them. The files here carry
markers in those elements; every message, warning and printed line of the readers and of
``gpuimg info`` is searched for them.
"""

import contextlib
import io
import logging
import re
import struct
import warnings

import numpy as np
import pydicom
import pytest
from rtstruct_files import square_contour, write_structure_set

from gpuimg import Volume
from gpuimg._cli_info import info
from gpuimg.errors import GpuimgError
from gpuimg.io import list_series, read_dicom, read_rtstruct, rtstruct_roi_names

NAME, BIRTH, PATIENT = "Zzmarker^Qqname", "19011231", "PIDMARK123"
#: Any of the markers, or a part of one (a message cut short), in the text or its repr's escapes.
MARKERS = re.compile(r"Zzmarker|Qqname|19011231|PIDMARK|MARK123", re.IGNORECASE)


def _told(call) -> str:
    """All that ``call`` says: the text of a GpuimgError it raises, its warnings, its log records
    (pydicom's among them), what it prints, and the repr of what it returns."""
    said = io.StringIO()
    logged = logging.StreamHandler(said)
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(said),
        contextlib.redirect_stderr(said),
        _logged_to(logged),
    ):
        warnings.simplefilter("always")
        try:
            said.write(repr(call()))
        except GpuimgError as exc:
            said.write(str(exc))
    return said.getvalue() + "".join(str(w.message) for w in caught)


@contextlib.contextmanager
def _logged_to(handler: logging.Handler):
    """Every log record, of any level and logger, also to ``handler``."""
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _element(data: bytes, tag: int, explicit: bool) -> tuple[int, int, int]:
    """Where the top-level element ``tag`` of a little-endian file starts, where its length is and how
    long it is [bytes]."""
    start = data.index(struct.pack("<HH", tag >> 16, tag & 0xFFFF), 132)
    if explicit:
        return start, start + 6, struct.unpack_from("<H", data, start + 6)[0]
    return start, start + 4, struct.unpack_from("<I", data, start + 4)[0]


def _with_length(data: bytes, at: int, length: int, explicit: bool) -> bytes:
    packed = struct.pack("<H" if explicit else "<I", length)
    return data[:at] + packed + data[at + len(packed) :]


@pytest.fixture(params=[True, False], ids=["explicit", "implicit"])
def marked(request, testfile, tmp_path):
    """CT_small.dcm with the markers as the patient's name, birth date and ID (explicit or implicit
    VR little endian), its bytes, and where the patient's elements end."""
    explicit = request.param
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    ds.PatientName, ds.PatientBirthDate, ds.PatientID = NAME, BIRTH, PATIENT
    ds.SeriesDescription = "Chest"
    if not explicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(tmp_path / "source.dcm", implicit_vr=not explicit, little_endian=True)
    data = (tmp_path / "source.dcm").read_bytes()
    _, at, length = _element(data, 0x00100030, explicit)  # PatientBirthDate, after name and ID
    return data, explicit, at + (2 if explicit else 4) + length


def _check(folder, path):
    for call in (
        lambda: read_dicom(folder, device="cpu"),
        lambda: read_dicom(path, device="cpu"),
        lambda: [(s.modality, s.description, s.problem, str(s)) for s in list_series(folder)],
        lambda: info(folder),
    ):
        told = _told(call)
        assert not MARKERS.search(told), told


@pytest.mark.parametrize("keyword", ["ImageType", "Modality", "SeriesDescription"])
def test_a_text_value_run_over_the_patient_is_not_shown(tmp_path, marked, keyword):
    # The value's length reaches to the end of the birth date: its value is its own text, then the
    # bytes of the elements up to it (the name and ID among them), as pydicom reads it.
    data, explicit, end = marked
    tag = pydicom.datadict.tag_for_keyword(keyword)
    _, at, _ = _element(data, tag, explicit)
    value = at + (2 if explicit else 4)
    (tmp_path / "ct").mkdir()
    path = tmp_path / "ct" / "ct.dcm"
    path.write_bytes(_with_length(data, at, end - value, explicit))
    assert NAME in str(pydicom.dcmread(path)[tag].value)  # the damage, as pydicom reads it
    _check(tmp_path / "ct", path)


@pytest.mark.parametrize("keyword", ["Modality", "SeriesDescription"])
def test_a_text_value_run_over_a_backslash_is_not_shown(tmp_path, testfile, keyword):
    # A backslash in the bytes taken in (here the patient's two names) makes pydicom give a list, whose
    # str is its repr: the control characters escaped, so the damage was not seen and the name shown.
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    ds.PatientName, ds.PatientID, ds.SeriesDescription = NAME + "\\Other^Name", PATIENT, "Chest"
    ds.save_as(tmp_path / "source.dcm")
    data = (tmp_path / "source.dcm").read_bytes()
    _, at, length = _element(data, 0x00100020, True)  # PatientID, after the names
    end = at + 2 + length
    tag = pydicom.datadict.tag_for_keyword(keyword)
    _, at, _ = _element(data, tag, True)
    (tmp_path / "ct").mkdir()
    path = tmp_path / "ct" / "ct.dcm"
    path.write_bytes(_with_length(data, at, end - (at + 2), True))
    value = pydicom.dcmread(path)[tag].value
    assert isinstance(value, pydicom.multival.MultiValue) and NAME in value[0]  # the damage, as read
    _check(tmp_path / "ct", path)


def test_a_series_of_a_damaged_modality_among_others_does_not_show_it(tmp_path, marked):
    # A series whose files differ in Modality names the modalities; one that ran over the patient's
    # elements was among them.
    data, explicit, end = marked
    _, at, _ = _element(data, 0x00080060, explicit)
    (tmp_path / "ct").mkdir()
    damaged = tmp_path / "ct" / "b.dcm"
    damaged.write_bytes(_with_length(data, at, end - (at + (2 if explicit else 4)), explicit))
    ds = pydicom.dcmread(tmp_path / "source.dcm")
    ds.SOPInstanceUID, ds.ImagePositionPatient[2] = pydicom.uid.generate_uid(), 10.0
    ds.save_as(tmp_path / "ct" / "a.dcm", implicit_vr=not explicit, little_endian=True)
    told = _told(lambda: [s.problem for s in list_series(tmp_path / "ct")])
    assert "different modalities (CT, one damaged)" in told
    _check(tmp_path / "ct", damaged)


@pytest.mark.parametrize("keyword", ["SliceThickness", "InstanceNumber", "NumberOfFrames"])
def test_a_number_run_over_the_patient_is_not_shown(tmp_path, marked, keyword):
    # A DS or IS whose length runs over the patient's elements: they follow its value in the file
    # (their own place left empty), as one damaged length and a misplaced module leave them.
    data, explicit, end = marked
    start, _, _ = _element(data, 0x00100010, explicit)  # the name, the first of the patient's
    patient = data[start:end]
    data = data[:start] + data[end:]
    tag = pydicom.datadict.tag_for_keyword(keyword)
    if keyword == "NumberOfFrames":  # CT_small has none: one after SamplesPerPixel (0028,0002)
        _, at, length = _element(data, 0x00280002, explicit)
        header = struct.pack("<HH", 0x0028, 0x0008) + (b"IS\x02\x00" if explicit else b"\x02\x00\x00\x00")
        cut = at + (2 if explicit else 4) + length
        data = data[:cut] + header + b"1 " + data[cut:]
    _, at, length = _element(data, tag, explicit)
    value = at + (2 if explicit else 4)
    data = _with_length(data, at, length + len(patient), explicit)
    (tmp_path / "ct").mkdir()
    path = tmp_path / "ct" / "ct.dcm"
    path.write_bytes(data[: value + length] + patient + data[value + length :])
    assert NAME in str(pydicom.dcmread(path)[tag].value)  # the damage, as pydicom reads it
    _check(tmp_path / "ct", path)


def test_contour_data_of_the_patient_is_not_shown(tmp_path):
    # ContourData that is no number, the name's bytes (a damaged length), was quoted by NumPy's
    # 'could not convert string to float: ...'.
    image = Volume(np.zeros((5, 12, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), np.eye(3))
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": [square_contour(image, 2, 1.5, 6.5)]})
    data = path.read_bytes()
    head = data.index(b"\x06\x30\x50\x00DS")
    length = struct.unpack_from("<H", data, head + 6)[0]
    marked = f"1\\{NAME}\\{PATIENT}".encode().ljust(length, b" ")
    path.write_bytes(data[: head + 8] + marked + data[head + 8 + length :])
    for call in (lambda: read_rtstruct(path, image), lambda: rtstruct_roi_names(path)):
        told = _told(call)
        assert not MARKERS.search(told), told
