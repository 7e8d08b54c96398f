"""CUDA branches that no other test ran on the (real or emulated) CUDA device, found with coverage.py over
the emulated-device tests: each against SciPy / scikit-image / scikit-learn or a plain NumPy definition."""

import importlib.util
import sys
import warnings

import numpy as np
import pytest
import scipy.ndimage
import skimage.exposure

from gpuimg import Volume, edges, ml, morphology, preprocess
from gpuimg.backend import namespace, namespaces, to_numpy
from gpuimg.errors import DeviceError, ParameterError
from gpuimg.io import stitch
from gpuimg.testing.emulated_cuda import DeviceArray


def on_device(x) -> bool:
    return isinstance(x, DeviceArray) or type(x).__module__.startswith("cupy")


def device_volume(volume: Volume, put) -> Volume:
    return Volume(put(volume.data), volume.spacing, volume.origin, volume.direction, volume.meta)


def test_stitch_on_the_device_joins_the_cut_volume(emulated_cuda, rng):
    """Stations cut from one volume (overlapping by two slices) join back into it, on the device."""
    whole = rng.random((12, 6, 5))
    spacing = (2.0, 0.8, 0.9)
    stations = [
        Volume(whole[:7], spacing, (0.0, 0.0, 0.0), np.eye(3)),
        Volume(whole[5:], spacing, (10.0, 0.0, 0.0), np.eye(3)),
    ]
    for overlap in ("mean", "first", "last"):
        joined = stitch([device_volume(s, emulated_cuda) for s in stations[::-1]], overlap)
        assert on_device(joined.data)
        np.testing.assert_allclose(to_numpy(joined.data), whole, rtol=1e-15)


def test_stitch_resampled_on_the_device_is_the_linear_interpolation(emulated_cuda, rng):
    """resample=True on the device (cupyx's affine_transform): the second station, of another pixel
    spacing and in-plane offset, sampled on the first's grid equals scipy.ndimage.map_coordinates
    (linear, nearest past the edge) at its continuous indices, where no station overlaps it."""
    first = Volume(rng.random((6, 9, 8)), (2.0, 0.8, 0.9), (0.0, 0.0, 0.0), np.eye(3))
    second = Volume(rng.random((6, 8, 5)), (2.0, 1.1, 1.6), (12.0, 0.3, -0.2), np.eye(3))
    joined = stitch(
        [device_volume(first, emulated_cuda), device_volume(second, emulated_cuda)], resample=True
    )
    assert on_device(joined.data) and joined.meta["resampled"] == [1]
    data = to_numpy(joined.data)
    np.testing.assert_allclose(data[:6], first.data, rtol=1e-15)
    # Rows and columns of the first grid, in the second's continuous indices (axes aligned: 1-D maps).
    rows = (np.arange(9) * 0.8 - 0.3) / 1.1
    cols = (np.arange(8) * 0.9 + 0.2) / 1.6
    covered = (rows >= -0.5) & (rows <= 8 - 0.5)
    for k in range(6):
        r, c = np.meshgrid(rows, cols, indexing="ij")
        expected = scipy.ndimage.map_coordinates(second.data[k], [r, c], order=1, mode="nearest")
        keep = covered[:, None] & ((cols >= -0.5) & (cols <= 5 - 0.5))[None, :]
        np.testing.assert_allclose(data[6 + k][keep], expected[keep], rtol=1e-12)


def test_stitch_of_stations_on_two_devices_names_the_station(emulated_cuda, rng):
    whole = rng.random((12, 6, 5))
    first = Volume(whole[:7], (2.0, 0.8, 0.9), (0.0, 0.0, 0.0), np.eye(3))
    second = Volume(emulated_cuda(whole[5:]), (2.0, 0.8, 0.9), (10.0, 0.0, 0.0), np.eye(3))
    with pytest.raises(ParameterError, match="Station 1 is on cuda, station 0 on cpu"):
        stitch([first, second])


