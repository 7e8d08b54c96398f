"""gpuimg.preprocess.geometry: the IBSI grid in closed form, values against SciPy and SimpleITK."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk

import gpuimg
from gpuimg.preprocess import crop_to_mask, ibsi_grid, resample, resample_mask

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def ct():
    """A 10 x 48 x 40 region of a real lung CT (int16 HU, 5 x 0.57 x 0.57 mm), as a Volume."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    volume = gpuimg.read_image(path)
    return gpuimg.Volume(
        volume.data[18:28, 200:248, 100:140].copy(),
        spacing=volume.spacing,
        origin=volume.origin,
        direction=volume.direction,
    )


def ibsi_coordinates(shape, spacing, new_spacing):
    """Old voxel indices of the new voxel centres, written out from IBSI 1 section 2.4 per axis."""
    axes = []
    for n_a, s_a, s_b in zip(shape, spacing, new_spacing, strict=True):
        n_b = math.ceil(round(n_a * s_a / s_b, 9))
        first_mm = (s_a * (n_a - 1) - s_b * (n_b - 1)) / 2
        axes.append((first_mm + s_b * np.arange(n_b)) / s_a)
    return np.meshgrid(*axes, indexing="ij")


def sitk_resample(image, spacing, new_spacing, interpolator):
    """SimpleITK's ResampleImageFilter onto the IBSI grid (ITK axes are x, y, z)."""
    source = sitk.GetImageFromArray(image.astype(np.float64))
    source.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    shape, offset, _ = ibsi_grid(image.shape, spacing, new_spacing)
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(n) for n in shape[::-1]])
    resampler.SetOutputSpacing(tuple(float(s) for s in new_spacing[::-1]))
    resampler.SetOutputOrigin(tuple(float(o * s) for o, s in zip(offset[::-1], spacing[::-1], strict=True)))
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(np.nan)
    return sitk.GetArrayFromImage(resampler.Execute(source))


def test_ibsi_grid_closed_form():
    """IBSI: 5 voxels of 2 mm to 3 mm gives ceil(10 / 3) = 4 voxels, centred: first at -0.5 mm."""
    shape, first, step = ibsi_grid((5,), (2.0,), (3.0,))
    assert shape == (4,) and step == (1.5,)
    assert first[0] * 2.0 == pytest.approx((2.0 * 4 - 3.0 * 3) / 2)
    shape, first, _ = ibsi_grid((48, 512, 512), (5.0, 0.5703125, 0.5703125), (1.0, 1.0, 1.0))
    assert shape == (240, 292, 292)
    # Centres align: the middle of both grids is the same point.
    for n_a, s_a, n_b, f in zip((48, 512), (5.0, 0.5703125), shape, first, strict=False):
        assert f * s_a + (n_b - 1) * 1.0 / 2 == pytest.approx((n_a - 1) * s_a / 2)
    assert ibsi_grid((10,), (0.3,), (0.1,))[0] == (30,)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_resample_equals_map_coordinates_on_the_ibsi_grid(rng, order):
    image = rng.normal(0, 100, (9, 14, 11))
    spacing = tuple(rng.uniform(0.5, 3.0, 3))
    new_spacing = tuple(rng.uniform(0.4, 3.5, 3))
    got = resample(image, spacing, new_spacing, order)
    coordinates = ibsi_coordinates(image.shape, spacing, new_spacing)
    want = ndi.map_coordinates(image, coordinates, order=order, mode="nearest")
    assert got.shape == want.shape and got.dtype == np.float64
    # Nearest neighbour is ambiguous where a new centre lies halfway between two old ones (the
    # middle of an even axis resampled to an odd one, on the IBSI grid): rounding picks either.
    decided = np.ones(got.shape, bool)
    if order == 0:
        for c in coordinates:
            decided &= np.abs(c - np.floor(c) - 0.5) > 1e-9
    np.testing.assert_allclose(got[decided], want[decided], rtol=0, atol=1e-9)


