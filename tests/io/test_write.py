"""write_dicom: round trips through read_dicom, checked against SimpleITK on the written files."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_iod import iod_gaps
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from gpuimg import ParameterError, Volume
from gpuimg.io import read_dicom, write_dicom

# DS strings carry 16 characters: positions of hundreds of mm keep about 1e-10 mm, cosines 1e-14.
GEOMETRY_ATOL = 1e-6


def assert_same_geometry(read, volume, atol=GEOMETRY_ATOL):
    np.testing.assert_allclose(read.spacing, volume.spacing, atol=atol)
    np.testing.assert_allclose(read.origin, volume.origin, atol=atol)
    np.testing.assert_allclose(read.direction, volume.direction, atol=atol)


@pytest.mark.parametrize("modality", ["CT", "MR"])
@pytest.mark.parametrize("oblique", [False, True])
def test_round_trip_exact(tmp_path, make_volume, sitk_read, modality, oblique):
    volume = make_volume(oblique=oblique)
    files = write_dicom(volume, tmp_path, modality=modality)
    read = read_dicom(tmp_path, device="cpu")
    np.testing.assert_array_equal(read.data, volume.data)
    assert read.data.dtype == volume.data.dtype
    assert_same_geometry(read, volume)
    voxels, spacing, origin, direction = sitk_read(files)
    np.testing.assert_array_equal(voxels, volume.data)
    assert_same_geometry(Volume(voxels, spacing, origin, direction), volume, atol=1e-4)  # ITK's own sums
    assert read.meta["modality"] == modality


def test_unsigned_values_round_trip(tmp_path, rng):
    volume = Volume(rng.integers(0, 65535, (3, 5, 4)).astype(np.uint16), (2.0, 1.0, 1.0))
    write_dicom(volume, tmp_path, modality="MR")
    read = read_dicom(tmp_path, device="cpu")
    # read_dicom returns int16 or float32; float32 holds every uint16 exactly.
    np.testing.assert_array_equal(read.data, volume.data.astype(np.float32))


def test_float_volume_is_quantised_within_half_a_slope(tmp_path, rng):
    volume = Volume(rng.normal(0, 300, (4, 6, 5)).astype(np.float32), (1.5, 0.8, 0.8))
    write_dicom(volume, tmp_path)
    read = read_dicom(tmp_path, device="cpu")
    slope = read.meta["rescale"]["slope"]
    np.testing.assert_allclose(read.data, volume.data, atol=slope / 2 * 1.001)


@pytest.mark.parametrize(
    "values",
    [1000 + 1e-4 * np.arange(60.0), 1e8 + np.arange(60) % 11, np.full(60, -3e7)],
    ids=["float64-near-1000", "int32-near-1e8", "constant-float-3e7"],
)
def test_narrow_range_far_from_zero_reads_back(tmp_path, values):
    # A range under 2**-8 of its magnitude: the rescale spanning it had an intercept of more than 2**24
    # slopes, which read_dicom refuses (float32 cannot tell such steps apart).
    values = values.astype(np.int32 if values.dtype.kind == "i" else np.float64)
    volume = Volume(values.reshape(3, 4, 5), (2.0, 1.0, 1.0))
    files = write_dicom(volume, tmp_path)
    read = read_dicom(tmp_path, device="cpu")
    slope = read.meta["rescale"]["slope"]
    # Within half a slope of each voxel, plus the rounding of the float32 read_dicom returns.
    atol = slope / 2 + np.spacing(np.float32(np.abs(values).max())) / 2
    np.testing.assert_allclose(read.data, volume.data, rtol=0, atol=atol)
    datasets = [pydicom.dcmread(f) for f in files]
    by_pydicom = np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]
    )
    np.testing.assert_allclose(
        read.data, by_pydicom, rtol=0, atol=np.spacing(np.float32(np.abs(values).max()))
    )


@pytest.mark.parametrize(
    "values",
    [
        np.arange(-2000, 40000, 700, dtype=np.int32),  # HU after arithmetic: beyond int16, spans < 65535
        np.arange(-70000, -10000, 1000, dtype=np.int64),  # below int16, spans < 65535
        np.arange(60, dtype=np.float32) % 6,  # a label map kept as float32
        np.arange(-1024, 38936, 666).astype(np.float64),  # whole HU as float, beyond int16
    ],
    ids=["int32-beyond-int16", "int64-below-int16", "float32-labels", "float64-whole-beyond-int16"],
)
def test_whole_numbers_spanning_16_bits_come_back_exactly(tmp_path, sitk_read, values):
    """Regression: whole numbers that did not fit int16 or uint16, or were held as floats, were rescaled
    over their range with a fractional slope: -2000 ... 40000 came back up to 0.32 off (slope 0.64), the
    labels 1 ... 5 of a float32 mask as 0.99996 ... (int() gives 0). Slope 1 and a whole intercept keep
    them exactly. References: the original values, pydicom's and SimpleITK's rescaled pixels."""
    values = values[np.random.default_rng(5).permutation(values.size)].reshape(3, 4, 5)
    volume = Volume(values, (2.0, 1.0, 1.0))
    files = write_dicom(volume, tmp_path)
    datasets = [pydicom.dcmread(f) for f in files]
    by_pydicom = np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]
    )
    np.testing.assert_array_equal(by_pydicom, values)
    np.testing.assert_array_equal(sitk_read(files)[0], values)
    np.testing.assert_array_equal(read_dicom(tmp_path, device="cpu").data, values)


def test_reversed_slice_direction_comes_back_flipped(tmp_path, make_volume):
    volume = make_volume()
    flipped = Volume(volume.data, volume.spacing, volume.origin, volume.direction * [-1, 1, 1])
    write_dicom(flipped, tmp_path)
    read = read_dicom(tmp_path, device="cpu")
    np.testing.assert_array_equal(read.data, flipped.data[::-1])
    far_end = flipped.affine @ [flipped.shape[0] - 1, 0, 0, 1]
    np.testing.assert_allclose(read.origin, far_end[:3], atol=GEOMETRY_ATOL)


def test_fresh_uids_and_no_temporary_files(tmp_path, make_volume):
    volume = make_volume()
    first = write_dicom(volume, tmp_path / "a")
    second = write_dicom(volume, tmp_path / "b")
    uids = {pydicom.dcmread(f).SOPInstanceUID for f in first + second}
    assert len(uids) == len(first) + len(second)
    series = {pydicom.dcmread(f).SeriesInstanceUID for f in (first[0], second[0])}
    assert len(series) == 2
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [f.name for f in first]


def test_window_presets_and_ids_kept(tmp_path, make_volume):
    volume = make_volume()
    volume.meta.update(windows=[{"center": 40.0, "width": 400.0, "name": ""}], patient_id="P7")
    write_dicom(volume, tmp_path)
    read = read_dicom(tmp_path, device="cpu")
    assert read.meta["windows"][0]["center"] == 40.0 and read.meta["patient_id"] == "P7"


def test_window_names_are_written_back(tmp_path, series):
    """read_dicom keeps WindowCenterWidthExplanation as the windows' names; write_dicom dropped them
    (pydicom found no WindowCenterWidthExplanation in the written files). The source's tags are
    set by pydicom; the written ones are read by pydicom."""
    folder, _, files = series
    for path in files:
        ds = pydicom.dcmread(path)
        ds.WindowCenter, ds.WindowWidth = [40, -600], [400, 1500]
        ds.WindowCenterWidthExplanation = ["MEDIASTINUM", "LUNG"]
        ds.save_as(path)
    volume = read_dicom(folder, device="cpu")
    assert [w["name"] for w in volume.meta["windows"]] == ["MEDIASTINUM", "LUNG"]
    written = write_dicom(volume, tmp_path / "copy")
    for path in written:
        ds = pydicom.dcmread(path)
        assert list(ds.WindowCenterWidthExplanation) == ["MEDIASTINUM", "LUNG"]
        assert [float(v) for v in ds.WindowCenter] == [40.0, -600.0]
        assert [float(v) for v in ds.WindowWidth] == [400.0, 1500.0]


def test_window_names_outside_ascii_or_partly_missing(tmp_path, make_volume):
    volume = make_volume()
    windows = [{"center": 40.0, "width": 400.0, "name": "Weichteil (Mediastinum) ü"}]
    windows += [{"center": -600.0, "width": 1500.0, "name": ""}, {"center": 300.0, "width": 1500.0}]
    volume.meta["windows"] = windows
    files = write_dicom(volume, tmp_path / "a")
    ds = pydicom.dcmread(files[0])
    assert list(ds.WindowCenterWidthExplanation) == ["Weichteil (Mediastinum) ü", "", ""]
    assert ds.SpecificCharacterSet == "ISO_IR 192"  # UTF-8, else pydicom writes '?'
    volume.meta["windows"] = [{"center": 40.0, "width": 400.0, "name": ""}]
    assert "WindowCenterWidthExplanation" not in pydicom.dcmread(write_dicom(volume, tmp_path / "b")[0])


@pytest.mark.parametrize("name", ["SOFT\\TISSUE", "W" * 65])
def test_a_window_name_dicom_cannot_hold_is_refused(tmp_path, make_volume, name):
    # A backslash would split the name into two (pydicom reads 'SOFT', 'TISSUE'); a LO holds 64 characters.
    volume = make_volume()
    volume.meta["windows"] = [{"center": 40.0, "width": 400.0, "name": name}]
    with pytest.raises(ParameterError, match=r"meta\['windows'\]\[0\]\['name'\]=.* is not a valid DICOM LO"):
        write_dicom(volume, tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_unknown_modality(tmp_path, make_volume):
    with pytest.raises(ParameterError, match="'US'"):
        write_dicom(make_volume(), tmp_path, modality="US")


@settings(max_examples=15, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 7), st.integers(1, 7)),
    spacing=st.tuples(*[st.floats(0.05, 10.0)] * 3),
    origin=st.tuples(*[st.floats(-500.0, 500.0)] * 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_property(tmp_path_factory, shape, spacing, origin, seed):
    rng = np.random.default_rng(seed)
    rotation = Rotation.random(random_state=rng).as_matrix()
    direction = np.column_stack([np.cross(rotation[:, 0], rotation[:, 1]), rotation[:, 1], rotation[:, 0]])
    volume = Volume(rng.integers(-32768, 32767, shape, dtype=np.int16), spacing, origin, direction)
    folder = tmp_path_factory.mktemp("series")
    write_dicom(volume, folder)
    read = read_dicom(folder, device="cpu")
    np.testing.assert_array_equal(read.data, volume.data)
    # A single slice has no position step: its z spacing comes from SliceThickness, written as DS.
    assert_same_geometry(read, volume, atol=1e-6 * max(1.0, *np.abs(origin)))


def test_existing_series_refused_unless_overwrite(tmp_path, make_volume):
    write_dicom(make_volume(shape=(6, 4, 5)), tmp_path)
    smaller = make_volume(shape=(3, 4, 5))
    with pytest.raises(ParameterError, match="already holds 6 slice file"):
        write_dicom(smaller, tmp_path)
    write_dicom(smaller, tmp_path, overwrite=True)
    assert len(list(tmp_path.iterdir())) == 3
    np.testing.assert_array_equal(read_dicom(tmp_path, device="cpu").data, smaller.data)


def test_non_finite_values_refused(tmp_path, rng):
    data = rng.normal(size=(2, 3, 4))
    data[1, 1, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        write_dicom(Volume(data), tmp_path)


def test_failed_write_leaves_no_partial_file(tmp_path, make_volume, monkeypatch):
    def fail_halfway(self, path, **kwargs):
        Path(path).write_bytes(b"DICM partial")
        raise OSError("disk full")

    monkeypatch.setattr(pydicom.dataset.FileDataset, "save_as", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        write_dicom(make_volume(), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("error")  # pydicom warns where it writes a character as '?'
def test_text_outside_ascii_is_written_as_utf8(tmp_path):
    """Regression: without SpecificCharacterSet, pydicom wrote '山田^太郎' as '??^??' with a warning."""
    names = {"patient_name": "山田^太郎", "patient_id": "Müller-é", "series_description": "Thorax nativ ä"}
    files = write_dicom(
        Volume(np.zeros((2, 3, 4), np.int16), spacing=(1.0, 1.0, 1.0)), tmp_path / "s", **names
    )
    for path in files:
        ds = pydicom.dcmread(path)
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        assert (str(ds.PatientName), ds.PatientID, ds.SeriesDescription) == tuple(names.values())
    plain = write_dicom(
        Volume(np.zeros((1, 3, 4), np.int16), spacing=(1.0, 1.0, 1.0)), tmp_path / "a", patient_name="A^B"
    )
    assert "SpecificCharacterSet" not in pydicom.dcmread(plain[0])


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_written_files_hold_every_required_attribute_of_their_iod(tmp_path, make_volume, modality):
    """Regression: the files lacked MR's type 1 ScanningSequence and SequenceVariant and the type 2
    attributes of the mandatory modules (PatientBirthDate, StudyDate, Manufacturer, KVP, EchoTime ...),
    which DICOM validators reject. Reference: the standard's module tables as highdicom ships them."""
    volume = make_volume()
    files = write_dicom(volume, tmp_path, modality=modality)
    ds = pydicom.dcmread(files[0])
    assert iod_gaps(ds) == ([], [])
    if modality == "MR":  # type 2C, needed unless the sequence is echo planar (EP) without SK
        assert ds.ScanningSequence != "EP" and "RepetitionTime" in ds
    np.testing.assert_array_equal(read_dicom(tmp_path, device="cpu").data, volume.data)  # the empty ones read


