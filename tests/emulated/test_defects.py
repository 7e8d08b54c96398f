"""Regression tests of the CUDA-path defects of issue 13, each on the CUDA device (emulated without a
GPU), each compared with the CPU result or with scikit-learn."""

import importlib

import numpy as np
import pytest
import scipy.ndimage
import sklearn.metrics

from gpuimg import contours, edges, ml, morphology, preprocess
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import ParameterError
from gpuimg.ml import _calibration, _histogram_clustering
from gpuimg.testing.emulated_cuda import MEMORY, SYNCS, DeviceArray, emulator


def test_marching_cubes_with_a_device_mask(emulated_cuda, rng):
    """Defect 1: the mask's dtype was read through an eager np.asarray default."""
    volume = rng.random((6, 7, 8)).astype(np.float32)
    mask = np.zeros(volume.shape, dtype=bool)
    mask[1:5, 1:6, 1:7] = True
    expected = contours.marching_cubes(volume, 0.5, mask=mask)[0]
    found = contours.marching_cubes(emulated_cuda(volume), 0.5, mask=emulated_cuda(mask))[0]
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-6)


def test_iso_level_given_as_the_mean_of_a_device_volume(emulated_cuda, rng):
    """marching_cubes(volume, volume.mean()) was a ParameterError 'must be a finite number' on the GPU:
    the mean of a CuPy array is a 0-d device array (of a NumPy array, a NumPy scalar)."""
    import skimage.measure

    volume = rng.random((6, 7, 8)).astype(np.float32)
    on_device = emulated_cuda(volume)
    level = float(volume.mean())
    expected = skimage.measure.marching_cubes(volume, level)[0]
    np.testing.assert_allclose(
        to_numpy(contours.marching_cubes(on_device, on_device.mean())[0]), expected, rtol=1e-5
    )
    expected = skimage.measure.find_contours(volume[2], float(volume[2].mean()))
    found = contours.find_contours(on_device[2], on_device[2].mean())
    assert len(found) == len(expected)
    for a, b in zip(found, expected, strict=True):
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-5, atol=1e-6)


def test_sizes_given_as_device_arrays(emulated_cuda, rng):
    """gaussian_filter(image, sigma) with sigma a 0-d or 1-D device array (computed on the GPU) and
    median_filter with such a size were CuPy's bare TypeError refusing an implicit copy: the per-axis
    values were read by np.asarray."""
    image = rng.random((5, 6, 7)).astype(np.float32)
    on_device = emulated_cuda(image)
    for sigma in (np.float64(1.5), np.array([1.0, 0.5, 2.0])):
        found = preprocess.gaussian_filter(on_device, emulated_cuda(sigma))
        # SciPy on the same float32 values: the same filter up to float32 rounding.
        np.testing.assert_allclose(
            to_numpy(found), scipy.ndimage.gaussian_filter(image, sigma), rtol=1e-5, atol=1e-6
        )
    for size in (np.int64(3), np.array([1, 3, 3])):
        found = preprocess.median_filter(on_device, emulated_cuda(size))
        np.testing.assert_array_equal(
            to_numpy(found), scipy.ndimage.median_filter(image, size, mode="reflect")
        )


def test_canny_quantile_thresholds_on_the_device(emulated_cuda, rng):
    """Defect 2: the quantile threshold is a 0-d device array, which np.float32() cannot take."""
    image = rng.random((16, 18)).astype(np.float32)
    expected = edges.canny(image, 1.0, 0.2, 0.6, use_quantiles=True)
    found = edges.canny(emulated_cuda(image), 1.0, 0.2, 0.6, use_quantiles=True)
    np.testing.assert_array_equal(to_numpy(found), expected)


def _two_classes(rng, n=60):
    X = rng.standard_normal((n, 3))
    y = (X[:, 0] + 0.3 * rng.standard_normal(n) > 0).astype(np.int64)
    return X, y


