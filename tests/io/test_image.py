"""read_image / write_image against SimpleITK on real NRRD and NIfTI files and on round trips."""

import re
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gpuimg import GeometryError, ImageFileError, ParameterError, Volume
from gpuimg.io import read_image, write_image

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
REAL_FILES = sorted((SHARED / "pyradiomics").glob("*.nrrd")) + sorted(SHARED.glob("ibsi/*/nifti/*/*.nii.gz"))


def sitk_volume(path):
    sitk = pytest.importorskip("SimpleITK")
    image = sitk.ReadImage(str(path))
    direction = np.array(image.GetDirection()).reshape(3, 3)[:, ::-1]
    return sitk.GetArrayFromImage(image), image.GetSpacing()[::-1], image.GetOrigin(), direction


def assert_matches_sitk(volume, path, atol):
    voxels, spacing, origin, direction = sitk_volume(path)
    np.testing.assert_array_equal(volume.data, voxels)
    assert volume.data.dtype == voxels.dtype
    np.testing.assert_allclose(volume.spacing, spacing, atol=atol)
    np.testing.assert_allclose(volume.origin, origin, atol=atol)
    np.testing.assert_allclose(volume.direction, direction, atol=atol)


@pytest.mark.parametrize("path", REAL_FILES or [None], ids=lambda p: p.name if p else "absent")
def test_real_files_match_simpleitk(path):
    if path is None:
        pytest.skip(f"no shared PyRadiomics / IBSI images under {SHARED}")
    # Both read the same doubles (NRRD) or float32 (NIfTI) header fields; 1e-5 mm allows for the
    # qform/sform float32 arithmetic each library does in its own order.
    assert_matches_sitk(read_image(path, device="cpu"), path, atol=1e-5)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int64, np.float32])
def test_round_trip(tmp_path, make_volume, rng, suffix, dtype):
    volume = make_volume()
    data = rng.normal(0, 100, volume.shape) if dtype == np.float32 else rng.integers(0, 256, volume.shape)
    data = data.astype(dtype)
    volume = Volume(data, volume.spacing, volume.origin, volume.direction)
    path = write_image(volume, tmp_path / f"image{suffix}")
    read = read_image(path, device="cpu")
    np.testing.assert_array_equal(read.data, volume.data)
    assert read.data.dtype == dtype
    # NIfTI keeps its affine in float32: ~1e-7 relative on origins of a few hundred mm.
    atol = 1e-4 if "nii" in suffix else 1e-9
    np.testing.assert_allclose(read.spacing, volume.spacing, atol=atol)
    np.testing.assert_allclose(read.origin, volume.origin, atol=atol)
    np.testing.assert_allclose(read.direction, volume.direction, atol=atol)
    assert_matches_sitk(read, path, atol=1e-4)


def test_boolean_mask_written_as_integers(tmp_path, rng):
    mask = Volume(rng.random((4, 5, 6)) > 0.5, (1.0, 2.0, 3.0))
    for name in ("mask.nii.gz", "mask.nrrd"):
        read = read_image(write_image(mask, tmp_path / name), device="cpu")
        assert read.data.dtype == np.uint8
        np.testing.assert_array_equal(read.data, mask.data)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_big_endian_nifti_read_in_the_machines_byte_order(tmp_path, rng, suffix, dtype):
    # NIfTI may be big-endian; nibabel gives its voxels in that byte order ('>i2'), which read_image
    # kept and uploaded as such. CuPy has the machine's byte order only and copies such bytes
    # unswapped (cupy#3652: values silently wrong on the device); Numba refuses such arrays.
    values = (
        rng.normal(100, 300, (5, 6, 7))
        if dtype in (np.float32, np.float64)
        else rng.integers(0, 3000, (5, 6, 7))
    )
    header = nib.Nifti1Header(endianness=">")
    header.set_data_dtype(dtype)
    image = nib.Nifti1Image(values.astype(dtype), np.diag([0.7, 0.8, 2.5, 1.0]), header=header)
    nib.save(image, tmp_path / f"big{suffix}")
    volume = read_image(tmp_path / f"big{suffix}", device="cpu")
    assert volume.data.dtype.isnative
    assert_matches_sitk(volume, tmp_path / f"big{suffix}", atol=1e-6)  # SimpleITK: native byte order


