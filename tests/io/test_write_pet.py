"""write_dicom of PET volumes (modality PT): the files checked with pydicom against the PET Image IOD
(DICOM PS3.3 A.21, as highdicom ships its module tables), their geometry with SimpleITK, and the round
trip through read_dicom and list_series."""

import numpy as np
import pydicom
import pytest
from dicom_iod import iod_gaps

from gpuimg import ParameterError, Volume
from gpuimg.io import list_series, read_dicom, write_dicom

PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"  # PS3.4 B.5
# DS strings carry 16 characters: positions of hundreds of mm keep about 1e-10 mm, cosines 1e-14.
GEOMETRY_ATOL = 1e-6


def pet_volume(make_volume, rng, *, negative=False, shape=(7, 9, 6)) -> Volume:
    """Random PET-like values of a large dynamic range (each slice scaled by 10**-3 to 10**6; one slice
    all zeros; negative values with ``negative``) on a random oblique geometry."""
    values = rng.gamma(0.5, 1.0, shape) * 10.0 ** rng.uniform(-3, 6, (shape[0], 1, 1))
    if negative:
        values -= rng.uniform(0, 0.3) * values.max(axis=(1, 2), keepdims=True)
    values[rng.integers(shape[0])] = 0.0
    geometry = make_volume(shape=shape)
    return Volume(values, geometry.spacing, geometry.origin, geometry.direction, {"modality": "PT"})


def half_slopes(files) -> np.ndarray:
    """Half the RescaleSlope of each file, as pydicom reads it, shaped to broadcast over its slice."""
    return np.array([float(pydicom.dcmread(f).RescaleSlope) / 2 for f in files])[:, None, None]


@pytest.mark.parametrize("negative", [False, True], ids=["non-negative", "negative"])
def test_pixels_times_slope_give_the_values_within_half_a_slope(tmp_path, make_volume, rng, negative):
    volume = pet_volume(make_volume, rng, negative=negative)
    files = write_dicom(volume, tmp_path / "pet", units="BQML")
    assert len(files) == volume.shape[0]
    # int16 keeps negative values with an intercept of 0; uint16 doubles the resolution otherwise
    top = 32767 if negative else 65535
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == PET_IMAGE_STORAGE
        assert ds.Modality == "PT" and ds.Units == "BQML"
        assert float(ds.RescaleIntercept) == 0  # PS3.3 C.8.9.4: always zero for PET
        assert ds.PixelRepresentation == int(negative)
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 16, 15)  # C.8.9.4: 16 bits
        assert ds.ImageIndex == ds.InstanceNumber == k + 1 and ds.NumberOfSlices == len(files)
        slope, pixels = float(ds.RescaleSlope), ds.pixel_array.astype(np.float64)
        if volume.data[k].any():  # each slice's largest magnitude uses the stored range
            assert np.abs(pixels).max() == top
        else:  # the volume's slope: 1 would make ITK read the series as integers if this were first
            assert slope == pytest.approx(np.abs(volume.data).max() / top) and not pixels.any()
        # pixel * slope in float64: rounding error far below 1e-12 of the value
        np.testing.assert_allclose(pixels * slope, volume.data[k], rtol=1e-12, atol=slope / 2)


def test_the_files_hold_every_required_attribute_of_the_pet_image_iod(tmp_path, make_volume, rng):
    """Reference: the standard's module tables as highdicom ships them (type 1 present and non-empty,
    type 2 present), and the enumerated values of the PET modules (PS3.3 C.8.9.1, C.8.9.4)."""
    files = write_dicom(pet_volume(make_volume, rng), tmp_path / "pet", units="gml")
    for path in files:
        ds = pydicom.dcmread(path)
        assert iod_gaps(ds) == ([], [])
        assert ds.Units == "GML"
        assert ds.SeriesType[0] in ("STATIC", "DYNAMIC", "GATED", "WHOLE BODY")
        assert ds.SeriesType[1] == "IMAGE"
        assert ds.CountsSource in ("EMISSION", "TRANSMISSION")
        assert ds.DecayCorrection == "NONE" or "DecayFactor" in ds  # DecayFactor is 1C: other than NONE
        assert ds.ImageType[1] == "PRIMARY" and ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.RadiopharmaceuticalInformationSequence == []  # type 2, unknown
        assert "RescaleType" not in ds  # not in the PET Image IOD: Units says the units


def test_simpleitk_reads_the_geometry_and_values_of_the_volume(tmp_path, make_volume, rng, sitk_read):
    """Regression: a first slice of zeros had RescaleSlope 1, and ITK, which takes the series' pixel type
    from the first file, read the whole series as uint16, truncating every other slice's values."""
    volume = pet_volume(make_volume, rng)
    volume.data[0] = 0.0
    files = write_dicom(volume, tmp_path / "pet", units="BQML")
    voxels, spacing, origin, direction = sitk_read(files)
    # ITK sums the positions itself, in float64 of the DS strings: 1e-4 as for CT (test_write)
    np.testing.assert_allclose(spacing, volume.spacing, atol=1e-4)
    np.testing.assert_allclose(origin, volume.origin, atol=1e-4)
    np.testing.assert_allclose(direction, volume.direction, atol=1e-4)
    # GDCM applies each file's slope; it returns float32 (half a unit in the last place of the value)
    np.testing.assert_array_less(
        np.abs(voxels - volume.data), half_slopes(files) * (1 + 1e-6) + np.abs(volume.data) * 2.0**-23
    )


