"""gpuimg.preprocess.diffusion against SimpleITK, on every target."""

import warnings
from functools import partial

import numpy as np
import pytest
from preprocess_images import atol, lung_ct_with_spacing, random_image

import gpuimg
from gpuimg.kernels import diffusion as diffusion_kernel
from gpuimg.preprocess import anisotropic_diffusion, curvature_flow


@pytest.fixture(scope="module")
def ct():
    """A 12 x 40 x 48 crop of a lung CT (int16 HU) with its spacing, across the chest wall."""
    return lung_ct_with_spacing()


# --- curvature flow ------------------------------------------------------------------------------


def simpleitk_curvature_flow(image, iterations, time_step, spacing):
    sitk = pytest.importorskip("SimpleITK")
    itk_image = sitk.GetImageFromArray(image)
    itk_image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    flowed = sitk.CurvatureFlow(itk_image, timeStep=time_step, numberOfIterations=iterations)
    return sitk.GetArrayFromImage(flowed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 10, 12), (14, 15)])
def test_curvature_flow_equals_simpleitk(rng, dtype, shape):
    """Same finite differences and update; float32 differs by its roundings over the iterations
    (a few 1e-7 of the image's scale per step), float64 by summation order only."""
    image = random_image(rng, shape, dtype)
    spacing = (2.0, 0.8, 0.7)[-len(shape) :]
    got = curvature_flow(image, iterations=5, time_step=0.04, spacing=spacing)
    assert got.dtype == dtype
    want = simpleitk_curvature_flow(image, 5, 0.04, spacing)
    np.testing.assert_allclose(
        got, want, rtol=0, atol=atol(image, dtype) * (10 if dtype == np.float32 else 1)
    )
    assert np.abs(want - image).max() > 10  # it did smooth


def test_curvature_flow_of_a_real_ct_equals_simpleitk(ct):
    image, spacing = ct
    volume = gpuimg.Volume(image, spacing=spacing)
    got = curvature_flow(volume, iterations=3, time_step=0.05)
    assert isinstance(got, gpuimg.Volume) and got.data.dtype == np.float32
    want = simpleitk_curvature_flow(image.astype(np.float32), 3, 0.05, spacing)
    np.testing.assert_allclose(got.data, want, rtol=0, atol=atol(image, np.float32) * 10)


def test_curvature_flow_leaves_flat_regions_and_spreads_nan_as_simpleitk(rng):
    image = np.full((9, 9, 9), 40.0)
    np.testing.assert_array_equal(curvature_flow(image, iterations=3), image)
    image = random_image(rng, (9, 9, 9), np.float64)
    image[4, 4, 4] = np.nan
    image[0, 2, 3] = np.inf
    got = curvature_flow(image, iterations=2)
    want = simpleitk_curvature_flow(image, 2, 0.05, (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert 1 < np.isnan(got).sum() <= 1 + 18 + 18 * 18
    finite = np.isfinite(want)
    np.testing.assert_allclose(
        got[finite], want[finite], rtol=0, atol=atol(image[np.isfinite(image)], np.float64)
    )


def test_curvature_flow_dask_with_uneven_chunks_equals_whole_volume(rng):
    da = pytest.importorskip("dask.array")
    image = random_image(rng, (14, 13, 17), np.float32)
    lazy = da.from_array(image, chunks=((5, 1, 8), (13,), (3, 9, 5)))
    run = partial(curvature_flow, iterations=3, time_step=0.05, spacing=(2.0, 1.0, 0.8))
    np.testing.assert_array_equal(run(lazy).compute(), run(image))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: curvature_flow(x, iterations=0), "iterations=0 must be a positive whole number"),
        (lambda x: curvature_flow(x, iterations=2.5), "iterations=2.5 must be"),
        (lambda x: curvature_flow(x, time_step=-0.1), "time_step=-0.1 must be positive"),
        (lambda x: curvature_flow(x, spacing=(1.0, 1.0)), "one per axis (3)"),
        (lambda x: curvature_flow(x[0, 0]), "must be 2D or 3D; got 1D"),
    ],
)
def test_curvature_flow_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)


@pytest.mark.cudasim
@pytest.mark.parametrize("shape", [(5, 6, 7), (6, 7)])
def test_cuda_target_curvature_flow_equals_simpleitk(rng, on_cuda_target, shape):
    image = random_image(rng, shape, np.float64)
    spacing = (1.5, 1.0, 0.8)[-len(shape) :]
    got = gpuimg.to_numpy(
        curvature_flow(on_cuda_target(image), iterations=2, time_step=0.05, spacing=spacing)
    )
    want = simpleitk_curvature_flow(image, 2, 0.05, spacing)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, np.float64))