@pytest.mark.parametrize(("order", "interpolator"), [(1, sitk.sitkLinear), (0, sitk.sitkNearestNeighbor)])
def test_resample_equals_simpleitk(rng, order, interpolator):
    image = rng.normal(0, 100, (8, 12, 10)).astype(np.float32)
    spacing, new_spacing = (2.5, 0.8, 0.7), (1.1, 1.3, 0.45)
    got = resample(image, spacing, new_spacing, order)
    want = sitk_resample(image, spacing, new_spacing, interpolator)
    # ITK interpolates in float64 from float32 voxels; ours in float32: relative 1e-6 of 400.
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-4)


def test_cubic_resample_equals_simpleitk_bspline_in_mirror_mode(rng):
    """As the docstring says: SimpleITK's sitkBSpline takes its coefficients with mirror boundaries,
    which mode="mirror" gives; the default "nearest" differs near the faces, not in the interior."""
    image = rng.normal(0, 100, (24, 28, 26)).astype(np.float32)
    spacing, new_spacing = (2.5, 0.8, 0.7), (1.1, 1.3, 0.45)
    want = sitk_resample(image, spacing, new_spacing, sitk.sitkBSpline)
    # ITK interpolates in float64 from float32 voxels; ours in float32: relative 1e-6 of 400.
    np.testing.assert_allclose(
        resample(image, spacing, new_spacing, 3, mode="mirror"), want, rtol=0, atol=5e-4
    )
    nearest = resample(image, spacing, new_spacing, 3)
    assert np.abs(nearest - want).max() > 100  # noise of SD 100: the edges' coefficients differ
    # 10 old voxels or more from the faces (the prefilter's reach falls by 0.27 a voxel: 2e-6), the two
    # agree to float32 rounding.
    inner = tuple(slice(n // 2 - 2, n // 2 + 2) for n in want.shape)
    np.testing.assert_allclose(nearest[inner], want[inner], rtol=0, atol=5e-3)


def test_resample_real_ct_volume_equals_simpleitk_and_moves_the_origin(ct):
    new_spacing = (1.5, 1.0, 1.0)
    got = resample(ct, new_spacing=new_spacing)
    assert isinstance(got, gpuimg.Volume)
    assert got.spacing == new_spacing and got.direction.tolist() == ct.direction.tolist()
    shape, first, _ = ibsi_grid(ct.shape, ct.spacing, new_spacing)
    assert got.shape == shape == (34, 28, 23)
    # The new first centre in patient coordinates, and SimpleITK's own physical geometry.
    want_origin = np.asarray(ct.origin) + ct.direction @ (np.asarray(ct.spacing) * first)
    np.testing.assert_allclose(got.origin, want_origin, atol=1e-9)
    want = sitk_resample(ct.data, ct.spacing, new_spacing, sitk.sitkLinear)
    np.testing.assert_allclose(got.data, want, rtol=0, atol=2e-3)
    middle_old = np.asarray(ct.origin) + ct.direction @ (
        np.asarray(ct.spacing) * (np.array(ct.shape) - 1) / 2
    )
    middle_new = np.asarray(got.origin) + got.direction @ (
        np.asarray(new_spacing) * (np.array(shape) - 1) / 2
    )
    np.testing.assert_allclose(middle_new, middle_old, atol=1e-9)


def test_resample_volume_gets_the_spacing_asked_for():
    """The resampled Volume's spacing is new_spacing as given (regression: it was spacing * (new /
    spacing), 0.7 * (1.5 / 0.7) = 1.4999999999999998 mm, and 0.6 * (0.7 / 0.6) = 0.7000000000000001);
    the values are SimpleITK's on the IBSI grid."""
    image = np.arange(4 * 9 * 11, dtype=np.float32).reshape(4, 9, 11)
    volume = gpuimg.Volume(image, spacing=(0.488, 0.7, 0.6), origin=(-3.0, 4.0, 10.0))
    new_spacing = (1.0, 1.5, 0.7)
    got = resample(volume, new_spacing=new_spacing)
    assert got.spacing == new_spacing
    want = sitk_resample(image, volume.spacing, new_spacing, sitk.sitkLinear)
    np.testing.assert_allclose(got.data, want, rtol=0, atol=1e-4)  # float32 of values up to 435


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize(
    ("n", "spacing", "new_spacing"),
    [(4, "5.0", "1.0"), (10, "0.4", "0.3"), (7, "2.5", "0.5"), (9, "0.7", "0.35"), (6, "3.0", "1.5")],
)
def test_resample_constant_mode_keeps_new_centres_on_the_old_outer_ones(
    n, spacing, new_spacing, device, request
):
    """mode="constant" gives cval only past the outer old centres (SciPy's rule), not to a new centre
    that lies on one. Regression: 5 mm to 1 mm put new slice 2 at -0.4 + 2 * 0.2 = -5.6e-17 and gave it
    cval: 3 of 20 slices at the start. Positions in exact fractions; linear interpolation of a ramp
    (value = 10 x old index) is 10 x the position."""
    from fractions import Fraction

    s_a, s_b = Fraction(spacing), Fraction(new_spacing)
    n_b = math.ceil(n * s_a / s_b)
    positions = [((n - 1) - (n_b - 1) * s_b / s_a) / 2 + j * s_b / s_a for j in range(n_b)]
    want = np.array([10.0 * float(p) if 0 <= p <= n - 1 else -1024.0 for p in positions])
    ramp = np.broadcast_to(10.0 * np.arange(n)[:, None, None], (n, 2, 3)).copy()
    if device == "cuda":
        ramp = request.getfixturevalue("emulated_cuda")(ramp)
    got = resample(ramp, (float(s_a), 1.0, 1.0), (float(s_b), 1.0, 1.0), mode="constant", cval=-1024.0)
    np.testing.assert_allclose(gpuimg.to_numpy(got)[:, 0, 0], want, rtol=0, atol=1e-6)


def test_resample_of_a_volume_given_its_own_spacing_again():
    """As every operation taking a Volume (accepts_volume): its own spacing given again is accepted
    (regression: 'a Volume brings its own spacing' even when equal); the result is the array's."""
    image = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    volume = gpuimg.Volume(image, spacing=(2.5, 0.7, 0.7))
    got = resample(volume, (2.5, 0.7, 0.7), (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(got.data, resample(image, (2.5, 0.7, 0.7), (1.0, 1.0, 1.0)))
    want = sitk_resample(image, volume.spacing, (1.0, 1.0, 1.0), sitk.sitkLinear)
    np.testing.assert_allclose(got.data, want, rtol=0, atol=1e-4)
    mask = resample_mask(gpuimg.Volume(image > 60, spacing=volume.spacing), volume.spacing, 1.0)
    assert mask.spacing == (1.0, 1.0, 1.0)


def test_resample_int16_hu_without_overflow():
    image = np.full((4, 4, 4), -1024, np.int16)
    image[:, :, 2:] = 3071
    got = resample(image, (1.0, 1.0, 1.0), (1.0, 1.0, 0.5))
    assert got.dtype == np.float32 and got.min() == -1024 and got.max() == 3071
    assert np.all(np.diff(got[0, 0]) >= 0)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_resample_of_an_image_without_voxels(device, request):
    """An axis of length 0 stays of length 0, n_b = ceil(0 * s_a / s_b) (regression: it got one voxel,
    and the new grid was filled with whatever memory SciPy read past the empty input)."""
    image = np.zeros((0, 5, 6), np.int16)
    if device == "cuda":
        image = request.getfixturevalue("emulated_cuda")(image)
    got = resample(image, (1.0, 1.0, 1.0), (0.5, 1.5, 0.7))
    assert got.shape == (0, math.ceil(5 / 1.5), math.ceil(6 / 0.7)) and got.dtype == np.float32
    assert gpuimg.backend.namespace(got).device == device
    mask = resample_mask(image.astype(bool), (1.0, 1.0, 1.0), (0.5, 1.5, 0.7))
    assert mask.shape == got.shape and mask.dtype == bool


def test_resample_mask_is_linear_then_thresholded(rng):
    mask = ndi.binary_dilation(rng.random((10, 12, 14)) > 0.97, iterations=2)
    spacing, new_spacing = (2.0, 1.0, 0.8), (1.0, 1.2, 1.0)
    # A threshold of any NumPy number type (np.int64(1) was refused as not a number).
    for threshold in (0.5, 0.2, np.float32(0.35), np.int64(1)):
        got = resample_mask(mask, spacing, new_spacing, threshold)
        fraction = ndi.map_coordinates(
            mask.astype(np.float64),
            ibsi_coordinates(mask.shape, spacing, new_spacing),
            order=1,
            mode="nearest",
        )
        assert got.dtype == bool
        decided = np.abs(fraction - threshold) > 1e-6  # float32 vs float64 at the threshold
        np.testing.assert_array_equal(got[decided], fraction[decided] >= threshold)
    volume = gpuimg.Volume(mask, spacing=spacing, origin=(5.0, 6.0, 7.0))
    result = resample_mask(volume, new_spacing=new_spacing)
    assert isinstance(result, gpuimg.Volume) and result.spacing == new_spacing
    as_float = gpuimg.Volume(mask.astype(np.float32), spacing=spacing, origin=(5.0, 6.0, 7.0))
    assert result.origin == resample(as_float, new_spacing=new_spacing).origin


@pytest.mark.parametrize(
    "values", [(0, 255), (0, 1, 2), (0.0, 0.3, np.nan)], ids=["0-255", "labels", "float-with-nan"]
)
def test_resample_mask_of_any_values_resamples_its_non_zero_voxels(rng, values):
    """Non-zero voxels are the ROI, as for every mask (NaN is not). Regression: the values were
    interpolated as fractions, so a 0/255 mask reached 0.5 at 1/510 of the way out: 512 voxels for
    the 0/1 mask's 216 (8 mm cube, 2 mm to 1.3 mm)."""
    drawn = rng.choice(np.array(values), size=(10, 12, 14))
    inside = (drawn != 0) & ~np.isnan(drawn.astype(float))
    spacing, new_spacing = (2.0, 1.0, 0.8), (1.3, 1.2, 1.0)
    coordinates = ibsi_coordinates(inside.shape, spacing, new_spacing)
    fraction = ndi.map_coordinates(inside.astype(np.float64), coordinates, order=1, mode="nearest")
    got = resample_mask(drawn.astype(np.uint8) if values == (0, 255) else drawn, spacing, new_spacing)
    decided = np.abs(fraction - 0.5) > 1e-6  # float32 vs float64 at the threshold
    np.testing.assert_array_equal(got[decided], fraction[decided] >= 0.5)


def test_crop_to_mask_with_margin_and_origin(rng, ct):
    mask = np.zeros(ct.shape, bool)
    mask[3:6, 20:30, 10:15] = True
    cropped = crop_to_mask(ct, mask, margin_mm=6.0)
    # 6 mm is 2 slices of 5 mm (rounded up) and 11 voxels of 0.57 mm.
    expected = ct.data[1:8, 9:41, 0:26]
    np.testing.assert_array_equal(cropped.data, expected)
    want_origin = np.asarray(ct.origin) + ct.direction @ (np.asarray(ct.spacing) * np.array([1, 9, 0]))
    np.testing.assert_allclose(cropped.origin, want_origin, atol=1e-9)
    assert cropped.spacing == ct.spacing
    plain = crop_to_mask(ct.data, mask, margin=(1, 0, 2))
    np.testing.assert_array_equal(plain, ct.data[2:7, 20:30, 8:17])
    # The unit rule: margin is voxels for a Volume as for its array.
    np.testing.assert_array_equal(crop_to_mask(ct, mask, (1, 0, 2)).data, plain)
    with pytest.raises(gpuimg.ParameterError, match=r"margin_mm=6\.0 needs the voxel spacing"):
        crop_to_mask(ct.data, mask, margin_mm=6.0)
    # Regression: a spacing given besides the Volume's own was used: 6 mm as 6 voxels on every axis.
    with pytest.raises(gpuimg.ParameterError, match=r"crop_to_mask: a Volume brings its own spacing"):
        crop_to_mask(ct, mask, margin_mm=6.0, spacing=(1.0, 1.0, 1.0))
    np.testing.assert_array_equal(crop_to_mask(ct, mask, margin_mm=6.0, spacing=ct.spacing).data, expected)
    np.testing.assert_array_equal(crop_to_mask(mask, mask), np.ones((3, 10, 5), bool))


def test_crop_to_a_mask_volume_on_another_grid_is_refused(rng, ct):
    """Regression: a mask Volume 3 slices (15 mm) off was cropped to as if on the image's grid."""
    mask = np.zeros(ct.shape, bool)
    mask[3:6, 20:30, 10:15] = True
    moved = np.asarray(ct.origin) + ct.direction @ (np.asarray(ct.spacing) * [3, 0, 0])
    shifted = gpuimg.Volume(mask, spacing=ct.spacing, origin=moved, direction=ct.direction)
    with pytest.raises(gpuimg.GeometryError, match=r"crop_to_mask: the mask Volume lies on another"):
        crop_to_mask(ct, shifted)
    same = gpuimg.Volume(mask, spacing=ct.spacing, origin=ct.origin, direction=ct.direction)
    np.testing.assert_array_equal(crop_to_mask(ct, same).data, ct.data[3:6, 20:30, 10:15])


def test_dask_input(rng):
    da = pytest.importorskip("dask.array")
    image = rng.normal(0, 10, (13, 11, 9))
    lazy = da.from_array(image, chunks=(4, 5, 9))
    got = resample(lazy, (2.0, 1.0, 1.0), (1.0, 0.7, 1.4))
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), resample(image, (2.0, 1.0, 1.0), (1.0, 0.7, 1.4)))
    mask = np.zeros(image.shape, bool)
    mask[4:7, 2:3, 5:8] = True
    cropped = crop_to_mask(lazy, da.from_array(mask, chunks=5), 1.0)
    assert isinstance(cropped, da.Array)
    np.testing.assert_array_equal(cropped.compute(), image[3:8, 1:4, 4:9])


def test_nan_spreads_to_the_voxels_that_read_it():
    image = np.zeros((5, 5, 5))
    image[2, 2, 2] = np.nan
    got = resample(image, 1.0, (1.0, 1.0, 0.5))
    want = ndi.map_coordinates(
        image, ibsi_coordinates(image.shape, (1.0,) * 3, (1.0, 1.0, 0.5)), order=1, mode="nearest"
    )
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert 1 <= np.isnan(got).sum() < got.size


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_one_non_finite_voxel_makes_a_cubic_resampling_all_nan(value):
    """As the docstring says: SciPy's spline prefilter (order 3) spreads it along every line."""
    image = np.zeros((5, 6, 7))
    image[2, 2, 3] = value
    got = resample(image, 1.0, (1.0, 0.5, 1.3), order=3)
    want = ndi.map_coordinates(
        image, ibsi_coordinates(image.shape, (1.0,) * 3, (1.0, 0.5, 1.3)), order=3, mode="nearest"
    )
    assert np.isnan(want).all() and np.isnan(got).all()


def test_lists_are_arrays_and_file_names_are_told_to_be_read(rng):
    """As every operation taking an image reads it (_arrays.as_image): a nested list is an array, a
    file name is a ParameterError saying how to read it. resample and crop_to_mask asked a list or a
    file name for its .shape (a bare AttributeError), and crop_to_mask its mask too."""
    image = rng.normal(0, 100, (4, 5, 6))
    want = sitk_resample(image, (2.0, 1.0, 1.0), (1.0, 0.7, 1.3), sitk.sitkLinear)
    np.testing.assert_allclose(resample(image.tolist(), (2.0, 1.0, 1.0), (1.0, 0.7, 1.3)), want, atol=1e-9)
    mask = np.zeros(image.shape, bool)
    mask[1:3, 2, 1:4] = True
    np.testing.assert_array_equal(crop_to_mask(image.tolist(), mask.tolist()), image[1:3, 2:3, 1:4])
    for call in (
        lambda: resample("ct.nii.gz", 1.0, 2.0),
        lambda: crop_to_mask("ct.nii.gz", mask),
        lambda: crop_to_mask(image, "mask.nii.gz"),
    ):
        with pytest.raises(gpuimg.ParameterError, match=r"is a file name .* gpuimg.read_image"):
            call()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda x: resample(x, (1.0, 1.0), (1.0, 1.0, 1.0)),
            gpuimg.ParameterError,
            "spacing=(1.0, 1.0) must be",
        ),
        (lambda x: resample(x, 1.0, (1.0, -1.0, 1.0)), gpuimg.ParameterError, "new_spacing=(1.0, -1.0, 1.0)"),
        (lambda x: resample(x, 1.0, None), gpuimg.ParameterError, "needs spacing and new_spacing"),
        (lambda x: resample(x, 1.0, 2.0, order=2), gpuimg.ParameterError, "order=2 is not supported"),
        # An order of float type reached SciPy, whose spline code raised a bare TypeError.
        (lambda x: resample(x, 1.0, 2.0, order=1.0), gpuimg.ParameterError, "order=1.0 is not supported"),
        # ibsi_grid (public) divided by a spacing of 0 (bare ZeroDivisionError), and made a grid of one
        # voxel of a negative spacing and of a shape of 4.5 voxels.
        (
            lambda x: ibsi_grid(x.shape, (1.0, 0.0, 1.0), (1.0, 1.0, 1.0)),
            gpuimg.ParameterError,
            "spacing=(1.0, 0.0, 1.0)",
        ),
        (
            lambda x: ibsi_grid(x.shape, (1.0, 1.0, 1.0), (1.0, -2.0, 1.0)),
            gpuimg.ParameterError,
            "new_spacing=(1.0, -2.0, 1.0) must be",
        ),
        (
            lambda x: ibsi_grid((4.5, 5, 6), (1.0, 1.0, 1.0), (2.0, 2.0, 2.0)),
            gpuimg.ParameterError,
            "shape=(4.5, 5, 6) must be whole",
        ),
        (lambda x: resample(x, 1.0, 2.0, mode="edge"), gpuimg.ParameterError, "mode='edge'"),
        (
            lambda x: resample(gpuimg.Volume(x), 2.0, 1.0),
            gpuimg.ParameterError,
            "brings its own spacing, (1.0, 1.0, 1.0) mm, and spacing=2.0 differs",
        ),
        (lambda x: resample_mask(x > 0.5, 1.0, 2.0, threshold=0), gpuimg.ParameterError, "threshold=0"),
        # True passed as the number 1 (a flag given for the threshold, kept voxels wholly inside).
        (lambda x: resample_mask(x > 0.5, 1.0, 2.0, threshold=True), gpuimg.ParameterError, "threshold=True"),
        (lambda x: crop_to_mask(x, x[:2] > 0), gpuimg.GeometryError, "differs from the image's"),
        (lambda x: crop_to_mask(x, x > 2), gpuimg.ParameterError, "the mask is empty"),
        (lambda x: crop_to_mask(x, x > 0.5, -1.0), gpuimg.ParameterError, "margin=-1.0"),
    ],
)
def test_bad_input_raises(rng, call, error, message):
    with pytest.raises(error) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)


