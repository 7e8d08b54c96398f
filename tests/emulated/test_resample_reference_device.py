"""resample / resample_mask with reference= on the (real or emulated) CUDA device: cupyx's
affine_transform onto another grid against SimpleITK, and the exact path (the same voxels in another
axis order) against np.transpose / np.flip of the host voxels."""

import dataclasses

import dask.array as da
import numpy as np
import SimpleITK as sitk

from gpuimg import Volume
from gpuimg.backend import namespace, to_numpy
from gpuimg.preprocess import resample, resample_mask
from gpuimg.preprocess._grid import on_same_voxels
from gpuimg.testing.emulated_cuda import DeviceArray

AXIAL = np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])
TURN = np.array([[0.96, -0.28, 0.0], [0.28, 0.96, 0.0], [0.0, 0.0, 1.0]])  # 16.3 degrees about S


def on_device(x) -> bool:
    return isinstance(x, DeviceArray) or type(x).__module__.startswith("cupy")


def sitk_image(volume: Volume, data):
    """A Volume's geometry with ``data`` (host) as a SimpleITK image: ITK's axes are x, y, z, so the
    spacing and direction columns are reversed, as tests/preprocess/test_geometry.py maps them."""
    image = sitk.GetImageFromArray(np.asarray(data, np.float64))
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction)[:, ::-1].ravel()))
    return image


def sitk_onto(image: Volume, data, reference: Volume, interpolator, default: float) -> np.ndarray:
    """SimpleITK's Resample of ``data`` on ``image``'s grid onto ``reference``'s, identity transform."""
    moved = sitk.Resample(
        sitk_image(image, data), sitk_image(reference, np.zeros(reference.shape)), sitk.Transform(),
        interpolator, default,
    )  # fmt: skip
    return sitk.GetArrayFromImage(moved)


def grids(rng):
    """A host image (oblique, off the origin) and a reference grid turned and shifted against it that
    covers part of it (no order-0 ties, no centre on an outer edge)."""
    image = Volume(rng.normal(0.0, 100.0, (6, 9, 8)), (2.5, 0.9, 1.1), (-12.3, 7.1, 40.2), TURN @ AXIAL)
    reference = Volume(np.zeros((5, 11, 7)), (2.9, 0.83, 1.37), (-10.1, 5.7, 41.3), TURN.T @ TURN.T @ AXIAL)
    return image, reference


def test_onto_another_grid_on_the_device_equals_simpleitk(emulated_cuda, rng, monkeypatch):
    image, reference = grids(rng)
    device = dataclasses.replace(image, data=emulated_cuda(image.data))
    # cupyx's affine_transform takes its matrix as a cupy.ndarray (it calls matrix.ndim, .astype and
    # divides a device offset by a 1-D one, cupyx/scipy/ndimage/_interpolation.py): record what it gets.
    ndi = namespace(device.data).ndi
    matrices = []

    def recording(image, matrix, *args, _real=ndi.affine_transform, **kwargs):
        matrices.append(matrix)
        return _real(image, matrix, *args, **kwargs)

    monkeypatch.setattr(ndi, "affine_transform", recording)
    for order, interpolator in ((0, sitk.sitkNearestNeighbor), (1, sitk.sitkLinear)):
        got = resample(device, order=order, cval=-5.5, reference=reference)
        assert on_device(got.data) and got.dtype == np.float64 and got.origin == reference.origin
        want = sitk_onto(image, image.data, reference, interpolator, -5.5)
        assert (want == -5.5).any() and (want != -5.5).any()  # partly past the image's edges
        # float64 coordinates (float64_coords) and weights on the device: ~1e-13 of values ~300.
        np.testing.assert_allclose(to_numpy(got.data), want, rtol=1e-9, atol=1e-9)
    assert len(matrices) == 2 and all(on_device(m) and m.shape == (3, 3) for m in matrices)
    mask = dataclasses.replace(device, data=device.data > 50.0)
    got = resample_mask(mask, reference=reference)
    fraction = sitk_onto(image, image.data > 50.0, reference, sitk.sitkLinear, 0.0)
    assert on_device(got.data) and got.dtype == bool and np.abs(fraction - 0.5).min() > 1e-6
    np.testing.assert_array_equal(to_numpy(got.data), fraction >= 0.5)


def test_the_same_voxels_on_the_device_are_reordered_exactly(emulated_cuda, rng):
    """Rows bottom-up and slices from the x axis: the voxels come back bit for bit, on the device, with
    order 3 too (no prefilter)."""
    image, _ = grids(rng)
    data = np.flip(np.transpose(image.data, (2, 0, 1)), 1)  # axes x, z, y; z reversed
    last_slice = image.affine @ [image.shape[0] - 1, 0, 0, 1]
    direction = np.column_stack([image.direction[:, 2], -image.direction[:, 0], image.direction[:, 1]])
    spacing = (image.spacing[2], image.spacing[0], image.spacing[1])
    stored = Volume(emulated_cuda(np.ascontiguousarray(data)), spacing, last_slice[:3], direction)
    back = resample(stored, order=3, reference=image)
    assert on_device(back.data)
    np.testing.assert_array_equal(to_numpy(back.data), image.data)
    same = on_same_voxels(stored, image, atol_mm=1e-3)
    assert on_device(same.data) and same.dtype == np.float64
    np.testing.assert_array_equal(to_numpy(same.data), image.data)
    mask = resample_mask(dataclasses.replace(stored, data=stored.data > 0), reference=image)
    assert on_device(mask.data) and mask.dtype == bool
    np.testing.assert_array_equal(to_numpy(mask.data), image.data > 0)


def test_a_dask_image_of_device_chunks_onto_a_reference(emulated_cuda, rng):
    """Interpolated: computed whole into one device chunk; on the same voxels: reordered lazily."""
    image, reference = grids(rng)
    lazy = dataclasses.replace(image, data=da.from_array(emulated_cuda(image.data), chunks=3, asarray=False))
    got = resample(lazy, reference=reference)
    assert isinstance(got.data, da.Array) and got.data.numblocks == (1, 1, 1)
    computed = got.data.compute()
    assert on_device(computed)
    want = sitk_onto(image, image.data, reference, sitk.sitkLinear, 0.0)
    np.testing.assert_allclose(to_numpy(computed), want, rtol=1e-9, atol=1e-9)
    same_grid = dataclasses.replace(image, data=np.zeros(image.shape))
    back = resample(lazy, reference=same_grid)
    assert isinstance(back.data, da.Array)
    np.testing.assert_array_equal(to_numpy(back.data.compute()), image.data)
