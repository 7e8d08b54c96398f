"""Bad input to the readers: every case a GpuimgError naming the file and the fault, never a hang,
a huge allocation or a silently wrong volume (issue 14).

Inputs are built here: series written by write_dicom and edited with pydicom, pydicom's own test
files, NIfTI and NRRD files written by nibabel and pynrrd. The cases that would allocate gigabytes
or loop for minutes if they regressed run in a child process under a memory limit and a timeout.
"""

import gzip
import os

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
from guarded import run_guarded

from gpuimg import (
    DicomError,
    GeometryError,
    ImageFileError,
    ParameterError,
    Volume,
)
from gpuimg.io import (
    list_series,
    read_dicom,
    read_image,
    read_rtstruct,
    read_seg,
    rtstruct_roi_names,
    stitch,
    write_chunked,
    write_dicom,
    write_image,
)


def edit(path, **values):
    """Set DICOM attributes of the file at ``path`` (pydicom writes them back)."""
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


# ---------------------------------------------------------------------------------------------
# DICOM geometry


@pytest.mark.parametrize(
    ("keyword", "value", "words"),
    [
        ("ImagePositionPatient", ["nan", "0", "0"], "ImagePositionPatient"),
        ("ImagePositionPatient", ["inf", "0", "0"], "ImagePositionPatient"),
        ("ImageOrientationPatient", [0, 0, 0, 0, 1, 0], "ImageOrientationPatient"),
        ("ImageOrientationPatient", ["inf", 0, 0, 0, 1, 0], "ImageOrientationPatient"),
        ("ImageOrientationPatient", ["nan", 0, 0, 0, 1, 0], "ImageOrientationPatient"),
        ("ImageOrientationPatient", [1, 0, 0, 0, 1], "ImageOrientationPatient"),
        ("ImageOrientationPatient", [1, 0, 0, 1, 0, 0], "ImageOrientationPatient"),  # not orthogonal
        ("PixelSpacing", [-0.7, 0.7], "PixelSpacing"),
        ("PixelSpacing", [0, 0.7], "PixelSpacing"),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's warnings about the odd values
def test_invalid_geometry_on_every_slice_named(series, keyword, value, words):
    folder, _, files = series
    for path in files:
        edit(path, **{keyword: value})
    with pytest.raises(GeometryError, match=words) as info:
        read_dicom(folder, device="cpu")
    assert files[0].name in str(info.value) and "mixes" not in str(info.value)
    (listed,) = list_series(folder)
    assert listed.problem is not None and words in listed.problem


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_invalid_position_on_one_slice(series):
    folder, _, files = series
    edit(files[3], ImagePositionPatient=["nan", "nan", "nan"])
    with pytest.raises(GeometryError, match="ImagePositionPatient") as info:
        read_dicom(folder, device="cpu")
    assert files[3].name in str(info.value)


# ---------------------------------------------------------------------------------------------
# DICOM pixel description and rescale


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"BitsStored": 0}, "BitsStored"),
        ({"BitsStored": 17}, "BitsStored"),
        ({"BitsAllocated": 12}, "BitsAllocated"),
        ({"BitsAllocated": 8, "BitsStored": 8, "HighBit": 7}, "BitsAllocated"),  # over 16-bit data
        ({"BitsAllocated": 1, "BitsStored": 1, "HighBit": 0}, "BitsAllocated"),
        ({"RescaleSlope": 0}, "RescaleSlope"),
        ({"RescaleSlope": "nan"}, "RescaleSlope"),
        ({"RescaleSlope": "inf"}, "RescaleSlope"),
        ({"RescaleIntercept": "inf"}, "RescaleIntercept"),
        ({"RescaleIntercept": 1e20}, "RescaleIntercept"),
        ({"NumberOfFrames": 0}, "NumberOfFrames"),
        ({"NumberOfFrames": -3}, "NumberOfFrames"),
        ({"NumberOfFrames": 5}, "frame"),  # more frames than the pixel data hold
        ({"Rows": 0}, "Rows"),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_invalid_pixel_description(series, values, words):
    folder, _, files = series
    edit(files[2], **values)
    with pytest.raises(DicomError, match=words) as info:
        read_dicom(folder, device="cpu")
    assert files[2].name in str(info.value)
    with pytest.raises(DicomError, match=words):
        read_dicom(files, device="cpu")
    (listed,) = list_series(folder)
    assert listed.problem is not None and words in listed.problem