@pytest.mark.gpu
def test_cupy_input_stays_on_the_gpu(rng):
    import cupy

    image = rng.normal(0, 100, (20, 30, 25)).astype(np.float32)
    got = resample(cupy.asarray(image), (2.0, 1.0, 1.0), (1.0, 0.8, 1.3), 3)
    assert isinstance(got, cupy.ndarray)
    want = resample(image, (2.0, 1.0, 1.0), (1.0, 0.8, 1.3), 3)
    np.testing.assert_allclose(got.get(), want, rtol=0, atol=1e-3)


def test_dask_arrays_of_unknown_chunk_sizes_are_a_parameter_error():
    """Boolean indexing by a Dask array leaves chunk sizes unknown (NaN): resample ended in
    ValueError 'cannot convert float NaN to integer', crop_to_mask in Dask's ValueError."""
    da = pytest.importorskip("dask.array")
    from gpuimg.errors import ParameterError

    image = da.ones((8, 6, 6), chunks=3)[da.from_array(np.ones(8, bool), chunks=3)]
    assert np.isnan(image.shape[0])
    with pytest.raises(ParameterError, match=r"the image .*unknown chunk sizes.*compute_chunk_sizes"):
        resample(image, 1.0, 2.0)
    with pytest.raises(ParameterError, match=r"the image .*unknown chunk sizes.*compute_chunk_sizes"):
        crop_to_mask(image, image > 0)
    known = image.compute_chunk_sizes()  # what the message asks for: then it resamples
    np.testing.assert_array_equal(resample(known, 1.0, 2.0).compute(), np.ones((4, 3, 3), np.float32))


