"""gpuimg.edges.canny: equal to scikit-image's in 2D; against SimpleITK and a sphere in 3D."""

from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.feature
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuimg
from gpuimg.edges import canny

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def square(rng, dtype=np.float64):
    image = np.zeros((48, 52))
    image[12:-12, 15:-10] = 1
    return (image + 0.3 * rng.random(image.shape)).astype(dtype)


def near(a, b):
    """Fraction of the voxels of ``a`` within one voxel (26-neighbourhood) of a voxel of ``b``."""
    grown = ndi.binary_dilation(b, np.ones((3,) * b.ndim, bool))
    return (a & grown).sum() / a.sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"low_threshold": 0.05, "high_threshold": 0.3},
        {"low_threshold": 0.2, "high_threshold": 0.8, "use_quantiles": True},
        {"mode": "reflect"},
        {"mode": "nearest", "low_threshold": 0.0},
    ],
)
def test_2d_equals_scikit_image_exactly(rng, dtype, options):
    image = square(rng, dtype)
    sigma = float(rng.uniform(0.8, 2.0))
    want = skimage.feature.canny(image, sigma, **options)
    assert want.sum() > 50
    np.testing.assert_array_equal(canny(image, sigma, **options), want)


def test_2d_with_a_mask_equals_scikit_image(rng):
    image = square(rng)
    mask = rng.random(image.shape) > 0.1
    np.testing.assert_array_equal(canny(image, mask=mask), skimage.feature.canny(image, mask=mask))


def test_2d_real_ct_slice_equals_scikit_image():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array.astype(np.int16)
    for low, high in ((None, None), (20.0, 60.0), (100.0, 300.0)):
        want = skimage.feature.canny(ct, 1.5, low, high)
        assert want.sum() > 0 or low is None
        np.testing.assert_array_equal(canny(ct, 1.5, low, high), want)


def ball(n=32, radius=10.0, noise=0.0, rng=None):
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    r = np.sqrt(z**2 + y**2 + x**2)
    image = (r < radius) * 100.0
    if noise:
        image = image + rng.normal(0, noise, image.shape)
    return image, r


def test_3d_sphere_edges_lie_within_a_voxel_of_its_radius():
    image, r = ball()
    edges = canny(image, 1.0, 32 * 5.0, 32 * 15.0)
    assert edges.sum() > 4 * np.pi * 10**2 * 0.8  # the whole surface, about one voxel thick
    # Within a voxel of the radius; the sampled ball's surface is itself jagged, so a few voxels
    # where the step falls between diagonal neighbours sit up to 1.02 voxel inside.
    distance = np.abs(r[edges] - 10.0)
    assert np.mean(distance <= 1.0) >= 0.97
    assert distance.max() <= 1.05


def _sitk_canny(image, sigma_mm, low, high, spacing):
    """SimpleITK's CannyEdgeDetection with variance sigma_mm² [mm², its Gaussian uses the spacing]
    and its default maximum error 0.01."""
    sitk = pytest.importorskip("SimpleITK")
    itk_image = sitk.GetImageFromArray(image)
    itk_image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    edges = sitk.CannyEdgeDetection(itk_image, low, high, [sigma_mm**2] * 3, [0.01] * 3)
    return sitk.GetArrayFromImage(edges).astype(bool)


def _like_sitk(image, sigma_mm, low, high, spacing):
    """Ours with ITK's parameters: ITK smooths in mm but differentiates in voxel units (central
    differences, whatever the spacing), so sigma goes in voxels (sigma_mm / spacing) and no spacing;
    the 3D Sobel magnitude is 32 times the central-difference one on a linear ramp; ITK's
    zero-flux boundary is "nearest"."""
    return canny(image, tuple(sigma_mm / s for s in spacing), 32 * low, 32 * high, mode="nearest")


