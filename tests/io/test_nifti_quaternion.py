"""read_image on a qform-only NIfTI whose quaternion (quatern_b, quatern_c, quatern_d) is no rotation.

nibabel refuses b² + c² + d² above 1 beyond its allowance for rounding ('w2 should be positive'), which
read_image showed as a truncated or corrupted file; it names the qform's quaternion now. Within the
allowance nibabel reads a half turn, and read_image reads what nibabel and SimpleITK read.
"""

import gzip

import nibabel as nib
import numpy as np
import pytest

from gpuimg import GeometryError
from gpuimg.io import read_image

LPS = np.diag([-1.0, -1.0, 1.0])


def nifti_with_quaternion(path, rng, bcd, *, version=1, sform_code=0):
    """A nibabel-written NIfTI (qform_code 1) whose quatern_b/c/d are then set to ``bcd`` in its header."""
    kind = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    affine = np.diag([0.7, 0.8, 2.5, 1.0])
    affine[:3, 3] = [12.0, -3.5, 40.0]
    image = kind(rng.integers(-1000, 1000, (5, 6, 7)).astype(np.int16), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=sform_code)
    nib.save(image, path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as file:
        raw = bytearray(file.read())
    with opener(path, "rb") as file:
        header = type(image.header).from_fileobj(file, check=False)  # as stored (the loaded one is reset)
    header["quatern_b"], header["quatern_c"], header["quatern_d"] = bcd
    block = header.binaryblock
    raw[: len(block)] = block
    with opener(path, "wb") as file:
        file.write(bytes(raw))
    return path


@pytest.mark.parametrize("name", ["q.nii", "q.nii.gz"])
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(("bcd", "squares"), [((0.8, 0.6, 0.1), "1.01"), ((0.6, 0.6, 0.6), "1.08")])
def test_a_quaternion_that_is_no_rotation_is_named(tmp_path, rng, name, version, bcd, squares):
    path = nifti_with_quaternion(tmp_path / name, rng, bcd, version=version)
    with pytest.raises(ValueError, match="w2 should be positive"):  # nibabel refuses it too
        nib.load(path)
    with pytest.raises(GeometryError) as error:
        read_image(path, device="cpu")
    message = str(error.value)
    assert message.startswith(f"{path}: its qform (qform_code 1; sform_code 0")
    assert f"whose squares sum to {squares} > 1, so the quaternion is not a rotation" in message
    assert "set quatern_b/c/d" in message and "img.set_sform(affine, code=1)" in message


@pytest.mark.parametrize("bcd", [(1.0, 1e-4, 0.0), (0.6, 0.8, 1e-4)])
def test_a_quaternion_within_rounding_of_a_half_turn_reads_as_nibabel_and_simpleitk_read_it(
    tmp_path, rng, bcd
):
    # b² + c² + d² = 1 + 1e-8: within nibabel's allowance (3 float32 epsilons), a half turn about (b, c, d)
    sitk = pytest.importorskip("SimpleITK")
    path = nifti_with_quaternion(tmp_path / "q.nii", rng, bcd)
    ras = nib.load(path).affine
    volume = read_image(path, device="cpu")
    ours = volume.direction * volume.spacing  # columns: steps along z, y, x [mm, LPS]
    # nibabel's affine (RAS, columns i, j, k) in LPS, columns reversed to z, y, x; its steps are
    # orthogonal to float32 rounding, which read_image squares (1e-6)
    np.testing.assert_allclose(ours, (LPS @ ras[:3, :3])[:, ::-1], atol=1e-6)
    np.testing.assert_allclose(volume.origin, LPS @ ras[:3, 3], atol=1e-9)
    theirs = sitk.ReadImage(str(path))
    direction = np.array(theirs.GetDirection()).reshape(3, 3)[:, ::-1]
    np.testing.assert_allclose(volume.direction, direction, atol=1e-6)
    np.testing.assert_array_equal(volume.data, np.asanyarray(nib.load(path).dataobj).T)


def test_a_broken_qform_beside_an_sform_is_not_read(tmp_path, rng):
    # sform_code 1: the sform places the voxels, nibabel never reads the qform, nor does read_image.
    path = nifti_with_quaternion(tmp_path / "q.nii", rng, (0.8, 0.6, 0.1), sform_code=1)
    ras = nib.load(path).affine
    volume = read_image(path, device="cpu")
    np.testing.assert_allclose(volume.direction * volume.spacing, (LPS @ ras[:3, :3])[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(volume.origin, LPS @ ras[:3, 3], atol=1e-12)
