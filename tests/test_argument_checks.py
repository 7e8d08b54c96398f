"""Arguments of the wrong kind get a ParameterError that names the parameter, not a TypeError from
deep inside (a dict lookup of an unhashable mode, a Numba typing error for a tuple cval) or an
allocation the size of a typo. Found by calling the public operations with random arguments."""

import numpy as np
import pytest

from gpuimg import ParameterError
from gpuimg._support import MAX_WINDOW
from gpuimg.edges import canny, gaussian_gradient_magnitude, gradient_magnitude, laplace, sobel
from gpuimg.morphology import dilate, footprint, multiotsu, opening
from gpuimg.preprocess import (
    gaussian_filter,
    laplacian_sharpen,
    match_histogram,
    mean_filter,
    median_filter,
    resample,
    rescale_intensity,
    unsharp_mask,
)

#: Every public operation that takes a boundary mode and cval.
STENCILS = {
    "gaussian_filter": lambda x, **k: gaussian_filter(x, 1.0, **k),
    "mean_filter": mean_filter,
    "median_filter": median_filter,
    "laplacian_sharpen": laplacian_sharpen,
    "unsharp_mask": lambda x, **k: unsharp_mask(x, 1.0, **k),
    "resample": lambda x, **k: resample(x, (1.0, 1.0, 1.0), (2.0, 2.0, 2.0), **k),
    "gradient_magnitude": gradient_magnitude,
    "sobel": sobel,
    "laplace": laplace,
    "gaussian_gradient_magnitude": lambda x, **k: gaussian_gradient_magnitude(x, 1.0, **k),
    "canny": lambda x, **k: canny(x, 1.0, **k),
    "dilate": lambda x, **k: dilate(x, "ball", 1, **k),
}


@pytest.mark.parametrize("name", sorted(STENCILS))
@pytest.mark.parametrize("mode", [["reflect"], np.array(["reflect"]), 3, None])
def test_a_mode_that_is_not_a_name(rng, name, mode):
    with pytest.raises(ParameterError, match=r"mode=.* is unknown; use one of \['constant'"):
        STENCILS[name](rng.random((6, 7, 8)), mode=mode)


@pytest.mark.parametrize("name", sorted(STENCILS))
@pytest.mark.parametrize("cval", ["0", None, (0, 0, 0), np.zeros(3), 1j])
def test_a_cval_that_is_not_one_real_number(rng, name, cval):
    with pytest.raises(ParameterError, match=r"cval=.* must be one real number"):
        STENCILS[name](rng.random((6, 7, 8)), mode="constant", cval=cval)


@pytest.mark.parametrize("cval", [-1024, np.float32(2.5), np.int16(7)])
def test_a_cval_of_any_real_type_fills_the_border(cval):
    """The border of a 3 x 3 x 3 mean of zeros in "constant" mode, against its closed form."""
    got = mean_filter(np.zeros((5, 5, 5)), 3, mode="constant", cval=cval)
    assert got[0, 0, 0] == pytest.approx(float(cval) * (27 - 8) / 27)
    assert got[2, 2, 2] == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: gradient_magnitude(x, ["sobel"]), r"operator=\['sobel'\] is unknown"),
        (lambda x: canny(x, method=["sobel"]), r"method=\['sobel'\] is unknown; use 'sobel'"),
        (
            lambda x: opening(x, ["ball"]),
            r"footprint must be one of \['ball', 'cube', 'cross'\] or a 3D array",
        ),
    ],
)
def test_a_choice_that_is_not_a_name(rng, call, message):
    with pytest.raises(ParameterError, match=message):
        call(rng.random((6, 7, 8)))


@pytest.mark.parametrize("radius", [60, 10**6])
def test_a_footprint_larger_than_a_filter_window_is_refused_before_it_is_built(radius):
    """(2 * 60 + 1)³ voxels is past the window limit; 10⁶ voxels would be 8 * 10¹⁸ bytes."""
    assert (2 * 60 + 1) ** 3 > MAX_WINDOW >= (2 * 50 + 1) ** 3
    with pytest.raises(ParameterError, match=rf"radius gives a window of {2 * radius + 1} x"):
        footprint("ball", radius)
    with pytest.raises(ParameterError, match="radius_mm gives a window"):
        dilate(np.zeros((4, 4, 4), bool), radius_mm=radius, spacing=1.0)
    assert footprint("ball", 50).shape == (101, 101, 101)


def test_an_empty_image_has_no_range_to_rescale():
    with pytest.raises(ParameterError, match=r"the image is empty \(shape \(0, 5, 5\)\)"):
        rescale_intensity(np.zeros((0, 5, 5)))


def test_an_image_of_nan_only_matches_any_histogram_as_nan(rng):
    got = match_histogram(np.full((3, 4, 5), np.nan), rng.random((4, 4, 4)))
    assert got.shape == (3, 4, 5) and np.isnan(got).all()


def test_multiotsu_of_fewer_values_than_classes(rng):
    with pytest.raises(ParameterError, match=r"classes=3: .*only 2 different values"):
        multiotsu((rng.random((6, 7)) > 0.5).astype(float), classes=3)
