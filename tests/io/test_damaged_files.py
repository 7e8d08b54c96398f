"""Damaged DICOM headers and pixel streams give a DicomError that names the file and the element.

pydicom converts a header value when it is first read, so a damaged element used to surface later
as a TypeError, ValueError or NotImplementedError in whatever read it (and a damaged RLE stream as a
Rust panic, which is no ``Exception``, so a cohort job could not record it and go on). The fuzz test
at the end mutates small files at random and accepts only gpuimg's errors, under a memory limit and
a timeout.
"""

import json
import re
import struct
import warnings

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
from guarded import run_guarded
from pydicom.encaps import encapsulate, generate_frames
from rtstruct_files import square_contour, write_structure_set
from seg_files import seg_sources, write_seg

from gpuimg import Volume
from gpuimg.errors import DicomError
from gpuimg.io import list_series, read_dicom, read_rtstruct, read_seg, rtstruct_roi_names, write_dicom

# highdicom's, building SEG and RTSTRUCT files on write_dicom's series, whose patient name is ANONYMOUS.
pytestmark = pytest.mark.filterwarnings('ignore:The string "ANONYMOUS" is unlikely')


def _saved(ds: pydicom.Dataset, folder, **values):
    """``ds`` with ``values`` set, written as the only file of ``folder``."""
    folder.mkdir()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    path = folder / "slice.dcm"
    ds.save_as(path)
    return path


def _edited(source, folder, old: bytes, new: bytes):
    """The bytes of ``source`` with its one occurrence of ``old`` replaced by ``new`` (same length)."""
    data = source.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    folder.mkdir()
    path = folder / "slice.dcm"
    path.write_bytes(data.replace(old, new))
    return path


# CT_small.dcm is what scanners write most (explicit VR little endian: the quick reader takes it
# and gives it to pydicom where a value is odd); MR_small_implicit.dcm only pydicom reads.
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm"])
@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PixelRepresentation", [0, 1]),
        ("SpacingBetweenSlices", [1.0, 2.0]),
        ("SliceThickness", [1.0, 2.0]),
        ("RescaleSlope", [1.0, 2.0]),
    ],
)
def test_several_numbers_where_one_belongs(testfile, tmp_path, name, keyword, value):
    """Each file is a series of one slice, whose spacing SpacingBetweenSlices, else SliceThickness, gives:
    SliceThickness is left out of CT_small (which has both) so that it is used."""
    ds = pydicom.dcmread(testfile(name))
    if keyword == "SliceThickness":
        ds.pop("SpacingBetweenSlices", None)
    path = _saved(ds, tmp_path / "study", **{keyword: value})
    with pytest.raises(DicomError, match=rf"{keyword} \(\w{{4}},\w{{4}}\) is \[.+\], not one number") as info:
        read_dicom(path, device="cpu")
    assert str(path) in str(info.value)
    (series,) = list_series(tmp_path / "study")
    assert keyword in series.problem and series.shape is None


def test_letters_in_a_number(testfile, tmp_path):
    path = _edited(
        testfile("CT_small.dcm"),
        tmp_path / "study",
        b"\x18\x00\x88\x00DS\x08\x005.000000",
        b"\x18\x00\x88\x00DS\x08\x005.000V00",
    )
    with pytest.raises(DicomError, match=r"SpacingBetweenSlices \(0018,0088\) is '5.000V00', not one number"):
        read_dicom(path, device="cpu")


def test_a_number_longer_than_a_number_may_be_is_not_shown(testfile, tmp_path):
    """A value that ran into the next elements may hold a name: it is not shown."""
    data = testfile("CT_small.dcm").read_bytes()
    old = b"\x18\x00\x88\x00DS\x08\x005.000000"  # SpacingBetweenSlices, 8 characters
    assert data.count(old) == 1
    (tmp_path / "study").mkdir()
    path = tmp_path / "study" / "slice.dcm"
    path.write_bytes(data.replace(old, b"\x18\x00\x88\x00DS\x18\x005.0 Doe^Jane Q^^^^^^^^^^"))
    with pytest.raises(
        DicomError, match=r"SpacingBetweenSlices \(0018,0088\) is not one number, and"
    ) as info:
        read_dicom(path, device="cpu")
    assert "Doe" not in str(info.value)