def test_rescale_slope_applied_as_given(series):
    """A slope other than 1 (here 0.5) is used as such, not replaced."""
    folder, volume, files = series
    for path in files:
        edit(path, RescaleSlope=0.5, RescaleIntercept=-3)
    read = read_dicom(folder, device="cpu")
    np.testing.assert_array_equal(read.data, volume.data * 0.5 - 3)


# ---------------------------------------------------------------------------------------------
# DICOM files cut short, one series UID over several acquisitions


@pytest.mark.parametrize("keep", [0, 100, 150])
@pytest.mark.parametrize("which", [0, -1])
def test_slice_cut_short_in_a_file_list(series, keep, which):
    _, _, files = series
    files[which].write_bytes(files[which].read_bytes()[:keep])
    with pytest.raises(DicomError, match="Cannot read") as info:
        read_dicom(files, device="cpu")
    assert files[which].name in str(info.value)


@pytest.mark.parametrize("keep", [0, 100])
def test_slice_cut_short_in_a_folder_is_not_silent(series, keep):
    folder, _, files = series
    files[-1].write_bytes(files[-1].read_bytes()[:keep])
    with pytest.warns(UserWarning, match=files[-1].name):
        read_dicom(folder, device="cpu")
    assert files[-1] in list_series(folder).broken


def test_truncated_pixel_data_reported_by_list_series(series):
    folder, _, files = series
    files[5].write_bytes(files[5].read_bytes()[:-50])
    (listed,) = list_series(folder)
    assert listed.problem is not None and "truncated" in listed.problem and files[5].name in listed.problem
    with pytest.raises(DicomError, match="truncated"):
        read_dicom(folder, device="cpu")


@pytest.mark.parametrize(
    ("keyword", "value", "words"),
    [
        ("Modality", "MR", "modalities"),
        ("PatientID", "SECRET-ID-42", "patient IDs"),
        ("FrameOfReferenceUID", "1.2.3.4.5", "frames of reference"),
        ("StudyInstanceUID", "1.2.3.4.6", "studies"),
    ],
)
def test_one_series_uid_over_several_acquisitions(series, keyword, value, words):
    folder, _, files = series
    for path in files[4:]:
        edit(path, **{keyword: value})
    with pytest.raises(DicomError, match=words) as info:
        read_dicom(folder, device="cpu")
    assert "SECRET-ID-42" not in str(info.value)
    (listed,) = list_series(folder)
    assert words in listed.problem and "SECRET-ID-42" not in listed.problem


@pytest.mark.parametrize("given", [None, 3, b"folder", [None]])
def test_read_dicom_of_no_path(given):
    with pytest.raises(ParameterError, match="path_or_files"):
        read_dicom(given, device="cpu")


# ---------------------------------------------------------------------------------------------
# Stitching


def test_stitch_of_an_array(make_volume):
    volume = make_volume(shape=(4, 5, 6))
    with pytest.raises(ParameterError, match="Station 1 is a ndarray"):
        stitch([volume, np.asarray(volume.data)])
    with pytest.raises(ParameterError, match="list of Volumes"):
        stitch(volume)


# ---------------------------------------------------------------------------------------------
# Cases run under a memory limit and a timeout

GUARDED_SETUP = """
import numpy as np, pydicom, gpuimg
from pathlib import Path
from gpuimg import Volume
from gpuimg.io import read_dicom, read_image, stitch
FILES = Path(pydicom.__file__).parent / "data" / "test_files"
def edited(name, target, **values):
    ds = pydicom.dcmread(FILES / name)
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(target)
    return target
"""

