"""An image and its mask (or reference) on different devices, on the CUDA device (emulated without a
GPU): a GPU mask with a CPU image is a DeviceError naming it, where NumPy met CuPy's refusal of an
implicit copy (a bare TypeError); a CPU mask with a GPU image goes to the GPU, as the CPU result."""

import numpy as np
import pytest

from gpuimg import edges, ml, morphology, preprocess
from gpuimg.backend import to_numpy
from gpuimg.errors import DeviceError

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
