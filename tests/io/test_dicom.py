"""read_dicom against pydicom (voxels) and SimpleITK (geometry), and every way a series can be bad."""

import os
import shutil
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy.spatial.transform import Rotation

import gpuimg
from gpuimg import DicomError, GeometryError
from gpuimg.io import _pixels as pixels_module
from gpuimg.io import read_dicom, write_dicom

# Positions and cosines travel as 16-character decimal strings (DICOM DS) in both readers' inputs, and
# SimpleITK recomputes spacing from positions in its own way: 1e-4 mm is far below any voxel size.
GEOMETRY_ATOL = 1e-4
DICOMDIR = "dicomdirtests"


def assert_geometry(volume, reference):
    _, spacing, origin, direction = reference
    np.testing.assert_allclose(volume.spacing, spacing, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.origin, origin, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.direction, direction, atol=GEOMETRY_ATOL)


def test_random_oblique_series_matches_pydicom_and_simpleitk(
    series, sitk_read, sitk_files, pydicom_reference
):
    folder, _, _ = series
    files = sitk_files(folder)
    volume = read_dicom(folder, device="cpu")
    reference = sitk_read(files)
    assert_geometry(volume, reference)
    np.testing.assert_array_equal(volume.data, pydicom_reference(files))
    np.testing.assert_array_equal(volume.data, reference[0])
    assert volume.data.dtype == np.int16


def test_slices_are_ordered_by_position_not_instance_number(series, pydicom_reference, sitk_files):
    folder, _, files = series
    for path, number in zip(files, [5, 2, 8, 1, 7, 3, 6, 4], strict=True):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = number
        ds.save_as(path)
    volume = read_dicom(folder, device="cpu")
    np.testing.assert_array_equal(volume.data, pydicom_reference(sitk_files(folder)))


def test_ct5n_instance_numbers_against_position(testfile, sitk_read, sitk_files, pydicom_reference):
    folder = testfile(f"{DICOMDIR}/98892001/CT5N")
    volume = read_dicom(folder, device="cpu")
    files = sitk_files(folder)
    assert_geometry(volume, sitk_read(files))
    np.testing.assert_array_equal(volume.data, pydicom_reference(files))
    numbers = [pydicom.dcmread(f).InstanceNumber for f in volume.meta["files"]]
    assert numbers == sorted(numbers, reverse=True)  # lowest slice has the highest InstanceNumber


def test_spacing_comes_from_positions_not_slice_thickness(series, sitk_read, sitk_files):
    folder, volume, files = series
    for path in files:
        ds = pydicom.dcmread(path)
        ds.SliceThickness = volume.spacing[0] * 3
        ds.save_as(path)
    read = read_dicom(folder, device="cpu")
    np.testing.assert_allclose(read.spacing[0], volume.spacing[0], atol=GEOMETRY_ATOL)
    assert_geometry(read, sitk_read(sitk_files(folder)))


@pytest.mark.parametrize(
    ("slope", "intercept", "dtype"),
    [(1, -1024, np.int16), (2, -1000, np.int16), (0.5, -1024.25, np.float32), (1, 40000, np.float32)],
)
def test_rescale_per_slice_and_dtype(
    tmp_path, make_volume, pydicom_reference, sitk_files, slope, intercept, dtype
):
    volume = make_volume(shape=(4, 6, 5))
    files = write_dicom(volume, tmp_path)
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept + k  # a different rescale on each slice
        ds.PixelRepresentation = 0
        ds.PixelData = (np.abs(ds.pixel_array.astype(np.int32)) % 4096).astype(np.uint16).tobytes()
        ds.save_as(path)
    read = read_dicom(tmp_path, device="cpu")
    assert read.data.dtype == dtype
    # float32 holds the float64 reference to its own precision.
    np.testing.assert_allclose(read.data, pydicom_reference(sitk_files(tmp_path)), rtol=1e-6)
    assert read.meta["rescale"]["intercept"] == [intercept + k for k in range(4)]


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_expb.dcm",
        "693_J2KI.dcm",
        "J2K_pixelrep_mismatch.dcm",  # signed CT whose J2K codestream says unsigned: pydicom's correction
        "MR_small_padded.dcm",  # 128 bytes of padding after the pixels (pydicom warns and drops them)
        "examples_overlay.dcm",  # 12-bit MR with an overlay plane in group 6000: pixels unaffected
    ],
)
@pytest.mark.filterwarnings("ignore:The pixel data is 8320 bytes long")  # pydicom's, on the padded file
def test_single_files_and_encodings(testfile, name, sitk_read, pydicom_reference):
    path = testfile(name)
    padded = name == "MR_small_padded.dcm"  # gpuimg warns of the excess too, naming what it could be
    with pytest.warns(UserWarning, match="8320 bytes, 128 more than") if padded else nullcontext():
        volume = read_dicom(path, device="cpu")
    np.testing.assert_array_equal(volume.data, pydicom_reference([path]))
    _, spacing, origin, direction = sitk_read([path])
    np.testing.assert_allclose(volume.origin, origin, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.spacing[1:], spacing[1:], atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.direction, direction, atol=GEOMETRY_ATOL)
    assert volume.meta["modality"] in ("CT", "MR")


def test_meta(testfile):
    volume = read_dicom(testfile("MR_small.dcm"), device="cpu")
    ds = pydicom.dcmread(testfile("MR_small.dcm"))
    assert volume.meta["series_uid"] == ds.SeriesInstanceUID
    assert volume.meta["patient_id"] == ds.PatientID
    assert volume.meta["windows"][0]["center"] == float(ds.WindowCenter)
    assert volume.meta["rescale"] == {"slope": 1.0, "intercept": 0.0}


def test_enhanced_multiframe_ct(enhanced_ct, rng):
    """An enhanced CT built by hand: frames out of order, positions and rescale per frame."""
    n, rows, cols = 5, 6, 7
    stored = rng.integers(0, 4000, (n, rows, cols)).astype(np.uint16)
    order = rng.permutation(n)
    per_frame = []
    for k in order:
        item = pydicom.Dataset()
        item.PlanePositionSequence = [pydicom.Dataset()]
        item.PlanePositionSequence[0].ImagePositionPatient = [-10.0, 20.0, 100.0 + 2.0 * k]
        item.PixelValueTransformationSequence = [pydicom.Dataset()]
        item.PixelValueTransformationSequence[0].RescaleSlope = 1
        item.PixelValueTransformationSequence[0].RescaleIntercept = -1024 - k
        per_frame.append(item)
    path = enhanced_ct(stored[order], per_frame)
    volume = read_dicom(path, device="cpu")
    expected = stored.astype(np.int32) - 1024 - np.arange(n)[:, None, None]
    np.testing.assert_array_equal(volume.data, expected)
    assert volume.spacing == (2.0, 0.5, 0.75)
    assert volume.origin == (-10.0, 20.0, 100.0)


@pytest.mark.parametrize(("group", "spacing", "thickness"), [("shared", 5.0, 3.0), ("per_frame", None, 2.5)])
def test_a_single_frame_enhanced_file_takes_its_z_spacing_from_its_pixel_measures(
    tmp_path, group, spacing, thickness
):
    """An enhanced CT of one frame has no position step: its z spacing is SpacingBetweenSlices, else
    SliceThickness, which an enhanced file gives in its Pixel Measures functional group, not at the top
    level where they were looked for: 1 mm was taken."""
    ds = pydicom.dcmread(
        write_dicom(gpuimg.Volume(np.arange(42, dtype=np.int16).reshape(1, 6, 7)), tmp_path / "s")[0]
    )
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.EnhancedCTImageStorage
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.NumberOfFrames = 1
    measures = _item(PixelSpacing=[0.5, 0.75], SliceThickness=thickness)
    if spacing is not None:
        measures.SpacingBetweenSlices = spacing
    shared = _item(PlaneOrientationSequence=[_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])])
    frame = _item(PlanePositionSequence=[_item(ImagePositionPatient=[0.0, 0.0, 10.0])])
    (shared if group == "shared" else frame).PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence, ds.PerFrameFunctionalGroupsSequence = [shared], [frame]
    path = tmp_path / "one_frame.dcm"
    ds.save_as(path)
    # What the file says, by pydicom: the spacing (else the thickness) in its Pixel Measures.
    read_back = pydicom.dcmread(path)
    holder = (
        read_back.SharedFunctionalGroupsSequence[0]
        if group == "shared"
        else read_back.PerFrameFunctionalGroupsSequence[0]
    )
    item = holder.PixelMeasuresSequence[0]
    expected = float(item.SpacingBetweenSlices if "SpacingBetweenSlices" in item else item.SliceThickness)
    volume = read_dicom(path, device="cpu")
    assert volume.spacing == (expected, 0.5, 0.75)
    np.testing.assert_array_equal(volume.data, read_back.pixel_array.reshape(1, 6, 7))