# --- meta per slice (read_dicom's files and missing slices) through a new grid --------------------------


@pytest.fixture
def dicom_series(tmp_path, rng):
    """A 12-slice oblique CT series written to DICOM: (files, read_dicom's Volume of it)."""
    row, col = np.array([0.8, 0.6, 0.0]), np.array([0.0, 0.0, -1.0])  # a coronal-oblique stack
    direction = np.column_stack([np.cross(row, col), col, row])
    data = rng.integers(-1000, 1000, (12, 10, 9)).astype(np.int16)
    volume = gpuimg.Volume(data, (2.5, 0.7, 0.8), (-40.0, 12.0, 30.0), direction, {"modality": "CT"})
    files = gpuimg.io.write_dicom(volume, tmp_path / "series")
    return files, gpuimg.read_dicom(tmp_path / "series", device="cpu")


def positions_of(files):
    """ImagePositionPatient of each file [mm, LPS], read by pydicom."""
    import pydicom

    return np.array([[float(v) for v in pydicom.dcmread(f).ImagePositionPatient] for f in files])


def slice_centres(volume):
    """LPS position of the centre of voxel (k, 0, 0) of each slice k [mm]."""
    return np.array([volume.affine @ [k, 0, 0, 1] for k in range(volume.shape[0])])[:, :3]