@pytest.mark.parametrize("first", [True, False])
def test_a_nrrd_list_axis_of_one_component_is_not_an_axis(tmp_path, rng, first):
    # kinds "list domain domain domain" with sizes (1, x, y, z): a volume of one component per voxel,
    # which SimpleITK reads as 3D; it was refused as a 4D image to split into time points.
    data = rng.integers(0, 100, (3, 4, 5)).astype(np.int16)  # (x, y, z) in Fortran order
    spatial = [[0.5, 0.0, 0.1], [0.0, 0.6, 0.0], [-0.4, 0.0, 2.0]]  # oblique, orthogonal
    none = [[np.nan] * 3]
    header = {
        "space": "left-posterior-superior",
        "space directions": np.array(none + spatial if first else spatial + none),
        "kinds": ["list", "domain", "domain", "domain"] if first else ["domain", "domain", "domain", "list"],
        "space origin": np.array([10.0, 20.0, 30.0]),
    }
    nrrd.write(str(tmp_path / "list.nrrd"), data[None] if first else data[..., None], header)
    assert_matches_sitk(read_image(tmp_path / "list.nrrd", device="cpu"), tmp_path / "list.nrrd", atol=1e-9)


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("kind", ["list", "scalar"])
def test_a_nrrd_list_axis_of_one_component_without_a_space_is_not_an_axis(tmp_path, rng, first, kind):
    # The same volume without a space, placed by its per-axis fields (teem's unu axinsert writes it):
    # 'spacings: NaN 0.5 0.7 2.5' was read from its first three entries and refused as a damaged
    # spacing ([nan, 0.5, 0.7]); SimpleITK reads a 3D volume spaced 0.5, 0.7, 2.5 mm, placed by the
    # spatial axes' mins.
    data = rng.integers(0, 100, (3, 4, 5)).astype(np.int16)  # (x, y, z) in Fortran order
    spatial, mins = [0.5, 0.7, 2.5], [10.0, -20.0, 30.0]
    header = {
        "kinds": [kind, "domain", "domain", "domain"] if first else ["domain", "domain", "domain", kind],
        "spacings": np.array([np.nan, *spatial] if first else [*spatial, np.nan]),
        "axis mins": np.array([np.nan, *mins] if first else [*mins, np.nan]),
    }
    nrrd.write(str(tmp_path / "list.nrrd"), data[None] if first else data[..., None], header)
    volume = read_image(tmp_path / "list.nrrd", device="cpu")
    assert_matches_sitk(volume, tmp_path / "list.nrrd", atol=1e-9)
    np.testing.assert_array_equal(volume.data, data.T)
    expected = np.array(mins) + np.array(spatial) / 2  # cell centering, the format's default
    np.testing.assert_allclose(volume.origin, expected, rtol=0, atol=1e-12)


def test_nrrd_ras_space_converted(tmp_path, rng):
    data = rng.integers(0, 100, (3, 4, 5)).astype(np.int16)  # (x, y, z) in Fortran order
    header = {
        "space": "right-anterior-superior",
        "space directions": np.diag([0.5, 0.6, 2.0]),
        "space origin": np.array([10.0, 20.0, 30.0]),
    }
    nrrd.write(str(tmp_path / "ras.nrrd"), data, header)
    volume = read_image(tmp_path / "ras.nrrd", device="cpu")
    assert volume.origin == (-10.0, -20.0, 30.0)
    np.testing.assert_allclose(volume.direction, [[0, 0, -1], [0, -1, 0], [1, 0, 0]])
    assert_matches_sitk(volume, tmp_path / "ras.nrrd", atol=1e-9)


@pytest.mark.parametrize("centerings", [None, ["cell"] * 3, ["node"] * 3])
def test_a_nrrd_without_a_space_is_placed_by_its_axis_mins(tmp_path, rng, centerings):
    # A NRRD without 'space' and 'space directions' (teem's unu, older tools) places its samples by
    # 'spacings' and 'axis mins': the first sample at the min (node centering) or half a spacing past it
    # (cell centering, the format's default). The mins were ignored: origin (0, 0, 0) where SimpleITK
    # reads (10.35, 20.4, 31.0), so a mask of another format landed 10-30 mm away.
    data = rng.integers(0, 100, (4, 5, 6)).astype(np.int16)  # (i, j, k)
    header = {"spacings": np.array([0.7, 0.8, 2.0]), "axis mins": np.array([10.0, 20.0, 30.0])}
    if centerings is not None:
        header["centerings"] = centerings
    nrrd.write(str(tmp_path / "mins.nrrd"), data, header)
    volume = read_image(tmp_path / "mins.nrrd", device="cpu")
    node = centerings is not None and centerings[0] == "node"
    expected = np.array([10.0, 20.0, 30.0]) + (0 if node else np.array([0.7, 0.8, 2.0]) / 2)  # the definition
    np.testing.assert_allclose(volume.origin, expected, rtol=0, atol=1e-12)  # the same few additions
    assert_matches_sitk(volume, tmp_path / "mins.nrrd", atol=1e-9)


