"""Header values longer than their VR allows, as real exports write them (the IBSI validation data's
StudyID): read without pydicom's warnings and log records, also under warnings as errors and pydicom's
RAISE mode, which made such a file unreadable; pydicom's mode comes back after."""

import logging
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom
import pytest
from rtstruct_files import square_contour, write_structure_set
from seg_files import seg_sources, write_seg

import gpuimg
from gpuimg.cli import main
from gpuimg.io import list_series, read_rtstruct, read_seg, rtstruct_roi_names

#: Values longer than their VR allows: pydicom checks lengths as it reads (its warning gives the length).
INVALID = {
    "StudyID": "S" * 17,  # SH: at most 16 characters
    "AccessionNumber": "A" * 17,  # SH
    "StudyDescription": "D" * 70,  # LO: at most 64
}


def _rewrite(path, values, implicit=False):
    """Set ``values`` in the file ``path`` as they are (pydicom's checks off while it writes them), in
    implicit VR little endian where ``implicit`` (which pydicom reads; gpuimg's quick reader takes only
    explicit VR)."""
    with pydicom.config.disable_value_validation():
        ds = pydicom.dcmread(path)
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        if implicit:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(path)


@pytest.fixture(params=["implicit VR", "explicit VR"])
def invalid_series(request, tmp_path, make_volume):
    """A CT series whose headers hold the INVALID values: (folder, files)."""
    files = gpuimg.write_dicom(make_volume(shape=(4, 9, 7)), tmp_path / "ct")
    for path in files:
        _rewrite(path, INVALID, implicit=request.param == "implicit VR")
    return tmp_path / "ct", files


@pytest.fixture
def quiet(caplog):
    """Warnings as errors; after the test, no record of pydicom's logger."""
    caplog.set_level(logging.DEBUG, logger="pydicom")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pydicom")] == []


def test_pydicom_itself_warns_and_logs(invalid_series, caplog):
    # The premise: pydicom's default checks warn and log as it reads them.
    caplog.set_level(logging.WARNING, logger="pydicom")
    with pytest.warns(UserWarning, match=r"The value length \(18\) exceeds the maximum length of 16"):
        pydicom.dcmread(invalid_series[1][0]).get("StudyID")
    assert any("exceeds the maximum length" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode", ["WARN", "RAISE"])
def test_a_series_with_invalid_values_reads_as_pydicom_reads_its_pixels(
    invalid_series, quiet, mode, monkeypatch, pydicom_reference
):
    folder, files = invalid_series
    monkeypatch.setattr(pydicom.config.settings, "reading_validation_mode", getattr(pydicom.config, mode))
    volume = gpuimg.read_dicom(folder, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pydicom.config.disable_value_validation():
            want = pydicom_reference(files)
    assert volume.shape == want.shape
    # Each of pydicom's slices is one of ours (read_dicom orders them by position; the voxels are random).
    found_at = [np.flatnonzero(np.all(volume.data == s, axis=(1, 2))) for s in want]
    assert sorted(int(k[0]) for k in found_at if k.size == 1) == list(range(len(files)))
    found = list_series(folder)
    assert [s.n_slices for s in found] == [len(files)] and not found.broken
    assert found[0].study_id == INVALID["StudyID"]
    # The user's mode is back.
    assert pydicom.config.settings.reading_validation_mode == getattr(pydicom.config, mode)


def test_the_mode_comes_back_after_reads_in_several_threads_and_after_an_error(invalid_series, tmp_path):
    folder, _ = invalid_series
    before = pydicom.config.settings.reading_validation_mode
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda _: gpuimg.read_dicom(folder, device="cpu").shape, range(8)))
    assert set(shapes) == {(4, 9, 7)}
    assert pydicom.config.settings.reading_validation_mode == before
    with pytest.raises(gpuimg.DicomError):
        gpuimg.read_dicom(tmp_path / "nothing here")
    assert pydicom.config.settings.reading_validation_mode == before


