"""gpuimg.edges.derivatives against scipy.ndimage and closed forms."""

from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi

import gpuimg
from gpuimg.edges import gaussian_gradient_magnitude, gradient_direction, laplace, log

MODES = ["reflect", "nearest", "mirror", "wrap", "constant"]
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def ct_crop():
    """A 24 x 48 x 48 crop of the pyradiomics lung CT (int16 HU)."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    volume = gpuimg.read_image(path)
    z, y, x = (s // 2 for s in volume.shape)
    return np.asarray(volume.data[z - 12 : z + 12, y - 24 : y + 24, x - 24 : x + 24])


def ct_slice():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    return pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array.astype(np.int16)


@pytest.mark.parametrize("operator", ["sobel", "prewitt", "scharr"])
def test_direction_2d_is_arctan2_of_scipy_derivatives(rng, operator):
    image = rng.normal(0, 100, (17, 23))
    scipy_op = {"sobel": ndi.sobel, "prewitt": ndi.prewitt}.get(operator)
    got = gradient_direction(image, operator)
    if scipy_op is None:  # Scharr: only the ratio gy / gx matters, and both carry the same factor
        scipy_op = lambda a, axis: gpuimg.edges.scharr(a, axis)  # noqa: E731
    want = np.arctan2(scipy_op(image, axis=0), scipy_op(image, axis=1))
    # Float64 derivatives agree with SciPy's to ~1e-12 relative; arctan2 keeps that.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_direction_2d_convention_and_spacing():
    """A ramp increasing down the rows points at +pi/2; spacing rotates it as physics says."""
    y, x = np.mgrid[:9, :9].astype(float)
    assert gradient_direction(y)[4, 4] == pytest.approx(np.pi / 2)
    assert gradient_direction(-x)[4, 4] == pytest.approx(np.pi)
    # Intensity y + x per voxel; rows 2 mm apart: slope 0.5 per mm along y, 1 per mm along x.
    assert gradient_direction(y + x, spacing=(2.0, 1.0))[4, 4] == pytest.approx(np.arctan2(0.5, 1.0))


def test_direction_3d_is_the_unit_gradient(rng):
    image = rng.normal(0, 100, (9, 10, 11)).astype(np.float32)
    spacing = (2.0, 0.7, 0.9)
    got = gradient_direction(image, spacing=spacing)
    assert got.shape == (3, 9, 10, 11) and got.dtype == np.float32
    g = np.stack([ndi.sobel(image.astype(np.float64), axis=a) / spacing[a] for a in range(3)])
    want = g / np.linalg.norm(g, axis=0)
    # float32 derivatives (relative 1e-6 of the largest) divided by norms well above 0.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=0), 1.0, rtol=1e-5)
    flat = gradient_direction(np.ones((5, 5, 5)))
    np.testing.assert_array_equal(flat, 0.0)


@pytest.mark.parametrize(
    ("dtype", "slope"),
    [(np.float32, 1e-25), (np.float32, 1e20), (np.float64, 1e-170), (np.float64, 1e160), (np.float64, 1.0)],
)
def test_direction_3d_of_a_tiny_or_huge_gradient_is_a_unit_vector(dtype, slope):
    """A ramp of slope ``slope * (3, 4, 12)`` per voxel points along (3, 4, 12) / 13 (closed form),
    whatever its scale. The norm was the root of the summed squares: their squares (Sobel derivatives
    of about 4e-23 and 4e22 in float32, 4e-168 and 4e161 in float64) fell to 0 or rose to inf, and the
    direction of these nonzero gradients came out (0, 0, 0)."""
    z, y, x = np.mgrid[:6, :7, :8]
    image = (slope * (3.0 * z + 4.0 * y + 12.0 * x)).astype(dtype)
    got = gradient_direction(image)[:, 1:-1, 1:-1, 1:-1]  # the ramp's interior: reflect bends its edges
    want = np.array([3.0, 4.0, 12.0])[:, None, None, None] / 13.0
    # float32 derivatives of a ramp are exact up to a few roundings of 6e-8 each
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_gaussian_gradient_magnitude_equals_scipy(rng, mode):
    image = rng.normal(0, 100, (14, 15, 16))
    sigma = float(rng.uniform(0.65, 2.5))  # narrower ones are refused (no derivative when sampled)
    got = gaussian_gradient_magnitude(image, sigma, mode=mode, cval=2.0)
    want = ndi.gaussian_gradient_magnitude(image, sigma, mode=mode, cval=2.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)  # the same SciPy passes


def test_gaussian_gradient_magnitude_in_mm(rng):
    image = rng.normal(0, 100, (14, 15, 16)).astype(np.float32)
    iso = gaussian_gradient_magnitude(image, sigma_mm=3.0, spacing=1.5)
    np.testing.assert_allclose(iso, ndi.gaussian_gradient_magnitude(image, 2.0) / 1.5, rtol=1e-6, atol=1e-4)
    spacing = (2.5, 0.8, 0.6)
    got = gaussian_gradient_magnitude(image, sigma_mm=2.0, spacing=spacing)
    assert got.dtype == np.float32
    sig = [2.0 / s for s in spacing]
    d = [
        ndi.gaussian_filter(image.astype(float), sig, order=np.eye(3, dtype=int)[a]) / spacing[a]
        for a in range(3)
    ]
    # float32 Gaussian passes: relative error ~1e-6 of values up to ~100.
    np.testing.assert_allclose(got, np.sqrt(sum(v**2 for v in d)), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("scale", [1e21, 1e-24])
@pytest.mark.parametrize("spacing", [None, 2.0, (2.5, 0.8, 0.6)])
def test_gaussian_gradient_magnitude_of_float32_is_finite_where_representable(rng, scale, spacing):
    """Regression: float32 squares of derivatives beyond about 1e19 overflowed to inf (below 1e-19
    underflowed to 0), where the magnitude is representable; SciPy in float64, cast, has it."""
    image = (rng.random((10, 11, 12)) * scale).astype(np.float32)
    got = gaussian_gradient_magnitude(image, 1.5, spacing=spacing)
    assert got.dtype == np.float32
    steps = np.broadcast_to(1.0 if spacing is None else spacing, (3,))
    d = [
        ndi.gaussian_filter(image.astype(np.float64), 1.5, order=np.eye(3, dtype=int)[a]) / steps[a]
        for a in range(3)
    ]
    want = np.sqrt(sum(v**2 for v in d)).astype(np.float32)  # float64 squares: no overflow here
    assert np.isfinite(want).all() and want.min() > 0
    # float32 Gaussian passes: relative error ~1e-6 of the largest derivative.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.max()))


def test_gaussian_gradient_of_a_ramp_is_its_slope_per_mm():
    spacing = (3.0, 1.0, 0.5)
    z, y, x = np.meshgrid(
        *(np.arange(n) * s for n, s in zip((20, 20, 40), spacing, strict=True)), indexing="ij"
    )
    ramp = 2.0 * z - 1.0 * y + 4.0 * x  # intensity per mm
    got = gaussian_gradient_magnitude(ramp, sigma_mm=2.0, spacing=spacing)[10, 10, 20]
    # SciPy's sampled derivative of a Gaussian of sigma 2/3 voxel (along z) gives a unit ramp a
    # slope of 0.9946, of sigma 2 and 4 voxels (y, x) 0.9997 and 0.9994.
    want = np.sqrt((2 * 0.9945667) ** 2 + (1 * 0.9996533) ** 2 + (4 * 0.9993593) ** 2)
    assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_laplace_equals_scipy(rng, mode):
    for image in (
        rng.normal(0, 100, (9, 10, 11)).astype(np.float32),
        rng.integers(-1000, 3000, (12, 13)).astype(np.int16),
    ):
        got = laplace(image, mode=mode, cval=-1.0)
        want = ndi.laplace(image.astype(np.float64), mode=mode, cval=-1.0)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-2)  # float32 sums of values <= 3000


@pytest.mark.parametrize("mode", MODES)
def test_log_equals_scipy_gaussian_laplace(rng, mode):
    image = rng.normal(0, 100, (12, 13, 14))
    got = log(image, 1.7, mode=mode)
    np.testing.assert_allclose(got, ndi.gaussian_laplace(image, 1.7, mode=mode), rtol=1e-12, atol=1e-10)
    normed = log(image, 1.7, normalize=True, mode=mode)
    np.testing.assert_allclose(
        normed, 1.7**2 * ndi.gaussian_laplace(image, 1.7, mode=mode), rtol=1e-12, atol=1e-9
    )


def test_log_in_mm(rng):
    image = rng.normal(0, 100, (12, 13, 14))
    np.testing.assert_allclose(
        log(image, sigma_mm=3.0, spacing=2.0), ndi.gaussian_laplace(image, 1.5) / 4.0, rtol=1e-12, atol=1e-10
    )
    spacing = (2.0, 1.0, 0.5)
    z, y, x = np.meshgrid(
        *((np.arange(n) - n // 2) * s for n, s in zip((16, 20, 40), spacing, strict=True)), indexing="ij"
    )

    # The Laplacian of z² + 3 y² - x² (in mm) is 2 + 6 - 2 = 6 per mm², times the factor by which
    # SciPy's sampled second derivative of a Gaussian of sigma s voxels scales a parabola's
    # curvature at its vertex (sampling, not a bug), taken in 1D.
    def factor(sigma_vox):
        r = np.arange(100.0) - 50
        return ndi.gaussian_filter1d(r**2, sigma_vox, order=2)[50] / 2

    got = log(z**2 + 3 * y**2 - x**2, sigma_mm=1.5, spacing=spacing)[8, 10, 20]
    want = 2 * factor(0.75) + 6 * factor(1.5) - 2 * factor(3.0)
    # 1e-3: each axis' second-derivative kernel sums to about 1e-4, not 0, and meets the other
    # axes' smoothed parabolas (their sigma² offsets), which the 1D factors leave out.
    assert got == pytest.approx(want, rel=1e-3)


def test_log_of_a_gaussian_blob_has_the_closed_form():
    """A 3D Gaussian blob of sigma s, smoothed by sigma t: its LoG at the centre is
    -3 s³ / (s² + t²)^(5/2), and the normalised LoG (times t²) is extreme at t = s sqrt(2/3)."""
    s = 3.0
    z, y, x = np.mgrid[:41, :41, :41] - 20.0
    blob = np.exp(-(z**2 + y**2 + x**2) / (2 * s**2))
    for t in (1.5, 2.0, 2.5):
        # Sampled Gaussians: relative error well below 1e-3 at these scales.
        want = -3 * s**3 / (s**2 + t**2) ** 2.5
        assert log(blob, t)[20, 20, 20] == pytest.approx(want, rel=2e-3)
    best = s * np.sqrt(2 / 3)
    peak = -log(blob, best, normalize=True)[20, 20, 20]
    assert peak > -log(blob, best - 0.4, normalize=True)[20, 20, 20]
    assert peak > -log(blob, best + 0.4, normalize=True)[20, 20, 20]


def _thick_slices(values, spacing=(3.0, 0.7, 0.7)):
    """``values(z, y, x)`` [mm] on a 15 x 24 x 24 grid of ``spacing`` [mm], centred."""
    z, y, x = np.meshgrid(
        *((np.arange(n) - n // 2) * s for n, s in zip((15, 24, 24), spacing, strict=True)), indexing="ij"
    )
    return values(z, y, x)


def test_a_sigma_too_narrow_for_a_sampled_gaussian_derivative_is_refused():
    """sigma_mm 1 on 3 mm slices is 1/3 voxel along z, where SciPy's sampled derivative of a Gaussian
    is no derivative: the closed forms (the Laplacian of air at -1000 HU is 0, the gradient of a ramp
    of 2 HU/mm along z is 2) are far off. Refused, naming the axis, with the advice; followed, the
    closed forms hold."""
    spacing = (3.0, 0.7, 0.7)
    air = np.full((15, 24, 24), -1000.0)
    ramp = _thick_slices(lambda z, y, x: 2.0 * z, spacing)
    sigma = [1.0 / s for s in spacing]
    scipy_log = sum(
        ndi.gaussian_filter(air, sigma, order=np.eye(3, dtype=int)[a] * 2)[7, 12, 12] / spacing[a] ** 2
        for a in range(3)
    )
    assert scipy_log > 700  # HU/mm², where the Laplacian of a constant is 0
    scipy_slope = ndi.gaussian_filter(ramp, sigma, order=(1, 0, 0))[7, 12, 12] / spacing[0]
    assert scipy_slope < 0.5  # HU/mm, of a ramp of 2 HU/mm
    for op, image in ((log, air), (gaussian_gradient_magnitude, ramp)):
        with pytest.raises(gpuimg.ParameterError, match=r"sigma along axis 0 is 0\.333 voxels") as error:
            op(image, sigma_mm=1.0, spacing=spacing)
        assert "resample the image along that axis to a spacing of at most 1.33333 mm" in str(error.value)
        with pytest.raises(gpuimg.ParameterError, match="axis 0"):  # a Volume's spacing alike
            op(gpuimg.Volume(image, spacing=spacing), sigma_mm=1.0)
        with pytest.raises(gpuimg.ParameterError, match=r"at least 0\.75 voxels"):
            op(image, (0.5, 1.0, 1.0))
    # The advice followed: resampled along z to 4/3 mm, sigma_mm 1 is 0.75 voxel there.
    fine = (4.0 / 3.0, 0.7, 0.7)
    air_fine = gpuimg.preprocess.resample(air, spacing, fine)
    got = log(air_fine, sigma_mm=1.0, spacing=fine)
    # 0.01 of a constant 1 per voxel² (the tolerance), of 1000 HU and voxels of 4/3 mm.
    assert np.abs(got).max() <= 0.01 * 1000 / fine[0] ** 2
    ramp_fine = gpuimg.preprocess.resample(ramp, spacing, fine)
    centre = tuple(n // 2 for n in ramp_fine.shape)
    slope = gaussian_gradient_magnitude(ramp_fine, sigma_mm=1.0, spacing=fine)[centre]
    assert slope == pytest.approx(2.0, rel=0.01)


def test_a_one_slice_volume_is_advised_its_slice_not_a_resampling():
    """A one-slice Volume of 5 mm slices with sigma_mm 1 (0.2 voxel along z) is refused; resampling
    one slice gives no more slices, so the advice is the 2D slice with the in-plane spacing; followed,
    the result is SciPy's 2D one (sigma 1 / 0.7 voxels, divided by the spacing)."""
    image = ct_slice()[100:140, 100:140].astype(np.float64)
    spacing = (5.0, 0.7, 0.7)
    volume = gpuimg.Volume(image[None], spacing=spacing)
    for op in (gaussian_gradient_magnitude, log):
        with pytest.raises(gpuimg.ParameterError, match=r"sigma along axis 0 is 0\.2 voxels") as error:
            op(volume, sigma_mm=1.0)
        assert "resample" not in str(error.value)
        assert "volume.data[0]" in str(error.value)
    with pytest.raises(gpuimg.ParameterError, match=r"np\.take\(image, 0, axis=1\)"):
        gaussian_gradient_magnitude(image[:, :1], (1.0, 0.3))
    sigma = 1.0 / 0.7
    got = gaussian_gradient_magnitude(volume.data[0], sigma_mm=1.0, spacing=spacing[1:])
    np.testing.assert_allclose(got, ndi.gaussian_gradient_magnitude(image, sigma) / 0.7, rtol=1e-12)
    got = log(volume.data[0], sigma_mm=1.0, spacing=spacing[1:])
    np.testing.assert_allclose(got, ndi.gaussian_laplace(image, sigma) / 0.49, rtol=1e-12, atol=1e-9)