def files_at(files, points):
    """The file whose ImagePositionPatient lies at each point (pydicom's reading; 1e-3 mm)."""
    found = positions_of(files)
    out = []
    for point in points:
        hits = [f for f, p in zip(files, found, strict=True) if np.allclose(p, point, atol=1e-3)]
        assert len(hits) == 1, (point, hits)
        out.append(str(hits[0]))
    return out


def test_crop_keeps_the_files_of_the_kept_slices(dicom_series):
    """Cropped to slices 4 to 8, meta["files"] holds those slices' files, as read_dicom gives them for
    those files alone, and each lies where pydicom places it (it held the whole series' 12 files)."""
    files, ct = dicom_series
    mask = np.zeros(ct.shape, bool)
    mask[4:9, 2:5, 3:7] = True
    cropped = crop_to_mask(ct, mask)
    expected = files_at(files, slice_centres(ct)[4:9])
    alone = gpuimg.read_dicom(expected, device="cpu")
    assert cropped.meta["files"] == alone.meta["files"] == expected
    np.testing.assert_array_equal(cropped.data, alone.data[:, 2:5, 3:7])
    np.testing.assert_allclose(positions_of(cropped.meta["files"]), slice_centres(alone), atol=1e-3)
    assert cropped.meta["missing_slices"] == [] and cropped.meta["series_uid"] == ct.meta["series_uid"]