GUARDED = {
    # A billion 1 x 1 frames: refused from the header, before any frame is listed.
    "frames_native": "read_dicom(edited('CT_small.dcm', TMP / 'a.dcm', NumberOfFrames=10**9, Rows=1, "
    "Columns=1), device='cpu')",
    "frames_rle": "read_dicom(edited('MR_small_RLE.dcm', TMP / 'b.dcm', NumberOfFrames=10**7, Rows=1, "
    "Columns=1), device='cpu')",
    # One 65535² frame in a small compressed or deflated file: refused before decoding.
    "huge_rle": "read_dicom(edited('MR_small_RLE.dcm', TMP / 'c.dcm', Rows=65535, Columns=65535), "
    "device='cpu')",
    "huge_j2k": "read_dicom(edited('JPEG2000.dcm', TMP / 'd.dcm', Rows=65535, Columns=65535), device='cpu')",
    "huge_deflated": "read_dicom(edited('image_dfl.dcm', TMP / 'e.dcm', Rows=65535, Columns=65535), "
    "device='cpu')",
    # A 3 kB .nii.gz claiming 1200³ voxels.
    "nifti_claim": "import nibabel as nib\n"
    "image = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))\n"
    "image.header.set_data_shape((1200, 1200, 1200))\n"
    "raw = image.header.binaryblock + b'\\0' * 4 + np.zeros(64, np.int16).tobytes()\n"
    "import gzip\n(TMP / 'claim.nii.gz').write_bytes(gzip.compress(raw))\n"
    "read_image(TMP / 'claim.nii.gz', device='cpu')",
    "nrrd_claim": "(TMP / 'claim.nrrd').write_bytes(b'NRRD0004\\ntype: short\\ndimension: 3\\n"
    "sizes: 2000 2000 2000\\nencoding: raw\\nendian: little\\n\\n' + bytes(64))\n"
    "read_image(TMP / 'claim.nrrd', device='cpu')",
    # A station 2e9 mm away: the gap error, not an array of 10⁹ slices.
    "far_station": "a = Volume(np.zeros((3, 4, 4), np.int16), (1.0, 1.0, 1.0))\n"
    "b = Volume(np.zeros((3, 4, 4), np.int16), (1.0, 1.0, 1.0), origin=(0.0, 0.0, 2e9))\n"
    "stitch([a, b])",
}

EXPECTED = {
    "frames_native": ("DicomError", "NumberOfFrames|frame"),
    "frames_rle": ("DicomError", "frame"),
    "huge_rle": ("MemoryBudgetError", "memory budget"),
    "huge_j2k": ("MemoryBudgetError", "memory budget"),
    "huge_deflated": ("DicomError|MemoryBudgetError", "bytes|memory budget"),
    "nifti_claim": ("ImageFileError", "more than a file"),
    "nrrd_claim": ("ImageFileError", "more than a file"),
    "far_station": ("GeometryError", "gap"),
}


@pytest.fixture(scope="module")
def guarded_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")
    setup = GUARDED_SETUP + f"\nTMP = Path({str(folder)!r})\n"
    # 3 GiB of address space: importing gpuimg (NumPy, SciPy, Numba) takes about 1.5 GiB; the budget
    # is then half the rest, so a regression allocating the claimed size dies here, not the machine.
    return run_guarded(GUARDED, setup, memory=3 * 1024**3, timeout=180)


@pytest.mark.parametrize("case", sorted(GUARDED))
def test_guarded_case(guarded_results, case):
    result = guarded_results[case]
    assert result is not None, f"{case}: no error raised"
    name, message, classes = result
    kinds, words = EXPECTED[case]
    assert name in kinds.split("|"), f"{case}: {name}: {message}"
    assert "GpuimgError" in classes
    assert "MemoryError" in classes or name != "MemoryBudgetError"
    assert any(word in message for word in words.split("|")), message


# ---------------------------------------------------------------------------------------------
# NIfTI and NRRD


