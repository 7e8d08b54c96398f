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

import gpuimg
from gpuimg import Volume
from gpuimg._cli_info import info
from gpuimg.errors import GpuimgError
from gpuimg.io import list_series, read_dicom, read_rtstruct, read_seg, rtstruct_roi_names
from gpuimg.io._unchecked import unchecked_values

# highdicom's, building SEG files on write_dicom's series, whose patient name is ANONYMOUS.
pytestmark = pytest.mark.filterwarnings('ignore:The string "ANONYMOUS" is unlikely')

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


@pytest.fixture(
    params=[(True, 1), (False, 1), (True, 2), (False, 2)],
    ids=["explicit", "implicit", "explicit-two-names", "implicit-two-names"],
)
def marked(request, testfile, tmp_path):
    """CT_small.dcm with the markers as the patient's name (one, or two: a backslash, which makes pydicom
    read a value that runs over it as a list), birth date and ID (explicit or implicit VR little
    endian), its bytes, and where the patient's elements end."""
    explicit, names = request.param
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    ds.PatientName = NAME if names == 1 else f"{NAME}\\Other^Name"
    ds.PatientBirthDate, ds.PatientID = BIRTH, PATIENT
    ds.SeriesDescription = "Chest"
    if not explicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(tmp_path / "source.dcm", implicit_vr=not explicit, little_endian=True)
    data = (tmp_path / "source.dcm").read_bytes()
    _, at, length = _element(data, 0x00100030, explicit)  # PatientBirthDate, after name and ID
    return data, explicit, at + (2 if explicit else 4) + length


def _as_read(path, tag: int):
    """The value of ``tag`` as pydicom reads it, without its warning of a value longer than its VR allows."""
    with unchecked_values():
        return pydicom.dcmread(path)[tag].value


def _shown(volume: Volume) -> dict:
    """A Volume's meta but its patient ID, which the file's PatientID is."""
    return {key: value for key, value in volume.meta.items() if key != "patient_id"}


