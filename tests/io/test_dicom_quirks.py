"""read_dicom on series as real exports leave them: headers edited with pydicom, read back against
pydicom's own decoding and SimpleITK."""

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.errors import BytesLengthException
from pydicom.tag import Tag

from gpuimg import DicomError
from gpuimg.io import list_series, read_dicom, write_dicom


@pytest.mark.parametrize("missing", [[0, 7], [3]])
def test_slices_without_a_position_among_placed_ones_are_named_as_such(series, pydicom_reference, missing):
    # One slice of a CT series without ImagePositionPatient was called 'a projection image (CR, DX,
    # secondary capture), not a slice of a cross-sectional (CT, MR, PET) series; read_dicom reads slice
    # series only', of a CT whose other 7 slices are placed; the advice (none) did not read it.
    folder, volume, files = series
    for k in missing:
        ds = pydicom.dcmread(files[k])
        del ds.ImagePositionPatient
        ds.save_as(files[k])
    placed = [f for k, f in enumerate(files) if k not in missing]
    assert all("ImagePositionPatient" in pydicom.dcmread(f) for f in placed)
    with pytest.raises(DicomError, match="no ImagePositionPatient") as info:
        read_dicom(folder, device="cpu")
    message = str(info.value)
    assert all(files[k].name in message for k in missing)
    assert f"while the other {len(placed)} images of the series have both" in message
    assert "projection image" not in message and "pass read_dicom the other files as a list" in message
    # As the message says: the placed files read, a slice inside the stack left empty with allow_gaps.
    inside = [k for k in missing if 0 < k < len(files) - 1]
    read = read_dicom(placed, device="cpu", allow_gaps=bool(inside))
    assert read.shape[0] == len(files) - len(missing) + len(inside) and read.meta["missing_slices"] == inside
    kept = [k for k in range(len(files)) if k not in missing]  # write_dicom wrote slice k to files[k]
    slots = [k - kept[0] for k in kept]  # read slice j is slice kept[0] + j
    np.testing.assert_array_equal(read.data[slots], pydicom_reference(placed))
    np.testing.assert_array_equal(read.data[slots], volume.data[kept])


def test_a_frame_of_an_enhanced_file_without_a_position_is_a_damaged_header(enhanced_ct, rng):
    # An enhanced CT whose third frame's functional groups lack PlanePositionSequence (the others place
    # theirs) was 'a projection image (CR, DX, secondary capture), not a slice'; leaving the file out,
    # as the advice for a stray file says, would leave nothing.
    n = 5
    stored = rng.integers(0, 4000, (n, 6, 7)).astype(np.uint16)
    frames = []
    for k in range(n):
        item = pydicom.Dataset()
        if k != 2:
            item.PlanePositionSequence = [pydicom.Dataset()]
            item.PlanePositionSequence[0].ImagePositionPatient = [-10.0, 20.0, 100.0 + 2.0 * k]
        frames.append(item)
    path = enhanced_ct(stored, frames)
    groups = pydicom.dcmread(path).PerFrameFunctionalGroupsSequence
    assert ["PlanePositionSequence" in item for item in groups] == [True, True, False, True, True]
    with pytest.raises(DicomError, match=r"enhanced\.dcm \(frame 3\) has no ImagePositionPatient") as info:
        read_dicom(path, device="cpu")
    assert "other frames of the same file have both: the file's header is damaged" in str(info.value)
    assert "projection image" not in str(info.value)


@pytest.mark.parametrize(
    ("centers", "widths", "kept", "left_out"),
    [
        ("40\\", "400\\", [(40.0, 400.0)], None),  # a trailing backslash: pydicom reads ['40', '']
        ("40\\-600", "400\\abc", [(40.0, 400.0)], "preset 2 of 2"),
        ("abc\\-600", "400\\1500", [(-600.0, 1500.0)], "preset 1 of 2"),
        ("1e400x", "400", [], "preset 1 of 1"),
    ],
)
def test_a_damaged_window_preset_is_left_out_not_the_series(
    series, pydicom_reference, centers, widths, kept, left_out
):
    # A series whose WindowCenter/WindowWidth end in a backslash ('40\' as most viewers and SimpleITK
    # read it) was refused whole: "its WindowCenter (0028,1050) is ['40', ''], not numbers; the
    # header is damaged". No voxel depends on a display preset: the voxels read as pydicom's
    # pixel_array * slope + intercept, the presets that are numbers are kept, the others left out.
    folder, volume, files = series
    for path in files:
        ds = pydicom.dcmread(path)
        for tag, text in ((0x00281050, centers), (0x00281051, widths)):
            raw = text.encode() + b" " * (len(text) % 2)  # written as is: pydicom would refuse 'abc'
            ds[tag] = RawDataElement(Tag(tag), "DS", len(raw), raw, 0, False, True)
        ds.save_as(path)
    assert pydicom.dcmread(files[0]).get("WindowCenter") is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = read_dicom(folder, device="cpu")
    messages = [str(w.message) for w in caught if "window preset" in str(w.message)]
    if left_out is None:
        assert messages == []
    else:
        assert len(messages) == 1 and left_out in messages[0] and str(folder) in messages[0]
    assert [(w["center"], w["width"]) for w in read.meta["windows"]] == kept
    order = [folder / name for name in read.meta["files"]]
    # Stored integers times an integer slope plus intercept: exact.
    np.testing.assert_array_equal(np.asarray(read.data), pydicom_reference(order))
    np.testing.assert_allclose(read.spacing, volume.spacing, rtol=1e-5)


