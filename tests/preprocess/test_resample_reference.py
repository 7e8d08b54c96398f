"""gpuimg.preprocess.resample / resample_mask with reference=: values against SimpleITK's resampler onto
a reference image, and the exact path (the same voxels in another axis order) against np.transpose /
np.flip of the original voxels."""

import dataclasses
import itertools

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk

from gpuimg import MemoryBudgetError, ParameterError, Volume
from gpuimg.preprocess import _grid, resample, resample_mask
from gpuimg.preprocess._grid import on_same_voxels


def sitk_image(volume: Volume, data=None):
    """A Volume as a SimpleITK image in the same patient (LPS) coordinates: ITK's axes are x, y, z, so
    the spacing and the direction's columns are reversed (as tests/preprocess/test_geometry.py and
    tests/io/test_image.py map them)."""
    image = sitk.GetImageFromArray(np.asarray(volume.data if data is None else data, np.float64))
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction)[:, ::-1].ravel()))
    return image


def sitk_onto(volume: Volume, reference: Volume, interpolator, default: float, data=None) -> np.ndarray:
    """SimpleITK's Resample of ``volume`` onto ``reference``'s grid, identity transform."""
    moved = sitk.Resample(
        sitk_image(volume, data), sitk_image(reference), sitk.Transform(), interpolator, default
    )
    return sitk.GetArrayFromImage(moved)


def rotation(axis, angle: float) -> np.ndarray:
    """A rotation by ``angle`` [rad] about the unit ``axis`` (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


AXIAL = np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])  # columns z, y, x along S, P, L

# The image: 7 x 9 x 8 voxels of (2.5, 0.9, 1.1) mm, an oblique direction, off the origin.
IMAGE_GEOMETRY = {
    "spacing": (2.5, 0.9, 1.1),
    "origin": (-12.3, 7.1, 40.2),
    "direction": rotation((0.3, -0.5, 0.8), 0.4) @ AXIAL,
}


def image_volume(rng, dtype=np.float64, meta=None) -> Volume:
    data = rng.normal(0.0, 100.0, (7, 9, 8)).astype(dtype)
    return Volume(data, meta=meta or {}, **IMAGE_GEOMETRY)


def grid_near(image: Volume, shape, spacing, shift_mm, turn) -> Volume:
    """A reference grid of ``shape`` and ``spacing`` around the image's: its direction the image's
    turned by ``turn`` (axis, angle), its origin the image's moved by ``shift_mm`` (LPS)."""
    direction = rotation(*turn) @ image.direction
    origin = np.asarray(image.origin) + np.asarray(shift_mm)
    return Volume(np.broadcast_to(np.float32(0), shape), spacing, origin, direction)


# Reference grids without ties for order 0 (no reference centre halfway between image centres) nor
# points on the image's outer edges: shifts and spacings that are not simple fractions of the image's.
REFERENCES = {
    "rotated": ((7, 9, 8), (2.5, 0.9, 1.1), (0.0, 0.0, 0.0), ((1.0, 2.0, 0.5), 0.35)),
    "shifted": ((7, 9, 8), (2.5, 0.9, 1.1), (0.37, -0.29, 0.61), ((1.0, 0.0, 0.0), 0.0)),
    "coarser": ((5, 5, 6), (3.3, 1.7, 1.45), (0.13, 0.21, -0.17), ((0.0, 1.0, 0.0), 0.05)),
    "finer": ((17, 19, 15), (0.93, 0.41, 0.57), (-0.07, 0.33, 0.11), ((0.0, 0.0, 1.0), -0.1)),
    "partly_overlapping": ((9, 11, 10), (2.1, 1.3, 0.7), (6.3, -4.7, 9.9), ((1.0, -1.0, 1.0), 0.6)),
}


