"""A newcomer's first mistakes get a message that says what to do, and its advice works.

A file name where an array goes, an extra axis of length 1 (a NIfTI's 4th axis), colour channels,
a 2D slice given to a 3D operation, and a mask read with nibabel, whose axes are (x, y, z): each is
refused with a GpuimgError naming the fix, and the fix gives the reference library's result.
Refused rather than squeezed or transposed, as scikit-image's 2D/3D functions refuse them.
"""

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage as ndi

import gpuimg
from gpuimg.edges import gradient_magnitude, sobel
from gpuimg.errors import FeatureError, GeometryError, ParameterError
from gpuimg.features import extract
from gpuimg.morphology import erode, label, otsu_threshold
from gpuimg.preprocess import bilateral_filter, crop_to_mask, equalize_hist, gaussian_filter, resample, zscore


@pytest.fixture
def ct(rng):
    return rng.normal(0.0, 100.0, (6, 7, 8)).astype(np.float32)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: sobel(x),
        lambda x: gradient_magnitude(x),
        lambda x: erode(x, radius=1),
        lambda x: equalize_hist(x),
        lambda x: bilateral_filter(x, 1.0, 50.0),
        lambda x: extract(x, x > 0, spacing=1.0),
    ],
)
def test_an_extra_axis_of_length_one_is_refused_with_the_squeeze_that_fixes_it(ct, call):
    """(1, z, y, x), as a NIfTI with a 4th axis of one time point reads: SciPy's sobel would take it
    as a 4D image and differentiate along that axis of one voxel instead of x."""
    with pytest.raises(
        gpuimg.GpuimgError,
        match=r"got 4D, shape \(1, 6, 7, 8\): drop the extra axis of "
        r"length 1 with np.squeeze\(image, axis=0\)",
    ):
        call(ct[np.newaxis])


def test_the_squeeze_advised_gives_scipys_result(ct):
    with pytest.raises(ParameterError, match=r"np.squeeze\(image, axis=0\)") as info:
        sobel(ct[np.newaxis])
    assert isinstance(info.value, ValueError)  # as SciPy / scikit-image users catch it
    # float32 differences of sums of 18 terms of about 100
    np.testing.assert_allclose(sobel(np.squeeze(ct[np.newaxis], axis=0)), ndi.sobel(ct, axis=-1), atol=1e-3)


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_channels_are_refused_saying_to_make_one_intensity(ct, channels):
    rgb = np.stack([ct] * channels, axis=-1)
    with pytest.raises(ParameterError, match=rf"holds {channels} colour channels, make one intensity first"):
        gradient_magnitude(rgb)
    with pytest.raises(FeatureError, match="colour channels"):
        extract(rgb, rgb > 0, spacing=1.0)


def test_a_2d_slice_given_to_a_3d_operation_is_told_to_add_an_axis(ct):
    with pytest.raises(
        ParameterError,
        match=r"the image must be 3D \(z, y, x\); got 2D, shape \(7, 8\): a 2D "
        r"image is one slice: pass image\[np.newaxis\]",
    ):
        bilateral_filter(ct[0], 1.0, 50.0)
    with pytest.raises(FeatureError, match=r"image\[np.newaxis\]"):
        extract(ct[0], ct[0] > 0, spacing=1.0)


def test_a_series_of_volumes_goes_one_at_a_time(ct):
    with pytest.raises(
        ParameterError, match=r"got 4D, shape \(2, 6, 7, 8\): a series of volumes .* image\[t\]"
    ):
        erode(np.stack([ct, ct]), radius=1)


@pytest.mark.parametrize("path", ["ct.nii.gz", "series/ct"])
def test_a_file_name_where_an_array_goes_says_how_to_read_it(path, tmp_path):
    """NumPy makes an array of one string of it, which was refused for its dtype (<U9) only, and in
    extract with the advice to take its .real or abs()."""
    for given in (path, tmp_path / path):
        with pytest.raises(
            ParameterError, match=r"is a file name .*; read it first: gpuimg.read_image\(path\)"
        ):
            gaussian_filter(given, 1.0)
        with pytest.raises(FeatureError, match=r"the image is a file name .*gpuimg.read_dicom\(folder\)"):
            extract(given, np.ones((2, 2, 2)), spacing=1.0)


def test_text_of_numbers_is_told_to_convert(ct):
    with pytest.raises(
        ParameterError, match=r"got dtype <U\d+; convert text of numbers with .astype\(float\)"
    ):
        gaussian_filter(ct.astype(str), 1.0)
    with pytest.raises(FeatureError, match=r"astype\(float\)"):
        extract(ct.astype(str), ct > 0, spacing=1.0)