def test_upload_to_requested_device(series):
    volume = read_dicom(series[0], device="cpu")
    assert volume.device == "cpu" and isinstance(volume.data, np.ndarray)


# --- series that are not volumes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "error", "words"),
    [
        ("77654033/CR1", DicomError, "no ImagePositionPatient"),
        ("98892001/CT2N", GeometryError, "orientations"),
        ("98892003/MR700", GeometryError, "orientations"),
        ("77654033/CT2", GeometryError, "161 slices are missing"),
        ("98892003/MR2", DicomError, "3 series"),
    ],
)
def test_pydicom_non_volume_series_refused(testfile, folder, error, words):
    path = testfile(f"{DICOMDIR}/{folder}")
    with pytest.raises(error) as info:
        read_dicom(path, device="cpu")
    assert words in str(info.value)


def test_mixed_scout_series_message_names_files(testfile):
    path = testfile(f"{DICOMDIR}/98892001/CT2N")
    with pytest.raises(GeometryError, match="6293") as info:
        read_dicom(path, device="cpu")
    assert "6924" in str(info.value)


def test_ct2_gap_reads_with_allow_gaps(testfile, pydicom_reference):
    path = testfile(f"{DICOMDIR}/77654033/CT2")
    with pytest.warns(UserWarning, match="161 missing"):
        volume = read_dicom(path, device="cpu", allow_gaps=True)
    assert volume.shape[0] == 1 + 161 + 3
    np.testing.assert_allclose(volume.spacing[0], 1.25, atol=GEOMETRY_ATOL)
    files = sorted(path.iterdir(), key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))
    reference = pydicom_reference(files)
    np.testing.assert_array_equal(volume.data[[0, 162, 163, 164]], reference)
    assert volume.meta["missing_slices"] == list(range(1, 162))


def test_several_series_listed_and_chosen(testfile, pydicom_reference):
    path = testfile(f"{DICOMDIR}/98892003/MR1")
    with pytest.raises(DicomError, match="FAST LOCALIZER") as info:
        read_dicom(path, device="cpu")
    assert "series_uid=" in str(info.value)
    uid = pydicom.dcmread(path / "4919").SeriesInstanceUID
    volume = read_dicom(path, series_uid=uid, device="cpu")
    np.testing.assert_array_equal(volume.data, pydicom_reference([path / "4919"]))
    with pytest.raises(DicomError, match=r"No series 1\.2\.3"):
        read_dicom(path, series_uid="1.2.3", device="cpu")


# --- bad files built from a good random series ------------------------------------------------------


@pytest.mark.filterwarnings('ignore:The string "ANONYMOUS" is unlikely')  # highdicom's, on our names
def test_a_segmentation_beside_its_image_is_not_a_series_to_choose(series, pydicom_reference, sitk_files):
    # A study's folder of a CT and its DICOM SEG (as TCIA and PACS export them): read_dicom asked to
    # choose between them ('The files hold 2 series; pass series_uid='), offering the SEG, which it
    # refuses, while an RTSTRUCT beside the CT was left out without a question. So for a dose report.
    pytest.importorskip("highdicom")
    from seg_files import seg_sources, write_seg

    folder, volume, files = series
    box = np.zeros(volume.shape, bool)
    box[2:5, 3:7, 2:6] = True
    (folder.parent / "seg").mkdir()
    write_seg(folder.parent / "seg" / "seg.dcm", seg_sources(files), {"lesion": box})
    study = folder.parent
    # By pydicom: the study holds 2 series, the CT and a SEG.
    modalities = {pydicom.dcmread(p).Modality for p in study.rglob("*.dcm")}
    assert modalities == {"CT", "SEG"}
    read = read_dicom(study, device="cpu")
    np.testing.assert_array_equal(read.data, pydicom_reference(sitk_files(folder)))
    assert read.meta["modality"] == "CT"
    # A scanner's dose report beside them, a secondary capture without a position: the same.
    report = pydicom.dcmread(files[0])
    report.SeriesInstanceUID, report.SOPInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
    del report.ImagePositionPatient, report.ImageOrientationPatient
    report.save_as(study / "dose_report.dcm")
    np.testing.assert_array_equal(read_dicom(study, device="cpu").data, read.data)
    # Two image series beside them: the choice is still the user's.
    write_dicom(volume, study / "second")
    with pytest.raises(DicomError, match="The files hold 4 series; pass series_uid="):
        read_dicom(study, device="cpu")


def test_a_scout_series_beside_its_ct_is_not_a_series_to_choose(series, pydicom_reference, sitk_files):
    # A CT study's folder as a PACS exports it: the topogram (ImageType ...\LOCALIZER, a series of its
    # own, coronal) beside the axial series. read_dicom asked to choose ('The files hold 2 series').
    folder, _, files = series
    study = folder.parent
    for k in range(2):  # a frontal and a lateral scout
        scout = pydicom.dcmread(files[0])
        if k == 0:
            uid = pydicom.uid.generate_uid()
        scout.SeriesInstanceUID, scout.SOPInstanceUID = uid, pydicom.uid.generate_uid()
        scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        scout.ImageOrientationPatient = [[1, 0, 0, 0, 0, -1], [0, 1, 0, 0, 0, -1]][k]
        (study / "scout").mkdir(exist_ok=True)
        scout.save_as(study / "scout" / f"{k}.dcm")
    # By pydicom: 2 series, one of LOCALIZER images only.
    types = {
        str(pydicom.dcmread(p).SeriesInstanceUID): pydicom.dcmread(p).ImageType[2]
        for p in study.rglob("*.dcm")
    }
    assert len(types) == 2 and "LOCALIZER" in types.values()
    read = read_dicom(study, device="cpu")
    np.testing.assert_array_equal(read.data, pydicom_reference(sitk_files(folder)))
    # The scout is read when asked for; a series of scouts alone is read as before (refused here: it
    # mixes two orientations).
    with pytest.raises(GeometryError, match="mixes 2 different orientations"):
        read_dicom(study, series_uid=uid, device="cpu")


def test_a_scout_stored_in_the_series_of_its_slices_is_left_out_with_a_warning(
    series, sitk_read, sitk_files, pydicom_reference
):
    # A CT exported with its topogram under the axial series' SeriesInstanceUID: refused as a series
    # that 'mixes 2 different orientations', though the scout says what it is (ImageType LOCALIZER).
    folder, volume, files = series
    order = sitk_files(folder)  # SimpleITK's order of the axial slices, before the scout is added
    scout = pydicom.dcmread(files[0])
    scout.SOPInstanceUID = pydicom.uid.generate_uid()
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    scout.save_as(folder / "scout.dcm")
    assert len({pydicom.dcmread(p).SeriesInstanceUID for p in folder.iterdir()}) == 1  # one series
    with pytest.warns(UserWarning) as caught:
        read = read_dicom(folder, device="cpu")
    assert str(caught[0].message).startswith(
        f"Series {scout.SeriesInstanceUID}: left out 1 LOCALIZER image ({folder / 'scout.dcm'}): the scout"
    )
    reference = sitk_read(order)
    assert_geometry(read, reference)
    np.testing.assert_array_equal(read.data, pydicom_reference(order))
    info = gpuimg.list_series(folder)[0]
    assert info.problem is None and info.shape == volume.shape and info.n_slices == len(files)
    assert len(info.files) == len(files) + 1
    np.testing.assert_array_equal(read_dicom(info, device="cpu").data, read.data)


