"""gpuimg.edges.gradient against scipy.ndimage (and scikit-image for Scharr), on every target."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.filters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gpuimg
from gpuimg.edges import gradient_magnitude, prewitt, scharr, sobel

MODES = ["reflect", "nearest", "mirror", "wrap", "constant"]
DTYPES = [np.int16, np.uint16, np.float32, np.float64]
SMOOTHING = {"sobel": [1, 2, 1], "prewitt": [1, 1, 1], "scharr": [3, 10, 3]}
DERIVATIVE = {"sobel": sobel, "prewitt": prewitt, "scharr": scharr}


def reference_derivative(image, operator, axis, mode="reflect", cval=0.0):
    """SciPy's derivative: scipy.ndimage.sobel / prewitt, or the same passes with Scharr's weights."""
    image = np.asarray(image, dtype=np.float64)
    if operator == "sobel":
        return ndi.sobel(image, axis=axis, mode=mode, cval=cval)
    if operator == "prewitt":
        return ndi.prewitt(image, axis=axis, mode=mode, cval=cval)
    out = ndi.correlate1d(image, [-1, 0, 1], axis=axis, mode=mode, cval=cval)
    for other in range(image.ndim):
        if other != axis % image.ndim:
            out = ndi.correlate1d(out, SMOOTHING["scharr"], axis=other, mode=mode, cval=cval)
    return out


def reference_magnitude(image, operator="sobel", spacing=None, mode="reflect", cval=0.0):
    """The root of the squares of SciPy's derivatives in float64, each voxel's derivatives divided by
    their largest before squaring (as np.hypot), so that squares of subnormal or huge derivatives
    neither vanish nor overflow (NumPy's plain root of [2.2e-311, 0]'s Sobel squares is 0)."""
    spacing = np.ones(image.ndim) if spacing is None else np.broadcast_to(spacing, image.ndim)
    derivatives = [
        reference_derivative(image, operator, a, mode, cval) / spacing[a] for a in range(image.ndim)
    ]
    largest = np.max(np.abs(derivatives), axis=0)
    scale = np.where((largest > 0) & np.isfinite(largest), largest, 1.0)  # NaN, inf and 0 as they are
    return np.sqrt(sum((d / scale) ** 2 for d in derivatives)) * scale


def tolerance(image, operator, dtype):
    """Absolute tolerance: float32 arithmetic (relative 2**-22 over a sum of up to 256 weights) on
    values up to max|image|, plus 1e-18 where a float32 square underflows; float64 is held to
    1e-12 of the same scale."""
    scale = float(np.abs(np.asarray(image, dtype=np.float64)).max()) or 1.0
    weight = 2 * sum(SMOOTHING[operator]) ** 2
    if np.dtype(dtype) == np.float32:
        return scale * weight * 1e-6 + 1e-18
    return scale * weight * 1e-12


def images(max_side):
    """1D to 3D arrays with axes of length 1 to ``max_side``, of every tested dtype."""

    def of_dtype(dtype):
        low = 0 if np.dtype(dtype).kind == "u" else -1000
        return hnp.arrays(
            dtype=dtype,
            shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=max_side),
            elements={"min_value": low, "max_value": 1000, "allow_nan": False, "allow_infinity": False}
            if np.dtype(dtype).kind == "f"
            else {"min_value": low, "max_value": 1000},
        )

    return st.sampled_from(DTYPES).flatmap(of_dtype)


def random_image(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.normal(0.0, 100.0, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("operator", ["sobel", "prewitt", "scharr"])
@pytest.mark.parametrize("mode", MODES)
def test_magnitude_equals_scipy(rng, operator, mode):
    image = random_image(rng, (13, 17, 19), np.float32)
    cval = float(rng.normal(0, 50))
    got = gradient_magnitude(image, operator, mode=mode, cval=cval)
    want = reference_magnitude(image, operator, mode=mode, cval=cval)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, operator, np.float32))


@pytest.mark.parametrize("operator", ["sobel", "prewitt", "scharr"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("mode", MODES)
def test_derivative_equals_scipy(rng, operator, axis, mode):
    image = random_image(rng, (11, 9, 14), np.float64)
    got = DERIVATIVE[operator](image, axis, mode=mode, cval=3.5)
    want = reference_derivative(image, operator, axis, mode=mode, cval=3.5)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, operator, np.float64))


def test_sobel_and_prewitt_equal_scipy_in_their_own_dtype(rng):
    """Same numbers as calling scipy.ndimage.sobel / prewitt directly on float32 data."""
    image = random_image(rng, (16, 16, 16), np.float32)
    for ours, scipys in ((sobel, ndi.sobel), (prewitt, ndi.prewitt)):
        for axis in range(3):
            np.testing.assert_allclose(
                ours(image, axis),
                scipys(image, axis=axis),
                rtol=0,
                atol=tolerance(image, "sobel", np.float32),
            )


@pytest.mark.parametrize("shape", [(12, 10, 11), (12, 10)])
def test_scharr_is_scikit_image_scharr_unnormalised(rng, shape):
    """scikit-image's scharr divides each smoothing [3, 10, 3] by 16: ours is 16 ** (ndim - 1) times it."""
    image = rng.random(shape)
    for axis in range(image.ndim):
        want = skimage.filters.scharr(image, axis=axis) * 16 ** (image.ndim - 1)
        np.testing.assert_allclose(scharr(image, axis), want, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_spacing_divides_each_derivative(rng, dtype):
    image = random_image(rng, (10, 12, 14), dtype)
    spacing = tuple(rng.uniform(0.3, 5.0, 3))
    got = gradient_magnitude(image, spacing=spacing)
    want = reference_magnitude(image, spacing=spacing)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, "sobel", got.dtype))
    np.testing.assert_allclose(
        sobel(image, 0, spacing=spacing),
        reference_derivative(image, "sobel", 0) / spacing[0],
        rtol=0,
        atol=tolerance(image, "sobel", got.dtype),
    )