def test_svm_probabilities_with_host_labels(emulated_cuda, rng):
    """Defect 3: host labels were indexed by device fold masks in the Platt calibration."""
    X, y = _two_classes(rng)
    model = ml.make_estimator("svm", probability=True, random_state=0).fit(emulated_cuda(X), y)
    proba = to_numpy(model.predict_proba(emulated_cuda(X)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # Platt's sigmoid is increasing in the decision value: the probabilities rank as it does.
    assert sklearn.metrics.roc_auc_score(y, proba[:, 1]) > 0.8


def test_patient_split_indices_index_host_labels(emulated_cuda, rng):
    """Defect 4: the indices lived on X's device, and host y / groups cannot be indexed by them."""
    X, y = _two_classes(rng)
    groups = np.repeat(np.arange(20), 3)
    train, test = ml.patient_split(emulated_cuda(X), y, groups, test_size=0.25, random_state=0)
    assert not set(groups[train]) & set(groups[test])
    np.testing.assert_array_equal(to_numpy(emulated_cuda(X)[train]), X[train])
    assert len(y[train]) + len(y[test]) == len(y)


def test_metrics_of_host_truth_and_device_predictions(emulated_cuda, rng):
    """Defect 5: accuracy(host, device) and dice(host, device) raised TypeError."""
    truth = rng.integers(0, 2, 50)
    predicted = rng.integers(0, 2, 50)
    assert ml.accuracy(truth, emulated_cuda(predicted)) == pytest.approx(
        sklearn.metrics.accuracy_score(truth, predicted)
    )
    a, b = truth.astype(bool), predicted.astype(bool)
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())  # the definition
    assert ml.dice(a, emulated_cuda(b)) == pytest.approx(dice)
    assert ml.dice(emulated_cuda(a), b) == pytest.approx(dice)


@pytest.mark.parametrize(
    ("name", "task", "params"),
    [
        ("random_forest", "regression", {"criterion": "squared_error", "n_estimators": 5}),
        ("random_forest", "classification", {"criterion": "log_loss", "n_estimators": 5}),
        ("logistic_regression", "classification", {"solver": "lbfgs"}),
        ("ridge", "regression", {"solver": "cholesky"}),
        ("pca", "decomposition", {"n_components": 2, "svd_solver": "covariance_eigh"}),
        ("dbscan", "clustering", {"algorithm": "kd_tree"}),
    ],
)
def test_scikit_learn_values_reach_cuml_translated(name, task, params, emulated_cuda, rng):
    """Defect 8: scikit-learn values passed through to cuML, which rejects them."""
    X, y = _two_classes(rng)
    target = None if task in ("decomposition", "clustering") else y
    model = ml.make_estimator(name, task, **params).fit(emulated_cuda(X), target)
    assert model.library_ == "cuml"
    reference = ml.make_estimator(name, task, **params).fit(X, target)
    if task == "decomposition":
        np.testing.assert_allclose(
            np.abs(to_numpy(model.transform(emulated_cuda(X)))), np.abs(reference.transform(X)), atol=1e-8
        )
    elif task == "clustering":
        np.testing.assert_array_equal(to_numpy(model.fit_predict(emulated_cuda(X))), reference.fit_predict(X))
    elif name != "random_forest":  # the forests draw their own random trees
        np.testing.assert_allclose(to_numpy(model.predict(emulated_cuda(X))), reference.predict(X), atol=1e-6)


def test_friedman_mse_has_no_cuml_equivalent(emulated_cuda, rng):
    X, y = _two_classes(rng)
    with pytest.raises(ParameterError, match="friedman_mse"):
        ml.make_estimator("random_forest", "regression", criterion="friedman_mse").fit(emulated_cuda(X), y)


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, **kw: preprocess.gaussian_filter(a, 1.0, **kw),
        lambda a, **kw: preprocess.mean_filter(a, 3, **kw),
        lambda a, **kw: edges.laplace(a, **kw),
        lambda a, **kw: edges.gaussian_gradient_magnitude(a, 1.0, **kw),
        lambda a, **kw: edges.canny(a, 1.0, **kw),
    ],
    ids=["gaussian_filter", "mean_filter", "laplace", "gaussian_gradient_magnitude", "canny"],
)
def test_grid_constant_mode_on_the_device(operation, emulated_cuda, rng):
    """Defect 6: cupyx's filters reject "grid-constant", which SciPy's treat as "constant"."""
    image = rng.random((6, 9, 10)).astype(np.float32)
    expected = operation(image, mode="grid-constant")
    found = operation(emulated_cuda(image), mode="grid-constant")
    np.testing.assert_allclose(to_numpy(found), expected, rtol=1e-5, atol=1e-6)


