"""A Volume holds a coordinate of 0 as 0.0, never -0.0, in its origin and direction, whoever makes it
(read_image, read_dicom, the constructor).

A NIfTI's RAS origin of 0 (and a NRRD's in a RAS space) turned into LPS by negation, and a NRRD's
``space origin`` written as -0, came out as -0.0: equal to 0, but shown as -0.0 and with its sign bit
set (np.signbit, a byte-wise comparison or hash of the geometry, a text written from it); so did a DICOM
ImagePositionPatient written as -0.
"""

import nibabel as nib
import numpy as np
import pydicom
import pytest

import gpuimg
from gpuimg.io import read_image


def assert_no_negative_zero(volume):
    origin, direction = np.asarray(volume.origin), np.asarray(volume.direction)
    assert not np.any(np.signbit(origin) & (origin == 0)), volume.origin
    assert not np.any(np.signbit(direction) & (direction == 0)), volume.direction


def write_nhdr(folder, space: str, origin: str, data: np.ndarray):
    """A detached NRRD header (unit steps along the space's axes) and its raw int16 voxels (i fastest)."""
    data.astype("<i2").T.tofile(folder / "voxels.raw")  # (i, j, k) stored with i fastest
    path = folder / "image.nhdr"
    path.write_text(
        "NRRD0004\ntype: short\ndimension: 3\n"
        f"space: {space}\nsizes: {' '.join(str(n) for n in data.shape)}\n"
        "space directions: (1,0,0) (0,1,0) (0,0,1)\nendian: little\nencoding: raw\n"
        f"space origin: {origin}\ndata file: voxels.raw\n"
    )
    return path


@pytest.mark.parametrize("name", ["zero.nii", "zero.nii.gz"])
@pytest.mark.parametrize("form", ["sform", "qform"])
def test_a_nifti_origin_of_0_is_positive_zero(tmp_path, rng, name, form):
    image = nib.Nifti1Image(rng.integers(-100, 100, (3, 4, 5)).astype(np.int16), np.eye(4))
    image.set_sform(np.eye(4), code=int(form == "sform"))
    image.set_qform(np.eye(4), code=int(form == "qform"))
    nib.save(image, tmp_path / name)
    volume = read_image(tmp_path / name, device="cpu")
    np.testing.assert_array_equal(volume.origin, [0.0, 0.0, 0.0])  # nibabel's affine: origin 0
    assert_no_negative_zero(volume)


@pytest.mark.parametrize(
    ("space", "origin", "expected"),
    [
        ("right-anterior-superior", "(0,0,0)", (0.0, 0.0, 0.0)),  # x and y negated into LPS
        ("left-posterior-superior", "(-0,-0.0,-0e0)", (0.0, 0.0, 0.0)),  # written as -0
        ("right-anterior-superior", "(-0,2.5,-0)", (0.0, -2.5, 0.0)),
    ],
)
def test_a_nrrd_origin_of_0_is_positive_zero(tmp_path, rng, space, origin, expected):
    data = rng.integers(-100, 100, (5, 4, 3))
    volume = read_image(write_nhdr(tmp_path, space, origin, data), device="cpu")
    np.testing.assert_array_equal(volume.origin, expected)
    np.testing.assert_array_equal(volume.data, data.T)  # (z, y, x): the file's (i, j, k) reversed
    assert_no_negative_zero(volume)


@pytest.mark.parametrize("syntax", [pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian])
def test_a_dicom_position_written_as_minus_0_is_positive_zero(tmp_path, rng, syntax):
    # Axial slices at z = 0, 2, 4 mm whose x and y are written "-0" (the quick reader and pydicom).
    voxels = rng.integers(-100, 100, (3, 4, 5)).astype(np.int16)
    files = gpuimg.write_dicom(gpuimg.Volume(voxels, (2.0, 1.0, 1.0)), tmp_path / "ct")
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = ["-0", "-0.0", str(2 * k)]
        ds.ImageOrientationPatient = ["1", "-0", "0", "-0", "1", "0"]
        ds.file_meta.TransferSyntaxUID = syntax
        ds.save_as(path)
    volume = gpuimg.read_dicom(tmp_path / "ct", device="cpu")
    np.testing.assert_array_equal(volume.origin, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(volume.data, voxels)
    assert_no_negative_zero(volume)


def test_the_constructor_makes_minus_0_positive():
    volume = gpuimg.Volume(np.zeros((2, 2, 2)), 1.0, (-0.0, 0.0, -0.0), -np.eye(3)[:, [2, 1, 0]])
    assert_no_negative_zero(volume)
    np.testing.assert_array_equal(volume.direction, -np.eye(3)[:, [2, 1, 0]])