def test_voxel_features_of_a_line_on_the_device(emulated_cuda, rng):
    """An image with one axis of more than one voxel: its Hessian eigenvalues are the second difference
    of the Gaussian-smoothed profile (np.gradient twice of scipy's gaussian_filter1d) and 0."""
    image = rng.random((1, 30)).astype(np.float32)
    found = ml.voxel_features(emulated_cuda(image), sigmas=(1.5,))
    assert on_device(found)
    found = to_numpy(found)
    assert found.shape == (30, 1 + 3 + 2) and found.dtype == np.float32
    profile = scipy.ndimage.gaussian_filter1d(image[0], 1.5, mode="reflect")
    second = np.gradient(np.gradient(profile))
    np.testing.assert_allclose(found[:, 0], image[0])
    np.testing.assert_allclose(found[:, 1], profile, rtol=1e-5, atol=1e-6)
    eigen = np.sort(found[:, 4:6], axis=1)
    expected = np.sort(np.column_stack([second, np.zeros_like(second)]), axis=1)
    np.testing.assert_allclose(eigen, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_fill_holes_slice_by_slice_on_the_device(emulated_cuda, rng, axis):
    mask = rng.random((6, 9, 10)) > 0.45
    found = morphology.fill_holes(emulated_cuda(mask), slice_by_slice=True, axis=axis)
    assert on_device(found)
    slices = [scipy.ndimage.binary_fill_holes(s) for s in np.moveaxis(mask, axis, 0)]
    np.testing.assert_array_equal(to_numpy(found), np.moveaxis(np.stack(slices), 0, axis))


@pytest.mark.parametrize("size", [3, 5])
def test_median_filter_of_a_line_on_the_device(emulated_cuda, rng, size):
    """A 1-D image: SciPy's N-D median of it as one row (SciPy's own 1-D path reads past short lines)."""
    line = rng.random(9).astype(np.float32)
    found = preprocess.median_filter(emulated_cuda(line), size)
    assert on_device(found) and found.dtype == np.float32
    expected = scipy.ndimage.median_filter(line[None], (1, size), mode="reflect")[0]
    np.testing.assert_array_equal(to_numpy(found), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"sampling": [0.7]},
        {"sampling": 0.7, "return_indices": True},
        {"return_distances": False, "return_indices": True},
    ],
)
def test_distance_transform_of_a_line_on_the_device(emulated_cuda, kwargs):
    """cupyx's EDT has 2D and 3D only: a 1-D line goes through it as one row, as SciPy's 1-D EDT."""
    line = np.ones(11, bool)
    line[[2, 7]] = False
    ndi = namespace(emulated_cuda(line)).ndi
    found = ndi.distance_transform_edt(emulated_cuda(line), **kwargs)
    expected = scipy.ndimage.distance_transform_edt(line, **kwargs)
    found, expected = (found, expected) if isinstance(expected, tuple) else ((found,), (expected,))
    assert len(found) == len(expected)
    for f, e in zip(found, expected, strict=True):
        assert on_device(f) and to_numpy(f).shape == e.shape
        np.testing.assert_allclose(to_numpy(f), e, rtol=1e-15)


def test_match_histogram_with_both_on_the_device(emulated_cuda, rng):
    image = rng.normal(size=(8, 9, 10)).astype(np.float32)
    reference = rng.gamma(2.0, size=(7, 9, 6)).astype(np.float32)
    found = preprocess.match_histogram(emulated_cuda(image), emulated_cuda(reference))
    assert on_device(found)
    expected = skimage.exposure.match_histograms(image, reference)
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-5, atol=1e-6)


def test_zero_crossing_canny_with_quantiles_on_the_device(emulated_cuda, rng):
    """The quantiles are of sqrt(|grad L|^2 + 1e-4) from central differences of the smoothed image
    (np.gradient's interior, nearest past the edge); edges taken with those thresholds as numbers."""
    volume = np.zeros((12, 14, 16), np.float32)
    volume[3:9, 4:10, 5:12] = 1.0
    volume += 0.05 * rng.random(volume.shape).astype(np.float32)
    found = edges.canny(emulated_cuda(volume), 1.0, 0.5, 0.8, use_quantiles=True, method="zero_crossing")
    assert on_device(found)
    smoothed = scipy.ndimage.gaussian_filter(volume, 1.0, mode="constant")
    padded = np.pad(smoothed, 1, mode="edge")
    magnitude = np.sqrt(sum(g[1:-1, 1:-1, 1:-1] ** 2 for g in np.gradient(padded)) + 1e-4)
    low, high = np.percentile(magnitude, [50.0, 80.0])
    expected = edges.canny(volume, 1.0, float(low), float(high), method="zero_crossing")
    np.testing.assert_array_equal(to_numpy(found), expected)


@pytest.fixture
def fresh_cuda_namespace():
    namespaces._cuda.cache_clear()
    yield
    namespaces._cuda.cache_clear()