def nifti(tmp_path, data=None, name="image.nii.gz", **header):
    image = nib.Nifti1Image(
        np.arange(60, dtype=np.int16).reshape(3, 4, 5) if data is None else data, np.eye(4)
    )
    for key, value in header.items():
        image.header[key] = value
    path = tmp_path / name
    nib.save(image, path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(ImageFileError, match="no such file"):
        read_image(tmp_path / "absent.nii.gz", device="cpu")


@pytest.mark.parametrize("path", [None, 3, b"/tmp", ["a.dcm"], ""])
@pytest.mark.parametrize(
    "read",
    [
        lambda path: read_image(path, device="cpu"),
        rtstruct_roi_names,
        lambda path: read_rtstruct(path, Volume(np.zeros((2, 2, 2))), "GTV"),
        lambda path: read_seg(path, Volume(np.zeros((2, 2, 2)))),
    ],
)
def test_no_path(read, path):
    with pytest.raises(ParameterError, match=r"path=.*: pass the file's path \(str or pathlib.Path\)"):
        read(path)


@pytest.mark.parametrize("path", [None, 3, b"/tmp", ["a.dcm"], ""])
def test_no_path_to_write_to(tmp_path, path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "" must not be read as the current folder
    volume = Volume(np.zeros((2, 3, 4), np.int16))
    with pytest.raises(ParameterError, match=r"folder=.*: pass the path of the series' folder \(str or"):
        write_dicom(volume, path)
    with pytest.raises(ParameterError, match=r"path=.*: pass the file's path \(str or pathlib.Path\)"):
        write_chunked(volume, path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("noise.nii", bytes(range(256)) * 3),
        ("noise.nii.gz", gzip.compress(bytes(range(256)) * 3)),
        ("noise.nii.gz", b"not gzip at all"),
        ("noise.nrrd", b"NRRD0004\ntype: nonsense\ndimension: 3\n\n"),
        ("noise.nrrd", b"NRRD0004\ntype: short\n\n"),
        ("noise.nrrd", b"plain text"),
        ("empty.nii", b""),
    ],
)
def test_unreadable_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageFileError, match=name):
        read_image(path, device="cpu")


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated_nifti(tmp_path, cut):
    path = nifti(tmp_path, np.random.default_rng(0).integers(0, 1000, (20, 20, 20)).astype(np.int16))
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(ImageFileError, match=r"image.nii.gz"):
        read_image(path, device="cpu")
    plain = nifti(tmp_path, name="plain.nii")
    plain.write_bytes(plain.read_bytes()[:-10])
    with pytest.raises(ImageFileError, match="truncated"):
        read_image(plain, device="cpu")


def test_corrupted_gzip_payload_detected(tmp_path):
    """A flipped byte in a stored (uncompressed) deflate block: only the gzip CRC can tell."""
    data = np.arange(4000, dtype=np.int16).reshape(10, 20, 20)
    path = nifti(tmp_path, data, name="plain.nii")
    raw = gzip.compress(path.read_bytes(), compresslevel=0)
    corrupted = bytearray(raw)
    corrupted[len(raw) // 2] ^= 0x10
    target = tmp_path / "corrupted.nii.gz"
    target.write_bytes(bytes(corrupted))
    with pytest.raises(ImageFileError, match=r"CRC|corrupted"):
        read_image(target, device="cpu")
    (tmp_path / "intact.nii.gz").write_bytes(raw)
    np.testing.assert_array_equal(read_image(tmp_path / "intact.nii.gz", device="cpu").data, data.T)


@pytest.mark.parametrize("dim", [[3, 0, 4, 5, 1, 1, 1, 1], [3, 3, 4, -5, 1, 1, 1, 1]])
def test_nifti_empty_axis(tmp_path, dim):
    path = nifti(tmp_path, name="plain.nii")
    header = bytearray(path.read_bytes())
    header[40:56] = np.asarray(dim, "<i2").tobytes()  # dim[8] at byte 40 of the NIfTI-1 header
    path.write_bytes(bytes(header))
    with pytest.raises(ImageFileError, match=r"plain.nii"):
        read_image(path, device="cpu")


@pytest.mark.parametrize("pixdim", [[1, 0, 1, 1], [1, 1, np.nan, 1], [1, 1, 1, np.inf]])
def test_nifti_zero_or_nan_pixdim_with_qform(tmp_path, pixdim):
    image = nib.Nifti1Image(np.zeros((3, 4, 5), np.int16), None)
    image.header["sform_code"] = 0
    image.header["qform_code"] = 1
    image.header["pixdim"][:4] = pixdim
    path = tmp_path / "image.nii"
    nib.save(image, path)
    raw = bytearray(path.read_bytes())
    raw[76:92] = np.asarray(pixdim, "<f4").tobytes()  # pixdim[0:4] at byte 76 (nibabel fixes it on save)
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageFileError, match="pixdim"):
        read_image(path, device="cpu")


@pytest.mark.parametrize(
    "header",
    [
        {"spacings": [np.nan, 1.0, 1.0]},
        {"spacings": [0.0, 1.0, 1.0]},
        {"space directions": [[np.nan, 0, 1], [0, 1, 0], [1, 0, 0]], "space": "left-posterior-superior"},
        {"space directions": [[0, 0, 0], [0, 1, 0], [1, 0, 0]], "space": "left-posterior-superior"},
        {
            "space directions": [[0, 0, 1], [0, 1, 0], [1, 0, 0]],
            "space": "left-posterior-superior",
            "space origin": [np.nan, 0, 0],
        },
    ],
)
def test_nrrd_invalid_spacing(tmp_path, header):
    path = tmp_path / "image.nrrd"
    nrrd.write(str(path), np.zeros((3, 4, 5), np.int16), header)
    with pytest.raises(ImageFileError, match=r"image.nrrd"):
        read_image(path, device="cpu")