def test_distance_transform_of_a_line_on_the_device(emulated_cuda):
    """Defect 7: cupyx's distance_transform_edt has 2D and 3D only."""
    line = np.array([0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1], dtype=bool)
    expected = scipy.ndimage.distance_transform_edt(line, sampling=2.0)
    found = morphology.distance_transform(emulated_cuda(line), spacing=(2.0,))
    np.testing.assert_allclose(to_numpy(found), expected)


def test_affine_transform_coordinates_in_double_precision(emulated_cuda, rng):
    """Defect 9: cupyx's affine_transform computes its coordinates in the input's precision unless
    float64_coords=True (SciPy always in double)."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("checks the arguments the emulated device records")
    image = (1000 * rng.random((6, 7, 8))).astype(np.int16)
    preprocess.resample(emulated_cuda(image), (1.0, 1.0, 1.0), (1.3, 0.7, 1.1))
    calls = [args for name, args in emulator().calls if name.endswith(".affine_transform")]
    assert calls and all(args["float64_coords"] for args in calls)


def _syncs_of(run):
    before = SYNCS.count
    result = run()
    return SYNCS.count - before, result


def test_platt_reads_the_device_once_per_newton_step(emulated_cuda, rng):
    """Defect 13: five device reads per Newton step of the Platt sigmoid."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("counts the reads of the emulated device")
    import cupy

    f = rng.standard_normal(200)
    positive = (f + rng.standard_normal(200) > 0).astype(np.float64)
    syncs, (a, b) = _syncs_of(
        lambda: _calibration._platt(emulated_cuda(f), emulated_cuda(positive), cupy, iterations=6)
    )
    assert syncs <= 6 + 1  # one per step, and the count of positives
    assert (a, b) == pytest.approx(_calibration._platt(f, positive, np, iterations=6), rel=1e-12)


def test_lloyd_checks_convergence_every_few_steps(emulated_cuda):
    """Defect 13: one device read per Lloyd iteration."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("counts the reads of the emulated device")
    import cupy

    centres, counts = np.arange(100.0), np.ones(100)
    start = np.array([0.0, 1.0])  # far from the fixed point: many iterations
    syncs, means = _syncs_of(
        lambda: _histogram_clustering._lloyd(
            emulated_cuda(centres), emulated_cuda(counts), emulated_cuda(start), 300, cupy
        )
    )
    assert syncs <= 3
    np.testing.assert_array_equal(means.get(), _histogram_clustering._lloyd(centres, counts, start, 300, np))


def test_kernels_launch_on_cupys_current_device(emulated_cuda, monkeypatch):
    """Defect 15: a launch ran on Numba's current device (0), not CuPy's, on a multi-GPU machine."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("selects a device of the emulated CuPy")
    import cupy

    from gpuimg.kernels import registry

    cuda = registry.load_cuda()  # a launch loads it first
    monkeypatch.setattr(cuda, "gpus", {0: "numba context of GPU 0", 1: "numba context of GPU 1"})
    with cupy.cuda.Device(1):
        assert registry._cupy_device() == "numba context of GPU 1"
    assert registry._cupy_device() == "numba context of GPU 0"


def test_launches_use_every_thread_of_a_2d_image(monkeypatch):
    """Defect 12: blocks of (32, 4, 2) threads left half idle on a 2D image (one slice)."""
    from gpuimg.kernels import registry

    launches = []
    monkeypatch.setattr(registry, "launch", lambda kernel, grid, block, *args: launches.append((grid, block)))
    registry.launch_3d(None, (1, 64, 64))
    assert launches == [((2, 8, 1), (32, 8, 1))]
    for shape in [(256, 256, 256), (8, 8, 8), (1, 3, 100), (40, 2, 5)]:
        block = registry.block_3d(shape)
        assert np.prod(block) == registry.THREADS_3D  # kernels size their shared memory by it
        assert block[0] <= registry._power_of_two(shape[2])  # no thread past the end of a short row
    assert registry.block_3d((256, 256, 256)) == registry.BLOCK_3D


@pytest.mark.parametrize(
    "shape", [(1, 1, 4096), (1, 3, 100), (100, 1, 1000), (2, 2, 64), (40, 2, 5), (1, 1, 10)]
)
def test_launches_leave_no_thread_idle_past_a_short_axis(shape):
    """Label statistics' launch over one long row, (1, 1, N), got blocks of (32, 1, 8): 7 of 8 threads
    past the single slice. No axis now gets more threads than its length rounded up to a power of two,
    unless the whole volume is smaller than a block."""
    from gpuimg.kernels import registry

    block = registry.block_3d(shape)
    assert np.prod(block) == registry.THREADS_3D
    room = [registry._power_of_two(n) for n in reversed(shape)]  # x, y, z
    if np.prod(room) >= registry.THREADS_3D:
        assert all(b <= r for b, r in zip(block, room, strict=True)), (block, room)
    else:
        assert block[:2] == tuple(room[:2])  # x and y take what they can, the rest idles along z


