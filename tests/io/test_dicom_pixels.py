"""read_dicom's pixels against pydicom: files read straight into the volume, and files pydicom decodes.

Series are written here with pydicom, one slice a file, in the stored types, bit depths, rescales and
transfer syntaxes under test; the reference is pydicom's ``pixel_array * slope + intercept`` in float64,
which read_dicom must give exactly (as int16 where every value is an integer that fits, else float32,
which the float64 reference is rounded to once).
"""

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from gpuimg.io import _pixels, read_dicom
from gpuimg.io._quick_reader import _WHOLE_FILE, _read_tags

SPACING = (2.5, 0.5, 0.75)  # z, y, x [mm]


def write_series(
    folder, stored, *, bits_stored=None, rescales=((1, 0),), syntax=ExplicitVRLittleEndian, **extra
):
    """One file per slice of ``stored`` (z, y, x); slice k gets ``rescales[k % len(rescales)]``."""
    folder.mkdir(parents=True, exist_ok=True)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    bits = stored.dtype.itemsize * 8
    files = []
    for k, plane in enumerate(stored):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = syntax
        path = folder / f"slice_{k:03d}.dcm"
        ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID = "CT", "PIXELS-1"
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = series, study, frame
        ds.ImagePositionPatient = [-10.0, 20.0, k * SPACING[0]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = list(SPACING[1:])
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = plane.shape
        ds.BitsAllocated, ds.BitsStored = bits, bits_stored or bits
        ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, int(stored.dtype.kind == "i")
        ds.RescaleSlope, ds.RescaleIntercept = (str(v) for v in rescales[k % len(rescales)])
        for keyword, value in extra.items():
            setattr(ds, keyword, value)
        order = ">" if syntax == ExplicitVRBigEndian else "<"
        ds.PixelData = plane.astype(plane.dtype.newbyteorder(order)).tobytes()
        if syntax == RLELossless:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.compress(RLELossless, encoding_plugin="pydicom")
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        files.append(path)
    return files


def reference(files) -> np.ndarray:
    """pydicom's rescaled values, stacked in file order (the files are written in position order)."""
    slices = []
    for path in files:
        ds = pydicom.dcmread(path)
        slices.append(ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    return np.stack(slices)


def assert_equals_pydicom(folder, files, integral=True):
    volume = read_dicom(folder, device="cpu")
    expected = reference(files)
    fits = expected.min() >= -(2**15) and expected.max() < 2**15
    assert volume.data.dtype == (np.int16 if integral and fits else np.float32)
    np.testing.assert_array_equal(volume.data, expected.astype(volume.data.dtype))
    np.testing.assert_allclose(volume.spacing, SPACING, rtol=1e-12)
    np.testing.assert_allclose(volume.origin, (-10.0, 20.0, 0.0), rtol=1e-12)
    return volume


def _with_high_bits(values: np.ndarray, bits_stored: int, rng) -> np.ndarray:
    """``values`` in their low ``bits_stored`` bits, with noise in the unused high bits."""
    unsigned = values.astype(np.int64) & (2**bits_stored - 1)
    noise = rng.integers(0, 2 ** (16 - bits_stored), values.shape) << bits_stored
    return (unsigned | noise).astype(np.uint16).view(values.dtype)


CASES = {
    # name: (stored dtype, value range, BitsStored, rescales)
    "int16 identity": (np.int16, (-1024, 3071), None, ((1, 0),)),
    "int16 12 bits": (np.int16, (-2048, 2047), 12, ((1, -1024),)),
    "uint16 full range": (np.uint16, (0, 65535), None, ((1, -32768),)),
    "uint16 12 bits": (np.uint16, (0, 4095), 12, ((1, -1024),)),
    "uint16 too large for int16": (np.uint16, (0, 60000), None, ((1, 0),)),
    "uint8": (np.uint8, (0, 255), None, ((2, -100),)),
    "int16 fractional": (np.int16, (-1000, 1000), None, ((0.5, -10.25),)),
    "int16 product overflows": (np.int16, (0, 20000), None, ((3, -30000),)),
    "per-slice rescales": (np.int16, (-500, 500), None, ((1, 0), (2, -1024), (1, 7))),
    "uint32 small values": (np.uint32, (0, 30000), None, ((1, 0),)),
    "int32 large values": (np.int32, (-(10**6), 10**6), None, ((1, 0),)),
}


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_generated_series_equal_pydicom(tmp_path, rng, case, threaded, monkeypatch):
    # Threaded: read by threads and rescaled slice by slice, as a large series is; else read in this
    # thread, and a series of one rescale into int16 rescaled whole.
    if threaded:
        monkeypatch.setattr(_pixels, "_THREADED_BYTES", 0)
    dtype, (low, high), bits_stored, rescales = CASES[case]
    values = rng.integers(low, high, (5, 6, 7), endpoint=True).astype(dtype)
    if bits_stored:
        values = _with_high_bits(values, bits_stored, rng)
    files = write_series(tmp_path, values, bits_stored=bits_stored, rescales=rescales)
    assert all(_read_tags(path) is not None for path in files)
    integral = all(float(s).is_integer() and float(b).is_integer() for s, b in rescales)
    assert_equals_pydicom(tmp_path, files, integral)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("plane", [(40, 48), (100, 100)])
def test_small_files_are_read_once(tmp_path, rng, plane, threaded, monkeypatch):
    """A file of at most _WHOLE_FILE bytes (a 40 x 48 slice of 12 bits stored, noise in the high bits)
    is read whole with its header, and read_dicom takes its pixels from those bytes without opening it
    again; a larger one (100 x 100) is opened. The voxels are pydicom's either way."""
    if threaded:
        monkeypatch.setattr(_pixels, "_THREADED_BYTES", 0)
    values = _with_high_bits(rng.integers(0, 4095, (4, *plane)).astype(np.uint16), 12, rng)
    files = write_series(tmp_path, values, bits_stored=12, rescales=((1, -1024),))
    small = all(path.stat().st_size <= _WHOLE_FILE for path in files)
    assert small == (plane == (40, 48))
    opened = []
    monkeypatch.setattr(
        _pixels, "open", lambda *args, **kw: opened.append(args[0]) or open(*args, **kw), raising=False
    )
    assert_equals_pydicom(tmp_path, files)
    assert sorted(opened) == ([] if small else files)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("plane", [(1, 1), (1, 3), (3, 3)])
def test_8_bit_images_of_an_odd_number_of_pixels(tmp_path, rng, plane, syntax):
    # Their pixel data are padded to an even length; a 1 x 1 image holds 2 bytes for its 1, which
    # was refused as "BitsAllocated, Rows or Columns does not match the pixel data".
    values = rng.integers(0, 255, (4, *plane), endpoint=True).astype(np.uint8)
    files = write_series(tmp_path, values, syntax=syntax)
    assert len(pydicom.dcmread(files[0]).PixelData) == values[0].size + values[0].size % 2
    assert_equals_pydicom(tmp_path, files)


@pytest.mark.parametrize(
    "syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless, DeflatedExplicitVRLittleEndian]
)
def test_other_syntaxes_fall_back_to_pydicom(tmp_path, rng, syntax):
    values = rng.integers(-1024, 3071, (4, 6, 7)).astype(np.int16)
    files = write_series(tmp_path, values, rescales=((1, -1024),), syntax=syntax)
    assert all(_read_tags(path) is None for path in files)
    assert_equals_pydicom(tmp_path, files)


def test_series_mixing_quick_and_pydicom_files(tmp_path, rng):
    values = rng.integers(0, 4095, (6, 6, 7)).astype(np.uint16)
    quick = write_series(tmp_path / "explicit", values, rescales=((1, -1024),))
    slow = write_series(tmp_path / "implicit", values, rescales=((1, -1024),), syntax=ImplicitVRLittleEndian)
    # One series: odd slices from the implicit-VR copy (same UIDs and positions as the explicit one).
    for k, path in enumerate(slow):
        ds = pydicom.dcmread(quick[k])
        other = pydicom.dcmread(path)
        for keyword in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
            setattr(other, keyword, ds[keyword].value)
        other.save_as(path)
    files = [slow[k] if k % 2 else quick[k] for k in range(len(quick))]
    volume = read_dicom(files, device="cpu")
    np.testing.assert_array_equal(volume.data, reference(files).astype(np.int16))


def test_undefined_length_sequences_are_skipped(tmp_path, rng):
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = CTImageStorage, generate_uid()
    inner = Dataset()
    inner.CodeValue, inner.CodeMeaning = "113691", "IHE Protocol"
    item.PurposeOfReferenceCodeSequence = Sequence([inner])
    values = rng.integers(-1024, 3071, (3, 6, 7)).astype(np.int16)
    files = write_series(tmp_path, values, ReferencedImageSequence=Sequence([item, item]))
    for path in files:  # rewrite with every sequence and item of undefined length, as many scanners do
        ds = pydicom.dcmread(path)
        for sequence in (
            ds.ReferencedImageSequence,
            ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence,
        ):
            for entry in sequence:
                entry.is_undefined_length_sequence_item = True
        ds["ReferencedImageSequence"].is_undefined_length = True
        ds.save_as(path)
        assert b"\xfe\xff\xdd\xe0" in path.read_bytes()  # a sequence delimiter was written
        assert _read_tags(path) is not None
    assert_equals_pydicom(tmp_path, files)


def test_elements_after_pixel_data(tmp_path, rng):
    values = rng.integers(-1024, 3071, (3, 6, 7)).astype(np.int16)
    files = write_series(tmp_path, values)
    for path in files:
        ds = pydicom.dcmread(path)
        ds.DataSetTrailingPadding = b"\0" * 64
        ds.save_as(path)
    assert_equals_pydicom(tmp_path, files)


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm"],
)
def test_pydicom_test_files(testfile, name):
    path = testfile(name)
    ds = pydicom.dcmread(path)
    volume = read_dicom(path, device="cpu")
    expected = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    np.testing.assert_array_equal(volume.data[0], expected.astype(volume.data.dtype))
    np.testing.assert_allclose(volume.origin, [float(v) for v in ds.ImagePositionPatient], rtol=1e-12)
    np.testing.assert_allclose(volume.spacing[1:], [float(v) for v in ds.PixelSpacing], rtol=1e-12)
    row, col = (
        np.array(ds.ImageOrientationPatient[:3], float),
        np.array(ds.ImageOrientationPatient[3:], float),
    )
    np.testing.assert_allclose(volume.direction, np.column_stack([np.cross(row, col), col, row]), atol=1e-12)


def test_text_in_other_character_sets_is_decoded_by_pydicom(tmp_path, rng):
    values = rng.integers(-1024, 3071, (2, 6, 7)).astype(np.int16)
    # ISO 2022 IR 87 (JIS X 0208) text is 7-bit bytes with escape sequences; Latin-1 text is 8-bit.
    for charset, description in (("\\ISO 2022 IR 87", "山田^太郎"), ("ISO_IR 100", "Müller")):
        folder = tmp_path / charset.strip("\\").replace(" ", "_")
        files = write_series(folder, values, SpecificCharacterSet=charset, SeriesDescription=description)
        assert all(_read_tags(path) is None for path in files)
        assert read_dicom(folder, device="cpu").meta["description"] == description