@pytest.mark.parametrize("centering", ["cell", "node"])
@pytest.mark.parametrize("signs", [(1, 1, 1), (1, -1, 1)], ids=["forward", "y-reversed"])
def test_a_nrrd_without_spacings_takes_its_steps_from_axis_mins_and_maxs(tmp_path, rng, centering, signs):
    # Without 'spacings', sample i of an axis of n samples lies at min + (i + 1/2) (max - min) / n (cell
    # centering) or min + i (max - min) / (n - 1) (node centering), by the NRRD format's definition of
    # 'axis mins' and 'axis maxs' (a max below the min: the axis runs backwards). They were ignored: 1 mm
    # steps from (0, 0, 0). SimpleITK places the first sample so but reports a spacing of 1 mm, so it is
    # the reference for the origin only; the definition, in plain NumPy, for every voxel centre.
    data = rng.integers(0, 100, (4, 5, 6)).astype(np.int16)  # (i, j, k)
    mins, steps = np.array([10.0, -20.0, 30.0]), np.array([0.7, 0.8, 2.0]) * signs
    cells = np.array(data.shape) - (1 if centering == "node" else 0)
    header = {"axis mins": mins, "axis maxs": mins + steps * cells, "centerings": [centering] * 3}
    nrrd.write(str(tmp_path / "range.nrrd"), data, header)
    volume = read_image(tmp_path / "range.nrrd", device="cpu")
    np.testing.assert_array_equal(volume.data, data.T)
    np.testing.assert_allclose(volume.origin, sitk_volume(tmp_path / "range.nrrd")[2], atol=1e-9)
    k, j, i = (np.arange(n, dtype=float) for n in volume.shape)
    grid = np.stack(np.meshgrid(k, j, i, indexing="ij"), axis=-1).reshape(-1, 3)
    centres = np.asarray(volume.origin) + (grid * volume.spacing) @ volume.direction.T
    half = 0.5 if centering == "cell" else 0.0
    defined = mins + (grid[:, ::-1] + half) * (header["axis maxs"] - mins) / cells  # (x, y, z) per voxel
    np.testing.assert_allclose(centres, defined, rtol=0, atol=1e-9)  # a few float64 operations apart


@pytest.mark.parametrize("space", ["left-posterior-superior", "right-anterior-superior"])
def test_a_2d_nrrd_slice_in_3d_space_lies_in_its_plane(tmp_path, rng, space):
    # A 2D NRRD image with 3D 'space directions' (one oblique or sagittal slice) took (0, 0, 1) as its
    # third axis, so any slice that is not axial was refused: 'direction must be ... orthonormal'.
    # Its third axis is the plane's normal (row x column in LPS, as a DICOM slice's), 1 mm.
    data = rng.integers(0, 100, (4, 5)).astype(np.int16)  # (i, j)
    i_step, j_step = np.array([0.0, 0.6, 0.8]) * 0.5, np.array([0.0, 0.8, -0.6]) * 0.7
    flip = np.array([1.0, 1.0, 1.0] if space.startswith("left") else [-1.0, -1.0, 1.0])
    header = {
        "space": space,
        "space directions": np.stack([i_step * flip, j_step * flip]),
        "space origin": np.array([10.0, -20.0, 30.0]) * flip,
    }
    nrrd.write(str(tmp_path / "slice.nrrd"), data, header)
    volume = read_image(tmp_path / "slice.nrrd", device="cpu")
    np.testing.assert_array_equal(volume.data, data.T[np.newaxis])
    row, col = i_step / 0.5, j_step / 0.7  # LPS unit vectors along i (x) and j (y)
    np.testing.assert_allclose(volume.direction, np.column_stack([np.cross(row, col), col, row]), atol=1e-12)
    np.testing.assert_allclose(volume.spacing, (1.0, 0.7, 0.5), rtol=1e-12)
    np.testing.assert_allclose(volume.origin, (10.0, -20.0, 30.0), rtol=1e-12)


def test_unknown_suffix(tmp_path, make_volume):
    with pytest.raises(ParameterError, match=r"image\.mha"):
        write_image(make_volume(), tmp_path / "image.mha")
    with pytest.raises(ParameterError, match="unknown image format"):
        read_image(tmp_path / "image.tif")


def test_four_dimensional_refused(tmp_path, rng):
    nib.save(nib.Nifti1Image(rng.random((3, 4, 5, 2)).astype(np.float32), np.eye(4)), tmp_path / "t.nii")
    with pytest.raises(GeometryError, match=r"t\.nii: a 4D image"):
        read_image(tmp_path / "t.nii")


@pytest.mark.parametrize("channels", ["RGB", "RGBA"])
def test_a_colour_nifti_is_refused_as_a_colour_nrrd_is(tmp_path, rng, channels):
    # An RGB24 (RGBA32) NIfTI was read as a Volume of a structured dtype, [('R', 'u1'), ...], which no
    # operation takes; a NRRD of the same colour voxels (an axis of 3) is refused as a 4D image.
    sitk = pytest.importorskip("SimpleITK")
    voxels = np.zeros((4, 5, 6), dtype=[(c, "u1") for c in channels])
    for c in channels:
        voxels[c] = rng.integers(0, 256, voxels.shape)
    nib.save(nib.Nifti1Image(voxels, np.eye(4)), tmp_path / "colour.nii")
    assert sitk.ReadImage(str(tmp_path / "colour.nii")).GetNumberOfComponentsPerPixel() == len(channels)
    with pytest.raises(GeometryError, match=rf"colour\.nii: a colour image \({len(channels)} channels"):
        read_image(tmp_path / "colour.nii")


