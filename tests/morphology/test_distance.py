"""gpuimg.morphology.distance_transform against scipy.ndimage.distance_transform_edt."""

import numpy as np
import pytest
import scipy.ndimage as ndi

import gpuimg
from gpuimg.morphology import distance_transform


def test_equals_scipy_with_sampling(rng, ct_crop):
    mask = rng.random((12, 14, 16)) > 0.2
    spacing = (2.5, 0.7, 0.7)
    np.testing.assert_array_equal(
        distance_transform(mask, spacing=spacing), ndi.distance_transform_edt(mask, sampling=spacing)
    )
    crop, crop_spacing = ct_crop
    body = crop > -400
    np.testing.assert_array_equal(
        distance_transform(body, spacing=crop_spacing),
        ndi.distance_transform_edt(body, sampling=crop_spacing),
    )


def test_closed_form_and_volume():
    mask = np.ones((5, 5, 9), bool)
    mask[:, :, 0] = False
    volume = gpuimg.Volume(mask, spacing=(1.0, 1.0, 0.5))
    got = distance_transform(volume)
    np.testing.assert_allclose(got.data[2, 2], np.arange(9) * 0.5)  # distance to the x = 0 plane


@pytest.mark.parametrize("shape", [(5,), (3, 4), (4, 5, 6)])
def test_a_mask_without_background_is_infinitely_far_from_it(shape):
    # The distance to the nearest background voxel, a minimum over no voxel, is inf. SciPy measures
    # to a voxel before the first along each axis: 1, 2, ... 5 along an all-True (5,) mask, an
    # asymmetric answer for a symmetric mask, which this returned too.
    mask = np.ones(shape, bool)
    scipy_says = ndi.distance_transform_edt(mask)
    assert np.isfinite(scipy_says).all() and scipy_says.flat[0] != scipy_says.flat[-1]
    got = distance_transform(mask, spacing=0.5)
    assert got.dtype == np.float64 and got.shape == shape and np.isposinf(got).all()
    # one background voxel makes every distance finite again, SciPy's
    mask.flat[-1] = False
    np.testing.assert_array_equal(distance_transform(mask), ndi.distance_transform_edt(mask))


def test_a_mask_without_background_on_the_device(emulated_cuda):
    got = distance_transform(emulated_cuda(np.ones((3, 4, 5), bool)), spacing=(2.0, 1.0, 1.0))
    assert not isinstance(got, np.ndarray) and np.isposinf(gpuimg.to_numpy(got)).all()


def test_nan_voxels_of_a_float_mask_are_background(rng):
    """NaN voxels of a float mask are no part of it (gpuimg's rule for masks); NaN != 0 counted them in."""
    mask = np.where(rng.random((6, 7, 8)) > 0.3, 1.0, 0.0)
    mask[rng.random(mask.shape) > 0.8] = np.nan
    want = ndi.distance_transform_edt((mask != 0) & ~np.isnan(mask), sampling=(2.0, 1.0, 0.5))
    np.testing.assert_array_equal(distance_transform(mask, spacing=(2.0, 1.0, 0.5)), want)


def test_bad_input(rng):
    with pytest.raises(gpuimg.ParameterError, match="one per axis"):
        distance_transform(rng.random((4, 4, 4)) > 0.5, spacing=(1.0, 2.0))