@pytest.mark.cudasim
def test_cuda_target_curvature_flow_of_large_float32_values_computes_in_float64(rng, on_cuda_target):
    """Regression: the CUDA kernel's voxels were made float64 by ``+ 0.0``, which Numba types as
    float64 but the simulator's NumPy scalars keep as float32, so squared gradients of values near
    1e35 overflowed there (every voxel NaN) while the compiled targets were right. The flow scales
    with the image: SimpleITK's result of the image, times 2**110 (exact)."""
    image = random_image(rng, (5, 6, 7), np.float32)
    got = gpuimg.to_numpy(curvature_flow(on_cuda_target(np.ldexp(image, 110)), iterations=2))
    want = simpleitk_curvature_flow(image, 2, 0.05, (1.0, 1.0, 1.0))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(np.ldexp(got, -110), want, rtol=0, atol=atol(image, np.float32) * 10)


# --- anisotropic diffusion -----------------------------------------------------------------------


def simpleitk_diffusion(image, iterations, time_step, conductance, spacing, method="gradient"):
    sitk = pytest.importorskip("SimpleITK")
    itk_image = sitk.GetImageFromArray(image)
    itk_image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    diffuse = {
        "gradient": sitk.GradientAnisotropicDiffusion,
        "curvature": sitk.CurvatureAnisotropicDiffusion,
    }[method]
    diffused = diffuse(
        itk_image, timeStep=time_step, conductanceParameter=conductance, numberOfIterations=iterations
    )
    return sitk.GetArrayFromImage(diffused)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 10, 12), (14, 15)])
def test_gradient_diffusion_equals_simpleitk(rng, dtype, shape):
    """Same differences, conductance and scaling; float32 rounds once per step as ITK does."""
    image = random_image(rng, shape, dtype)
    spacing = (2.0, 0.8, 0.7)[-len(shape) :]
    got = anisotropic_diffusion(image, iterations=4, time_step=0.03, conductance=2.0, spacing=spacing)
    assert got.dtype == dtype
    want = simpleitk_diffusion(image, 4, 0.03, 2.0, spacing)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, dtype) * 10)
    assert np.abs(want - image).max() > 10  # it did smooth


def test_gradient_diffusion_of_a_real_ct_equals_simpleitk(ct):
    image, spacing = ct
    got = anisotropic_diffusion(gpuimg.Volume(image, spacing=spacing), iterations=3, time_step=0.05)
    assert got.data.dtype == np.float32
    want = simpleitk_diffusion(image.astype(np.float32), 3, 0.05, 3.0, spacing)
    np.testing.assert_allclose(got.data, want, rtol=0, atol=atol(image, np.float32) * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 10, 12), (14, 15)])
def test_curvature_diffusion_equals_simpleitk(rng, dtype, shape):
    """Same half-differences, conductance, scaling and upwind term as ITK's
    CurvatureNDAnisotropicDiffusionFunction. ITK rounds its differences, the update and the step
    to float32 (we round only the step): a few float32 roundings of max|image| per step, so the
    gradient variant's tolerance; seen: 4e-8 max|image| in float32, 3e-16 in float64."""
    image = random_image(rng, shape, dtype)
    spacing = (2.0, 0.8, 0.7)[-len(shape) :]
    got = anisotropic_diffusion(
        image, iterations=4, time_step=0.03, conductance=2.0, spacing=spacing, method="curvature"
    )
    assert got.dtype == dtype
    want = simpleitk_diffusion(image, 4, 0.03, 2.0, spacing, method="curvature")
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, dtype) * 10)
    assert np.abs(want - image).max() > 10  # it did smooth
    gradient = simpleitk_diffusion(image, 4, 0.03, 2.0, spacing)
    assert np.abs(gradient - want).max() > 1  # and is not the gradient variant


def test_curvature_diffusion_of_a_real_ct_equals_simpleitk(ct):
    """Hounsfield units up to ~1000 with sharp tissue edges, spacing 5 x 0.57 x 0.57 mm, a time step
    under ITK's stability limit (0.036 here); tolerance as above (seen: 6e-8 max|image|)."""
    image, spacing = ct
    got = anisotropic_diffusion(
        gpuimg.Volume(image, spacing=spacing), iterations=3, time_step=0.03, method="curvature"
    )
    assert got.data.dtype == np.float32
    want = simpleitk_diffusion(image.astype(np.float32), 3, 0.03, 3.0, spacing, method="curvature")
    np.testing.assert_allclose(got.data, want, rtol=0, atol=atol(image, np.float32) * 10)