@pytest.mark.parametrize(("units", "mm"), [("micron", 1e-3), ("meter", 1e3), ("mm", 1.0), ("unknown", 1.0)])
@pytest.mark.parametrize("form", ["sform", "qform"])
def test_a_nifti_in_microns_or_metres_is_read_in_mm(tmp_path, rng, units, mm, form):
    # A NIfTI file's pixdim, qform and sform are in its xyzt_units (NIfTI-1: metres, mm or microns;
    # preclinical micro-CT and MR converters write microns). They were taken as mm: a 70 x 80 x 200 um
    # grid read as 70 x 80 x 200 mm, its origin 1000 times too far. SimpleITK converts to mm (unknown
    # units as mm); so does read_image now.
    rotation = Rotation.from_euler("xyz", [10.0, -25.0, 40.0], degrees=True).as_matrix()
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.array([0.07, 0.08, 0.2]) / mm  # in the file's units
    affine[:3, 3] = np.array([12.0, -3.5, 40.0]) / mm
    image = nib.Nifti1Image(rng.integers(0, 100, (4, 5, 6)).astype(np.int16), affine)  # pixdim set too
    image.set_qform(affine, code=1 if form == "qform" else 0)
    image.set_sform(affine, code=1 if form == "sform" else 0)
    image.header.set_xyzt_units(units)
    nib.save(image, tmp_path / "small.nii.gz")
    volume = read_image(tmp_path / "small.nii.gz", device="cpu")
    # float32 header fields: 1e-7 relative of 40 mm; the qform's quaternion 1e-7 of the 0.2 mm steps
    np.testing.assert_allclose(volume.spacing, [0.2, 0.08, 0.07], rtol=1e-6)
    np.testing.assert_allclose(volume.origin, [-12.0, 3.5, 40.0], rtol=0, atol=1e-5)
    assert_matches_sitk(volume, tmp_path / "small.nii.gz", atol=1e-6)


def test_sheared_affine_refused(tmp_path, rng):
    affine = np.eye(4)
    affine[0, 1] = 0.5
    image = nib.Nifti1Image(rng.random((3, 4, 5)).astype(np.float32), affine)
    image.set_sform(affine, code=1)
    nib.save(image, tmp_path / "shear.nii")
    with pytest.raises(GeometryError, match=r"shear\.nii.*orthonormal"):
        read_image(tmp_path / "shear.nii")