def test_crop_across_a_gap_keeps_the_files_and_moves_the_missing_slice(dicom_series):
    """A series read with slice 6 missing, cropped to slices 4 to 8: the missing slice is new slice 2,
    and the 4 files are those of old slices 4, 5, 7 and 8, each at its slice's place (pydicom)."""
    files, ct = dicom_series
    centres = slice_centres(ct)
    gone = files_at(files, centres[6:7])[0]
    Path(gone).unlink()
    with pytest.warns(UserWarning, match="1 missing"):
        gappy = gpuimg.read_dicom(Path(gone).parent, device="cpu", allow_gaps=True)
    mask = np.zeros(gappy.shape, bool)
    mask[4:9] = True
    cropped = crop_to_mask(gappy, mask)
    assert cropped.meta["missing_slices"] == [2]
    assert cropped.meta["files"] == files_at([f for f in files if f.exists()], centres[[4, 5, 7, 8]])


def test_resampling_along_z_drops_the_files(dicom_series):
    """2.5 mm slices resampled to 1 mm: no new slice is an old one, so no file is its."""
    _, ct = dicom_series
    iso = resample(ct, new_spacing=1.0)
    assert "files" not in iso.meta and "missing_slices" not in iso.meta
    assert iso.meta["series_uid"] == ct.meta["series_uid"] and iso.meta["modality"] == "CT"
    mask = dataclasses.replace(ct, data=np.ones(ct.shape, bool))
    assert "files" not in resample_mask(mask, new_spacing=(2.0, 0.7, 0.8)).meta