@pytest.mark.parametrize("negative", [False, True], ids=["non-negative", "negative"])
def test_read_dicom_reads_the_series_back(tmp_path, make_volume, rng, negative):
    volume = pet_volume(make_volume, rng, negative=negative)
    files = write_dicom(volume, tmp_path / "pet", units="BQML")
    read = read_dicom(tmp_path / "pet", device="cpu")
    assert read.meta["modality"] == "PT" and read.shape == volume.shape
    np.testing.assert_allclose(read.spacing, volume.spacing, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(read.origin, volume.origin, atol=GEOMETRY_ATOL)
    np.testing.assert_allclose(read.direction, volume.direction, atol=GEOMETRY_ATOL)
    # half a slope of each slice, as pydicom reads it, plus read_dicom's float32 rounding of the value
    bound = half_slopes(files) + np.abs(volume.data) * np.finfo(read.data.dtype).eps
    assert np.all(np.abs(read.data.astype(np.float64) - volume.data) <= bound)
    [series] = list_series(tmp_path / "pet")
    assert (series.modality, series.n_slices, series.shape) == ("PT", volume.shape[0], volume.shape)


def test_float32_and_integer_volumes(tmp_path, make_volume, rng):
    """Counts (integers) and float32 SUVs go through the same per-slice rescale."""
    base = pet_volume(make_volume, rng, shape=(3, 5, 4))
    for name, data in [("counts", rng.integers(0, 10**6, base.shape)), ("f32", base.data.astype(np.float32))]:
        volume = Volume(data, base.spacing, base.origin, base.direction)
        files = write_dicom(volume, tmp_path / name, modality="PT", units="CNTS")
        datasets = [pydicom.dcmread(f) for f in files]
        values = np.stack([ds.pixel_array * float(ds.RescaleSlope) for ds in datasets])
        # float64 products: rounding far below 1e-12 of a slope
        assert np.all(np.abs(values - data) <= half_slopes(files) * (1 + 1e-12))


@pytest.mark.parametrize("syntax", [pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian])
def test_read_dicom_keeps_the_units_of_the_series(tmp_path, make_volume, rng, syntax):
    # Explicit VR goes through gpuimg's quick header reader, implicit VR through pydicom.
    files = write_dicom(pet_volume(make_volume, rng, shape=(3, 5, 4)), tmp_path / "pet", units="gml")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = syntax
        ds.save_as(path)
    assert {str(pydicom.dcmread(f).Units) for f in files} == {"GML"}
    assert read_dicom(tmp_path / "pet", device="cpu").meta["units"] == "GML"
    ct = Volume(np.zeros((2, 3, 4), np.int16), (1.0, 1.0, 1.0))
    write_dicom(ct, tmp_path / "ct")
    assert read_dicom(tmp_path / "ct", device="cpu").meta["units"] == ""  # a CT has no Units


def test_units_are_required_and_checked(tmp_path, make_volume, rng):
    """Not taken from meta, where the values may have been converted since: SUVs taken for Bq/ml are
    wrong by 10**4. No default."""
    volume = pet_volume(make_volume, rng, shape=(2, 3, 4))
    with pytest.raises(ParameterError, match=r"needs units=.*'BQML'.*'GML'"):
        write_dicom(volume, tmp_path / "a")  # the modality from volume.meta
    with pytest.raises(ParameterError, match=r"units='SUV' is not one of DICOM's PET units.*GML"):
        write_dicom(volume, tmp_path / "a", units="SUV")
    with pytest.raises(ParameterError, match=r"units=3 is not one"):
        write_dicom(volume, tmp_path / "a", units=3)
    with pytest.raises(ParameterError, match=r"rescale_type='US' is for CT and MR.*units="):
        write_dicom(volume, tmp_path / "a", units="BQML", rescale_type="US")
    with pytest.raises(ParameterError, match=r"units='BQML' is the Units of a PET series; a CT"):
        write_dicom(volume, tmp_path / "a", modality="CT", units="BQML")
    assert not (tmp_path / "a").exists()


def test_non_finite_values_refused(tmp_path, make_volume, rng):
    volume = pet_volume(make_volume, rng, shape=(2, 3, 4))
    for bad in (np.nan, np.inf):
        volume.data[1, 2, 3] = bad
        with pytest.raises(ParameterError, match="NaN or infinite"):
            write_dicom(volume, tmp_path / "a", units="BQML")
    assert not (tmp_path / "a").exists()