@pytest.mark.parametrize("space", ["left-posterior-superior", "right-anterior-superior"])
def test_nrrd_space_directions_written_with_few_decimals_are_read(tmp_path, rng, space):
    # A rotation's steps written to 3 decimals are 7.8e-4 from orthogonal (unit vectors' dot products):
    # the Volume refused the direction ('orthonormal columns ... Resample the image onto an orthogonal
    # grid'), where SimpleITK reads the file. read_image now takes the nearest orthonormal directions,
    # as read_dicom takes such cosines: voxels as SimpleITK's, every voxel centre where it puts it.
    sitk = pytest.importorskip("SimpleITK")
    cosines = np.round(Rotation.from_euler("xyz", [10.0, -25.0, 40.0], degrees=True).as_matrix(), 3)
    unit = cosines / np.linalg.norm(cosines, axis=0)
    assert 5e-4 < np.max(np.abs(unit.T @ unit - np.eye(3))) < 1e-3
    steps = np.round(cosines * [0.7, 0.8, 2.5], 3)  # columns: the steps along i, j, k [mm], as written
    data = rng.integers(-1000, 1000, (6, 7, 5)).astype(np.int16)  # (i, j, k)
    header = {"space": space, "space directions": steps.T, "space origin": np.array([12.0, -3.5, 40.0])}
    nrrd.write(str(tmp_path / "few.nrrd"), data, header)
    volume = read_image(tmp_path / "few.nrrd", device="cpu")
    image = sitk.ReadImage(str(tmp_path / "few.nrrd"))
    np.testing.assert_array_equal(volume.data, sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(volume.direction.T @ volume.direction, np.eye(3), rtol=0, atol=1e-12)
    np.testing.assert_allclose(volume.spacing, image.GetSpacing()[::-1], rtol=1e-12)
    axes = np.meshgrid(*(np.arange(n) for n in volume.shape), indexing="ij")
    index = np.stack(axes, axis=-1).reshape(-1, 3)
    theirs = [image.TransformIndexToPhysicalPoint([int(v) for v in point[::-1]]) for point in index]
    ours = np.asarray(volume.origin) + (index * volume.spacing) @ volume.direction.T
    # They differ by our turn of the directions (3e-4 at most) over a 3.5 x 4.8 x 10 mm grid: 2.5e-3 mm.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=5e-3)


@pytest.mark.parametrize("qform", [False, True])
def test_a_nifti_sform_written_with_few_decimals_is_read(tmp_path, rng, qform):
    # An sform whose steps are written to 3 decimals is 7.8e-4 from orthogonal: read_image refused it
    # as NRRD's ('orthonormal columns'). It now takes the nearest orthonormal directions. References:
    # nibabel's affine (the sform) places every voxel centre; SimpleITK refuses the sform alone ('No
    # orthonormal definition found') and reads the qform where one is set, the exact rotation.
    rotation = Rotation.from_euler("xyz", [10.0, -25.0, 40.0], degrees=True).as_matrix()
    sform, exact = np.eye(4), np.eye(4)
    sform[:3, :3] = np.round(rotation * [0.7, 0.8, 2.5], 3)
    exact[:3, :3] = rotation * [0.7, 0.8, 2.5]
    sform[:3, 3] = exact[:3, 3] = [12.0, -3.5, 40.0]
    image = nib.Nifti1Image(rng.integers(-1000, 1000, (6, 7, 5)).astype(np.int16), sform)
    image.set_sform(sform, code=1)
    image.set_qform(exact if qform else None, code=1 if qform else 0)
    nib.save(image, tmp_path / "few.nii")
    volume = read_image(tmp_path / "few.nii", device="cpu")
    written = nib.load(tmp_path / "few.nii")
    np.testing.assert_array_equal(volume.data, np.asarray(written.dataobj).transpose(2, 1, 0))
    np.testing.assert_allclose(volume.direction.T @ volume.direction, np.eye(3), rtol=0, atol=1e-12)
    axes = np.meshgrid(*(np.arange(n) for n in volume.shape), indexing="ij")
    index = np.stack(axes, axis=-1).reshape(-1, 3)
    ours = np.asarray(volume.origin) + (index * volume.spacing) @ volume.direction.T
    ras = nib.affines.apply_affine(written.affine, index[:, ::-1])
    np.testing.assert_allclose(ours, ras * [-1, -1, 1], rtol=0, atol=5e-3)  # 2.5e-3 here
    if qform:
        sitk = pytest.importorskip("SimpleITK")
        theirs = sitk.ReadImage(str(tmp_path / "few.nii"))
        np.testing.assert_array_equal(volume.data, sitk.GetArrayFromImage(theirs))
        points = [theirs.TransformIndexToPhysicalPoint([int(v) for v in point[::-1]]) for point in index]
        np.testing.assert_allclose(ours, points, rtol=0, atol=5e-3)  # the rounding of the sform's steps


@pytest.mark.parametrize("shear", [0.5, 0.02])
def test_a_sheared_nrrd_is_still_refused(tmp_path, rng, shear):
    # Directions further than 0.01 from orthogonal are a sheared grid, not rounded cosines.
    steps = np.eye(3)
    steps[0, 1] = shear
    header = {"space": "LPS", "space directions": steps.T}
    nrrd.write(str(tmp_path / "shear.nrrd"), rng.random((3, 4, 5)), header)
    with pytest.raises(GeometryError, match=r"shear\.nrrd.*orthonormal"):
        read_image(tmp_path / "shear.nrrd")


@pytest.mark.parametrize("space", ["scanner-xyz", "3D-right-handed"])
def test_unknown_nrrd_space(tmp_path, rng, space):
    # Scanner and world spaces are not the patient's: SimpleITK reads them as LPS without a word. The
    # refusal named the space but not the way out.
    header = {"space": space, "space directions": np.eye(3)}
    nrrd.write(str(tmp_path / "s.nrrd"), rng.random((3, 4, 5)), header)
    with pytest.raises(GeometryError, match=rf"'{space}'.*write 'space: left-posterior-superior' in"):
        read_image(tmp_path / "s.nrrd")


def test_a_nhdr_keeps_its_voxels_beside_it_under_its_own_name(tmp_path, make_volume, rng):
    # write_image("a.nhdr") left its voxels in ".a.nhdr.gpuimg-<pid>-<hex>.tmp.raw.gz", the name of a
    # temporary, which the next write into the folder removed once the writing process had ended: the
    # header then named a missing file. A write by another (now ended) process, then one by this one.
    import subprocess
    import sys

    volume = make_volume()
    volume = Volume(
        rng.integers(-500, 500, volume.shape).astype(np.int16),
        volume.spacing,
        volume.origin,
        volume.direction,
    )
    write_image(volume, tmp_path / "volume.nii")
    script = (
        "import sys, gpuimg; v = gpuimg.read_image(sys.argv[1], device='cpu'); "
        "gpuimg.io.write_image(v, sys.argv[2])"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "volume.nii"), str(tmp_path / "a.nhdr")], check=True
    )
    write_image(volume, tmp_path / "b.nrrd")  # cleans the temporaries of ended writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nhdr", "a.raw.gz", "b.nrrd", "volume.nii"]
    assert nrrd.read_header(str(tmp_path / "a.nhdr"))["data file"] == "a.raw.gz"
    assert_matches_sitk(read_image(tmp_path / "a.nhdr", device="cpu"), tmp_path / "a.nhdr", atol=1e-9)
    voxels, *_ = sitk_volume(tmp_path / "a.nhdr")
    np.testing.assert_array_equal(voxels, volume.data)
    write_image(volume, tmp_path / "a.nhdr")  # written again: the same two files, no other
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nhdr", "a.raw.gz", "b.nrrd", "volume.nii"]