@pytest.mark.parametrize("method", ["gradient", "curvature"])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.4, 0.4)])
def test_diffusion_defaults_are_simpleitks_and_smooth_noise(rng, method, spacing):
    """Each method's default time step is its SimpleITK filter's (0.125 gradient, 0.0625 curvature).
    Regression: "curvature" took 0.125, where in 3D it amplified the noise (standard deviation 10 to
    12 in 5 steps, to 940 at 0.4 mm spacing) instead of smoothing it."""
    sitk = pytest.importorskip("SimpleITK")
    noisy = rng.normal(0.0, 10.0, (8, 32, 32)).astype(np.float32)
    if spacing == (1.0, 1.0, 1.0):
        got = anisotropic_diffusion(noisy, method=method, spacing=spacing)
    else:  # 0.4 mm pixels: the defaults are above the stable steps (0.093 "gradient", 0.025 "curvature")
        with pytest.warns(UserWarning, match="time_step=0.0625|time_step=0.125"):
            got = anisotropic_diffusion(noisy, method=method, spacing=spacing)
    itk_image = sitk.GetImageFromArray(noisy)
    itk_image.SetSpacing(spacing[::-1])
    diffuse = {"gradient": sitk.GradientAnisotropicDiffusion, "curvature": sitk.CurvatureAnisotropicDiffusion}
    want = sitk.GetArrayFromImage(diffuse[method](itk_image))  # SimpleITK's defaults throughout
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(noisy, np.float32) * 10)
    assert got.std() < 0.6 * noisy.std()  # seen: 0.18 to 0.42 of it


@pytest.mark.parametrize("method", ["gradient", "curvature"])
def test_diffusion_step_scaled_by_the_spacing_gives_the_unit_spacing_result(rng, method):
    """As the docstring advises for pixels under 0.35 mm: spacing 0.3 mm with time_step * 0.3 is
    SimpleITK's result at spacing 1 with time_step (its update divides by the spacing once)."""
    noisy = rng.normal(0.0, 10.0, (8, 32, 32)).astype(np.float32)
    step = {"gradient": 0.125, "curvature": 0.0625}[method]
    got = anisotropic_diffusion(noisy, method=method, spacing=0.3, time_step=step * 0.3)
    want = simpleitk_diffusion(noisy, 5, step, 3.0, (1.0, 1.0, 1.0), method)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(noisy, np.float32) * 10)
    assert got.std() < 0.6 * noisy.std()


@pytest.mark.parametrize("method", ["gradient", "curvature"])
def test_diffusion_leaves_a_flat_image_as_it_is(method):
    """K = 0 there (no gradient anywhere): both equations stand still, as in ITK (no 0/0)."""
    flat = np.full((5, 6, 7), -1000.0, np.float32)
    got = anisotropic_diffusion(flat, method=method)
    np.testing.assert_array_equal(got, flat)
    np.testing.assert_array_equal(got, simpleitk_diffusion(flat, 5, 0.125, 3.0, (1.0, 1.0, 1.0), method))


@pytest.mark.parametrize("method", ["gradient", "curvature"])
def test_diffusion_dask_equals_whole_volume(rng, method):
    da = pytest.importorskip("dask.array")
    image = random_image(rng, (10, 11, 12), np.float64)
    lazy = da.from_array(image, chunks=((4, 6), (11,), (5, 7)))
    run = partial(anisotropic_diffusion, iterations=2, time_step=0.05, spacing=(2.0, 1.0, 1.0), method=method)
    np.testing.assert_array_equal(run(lazy).compute(), run(image))


@pytest.mark.parametrize("method", ["gradient", "curvature"])
@pytest.mark.parametrize(("shape", "value"), [((6, 7, 8), np.nan), ((9, 10), np.inf), ((6, 7, 8), -np.inf)])
def test_diffusion_refuses_nan_and_inf_which_make_every_voxel_nan(rng, method, shape, value):
    """One NaN or inf voxel makes the mean squared gradient, so SimpleITK's whole result, NaN: refused,
    with the count (regression: all 336 voxels of a 6 x 7 x 8 image came back NaN, no error)."""
    image = random_image(rng, shape, np.float32)
    image[(2,) * len(shape)] = value
    image[(3,) * len(shape)] = np.nan
    with np.errstate(invalid="ignore"):
        assert np.isnan(simpleitk_diffusion(image, 1, 0.05, 3.0, (1.0,) * len(shape), method)).all()
    run = partial(anisotropic_diffusion, iterations=1, time_step=0.05, method=method)
    message = "the image holds 2 NaN or infinite voxel"
    with pytest.raises(gpuimg.ParameterError, match=message):
        run(image)
    da = pytest.importorskip("dask.array")
    lazy = run(da.from_array(image, chunks=3))  # gathered into one chunk: refused when computed
    with pytest.raises(gpuimg.ParameterError, match=message):
        lazy.compute()


def _checkerboard(rng, shape):
    """+-1 alternating voxel to voxel, plus a little noise: the mode an unstable explicit step grows."""
    return np.where(np.indices(shape).sum(axis=0) % 2, 1.0, -1.0) + 0.01 * rng.standard_normal(shape)


