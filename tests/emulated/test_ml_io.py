"""gpuimg.ml, gpuimg.features and gpuimg.io on the CUDA device (emulated without a GPU) against the
same calls on the CPU. cuML fits other solvers than scikit-learn, so on a real GPU the estimators
are compared through their quality, not their predictions; the emulator fits scikit-learn."""

import warnings

import numpy as np
import pytest
import sklearn.base
import sklearn.cluster
import sklearn.decomposition
import sklearn.feature_selection
import sklearn.metrics
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

import gpuimg
from gpuimg import features, ml
from gpuimg.backend import namespace, to_numpy


def _classes(rng, n=60):
    X = rng.standard_normal((n, 3))
    y = (X[:, 0] + 0.3 * rng.standard_normal(n) > 0).astype(np.int64)
    return X, y


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("svm", "classification"),
        ("decision_tree", "classification"),
        ("logistic_regression", "classification"),
        ("linear_regression", "regression"),
        ("ridge", "regression"),
        ("svr", "regression"),
    ],
)
def test_estimators_on_the_device(name, task, emulated_cuda, rng):
    X, y = _classes(rng)
    target = y if task == "classification" else X @ [1.0, -2.0, 0.5]
    model = ml.make_estimator(name, task).fit(emulated_cuda(X), emulated_cuda(target))
    predicted = model.predict(emulated_cuda(X))
    assert namespace(predicted).device == "cuda" and model.library_ == "cuml"
    score = model.score(emulated_cuda(X), emulated_cuda(target))
    reference = ml.make_estimator(name, task).fit(X, target).score(X, target)
    assert score == pytest.approx(reference, abs=0.05)  # cuML's solvers reach the same optimum


def test_float_class_labels_checked_on_the_device(emulated_cuda, rng):
    X, y = _classes(rng)
    as_float = y.astype(np.float64)
    model = ml.make_estimator("svm").fit(emulated_cuda(X), emulated_cuda(as_float))  # whole numbers: classes
    score = model.score(emulated_cuda(X), emulated_cuda(as_float))
    assert score == pytest.approx(ml.make_estimator("svm").fit(X, y).score(X, y), abs=0.05)
    for bad, message in ((np.where(y == 1, 0.5, 0.0), "continuous values"), (as_float * np.nan, "no class")):
        with pytest.raises(gpuimg.ParameterError, match=message):
            ml.make_estimator("svm").fit(emulated_cuda(X), emulated_cuda(bad))


def test_kmeans_pca_and_som_on_the_device(emulated_cuda, rng):
    X = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    labels = to_numpy(ml.make_estimator("kmeans", "clustering", n_clusters=2).fit_predict(emulated_cuda(X)))
    assert sklearn.metrics.adjusted_rand_score(labels, np.repeat([0, 1], 20)) == 1.0
    pca = ml.make_estimator("pca", "decomposition", n_components=1).fit(emulated_cuda(X))
    np.testing.assert_allclose(
        np.abs(to_numpy(pca.transform(emulated_cuda(X)))),
        np.abs(ml.make_estimator("pca", "decomposition", n_components=1).fit(X).transform(X)),
        atol=1e-8,
    )
    som = ml.SOM((2, 1), random_state=0).fit(emulated_cuda(X))
    assert (
        sklearn.metrics.adjusted_rand_score(to_numpy(som.predict(emulated_cuda(X))), np.repeat([0, 1], 20))
        == 1
    )