@pytest.mark.parametrize("case", sorted(REFERENCES))
@pytest.mark.parametrize(("order", "interpolator"), [(0, sitk.sitkNearestNeighbor), (1, sitk.sitkLinear)])
def test_onto_another_grid_equals_simpleitk(rng, case, order, interpolator):
    image = image_volume(rng, meta={"modality": "CT", "files": [f"{k}.dcm" for k in range(7)]})
    reference = grid_near(image, *REFERENCES[case])
    got = resample(image, order=order, cval=-777.5, reference=reference)
    want = sitk_onto(image, reference, interpolator, -777.5)
    assert got.shape == reference.shape and got.dtype == np.float64
    assert got.spacing == reference.spacing and got.origin == reference.origin
    np.testing.assert_array_equal(got.direction, reference.direction)
    assert got.meta == {"modality": "CT"}  # the files per slice go: the new slices are not old ones
    # Both read the same voxels with the same weights in float64; the continuous indices differ in the
    # last bits (another inversion of the affine), so values agree to ~1e-13 of ~300.
    np.testing.assert_allclose(got.data, want, rtol=1e-9, atol=1e-9)


#: Every boundary mode resample takes (SciPy's).
MODES = ("reflect", "grid-mirror", "nearest", "mirror", "wrap", "grid-wrap", "constant", "grid-constant")


def random_maps(rng):
    """Maps from output to input index: random, turned and scaled, and axis-aligned ones whose indices
    fall on whole and half voxels (order 0's ties, order 1's zero weights); each reaches past the input."""
    maps = [(rng.normal(0.0, 1.0, (3, 3)), rng.normal(0.0, 3.0, 3)) for _ in range(2)]
    turned = rotation(rng.normal(size=3), rng.uniform(0.1, 1.0)) * rng.choice([0.5, 1.0, 1.7])
    maps.append((turned, rng.normal(0.0, 2.0, 3)))
    maps.append((np.diag([0.5, 1 / 3, 2.0]), np.array([-0.25, 0.5, 1 / 3])))
    permuted = np.eye(3)[rng.permutation(3)] * rng.choice([-1.0, 1.0], 3)[:, None]
    maps.append((0.5 * permuted, rng.choice([-0.5, 0.5, 2.5], 3)))
    return maps


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_cpu_kernel_is_scipys_affine_transform_bit_for_bit(rng, order, mode, dtype):
    """gpuimg.kernels.affine forms each index and sums each footprint as SciPy's C code does, so its
    values are SciPy's own: order 1 to 0 ulp, not only within rounding (whole numbers and halves make
    ties and zero weights; axes of one voxel, a NaN and an inf the odd cases)."""
    from gpuimg.kernels.affine import affine_transform

    for trial in range(3):
        shape = tuple(int(n) for n in rng.integers(1, 9, 3))
        data = rng.normal(0.0, 100.0, shape).astype(dtype)
        data[::2] = np.round(data[::2])
        if trial == 2:
            data.flat[rng.integers(data.size)] = np.nan
            data.flat[rng.integers(data.size)] = np.inf
        for matrix, offset in random_maps(rng):
            out_shape = tuple(int(n) for n in rng.integers(1, 12, 3))
            out = np.empty(out_shape, dtype)
            got = affine_transform(data, matrix, offset, out, order=order, mode=mode, cval=-3.5)
            want = ndi.affine_transform(
                data, matrix, offset, out_shape, order=order, mode=mode, cval=-3.5, prefilter=False
            )
            assert got is out
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_onto_another_grid_on_the_cpu_is_scipys_values_and_cval_past_the_edges(rng, mode, dtype):
    """The CPU path: SciPy's affine_transform of the image in its float dtype at each reference centre's
    continuous index, and cval where that index (the closed form, in plain NumPy) lies past the image's
    outer voxel edges; "constant" reads the map contracted by _grid.contracted, as documented."""
    data = (
        rng.normal(0.0, 100.0, (7, 9, 8))
        if dtype in (np.float32, np.float64)
        else rng.integers(0, 200, (7, 9, 8))
    )
    image = Volume(data.astype(dtype), **IMAGE_GEOMETRY)
    for case in ("rotated", "coarser", "finer", "partly_overlapping"):
        reference = grid_near(image, *REFERENCES[case])
        affine = np.linalg.solve(image.affine, reference.affine)
        matrix, offset = affine[:3, :3], affine[:3, 3]
        read = _grid.contracted(matrix, offset, image.shape) if mode == "constant" else (matrix, offset)
        index = np.indices(reference.shape).reshape(3, -1)
        continuous = matrix @ index + offset[:, None]
        past = (continuous < -0.5 - 1e-6) | (continuous > np.array(image.shape)[:, None] - 0.5 + 1e-6)
        for order in (0, 1):
            got = resample(image, order=order, mode=mode, cval=-7.25, reference=reference)
            assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
            want = ndi.affine_transform(
                image.data.astype(got.dtype),
                *read,
                reference.shape,
                order=order,
                mode=mode,
                cval=-7.25,
                prefilter=False,
            )
            want[past.any(axis=0).reshape(reference.shape)] = -7.25
            np.testing.assert_array_equal(got.data, want)


