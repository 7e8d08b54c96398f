"""An image and its mask (or reference) on different devices, on the CUDA device (emulated without a
GPU): a GPU mask with a CPU image is a DeviceError naming it, where NumPy met CuPy's refusal of an
implicit copy (a bare TypeError); a CPU mask with a GPU image goes to the GPU, as the CPU result."""

import numpy as np
import pytest

from gpuimg import edges, ml, morphology, preprocess
from gpuimg.backend import to_numpy
from gpuimg.errors import DeviceError, ParameterError

#: Operations taking an image and a mask, as (image, mask) -> result.
WITH_MASK = {
    "otsu_threshold": lambda image, mask: morphology.otsu_threshold(image, mask=mask),
    "multiotsu": lambda image, mask: morphology.multiotsu(image, classes=3, mask=mask),
    "canny": lambda image, mask: edges.canny(image, 1.0, mask=mask),
    "zscore": lambda image, mask: preprocess.zscore(image, mask),
    "equalize_hist": lambda image, mask: preprocess.equalize_hist(image, mask=mask),
    "segment_kmeans": lambda image, mask: ml.segment_kmeans(image, 3, mask),
}


def _image_and_mask(rng):
    image = rng.normal(0.0, 100.0, (6, 12, 14)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[1:5, 2:10, 3:12] = True
    return image, mask


@pytest.mark.parametrize("operation", WITH_MASK)
def test_a_gpu_mask_with_a_cpu_image_is_a_device_error(operation, emulated_cuda, rng):
    image, mask = _image_and_mask(rng)
    with pytest.raises(DeviceError, match=r"mask is on the GPU and the image on the CPU.*to_numpy\(mask\)"):
        WITH_MASK[operation](image, emulated_cuda(mask))


@pytest.mark.parametrize("operation", WITH_MASK)
def test_a_cpu_mask_with_a_gpu_image_gives_the_cpu_result(operation, emulated_cuda, rng):
    image, mask = _image_and_mask(rng)
    expected = WITH_MASK[operation](image, mask)
    found = WITH_MASK[operation](emulated_cuda(image), mask)
    np.testing.assert_allclose(to_numpy(found), to_numpy(expected), rtol=1e-6, atol=1e-6)


def test_match_histogram_on_two_devices_is_a_device_error(emulated_cuda, rng):
    image, _ = _image_and_mask(rng)
    for source, reference in ((image, emulated_cuda(image)), (emulated_cuda(image), image)):
        with pytest.raises(DeviceError, match="match_histogram: the image is on the"):
            preprocess.match_histogram(source, reference)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("operation", WITH_MASK)
def test_a_float_masks_nan_voxels_are_outside(operation, device, emulated_cuda, rng):
    # NaN != 0: a float mask's NaN voxels (a resampled label map's edge) were counted in by these
    # operations (zscore's mean, the histograms, Otsu's threshold, canny's edges and k-means' labels
    # changed), against gpuimg's one rule for masks: the non-zero voxels, NaN left out. The result
    # equals that of the mask with NaN as 0, whose tests compare with scikit-image and NumPy.
    put = emulated_cuda if device == "cuda" else np.asarray
    image, mask = _image_and_mask(rng)
    with_nan = mask.astype(np.float64)
    with_nan[0, 0, 0] = with_nan[5, 11, 13] = with_nan[0, 6, 7] = np.nan
    expected = WITH_MASK[operation](image, mask)
    found = WITH_MASK[operation](put(image), put(with_nan))
    np.testing.assert_allclose(to_numpy(found), to_numpy(expected), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_marching_cubes_leaves_out_a_float_masks_nan(device, emulated_cuda, rng):
    import skimage.measure

    from gpuimg import contours

    put = emulated_cuda if device == "cuda" else np.asarray
    volume = rng.random((6, 7, 8))
    mask = np.zeros(volume.shape)
    mask[1:5, 1:6, 2:7] = 1.0
    mask[0, 0, 0] = mask[5, 6, 7] = np.nan
    expected = skimage.measure.marching_cubes(volume, 0.5, mask=mask == 1)[0]
    found = contours.marching_cubes(put(volume), 0.5, mask=put(mask))[0]
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_marching_cubes_refuses_the_nan_voxels_it_reads(device, emulated_cuda, rng):
    # scikit-image meshes a NaN voxel's crossings as NaN vertices: refused, on the GPU too (its host
    # copy), where a processed cube reads it; a CPU mask leaving out its cubes (with a GPU volume too)
    # gives scikit-image's finite mesh without them.
    import skimage.measure

    from gpuimg import contours

    put = emulated_cuda if device == "cuda" else np.asarray
    volume = rng.random((6, 7, 8))
    # Neighbours on both sides of the level along x: an edge from the NaN voxel is crossed whichever
    # side scikit-image's cube index puts it on (with all six neighbours below 0.5, 1 draw in 64, none
    # was, and its mesh was finite).
    volume[3, 3, 2:5] = 0.25, np.nan, 0.75
    assert np.isnan(skimage.measure.marching_cubes(volume, 0.5)[0]).any()
    with pytest.raises(ParameterError, match=r"1 NaN voxel\(s\) that marching cubes reads"):
        contours.marching_cubes(put(volume), 0.5)
    mask = np.ones(volume.shape, dtype=bool)
    mask[3:5, 3:5, 3:5] = False  # the cubes whose last corner is at (3, 3, 3) + (0 or 1) per axis
    expected = skimage.measure.marching_cubes(volume, 0.5, mask=mask)[0]
    found = contours.marching_cubes(put(volume), 0.5, mask=mask)[0]
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_marching_cubes_refuses_an_infinite_voxel_next_to_the_surface(device, emulated_cuda):
    # scikit-image gives the vertices around an infinite voxel next to the surface NaN normals:
    # refused, on the GPU too (its host copy); one the surface does not pass (the ball's centre)
    # gives scikit-image's finite mesh, on the input's device.
    import skimage.measure

    from gpuimg import contours

    put = emulated_cuda if device == "cuda" else np.asarray
    z, y, x = np.mgrid[0:12, 0:12, 0:12] - 5.5
    volume = (np.sqrt(x**2 + y**2 + z**2) <= 3.5).astype(np.float32)
    volume[6, 6, 9] = -np.inf  # outside the ball, next to its surface
    assert np.isnan(skimage.measure.marching_cubes(volume, 0.5)[2]).any()
    with pytest.raises(ParameterError, match=r"1 infinite voxel\(s\).*\(z, y, x\) = \(6, 6, 9\)"):
        contours.marching_cubes(put(volume), 0.5)
    volume[6, 6, 9], volume[6, 6, 6] = 0.0, np.inf
    expected = skimage.measure.marching_cubes(volume, 0.5)
    found = contours.marching_cubes(put(volume), 0.5)
    assert np.isfinite(expected[2]).all()
    for ours, theirs in zip(found, expected, strict=True):
        np.testing.assert_array_equal(to_numpy(ours), theirs)
