"""gpuimg.morphology.threshold against scikit-image."""

import numpy as np
import pytest
import skimage.filters

import gpuimg
from gpuimg.morphology import multiotsu, otsu_threshold


def test_otsu_equals_scikit_image(rng):
    image = np.concatenate([rng.normal(-500, 80, 3000), rng.normal(40, 30, 2000)]).reshape(50, 100)
    for nbins in (256, 64):
        assert otsu_threshold(image, nbins) == skimage.filters.threshold_otsu(image, nbins=nbins)
    mask = rng.random(image.shape) > 0.3
    assert otsu_threshold(image, mask=mask) == skimage.filters.threshold_otsu(image[mask])


@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multiotsu_equals_scikit_image(rng, classes):
    image = np.concatenate([rng.normal(m, 20, 1500) for m in (-800, -100, 50, 400)])
    np.testing.assert_array_equal(
        multiotsu(image, classes), skimage.filters.threshold_multiotsu(image, classes=classes)
    )


def test_on_real_ct(ct_slice, ct_crop):
    crop, _ = ct_crop
    for image in (ct_slice, crop):
        assert otsu_threshold(image) == skimage.filters.threshold_otsu(image)
        np.testing.assert_array_equal(multiotsu(image, 3), skimage.filters.threshold_multiotsu(image, 3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: otsu_threshold(x, nbins=1), "nbins=1 must be"),
        (lambda x: otsu_threshold(x, mask=np.zeros(x.shape, bool)), "non-empty"),
        (lambda x: otsu_threshold(x, mask=np.ones((2, 2), bool)), "mask has shape (2, 2)"),
        (lambda x: multiotsu(x, classes=1), "classes=1 must be"),
        (lambda x: multiotsu(x, nbins=1), "nbins=1 must be"),
        (lambda x: multiotsu(x > 0.5, classes=3), "classes=3: After discretization into bins"),
        (lambda x: otsu_threshold(np.where(x > 0.5, np.nan, x)), "Otsu needs finite values"),
        (lambda x: multiotsu(np.where(x > 0.5, np.inf, x)), "Otsu needs finite values"),
    ],
)
def test_bad_input(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((6, 7)))
    assert message in str(caught.value)