def test_duplicate_slice(series):
    folder, _, files = series
    shutil.copy(files[3], folder / "copy.dcm")
    with pytest.raises(GeometryError, match="both at") as info:
        read_dicom(folder, device="cpu")
    assert "copy.dcm" in str(info.value) and files[3].name in str(info.value)
    assert str(info.value).endswith(
        "A slice was exported twice, or two acquisitions share one series; remove the extra files."
    )


def test_two_echoes_of_one_series_are_named_not_taken_for_extra_files(
    tmp_path, make_volume, sitk_read, pydicom_reference
):
    """A dual-echo MR exported under one SeriesInstanceUID (one file per echo and position): refused as
    duplicates 'exported twice ...; remove the extra files', which would drop an echo, not read one."""
    volume = make_volume(shape=(4, 6, 5))
    first = write_dicom(volume, tmp_path / "echo1", modality="MR")
    second = write_dicom(volume, tmp_path / "echo2", modality="MR")
    for echo, files in ((1, first), (2, second)):
        for path in files:
            ds = pydicom.dcmread(path)
            if echo == 2:
                shared = pydicom.dcmread(first[0])
                for keyword in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
                    setattr(ds, keyword, shared.get(keyword))
                ds.SOPInstanceUID = pydicom.uid.generate_uid()
                ds.PixelData = (ds.pixel_array // 2).tobytes()
            ds.EchoNumbers, ds.EchoTime = echo, 20.0 * echo
            ds.save_as(path)
    # What the files hold, by pydicom: one series, 2 echoes at each of 4 positions.
    headers = [pydicom.dcmread(path) for path in first + second]
    assert len({ds.SeriesInstanceUID for ds in headers}) == 1
    assert sorted({int(ds.EchoNumbers) for ds in headers}) == [1, 2]
    with pytest.raises(GeometryError) as caught:
        read_dicom(tmp_path, device="cpu")
    message = str(caught.value)
    assert (
        "(4 duplicate positions in all). Their EchoNumbers differ (1, 2): the series holds 2 echoes"
        in message
    )
    assert message.endswith(
        "pass the files of one echo to read_dicom as a list of paths (pydicom.dcmread(path).EchoNumbers "
        "tells them apart)."
    )
    assert gpuimg.list_series(tmp_path)[0].problem == message
    # The advice works: each echo's files read as SimpleITK and pydicom read them.
    for files in (first, second):
        echo = read_dicom(files, device="cpu")
        reference = sitk_read(files)
        assert_geometry(echo, reference)
        np.testing.assert_array_equal(echo.data, reference[0])
        np.testing.assert_array_equal(echo.data, pydicom_reference(echo.meta["files"]))


def test_an_enhanced_file_of_several_time_points_is_named_as_such(tmp_path):
    """An enhanced MR of 2 time points x 3 slices in one file (FrameContentSequence): 'remove the extra
    files' cannot apply to frames of one file."""
    ds = pydicom.dcmread(
        next(iter(write_dicom(gpuimg.Volume(np.zeros((1, 4, 4), np.int16)), tmp_path / "seed")))
    )
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.EnhancedMRImageStorage
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        delattr(ds, keyword)
    ds.NumberOfFrames = 6
    shared = pydicom.Dataset()
    shared.PlaneOrientationSequence = [_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])]
    shared.PixelMeasuresSequence = [_item(PixelSpacing=[0.5, 0.5])]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for time in (1, 2):
        for z in range(3):
            item = pydicom.Dataset()
            item.PlanePositionSequence = [_item(ImagePositionPatient=[0.0, 0.0, 3.0 * z])]
            item.FrameContentSequence = [_item(TemporalPositionIndex=time)]
            frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.PixelData = np.zeros((6, 4, 4), np.int16).tobytes()
    path = tmp_path / "dynamic.dcm"
    ds.save_as(path)
    with pytest.raises(GeometryError) as caught:
        read_dicom(path, device="cpu")
    assert f"{path} (frame 1) and {path} (frame 4) are both at 0.000 mm" in str(caught.value)
    assert (
        "Their TemporalPositionIndex differ (1, 2): the series holds 2 time points at this position, so it "
        "is several volumes, and read_dicom reads one: read the frames of one time point with pydicom"
    ) in str(caught.value)


def test_a_multiframe_file_of_frames_at_one_position_is_named_not_taken_for_extra_files(tmp_path):
    """A classic multi-frame MR (a cine loop of 3 frames): one ImagePositionPatient for all its frames,
    no per-frame positions; 'remove the extra files' cannot apply to the frames of one file."""
    seed = write_dicom(gpuimg.Volume(np.zeros((1, 4, 4), np.int16)), tmp_path / "seed", modality="MR")
    ds = pydicom.dcmread(seed[0])
    ds.NumberOfFrames = 3
    ds.PixelData = np.arange(48, dtype=np.int16).tobytes()
    path = tmp_path / "cine.dcm"
    ds.save_as(path)
    # By pydicom: 3 frames, one position, nothing per frame.
    header = pydicom.dcmread(path)
    assert header.pixel_array.shape == (3, 4, 4) and "PerFrameFunctionalGroupsSequence" not in header
    with pytest.raises(GeometryError) as caught:
        read_dicom(path, device="cpu")
    assert str(caught.value).endswith(
        "(2 duplicate positions in all). They are 3 frames of one file that its header places at one "
        "position, with nothing to tell them apart (a cine loop, or a multi-frame file without a position "
        "for each frame), so it is no 3D volume: read its frames with pydicom "
        "(pydicom.dcmread(path).pixel_array) and make a gpuimg.Volume of those you want."
    )


def _item(**values) -> pydicom.Dataset:
    """A sequence item holding ``values``."""
    item = pydicom.Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def test_missing_slice(series, pydicom_reference):
    folder, volume, files = series
    files[4].unlink()
    with pytest.raises(GeometryError, match=r"1 slice is missing") as info:
        read_dicom(folder, device="cpu")
    assert files[5].name in str(info.value) and "allow_gaps=True" in str(info.value)
    with pytest.warns(UserWarning, match="1 missing"):
        read = read_dicom(folder, device="cpu", allow_gaps=True)
    assert read.shape == volume.shape and read.meta["missing_slices"] == [4]
    kept = [f for f in files if f.exists()]
    np.testing.assert_array_equal(read.data[[0, 1, 2, 3, 5, 6, 7]], pydicom_reference(kept))


def test_non_uniform_spacing(series):
    folder, volume, files = series
    ds = pydicom.dcmread(files[5])
    shift = 0.3 * volume.spacing[0] * volume.direction[:, 0]
    ds.ImagePositionPatient = [float(p) + s for p, s in zip(ds.ImagePositionPatient, shift, strict=True)]
    ds.save_as(files[5])
    with pytest.raises(GeometryError, match="not evenly spaced") as info:
        read_dicom(folder, device="cpu")
    assert files[5].name in str(info.value)


def test_mixed_image_sizes(series):
    folder, _, files = series
    ds = pydicom.dcmread(files[2])
    ds.Rows, ds.Columns = 4, 5
    ds.PixelData = np.zeros((4, 5), np.int16).tobytes()
    ds.save_as(files[2])
    with pytest.raises(GeometryError, match="image sizes") as info:
        read_dicom(folder, device="cpu")
    assert files[2].name in str(info.value) and "(4, 5)" in str(info.value)