def _interior(shape):
    """Our edges never touch the volume's border; ITK's may (zero-flux boundary)."""
    inside = np.zeros(shape, bool)
    inside[(slice(1, -1),) * len(shape)] = True
    return inside


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0)])
@pytest.mark.parametrize("scene", ["ball", "blobs"])
def test_3d_agrees_with_simpleitk_within_a_voxel(rng, spacing, scene):
    """With ITK's parameters mapped as in ``_like_sitk``, >= 99 % of each side's edge voxels lie
    within one voxel of the other's on these high-contrast scenes (ITK's zero-crossing suppression
    gives thinner edges; ties, kept by ``<=`` here, and hysteresis links at junctions differ).
    Measured over 40 seeds: ours near ITK's 99.9 % at least; ITK's interior edges near ours
    99.97 % median, 99.1 % lowest, so 98.5 % is asserted there."""
    if scene == "ball":
        image, _ = ball(40, 12.0, 5.0, rng)
    else:
        field = ndi.gaussian_filter(rng.normal(0, 1, (40, 40, 40)), 3.0)
        image = (field > 0) * 100.0 + rng.normal(0, 5.0, field.shape)
    low, high = 5.0, 12.0
    ours = _like_sitk(image, 1.5, low, high, spacing)
    theirs = _sitk_canny(image, 1.5, low, high, spacing)
    assert theirs.sum() > 1000
    assert near(ours, theirs) >= 0.99
    assert near(theirs & _interior(image.shape), ours) >= 0.985