def test_nrrd_detached_data_missing(tmp_path):
    path = tmp_path / "image.nhdr"
    nrrd.write(str(path), np.zeros((3, 4, 5), np.int16), detached_header=True)
    for data_file in tmp_path.glob("image.*"):
        if data_file != path:
            data_file.unlink()
    with pytest.raises(ImageFileError, match="data file"):
        read_image(path, device="cpu")


def test_an_array_given_for_a_path_is_named_by_its_type_not_its_numbers():
    """read_image(array) put the array's repr, thousands of characters of numbers, in the message."""
    with pytest.raises(
        ParameterError, match=r"^path=an array of shape \(20, 30, 40\): pass the file's path"
    ) as info:
        read_image(np.zeros((20, 30, 40)))
    assert len(str(info.value)) < 100


def test_a_path_given_first_to_write_image_says_the_volume_goes_first(tmp_path):
    volume = Volume(np.arange(24, dtype=np.int16).reshape(2, 3, 4), spacing=(2.0, 1.0, 0.5))
    path = tmp_path / "ct.nii.gz"
    with pytest.raises(
        ParameterError,
        match=r"got the file name .*ct.nii.gz' where the volume goes: the volume "
        r"comes first, write_image\(volume, path\)",
    ):
        write_image(path, volume)
    assert not path.exists()
    write_image(volume, path)  # as advised; nibabel reads (x, y, z)
    np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj).T, volume.data)


def test_read_dicom_of_a_nrrd_file_says_to_read_it_with_read_image(tmp_path):
    voxels = np.arange(24, dtype=np.int16).reshape(4, 3, 2)  # pynrrd's (x, y, z)
    path = tmp_path / "lesions.nrrd"
    nrrd.write(str(path), voxels)
    with pytest.raises(
        DicomError, match=r"not DICOM.*; read NIfTI and NRRD with gpuimg.read_image\('.*lesions.nrrd'\)"
    ):
        read_dicom(path)
    np.testing.assert_array_equal(read_image(path, device="cpu").data, voxels.T)  # as advised


def test_read_dicom_of_a_nifti_pair_says_to_read_it_with_read_image(tmp_path):
    # read_image reads NIfTI-1 pairs (.hdr and .img), but read_dicom's advice named only .nii and NRRD
    voxels = np.arange(24, dtype=np.int16).reshape(2, 3, 4)  # nibabel's (x, y, z)
    nib.save(nib.Nifti1Pair(voxels, np.eye(4)), tmp_path / "lesions.img")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesions.hdr", "lesions.img"]
    with pytest.raises(
        DicomError, match=r"read NIfTI and NRRD with gpuimg.read_image\('.*lesions.(hdr|img)'\)"
    ):
        read_dicom(tmp_path)
    np.testing.assert_array_equal(read_image(tmp_path / "lesions.hdr", device="cpu").data, voxels.T)


@pytest.mark.parametrize("kind", ["folder", "dangling link", "link", "link to a folder"])
def test_a_path_that_is_no_file_is_no_such_file_and_a_link_to_one_is_read(tmp_path, kind):
    # read_image stats the file once (its size checked against the header from that stat) where it
    # asked is_file and the NRRD reader stat'ed it again: the same verdicts as Path.is_file.
    written = write_image(np.ones((2, 3, 4), np.uint8), tmp_path / "mask.nrrd", spacing=1.0)
    path = tmp_path / "named.nrrd"
    if kind == "folder":
        path.mkdir()
    elif hasattr(os, "symlink"):
        target = {"dangling link": tmp_path / "absent.nrrd", "link": written, "link to a folder": tmp_path}
        os.symlink(target[kind], path)
    else:
        pytest.skip("no symbolic links here")
    if kind == "link":
        np.testing.assert_array_equal(read_image(path, device="cpu").data, np.ones((2, 3, 4), np.uint8))
    else:
        assert not path.is_file()
        with pytest.raises(ImageFileError, match="no such file"):
            read_image(path, device="cpu")