def test_gpuimg_ml_pca_is_scikit_learns_pca_on_either_device(emulated_cuda, rng):
    """gpuimg.ml.PCA was scikit-learn's PCA itself, which refuses CuPy input (it converts it to NumPy:
    CuPy's TypeError on an implicit copy); it is now the device-aware PCA with scikit-learn's signature."""
    X = rng.normal(size=(40, 5)) * [4.0, 2.0, 1.0, 0.5, 0.1] + [1.0, -2.0, 0.0, 3.0, 5.0]
    peer = sklearn.decomposition.PCA(n_components=3, whiten=True).fit(X)
    model = ml.PCA(n_components=3, whiten=True)
    assert sklearn.base.clone(model).get_params() == peer.get_params()
    with warnings.catch_warnings():  # no parameter cuML lacks was passed (only those given are)
        warnings.simplefilter("error", UserWarning)
        model.fit(emulated_cuda(X))
    # cuML may give a component the other sign: align them by the sign of the dot product.
    signs = np.sign(np.sum(to_numpy(model.components_) * peer.components_, axis=1))
    # float64 throughout; 1e-7 leaves room for cuML's eigensolver of the covariance on a real GPU.
    np.testing.assert_allclose(to_numpy(model.components_) * signs[:, None], peer.components_, atol=1e-7)
    for attribute in ("explained_variance_", "explained_variance_ratio_", "singular_values_", "mean_"):
        value = getattr(model, attribute)
        assert namespace(value).device == "cuda"
        np.testing.assert_allclose(to_numpy(value), getattr(peer, attribute), rtol=1e-7, atol=1e-12)
    assert model.n_components_ == peer.n_components_ == 3
    projected = model.transform(emulated_cuda(X))
    assert namespace(projected).device == "cuda"
    np.testing.assert_allclose(to_numpy(projected) * signs, peer.transform(X), atol=1e-7)
    back = model.inverse_transform(projected)
    assert namespace(back).device == "cuda"
    np.testing.assert_allclose(to_numpy(back), peer.inverse_transform(peer.transform(X)), atol=1e-7)
    # The same class on NumPy input: scikit-learn's computation.
    np.testing.assert_allclose(
        ml.PCA(n_components=3).fit_transform(X), sklearn.decomposition.PCA(3).fit_transform(X)
    )