def test_ramp_has_the_closed_form_gradient():
    """A ramp of slope (a, b, c) intensity/mm has Sobel derivatives 32 a, 32 b, 32 c."""
    spacing = np.array([2.5, 0.75, 0.6])
    slope = np.array([3.0, -2.0, 5.0])
    z, y, x = np.meshgrid(
        *(np.arange(n) * s for n, s in zip((8, 9, 10), spacing, strict=True)), indexing="ij"
    )
    ramp = slope[0] * z + slope[1] * y + slope[2] * x
    inner = (slice(1, -1),) * 3
    got = gradient_magnitude(ramp, spacing=tuple(spacing))[inner]
    np.testing.assert_allclose(got, 32 * np.linalg.norm(slope), rtol=1e-12)


@pytest.mark.parametrize(
    "dtype", [np.int16, np.uint16, np.int8, np.uint8, np.int32, np.uint32, np.int64, bool]
)
def test_integer_input_gives_float_output_without_overflow(rng, dtype):
    if dtype is bool:
        image = rng.random((9, 9, 9)) > 0.5
    else:
        image = random_image(rng, (9, 9, 9), dtype)
    got = gradient_magnitude(image)
    expected_dtype = np.float32 if np.dtype(dtype).itemsize <= 2 else np.float64
    assert got.dtype == expected_dtype
    want = reference_magnitude(image.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-6 if got.dtype == np.float32 else 1e-12)


def test_hounsfield_extremes_do_not_overflow():
    """An int16 CT with air (-1024 HU) against dense metal (3071 HU): the edge is 4095 HU high."""
    ct = np.full((6, 6, 6), -1024, dtype=np.int16)
    ct[:, :, 3:] = 3071
    got = sobel(ct, 2)
    assert got.dtype == np.float32
    assert got[3, 3, 2] == pytest.approx(16 * 4095)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    image=images(max_side=6),
    operator=st.sampled_from(["sobel", "prewitt", "scharr"]),
    mode=st.sampled_from(MODES),
)
def test_any_shape_and_dtype_equals_scipy(image, operator, mode):
    """Axes of length 1 and 2, 1D to 3D, every supported dtype and mode."""
    got = gradient_magnitude(image, operator, mode=mode)
    assert got.shape == image.shape
    assert got.dtype == (np.float64 if image.dtype == np.float64 else np.float32)
    want = reference_magnitude(image, operator, mode=mode)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, operator, got.dtype))
    for axis in range(image.ndim):
        np.testing.assert_allclose(
            DERIVATIVE[operator](image, axis, mode=mode),
            reference_derivative(image, operator, axis, mode=mode),
            rtol=0,
            atol=tolerance(image, operator, got.dtype),
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(7, 7, 7), (7, 8)])
def test_nan_and_inf_spread_as_in_scipy(rng, mode, shape):
    image = rng.random(shape)
    image[(3,) * len(shape)] = np.nan
    image[(0,) * len(shape)] = np.inf
    for cval in (0.0, np.nan):
        got = gradient_magnitude(image, mode=mode, cval=cval)
        want = reference_magnitude(image, mode=mode, cval=cval)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        finite = np.isfinite(want)
        assert 1 < finite.sum() < got.size
        atol = tolerance(image[np.isfinite(image)], "sobel", np.float64)
        np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=atol)