def test_without_cucim_an_operation_needing_it_names_the_extra(
    emulated_cuda, monkeypatch, fresh_cuda_namespace
):
    monkeypatch.setitem(sys.modules, "cucim.skimage", None)
    ns = namespace(emulated_cuda(np.zeros(3)))
    with pytest.raises(DeviceError, match=r"needs cuCIM on the GPU.*pip install -e '\.\[cuda13\]'"):
        ns.ski  # noqa: B018


def test_without_cuml_a_model_fits_scikit_learn_on_a_host_copy(
    emulated_cuda, monkeypatch, fresh_cuda_namespace, rng
):
    """No cuML: the namespace has no ``ml`` and k-means is scikit-learn's, fitted on one explicit host
    copy with a warning, its labels back on the device."""
    import sklearn.cluster

    monkeypatch.setitem(sys.modules, "cuml", None)
    X = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(8, 1, (20, 3))])
    assert namespace(emulated_cuda(X)).ml is None
    model = ml.make_estimator("kmeans", "clustering", n_clusters=2, n_init=3, random_state=0)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        labels = model.fit(emulated_cuda(X)).predict(emulated_cuda(X))
    assert model.library_ == "sklearn" and on_device(labels)
    expected = sklearn.cluster.KMeans(n_clusters=2, n_init=3, random_state=0).fit(X).predict(X)
    np.testing.assert_array_equal(to_numpy(labels), expected)


def test_without_cuml_host_sample_weights_stay_on_the_host(
    emulated_cuda, monkeypatch, fresh_cuda_namespace, rng
):
    """The host copy's fit reads X back from the device; host weights went to the device with X, were
    checked there and came back (4 reads instead of 2). Weighted, the fit equals scikit-learn's k-means
    with the same weights."""
    import sklearn.cluster

    from gpuimg.testing.emulated_cuda import SYNCS

    monkeypatch.setitem(sys.modules, "cuml", None)
    X = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(8, 1, (20, 3))])
    w = rng.integers(1, 4, 40).astype(np.float64)
    params = {"n_clusters": 2, "n_init": 3, "random_state": 0}
    device_X = emulated_cuda(X)
    counts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the host copy's warning
        for weights in (None, w):
            model = ml.make_estimator("kmeans", "clustering", **params)
            before = SYNCS.count
            model.fit(device_X, sample_weight=weights)
            counts.append(SYNCS.count - before)
    assert model.route_ == "host_copy" and counts[1] == counts[0]
    expected = sklearn.cluster.KMeans(**params).fit(X, sample_weight=w).cluster_centers_
    np.testing.assert_array_equal(model.estimator_.cluster_centers_, expected)


def test_several_gpus_without_dask_cuda_is_a_device_error(emulated_cuda):
    """The emulated device shows two GPUs: a cohort run on CUDA asks for dask-cuda, which is not there."""
    if importlib.util.find_spec("dask_cuda") is not None:
        pytest.skip("dask-cuda is installed")
    from gpuimg.cohort import _dask

    if _dask._gpu_count() < 2:
        pytest.skip("fewer than two GPUs")
    with pytest.raises(DeviceError, match="several GPUs are visible but dask-cuda is not installed"):
        _dask._local_cluster(2, "cuda")


def test_warmup_on_the_device_runs_each_task_once_per_dtype(emulated_cuda):
    """On CUDA each task runs on the device array only (the read-only rerun is the CPU's: Numba types a
    read-only NumPy array apart): one step per task of the families and dtype, in that order."""
    from gpuimg.kernels.warmup import TASKS, warmup

    families, dtypes = {"labels", "gradient"}, ["uint8", "float64"]
    steps = warmup(families, dtypes, devices=("cuda",), progress=False)
    tasks = [task.name for task in TASKS if families & set(task.families)]
    assert len(tasks) >= 2
    assert [step[:3] for step in steps] == [(task, dtype, "cuda") for task in tasks for dtype in dtypes]