@pytest.mark.parametrize(
    ("n", "new_spacing", "kept"),
    [
        (12, (2.5, 1.0, 1.0), list(range(12))),  # in-plane only: every slice stays
        (11, (5.0, 0.7, 0.8), [0, 2, 4, 6, 8, 10]),  # every other slice: the IBSI grid lies on them
        (12, (5.0, 0.7, 0.8), None),  # 12 slices: the 6 new centres lie halfway between old ones
    ],
)
def test_resampling_keeps_the_files_where_new_slices_lie_on_old_ones(dicom_series, n, new_spacing, kept):
    """Each new slice's file is the one pydicom places at the new slice's centre (along the normal)."""
    files, ct = dicom_series
    first_n = np.zeros(ct.shape, bool)
    first_n[:n] = True
    ct = crop_to_mask(ct, first_n)
    new = resample(ct, new_spacing=new_spacing)
    if kept is None:
        assert "files" not in new.meta
        return
    normal = new.direction[:, 0]
    on_normal = positions_of(new.meta["files"]) @ normal
    np.testing.assert_allclose(on_normal, slice_centres(new) @ normal, atol=1e-3)
    assert new.meta["files"] == files_at(files, slice_centres(ct)[kept])


def sitk_image(volume):
    """A Volume as a SimpleITK image with its physical geometry (ITK axes x, y, z; direction columns
    reversed to match)."""
    image = sitk.GetImageFromArray(np.asarray(volume.data, np.float64))
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction)[:, ::-1].ravel()))
    return image