def _targets(shape, request):
    """Where an image is put for each target: the CPU, and in 3D the CUDA target (a GPU, else the
    simulator)."""
    targets = {"cpu": np.asarray}
    if len(shape) == 3:
        targets["cuda"] = request.getfixturevalue("on_cuda_target")
    return targets


# The CUDA simulator's threads square the derivatives on NumPy scalars before they are rescaled.
@pytest.mark.filterwarnings("ignore:overflow encountered in scalar:RuntimeWarning")
@pytest.mark.parametrize("power", [66, 100, -100])
@pytest.mark.parametrize("shape", [(9, 10, 11), (12, 13), (15,)])
def test_float32_magnitude_of_huge_and_tiny_gradients_is_not_inf_or_0(rng, shape, power, request):
    """In float32 the squares of derivatives beyond about 1.8e19 overflowed and those below about
    1e-19 vanished: N(0, 1) noise (9 x 10 x 11) scaled by 2**66 had inf at every voxel (magnitudes
    7e19 to 3e21), scaled by 2**-100 0 at every voxel (8e-31 to 3e-29). Closed form: scaling by a
    power of two is exact in float32, so the magnitude scales alike, voxel for voxel; with a
    spacing, against the root of the squares of SciPy's Sobel derivatives in float64. Every
    target: the vectorised CPU rows (3D), the CPU's voxel by voxel path (2D, 1D, the constant
    mode) and the CUDA simulator."""
    image = rng.normal(0.0, 1.0, shape).astype(np.float32)
    scale = 2.0**power
    scaled = image * np.float32(scale)
    spacing = (0.7, 2.5, 1.2)[-len(shape) :]
    targets = _targets(shape, request)
    for target, device in targets.items():
        for mode in ("reflect", "constant"):
            got = gpuimg.to_numpy(gradient_magnitude(device(scaled), mode=mode))
            want = gradient_magnitude(image, mode=mode) * np.float32(scale)
            assert np.all(want > 0) and np.all(np.isfinite(want)), (target, mode)
            np.testing.assert_array_equal(got, want, err_msg=f"{target} {mode}")
            got = gpuimg.to_numpy(gradient_magnitude(device(scaled), spacing=spacing, mode=mode))
            derivatives = [
                ndi.sobel(scaled.astype(np.float64), a, mode=mode) / spacing[a] for a in range(len(shape))
            ]
            want = np.sqrt(sum((d / scale) ** 2 for d in derivatives)) * scale  # no float64 underflow
            # float32 arithmetic on values up to max|image| times the operator's weights (32).
            atol = float(np.abs(scaled).max()) * 32 * 2 / min(spacing) * 1e-6
            np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=f"{target} {mode}")


@pytest.mark.parametrize("power", [-56, -498])
@pytest.mark.parametrize("shape", [(9, 10, 11), (12, 13)])
def test_float64_magnitude_of_tiny_gradients_is_the_plain_root(rng, shape, power, request):
    """float64 sums of squares were rescaled below float32's bound, 2**-100, although float64
    squares lose digits only below about 2e-308: N(0, 1) noise scaled by 2**-56 (about 1.4e-17) had
    every row of a volume redone voxel by voxel (128**3: 109 ms against 24 unscaled), and with a spacing
    the rescaled root of (g / spacing)² differed from the plain root of g² / spacing² in the last bit
    (at about a quarter of the voxels). Closed form: scaling by a power of two is exact where
    nothing underflows, so the magnitude is the unscaled one (its sums of squares far from any
    bound) times it, to the bit; only below float64's bound, 2**-996 (some voxels of 2**-498, about
    1.2e-150), the rescaled root, within 2 ulp of it (the two orders of rounding, measured up to 2
    in 810 000 voxels). And against the root of the squares of SciPy's Sobel derivatives. Every
    target: the vectorised CPU rows (3D), the voxel by voxel path (2D, the constant mode) and the
    CUDA simulator."""
    image = rng.normal(0.0, 1.0, shape)
    scale = 2.0**power
    scaled = image * scale
    spacing = (0.7, 2.5, 1.2)[-len(shape) :]
    inverse = [1.0 / s for s in spacing]
    targets = _targets(shape, request)
    for target, device in targets.items():
        for mode in ("reflect", "constant"):
            derivatives = [ndi.sobel(scaled, a, mode=mode) * inverse[a] for a in range(len(shape))]
            squares = sum(d**2 for d in derivatives)
            rescaled = squares < 2.0**-995  # about the bound, with a margin for rounding
            assert rescaled.mean() < 0.5 and (power == -498 or not rescaled.any())
            got = gpuimg.to_numpy(gradient_magnitude(device(scaled), spacing=spacing, mode=mode))
            want = gradient_magnitude(image, spacing=spacing, mode=mode) * scale
            np.testing.assert_array_equal(got[~rescaled], want[~rescaled], err_msg=f"{target} {mode}")
            np.testing.assert_array_max_ulp(got[rescaled], want[rescaled], maxulp=2)
            atol = tolerance(scaled, "sobel", np.float64) / min(spacing)
            np.testing.assert_allclose(got, np.sqrt(squares), rtol=0, atol=atol, err_msg=f"{target} {mode}")