def test_sigmas_at_the_sampling_limit_give_the_closed_forms():
    """Just above the refusal (0.65 voxel for the gradient, 0.75 for the Laplacian), the closed forms
    hold within the tolerance: a ramp's slope, a paraboloid's Laplacian (2 + 6 - 2), a constant's 0."""
    spacing = (1.0, 1.0, 1.0)
    ramp = _thick_slices(lambda z, y, x: 2.0 * z - y + 4.0 * x, spacing)
    got = gaussian_gradient_magnitude(ramp, 0.65)[7, 12, 12]
    assert got == pytest.approx(np.sqrt(4 + 1 + 16), rel=0.01)
    bowl = _thick_slices(lambda z, y, x: z**2 + 3 * y**2 - x**2, spacing)
    assert log(bowl, 0.75)[7, 12, 12] == pytest.approx(6.0, rel=0.01)
    # 0.01 of the constant per voxel² along each of the 3 axes at most.
    assert np.abs(log(np.full((9, 9, 9), 500.0), 0.75)).max() <= 3 * 0.01 * 500


def test_on_real_ct():
    for image in (ct_slice(), ct_crop()):
        ref = image.astype(np.float64)
        np.testing.assert_allclose(
            gaussian_gradient_magnitude(image, 1.5),
            ndi.gaussian_gradient_magnitude(ref, 1.5),
            rtol=1e-5,
            atol=1e-2,
        )
        np.testing.assert_allclose(
            laplace(image), ndi.laplace(ref), rtol=0, atol=1e-2
        )  # exact integers in float32
        np.testing.assert_allclose(log(image, 1.2), ndi.gaussian_laplace(ref, 1.2), rtol=1e-5, atol=1e-2)
        angle = gradient_direction(image.astype(np.float64))
        if image.ndim == 2:
            np.testing.assert_allclose(angle, np.arctan2(ndi.sobel(ref, 0), ndi.sobel(ref, 1)), atol=1e-9)


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant"])
def test_dask_with_uneven_chunks_equals_whole_volume(rng, mode):
    da = pytest.importorskip("dask.array")
    image = rng.normal(0, 100, (23, 17, 29)).astype(np.float32)
    lazy = da.from_array(image, chunks=((9, 6, 8), (17,), (11, 7, 11)))
    for op in (
        lambda a: gaussian_gradient_magnitude(a, sigma_mm=2.0, spacing=(2.0, 1.0, 0.8), mode=mode),
        lambda a: gaussian_gradient_magnitude(a, 1.0, mode=mode),
        lambda a: log(a, sigma_mm=1.5, spacing=(1.5, 1.0, 1.0), mode=mode),
        lambda a: log(a, 1.5, mode=mode),
        lambda a: laplace(a, mode=mode),
        lambda a: gradient_direction(a, mode=mode),
    ):
        got = op(lazy)
        assert isinstance(got, da.Array)
        np.testing.assert_allclose(
            got.compute(), op(image), rtol=1e-6, atol=1e-5
        )  # same passes, same float32