@pytest.mark.parametrize("order", [1, 2])
def test_gaussian_derivatives_with_anisotropic_spacing_on_the_device(emulated_cuda, rng, order):
    """Per-axis Gaussian derivatives divided by spacing[a] ** order (scipy.ndimage.gaussian_filter with
    that axis's order): the gradient magnitude's root sum of squares, the LoG's sum."""
    image = rng.random((8, 9, 10)).astype(np.float32)
    spacing = (2.0, 1.0, 0.5)
    operation = edges.gaussian_gradient_magnitude if order == 1 else edges.log
    found = operation(emulated_cuda(image), 1.2, spacing=spacing)
    assert on_device(found) and found.dtype == np.float32
    terms = [
        scipy.ndimage.gaussian_filter(
            image.astype(np.float64), 1.2, order=[order * (a == axis) for a in range(3)]
        )
        / spacing[axis] ** order
        for axis in range(3)
    ]
    expected = np.sqrt(sum(t * t for t in terms)) if order == 1 else sum(terms)
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "cubic"])
def test_feature_extraction_on_a_new_grid_on_the_device(emulated_cuda, rng, interpolation):
    """IBSI interpolation to new_spacing on the device (cupyx's affine_transform with a diagonal matrix,
    whose offset cupyx divides by it): every feature equals the CPU path's (SciPy's affine_transform),
    which tests/features holds to the IBSI reference values."""
    import gpuimg
    from gpuimg import features
    from gpuimg.features.settings import Settings

    image = rng.normal(50, 10, (8, 10, 10))
    mask = np.zeros(image.shape, dtype=bool)
    mask[2:6, 2:8, 2:8] = True
    volume = gpuimg.Volume(image, (2.0, 1.0, 1.0))
    settings = Settings(new_spacing=(1.5, 1.5, 1.5), interpolation=interpolation)
    on_cpu = features.extract(volume, mask, settings=settings)
    on_gpu = features.extract(gpuimg.to_device(volume, "cuda"), emulated_cuda(mask), settings=settings)
    assert on_cpu.keys() == on_gpu.keys()
    for key, value in on_cpu.items():
        assert on_gpu[key] == pytest.approx(value, rel=1e-6, abs=1e-9, nan_ok=True), key


def test_without_cuml_kmeans_scores_on_the_host_copy(emulated_cuda, monkeypatch, fresh_cuda_namespace, rng):
    """KMeans' score (the opposite of the weighted inertia) of device input, fitted by scikit-learn on
    the host copy: scored there with explicit copies, equal to scikit-learn's."""
    import sklearn.cluster

    monkeypatch.setitem(sys.modules, "cuml", None)
    X = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(8, 1, (20, 3))])
    w = rng.integers(1, 4, 40).astype(np.float64)
    params = {"n_clusters": 2, "n_init": 3, "random_state": 0}
    model = ml.make_estimator("kmeans", "clustering", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the host copy's warning
        model.fit(emulated_cuda(X), sample_weight=w)
    assert model.route_ == "host_copy"
    expected = sklearn.cluster.KMeans(**params).fit(X, sample_weight=w)
    assert model.score(emulated_cuda(X)) == pytest.approx(expected.score(X), rel=1e-12)
    assert model.score(emulated_cuda(X), sample_weight=emulated_cuda(w)) == pytest.approx(
        expected.score(X, sample_weight=w), rel=1e-12
    )


def test_morphology_refuses_nan_in_the_roi_on_the_device(emulated_cuda, rng):
    # The morphological mask's NaN image voxels travel in morphology's one host read of the masks:
    # refused on the device with extract's error (the CPU's), and a NaN outside the mask gives the
    # CPU's features.
    from gpuimg.errors import FeatureError
    from gpuimg.features import morphology as morphology_features

    z, y, x = np.mgrid[-6:7, -6:7, -6:7]
    ball = x**2 + y**2 + z**2 <= 16
    image = 100.0 - (x**2 + y**2 + z**2) + rng.normal(0.0, 5.0, ball.shape)
    image[6, 6, 9] = np.nan  # inside the ball
    with pytest.raises(FeatureError) as on_cpu:
        morphology_features(image, ball, ball, (1.0, 1.0, 1.0))
    on = [emulated_cuda(ball), emulated_cuda(ball), (1.0, 1.0, 1.0)]
    with pytest.raises(FeatureError) as on_device:
        morphology_features(emulated_cuda(image), *on)
    assert str(on_device.value) == str(on_cpu.value)
    assert "1 voxel(s) that are NaN or infinite" in str(on_cpu.value)
    image[6, 6, 9], image[0, 0, 0] = 90.0, np.nan  # outside the ball
    expected = morphology_features(image, ball, ball, (1.0, 1.0, 1.0))
    found = morphology_features(emulated_cuda(image), *on)
    assert found.keys() == expected.keys()
    # NumPy's FFT and the emulated cuFFT (NumPy's here) round alike; the rest is the same float64 arithmetic.
    np.testing.assert_allclose([found[k] for k in expected], list(expected.values()), rtol=1e-10)