def test_som_epochs_read_the_device_no_more(emulated_cuda, rng):
    """Defect 13: each batch epoch of the SOM read the device twice per bincount (the counts and one
    sum per feature, sized on the device); the bins are now counted into the host-known node count."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("counts the reads of the emulated device")
    X = rng.normal(size=(40, 3))
    X[20:] += 5.0
    few, _ = _syncs_of(lambda: ml.SOM((2, 2), epochs=2, random_state=0).fit(emulated_cuda(X)))
    many, som = _syncs_of(lambda: ml.SOM((2, 2), epochs=12, random_state=0).fit(emulated_cuda(X)))
    assert many == few  # no read grows with the epochs
    reference = ml.SOM((2, 2), epochs=12, random_state=0).fit(X)
    np.testing.assert_allclose(to_numpy(som.weights_), reference.weights_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("offset", [0, 10**6], ids=["small labels", "labels above the voxel count"])
def test_label_boxes_in_one_pass_without_device_sorts(offset, emulated_cuda, rng):
    """Defect 14: the boxes of extract_labels took five device sorts of the foreground voxels."""
    extract = importlib.import_module("gpuimg.features.extract")
    labels = np.zeros((5, 6, 7), dtype=np.int64)
    labels[1:3, 2:5, 1:4], labels[3:5, 0:2, 5:7], labels[0, 5, 0] = 3, 1, 7
    labels[labels > 0] += offset
    device = emulated_cuda(labels)
    values, boxes = extract._label_boxes(namespace(device).xp, device)
    objects = scipy.ndimage.find_objects(np.searchsorted(np.unique(labels), labels))
    expected = [(v, [(s.start, s.stop - 1) for s in objects[i]]) for i, v in enumerate(np.unique(labels)[1:])]
    assert list(zip(values, boxes, strict=True)) == expected
    if isinstance(device, DeviceArray):
        assert not [name for name, _ in emulator().calls if name.endswith(".sort")]


#: Reads of the device by the morphology family beyond extract's single read of all families' results:
#: both masks, packed into one byte per voxel, for the counts, boxes, mesh, convex hull and PCA.
MORPHOLOGY_READS = 1

#: Reads CuPy makes inside its own functions for one ROI with 3D texture (counted by the emulator as
#: CuPy's source makes them, gpuimg.testing._reads), that remain because each sizes a result from the
#: data: the ROI's intensities picked out by the intensity mask (chain.py), the grey levels written
#: back through it (texture.py), the GLCM entries (nonzero, glcm.py), the zone sizes present (unique,
#: glszm.py), the zones found (nonzero in kernels/zones.py, GLSZM and GLDZM). Gone (were 55): the
#: bincounts (22 calls of 2 reads: texture matrices, intensity histogram), the grey levels' unique, the
#: masks picking the histogram's non-zero bins, the P10-P90 values (twice) and the local peaks.
CUPY_READS_3D = 6
#: The same with the 2D, 2.5D and 3D approaches: per-slice zones (unique and two nonzero) besides 3D.
CUPY_READS_EVERY_APPROACH = 9


def test_extract_labels_batches_its_device_reads(emulated_cuda, rng):
    """Defect 13: extract_labels read the device about 65 times per label (three reads per bounding
    box, one per axis, three boxes per ROI), then 36; now 3 per label besides morphology's, all
    features still equal to the CPU's."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("counts the reads of the emulated device")
    from gpuimg.features import extract_labels
    from gpuimg.features.chain import roi_box

    image = rng.integers(0, 60, (8, 10, 12)).astype(np.float32)
    labels = np.zeros(image.shape, np.int32)
    labels[1:4, 1:5, 1:6], labels[4:7, 4:9, 5:11], labels[1:3, 6:9, 1:4] = 1, 2, 3
    syncs, box = _syncs_of(lambda: roi_box(emulated_cuda(labels == 2)))
    assert syncs == 1 and box == [(4, 6), (4, 8), (5, 10)]
    spacing = (2.0, 1.0, 1.0)
    syncs, found = _syncs_of(
        lambda: extract_labels(emulated_cuda(image), emulated_cuda(labels), spacing=spacing)
    )
    # Per call: the labels' range, then their sizes and boxes. Per label: the processing chain's
    # summary (counts, both masks' boxes, the intensity range), the grey levels present (with the
    # slices holding ROI voxels), every family's results at once; morphology's own reads; and the
    # reads inside CuPy's functions (was 2 + 3 * 59 with them, 55 of them CuPy's).
    assert syncs <= 2 + 3 * (3 + MORPHOLOGY_READS + CUPY_READS_3D)
    expected = extract_labels(image, labels, spacing=spacing)
    assert found.keys() == expected.keys() == {1, 2, 3}
    for value, row in expected.items():
        assert found[value].keys() == row.keys()
        # float32 sums on either path, summed in a different order on the emulated device: 1e-6 relative.
        np.testing.assert_allclose(list(found[value].values()), list(row.values()), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("texture", ["3d", "every approach, 2000 bins"])
def test_extract_reads_the_device_a_fixed_number_of_times(texture, emulated_cuda, rng):
    """Defect 13: extract read the device once or more per family, and per texture matrix batch,
    approach, aggregation and feature call (29 times for all the families but morphology on this ROI
    in 3D, 54 with every approach); now 4 times, whatever the grey levels, approaches and aggregations."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("counts the reads of the emulated device")
    from gpuimg.features import FAMILIES, Settings, extract

    image = rng.normal(0.0, 500.0, (6, 9, 11))
    mask = np.zeros(image.shape, bool)
    mask[1:5, 2:8, 1:10] = True
    mask[2, 4, 4] = False
    settings = Settings()
    if texture != "3d":
        settings = Settings(
            discretisation="fbs",
            bin_width=1.0,
            texture_approaches=("2d", "2.5d", "3d"),
            reseg_range=(-1000, 1000),
        )
    others = [name for name in FAMILIES if name != "morphology"]
    run = emulated_cuda(image), emulated_cuda(mask)
    syncs, found = _syncs_of(lambda: extract(*run, spacing=1.5, settings=settings, families=others))
    # The mask's box, the processing chain's summary, the grey levels present, all families' results;
    # and the reads inside CuPy's functions (were 55 in 3D, 66 with every approach).
    cupy_reads = CUPY_READS_3D if texture == "3d" else CUPY_READS_EVERY_APPROACH
    assert syncs <= 4 + cupy_reads
    syncs, _ = _syncs_of(lambda: extract(*run, spacing=1.5, settings=settings))
    assert syncs <= 4 + MORPHOLOGY_READS + cupy_reads
    expected = extract(image, mask, spacing=1.5, settings=settings, families=others)
    assert found.keys() == expected.keys()
    # float64 sums in a different order on the emulated device: 1e-9 relative.
    np.testing.assert_allclose(list(found.values()), list(expected.values()), rtol=1e-9, equal_nan=True)


def test_crop_to_mask_reads_the_device_once(emulated_cuda, rng):
    """crop_to_mask read the device once per axis (three times for a volume) to find the mask's box."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("counts the reads of the emulated device")
    image = rng.random((6, 7, 8)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[1:3, 2:6, 4:5] = True
    syncs, found = _syncs_of(
        lambda: preprocess.crop_to_mask(emulated_cuda(image), emulated_cuda(mask), margin=1)
    )
    assert syncs == 1
    box = scipy.ndimage.find_objects(mask.astype(np.int8))[0]
    grown = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
    np.testing.assert_array_equal(to_numpy(found), image[grown])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_crop_to_mask_leaves_out_a_float_masks_nan(device, emulated_cuda, rng):
    """crop_to_mask counted a float mask's NaN voxels in (NaN != 0), against gpuimg's one rule for
    masks (the ROI's non-zero voxels, NaN left out), so the box grew to them."""
    put = emulated_cuda if device == "cuda" else np.asarray
    image = rng.random((6, 7, 8)).astype(np.float32)
    mask = np.zeros(image.shape)
    mask[2:4, 1:3, 5:7] = 1.0
    mask[0, 6, 0] = mask[5, 0, 7] = np.nan
    found = preprocess.crop_to_mask(put(image), put(mask))
    box = scipy.ndimage.find_objects((mask == 1).astype(np.int8))[0]
    np.testing.assert_array_equal(to_numpy(found), image[box])


def _peak_bytes_of(run):
    """Bytes of device memory ``run`` holds at its peak beyond what was alive before, and its result."""
    MEMORY.reset()
    before = MEMORY.current
    result = run()
    return MEMORY.peak - before, result


def test_stitch_mean_allocates_only_the_overlaps_in_float64(emulated_cuda, rng):
    """Defect 14: overlap="mean" built float64 total and count volumes of the whole result (with
    their quotient and its rounding: over 12 times an int16 result); now the result, plus float64
    temporaries of the overlapping slices only."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("measures the memory of the emulated device")
    from gpuimg.io import stitch
    from gpuimg.volume import Volume

    a = rng.integers(-1000, 1000, (40, 16, 16)).astype(np.int16)
    b = rng.integers(-1000, 1000, (40, 16, 16)).astype(np.int16)
    stations = [emulated_cuda(a), emulated_cuda(b)]
    volumes = [Volume(s, (1.0, 1.0, 1.0), (0.0, 0.0, 38.0 * i)) for i, s in enumerate(stations)]
    peak, joined = _peak_bytes_of(lambda: stitch(volumes, "mean"))
    expected = np.concatenate([a[:38], np.rint((a[38:] + b[:2].astype(np.float64)) / 2), b[2:]]).astype(
        np.int16
    )
    np.testing.assert_array_equal(to_numpy(joined.data), expected)
    overlap_float64 = 2 * 16 * 16 * 8
    assert peak <= expected.nbytes + 4 * overlap_float64


def test_chunked_labels_copy_summaries_not_label_blocks_to_the_host(emulated_cuda, rng, monkeypatch):
    """Defect 14: label_chunks copied every chunk's labels to the host (int32: 4 bytes per voxel) to
    find the labels' first voxels, sizes and boxes there; now they are found on the device and only
    they and the chunks' faces are copied."""
    if not isinstance(emulated_cuda(np.zeros(1)), DeviceArray):
        pytest.skip("counts the transfers of the emulated device")
    import dask.array as da

    from gpuimg.backend import label_chunks

    copied = []
    get = DeviceArray.get
    monkeypatch.setattr(
        DeviceArray, "get", lambda self, *a, **k: copied.append(get(self, *a, **k)) or copied[-1]
    )
    mask = scipy.ndimage.binary_opening(rng.random((32, 32, 32)) > 0.6)
    structure = scipy.ndimage.generate_binary_structure(3, 1)
    chunks = da.from_array(emulated_cuda(mask), chunks=16, asarray=False)
    MEMORY.reset()
    before = MEMORY.current
    found = label_chunks(chunks, structure)
    peak = MEMORY.peak - before
    assert sum(c.nbytes for c in copied) < mask.size  # was 4 x mask.size
    assert peak <= 16 * 16**3 * 8  # one chunk's labels and per-axis positions at a time
    want, count = scipy.ndimage.label(mask, structure)
    assert found.count == count
    np.testing.assert_array_equal(to_numpy(found.labels.compute()), want)
    np.testing.assert_array_equal(found.sizes, np.bincount(want.ravel())[1:])
    boxes = scipy.ndimage.find_objects(want)
    np.testing.assert_array_equal(found.lows, [[s.start for s in box] for box in boxes])
    np.testing.assert_array_equal(found.highs, [[s.stop for s in box] for box in boxes])


@pytest.mark.parametrize("dtype", [">i2", ">u2", ">f4", ">f8"])
def test_to_device_of_big_endian_arrays_keeps_their_values(dtype, emulated_cuda):
    # Arrays read from big-endian files (FITS, raw NIfTI or NRRD) keep their byte order in NumPy. CuPy
    # copies their bytes and reads them in the native order (1 as '>i2' became 256): to_device put them
    # in the native order first for the array, the Volume and the Dask array's chunks alike.
    import dask.array as da

    import gpuimg

    host = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    for moved in (
        gpuimg.to_device(host, "cuda"),
        gpuimg.to_device(gpuimg.Volume(host), "cuda").data,
        gpuimg.to_device(da.from_array(host, chunks=(1, 3, 2)), "cuda").compute(),
    ):
        assert namespace(moved).device == "cuda" and moved.dtype.isnative
        np.testing.assert_array_equal(to_numpy(moved), host)