def test_mixed_orientation(series):
    folder, _, files = series
    ds = pydicom.dcmread(files[2])
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(files[2])
    with pytest.raises(GeometryError, match="orientations") as info:
        read_dicom(folder, device="cpu")
    assert files[2].name in str(info.value)


def test_truncated_file(series):
    folder, _, files = series
    data = files[3].read_bytes()
    files[3].write_bytes(data[: len(data) - 40])
    with pytest.raises(DicomError, match="truncated") as info:
        read_dicom(folder, device="cpu")
    assert files[3].name in str(info.value)


def test_unreadable_file_in_file_list(series, tmp_path):
    _, _, files = series
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(files[0].read_bytes()[:300])
    with pytest.raises(DicomError, match=r"broken\.dcm"):
        read_dicom([*files, broken], device="cpu")


def test_a_folder_in_a_list_of_files_is_called_a_folder_not_missing(series, pydicom_reference, sitk_files):
    # read_dicom([folder]) (or a glob that took in a subfolder) said '<folder>: no such file. Check the
    # path.' of a folder that exists.
    folder, _, files = series
    assert os.path.isdir(folder)  # the system's answer, the reference
    for given in ([folder], [files[0], folder]):
        with pytest.raises(DicomError) as caught:
            read_dicom(given, device="cpu")
        assert str(caught.value) == (
            f"{folder}: a folder in the list of files. Pass a folder by itself, not in a list (read_dicom "
            "searches it), or list the files in it."
        )
    # Both ways it advises read the series.
    expected = pydicom_reference(sitk_files(folder))
    np.testing.assert_array_equal(read_dicom(folder, device="cpu").data, expected)
    np.testing.assert_array_equal(read_dicom(sorted(folder.iterdir()), device="cpu").data, expected)
    with pytest.raises(DicomError, match="no such file"):
        read_dicom([folder / "absent.dcm"], device="cpu")


def test_corrupt_file_outside_series_skipped_with_warning(series):
    folder, volume, files = series
    broken = folder / "other" / "broken.dcm"
    broken.parent.mkdir()
    broken.write_bytes(files[0].read_bytes()[:300])
    (folder / "notes.txt").write_text("not DICOM")
    with pytest.warns(UserWarning, match="broken.dcm"):
        read = read_dicom(folder, device="cpu")
    np.testing.assert_array_equal(read.data, volume.data)


def test_no_pixel_data(series):
    folder, _, files = series
    ds = pydicom.dcmread(files[6])
    del ds.PixelData
    ds.save_as(files[6])
    with pytest.raises(DicomError, match="no pixel data") as info:
        read_dicom(folder, device="cpu")
    assert files[6].name in str(info.value)


@pytest.mark.parametrize(
    ("dtype", "keyword", "message"),
    [
        (np.float32, "FloatPixelData", r"FloatPixelData \(7FE0,0008\).*parametric map.*pydicom"),
        (np.float64, "DoubleFloatPixelData", r"BitsAllocated is 64.*Double Float Pixel Data.*pydicom"),
    ],
)
def test_float_pixel_data_is_named_not_called_missing(tmp_path, rng, dtype, keyword, message):
    # Float Pixel Data (7FE0,0008), as parametric maps hold real values: pydicom reads it, and
    # read_dicom said the file had 'no pixel data ... only a header. Export the series again with images'.
    values = rng.normal(0, 100, (3, 4, 5)).astype(dtype)
    volume = gpuimg.Volume(np.zeros(values.shape, np.int16), (2.0, 0.5, 0.5), meta={"modality": "MR"})
    files = write_dicom(volume, tmp_path / "map")
    for path, plane in zip(files, values, strict=True):
        ds = pydicom.dcmread(path)
        for integer_only in ("PixelData", "PixelRepresentation", "BitsStored", "HighBit"):
            delattr(ds, integer_only)
        ds.BitsAllocated = 8 * values.itemsize
        setattr(ds, keyword, plane.tobytes())
        ds.save_as(path)
    np.testing.assert_array_equal(pydicom.dcmread(files[1]).pixel_array, values[1])  # a valid file
    with pytest.raises(DicomError, match=message) as info:
        read_dicom(tmp_path / "map", device="cpu")
    assert any(path.name in str(info.value) for path in files)


def test_unknown_transfer_syntax(series):
    folder, _, files = series
    ds = pydicom.dcmread(files[1])
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.3680043.99.1"  # a private syntax no decoder knows
    ds.save_as(files[1], enforce_file_format=True, implicit_vr=False, little_endian=True)
    with pytest.raises(DicomError, match=r"1\.2\.826\.0\.1\.3680043\.99\.1") as info:
        read_dicom(folder, device="cpu")
    assert files[1].name in str(info.value)


def test_header_claims_more_pixels_than_file_holds(series):
    folder, _, files = series
    ds = pydicom.dcmread(files[0])
    ds.Rows = ds.Columns = 4096
    ds.save_as(files[0])
    with pytest.raises(DicomError, match="4096 x 4096") as info:
        read_dicom(folder, device="cpu")
    assert files[0].name in str(info.value)


def test_empty_folder_and_non_dicom(tmp_path):
    with pytest.raises(DicomError, match="no files"):
        read_dicom(tmp_path, device="cpu")
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(DicomError, match="No DICOM images"):
        read_dicom(tmp_path, device="cpu")
    with pytest.raises(DicomError, match="no such file"):
        read_dicom([tmp_path / "absent.dcm"], device="cpu")


def test_projection_image_refused(testfile):
    with pytest.raises(DicomError, match="projection image") as info:
        read_dicom(testfile("JPEG2000.dcm"), device="cpu")
    assert "JPEG2000.dcm" in str(info.value)


@pytest.mark.gpu
def test_upload_to_cuda(series):
    pytest.importorskip("cupy")
    if not gpuimg.backend.cuda_available():
        pytest.skip("no usable CUDA GPU")
    volume = read_dicom(series[0], device="cuda")
    assert volume.device == "cuda"
    np.testing.assert_array_equal(gpuimg.to_numpy(volume.data), series[1].data)


def test_files_without_preamble_and_meta(series, pydicom_reference, sitk_files):
    """Older archives store bare datasets: no 128-byte preamble, no DICM, no file meta."""
    folder, _, files = series
    expected = pydicom_reference(sitk_files(folder))
    for path in files:
        ds = pydicom.dcmread(path)
        ds.preamble = None
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.save_as(path, implicit_vr=True, little_endian=True)
    assert files[0].read_bytes()[:2] == b"\x08\x00"
    volume = read_dicom(folder, device="cpu")
    np.testing.assert_array_equal(volume.data, expected)


@pytest.mark.filterwarnings("ignore:Invalid value for VR IS")
def test_malformed_header_value(testfile):
    path = testfile("badVR.dcm")  # NumberOfFrames "1A" is not an integer
    with pytest.raises(DicomError, match=r"NumberOfFrames \(0028,0008\) is '1A', not one number") as info:
        read_dicom(path, device="cpu")
    assert "badVR.dcm" in str(info.value)


def test_gantry_tilt_refused(series):
    folder, volume, files = series
    for k, path in enumerate(files):  # each slice slides 0.3 mm further along the rows: a sheared stack
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [
            float(p) + 0.3 * k * r
            for p, r in zip(ds.ImagePositionPatient, volume.direction[:, 2], strict=True)
        ]
        ds.save_as(path)
    with pytest.raises(GeometryError, match="gantry tilt") as info:
        read_dicom(folder, device="cpu")
    assert files[-1].name in str(info.value)