def test_an_image_not_in_c_order_is_read_in_c_order(rng):
    image = image_volume(rng)
    reference = grid_near(image, *REFERENCES["rotated"])
    stored = dataclasses.replace(image, data=np.asfortranarray(image.data))
    assert not stored.data.flags.c_contiguous
    np.testing.assert_array_equal(
        resample(stored, order=1, reference=reference).data,
        resample(image, order=1, reference=reference).data,
    )


def test_a_partly_overlapping_grid_leaves_cval_past_the_edges_only(rng):
    """SimpleITK's default value exactly where the reference centre lies past the image's voxel edges
    (a closed form of the continuous index), and the image's values elsewhere."""
    image = image_volume(rng)
    reference = grid_near(image, *REFERENCES["partly_overlapping"])
    got = resample(image, order=1, cval=np.nan, reference=reference)
    index = np.indices(reference.shape).reshape(3, -1)
    points = reference.affine @ np.vstack([index, np.ones(index.shape[1])])
    continuous = np.linalg.inv(image.affine) @ points
    shape = np.array(image.shape)[:, None]
    inside = np.all((continuous[:3] >= -0.5) & (continuous[:3] <= shape - 0.5), axis=0)
    assert 0 < inside.sum() < inside.size
    np.testing.assert_array_equal(np.isnan(got.data).ravel(), ~inside)


def test_a_slice_grid_kept_keeps_the_files_per_slice(rng):
    """Resampled within each slice only (the reference's slices are the image's, in-plane grid finer):
    the files follow the slices; values as SimpleITK's."""
    meta = {"files": [f"{k}.dcm" for k in range(7)], "modality": "CT"}
    image = image_volume(rng, meta=meta)
    plane = Volume(
        np.broadcast_to(np.float32(0), (7, 12, 10)),
        (2.5, 0.6, 0.8),
        np.asarray(image.origin) + image.direction[:, 1] * 0.31 + image.direction[:, 2] * 0.17,
        image.direction,
    )
    got = resample(image, reference=plane)
    assert got.meta == meta
    np.testing.assert_allclose(got.data, sitk_onto(image, plane, sitk.sitkLinear, 0.0), rtol=1e-9, atol=1e-9)


def reordered(volume: Volume, axes, flips, meta=None) -> Volume:
    """``volume``'s voxels stored with its axes in the order ``axes`` and reversed where ``flips``:
    the same voxel centres, with the geometry that says so."""
    data = np.transpose(volume.data, axes)
    data = np.flip(data, [b for b, f in enumerate(flips) if f]) if any(flips) else data
    first = [volume.shape[a] - 1 if f else 0 for a, f in zip(axes, flips, strict=True)]
    index = np.zeros(3)
    index[list(axes)] = first
    origin = volume.affine @ [*index, 1.0]
    direction = np.column_stack(
        [volume.direction[:, a] * (-1.0 if f else 1.0) for a, f in zip(axes, flips, strict=True)]
    )
    spacing = tuple(volume.spacing[a] for a in axes)
    return Volume(np.ascontiguousarray(data), spacing, origin[:3], direction, meta or {})


ORDERS_OF_AXES = list(itertools.permutations(range(3)))
FLIPS = [(False, False, False), (False, True, False), (True, False, True), (True, True, True)]