@pytest.mark.parametrize("op", [log, gaussian_gradient_magnitude])
def test_volume_sigma_is_voxels_and_sigma_mm_is_mm(rng, op):
    """The unit rule (regression: sigma was mm for a Volume): sigma [voxels] smooths a Volume as its
    voxels; sigma_mm [mm] is sigma_mm / spacing voxels; the Volume's spacing makes the derivatives
    per mm (as spacing= does)."""
    spacing = (2.0, 1.0, 0.5)
    volume = gpuimg.Volume(rng.normal(0, 1, (8, 9, 10)), spacing=spacing, origin=(1.0, 2.0, 3.0))
    got = op(volume, 2.0)
    assert isinstance(got, gpuimg.Volume) and got.origin == volume.origin
    np.testing.assert_allclose(got.data, op(volume.data, 2.0, spacing=spacing), rtol=1e-12)
    in_mm = op(volume, sigma_mm=2.0)
    np.testing.assert_allclose(in_mm.data, op(volume.data, (1.0, 2.0, 4.0), spacing=spacing), rtol=1e-12)
    isotropic = gpuimg.Volume(volume.data, spacing=(2.0, 2.0, 2.0))
    order = 2 if op is log else 1
    scipy_op = ndi.gaussian_laplace if op is log else ndi.gaussian_gradient_magnitude
    np.testing.assert_allclose(
        op(isotropic, 1.5).data, scipy_op(volume.data, 1.5) / 2.0**order, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: gradient_direction(x[0, 0]), "must be 2D or 3D; got 1D"),
        (lambda x: gradient_direction(x, "canny"), "operator='canny' is unknown"),
        (lambda x: gaussian_gradient_magnitude(x, -1.0), "sigma=-1.0 must be positive"),
        (lambda x: gaussian_gradient_magnitude(x, sigma_mm=1.0), "sigma_mm=1.0 needs the voxel spacing"),
        (lambda x: gaussian_gradient_magnitude(x), "give sigma (voxels) or sigma_mm (mm)"),
        (lambda x: gaussian_gradient_magnitude(x, (1.0, 2.0)), "one per axis (3)"),
        (lambda x: gaussian_gradient_magnitude(x, 1.0, truncate=0), "truncate=0 must be"),
        (lambda x: gaussian_gradient_magnitude(x, 1.0, spacing=(1, 0, 1)), "spacing=(1, 0, 1)"),
        (lambda x: log(x, 0.0), "sigma=0.0 must be positive"),
        (lambda x: log(x, (1.0, 2.0, 1.0), normalize=True), "normalize=True needs one sigma"),
        (lambda x: log(x, 1.0, spacing=2.0, normalize=True), "normalize=True needs one sigma_mm"),
        (lambda x: laplace(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: laplace(x[None]), "must be 1D, 2D or 3D; got 4D"),
        (lambda x: laplace(x.astype(complex)), "must hold real numbers"),
    ],
)
def test_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)