@pytest.mark.parametrize("decimals", [3, 2])
def test_positions_rounded_when_written_are_one_even_grid(tmp_path, sitk_read, sitk_files, decimals):
    # 0.625 mm slices whose positions are written to 0.01 mm step by 0.62 and 0.63 mm: the median step
    # (0.63) put the 100th slice 0.49 mm off its grid and the series was refused as unevenly spaced.
    # The step fitted to all positions is 0.625 mm; SimpleITK reads the same voxels.
    rng = np.random.default_rng(5)
    axes = np.column_stack([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])
    data = rng.integers(-1000, 1000, (100, 5, 6)).astype(np.int16)
    volume = gpuimg.Volume(data, (0.625, 0.7, 0.7), (-100.3, 50.7, -300.0), axes, {"modality": "CT"})
    files = write_dicom(volume, tmp_path / "series")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [f"{float(v):.{decimals}f}" for v in ds.ImagePositionPatient]
        ds.save_as(path)
    read = read_dicom(tmp_path / "series", device="cpu")
    voxels, _, origin, direction = sitk_read(sitk_files(tmp_path / "series"))
    np.testing.assert_array_equal(read.data, voxels)
    np.testing.assert_allclose(read.origin, origin, atol=1e-9)  # the first slice's, as written
    np.testing.assert_allclose(read.direction, direction, atol=1e-12)
    # The least-squares step of positions rounded by at most 0.005 mm, over 99 steps.
    assert abs(read.spacing[0] - 0.625) < 1e-3


def test_oblique_series_with_rounded_positions_and_cosines_is_read(tmp_path, sitk_read, sitk_files):
    # Positions written to 0.01 mm and cosines to 4 decimals, as some scanners write them: the slices of
    # an oblique stack then stray from the rounded normal by up to ~0.02 mm, which was refused as a
    # gantry tilt ('shifted by 0.006 mm within the image plane'; the limit was 1 % of a pixel).
    # SimpleITK reads it; a real tilt still shifts the slices much further (test above).
    rng = np.random.default_rng(7)
    rotation = Rotation.from_euler("xyz", [20.0, -15.0, 10.0], degrees=True).as_matrix()
    row, col = rotation[:, 0], rotation[:, 1]
    direction = np.column_stack([np.cross(row, col), col, row])
    data = rng.integers(-1000, 1000, (60, 6, 7)).astype(np.int16)
    volume = gpuimg.Volume(data, (1.25, 0.5, 0.5), (-100.3, 50.7, 12.9), direction, {"modality": "CT"})
    files = write_dicom(volume, tmp_path / "series")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [f"{float(v):.2f}" for v in ds.ImagePositionPatient]
        ds.ImageOrientationPatient = [f"{float(v):.4f}" for v in ds.ImageOrientationPatient]
        ds.save_as(path)
    read = read_dicom(tmp_path / "series", device="cpu")
    voxels, spacing, origin, sitk_direction = sitk_read(sitk_files(tmp_path / "series"))
    np.testing.assert_array_equal(read.data, voxels)
    # Both take the first slice's rounded position and the rounded cosines; SimpleITK its spacing from
    # the first two positions (0.01 mm each), read_dicom the median step along the normal.
    np.testing.assert_allclose(read.origin, origin, atol=1e-9)
    np.testing.assert_allclose(read.direction, sitk_direction, atol=1e-3)
    np.testing.assert_allclose(read.spacing, spacing, atol=0.02)


def test_cosines_written_to_three_decimals_are_read_orthonormalised(tmp_path, sitk_read, sitk_files):
    # Cosines written to 3 decimals (0.956\0.292\0\-0.279\0.914\0.296) are 1.6e-4 from
    # orthogonal: within the 0.01 read_dicom takes as an orientation, but the Volume refused the direction
    # made of them ('Volume direction must be a 3x3 matrix of orthonormal columns', no file named). SimpleITK
    # reads the series; read_dicom now takes the orthonormal matrix nearest the cosines (SVD).
    a, b = np.radians(17.0), 0.3
    row = np.array([np.cos(a), np.sin(a), 0.0])
    col = np.array([-np.sin(a) * np.cos(b), np.cos(a) * np.cos(b), np.sin(b)])
    direction = np.column_stack([np.cross(row, col), col, row])
    data = np.random.default_rng(3).integers(-1000, 1000, (5, 6, 7)).astype(np.int16)
    volume = gpuimg.Volume(data, (2.5, 0.8, 0.9), (-100.0, 50.0, 12.5), direction, {"modality": "CT"})
    files = write_dicom(volume, tmp_path / "series")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [f"{float(v):.3f}" for v in ds.ImageOrientationPatient]
        ds.save_as(path)
    read = read_dicom(tmp_path / "series", device="cpu")
    voxels, spacing, origin, sitk_direction = sitk_read(sitk_files(tmp_path / "series"))
    np.testing.assert_array_equal(read.data, voxels)
    np.testing.assert_allclose(read.direction.T @ read.direction, np.eye(3), rtol=0, atol=1e-12)
    # SimpleITK keeps the written cosines (normalised): ours are within half their 1.6e-4 from orthogonal.
    np.testing.assert_allclose(read.direction, sitk_direction, rtol=0, atol=2e-4)
    np.testing.assert_allclose(read.origin, origin, rtol=0, atol=1e-9)
    np.testing.assert_allclose(read.spacing, spacing, rtol=0, atol=1e-3)
    # Every voxel centre where SimpleITK puts it (origin + its direction @ (spacing * index)): they differ
    # by our turn of the cosines (8e-5 each) and by the two spacings, over a 10 x 4 x 5.4 mm grid.
    sitk = pytest.importorskip("SimpleITK")
    image = sitk.ReadImage([str(f) for f in sitk_files(tmp_path / "series")])
    index = np.stack(np.meshgrid(*(np.arange(n) for n in read.shape), indexing="ij"), axis=-1).reshape(-1, 3)
    theirs = [image.TransformIndexToPhysicalPoint([int(v) for v in point[::-1]]) for point in index]
    ours = np.asarray(read.origin) + (index * read.spacing) @ read.direction.T
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)  # 4.4e-4 here


def test_missing_pixel_spacing_warns(series):
    folder, _, files = series
    for path in files:
        ds = pydicom.dcmread(path)
        del ds.PixelSpacing
        ds.save_as(path)
    with pytest.warns(UserWarning, match="no PixelSpacing"):
        volume = read_dicom(folder, device="cpu")
    assert volume.spacing[1:] == (1.0, 1.0)


def test_orientation_rounding_noise_is_one_orientation(series, pydicom_reference, sitk_files):
    """Cosines that differ in their last decimals (rounded differently per slice) are one orientation."""
    folder, _, files = series
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [float(c) + (-1) ** k * 2e-6 for c in ds.ImageOrientationPatient]
        ds.save_as(path)
    volume = read_dicom(folder, device="cpu")
    np.testing.assert_array_equal(volume.data, pydicom_reference(sitk_files(folder)))


@pytest.mark.parametrize(
    ("folder", "member", "error"),
    [
        ("98892003/MR1", "15820", None),  # three single-slice localizer series
        ("98892003/MR1", "4919", None),
        ("98892003/MR1", "5641", None),
        ("98892003/MR2", "15970", None),
        ("98892003/MR2", "4950", GeometryError),  # T/S/C pilot: one slice in each of 3 orientations
        ("98892003/MR2", "6273", GeometryError),
    ],
)
def test_every_series_of_a_mixed_folder(testfile, sitk_read, pydicom_reference, folder, member, error):
    path = testfile(f"{DICOMDIR}/{folder}")
    uid = pydicom.dcmread(path / member).SeriesInstanceUID
    if error is not None:
        with pytest.raises(error, match="orientations") as info:
            read_dicom(path, series_uid=uid, device="cpu")
        assert member in str(info.value)
        return
    volume = read_dicom(path, series_uid=uid, device="cpu")
    np.testing.assert_array_equal(volume.data, pydicom_reference([path / member]))
    _, spacing, origin, direction = sitk_read([path / member])
    np.testing.assert_allclose(volume.origin, origin, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.spacing[1:], spacing[1:], atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.direction, direction, atol=GEOMETRY_ATOL)
    assert volume.spacing[0] == float(pydicom.dcmread(path / member).SliceThickness)  # one slice: no step