def test_a_mask_read_with_nibabel_is_told_to_be_read_as_the_image(ct, tmp_path):
    """The classic mistake: the image read with gpuimg (z, y, x), the mask with nibabel (x, y, z).
    The advice (read it with gpuimg, or take mask.T) is checked against nibabel's reading."""
    mask = ct > 50.0
    image = gpuimg.Volume(ct, spacing=(2.0, 1.0, 0.5))
    gpuimg.write_image(
        gpuimg.Volume(mask.astype(np.uint8), spacing=(2.0, 1.0, 0.5)), tmp_path / "mask.nii.gz"
    )
    from_nibabel = np.asarray(nib.load(tmp_path / "mask.nii.gz").dataobj)
    assert from_nibabel.shape == (8, 7, 6)
    advice = (
        r"its axes are the image's in reverse order, \(x, y, z\) as nibabel's get_fdata\(\) gives a NIfTI's: "
        r"read the mask with gpuimg.read_image, as the image, or pass mask.T"
    )
    with pytest.raises(
        FeatureError, match=r"the mask's shape \(8, 7, 6\) differs from the image's \(6, 7, 8\); " + advice
    ):
        extract(image, from_nibabel)
    with pytest.raises(ParameterError, match=advice):
        zscore(ct, mask=from_nibabel)
    with pytest.raises(ParameterError, match=advice):
        otsu_threshold(ct, mask=from_nibabel)
    with pytest.raises(GeometryError, match=advice):
        crop_to_mask(ct, from_nibabel)
    np.testing.assert_array_equal(from_nibabel.T, mask)
    np.testing.assert_array_equal(gpuimg.to_numpy(gpuimg.read_image(tmp_path / "mask.nii.gz")), mask)


def test_a_mask_of_permuted_axes_is_told_so(ct):
    with pytest.raises(ParameterError, match=r"axes are the image's in another order: .* np.transpose"):
        zscore(ct, mask=np.moveaxis(ct > 0, 0, -1))
    with pytest.raises(ParameterError, match=r"resample it onto the image's grid first"):
        zscore(ct, mask=ct[:3] > 0)


def test_label_of_a_mask_with_an_extra_axis_advises_the_squeeze_that_gives_scipys_labels(ct):
    mask = ct[np.newaxis] > 50.0
    with pytest.raises(
        ParameterError, match=r"the mask must be 2D or 3D; got 4D, .*np.squeeze\(mask, axis=0\)"
    ):
        label(mask)
    expected, count = ndi.label(ct > 50.0)
    labels, found = label(np.squeeze(mask, axis=0), connectivity=6)
    assert found == count
    np.testing.assert_array_equal(labels, expected)  # both number components in raster order


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x: gaussian_filter(x, "2"), "sigma"),
        (lambda x: gaussian_filter(x, [1, "2", 3]), "sigma"),
        (lambda x: gaussian_filter(x, sigma_mm=2.0, spacing="1"), "spacing"),
        (lambda x: erode(x, radius="1"), "radius"),
        (lambda x: resample(x, "1", 2.0), "spacing"),
        (lambda x: sobel(x, spacing="0.7"), "spacing"),
    ],
)
def test_numbers_given_as_text_are_refused_as_scipy_refuses_them(ct, call, name):
    """A sigma, radius or spacing of text ("2", as read from a CSV or a command line) was converted
    and used; "2,1,1" was refused. SciPy's gaussian_filter refuses sigma="2" (TypeError)."""
    with pytest.raises(TypeError):
        ndi.gaussian_filter(ct, "2")
    with pytest.raises(ParameterError, match=rf"^{name}=.* must be"):
        call(ct)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x: gaussian_filter(x, x), "sigma"),  # a mask or image given where sigma goes
        (lambda x: resample(x, x, 1.0), "spacing"),
        (lambda x: erode(x, radius=x), "radius"),
        (lambda x: sobel(x, spacing=list(range(100))), "spacing"),
    ],
)
def test_an_image_given_for_a_number_is_shown_by_its_shape_not_its_numbers(ct, call, name):
    """The message held the array's repr: 3,600 characters of numbers for a 6 x 7 x 8 image."""
    with pytest.raises(
        ParameterError, match=rf"^{name}=(an array of shape \(6, 7, 8\)|a builtins.list of 100 items) "
    ):
        call(ct)
    with pytest.raises(ParameterError) as info:
        call(ct)
    assert len(str(info.value)) < 150