def test_empty_pixel_representation(testfile, tmp_path):
    path = _saved(
        pydicom.dcmread(testfile("MR_small_implicit.dcm")), tmp_path / "study", PixelRepresentation=None
    )
    with pytest.raises(
        DicomError, match=r"PixelRepresentation is empty; it must be 0 \(unsigned\) or 1 \(signed\)"
    ):
        read_dicom(path, device="cpu")


# The three below were found by fuzzing (a TypeError each, from int(None) or len(None)).
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm"])
def test_empty_samples_per_pixel(testfile, tmp_path, name):
    path = _saved(pydicom.dcmread(testfile(name)), tmp_path / "study", SamplesPerPixel=None)
    with pytest.raises(DicomError, match=r"slice\.dcm: SamplesPerPixel is empty; it must be 1 \(grey"):
        read_dicom(path, device="cpu")
    (series,) = list_series(tmp_path / "study")
    assert "SamplesPerPixel is empty" in series.problem


def test_empty_bits_stored_means_bits_allocated(tmp_path):
    """As where BitsStored is absent: every bit of the 16 holds the value (pydicom refuses the file)."""
    volume = Volume(np.array([-1000, 5, 3000, -2], np.int16).reshape(1, 2, 2), (1.0, 1.0, 1.0))
    (source,) = write_dicom(volume, tmp_path / "source")
    path = _saved(pydicom.dcmread(source), tmp_path / "study", BitsStored=None)
    np.testing.assert_array_equal(read_dicom(path, device="cpu").data, volume.data)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"])
def test_empty_pixel_data_before_trailing_padding(testfile, tmp_path, name):
    """Pixel Data of length 0, the file long enough for the pixels the header claims (padding follows)."""
    ds = pydicom.dcmread(testfile(name))
    claimed = ds.Rows * ds.Columns * ds.BitsAllocated // 8
    path = _saved(ds, tmp_path / "study", PixelData=b"", DataSetTrailingPadding=b"\0" * (claimed + 64))
    with pytest.raises(DicomError, match=r"slice\.dcm: .* \(\d+ bytes\), but the pixel data hold 0 bytes\."):
        read_dicom(path, device="cpu")


def test_columns_that_do_not_divide_the_pixel_data(testfile, tmp_path):
    # An RT dose of 15 frames of 10 x 10 at 32 bits (6000 bytes) that claims 8 columns (4800 bytes):
    # pydicom decodes 18 frames of 10 x 8, which did not reshape to 15 (a ValueError; found by fuzzing),
    # then a DicomError ("its pixel data decode to 1440 values (18, 10, 8)"). Now the header's 15 frames
    # are read from the first 4800 bytes, as where the quick tag reader reads the file, with the warning
    # of the excess.
    ds = pydicom.dcmread(testfile("rtdose.dcm"))
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns, ds.BitsAllocated) == (15, 10, 10, 32)
    path = _saved(ds, tmp_path / "study", Columns=8)
    with pytest.warns(UserWarning, match=r"slice\.dcm: its pixel data hold 6000 bytes, 1200 more than"):
        volume = read_dicom(path, device="cpu")
    # The reference: the standard's native layout of the first 15 x 10 x 8 stored values, scaled to Gy;
    # float32 holds the product to its own precision.
    stored = np.frombuffer(ds.PixelData, "<u4")[: 15 * 10 * 8].reshape(15, 10, 8)
    np.testing.assert_allclose(volume.data, stored * float(ds.DoseGridScaling), rtol=1e-6)


#: The uncompressed transfer syntaxes: the quick tag reader's (explicit VR), pydicom's (implicit), and
#: deflated, whose pixel data's length is that of the inflated dataset.
_UNCOMPRESSED = [
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.DeflatedExplicitVRLittleEndian,
]