def test_a_damaged_series_description_is_left_out_not_the_series(series, pydicom_reference):
    # A SeriesDescription pydicom cannot read (written as US with 3 bytes) made every file 'its
    # SeriesDescription (0008,103E) cannot be read (BytesLengthException); the header is damaged',
    # and the series unreadable; no voxel depends on a description: it is "" with a warning.
    folder, _volume, files = series
    raw = b"abc"
    for path in files:
        ds = pydicom.dcmread(path)
        ds[0x0008103E] = RawDataElement(Tag(0x0008103E), "US", len(raw), raw, 0, False, True)
        ds.save_as(path)
    with pytest.raises(BytesLengthException):  # pydicom itself cannot read it
        _ = pydicom.dcmread(files[0]).SeriesDescription
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (info,) = list_series(folder)
        read = read_dicom(folder, device="cpu")
    assert info.description == "" and read.meta["description"] == ""
    messages = [str(w.message) for w in caught if "SeriesDescription cannot be read" in str(w.message)]
    assert messages and all(str(folder) in m for m in messages)
    order = [folder / name for name in read.meta["files"]]
    np.testing.assert_array_equal(np.asarray(read.data), pydicom_reference(order))


def _trailing_backslash_thickness(files) -> None:
    """SliceThickness written as '2.5\\' (a trailing empty value, which pydicom reads as ['2.5', ''])."""
    raw = b"2.5\\ "
    for path in files:
        ds = pydicom.dcmread(path)
        ds[0x00180050] = RawDataElement(Tag(0x00180050), "DS", len(raw), raw, 0, False, True)
        ds.save_as(path)
    assert list(pydicom.dcmread(files[0]).SliceThickness) == [2.5, ""]


def test_a_damaged_slice_thickness_is_not_read_for_a_series_of_several_slices(
    series, pydicom_reference, sitk_read
):
    # A SliceThickness of '2.5\' refused the whole series of 8 slices ("its SliceThickness (0018,0050)
    # is ['2.5', ''], not one number; the header is damaged"), though their spacing is measured from
    # their positions and SliceThickness is read only for a series of one slice.
    folder, volume, files = series
    _trailing_backslash_thickness(files)
    (info,) = list_series(folder)
    read = read_dicom(folder, device="cpu")
    assert info.problem is None and info.spacing == read.spacing
    order = [folder / name for name in read.meta["files"]]
    np.testing.assert_array_equal(np.asarray(read.data), pydicom_reference(order))
    _voxels, spacing, origin, direction = sitk_read(order)
    np.testing.assert_allclose(read.spacing, spacing, rtol=1e-5)
    np.testing.assert_allclose(read.origin, origin, atol=1e-4)
    np.testing.assert_allclose(read.direction, direction, atol=1e-5)
    np.testing.assert_allclose(read.spacing, volume.spacing, rtol=1e-5)


def test_a_damaged_slice_thickness_refuses_a_series_of_one_slice(tmp_path, make_volume):
    # One slice has no step to measure: its spacing is SliceThickness, which must then be one number.
    files = write_dicom(make_volume(shape=(1, 6, 5)), tmp_path / "one")
    _trailing_backslash_thickness(files)
    match = r"a series of one slice .* its SliceThickness \(0018,0050\) is \['2.5', ''\], not one number"
    with pytest.raises(DicomError, match=match) as info:
        read_dicom(files[0], device="cpu")
    assert str(files[0]) in str(info.value)
    (found,) = list_series(tmp_path / "one")
    assert found.shape is None and str(files[0]) in found.problem and "SliceThickness" in found.problem


@pytest.mark.parametrize("text", [b"1e400 ", b"inf ", b"nan "])
def test_a_slice_thickness_that_is_not_finite_is_no_spacing(tmp_path, make_volume, pydicom_reference, text):
    # One slice whose SliceThickness is '1e400' (pydicom reads inf) got a z spacing of inf: list_series
    # gave spacing (inf, ...) and no problem, read_dicom a GeometryError ('Volume spacing must be 3 finite
    # numbers') naming neither file nor element. No finite value is no spacing: 1 mm, as without one
    # (read_dicom's docstring), as 'nan' already read.
    volume = make_volume(shape=(1, 6, 5))
    files = write_dicom(volume, tmp_path / "one")
    ds = pydicom.dcmread(files[0])
    ds[0x00180050] = RawDataElement(Tag(0x00180050), "DS", len(text), text, 0, False, True)
    ds.save_as(files[0])
    assert not np.isfinite(float(pydicom.dcmread(files[0]).SliceThickness))
    (info,) = list_series(tmp_path / "one")
    read = read_dicom(files[0], device="cpu")
    pixel_spacing = tuple(float(v) for v in ds.PixelSpacing)  # as written (DS, 16 characters)
    assert info.problem is None and info.spacing == read.spacing == (1.0, *pixel_spacing)
    np.testing.assert_array_equal(np.asarray(read.data), pydicom_reference(files))


def test_a_damaged_slice_thickness_in_the_functional_groups_of_one_slice_is_named(tmp_path, make_volume):
    # A one-slice file whose Pixel Measures (shared functional groups) hold SliceThickness '2.5\' gave a
    # bare TypeError ("float() argument must be ... not 'MultiValue'") from read_dicom and list_series.
    files = write_dicom(make_volume(shape=(1, 6, 5)), tmp_path / "one")
    ds = pydicom.dcmread(files[0])
    measures = pydicom.Dataset()
    measures.SliceThickness = ["2.5", ""]
    shared = pydicom.Dataset()
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.save_as(files[0])
    match = r"its SliceThickness \(0018,0050\) is \['2.5', ''\], not one number"
    with pytest.raises(DicomError, match=match) as info:
        read_dicom(files[0], device="cpu")
    assert str(files[0]) in str(info.value)
    (found,) = list_series(tmp_path / "one")
    assert found.shape is None and "SliceThickness" in found.problem