@pytest.mark.parametrize("axes", ORDERS_OF_AXES)
@pytest.mark.parametrize("flips", FLIPS)
@pytest.mark.parametrize("order", [0, 1, 3])
def test_the_same_voxels_in_another_order_come_back_bit_for_bit(rng, axes, flips, order):
    image = image_volume(rng)
    stored = reordered(image, axes, flips)
    back = resample(stored, order=order, reference=image)
    assert back.data.dtype == np.float64 and back.data.flags.c_contiguous
    np.testing.assert_array_equal(back.data, image.data)  # no interpolation, no prefilter blur
    assert back.spacing == image.spacing and back.origin == image.origin
    # And the other way: the image onto the stored grid is the stored voxels.
    np.testing.assert_array_equal(resample(image, order=order, reference=stored).data, stored.data)


def test_the_exact_path_gives_the_dtype_of_interpolation(rng):
    """int16 voxels reordered come back as float32, as interpolation would give them."""
    image = image_volume(rng, dtype=np.int16)
    stored = reordered(image, (1, 2, 0), (True, False, False))
    back = resample(stored, reference=image)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back.data, image.data.astype(np.float32))
    same = on_same_voxels(stored, image, atol_mm=1e-3)
    assert same.dtype == np.int16 and not np.shares_memory(same.data, stored.data)
    np.testing.assert_array_equal(same.data, image.data)


def test_a_dcm2niix_grid_of_rows_bottom_up_comes_back_exactly(rng):
    """dcm2niix stores a DICOM series' rows bottom-up: y reversed, the origin at the last row. Its
    origin written to 5 decimals (1e-5 mm off) is still the same voxels."""
    meta = {"files": [f"{k}.dcm" for k in range(7)]}
    image = image_volume(rng, meta=meta)
    stored = reordered(image, (0, 1, 2), (False, True, False), meta=meta)
    stored = dataclasses.replace(stored, origin=np.round(stored.origin, 5))
    back = resample(stored, reference=image, order=3)
    np.testing.assert_array_equal(back.data, image.data)
    assert back.meta == meta  # slices one to one: the files stay
    # Slices reversed: the files follow them.
    flipped = reordered(image, (0, 1, 2), (True, False, False), meta=meta)
    assert resample(image, reference=flipped).meta["files"] == meta["files"][::-1]
    # Slices from another axis: no file per new slice.
    assert "files" not in resample(image, reference=reordered(image, (2, 0, 1), FLIPS[0])).meta


def test_a_grid_off_by_more_than_a_thousandth_of_a_voxel_is_interpolated(rng):
    image = image_volume(rng)
    stored = reordered(image, (2, 1, 0), (True, False, True))
    assert on_same_voxels(stored, image, atol_mm=1e-3 * min(image.spacing)) is not None
    moved = dataclasses.replace(stored, origin=np.add(stored.origin, (0.0, 0.002, 0.0)))
    assert on_same_voxels(moved, image, atol_mm=1e-3 * min(image.spacing)) is None
    got = resample(moved, reference=image)
    np.testing.assert_allclose(got.data, sitk_onto(moved, image, sitk.sitkLinear, 0.0), rtol=1e-9, atol=1e-9)
    assert not np.array_equal(got.data, image.data)
    # Another spacing along one axis, another shape: not the same voxels.
    stretched = dataclasses.replace(stored, spacing=(1.1, 0.9, 2.5005))
    assert on_same_voxels(stretched, image, atol_mm=1e-3) is None
    assert on_same_voxels(Volume(np.zeros((7, 9, 7)), **IMAGE_GEOMETRY), image, atol_mm=1e-3) is None


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_a_mask_onto_another_grid_equals_simpleitk_linear_then_threshold(rng, threshold):
    image = image_volume(rng)
    labels = np.zeros(image.shape, np.uint8)
    labels[1:6, 2:8, 1:7] = 3  # a label image: its non-zero voxels are the mask
    labels[3, 4:6, 3:5] = 0
    mask = dataclasses.replace(image, data=labels)
    reference = grid_near(image, *REFERENCES["coarser"])
    got = resample_mask(mask, threshold=threshold, reference=reference)
    fraction = sitk_onto(mask, reference, sitk.sitkLinear, 0.0, data=(labels != 0).astype(np.float64))
    assert got.dtype == bool and got.shape == reference.shape and got.origin == reference.origin
    assert np.abs(fraction - threshold).min() > 1e-6  # no tie to decide by rounding
    np.testing.assert_array_equal(got.data, fraction >= threshold)
    assert got.data.any() and not got.data.all()