def test_roc_auc_of_several_classes_and_confusion_matrix_labels_on_the_device(emulated_cuda, rng):
    y = rng.integers(0, 3, 90)
    proba = rng.random((90, 3))
    proba[np.arange(90), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    for multi_class in ("ovr", "ovo"):
        assert ml.roc_auc(emulated_cuda(y), emulated_cuda(proba), multi_class=multi_class) == pytest.approx(
            sklearn.metrics.roc_auc_score(y, proba, multi_class=multi_class), abs=1e-12
        )
    with pytest.raises(gpuimg.ParameterError, match="none of labels"):  # scikit-learn: ValueError
        ml.confusion_matrix(emulated_cuda(y), emulated_cuda(y), labels=[7, 8])


def test_selection_and_metrics_on_the_device(emulated_cuda, rng):
    X, y = _classes(rng)
    X = np.column_stack([X, X[:, 0] * 2.0])  # a feature perfectly correlated with the first
    kept = ml.CorrelationFilter(0.95).fit_transform(emulated_cuda(X))
    assert kept.shape == (60, 3) and namespace(kept).device == "cuda"
    variance = ml.VarianceThreshold(0.5).fit(emulated_cuda(X)).transform(emulated_cuda(X))
    np.testing.assert_array_equal(
        to_numpy(variance), sklearn.feature_selection.VarianceThreshold(0.5).fit_transform(X)
    )
    X[::3, 1] = np.nan  # a feature undefined for some samples: left out of its variance, passed on
    variance = ml.VarianceThreshold().fit(emulated_cuda(X)).transform(emulated_cuda(X))
    np.testing.assert_array_equal(
        to_numpy(variance), sklearn.feature_selection.VarianceThreshold().fit_transform(X)
    )
    scores = rng.random(60)
    assert ml.roc_auc(emulated_cuda(y), emulated_cuda(scores)) == pytest.approx(
        sklearn.metrics.roc_auc_score(y, scores)
    )
    np.testing.assert_array_equal(
        to_numpy(ml.confusion_matrix(emulated_cuda(y), emulated_cuda(1 - y))),
        sklearn.metrics.confusion_matrix(y, 1 - y),
    )


def test_silhouette_in_blocks_on_the_device(emulated_cuda, rng, monkeypatch):
    # The blocks of distances (in place, their diagonal zeroed by index) on the device: 7 rows each.
    monkeypatch.setattr(ml._clustering_metrics, "_BLOCK_BYTES", 7 * 8 * 60)
    X, y = _classes(rng)
    score = ml.silhouette(emulated_cuda(X), emulated_cuda(y))
    assert score == pytest.approx(sklearn.metrics.silhouette_score(X, y), rel=1e-9)  # rounding only


def test_voxel_segmentation_on_the_device(emulated_cuda, rng):
    image = np.where(np.indices((6, 8, 8))[2] < 4, 10.0, 100.0) + rng.normal(0, 1, (6, 8, 8))
    labels = ml.segment_kmeans(emulated_cuda(image), 2)
    np.testing.assert_array_equal(to_numpy(labels), ml.segment_kmeans(image, 2))
    np.testing.assert_allclose(
        to_numpy(ml.voxel_features(emulated_cuda(image), (1.0,))), ml.voxel_features(image, (1.0,)), atol=1e-6
    )
    # A single slice (the Hessian's eigenvalue across it is 0) and a uint8 mask, as on the host.
    np.testing.assert_allclose(
        to_numpy(ml.voxel_features(emulated_cuda(image[:1]), (1.0,))),
        ml.voxel_features(image[:1], (1.0,)),
        atol=1e-6,
    )
    mask = (rng.random(image.shape) < 0.5).astype(np.uint8)
    labels = ml.segment_som(emulated_cuda(image), 2, emulated_cuda(mask))
    np.testing.assert_array_equal(to_numpy(labels), ml.segment_som(image, 2, mask))
    scribbles = np.zeros(image.shape, dtype=np.int64)
    scribbles[:, :, 0], scribbles[:, :, -1] = 1, 2
    model = ml.VoxelClassifier(sigmas=(1.0,), n_estimators=5, random_state=0)
    predicted = model.fit(emulated_cuda(image), emulated_cuda(scribbles)).predict(emulated_cuda(image))
    assert (to_numpy(predicted)[:, :, :3] == 1).mean() > 0.9 and (
        to_numpy(predicted)[:, :, 5:] == 2
    ).mean() > 0.9
    mask = image > 50
    mask[:, :, 6] = False  # two slabs two voxels apart: two clusters at eps 1.5
    clusters = to_numpy(ml.dbscan_candidates(emulated_cuda(mask), 1.5))
    points = np.argwhere(mask)
    want = DBSCAN(eps=1.5, min_samples=5).fit_predict(points)
    assert len(set(want) - {-1}) == 2
    assert adjusted_rand_score(want, clusters[tuple(points.T)]) == 1.0
    assert not clusters[~mask].any()


def test_feature_extraction_on_the_device(emulated_cuda, rng):
    image = rng.normal(50, 10, (8, 10, 10))
    mask = np.zeros(image.shape, dtype=bool)
    mask[2:6, 2:8, 2:8] = True
    volume = gpuimg.Volume(image, (2.0, 1.0, 1.0))
    on_cpu = features.extract(volume, mask)
    on_gpu = features.extract(gpuimg.to_device(volume, "cuda"), emulated_cuda(mask))
    assert on_cpu.keys() == on_gpu.keys()
    for key, value in on_cpu.items():
        assert on_gpu[key] == pytest.approx(value, rel=1e-6, abs=1e-9, nan_ok=True), key


def _contaminated(rng, task):
    """60 clean samples and 40 that would pull a fit away (labels flipped, targets shifted by 10, a far
    blob), and weights 1 for the clean ones, 0 for the others: the weighted fit is the clean fit."""
    X = rng.uniform(-2, 2, (100, 2))
    clean = np.arange(100) < 60
    X[~clean, 0] = rng.uniform(0.2, 2, 40)
    if task == "classification":
        y = np.where(clean, X[:, 0] > 0, 0).astype(np.int64)
    elif task == "regression":
        y = X @ [1.0, -2.0] + np.where(clean, 0.0, 10.0)
    else:
        X[clean] += np.where(np.arange(60) < 30, -5.0, 5.0)[:, None]  # two blobs, and a third unweighted
        X[~clean] += [0.0, 40.0]
        y = None
    return X, y, clean.astype(np.float64)


@pytest.mark.parametrize(
    ("name", "task", "params"),
    [
        ("svm", "classification", {"probability": True, "random_state": 0}),  # gpuimg's Platt on cuML's SVC
        ("logistic_regression", "classification", {}),
        ("ridge", "regression", {"alpha": 1.0}),
        ("kmeans", "clustering", {"n_clusters": 2, "n_init": 3, "random_state": 0}),
    ],
)
def test_sample_weight_on_the_device(name, task, params, emulated_cuda, rng):
    # cuML's fit takes sample_weight as scikit-learn's does; host weights go with X to the device.
    # Zero weights leave samples out, so scikit-learn fitted on the clean samples alone is the reference;
    # cuML's solvers differ from scikit-learn's on a real GPU, so the models are compared by what they do.
    X, y, w = _contaminated(rng, task)
    clean = w > 0
    model = ml.make_estimator(name, task, **params)
    model.fit(emulated_cuda(X), None if y is None else emulated_cuda(y), sample_weight=w)
    assert model.library_ == "cuml"
    if task == "clustering":
        # The far blob weighs nothing: the centres are the means of the two clean blobs.
        centres = to_numpy(model.estimator_.cluster_centers_)
        centres = centres[np.argsort(centres[:, 0])]
        np.testing.assert_allclose(centres, [X[:30].mean(0), X[30:60].mean(0)], rtol=1e-9, atol=1e-9)
        return
    reference = ml.make_estimator(name, task, **params).fit(X[clean], y[clean])
    unweighted = ml.make_estimator(name, task, **params).fit(X, y)
    X_test = rng.uniform(-2, 2, (200, 2))
    y_test = (X_test[:, 0] > 0).astype(np.int64) if task == "classification" else X_test @ [1.0, -2.0]
    score = model.score(emulated_cuda(X_test), emulated_cuda(y_test))
    assert score == pytest.approx(reference.score(X_test, y_test), abs=0.05)
    assert unweighted.score(X_test, y_test) < score - 0.1  # the contamination shows without the weights
    if name == "svm":  # Platt's sigmoid from weighted folds: the clean boundary's probabilities
        p = to_numpy(model.predict_proba(emulated_cuda(X_test)))[:, 1]
        assert np.mean((p > 0.5) == y_test) >= score - 0.05  # unweighted: 0.48 where score was 0.99


def test_kmeans_scores_on_the_device_as_scikit_learn(emulated_cuda, rng):
    """KMeans' score (the opposite of the weighted inertia) of a model fitted by cuML on device input:
    cuML's own score, equal to scikit-learn's for the same centres (on a real GPU cuML's centres may
    differ from scikit-learn's; the emulator fits scikit-learn)."""
    X = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    w = rng.uniform(0.5, 2.0, 40)
    model = ml.make_estimator("kmeans", "clustering", n_clusters=2, n_init=3, random_state=0)
    model.fit(emulated_cuda(X), sample_weight=emulated_cuda(w))
    assert model.library_ == "cuml"
    reference = sklearn.cluster.KMeans(n_clusters=2, n_init=3, random_state=0).fit(X, sample_weight=w)
    assert model.score(emulated_cuda(X), sample_weight=emulated_cuda(w)) == pytest.approx(
        reference.score(X, sample_weight=w), rel=1e-9
    )