@pytest.mark.parametrize("method", ["gradient", "curvature"])
@pytest.mark.parametrize(
    "spacing", [(1.0, 1.0), (0.7, 0.5), (1.0, 1.0, 1.0), (2.0, 1.0, 0.5), (3.0, 0.7, 0.7)]
)
def test_diffusion_warns_above_the_stable_time_step(rng, method, spacing):
    """Regression: a time step beyond the explicit scheme's stability bound ran silently, the image
    growing without bound. The bounds: Perona-Malik's ("gradient", conductances at most 1, the update
    a difference per mm once) keeps each voxel within its neighbours' range while
    time_step * sum_i 2 / spacing[i] <= 1 (1/4 in 2D, 1/6 in 3D at 1 mm); "curvature", ITK's
    min(spacing) / 2 ** (ndim + 1). Below the bound a checkerboard (conductance ~1) stays within its
    range and nothing warns; 1.3 times above it the call warns, at the caller, naming time_step and
    the bound, and the checkerboard grows (for "curvature" on the anisotropic grids from about 2 times
    ITK's bound, which takes the smallest spacing for all axes)."""
    ndim = len(spacing)
    if method == "gradient":
        bound = 1.0 / (2.0 * sum(1.0 / d for d in spacing))
    else:
        bound = min(spacing) / 2.0 ** (ndim + 1)
    board = _checkerboard(rng, (16,) * ndim if ndim == 2 else (8, 8, 8))
    run = partial(
        anisotropic_diffusion, board, iterations=60, conductance=1e3, method=method, spacing=spacing
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stable = run(time_step=0.98 * bound)
    assert np.abs(stable).max() <= np.abs(board).max()
    with pytest.warns(UserWarning, match=f"time_step={1.3 * bound:g} is above .*, {bound:.4g} ") as caught:
        unstable = run(time_step=1.3 * bound)
    assert caught[0].filename == __file__
    if method == "gradient" or len(set(spacing)) == 1:
        assert np.abs(unstable).max() > 10 * np.abs(board).max()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: anisotropic_diffusion(x, method="mean"), "method='mean' is unknown"),
        (lambda x: anisotropic_diffusion(x, iterations=0), "iterations=0 must be a positive whole number"),
        (lambda x: anisotropic_diffusion(x, time_step=0.0), "time_step=0.0 must be positive"),
        (lambda x: anisotropic_diffusion(x, conductance=-1.0), "conductance=-1.0 must be positive"),
        (lambda x: anisotropic_diffusion(x, spacing=(1.0, 1.0)), "one per axis (3)"),
        (
            lambda x: anisotropic_diffusion(x, method="curvature", iterations=2.5),
            "iterations=2.5 must be a positive whole number",
        ),
        (
            lambda x: anisotropic_diffusion(x, method="curvature", time_step=float("nan")),
            "time_step=nan must be positive",
        ),
        (
            lambda x: anisotropic_diffusion(x, method="curvature", conductance=0.0),
            "conductance=0.0 must be positive",
        ),
        (lambda x: anisotropic_diffusion(x[0, 0], method="curvature"), "must be 2D or 3D; got 1D"),
    ],
)
def test_diffusion_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)


@pytest.mark.cudasim
@pytest.mark.parametrize("method", ["gradient", "curvature"])
@pytest.mark.parametrize(("shape", "dtype"), [((5, 6, 7), np.float32), ((6, 7), np.float64)])
def test_cuda_target_diffusion_equals_simpleitk_and_the_cpu_target(rng, on_cuda_target, method, shape, dtype):
    """float32 checks that the simulated kernel computes in float64 as the compiled ones do. The
    targets differ only in the order of the sum of squared gradients (per row, per block)."""
    image = random_image(rng, shape, dtype)
    spacing = (1.5, 1.0, 0.8)[-len(shape) :]
    run = partial(anisotropic_diffusion, iterations=2, time_step=0.03, conductance=2.0, spacing=spacing)
    got = gpuimg.to_numpy(run(on_cuda_target(image), method=method))
    assert got.dtype == dtype
    want = simpleitk_diffusion(image, 2, 0.03, 2.0, spacing, method=method)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol(image, dtype) * 10)
    src = image.reshape((1,) * (3 - len(shape)) + shape).copy()
    cpu = diffusion_kernel.diffusion(
        src,
        np.empty_like(src),
        np.empty(diffusion_kernel.partial_size(src.shape, "cpu")),
        target="cpu",
        iterations=2,
        scale=(0.0,) * (3 - len(shape)) + tuple(1.0 / s for s in spacing),
        time_step=0.03,
        conductance=2.0,
        method={"gradient": diffusion_kernel.GRADIENT, "curvature": diffusion_kernel.CURVATURE}[method],
    )
    np.testing.assert_allclose(got, cpu.reshape(shape), rtol=0, atol=atol(image, dtype))