@pytest.mark.parametrize("suffix", [".nrrd", ".nhdr"])
@pytest.mark.parametrize("handed", [1, -1])
def test_a_2d_image_written_by_simpleitk_in_a_2d_space(tmp_path, rng, suffix, handed):
    # SimpleITK writes a 2D image with 'space dimension: 2' and 2-vectors in 'space directions' and
    # 'space origin' (no 'space'); read_image called that header damaged ("needs one 3-vector").
    sitk = pytest.importorskip("SimpleITK")
    data = rng.integers(-100, 100, (6, 7)).astype(np.int16)  # (y, x)
    c, s = np.cos(0.5), np.sin(0.5)
    direction = np.array([[c, -s * handed], [s, c * handed]])  # columns: x and y axes
    image = sitk.GetImageFromArray(data)
    image.SetDirection(direction.ravel().tolist())
    image.SetSpacing((0.7, 1.1))
    image.SetOrigin((3.0, -4.0))
    sitk.WriteImage(image, str(tmp_path / f"slice{suffix}"))
    volume = read_image(tmp_path / f"slice{suffix}", device="cpu")
    back = sitk.ReadImage(str(tmp_path / f"slice{suffix}"))
    np.testing.assert_array_equal(volume.data, sitk.GetArrayFromImage(back)[np.newaxis])
    np.testing.assert_allclose(volume.spacing[1:], back.GetSpacing()[::-1], rtol=1e-12)
    np.testing.assert_allclose(volume.origin, (*back.GetOrigin(), 0.0), atol=1e-12)
    in_plane = np.array(back.GetDirection()).reshape(2, 2)[:, ::-1]  # columns y, x
    np.testing.assert_allclose(volume.direction[:2, 1:], in_plane, atol=1e-12)
    np.testing.assert_allclose(volume.direction[2, 1:], 0.0, atol=1e-12)


@pytest.mark.parametrize("suffix", [".Nii.gz", ".nii.GZ", ".Nii"])
def test_a_nifti_suffix_in_mixed_case_is_refused_as_niftilib_does(tmp_path, make_volume, suffix):
    # write_image("a.Nii.gz") ended in a WriteError blaming the folder (nibabel had saved the temporary
    # under another name, '....tmp.nii.gz', left behind); read_image of such a file in an ImageFileError
    # calling it truncated or corrupted (nibabel looked for 'a.nii.gz'). niftilib (SimpleITK) refuses
    # these names; all-lower and all-upper ones are NIfTI.
    sitk = pytest.importorskip("SimpleITK")
    volume = make_volume()
    with pytest.raises(
        ParameterError, match=rf"a{re.escape(suffix)}: the suffix .* mixes upper and lower case"
    ):
        write_image(volume, tmp_path / f"a{suffix}")
    assert list(tmp_path.iterdir()) == []
    written = write_image(volume, tmp_path / f"a{suffix.upper()}")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(written))), volume.data)
    written.rename(tmp_path / f"a{suffix}")
    with pytest.raises(RuntimeError):
        sitk.ReadImage(str(tmp_path / f"a{suffix}"))
    with pytest.raises(ParameterError, match="mixes upper and lower case"):
        read_image(tmp_path / f"a{suffix}")


def test_a_nifti_named_against_its_compression_says_which_name_it_needs(tmp_path, make_volume):
    # An uncompressed NIfTI named .nii.gz (which niftilib, so SimpleITK, reads by its content) and a
    # gzip-compressed one named .nii (which it refuses) were ImageFileErrors calling the file
    # "truncated, corrupted or not in this format; write it again" (nibabel goes by the name).
    import gzip
    import shutil

    sitk = pytest.importorskip("SimpleITK")
    volume = make_volume()
    plain = write_image(volume, tmp_path / "image.nii")
    shutil.copy(plain, tmp_path / "plain.nii.gz")
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "plain.nii.gz"))), volume.data
    )
    with pytest.raises(
        ImageFileError, match=r"plain\.nii\.gz: the file is an uncompressed NIfTI.*rename it to plain\.nii\."
    ):
        read_image(tmp_path / "plain.nii.gz")
    (tmp_path / "packed.nii").write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(
        ImageFileError, match=r"packed\.nii: the file is gzip-compressed.*rename it to packed\.nii\.gz\."
    ):
        read_image(tmp_path / "packed.nii")
    (tmp_path / "packed.nii").rename(tmp_path / "packed.nii.gz")
    np.testing.assert_array_equal(read_image(tmp_path / "packed.nii.gz", device="cpu").data, volume.data)