def _check(folder, path):
    for call in (
        lambda: _shown(read_dicom(folder, device="cpu")),
        lambda: _shown(read_dicom(path, device="cpu")),
        lambda: [
            (s.series_uid, s.modality, s.description, s.study_uid, s.study_id, s.problem)
            for s in list_series(folder)
        ],
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
    assert NAME in str(_as_read(path, tag))  # the damage, as pydicom reads it
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
    value = _as_read(path, tag)
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
    assert "different modalities (CT, a damaged one)" in told
    _check(tmp_path / "ct", damaged)


def _behind(marked, keyword: str) -> bytes:
    """The file of ``marked`` with the patient's elements moved behind the value of ``keyword`` (their own
    place left empty), and its length taking them in, as one damaged length and a misplaced module
    leave them."""
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
    return data[: value + length] + patient + data[value + length :]


@pytest.mark.parametrize("keyword", ["SliceThickness", "InstanceNumber", "NumberOfFrames"])
def test_a_number_run_over_the_patient_is_not_shown(tmp_path, marked, keyword):
    # A DS or IS whose length runs over the patient's elements: they follow its value in the file.
    (tmp_path / "ct").mkdir()
    path = tmp_path / "ct" / "ct.dcm"
    path.write_bytes(_behind(marked, keyword))
    tag = pydicom.datadict.tag_for_keyword(keyword)
    assert NAME in str(_as_read(path, tag))  # the damage, as pydicom reads it
    _check(tmp_path / "ct", path)


@pytest.mark.parametrize(
    "keyword",
    ["SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "StudyID", "PhotometricInterpretation"],
)
def test_a_text_value_after_the_patient_run_over_it_is_not_shown(tmp_path, marked, keyword):
    # A UID, an ID or a code string whose length runs over the patient's elements (behind it): the
    # series UID was shown in SeriesInfo and messages, the others in the Volume's meta, SeriesInfo and
    # the message of colour pixels. Such a header is damaged.
    (tmp_path / "ct").mkdir()
    path = tmp_path / "ct" / "ct.dcm"
    data, explicit = _behind(marked, keyword), marked[1]
    if keyword == "PhotometricInterpretation":  # colour pixels (3 samples of 128 x 42), which name it
        for tag, number in ((0x00280002, 3), (0x00280011, 42)):
            _, at, _ = _element(data, tag, explicit)
            value = at + (2 if explicit else 4)
            data = data[:value] + struct.pack("<H", number) + data[value + 2 :]
    path.write_bytes(data)
    assert NAME in str(_as_read(path, pydicom.datadict.tag_for_keyword(keyword)))  # the damage
    told = _told(lambda: list(list_series(tmp_path / "ct").broken.values()))  # unreadable: damaged
    assert f"its {keyword} " in told and "runs into the next elements" in told, told
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


def _marked_object(path, explicit: bool) -> tuple[bytes, bool, int]:
    """The file ``path`` (an RTSTRUCT, a SEG, an image) with the markers as its patient's two names, ID and
    birth date (its patient module), in explicit or implicit VR little endian, as ``marked`` gives. Its
    sequences and items are of undefined length, as many writers give them, so that a value within one
    whose length runs on is read on (in an item of defined length, pydicom reads it to the item's end)."""
    ds = pydicom.dcmread(path)
    ds.PatientName, ds.PatientBirthDate, ds.PatientID = f"{NAME}\\Other^Name", BIRTH, PATIENT
    for element in ds.iterall():
        if element.VR == "SQ":
            element.is_undefined_length = True
            for item in element.value:
                item.is_undefined_length_sequence_item = True
    if not explicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=not explicit, little_endian=True)
    data = path.read_bytes()
    _, at, length = _element(data, 0x00100030, explicit)
    return data, explicit, at + (2 if explicit else 4) + length


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
def test_an_roi_name_or_segment_label_run_over_the_patient_is_not_shown(tmp_path, explicit):
    # An ROIName (or SegmentLabel) whose length takes in the patient's elements behind it was the name
    # rtstruct_roi_names gave, and read_rtstruct's mask's meta["roi"] (read_seg's too).
    from seg_files import seg_sources, write_seg

    image = Volume(np.zeros((3, 12, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), np.eye(3))
    files = gpuimg.write_dicom(image, tmp_path / "ct")
    image = read_dicom(tmp_path / "ct", device="cpu")
    rs = write_structure_set(tmp_path / "rs.dcm", {"GTV": [square_contour(image, 1, 1.5, 6.5)]})
    mask = np.zeros(image.shape, bool)
    mask[1, 2:6, 3:7] = True
    seg = write_seg(tmp_path / "seg.dcm", seg_sources(files), {"Lesion": mask})
    rs.write_bytes(_behind(_marked_object(rs, explicit), "ROIName"))
    seg.write_bytes(_behind(_marked_object(seg, explicit), "SegmentLabel"))
    for call in (
        lambda: rtstruct_roi_names(rs),
        lambda: read_rtstruct(rs, image, 1).meta,
        lambda: read_seg(seg, image, 1).meta,
    ):
        told = _told(call)
        assert "runs into the next elements" in told and not MARKERS.search(told), told


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
@pytest.mark.parametrize("keyword", ["FrameOfReferenceUID", "SeriesInstanceUID", "SegmentationType"])
def test_a_seg_value_run_over_the_patient_is_not_shown(tmp_path, explicit, keyword):
    # The SEG's FrameOfReferenceUID, the UID of the series it was drawn on (ReferencedSeriesSequence,
    # before the patient's elements) or its SegmentationType, whose length takes in the patient's
    # elements behind it, was shown by read_seg's message of another frame of reference, of a series of
    # other slices, or of an unknown type.
    from seg_files import seg_sources, write_seg

    image = Volume(np.zeros((3, 12, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), np.eye(3))
    files = gpuimg.write_dicom(image, tmp_path / "ct")
    image = read_dicom(tmp_path / "ct", device="cpu")
    mask = np.zeros(image.shape, bool)
    mask[:, 2:6, 3:7] = True
    seg = write_seg(tmp_path / "seg.dcm", seg_sources(files), {"Lesion": mask})
    seg.write_bytes(_behind(_marked_object(seg, explicit), keyword))
    meta = {"series_uid": "1.2.3.4", "frame_of_reference_uid": image.meta["frame_of_reference_uid"]}
    if keyword == "FrameOfReferenceUID":
        meta["frame_of_reference_uid"] = "1.2.3"
    # The image on a grid of half the slice spacing: the SEG's frames fall on one slice in 2.
    thin = Volume(np.zeros((5, 12, 12), np.int16), (1.25, 0.8, 1.1), image.origin, image.direction, meta)
    told = _told(lambda: read_seg(seg, thin, 1).meta)
    assert "runs into the next elements" in told and not MARKERS.search(told), told


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
def test_a_value_telling_apart_images_at_one_position_run_over_the_patient_is_not_shown(
    tmp_path, testfile, explicit
):
    # Two images at one position whose StackID differs were named by it ('Their StackID differ (1, ...)');
    # one whose length takes in the patient's elements behind it was shown.
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    ds.StackID = "2"
    (tmp_path / "ct").mkdir()
    path = tmp_path / "ct" / "b.dcm"
    ds.save_as(path)
    path.write_bytes(_behind(_marked_object(path, explicit), "StackID"))
    # The other image, of no patient ID, as the damaged one holds none where it belongs.
    ds.StackID, ds.SOPInstanceUID = "1", pydicom.uid.generate_uid()
    del ds.PatientID
    ds.save_as(tmp_path / "ct" / "a.dcm")
    told = _told(lambda: read_dicom(tmp_path / "ct", device="cpu"))
    assert "are both at" in told, told  # two images at one position
    _check(tmp_path / "ct", path)


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
def test_a_window_name_run_over_the_patient_is_not_kept(tmp_path, testfile, explicit):
    # A WindowCenterWidthExplanation whose length takes in the patient's elements behind it was the
    # windows' names in the Volume's meta. The presets are kept, without names.
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = [40, -600], [400, 1500]
    ds.WindowCenterWidthExplanation = ["SOFT", "LUNG"]
    (tmp_path / "ct").mkdir()
    path = tmp_path / "ct" / "ct.dcm"
    ds.save_as(path)
    path.write_bytes(_behind(_marked_object(path, explicit), "WindowCenterWidthExplanation"))
    with pytest.warns(UserWarning, match="its WindowCenterWidthExplanation is damaged"):
        windows = read_dicom(path, device="cpu").meta["windows"]
    assert [(w["center"], w["width"], w["name"]) for w in windows] == [(40, 400, ""), (-600, 1500, "")]
    _check(tmp_path / "ct", path)


def test_a_name_of_several_values_is_read_as_written(tmp_path):
    # pydicom gives a name holding a backslash as a list, which str wrote as its repr.
    image = Volume(np.zeros((3, 12, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), np.eye(3))
    rs = write_structure_set(tmp_path / "rs.dcm", {"GTV\\Lung": [square_contour(image, 1, 1.5, 6.5)]})
    assert rtstruct_roi_names(rs) == ["GTV\\Lung"]