@pytest.mark.parametrize("shape", [(9, 10, 11), (12, 13)])
def test_float64_magnitude_of_gradients_whose_squares_are_subnormal(rng, shape, request):
    """Values near 1e-160 (2**-532): the squares of the derivatives are subnormal or 0 in float64,
    NumPy's plain root of them off or 0, and the magnitude still that of the derivatives divided by
    a power of two and multiplied back. Closed form: without a spacing, the unscaled magnitude
    times 2**-532 to the bit; with one, the root of the squares of SciPy's Sobel derivatives,
    computed unscaled in float64 and scaled back."""
    image = rng.normal(0.0, 1.0, shape)
    scale = 2.0**-532
    scaled = image * scale
    spacing = (0.7, 2.5, 1.2)[-len(shape) :]
    targets = _targets(shape, request)
    for target, device in targets.items():
        for mode in ("reflect", "constant"):
            got = gpuimg.to_numpy(gradient_magnitude(device(scaled), mode=mode))
            want = gradient_magnitude(image, mode=mode) * scale
            assert np.all(want > 0), (target, mode)
            np.testing.assert_array_equal(got, want, err_msg=f"{target} {mode}")
            derivatives = [ndi.sobel(scaled, a, mode=mode) / spacing[a] for a in range(len(shape))]
            plain = np.sqrt(sum(d**2 for d in derivatives))
            want = np.sqrt(sum((d / scale) ** 2 for d in derivatives)) * scale
            assert np.mean(plain == want) < 0.5  # the plain root has lost digits
            got = gpuimg.to_numpy(gradient_magnitude(device(scaled), spacing=spacing, mode=mode))
            atol = tolerance(scaled, "sobel", np.float64) / min(spacing)
            np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=f"{target} {mode}")


def test_empty_image_gives_empty_result():
    assert gradient_magnitude(np.zeros((0, 4, 4), np.float32)).shape == (0, 4, 4)


def test_volume_brings_its_spacing_and_keeps_its_geometry(rng):
    volume = gpuimg.Volume(
        rng.normal(0, 100, (8, 9, 10)).astype(np.float32),
        spacing=(3.0, 0.7, 0.7),
        origin=(-10.0, 20.0, 5.0),
        meta={"modality": "CT"},
    )
    result = gradient_magnitude(volume)
    assert isinstance(result, gpuimg.Volume)
    assert result.spacing == volume.spacing and result.origin == volume.origin
    assert result.meta == {"modality": "CT"}
    want = reference_magnitude(volume.data, spacing=volume.spacing)
    np.testing.assert_allclose(result.data, want, rtol=0, atol=tolerance(volume.data, "sobel", np.float32))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operator", ["sobel", "scharr"])
