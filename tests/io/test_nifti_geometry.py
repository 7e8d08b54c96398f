"""read_image on NIfTI headers that place the voxels in unusual but legal ways, or fail to: against
nibabel and SimpleITK, or the NIfTI-1 standard's closed form where they disagree."""

import gzip
import re

import nibabel as nib
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gpuimg import GeometryError, ImageFileError
from gpuimg.io import read_image


def _nifti_geometry(rng, sform_code, qform_code, *, shape=(5, 6, 7)):
    """A NIfTI image of an oblique 0.7 x 0.8 x 2.5 mm grid, its sform and qform set with these codes."""
    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_euler("xyz", [10.0, -25.0, 40.0], degrees=True).as_matrix() * [
        0.7,
        0.8,
        2.5,
    ]
    affine[:3, 3] = [12.0, -3.5, 40.0]
    image = nib.Nifti1Image(rng.integers(-1000, 1000, shape).astype(np.int16), affine)
    image.set_sform(affine, code=sform_code)
    image.set_qform(affine, code=qform_code)
    return image


def _patched(path, offset, values, dtype="<f4"):
    """``path`` with ``values`` written at byte ``offset`` of its header (nibabel fixes them on save)."""
    raw = bytearray(path.read_bytes())
    packed = np.asarray(values, dtype).tobytes()
    raw[offset : offset + len(packed)] = packed
    path.write_bytes(bytes(raw))
    return path


def test_a_nifti_without_an_sform_or_qform_is_refused_as_an_analyze_header_is(tmp_path, rng):
    # sform_code and qform_code both 0: the file records no orientation (NIfTI's 'method 1', for
    # Analyze files). nibabel places it as Analyze 7.5 (x flipped, centred), SimpleITK on the identity
    # at 0; read_image took nibabel's guess without a word, where it refuses an Analyze header.
    sitk = pytest.importorskip("SimpleITK")
    nib.save(_nifti_geometry(rng, 0, 0), tmp_path / "bare.nii")
    theirs = sitk.ReadImage(str(tmp_path / "bare.nii"))
    ras = nib.load(tmp_path / "bare.nii").affine
    assert not np.allclose(np.diag([-1.0, -1.0, 1.0]) @ ras[:3, 3], theirs.GetOrigin())  # they disagree
    with pytest.raises(GeometryError, match=r"bare\.nii: its sform_code and qform_code are both 0"):
        read_image(tmp_path / "bare.nii", device="cpu")