def test_a_structure_set_with_invalid_values_reads(tmp_path, quiet):
    image = gpuimg.Volume(np.zeros((5, 12, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0))
    name = "GTV_" + "x" * 66  # an LO of 70 characters (64 allowed), which both readers read
    with pydicom.config.disable_value_validation():
        path = write_structure_set(tmp_path / "rs.dcm", {name: [square_contour(image, 2, 1.5, 6.5)]})
    _rewrite(path, INVALID, implicit=True)
    assert rtstruct_roi_names(path) == [name]
    expected = np.zeros(image.shape, np.uint8)
    expected[2, 2:7, 2:7] = 1  # voxel centres 2..6 inside the square (closed form)
    np.testing.assert_array_equal(read_rtstruct(path, image, "GTV").data, expected)


def test_a_seg_with_invalid_values_reads(tmp_path, quiet):
    pytest.importorskip("highdicom")
    volume = gpuimg.Volume(np.zeros((3, 6, 5), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0))
    files = gpuimg.write_dicom(volume, tmp_path / "ct")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # highdicom's own, while the SEG is written
        mask = np.random.default_rng(0).random(volume.shape) < 0.4
        path = write_seg(tmp_path / "seg.dcm", seg_sources(files), {"Tumour": mask})
    label = "Tumour_" + "x" * 63  # an LO of 70 characters, which read_seg matches
    with pydicom.config.disable_value_validation():
        ds = pydicom.dcmread(path)
        ds.SegmentSequence[0].SegmentLabel = label
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(path)
    image = gpuimg.read_dicom(tmp_path / "ct", device="cpu")
    found = read_seg(path, image, "Tumour")
    assert found.meta["roi"] == label
    np.testing.assert_array_equal(found.data, mask)


def test_gpuimg_info_shows_no_invalid_value(invalid_series, quiet, capsys):
    assert main(["info", str(invalid_series[0])]) == 0
    out, err = capsys.readouterr()
    assert "1 series" in out and "4x9x7" in out and "unreadable" not in out + err


def test_the_ibsi_validation_ct_and_its_rtstruct_read_under_warnings_as_errors(shared_data, quiet):
    # Its StudyID is 17 characters: every file of the series was a "damaged header" before.
    study = shared_data("ibsi/validation_sts/STS_001/CT")
    image = gpuimg.read_dicom(study / "image", device="cpu")
    mask = read_rtstruct(next((study / "mask").glob("*.dcm")), image, "GTV")
    assert image.shape == mask.shape and mask.data.any()


def test_a_name_too_long_for_its_vr_is_read_to_be_scrubbed(tmp_path, quiet, capsys):
    # gpuimg info replaces the patient's name (read with read_identity) in the folders it shows; a name
    # component over 64 characters made pydicom warn, under warnings as errors the read failed, and the
    # folder named after the patient was shown as it is.
    given = "J" * 70
    folder = tmp_path / given
    files = gpuimg.write_dicom(gpuimg.Volume(np.zeros((2, 4, 4), np.int16), (1.0, 1.0, 1.0)), folder / "ct")
    for path in files:
        _rewrite(path, {"PatientName": f"Smith^{given}"}, implicit=True)
    assert main(["info", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "1 series under" in out and given not in out + err and "[name]" in out


def test_a_warning_of_read_dicom_points_at_its_caller(invalid_series):
    # Reading without pydicom's checks takes a block, not a decorator, whose frame would have stood
    # between the warning and the caller: it pointed at contextlib.py.
    folder, files = invalid_series
    for path in files:
        with pydicom.config.disable_value_validation():
            ds = pydicom.dcmread(path)
            del ds.PixelSpacing
            ds.save_as(path)
    with pytest.warns(UserWarning, match="no PixelSpacing") as caught:
        gpuimg.read_dicom(folder, device="cpu")
    assert {w.filename for w in caught} == {__file__}
    # list_series checks the stack one level deeper than read_dicom: a fixed stacklevel pointed its
    # warning into gpuimg/io/series.py.
    with pytest.warns(UserWarning, match="no PixelSpacing") as caught:
        gpuimg.io.list_series(folder)
    assert {w.filename for w in caught} == {__file__}


def test_a_warning_of_a_damaged_description_points_at_the_caller(invalid_series):
    # The warning of a text value that cannot be right (control characters: a damaged length) came
    # from a helper reached at one depth from read_dicom and another from list_series.
    folder, files = invalid_series
    for path in files:
        with pydicom.config.disable_value_validation():
            ds = pydicom.dcmread(path)
            ds.SeriesDescription = "chest\x01\x10"
            ds.save_as(path)
    with pytest.warns(UserWarning, match="SeriesDescription is damaged") as caught:
        gpuimg.read_dicom(folder, device="cpu")
    assert {w.filename for w in caught} == {__file__}
    with pytest.warns(UserWarning, match="SeriesDescription is damaged") as caught:
        list_series(folder)
    assert {w.filename for w in caught} == {__file__}