@pytest.mark.parametrize(("header", "named"), [(".hdr", ".hdr"), (".hdr", ".img"), (".hdr.gz", ".img.gz")])
@pytest.mark.parametrize("upper", [False, True])
def test_a_nifti_pair_is_read_as_simpleitk_and_nibabel_read_it(tmp_path, rng, header, named, upper):
    # A NIfTI-1 pair (the header in .hdr, magic 'ni1', the voxels in .img), as SPM and FSL write it,
    # was refused as 'unknown image format; read_image reads NIfTI and NRRD, so use a .nii ...'.
    rotation = Rotation.from_euler("xyz", [10.0, -25.0, 40.0], degrees=True).as_matrix()
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.array([0.8, 0.9, 2.5])
    affine[:3, 3] = [12.0, -3.5, 40.0]
    voxels = rng.integers(-1000, 1000, (4, 5, 6)).astype(np.int16)  # axes (i, j, k)
    image = nib.Nifti1Pair(voxels, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    stem = "SCAN" if upper else "scan"
    nib.save(image, tmp_path / f"{stem}{header.upper() if upper else header}")
    path = tmp_path / f"{stem}{named.upper() if upper else named}"
    assert path.is_file() and nib.load(path).header["magic"] == b"ni1"
    volume = read_image(path, device="cpu")
    np.testing.assert_array_equal(volume.data, voxels.transpose(2, 1, 0))
    np.testing.assert_array_equal(volume.data, np.asarray(nib.load(path).dataobj).transpose(2, 1, 0))
    # float32 header fields: 1e-7 relative of 40 mm
    np.testing.assert_allclose(volume.origin, [-12.0, 3.5, 40.0], rtol=0, atol=1e-5)
    if not upper:  # niftilib finds the pair's other file by a lower-case suffix only
        assert_matches_sitk(volume, path, atol=1e-6)


def test_a_scaled_nifti_pair_is_scaled_as_nibabel_scales_it(tmp_path, rng):
    voxels = rng.integers(0, 4000, (4, 5, 6)).astype(np.uint16)
    image = nib.Nifti1Pair(voxels, np.diag([0.5, 0.5, 2.0, 1.0]))
    image.header.set_slope_inter(0.25, -1024.0)
    nib.save(image, tmp_path / "pet.img.gz")
    volume = read_image(tmp_path / "pet.img.gz", device="cpu")
    expected = nib.load(tmp_path / "pet.hdr.gz").get_fdata()
    np.testing.assert_allclose(volume.data, expected.transpose(2, 1, 0), rtol=0, atol=0)
    np.testing.assert_allclose(volume.data, voxels.transpose(2, 1, 0) * 0.25 - 1024.0, rtol=1e-15)


def test_a_damaged_or_incomplete_nifti_pair_is_named(tmp_path, rng):
    voxels = rng.integers(0, 100, (4, 5, 6)).astype(np.int16)
    nib.save(nib.Nifti1Pair(voxels, np.eye(4)), tmp_path / "a.hdr")
    raw = (tmp_path / "a.img").read_bytes()
    (tmp_path / "a.img").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ImageFileError, match=r"a\.img: the header claims .* truncated"):
        read_image(tmp_path / "a.hdr", device="cpu")
    (tmp_path / "a.img").unlink()
    with pytest.raises(ImageFileError, match=r"a\.hdr: one file of a NIfTI-1 pair, whose voxel file a\.img"):
        read_image(tmp_path / "a.hdr", device="cpu")
    nib.save(nib.Nifti1Pair(voxels, np.eye(4)), tmp_path / "b.img.gz")
    packed = bytearray((tmp_path / "b.img.gz").read_bytes())
    packed[-6] ^= 0xFF  # the CRC, in the last 8 bytes of a gzip stream
    (tmp_path / "b.img.gz").write_bytes(bytes(packed))
    with pytest.raises(ImageFileError, match=r"b\.img\.gz: cannot be read as NIFTI .*CRC"):
        read_image(tmp_path / "b.img.gz", device="cpu")