@pytest.mark.parametrize(("low", "high"), [(30.0, 80.0), (50.0, 150.0)])
def test_3d_on_a_real_ct_crop_agrees_with_simpleitk_to_97_percent(low, high):
    """On a 24 x 64 x 64 crop of the lung CT (5 mm slices, 0.57 mm pixels), sigma 2 mm, 99 % each
    way is out of reach: the two detectors differ by design, not by a parameter.

    Parameters first. ITK's Gaussian takes the variance in mm² (sigma² = 4), but its derivatives
    are central differences in voxel units whatever the spacing, so its thresholds are on a
    per-voxel magnitude. Calling ours with ``spacing`` (a per-mm magnitude: in-plane gradients
    1.75 times larger, slice-to-slice ones 5 times smaller) therefore loses ITK's slice-to-slice
    edges: measured, ITK's interior edge voxels near ours 30 % (thresholds 30/80) and 58 %
    (50/150), ours near ITK's 100 %. With ``_like_sitk`` (sigma in voxels, no spacing) both ways
    reach 97 %, and over 80 % of the edge voxels then have a gradient mostly along z.

    What is left, measured here (ours near ITK's / ITK's interior near ours): 97.8 / 97.9 % at
    30/80 and 97.2 / 96.9 % at 50/150; over 24 random crops of the same size, medians 96 to 98 %
    each way, lowest 55 / 82 %. Feeding both ITK's own smoothed image (no further smoothing; ours
    in "constant" mode) gives 97.9 / 97.3 % and 97.5 / 96.8 %, against 97.7 / 97.3 % and 96.7 /
    96.8 % from the crop in that mode: the smoothing (ITK's discrete kernel with its maximum error
    against SciPy's sampled one, which differ most at 0.4 voxel along z) is not the cause.
    The differences:

    - the magnitude: the 3D Sobel operator (as scikit-image's, exact in 2D) smooths each
      derivative with [1, 2, 1] across the two other axes, here across 5 mm slices, where ITK's
      central differences do not, so near-threshold voxels flip, and some of ITK's edges are no
      maxima of ours (ours at thresholds 0.7 times ITK's still miss about 1 % of ITK's edges,
      up to 6 % at sigma 3 mm);
    - the suppression: ours keeps maxima of the magnitude along the gradient (interpolated);
      ITK keeps voxels where its second directional derivative changes sign towards any of the 6
      face neighbours (and the third derivative is not positive), across the gradient too: 40
      to 50 % of ITK's unmatched edge voxels have their zero crossing only along an axis other
      than the gradient's dominant one (12 to 16 % of all its edge voxels);
    - hysteresis then adds or drops whole chains where the two link differently at a junction,
      which makes the agreement of one crop swing (the 55 % crop: one chain of ours, 925 voxels
      of magnitude <= 105 against a high threshold of 150, linked to a seed; ITK has its
      candidates but not the link).

    Without hysteresis (low = high, 30 to 150; "constant" mode) it is 96 to 99.7 % each way.
    95 % is asserted."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    volume = gpuimg.read_image(path)
    z, y, x = (s // 2 for s in volume.shape)
    crop = np.asarray(volume.data[z - 12 : z + 12, y - 32 : y + 32, x - 32 : x + 32], dtype=np.float64)
    ours = _like_sitk(crop, 2.0, low, high, volume.spacing)
    theirs = _sitk_canny(crop, 2.0, low, high, volume.spacing)
    assert ours.sum() > 5000
    assert near(ours, theirs) >= 0.95
    assert near(theirs & _interior(crop.shape), ours) >= 0.95


def test_volume_brings_its_spacing(rng):
    image, _ = ball(24, 8.0)
    volume = gpuimg.Volume(image, spacing=(2.0, 1.0, 1.0))
    got = canny(volume, 1.5, 100.0, 300.0)
    assert isinstance(got, gpuimg.Volume) and got.data.dtype == bool
    np.testing.assert_array_equal(got.data, canny(image, 1.5, 100.0, 300.0, spacing=(2.0, 1.0, 1.0)))


@pytest.mark.cudasim
@pytest.mark.parametrize("shape", [(40, 44), (14, 15, 16)])
def test_cuda_target_equals_cpu_target(rng, on_cuda_target, shape):
    """The simulated CUDA kernel against scikit-image (2D) and the CPU target (3D), in float64."""
    if len(shape) == 2:
        image = square(rng)[:40, :44]
        want = skimage.feature.canny(image, 1.2)
    else:
        image, _ = ball(16, 5.0, 5.0, rng)
        image = image[:14, :15, :16]
        want = canny(image, 1.0, 100.0, 300.0)
    got = (
        canny(on_cuda_target(image), 1.2)
        if len(shape) == 2
        else canny(on_cuda_target(image), 1.0, 100.0, 300.0)
    )
    assert want.sum() > 20
    np.testing.assert_array_equal(gpuimg.to_numpy(got), want)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: canny(x[0, 0]), "2D or 3D image; got 1D"),
        (lambda x: canny(x.astype(np.int64)), "at most 32-bit integers; got dtype int64"),
        (lambda x: canny(x, 1.0, 0.5, 0.2), "is below low_threshold"),
        (lambda x: canny(x, 1.0, 0.5, 1.2, use_quantiles=True), "quantile in [0, 1]"),
        (lambda x: canny(x, 1.0, float("nan")), "must be a finite number"),
        (lambda x: canny(x, -1.0), "sigma=-1.0 must be one non-negative"),
        (lambda x: canny(x, mask=np.ones((2, 2), bool)), "mask has shape (2, 2)"),
        (lambda x: canny(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: canny(x, spacing=(1.0, 1.0)), "one per axis (3)"),
    ],
)
def test_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((6, 7, 8)))
    assert message in str(caught.value)


def test_dask_input_is_refused_with_advice(rng):
    da = pytest.importorskip("dask.array")
    with pytest.raises(gpuimg.ParameterError, match="compute"):
        canny(da.from_array(rng.random((8, 8, 8)), chunks=4))


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(3, 30), st.integers(3, 30)),
    dtype=st.sampled_from([np.uint8, np.int16, np.float32, np.float64]),
    sigma=st.floats(0.5, 2.5),
    seed=st.integers(0, 2**32 - 1),
)
def test_2d_any_shape_and_dtype_equals_scikit_image(shape, dtype, sigma, seed):
    generator = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        image = generator.random(shape).astype(dtype)
    else:
        image = generator.integers(0, 120, shape).astype(dtype)
    np.testing.assert_array_equal(canny(image, sigma), skimage.feature.canny(image, sigma))
    low = 0.05 * float(np.iinfo(dtype).max if image.dtype.kind != "f" else 1)
    high = 3 * low
    np.testing.assert_array_equal(
        canny(image, sigma, low, high), skimage.feature.canny(image, sigma, low, high)
    )