def test_dask_with_uneven_chunks_equals_whole_volume(rng, mode, operator):
    da = pytest.importorskip("dask.array")
    image = random_image(rng, (23, 17, 29), np.float32)
    chunks = ((5, 1, 9, 8), (17,), (3, 13, 2, 11))
    lazy = da.from_array(image, chunks=chunks)
    got = gradient_magnitude(lazy, operator, spacing=(2.0, 1.0, 0.5), mode=mode, cval=7.0)
    assert isinstance(got, da.Array)
    whole = gradient_magnitude(image, operator, spacing=(2.0, 1.0, 0.5), mode=mode, cval=7.0)
    np.testing.assert_array_equal(got.compute(), whole)
    derivative = DERIVATIVE[operator](lazy, 1, mode=mode, cval=7.0).compute()
    np.testing.assert_array_equal(derivative, DERIVATIVE[operator](image, 1, mode=mode, cval=7.0))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: gradient_magnitude(x, "canny"), "operator='canny' is unknown"),
        (lambda x: gradient_magnitude(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: gradient_magnitude(x, spacing=(1.0, 0.0, 1.0)), "must be one positive number"),
        (lambda x: gradient_magnitude(x, spacing=(1.0, 1.0)), "one per axis (3)"),
        (lambda x: gradient_magnitude(x, spacing=float("nan")), "must be one positive number"),
        (lambda x: sobel(x, 3), "axis=3 is not an axis of a 3D image"),
        (lambda x: sobel(x, 1.0), "axis=1.0 is not an axis"),
        # A bool is an int to Python: sobel(x, axis=True) was the derivative along axis 1 (NumPy's
        # np.sum(x, axis=True) is "TypeError: an integer is required").
        (lambda x: sobel(x, axis=True), "axis=True is not an axis of a 3D image; use a whole number"),
        (lambda x: prewitt(x, np.True_), "axis=np.True_ is not an axis"),
        (lambda x: scharr(x, axis=False), "axis=False is not an axis"),
        (lambda x: sobel(x, axis=np.float64(2.0)), "axis=np.float64(2.0) is not an axis"),
        (lambda x: gradient_magnitude(x[None]), "must be 1D, 2D or 3D; got 4D"),
        (lambda x: gradient_magnitude(x.astype(complex)), "must hold real numbers"),
    ],
)
def test_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.cudasim
@pytest.mark.parametrize("operator", ["sobel", "prewitt", "scharr"])
@pytest.mark.parametrize("mode", MODES)
def test_cuda_target_equals_scipy(rng, on_cuda_target, operator, mode):
    image = random_image(rng, (9, 12, 10), np.float32)
    got = gpuimg.to_numpy(gradient_magnitude(on_cuda_target(image), operator, mode=mode, cval=-2.0))
    want = reference_magnitude(image, operator, mode=mode, cval=-2.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, operator, np.float32))


@pytest.mark.cudasim
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_target_derivatives_and_spacing(rng, on_cuda_target, dtype):
    image = random_image(rng, (7, 8, 9), dtype)
    spacing = (1.5, 0.5, 0.8)
    for axis in range(3):
        got = gpuimg.to_numpy(sobel(on_cuda_target(image), axis, spacing=spacing))
        want = reference_derivative(image, "sobel", axis) / spacing[axis]
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, "sobel", got.dtype))


@pytest.mark.cudasim
def test_cuda_target_on_the_largest_simulated_volume(rng, on_cuda_target):
    image = random_image(rng, (32, 32, 32), np.float32)
    got = gpuimg.to_numpy(gradient_magnitude(on_cuda_target(image), spacing=(2.0, 0.9, 0.9)))
    want = reference_magnitude(image, spacing=(2.0, 0.9, 0.9))
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, "sobel", np.float32))


@pytest.mark.cudasim
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    image=images(max_side=4),
    mode=st.sampled_from(MODES),
)
def test_cuda_target_any_shape_and_dtype(on_cuda_target, image, mode):
    got = gpuimg.to_numpy(gradient_magnitude(on_cuda_target(image), mode=mode))
    want = reference_magnitude(image, mode=mode)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(image, "sobel", got.dtype))


@pytest.mark.gpu
def test_cupy_input_stays_on_the_gpu(rng):
    import cupy

    image = random_image(rng, (40, 50, 60), np.float32)
    got = gradient_magnitude(cupy.asarray(image), "prewitt", spacing=(2.0, 1.0, 1.0))
    assert isinstance(got, cupy.ndarray)
    want = reference_magnitude(image, "prewitt", spacing=(2.0, 1.0, 1.0))
    np.testing.assert_allclose(got.get(), want, rtol=0, atol=tolerance(image, "prewitt", np.float32))


@pytest.mark.gpu
def test_cupy_dask_chunks_equal_whole_volume(rng):
    import cupy

    da = pytest.importorskip("dask.array")
    image = cupy.asarray(random_image(rng, (30, 20, 25), np.float32))
    lazy = da.from_array(image, chunks=(7, 20, 9))
    got = gradient_magnitude(lazy).compute()
    assert isinstance(got, cupy.ndarray)
    np.testing.assert_array_equal(got.get(), gradient_magnitude(image).get())