def test_an_analyze_header_is_refused_for_its_unrecorded_orientation(tmp_path, rng):
    # Analyze 7.5 (a .hdr without NIfTI's magic) records no orientation: nibabel assumes one (x
    # flipped), SimpleITK another; a pair with NIfTI's magic is read.
    voxels = rng.integers(0, 100, (4, 5, 6)).astype(np.int16)
    nib.save(nib.AnalyzeImage(voxels, np.eye(4)), tmp_path / "a.hdr")
    assert not isinstance(nib.load(tmp_path / "a.hdr"), nib.Nifti1Pair)  # nibabel: an SPM2 Analyze image
    with pytest.raises(GeometryError, match=r"a\.hdr: an Analyze 7\.5 header"):
        read_image(tmp_path / "a.img", device="cpu")


def test_write_image_of_a_pair_name_says_to_name_a_single_file(tmp_path, make_volume):
    with pytest.raises(ParameterError, match=r"scan\.hdr: write_image writes single-file NIfTI"):
        write_image(make_volume(), tmp_path / "scan.hdr")


@pytest.mark.parametrize(("slope", "inter"), [(2.0, 0.0), (1.0, -1024.0), (1.0, 1.0), (1.0, 0.0)])
def test_a_scaled_nifti_is_budgeted_for_its_float64_voxels(tmp_path, monkeypatch, slope, inter):
    # The memory budget was checked for the stored int16 voxels twice (4 bytes a voxel), not int16 plus
    # the float64 array nibabel scales them into (10): the loaded header's scl_slope and scl_inter,
    # which the check read, are NaN (nibabel keeps them in its dataobj), so a scaled file always passed.
    from gpuimg.errors import MemoryBudgetError

    image = nib.Nifti1Image(np.zeros((20, 20, 20), np.int16), np.eye(4))
    image.header.set_slope_inter(slope, inter)
    nib.save(image, tmp_path / "pet.nii")
    scaled = np.asarray(nib.load(tmp_path / "pet.nii").dataobj)  # the reference: nibabel's array
    needed = scaled.size * (2 + scaled.dtype.itemsize)  # the stored voxels and the array
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed - 1))
    with pytest.raises(MemoryBudgetError, match=r"pet\.nii"):
        read_image(tmp_path / "pet.nii", device="cpu")
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed))
    assert read_image(tmp_path / "pet.nii", device="cpu").data.dtype == scaled.dtype


@pytest.mark.parametrize("name", ["scan.nii", "scan.hdr"])
def test_a_volume_read_is_not_changed_by_writing_its_file_again(tmp_path, rng, name):
    # read_image of an uncompressed NIfTI returned a view of nibabel's memory map of the file, so a file
    # written again in place (nib.save truncates and rewrites it, as ITK does) changed the volume read
    # before (and one written shorter would be a bus error on the next access). SimpleITK's array, the
    # reference, is the file's content at the time of reading.
    sitk = pytest.importorskip("SimpleITK")
    first = rng.integers(-1000, 1000, (4, 5, 6)).astype(np.int16)
    pair = nib.Nifti1Pair if name.endswith(".hdr") else nib.Nifti1Image
    nib.save(pair(first, np.eye(4)), tmp_path / name)
    volume = read_image(tmp_path / name, device="cpu")
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / name)))
    nib.save(pair(first + 1, np.eye(4)), tmp_path / name)  # in place, same size
    np.testing.assert_array_equal(volume.data, expected)
    np.testing.assert_array_equal(volume.data, first.transpose(2, 1, 0))


def test_the_steps_lengths_and_directions_are_numpys_bit_for_bit(rng):
    # read_image's spacing is np.linalg.norm's length of each voxel step, its direction each step over
    # it; _steps works them out on Python floats where they are positive and finite: bit for bit.
    from gpuimg.io.image import _steps

    matrices = [
        Rotation.random(random_state=int(rng.integers(2**31))).as_matrix() * rng.uniform(1e-3, 1e3, 3),
        np.round(Rotation.random(random_state=int(rng.integers(2**31))).as_matrix(), 3),
        np.diag(rng.uniform(0.1, 5, 3) * rng.choice([-1, 1], 3)),
        np.eye(3)[rng.permutation(3)] * [-0.0 + 1.25, -2.0, 0.7],
        rng.normal(size=(3, 3)) * 1e150,
        rng.normal(size=(3, 3)) * 1e-150,
    ]
    for matrix in matrices:
        spacing, direction = _steps(matrix)
        lengths = np.linalg.norm(matrix, axis=0)
        assert np.asarray(spacing).tobytes() == lengths[::-1].tobytes()
        assert (
            np.ascontiguousarray(direction).tobytes()
            == np.ascontiguousarray((matrix / lengths)[:, ::-1]).tobytes()
        )
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero, overflowing or NaN step: NumPy's values
        for bad in (np.diag([1.0, 0.0, 1.0]), np.eye(3) * 1e200, np.diag([np.nan, 1.0, 1.0])):
            spacing, direction = _steps(bad)
            lengths = np.sqrt(np.add.reduce(bad * bad, axis=0))
            np.testing.assert_array_equal(spacing, lengths[::-1])
            np.testing.assert_array_equal(direction, (bad / lengths)[:, ::-1])