def test_rescale_type_says_the_units_of_a_ct_no_longer_in_hu(tmp_path, rng):
    """A CT of z-scores was labelled RescaleType 'HU', the only value write_dicom wrote for CT; DICOM's
    CT Image module requires RescaleType whenever the values are not HU. Read by pydicom."""
    zscores = Volume(rng.normal(size=(3, 4, 5)), (2.0, 1.0, 1.0), meta={"modality": "CT"})
    files = write_dicom(zscores, tmp_path / "z", rescale_type="US")
    assert {pydicom.dcmread(f).RescaleType for f in files} == {"US"}
    hu = Volume(np.zeros((2, 3, 4), np.int16), (1.0, 1.0, 1.0))
    assert pydicom.dcmread(write_dicom(hu, tmp_path / "ct")[0]).RescaleType == "HU"
    assert pydicom.dcmread(write_dicom(hu, tmp_path / "mr", modality="MR")[0]).RescaleType == "US"
    with pytest.raises(ParameterError, match=r"rescale_type='HU\\\\US' is not a valid DICOM LO"):
        write_dicom(hu, tmp_path / "bad", rescale_type="HU\\US")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("key", "value", "vr"),
    [("study_id", "LIDC-IDRI-0001-CT", "SH"), ("frame_of_reference_uid", "1.2.840.01.5", "UI")],
)
def test_study_id_and_frame_of_reference_from_meta_are_checked(tmp_path, key, value, vr):
    """Regression: the volume's meta['study_id'] and meta['frame_of_reference_uid'] were written unchecked:
    a StudyID of 17 characters (SH holds 16) and a UID component with a leading zero went into every file
    with only pydicom's UserWarning. Reference: pydicom's own check of the value against its VR."""
    keyword = {"study_id": "StudyID", "frame_of_reference_uid": "FrameOfReferenceUID"}[key]
    with pytest.raises(ValueError):
        pydicom.valuerep.validate_value(vr, value, pydicom.config.RAISE)
    volume = Volume(np.zeros((2, 3, 4), np.int16), (1.0, 1.0, 1.0), meta={key: value})
    with pytest.raises(ParameterError, match=rf"meta\['{key}'\]='{value}' is not a valid DICOM {vr}"):
        write_dicom(volume, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    valid = value[:16] if vr == "SH" else "1.2.840.1.5"
    volume = Volume(np.zeros((2, 3, 4), np.int16), (1.0, 1.0, 1.0), meta={key: valid})
    assert {pydicom.dcmread(f)[keyword].value for f in write_dicom(volume, tmp_path / "good")} == {valid}


def test_an_unwritable_modality_is_refused_naming_where_it_came_from(tmp_path, rng):
    """A volume as read_dicom returns it (here an ultrasound, meta['modality'] 'US'; a PET one, 'PT', until
    write_dicom wrote PET) was refused with 'got modality=...' though the caller passed no modality, and
    without a way out."""
    echo = Volume(rng.gamma(2.0, 1.0, (3, 4, 5)), (3.0, 2.0, 2.0), meta={"modality": "US"})
    with pytest.raises(
        ParameterError, match=r"volume.meta\['modality'\]='US'.*modality='CT', 'MR' or 'PT'.*write_image"
    ):
        write_dicom(echo, tmp_path / "us")
    with pytest.raises(ParameterError, match=r"got modality='US'"):
        write_dicom(echo.data, tmp_path / "us", spacing=echo.spacing, modality="US")
    assert not (tmp_path / "us").exists()


def test_a_read_series_whose_meta_breaks_a_vr_says_which_entry_to_change(tmp_path):
    """A series read from files whose StudyID is 17 characters (the IBSI validation_sts series hold
    'IBSI_1_STS_001_CT'; a SH holds 16) could not be written again, and the refusal said what was wrong
    but not what to do: write_dicom has no study_id keyword. Now it names the meta entry to change or
    delete; deleted, the copy holds write_dicom's StudyID and the voxels come back (pydicom's reading)."""
    volume = Volume(np.arange(24, dtype=np.int16).reshape(2, 3, 4), (2.0, 1.0, 1.0))
    for path in write_dicom(volume, tmp_path / "source"):
        ds = pydicom.dcmread(path)
        ds.StudyID = "IBSI_1_STS_001_CT"
        ds.save_as(path)
    read = read_dicom(tmp_path / "source", device="cpu")
    assert read.meta["study_id"] == "IBSI_1_STS_001_CT"
    with pytest.raises(
        ParameterError,
        match=r"meta\['study_id'\]='IBSI_1_STS_001_CT' is not a valid DICOM SH value: .*; change or delete "
        r"volume\.meta\['study_id'\]\.$",
    ):
        write_dicom(read, tmp_path / "copy")
    with pytest.raises(
        ParameterError, match=r"series_number=.* is not a valid DICOM IS .*; pass another series_number"
    ):
        write_dicom(read, tmp_path / "copy", series_number=2**31)
    del read.meta["study_id"]
    files = write_dicom(read, tmp_path / "copy")
    assert {pydicom.dcmread(f).StudyID for f in files} == {"1"}
    np.testing.assert_array_equal([pydicom.dcmread(f).pixel_array for f in files], volume.data)