@pytest.mark.parametrize("syntax", _UNCOMPRESSED)
def test_pixel_data_longer_than_the_header_claims_are_read_with_a_warning(testfile, tmp_path, syntax):
    # CT_small.dcm (128 x 128 at 16 bits, 32768 bytes) with Columns damaged to 120 (30720 bytes) was read
    # as (1, 128, 120) of sheared values without a word (found by fuzzing). Padding after the pixels is
    # real (pydicom's MR_small_padded.dcm, test_dicom), so the first 30720 bytes are read, with one
    # warning at the caller's line saying what to check: from the quick tag reader (explicit VR) and
    # from pydicom's (implicit, deflated), whose own "excess padding" warning is not repeated. A
    # deflated file had pydicom's warning alone, from read_dicom only.
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = syntax
    path = _saved(ds, tmp_path / "study", Columns=120)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
    # The reference: the standard's native layout of the first 128 x 120 stored values, rescaled.
    stored = np.frombuffer(ds.PixelData, "<i2" if ds.PixelRepresentation else "<u2")[: 128 * 120]
    expected = stored.reshape(1, 128, 120) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    message = re.compile(
        r"slice\.dcm: its pixel data hold 32768 bytes, 2048 more than the 30720 the header claims "
        r"\(1 frame of 128 x 120 pixels at 16 bits\); the first 30720 are read as the image\. .*"
        r"Rows, Columns, BitsAllocated or NumberOfFrames is wrong"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        volume = read_dicom(path, device="cpu")
        found = list_series(tmp_path / "study")
    assert [(w.filename, bool(message.search(str(w.message)))) for w in caught] == [(__file__, True)] * 2
    np.testing.assert_array_equal(volume.data, expected)
    assert (found[0].shape, found[0].problem) == ((1, 128, 120), None)


@pytest.mark.parametrize("syntax", _UNCOMPRESSED)
def test_pixel_data_of_twice_the_claimed_bytes_are_refused(testfile, tmp_path, syntax):
    # A deflated file was refused only when its pixels were decoded, and list_series saw no problem.
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = syntax
    path = _saved(ds, tmp_path / "study", Columns=64)
    message = (
        r"slice\.dcm: the header claims 1 frame of 128 x 64 pixels at 16 bits \(16384 bytes\), but the "
        r"pixel data hold 32768 bytes\. BitsAllocated, Rows, Columns or NumberOfFrames does not match"
    )
    with pytest.raises(DicomError, match=message):
        read_dicom(path, device="cpu")
    assert re.search(message, list_series(tmp_path / "study")[0].problem)


def _padded_series(tmp_path, syntax, padding: dict[int, int]):
    """A series of 6 slices of 8 x 10 pixels at 16 bits (160 bytes each) in ``tmp_path / "ct"``, in
    transfer syntax ``syntax``, file k's pixel data followed by ``padding[k]`` bytes (an even number)
    in its Pixel Data element, as exporters that pad every slice write them; its voxels and files."""
    rng = np.random.default_rng(7)
    volume = Volume(rng.integers(-1000, 2000, (6, 8, 10)).astype(np.int16), (2.0, 0.7, 0.8))
    files = write_dicom(volume, tmp_path / "ct")
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = syntax
        ds.PixelData = ds.PixelData + bytes(range(padding.get(k, 0)))
        ds.save_as(path)
    return volume.data, files


def _caught(call):
    """What ``call()`` returns, and each warning it gives as (file it points at, message)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [(w.filename, str(w.message)) for w in caught]


@pytest.mark.parametrize("syntax", _UNCOMPRESSED)
def test_a_series_padded_in_every_file_gives_one_warning(tmp_path, syntax):
    # Each file's own warning named its own path, so Python's default filter showed all of them: 300
    # warnings for a series of 300 padded slices, from read_dicom and again from list_series.
    voxels, files = _padded_series(tmp_path, syntax, dict.fromkeys(range(6), 64))
    uid = pydicom.dcmread(files[0]).SeriesInstanceUID
    expected = (
        f"Series {uid} in {tmp_path / 'ct'}: the pixel data of all 6 files hold 224 bytes, 64 more than the "
        "160 their headers claim (1 frame of 8 x 10 pixels at 16 bits); the first 160 bytes of each are "
        "read as the image. Padding after the pixels is harmless, but where the image looks sheared or "
        "shifted, Rows, Columns, BitsAllocated or NumberOfFrames is wrong"
    )
    volume, said = _caught(lambda: read_dicom(tmp_path / "ct", device="cpu"))
    assert len(said) == 1 and said[0][0] == __file__ and said[0][1].startswith(expected)
    np.testing.assert_array_equal(volume.data, voxels)
    found, said = _caught(lambda: list_series(tmp_path / "ct"))
    assert len(said) == 1 and said[0][0] == __file__ and said[0][1].startswith(expected)
    assert (found[0].shape, found[0].problem) == ((6, 8, 10), None)
    # list_series warned already; read_dicom of its SeriesInfo reads the pixels only.
    volume, said = _caught(lambda: read_dicom(found[0], device="cpu"))
    assert said == []
    np.testing.assert_array_equal(volume.data, voxels)


def test_a_series_padded_in_some_files_says_how_many_and_the_range(tmp_path):
    voxels, files = _padded_series(tmp_path, pydicom.uid.ExplicitVRLittleEndian, {4: 128, 1: 64})
    expected = (
        f"in {tmp_path / 'ct'}: the pixel data of 2 of 6 files (the first {files[1].name}) hold 224 to 288 "
        "bytes, 64 to 128 more than the 160 their headers claim (1 frame of 8 x 10 pixels at 16 bits);"
    )
    for call in (lambda: read_dicom(tmp_path / "ct", device="cpu"), lambda: list_series(tmp_path / "ct")):
        result, said = _caught(call)
        assert [(filename, expected in message) for filename, message in said] == [(__file__, True)]
    np.testing.assert_array_equal(result[0].shape, voxels.shape)


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL"])
def test_a_seg_of_more_pixel_data_than_it_claims_is_read_with_one_warning(tmp_path, kind):
    # A SEG's excess bytes had no warning of gpuimg's (a BINARY SEG's frames are unpacked by gpuimg,
    # after a check of the length alone) or pydicom's "excess padding" warning, once for each frame
    # decoded (a FRACTIONAL SEG's).
    import highdicom as hd

    image = Volume(np.zeros((4, 6, 7), np.int16), (2.0, 0.5, 0.5))
    sources = seg_sources(write_dicom(image, tmp_path / "ct"))
    image = read_dicom(tmp_path / "ct", device="cpu")
    liver = np.random.default_rng(3).random(image.shape) < 0.4
    path = write_seg(
        tmp_path / "seg.dcm", sources, {"Liver": liver}, kind=hd.seg.SegmentationTypeValues[kind]
    )
    ds = pydicom.dcmread(path)
    frames, bits = int(ds.NumberOfFrames), int(ds.BitsAllocated)
    claimed = (frames * 6 * 7 * bits + 7) // 8  # the standard's native size: 1-bit pixels packed
    ds.PixelData = ds.PixelData[:claimed] + bytes(claimed % 2) + bytes(range(8))  # less than twice
    ds.save_as(path)
    length = claimed + claimed % 2 + 8
    mask, said = _caught(lambda: read_seg(path, image))
    assert [filename for filename, _ in said] == [__file__]
    assert said[0][1].startswith(
        f"{path}: its pixel data hold {length} bytes, {length - claimed} more than the {claimed} the header "
        f"claims ({frames} frames of 6 x 7 pixels at {bits} bits); the first {claimed} are read as the image."
    )
    np.testing.assert_array_equal(mask.data, liver)


def test_the_byte_that_pads_an_odd_length_is_no_excess(testfile, tmp_path):
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    stored = np.arange(9, dtype=np.uint8).reshape(1, 3, 3)
    values = {"Rows": 3, "Columns": 3, "BitsAllocated": 8, "BitsStored": 8, "HighBit": 7}
    path = _saved(ds, tmp_path / "study", **values, PixelRepresentation=0, PixelData=stored.tobytes())
    assert len(pydicom.dcmread(path).PixelData) == 10  # pydicom pads the 9 bytes to an even length
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume = read_dicom(path, device="cpu")
    np.testing.assert_array_equal(volume.data, stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept))


def test_unknown_vr_of_a_text_value(testfile, tmp_path):
    """The modality's VR bytes damaged: pydicom fails on reading the value. The file cannot be placed in
    a series (its text values, the UIDs among them, are not to be trusted): it is a broken file, and
    the value is not shown (a damaged text element can run into the patient's name)."""
    path = _edited(testfile("CT_small.dcm"), tmp_path / "study", b"\x08\x00\x60\x00CS", b"\x08\x00\x60\x00UZ")
    found = list_series(tmp_path / "study")
    assert len(found) == 0
    assert found.broken == {
        path: "its Modality (0008,0060) cannot be read (NotImplementedError); the header is damaged. "
        "Export the file again."
    }
    with pytest.raises(
        DicomError, match=r"Cannot read 1 file as DICOM: .*slice.dcm: its Modality \(0008,0060\)"
    ):
        read_dicom(path, device="cpu")


def test_unreadable_sop_class_of_a_file_without_rows(testfile, tmp_path):
    ds = pydicom.dcmread(testfile("CT_small.dcm"))
    del ds.Rows
    source = _saved(ds, tmp_path / "source")
    # (0002,0002) MediaStorageSOPClassUID, its VR damaged
    path = _edited(source, tmp_path / "study", b"\x02\x00\x02\x00UI", b"\x02\x00\x02\x00UZ")
    assert list_series(tmp_path / "study").broken == {
        path: "its SOP class UID cannot be read (NotImplementedError); the header is damaged"
    }


def test_damaged_rle_stream(testfile, tmp_path):
    """A replicate run longer than the frame: pylibjpeg-rle panics (a BaseException) where another
    decoder would raise; either way the reader raises a DicomError."""
    ds = pydicom.dcmread(testfile("MR_small_RLE.dcm"))
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    frame[64] = 0x81  # the first byte of the first segment: repeat the next byte 128 times
    path = _saved(ds, tmp_path / "study", PixelData=encapsulate([bytes(frame)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some decoders warn before failing
        with pytest.raises(DicomError, match=r"slice.dcm: the pixel data cannot be decoded \(RLE Lossless"):
            read_dicom(path, device="cpu")


#: pydicom's small files of nine kinds: explicit and implicit VR, big endian, no meta header, RLE,
#: JPEG 2000, deflated, RT dose.
_IMAGES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "ExplVR_LitEndNoMeta.dcm",
    "JPEG2000.dcm",
    "image_dfl.dcm",
    "rtdose.dcm",
]

# Each source file is damaged in turn, in one of five ways, and read by the readers of its kind: an
# image alone in a folder by read_dicom and list_series, a SEG or RTSTRUCT against the series REF, a
# NIfTI or NRRD volume by read_image.
_FUZZ = """
import json, numpy as np, shutil, traceback, warnings
from pathlib import Path
from gpuimg.errors import GpuimgError
from gpuimg.io import list_series, read_dicom, read_image, read_rtstruct, read_seg, rtstruct_roi_names
warnings.simplefilter("ignore")
reference = read_dicom(REF, device="cpu")
rng = np.random.default_rng(SEED)
failures = []
for k in range(MUTANTS):
    source, kind = SOURCES[k % len(SOURCES)]
    data = bytearray(Path(source).read_bytes())
    # The header and the start of the pixel data of an image or a volume; a SEG's or RTSTRUCT's every byte.
    head = min(len(data), 2048) if kind in ("image", "volume") else len(data)
    damage = k // len(SOURCES) % 5
    if damage == 0:  # bytes overwritten
        for _ in range(rng.integers(1, 8)):
            data[rng.integers(0, head)] = rng.integers(0, 256)
    elif damage == 1:  # cut short
        data = data[: rng.integers(0, len(data))]
    elif damage == 2:  # a length or count set to a large number
        at = rng.integers(128, head - 4)
        data[at : at + 4] = int(rng.choice([2**32 - 1, 2**31 - 1, 2**32 - 16])).to_bytes(4, "little")
    elif damage == 3:  # a short value (a VR, a US, a 2-byte length)
        at = rng.integers(128, head - 2)
        data[at : at + 2] = int(rng.integers(0, 2**16)).to_bytes(2, "little")
    else:  # bytes left out or put in
        at = rng.integers(128, head)
        if rng.random() < 0.5:
            del data[at : at + rng.integers(1, 9)]
        else:
            data[at:at] = rng.integers(0, 256, rng.integers(1, 9)).astype(np.uint8).tobytes()
    folder = TMP / str(k)
    folder.mkdir()
    path = folder / "a.dcm"
    path.write_bytes(bytes(data))
    calls = {
        "image": (lambda: read_dicom(path, device="cpu"), lambda: list_series(folder)),
        "seg": (lambda: read_seg(path, reference),),
        "rtstruct": (lambda: read_rtstruct(path, reference), lambda: rtstruct_roi_names(path)),
        "volume": (lambda: read_image(path.rename(folder / Path(source).name), device="cpu"),),
    }[kind]
    for call in calls:
        try:
            call()
        except GpuimgError:
            pass
        except BaseException as exc:
            failures.append([Path(source).name, damage, traceback.format_exception(exc)[-1].strip()[:300]])
    shutil.rmtree(folder)
if failures:
    raise AssertionError(json.dumps(failures[:10]))
"""


def _setup(seed: int, mutants: int, sources: list[tuple[str, str]], reference, folder) -> str:
    """The fuzz code's inputs: ``mutants`` files from ``sources`` ((path, kind) pairs) damaged with
    ``seed`` in ``folder``; the series ``reference`` for the SEG and RTSTRUCT."""
    values = f"SEED, MUTANTS, SOURCES, REF = {seed}, {mutants}, {sources!r}, {str(reference)!r}"
    return f"from pathlib import Path\n{values}\nTMP = Path({str(folder)!r})\n"


@pytest.fixture
def objects(tmp_path, rng):
    """A small CT series, a SEG (by highdicom) and an RTSTRUCT of a box on it, and the same volume as
    NIfTI (plain and gzip) and NRRD (raw and gzip): the series' folder, the two files, the four volumes."""
    volume = Volume(rng.integers(-100, 100, (5, 16, 16)).astype(np.int16), (2.0, 1.0, 1.0))
    write_dicom(volume, tmp_path / "ct")
    box = np.zeros(volume.shape, bool)
    box[1:4, 4:10, 5:12] = True
    write_seg(tmp_path / "seg.dcm", seg_sources(sorted((tmp_path / "ct").iterdir())), {"lesion": box})
    contours = [square_contour(volume, k, 3, 9) for k in (2, 3)]
    write_structure_set(tmp_path / "rt.dcm", {"GTV": contours})
    affine = np.diag([0.7, 0.8, 2.0, 1.0])
    nib.save(nib.Nifti1Image(volume.data, affine), tmp_path / "volume.nii")
    nib.save(nib.Nifti1Image(volume.data, affine), tmp_path / "volume.nii.gz")
    header = {
        "space": "left-posterior-superior",
        "space directions": np.diag([2.0, 1.0, 1.0]),
        "space origin": [0, 0, 0],
    }
    nrrd.write(str(tmp_path / "raw.nrrd"), volume.data, {**header, "encoding": "raw"})
    nrrd.write(str(tmp_path / "gzip.nrrd"), volume.data, {**header, "encoding": "gzip"})
    volumes = [tmp_path / name for name in ("volume.nii", "volume.nii.gz", "raw.nrrd", "gzip.nrrd")]
    return tmp_path / "ct", tmp_path / "seg.dcm", tmp_path / "rt.dcm", volumes


def test_damaged_files_give_only_gpuimg_errors(rng, tmp_path, testfile, objects):
    """Random damage to small images of nine kinds and NIfTI and NRRD volumes (their headers), a SEG and
    an RTSTRUCT (anywhere): every reader reads each file or raises a GpuimgError, never another
    error, within 3 GiB and the timeout."""
    ct, seg, rtstruct, volumes = objects
    sources = [(str(testfile(name)), "image") for name in _IMAGES]
    sources += [(str(seg), "seg"), (str(rtstruct), "rtstruct"), *((str(v), "volume") for v in volumes)]
    seed = int(rng.integers(2**32))
    print(f"fuzz seed: {seed}")
    (tmp_path / "fuzz").mkdir()
    setup = _setup(seed, 900, sources, ct, tmp_path / "fuzz")
    result = run_guarded({"fuzz": _FUZZ}, setup, timeout=300)["fuzz"]
    assert result is None, json.dumps(result, indent=1)


def test_fuzz_reports_an_error_of_another_kind(tmp_path, testfile, objects):
    """The fuzz test's child fails where a call raises other than a GpuimgError."""
    code = _FUZZ.replace("from gpuimg.io import list_series,", "from gpuimg.io import")
    code = code.replace('warnings.simplefilter("ignore")', "def list_series(folder): raise ValueError('x')")
    (tmp_path / "fuzz").mkdir()
    setup = _setup(0, 2, [(str(testfile("CT_small.dcm")), "image")], objects[0], tmp_path / "fuzz")
    name, message, _ = run_guarded({"fuzz": code}, setup, timeout=120)["fuzz"]
    assert name == "AssertionError" and "ValueError: x" in message


def test_damaged_seg_and_rtstruct_name_the_file_and_the_element(tmp_path, objects):
    ct, seg, rtstruct, _ = objects
    reference = read_dicom(ct, device="cpu")
    ds = pydicom.dcmread(seg)
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient
    ds.save_as(tmp_path / "damaged_seg.dcm")
    damaged = "an element of this {} file is damaged or missing"
    with pytest.raises(DicomError, match=rf"damaged_seg.dcm: {damaged.format('SEG')} \(AttributeError; "):
        read_seg(tmp_path / "damaged_seg.dcm", reference)
    data = rtstruct.read_bytes()
    at = data.index(b"\x06\x30\x50\x00DS") + 8  # the first ContourData (3006,0050) value
    assert data[at : at + 1] in b"-.0123456789"
    (tmp_path / "damaged_rt.dcm").write_bytes(data[:at] + b"x" + data[at + 1 :])
    with pytest.raises(DicomError, match=r"damaged_rt.dcm: a contour of ROI '.+' has damaged ContourData \("):
        read_rtstruct(tmp_path / "damaged_rt.dcm", reference)


def _infinite(data: bytes, tag: bytes) -> bytes:
    """``data`` with the one IS value of ``tag`` (little-endian group and element), 4 characters, 'inf '."""
    at = data.index(tag + b"IS\x04\x00") + 8
    assert data.count(tag + b"IS") == 1
    return data[:at] + b"inf " + data[at + 4 :]


@pytest.mark.parametrize("keyword", ["ROINumber", "ReferencedROINumber", "NumberOfFrames"])
def test_an_infinite_whole_number_in_a_seg_or_rtstruct(tmp_path, objects, keyword):
    # pydicom's IS raises OverflowError for 'inf', which escaped read_rtstruct and read_seg (found by
    # fuzzing). A number of 4 characters (1000) is made 'inf ': no length changes.
    ct, seg, rtstruct, _ = objects
    reference = read_dicom(ct, device="cpu")
    if keyword == "NumberOfFrames":
        ds, read = pydicom.dcmread(seg), read_seg
        ds.NumberOfFrames = 1000
    else:
        ds, read = pydicom.dcmread(rtstruct), read_rtstruct
        ds.StructureSetROISequence[0].ROINumber = ds.ROIContourSequence[0].ReferencedROINumber = 1000
    ds.save_as(tmp_path / "source.dcm")
    tag = pydicom.tag.Tag(keyword)
    path = tmp_path / "damaged.dcm"
    source = (tmp_path / "source.dcm").read_bytes()
    path.write_bytes(_infinite(source, struct.pack("<HH", tag.group, tag.elem)))
    with pytest.raises(DicomError, match=r"damaged\.dcm: an element of this (SEG|RTSTRUCT) file is damaged"):
        read(path, reference)


@pytest.mark.parametrize("kind", ["SEG", "RTSTRUCT"])
def test_a_seg_or_rtstruct_without_its_sequence(tmp_path, objects, kind):
    # Said 'its Modality is SEG, not SEG (or it lacks the SegmentSequence); pass the SEG file' (found
    # by fuzzing): the right file, damaged.
    ct, seg, rtstruct, _ = objects
    reference = read_dicom(ct, device="cpu")
    ds, read, sequence = (
        (pydicom.dcmread(seg), read_seg, "SegmentSequence")
        if kind == "SEG"
        else (pydicom.dcmread(rtstruct), read_rtstruct, "StructureSetROISequence")
    )
    delattr(ds, sequence)
    ds.save_as(tmp_path / "damaged.dcm")
    words = rf"damaged\.dcm: this {kind} file has no {sequence}; it is damaged\. Export it again\.$"
    with pytest.raises(DicomError, match=words):
        read(tmp_path / "damaged.dcm", reference)
    ds.Modality = "CT"
    ds.save_as(tmp_path / "ct.dcm")
    with pytest.raises(
        DicomError, match=rf"ct\.dcm: its Modality is CT, not {kind}; pass the {kind} file\.$"
    ):
        read(tmp_path / "ct.dcm", reference)


def test_a_damaged_modality_does_not_show_the_patient(tmp_path, objects):
    # The Modality's length (8) made 0x8000: its value runs to the end of the file, over the patient's
    # name and ID, which the message showed ('its Modality is ['RTSTRUCT\x10\x00\x10\x00PN...Doe^John';
    # found by fuzzing).
    ds = pydicom.dcmread(objects[2])
    ds.PatientName, ds.PatientID = "Doe^John", "PID-7041"
    ds.save_as(tmp_path / "source.dcm")
    data = (tmp_path / "source.dcm").read_bytes()
    path = tmp_path / "damaged.dcm"
    path.write_bytes(
        data.replace(b"\x08\x00\x60\x00CS\x08\x00RTSTRUCT", b"\x08\x00\x60\x00CS\x00\x80RTSTRUCT")
    )
    assert "Doe^John" in str(pydicom.dcmread(path).Modality)  # the damage, as pydicom reads it
    for read in (rtstruct_roi_names, lambda p: read_rtstruct(p, read_dicom(objects[0], device="cpu"))):
        with pytest.raises(DicomError, match=r"damaged\.dcm: its Modality \(0008,0060\) is damaged;") as info:
            read(path)
        assert "Doe" not in str(info.value) and "7041" not in str(info.value)


def test_a_length_of_4_gb_is_not_allocated(testfile, tmp_path):
    """An element length damaged to 0xFFFFFFF0 in implicit-VR files (4-byte lengths), which pydicom reads:
    Python allocated the 4 GB pydicom asked for before reading the few bytes there, a MemoryError under
    the 3 GiB limit of the child (found by fuzzing). Each reader now sees the file cut short."""
    damaged = {}
    for name, tag in [("rtstruct.dcm", b"\x06\x30\x50\x00"), ("MR_small_implicit.dcm", b"\x08\x00\x08\x00")]:
        data = testfile(name).read_bytes()
        at = data.index(tag) + 4  # ContourData (3006,0050), ImageType (0008,0008)
        (tmp_path / name).mkdir()
        damaged[name] = tmp_path / name / "damaged.dcm"
        damaged[name].write_bytes(data[:at] + struct.pack("<I", 0xFFFFFFF0) + data[at + 4 :])
    folder = str(damaged["MR_small_implicit.dcm"].parent)
    calls = {
        "rtstruct_roi_names": f"rtstruct_roi_names({str(damaged['rtstruct.dcm'])!r})",
        "read_dicom": f"read_dicom({folder!r}, device='cpu')",
        # list_series returns: the child's assertion fails where the file's reason is other.
        "list_series": f"broken = str(list_series({folder!r}).broken); assert 'Memory' not in broken, broken",
    }
    setup = "from gpuimg.io import list_series, read_dicom, rtstruct_roi_names"
    results = run_guarded(calls, setup)
    assert results["list_series"] is None, results["list_series"]
    for name in ("rtstruct_roi_names", "read_dicom"):
        _, message, classes = results[name]
        assert "GpuimgError" in classes and "damaged.dcm" in message and "Memory" not in message, message


def test_structure_set_without_preamble_is_read(testfile):
    """pydicom's rtstruct.dcm has no preamble and meta header (an older archive's file)."""
    path = testfile("rtstruct.dcm")
    expected = [str(item.ROIName) for item in pydicom.dcmread(path, force=True).StructureSetROISequence]
    assert rtstruct_roi_names(path) == expected and expected


@pytest.mark.parametrize("vr", [b"ZZ", b"OJ"])
def test_pixel_data_of_an_unknown_vr(tmp_path, vr):
    # The Pixel Data's VR bytes damaged in a file as write_dicom (and most scanners) write it, Pixel Data
    # last: pydicom's NotImplementedError on reading the value escaped read_dicom as it was (found by
    # fuzzing).
    (source,) = write_dicom(Volume(np.arange(12, dtype=np.int16).reshape(1, 3, 4), (1.0, 1.0, 1.0)), tmp_path)
    path = _edited(source, tmp_path / "study", b"\xe0\x7f\x10\x00OW", b"\xe0\x7f\x10\x00" + vr)
    with pytest.raises(NotImplementedError):  # the reference: pydicom cannot read the value
        pydicom.dcmread(path).PixelData  # noqa: B018
    with pytest.raises(DicomError, match=r"slice\.dcm: its Pixel Data element \(7FE0,0010\) cannot be read"):
        read_dicom(path, device="cpu")