@pytest.mark.parametrize("offset", ["-25.5", "0"])
def test_a_dose_of_one_frame_whose_offset_vector_holds_one_value(testfile, tmp_path, offset):
    # GridFrameOffsetVector holds one value per frame, so one value for a dose of one frame (its z
    # position where it is not 0): pydicom gives it as a number, not a list, and len() of it failed,
    # so the file was 'truncated or corrupt'.
    ds = pydicom.dcmread(testfile("rtdose_1frame.dcm"))
    ds.NumberOfFrames, ds.GridFrameOffsetVector = 1, offset
    path = tmp_path / "dose.dcm"
    ds.save_as(path)
    ds = pydicom.dcmread(path)
    assert ds["GridFrameOffsetVector"].VM == 1
    volume = read_dicom(path, device="cpu")
    # The definition: the frame at ImagePositionPatient, its values pixel_array x DoseGridScaling [Gy].
    assert volume.origin == tuple(float(v) for v in ds.ImagePositionPatient)
    np.testing.assert_allclose(volume.data[0], ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)


@pytest.mark.parametrize(
    ("keyword", "value", "words"),
    [
        ("PixelSpacing", "0.5", "has PixelSpacing (0.5); it must be 2 positive finite numbers [mm]."),
        ("ImagePositionPatient", "10", "has ImagePositionPatient (10); it must be 3 finite numbers [mm]."),
        ("ImageOrientationPatient", "1", "has ImageOrientationPatient (1); it must be 6 finite numbers"),
    ],
)
def test_a_slice_with_one_number_where_several_belong_stops_its_series(tmp_path, keyword, value, words):
    # Such a slice was a file that 'cannot be read as DICOM', skipped with a warning from a folder: the
    # series was read without it, 2 slices 4 mm apart where 3 lie 2 mm apart.
    files = write_dicom(gpuimg.Volume(np.zeros((3, 4, 4), np.int16), (2.0, 0.5, 0.5)), tmp_path)
    ds = pydicom.dcmread(files[1])
    ds[keyword].value = value
    ds.save_as(files[1])
    # By pydicom: one value in that file, and the three slices 2 mm apart.
    assert pydicom.dcmread(files[1])[keyword].VM == 1
    assert [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in (files[0], files[2])] == [0.0, 4.0]
    for given in (tmp_path, files):
        with pytest.raises(GeometryError) as caught:
            read_dicom(given, device="cpu")
        assert f"{files[1]} {words}" in str(caught.value)
    assert f"{files[1]} {words}" in gpuimg.list_series(tmp_path)[0].problem