@pytest.mark.parametrize(
    "direction",
    [
        np.column_stack([[0.0, 0, -1], [0, -1, 0], [1, 0, 0]]),  # flipped z and y, determinant -1
        np.column_stack(  # oblique: rows along (0.8, 0.6, 0), columns along -z, slices along their cross
            [np.cross([0.8, 0.6, 0.0], [0, 0, -1.0]), [0, 0, -1.0], [0.8, 0.6, 0.0]]
        ),
    ],
    ids=["flipped", "oblique"],
)
@pytest.mark.parametrize(
    ("order", "mode", "interpolator"), [(1, "nearest", sitk.sitkLinear), (3, "mirror", sitk.sitkBSpline)]
)
def test_resampled_volume_equals_simpleitk_in_patient_coordinates(rng, direction, order, mode, interpolator):
    """The resampled Volume's voxels, read at their patient positions (its origin, spacing and
    direction), equal SimpleITK's ResampleImageFilter of the source image with its own anisotropic
    spacing, shifted origin and non-identity direction onto that same physical grid; direction and
    meta carried over."""
    volume = gpuimg.Volume(
        rng.normal(0, 100, (7, 11, 9)).astype(np.float32),
        spacing=(3.3, 0.7, 1.1),
        origin=(-120.5, 33.0, 71.25),
        direction=direction,
        meta={"modality": "CT", "windows": [{"center": 40.0, "width": 400.0, "name": ""}]},
    )
    got = resample(volume, new_spacing=(1.2, 1.6, 0.9), order=order, mode=mode)
    assert got.spacing == (1.2, 1.6, 0.9) and got.meta == volume.meta
    np.testing.assert_array_equal(got.direction, volume.direction)
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(n) for n in got.shape[::-1]])
    resampler.SetOutputSpacing(tuple(float(s) for s in got.spacing[::-1]))
    resampler.SetOutputOrigin(tuple(float(o) for o in got.origin))
    resampler.SetOutputDirection(tuple(float(v) for v in np.asarray(got.direction)[:, ::-1].ravel()))
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(np.nan)  # a grid off the image would show as NaN
    want = sitk.GetArrayFromImage(resampler.Execute(sitk_image(volume)))
    assert np.isfinite(want).all()
    # float32 voxels and interpolation weights against SimpleITK's float64: ~1e-5 of values ~300.
    np.testing.assert_allclose(got.data, want, rtol=0, atol=1e-3)