@pytest.mark.parametrize("form", ["qform", "sform"])
def test_a_2d_nifti_without_a_third_step_is_read_with_its_plane_normal(tmp_path, rng, form):
    # A 2D NIfTI (dim[0] 2) has no third axis in the file: a writer may leave its pixdim[3] (qform) or
    # its affine's third column (sform) 0. read_image refused it: 'pixdim[1:4] are [0.7, 0.8, 0.0]
    # [mm]; a voxel spacing must be positive ... The header is damaged', or the sform's steps. Its
    # third axis is now the plane's unit normal, as a 2D NRRD's. References: nibabel's voxels and
    # first two steps and origin (RAS, turned to LPS); the normal, row x column (closed form).
    image = _nifti_geometry(rng, 1 if form == "sform" else 0, 1 if form == "qform" else 0, shape=(5, 6))
    path = tmp_path / "slice.nii"
    nib.save(image, path)
    if form == "qform":
        _patched(path, 76 + 3 * 4, [0.0])  # pixdim[3]
    else:
        _patched(path, 280 + 2 * 4, [0.0])  # srow_x[2], srow_y[2], srow_z[2]
        _patched(path, 296 + 2 * 4, [0.0])
        _patched(path, 312 + 2 * 4, [0.0])
    written = nib.load(path)
    volume = read_image(path, device="cpu")
    np.testing.assert_array_equal(volume.data, np.asarray(written.dataobj).T[np.newaxis])
    lps = np.diag([-1.0, -1.0, 1.0]) @ written.affine[:3]
    steps = np.asarray(volume.direction) * volume.spacing  # columns: steps along z, y, x [mm]
    # float32 header fields (the qform's quaternion): 1e-6 of the steps
    np.testing.assert_allclose(steps[:, 2], lps[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(steps[:, 1], lps[:, 1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(volume.origin, lps[:, 3], rtol=0, atol=1e-6)
    normal = np.cross(lps[:, 0], lps[:, 1])
    np.testing.assert_allclose(steps[:, 0], normal / np.linalg.norm(normal), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("srows", "error", "words"),
    [
        (
            np.zeros((3, 4)),
            ImageFileError,
            r"the voxel steps of the sform \(sform_code 1\) are \[0\.0, 0\.0, 0\.0\]",
        ),
        (
            "singular",
            GeometryError,
            r"the sform \(sform_code 1\) gives voxel axes that are not at right angles",
        ),
    ],
)
def test_a_broken_sform_is_named(tmp_path, rng, srows, error, words):
    # An sform (sform_code 1) of zero steps or two equal axes, beside a valid qform: nibabel reads the
    # sform (its affine singular), SimpleITK the qform. read_image refuses the file, as it did, but the
    # message named 'the affine's voxel steps' or 'Volume direction must be ... orthonormal columns',
    # not the header field; it names the sform, and the way out where the qform is set.
    image = _nifti_geometry(rng, 1, 1)
    path = tmp_path / "broken.nii"
    nib.save(image, path)
    if isinstance(srows, str):
        srows = image.affine[:3].copy()
        srows[:, 2] = srows[:, 1]
    _patched(path, 280, srows.ravel())  # srow_x, srow_y, srow_z
    with pytest.raises(error, match=r"broken\.nii: " + words):
        read_image(path, device="cpu")
    if error is GeometryError:
        with pytest.raises(error, match="set sform_code to 0"):
            read_image(path, device="cpu")


@pytest.mark.parametrize("name", ["zero.nii", "zero.nii.gz"])
def test_a_single_file_nifti_whose_vox_offset_is_0_is_refused(tmp_path, rng, name):
    # vox_offset 0 in a .nii, where the header takes the first 352 bytes: nibabel read the voxels from
    # byte 0, the header's own bytes (every voxel shifted by 176 and the first 176 made of the header),
    # and read_image returned them; SimpleITK reads from byte 348. The standard says 352; the file
    # was written wrongly, and is now refused, naming vox_offset.
    sitk = pytest.importorskip("SimpleITK")
    image = _nifti_geometry(rng, 1, 1)
    nib.save(image, tmp_path / "plain.nii")
    plain = _patched(tmp_path / "plain.nii", 108, [0.0]).read_bytes()  # vox_offset
    path = tmp_path / name
    path.write_bytes(gzip.compress(plain) if name.endswith(".gz") else plain)
    written = np.asarray(image.dataobj)
    assert not np.array_equal(np.asarray(nib.load(path).dataobj), written)  # nibabel: the header's bytes
    assert not np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))).T, written)  # from 348
    words = re.escape(f"{name}: its vox_offset is 0, inside its header")
    with pytest.raises(ImageFileError, match=words):
        read_image(path, device="cpu")


@pytest.mark.parametrize(
    ("form", "offset", "words"), [("sform", 280 + 12, "sform's origin"), ("qform", 268, "qform's origin")]
)
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_nifti_origin_that_is_not_finite_is_named(tmp_path, rng, form, offset, words, value):
    # A NaN or infinite srow_x[3] (sform) or qoffset_x (qform) was refused as 'Volume origin must be 3
    # finite numbers (mm); got array([nan, nan, nan]). Resample the image onto an orthogonal grid
    # first': every coordinate NaN (the RAS to LPS product spread it), no field named, the wrong cure.
    image = _nifti_geometry(rng, 1 if form == "sform" else 0, 1)
    nib.save(image, tmp_path / "origin.nii")
    path = _patched(tmp_path / "origin.nii", offset, [value])
    with pytest.raises(ImageFileError, match=rf"origin\.nii: the {words} .* is \[-?{value}, -?3\.5, 40\.0\]"):
        read_image(path, device="cpu")