@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_rle.dcm"])
def test_classic_multiframe_rt_dose(testfile, sitk_read, name):
    """One position plus GridFrameOffsetVector places the frames; DoseGridScaling gives Gy."""
    path = testfile(name)
    volume = read_dicom(path, device="cpu")
    ds = pydicom.dcmread(path)
    # float32 holds pixel * DoseGridScaling (float64 reference) to its own precision.
    np.testing.assert_allclose(volume.data, ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)
    _, spacing, origin, direction = sitk_read([path])  # SimpleITK leaves the dose unscaled: geometry only
    np.testing.assert_allclose(volume.spacing, spacing, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.origin, origin, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(volume.direction, direction, atol=GEOMETRY_ATOL)


def write_spect(path: Path, data: np.ndarray, step: float, image_type: str = "RECON TOMO") -> Path:
    """A reconstructed NM (SPECT) file as gamma cameras write it: one multi-frame file whose position and
    orientation are its detector's (DetectorInformationSequence), its slices SpacingBetweenSlices apart."""
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.NuclearMedicineImageStorage
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds = pydicom.FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.ImageType = "NM", ["ORIGINAL", "PRIMARY", image_type, "EMISSION"]
    ds.SeriesInstanceUID, ds.StudyInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    ds.NumberOfFrames, ds.Rows, ds.Columns = data.shape
    ds.FrameIncrementPointer = pydicom.tag.Tag("SliceVector")
    ds.SliceVector, ds.NumberOfSlices = list(range(1, data.shape[0] + 1)), data.shape[0]
    ds.PixelSpacing, ds.SpacingBetweenSlices, ds.SliceThickness = [3.3, 4.42], step, abs(step)
    detector = pydicom.Dataset()
    detector.ImagePositionPatient = [-10.0, -20.0, 30.0]
    detector.ImageOrientationPatient = [0.8, 0.6, 0.0, 0.0, 0.0, -1.0]  # an oblique coronal reconstruction
    ds.DetectorInformationSequence = [detector]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = data.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("step", [4.42, -4.42])
def test_a_spect_reconstruction_is_placed_by_its_detector(tmp_path, step):
    # A reconstructed NM file keeps its position and orientation in the DetectorInformationSequence
    # and stacks its slices SpacingBetweenSlices apart along row x column (behind the first slice for a
    # positive spacing, in front of it for a negative one: NM Reconstruction Module). read_dicom refused
    # it as 'a projection image (CR, DX, secondary capture), not a slice'. SimpleITK reads it: every
    # voxel centre of ours holds the value SimpleITK has at that point.
    sitk = pytest.importorskip("SimpleITK")
    data = np.random.default_rng(5).integers(0, 60000, (5, 4, 6)).astype(np.uint16)
    path = write_spect(tmp_path / "spect.dcm", data, step)
    volume = read_dicom(path, device="cpu")
    image = sitk.ReadImage(str(path))
    theirs = sitk.GetArrayFromImage(image)
    assert volume.shape == theirs.shape and volume.meta["modality"] == "NM"
    np.testing.assert_allclose(volume.spacing, image.GetSpacing()[::-1], rtol=1e-12)
    axes = [np.arange(n) for n in volume.shape]
    index = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    centres = np.asarray(volume.origin) + (index * volume.spacing) @ volume.direction.T
    at = np.array([image.TransformPhysicalPointToIndex(tuple(float(c) for c in p))[::-1] for p in centres])
    np.testing.assert_array_equal(volume.data[tuple(index.T)], theirs[tuple(at.T)])
    assert sorted(map(tuple, at)) == sorted(map(tuple, index))  # one voxel of theirs for each of ours
    # The NM Reconstruction Module's definition: slice k at the detector position + k * spacing * normal.
    normal = np.cross([0.8, 0.6, 0.0], [0.0, 0.0, -1.0])
    defined = np.array([-10.0, -20.0, 30.0]) + np.outer(np.arange(5) * step, normal)
    slices = np.asarray(volume.origin) + np.outer(axes[0] * volume.spacing[0], volume.direction[:, 0])
    np.testing.assert_allclose(sorted(slices.tolist()), sorted(defined.tolist()), rtol=0, atol=1e-9)


@pytest.mark.parametrize("modality", ["NM", "MR"])
def test_a_single_slice_with_a_negative_spacing_between_slices_takes_its_magnitude(tmp_path, modality):
    # SpacingBetweenSlices may be negative (NM Reconstruction Module: the sign says which way the slices
    # stack; some MR scanners write it so too); the spacing is its magnitude. A series of one slice, which
    # has no step to measure, fell back to 1 mm for it.
    data = np.random.default_rng(6).integers(0, 1000, (1, 4, 6)).astype(np.uint16)
    if modality == "NM":
        path = write_spect(tmp_path / "one.dcm", data, -4.42)
    else:
        axial = np.eye(3)[:, ::-1]  # columns z, y, x in LPS
        volume = gpuimg.Volume(
            data.astype(np.int16), (2.0, 0.8, 0.9), (1.0, 2.0, 3.0), axial, {"modality": "MR"}
        )
        path = write_dicom(volume, tmp_path / "mr")[0]
        ds = pydicom.dcmread(path)
        ds.SpacingBetweenSlices, ds.SliceThickness = "-4.42", "3.0"
        ds.save_as(path)
    volume = read_dicom(path, device="cpu")
    assert volume.shape == (1, 4, 6)
    assert volume.spacing[0] == pytest.approx(4.42, rel=1e-12)


@pytest.mark.parametrize("n_gates", [8, 1])
def test_a_gated_spect_reconstruction_is_refused_as_gated(tmp_path, n_gates):
    # A gated reconstruction (ImageType RECON GATED TOMO) holds each slice once per gate (time slot of
    # the cardiac cycle; NM Multi-frame Module: frames by SliceVector and TimeSlotVector), a 4D image.
    # It was refused as duplicate positions ('A slice was exported twice ...; remove the extra files'),
    # wrong advice for one file of gates. Now refused as what it is; one gate is one volume, read.
    n_slices = 3
    data = np.random.default_rng(7).integers(0, 1000, (n_slices * n_gates, 4, 6)).astype(np.uint16)
    path = write_spect(tmp_path / "gated.dcm", data, 4.42, image_type="RECON GATED TOMO")
    ds = pydicom.dcmread(path)
    ds.FrameIncrementPointer = [pydicom.tag.Tag("TimeSlotVector"), pydicom.tag.Tag("SliceVector")]
    ds.TimeSlotVector = [g for g in range(1, n_gates + 1) for _ in range(n_slices)]
    ds.SliceVector = list(range(1, n_slices + 1)) * n_gates
    ds.NumberOfSlices, ds.NumberOfTimeSlots = n_slices, n_gates
    ds.save_as(path)
    if n_gates == 1:
        np.testing.assert_array_equal(read_dicom(path, device="cpu").data, data)
        return
    with pytest.raises(
        DicomError, match=r"gated\.dcm: a gated NM reconstruction .* 3 slices once per gate, 8 gates"
    ):
        read_dicom(path, device="cpu")
    (info,) = gpuimg.io.list_series(tmp_path)
    assert info.shape is None and "8 gates" in info.problem and "remove the extra files" not in info.problem


def test_nm_projections_are_still_refused_as_projections(tmp_path):
    # Only reconstructions (ImageType RECON TOMO / RECON GATED TOMO) are slices; the projections of a
    # tomographic acquisition (TOMO) may carry a detector position too, which places no slice.
    path = write_spect(tmp_path / "projections.dcm", np.zeros((5, 4, 6), np.uint16), 4.42, image_type="TOMO")
    with pytest.raises(DicomError, match="no ImagePositionPatient"):
        read_dicom(path, device="cpu")


def test_a_spect_reconstruction_placed_by_a_damaged_slice_thickness_is_refused(tmp_path):
    # Without SpacingBetweenSlices, an NM reconstruction places its slices SliceThickness apart: a
    # SliceThickness of '4.42\' (pydicom reads ['4.42', '']) leaves them unplaced, so the file is refused,
    # naming it and the element, while a series of several CT slices does not read it.
    path = write_spect(tmp_path / "spect.dcm", np.zeros((5, 4, 6), np.uint16), 4.42)
    ds = pydicom.dcmread(path)
    del ds.SpacingBetweenSlices
    ds.SliceThickness = ["4.42", ""]
    ds.save_as(path)
    with pytest.raises(DicomError, match=r"SliceThickness \(0018,0050\) is \['4.42', ''\], not one") as info:
        read_dicom(path, device="cpu")
    assert str(path) in str(info.value)


@pytest.mark.parametrize("signed", [True, False])
def test_unused_high_bits_are_ignored_as_pydicom_does(
    tmp_path, make_volume, pydicom_reference, sitk_files, rng, monkeypatch, signed
):
    """12 bits stored in 16 allocated, with noise in the 4 unused bits, read by the direct path."""
    files = write_dicom(make_volume(shape=(3, 6, 5)), tmp_path)
    for path in files:
        ds = pydicom.dcmread(path)
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, int(signed)
        low, high = (-2048, 2048) if signed else (0, 4096)
        stored = rng.integers(low, high, (6, 5)) & 0xFFF
        noise = rng.integers(1, 16, (6, 5)) << 12
        ds.PixelData = (stored | noise).astype(np.uint16).tobytes()
        ds.save_as(path)

    def no_pydicom_decoding(path):
        raise AssertionError(f"{path} was decoded by pydicom, not read directly")

    monkeypatch.setattr(pixels_module, "_decode_file", no_pydicom_decoding)
    read = read_dicom(tmp_path, device="cpu")
    np.testing.assert_array_equal(read.data, pydicom_reference(sitk_files(tmp_path)))


def test_elements_after_the_pixel_data_are_read_by_pydicom(series, pydicom_reference, sitk_files):
    """A Data Set Trailing Padding element after the pixels: the direct read declines, pydicom reads."""
    folder, volume, files = series
    for path in files:
        ds = pydicom.dcmread(path)
        ds.add_new(0xFFFCFFFC, "OB", b"\0" * 6)
        ds.save_as(path)
    read = read_dicom(folder, device="cpu")
    np.testing.assert_array_equal(read.data, pydicom_reference(sitk_files(folder)))
    np.testing.assert_array_equal(read.data, volume.data)


def test_big_endian_and_compressed_files_are_decoded_by_pydicom(testfile, pydicom_reference, monkeypatch):
    calls = []
    decode = pixels_module._decode_file
    monkeypatch.setattr(pixels_module, "_decode_file", lambda path: calls.append(path) or decode(path))
    for name in ("MR_small_bigendian.dcm", "MR_small_RLE.dcm"):
        read = read_dicom(testfile(name), device="cpu")
        np.testing.assert_array_equal(read.data, pydicom_reference([testfile(name)]))
    assert len(calls) == 2


def test_a_file_named_twice_in_a_list_is_read_once(series, pydicom_reference, monkeypatch):
    # Overlapping globs (or a relative and an absolute path) named a file twice: read_dicom refused the
    # series as two slices at one position, 'slice_0000.dcm and slice_0000.dcm', and said to remove the
    # extra files, the file itself among them.
    folder, _, files = series
    monkeypatch.chdir(folder.parent)
    relative = Path(folder.name) / files[3].name
    volume = read_dicom([*files, files[0], relative], device="cpu")
    np.testing.assert_array_equal(volume.data, pydicom_reference(files))
    assert volume.meta["files"] == [str(f) for f in files] and volume.shape[0] == len(files)


def test_palette_colour_series_is_refused_as_colour(series):
    # PALETTE COLOR pixels (one sample a pixel, indices into a colour table) were read as grey levels.
    from pydicom.pixels import apply_color_lut

    folder, _, files = series
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PhotometricInterpretation = "PALETTE COLOR"
        ds.PixelRepresentation, ds.RescaleSlope, ds.RescaleIntercept = 0, 1, 0
        for k in range(3):  # red, green, blue: descriptors (0028,1101-1103) and tables (0028,1201-1203)
            ds.add_new(0x00281101 + k, "US", [256, 0, 16])
            ds.add_new(0x00281201 + k, "OW", np.arange(256, dtype="<u2").tobytes())
        ds.save_as(path)
    ds = pydicom.dcmread(files[0])
    assert apply_color_lut(ds.pixel_array % 256, ds).shape == (*ds.pixel_array.shape, 3)  # colour
    with pytest.raises(DicomError, match="PALETTE COLOR pixels, indices into a colour table") as info:
        read_dicom(folder, device="cpu")
    assert any(f.name in str(info.value) for f in files)


def test_the_slice_normal_is_numpys_cross_product(rng):
    """_stack's cross product of the row and column cosines has np.cross's bits: random unit vectors,
    the axes and their negatives, rounded cosines as scanners write them, and signed zeros."""
    from gpuimg.io._stack import _cross

    vectors = [*Rotation.random(200, random_state=rng).as_matrix().reshape(-1, 3)]
    vectors += [*np.eye(3), *-np.eye(3), np.array([0.0, -0.0, 1.0]), np.array([0.956, 0.292, 0.0])]
    vectors += [np.round(v, 4) for v in vectors[:60]]
    for a, b in zip(vectors, vectors[1:] + vectors[:1], strict=True):
        expected, got = np.cross(a, b), _cross(a, b)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), (a, b)