def test_a_mask_of_the_same_voxels_comes_back_exactly(rng):
    image = image_volume(rng)
    inside = rng.random(image.shape) > 0.6
    stored = reordered(dataclasses.replace(image, data=inside.astype(np.float32) * 255), (1, 0, 2), FLIPS[2])
    back = resample_mask(stored, reference=image)
    assert back.dtype == bool
    np.testing.assert_array_equal(back.data, inside)


def test_a_dask_image_on_the_same_voxels_is_reordered_lazily_and_elsewhere_computed_whole(rng):
    image = image_volume(rng)
    stored = reordered(image, (2, 0, 1), (False, True, True))
    lazy = dataclasses.replace(stored, data=da.from_array(stored.data, chunks=(3, 4, 5)))
    back = resample(lazy, reference=image)
    assert isinstance(back.data, da.Array)
    np.testing.assert_array_equal(back.data.compute(), image.data)
    reference = grid_near(image, *REFERENCES["rotated"])
    got = resample(lazy, reference=reference)
    assert isinstance(got.data, da.Array) and got.data.numblocks == (1, 1, 1)
    # SimpleITK's resampling of the stored voxels (as test_onto_another_grid_equals_simpleitk).
    want = sitk_onto(stored, reference, sitk.sitkLinear, 0.0)
    np.testing.assert_allclose(got.data.compute(), want, rtol=1e-9, atol=1e-9)
    mask = resample_mask(dataclasses.replace(lazy, data=lazy.data > 0), reference=image)
    np.testing.assert_array_equal(np.asarray(mask.data), image.data > 0)


@pytest.mark.parametrize("call", [resample, resample_mask])
def test_a_plain_array_with_a_reference_is_refused(rng, call):
    image = image_volume(rng)
    with pytest.raises(ParameterError, match=r"reference= needs a Volume .* no position .* gpuimg\.Volume"):
        call(image.data, reference=image)


@pytest.mark.parametrize("call", [resample, resample_mask])
@pytest.mark.parametrize(
    "given", [{"spacing": 2.0}, {"new_spacing": 1.0}, {"spacing": 2.0, "new_spacing": 1.0}]
)
def test_a_spacing_besides_a_reference_is_refused(rng, call, given):
    image = image_volume(rng)
    name = next(iter(given))
    with pytest.raises(ParameterError, match=rf"reference= and .*{name}=.* would be ignored"):
        call(image, reference=image, **given)


@pytest.mark.parametrize("call", [resample, resample_mask])
@pytest.mark.parametrize("reference", [np.zeros((7, 9, 8)), "ct.nii.gz", (1.0, 1.0, 1.0)])
def test_a_reference_that_is_not_a_volume_is_refused(rng, call, reference):
    with pytest.raises(ParameterError, match=r"reference= must be a Volume"):
        call(image_volume(rng), reference=reference)


@pytest.mark.parametrize("call", [resample, resample_mask])
def test_a_reference_grid_over_the_memory_budget_is_refused_before_allocating(rng, monkeypatch, call):
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")  # 200³ float32 voxels need 30.5 MiB
    huge = Volume(np.broadcast_to(np.float32(0), (200, 200, 200)), (0.1, 0.1, 0.1), IMAGE_GEOMETRY["origin"])
    with pytest.raises(MemoryBudgetError, match=r"onto reference=, a grid of \(200, 200, 200\) voxels"):
        call(image_volume(rng), reference=huge)
    # The same voxels, reordered: checked before the copy too.
    image = Volume(np.broadcast_to(np.float32(1), (200, 200, 200)), (0.1, 0.1, 0.1))
    stored = reordered(image, (1, 0, 2), FLIPS[0])
    with pytest.raises(MemoryBudgetError, match="grid of reference="):
        call(stored, reference=image)


def test_a_bad_order_mode_or_threshold_with_a_reference_is_refused(rng):
    image = image_volume(rng)
    with pytest.raises(ParameterError, match="order=2"):
        resample(image, order=2, reference=image)
    with pytest.raises(ParameterError, match="mode"):
        resample(image, mode="edge", reference=image)
    with pytest.raises(ParameterError, match="threshold"):
        resample_mask(image, threshold=0.0, reference=image)