def test_the_axes_of_an_orientation_follow_each_series(rng):
    """_stack's slice normal and direction matrix of an orientation, those of the last one kept: for
    orientations in turn, repeated, differing only in a zero's sign, and rounded as scanners write them,
    each is that of its own orientation: the normal np.cross's bits of the unit cosines, the matrix
    (normal, column, row) as it is where orthonormal, else its polar factor (SciPy's, to rounding),
    and the matrix is the caller's own."""
    from scipy.linalg import polar

    from gpuimg.io._stack import _axes

    axial, signed = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (1.0, -0.0, 0.0, -0.0, 1.0, 0.0)
    rotations = Rotation.random(3, random_state=rng).as_matrix()
    oblique = [tuple(np.r_[m[:, 0], m[:, 1]]) for m in rotations]
    rounded = [tuple(np.round(o, 3)) for o in oblique]
    for orientation in [axial, axial, signed, axial, *oblique, oblique[0], *rounded, rounded[1], axial]:
        cosines = np.array(orientation)
        row, col = cosines[:3] / np.linalg.norm(cosines[:3]), cosines[3:] / np.linalg.norm(cosines[3:])
        expected_normal = np.cross(row, col)
        matrix = np.column_stack([expected_normal, col, row])
        normal, direction = _axes(orientation)
        assert normal.tobytes() == expected_normal.tobytes(), orientation
        if np.abs(matrix.T @ matrix - np.eye(3)).max() <= 1e-12:
            assert direction.tobytes() == matrix.tobytes(), orientation
        else:
            # The SVD's and SciPy's polar decomposition round differently: a few ulps.
            np.testing.assert_allclose(direction, polar(matrix)[0], rtol=0, atol=1e-12)
        direction[:] = np.nan  # the caller's own: the next call's is not changed
    assert np.isfinite(_axes(axial)[1]).all()


def test_the_slice_step_is_numpys_median(rng):
    """_stack's median of the steps between slices is np.median's value, bit for bit: odd and even
    counts, ties, steps rounded as positions are written, infinities and a nan."""
    from gpuimg.io._stack import _median

    cases = [rng.uniform(0.1, 5, n) for n in range(1, 40)]
    cases += [np.round(rng.uniform(0.6, 0.65, n), 2) for n in (2, 3, 30, 31)]
    cases += [np.array([1.0, np.inf, 2.0]), np.array([np.inf, np.inf]), np.array([1.0, np.nan, 2.0, 3.0])]
    cases += [np.full(6, 1.25), np.array([1e308, 1.7e308])]
    for steps in cases:
        with np.errstate(over="ignore"):  # 1e308 + 1.7e308: inf, which Python's floats give silently
            expected = float(np.median(steps))
        got = _median(steps)
        assert type(got) is float and np.float64(got).tobytes() == np.float64(expected).tobytes(), steps


def _valid_by_numpy(frame) -> tuple[bool, bool]:
    """Whether a frame's values are what a slice of a volume may hold, by the rules' plain NumPy
    definition (3 finite position numbers; 6 finite cosines of two unit vectors, orthogonal, within
    0.01; 2 positive finite spacings; a finite non-zero slope and finite intercept below 2**24 slopes,
    2**53 for an integral rescale); and whether that holds by more than 1e-9 of the cosines' tolerance."""
    try:
        position = np.asarray(frame.position, float)
        cosines = np.asarray(frame.orientation, float)
        spacing = np.asarray(frame.pixel_spacing or (1.0, 1.0), float)
    except (TypeError, ValueError):
        return False, False
    if position.shape != (3,) or cosines.shape != (6,) or spacing.shape != (2,):
        return False, False
    row, col = cosines[:3], cosines[3:]
    errors = np.array([np.linalg.norm(row) - 1, np.linalg.norm(col) - 1, row @ col])
    slope, intercept = frame.slope, frame.intercept
    exact = 2.0**53 if float(slope).is_integer() and float(intercept).is_integer() else 2.0**24
    valid = bool(
        np.isfinite(position).all()
        and np.isfinite(cosines).all()
        and (np.abs(errors) <= 0.01).all()
        and (np.isfinite(spacing) & (spacing > 0)).all()
        and np.isfinite(slope)
        and slope != 0
        and np.isfinite(intercept)
        and abs(intercept) < exact * abs(slope)
    )
    return valid, valid and bool((np.abs(errors) < 0.01 - 1e-9).all())


def test_the_series_values_check_agrees_with_numpy(rng):
    """_stack's test of a whole series' positions, cosines, spacings and rescales at once says valid
    where every frame is valid by the plain NumPy definition, and never where one is not (it may send
    values within a rounding of the cosines' tolerance to the frame by frame check, which decides).
    Cases: valid series, then one frame changed to nan, infinity, a huge position whose sum overflows,
    too few or too many numbers, cosines just inside and outside 0.01 of unit and orthogonal, a
    zero or negative spacing, a zero slope, an intercept at 2**24 and 2**53 slopes."""
    from gpuimg.io._header import _Frame
    from gpuimg.io._stack import _all_valid, _check_values

    def frame(
        position, orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), spacing=(0.5, 0.5), slope=1.0, intercept=0.0
    ):
        return _Frame(Path("x.dcm"), None, position, orientation, spacing, (4, 4), slope, intercept)

    def cosines(length_error, dot):
        turn = Rotation.random(random_state=rng).as_matrix()
        row = turn[0] * (1 + length_error)
        col = turn[1] + dot * turn[0]  # a dot product of about dot with row
        return tuple(row.tolist() + col.tolist())

    changes = [
        {"position": (np.nan, 0.0, 0.0)},
        {"position": (0.0, np.inf, 0.0)},
        {"position": (0.0, 0.0)},
        {"orientation": (1.0, 0.0, 0.0, 0.0, 1.0)},
        {"orientation": (1.0, 0.0, 0.0, 0.0, np.nan, 0.0)},
        {"spacing": (0.5, 0.0)},
        {"spacing": (-0.5, 0.5)},
        {"spacing": (0.5, np.inf)},
        {"spacing": (0.5,)},
        {"spacing": None},
        {"slope": 0.0},
        {"slope": np.nan},
        {"intercept": np.inf},
        {"slope": 0.5, "intercept": 2.0**23},
        {"slope": 0.5, "intercept": 2.0**24},
        {"slope": 1.0, "intercept": 2.0**53},
        {"slope": 3.0, "intercept": 2.0**53},
    ]
    for error in (0.0, 0.005, 0.01 - 1e-6, 0.01, 0.01 + 1e-15, 0.01 + 1e-6, 0.02):
        changes += [{"orientation": cosines(error, 0.0)}, {"orientation": cosines(-error, 0.0)}]
        changes += [{"orientation": cosines(0.0, error)}, {"orientation": cosines(0.0, -error)}]
    series = [frame((0.0, 0.0, 2.0 * k)) for k in range(5)]
    assert _all_valid(series) and all(_valid_by_numpy(f)[0] for f in series)
    for change in changes:
        for k in (0, 3):
            changed = list(series)
            changed[k] = frame(**{"position": series[k].position, **change})
            verdicts = [_valid_by_numpy(f) for f in changed]
            got = _all_valid(changed)
            if got:
                assert all(valid for valid, _clearly in verdicts), change
            else:
                assert not all(clearly for _valid, clearly in verdicts), change
    # Finite positions whose sum overflows, and numbers as text (NumPy reads them): sent to the frame
    # by frame check, which takes them.
    for position in [(1.7e308, 1.7e308, 0.0), ("1", "2", "3")]:
        odd = [*series[:4], frame(position)]
        assert all(_valid_by_numpy(f)[0] for f in odd) and not _all_valid(odd)
        _check_values(odd, "x")
