import inspect
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cluster import DBSCAN, KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier

from gpuimg import ml
from gpuimg.backend import namespaces
from gpuimg.errors import DeviceError, FeatureError, GpuimgError, ParameterError
from gpuimg.ml import _array_api, _base, make_estimator
from gpuimg.ml import pca as pca_module
from gpuimg.ml._array_api import _array_api_estimator, _array_api_unavailable
from gpuimg.ml._calibration import _PlattCalibrated
from gpuimg.ml._cuml import _device_score

CLASSIFIERS = {
    "svm": (SVC, {"C": 1.0}),
    "decision_tree": (DecisionTreeClassifier, {"max_depth": 5, "random_state": 0}),
    "random_forest": (RandomForestClassifier, {"n_estimators": 50, "random_state": 0}),
    "logistic_regression": (LogisticRegression, {"max_iter": 500}),
}
REGRESSORS = {
    "linear_regression": (LinearRegression, {}),
    "ridge": (Ridge, {"alpha": 0.1}),
    "svr": (SVR, {"C": 100.0}),
    "random_forest": (RandomForestRegressor, {"n_estimators": 50, "random_state": 0}),
}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_scores_as_scikit_learn(cancer, name):
    X_train, X_test, y_train, y_test = cancer
    cls, params = CLASSIFIERS[name]
    ours = make_pipeline(StandardScaler(), make_estimator(name, "classification", **params))
    peer = make_pipeline(StandardScaler(), cls(**params))
    ours_score = ours.fit(X_train, y_train).score(X_test, y_test)
    peer_score = peer.fit(X_train, y_train).score(X_test, y_test)
    # The requirement: within 2 points (of 100) of scikit-learn with the same settings.
    assert abs(ours_score - peer_score) <= 0.02
    assert ours_score > 0.9


@pytest.mark.parametrize("name", REGRESSORS)
def test_regressor_scores_as_scikit_learn(diabetes, name):
    X_train, X_test, y_train, y_test = diabetes
    cls, params = REGRESSORS[name]
    ours = make_estimator(name, "regression", **params).fit(X_train, y_train).score(X_test, y_test)
    peer = cls(**params).fit(X_train, y_train).score(X_test, y_test)
    assert abs(ours - peer) <= 0.02  # R^2, within 2 points
    assert ours > 0.25  # diabetes is hard: linear regression reaches about 0.4


@pytest.mark.parametrize("name", ["kmeans", "dbscan", "som"])
def test_clusterers_label_every_sample(name):
    from sklearn.datasets import make_blobs

    X, truth = make_blobs(300, centers=3, cluster_std=0.5, random_state=1)
    params = {"kmeans": {"n_clusters": 3, "random_state": 0}, "dbscan": {"eps": 1.0}, "som": {"grid": (3, 1)}}
    labels = make_estimator(name, "clustering", **params[name]).fit_predict(X)
    assert labels.shape == (300,)
    # Well separated blobs: each true blob gets one label (DBSCAN may call a few outliers noise, -1).
    assert all(np.unique(labels[(truth == t) & (labels >= 0)]).size == 1 for t in range(3))
    assert (labels >= 0).mean() > 0.95


def test_clone_grid_search_and_params(cancer):
    X_train, _, y_train, _ = cancer
    model = make_estimator("svm", C=2.0)
    assert model.get_params() == {"name": "svm", "C": 2.0}
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    search = GridSearchCV(
        make_pipeline(StandardScaler(), make_estimator("svm")), {"deviceclassifier__C": [0.1, 1.0]}, cv=3
    )
    search.fit(X_train, y_train)
    assert search.best_params_["deviceclassifier__C"] in (0.1, 1.0)
    assert make_estimator("logistic_regression", max_iter=5000).fit(X_train, y_train).predict_proba(
        X_train[:2]
    ).shape == (2, 2)


def test_set_params_refuses_an_invalid_parameter_as_scikit_learn(cancer):
    # set_params took any parameter: a misspelt grid parameter ('gama') was set without a word and
    # each fit failed later (GridSearchCV: 'All the 6 fits failed'); scikit-learn's set_params
    # refuses it. Values (and the name, a value) are checked by fit, as scikit-learn's checks ask.
    X_train, _, y_train, _ = cancer
    with pytest.raises(ValueError, match="Invalid parameter 'gama'"):
        SVC().set_params(gama=1.0)
    model = make_estimator("svm", C=2.0)
    with pytest.raises(ParameterError, match=r"Invalid parameter \['gama'\] for 'svm'"):
        model.set_params(C=1.0, gama=1.0)
    assert model.get_params() == {"name": "svm", "C": 2.0}  # nothing set
    with pytest.raises(ParameterError, match=r"Invalid parameter \['C'\] for 'random_forest'"):
        model.set_params(name="random_forest", C=1.0)
    with pytest.raises(ValueError, match="gama"):
        GridSearchCV(make_estimator("svm"), {"C": [0.1, 1.0], "gama": [1.0]}, cv=3).fit(X_train, y_train)
    model.set_params(C=3.0, kernel="linear")
    assert model.get_params() == {"name": "svm", "C": 3.0, "kernel": "linear"}
    with pytest.raises(ParameterError, match="name='tree' is not a classification estimator"):
        model.set_params(name="tree").fit(X_train, y_train)


def test_unknown_names_list_the_choices():
    with pytest.raises(ParameterError, match="decision_tree"):
        make_estimator("tree")
    with pytest.raises(ParameterError, match="clustering"):
        make_estimator("svm", task="ranking")
    with pytest.raises(ParameterError, match="its parameters are"):
        make_estimator("svm", depth=3)
    with pytest.raises(ParameterError, match="kmeans"):
        make_estimator("svm", task="clustering")


def test_bad_inputs_raise_gpuimg_errors(rng):
    X = rng.normal(size=(20, 3))
    y = rng.integers(0, 2, 20)
    model = make_estimator("random_forest", n_estimators=5)
    X_nan = X.copy()
    X_nan[4, 1] = np.nan
    with pytest.raises(FeatureError, match=r"\[1\]"):
        model.fit(X_nan, y)
    with pytest.raises(ParameterError, match="one class"):
        model.fit(X, np.zeros(20, int))
    with pytest.raises(ParameterError, match="20 samples"):
        model.fit(X, y[:15])
    with pytest.raises(GpuimgError, match="2D"):
        model.fit(X[:, 0], y)
    model.fit(X, y)
    with pytest.raises(ParameterError, match="X has 2 features, but DeviceClassifier is expecting 3"):
        model.predict(X[:, :2])
    # As scikit-learn's DBSCAN: no predict, before or after fit; it labels its own samples.
    dbscan = make_estimator("dbscan", "clustering", eps=1.0)
    assert not hasattr(dbscan, "predict")
    assert not hasattr(dbscan.fit(X), "predict")
    assert np.array_equal(dbscan.labels_, DBSCAN(eps=1.0).fit(X).labels_)


def test_several_targets_per_sample_point_to_one_model_per_target(rng):
    # y of shape (20, 2) got 'X has 20 samples but y has shape (20, 2); give one target per sample':
    # X and y have the same 20 samples. The estimators fit one target; scikit-learn's MultiOutputRegressor
    # fits one per column, and with the wrapper it predicts as scikit-learn's Ridge fitted on both.
    from sklearn.multioutput import MultiOutputRegressor

    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    with pytest.raises(
        ParameterError, match=r"y has 2 targets per sample \(shape \(20, 2\)\).*MultiOutputRegressor"
    ):
        make_estimator("ridge", "regression").fit(X, Y)
    with pytest.raises(ParameterError, match=r"y has 2 targets per sample.*MultiOutputClassifier"):
        make_estimator("svm").fit(X, (Y > 0).astype(int))
    ours = MultiOutputRegressor(make_estimator("ridge", "regression")).fit(X, Y).predict(X)
    np.testing.assert_allclose(ours, Ridge().fit(X, Y).predict(X), rtol=1e-12)  # one solve per column


def test_platt_calibration_matches_a_logistic_fit(rng):
    # The calibration cuML's SVC gets, run here with scikit-learn's SVC as the decision function.
    # Class means 4 sqrt(2) = 5.7 sd apart: 0.2% of the samples lie across the midline, about 0.5 of
    # 200, so that 'right on most samples' holds for every draw. With the means 2.8 sd apart (at -1
    # and 1), 8% lay across it: the accuracy, 0.92 with an sd of 0.02, was 0.86 at worst in 600 draws.
    X = np.concatenate([rng.normal(-2, 1, (100, 2)), rng.normal(2, 1, (100, 2))])
    y = np.repeat([0, 1], 100)
    model = _PlattCalibrated(SVC, {"kernel": "linear"}, random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    assert model.a_ > 0  # positive decision values mean class 1
    # A well separated problem: confident and right on most samples, monotone in the decision value.
    f = model.decision_function(X)
    assert np.all(np.diff(proba[np.argsort(f), 1]) >= -1e-12)
    assert ((proba[:, 1] > 0.5) == y).mean() > 0.85


@pytest.mark.parametrize("rare", [2, 1])
def test_platt_calibration_of_a_rare_class_as_scikit_learn_fits_it(rng, rare):
    # Two malignant studies among 30: the calibration's 3 folds, of the shuffled samples alone, left
    # both out of a fold's training set for 5 seeds of 20, whose SVC refused the one class left
    # ('The number of classes has to be greater than one'). scikit-learn's SVC(probability=True)
    # fits such data (libsvm's folds, and for a class of one sample its decision values +-1), and so
    # does the calibration now, for every seed. Of two samples, its probabilities rank the studies as
    # the SVC does; of one, no sigmoid is learnt (scikit-learn's slope takes either sign by seed).
    # The malignant ones lie 6 sd off (8.5 sd from the others' mean): at 3 sd, for 7 data seeds of
    # 150, a malignant study fell among the others, its held-out decision value was negative and the
    # slope fitted to the folds' values about 0 of either sign (-0.012), with nothing to rank by.
    X = rng.normal(size=(30, 2))
    y = np.zeros(30, int)
    y[[3, 17][:rare]] = 1
    X[y == 1] += 6.0
    reference = SVC(probability=True, random_state=0).fit(X, y)
    assert reference.predict_proba(X).shape == (30, 2)
    for seed in range(20):
        model = _PlattCalibrated(SVC, {}, random_state=seed).fit(X, y)
        proba, f = model.predict_proba(X), model.decision_function(X)
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
        if rare == 2:
            assert model.a_ > 0  # positive decision values mean class 1
            np.testing.assert_array_equal(
                np.argsort(proba[:, 1], kind="stable"), np.argsort(f, kind="stable")
            )


@pytest.mark.parametrize("seed", [np.int64(3), np.uint32(3)])
def test_platt_calibration_takes_a_numpy_integer_seed(rng, seed):
    # A NumPy integer random_state (a value read from an array or a config) was taken for None: the
    # folds, and the sigmoid, changed from one fit to the next (a_ 1.26, 0.95 and 0.79 in three fits
    # with np.int64(3)). Reference: the same seed as a Python int.
    X = rng.normal(size=(40, 2))
    y = np.repeat([0, 1], 20)
    X[y == 1] += 1.0
    want = _PlattCalibrated(SVC, {}, random_state=3).fit(X, y)
    for _ in range(2):
        got = _PlattCalibrated(SVC, {}, random_state=seed).fit(X, y)
        assert (got.a_, got.b_) == (want.a_, want.b_)


def test_weighted_platt_sigmoid_minimises_platts_weighted_cross_entropy(rng):
    # Platt (1999): targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2), the sigmoid minimising the
    # cross-entropy; with sample weights each term is weighted and N+, N- are weight sums. Reference:
    # that objective written out and minimised by SciPy. Without weights in _platt, a zero-weighted
    # block of flipped labels pulled the sigmoid (probabilities of cuML's SVC fitted with weights).
    from scipy.optimize import minimize

    from gpuimg.ml._calibration import _platt

    f = np.concatenate([rng.normal(-1, 1, 80), rng.normal(1, 1, 80), rng.normal(1.5, 0.3, 40)])
    positive = np.r_[np.zeros(80), np.ones(80), np.zeros(40)]  # the last 40: flipped, weight 0 below
    w = np.r_[rng.integers(1, 4, 160), np.zeros(40)].astype(np.float64)

    def cross_entropy(ab, w=w):
        n_pos, n_neg = w[positive > 0].sum(), w[positive == 0].sum()
        t = np.where(positive > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        z = ab[0] * f + ab[1]
        return np.sum(w * (np.logaddexp(0, z) - t * z))  # -[t log p + (1 - t) log(1 - p)], p = sigmoid(z)

    expected = minimize(cross_entropy, [1.0, 0.0], method="BFGS", options={"gtol": 1e-10}).x
    # BFGS's tolerance: 3e-8 at most over 400 seeds (b is near 0, hence the atol)
    np.testing.assert_allclose(_platt(f, positive, np, w), expected, rtol=1e-5, atol=1e-6)
    # Unweighted, every sample counts once: the flipped block flattens the sigmoid (a smaller slope).
    unweighted = minimize(
        cross_entropy, [1.0, 0.0], args=(np.ones_like(w),), method="BFGS", options={"gtol": 1e-10}
    ).x
    np.testing.assert_allclose(_platt(f, positive, np), unweighted, rtol=1e-5, atol=1e-6)
    assert unweighted[0] < expected[0]


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, 1e4, 1e6])
def test_platt_sigmoid_of_large_decision_values_minimises_platts_cross_entropy(rng, scale):
    # Decision values far from 1 (a linear SVC on features in mm^3 or HU): Newton's plain steps from
    # a = 1 overshot and saturated the probabilities, a came out 3e7 for values near 1e4 where the
    # minimum is at 1.2e-4 (scikit-learn's _sigmoid_calibration agrees). Reference: Platt's objective
    # (targets (N+ + 1) / (N+ + 2), 1 / (N- + 2); cross-entropy) minimised by SciPy for the values of
    # scale 1; the sigmoid of a (s f) + b is that of (a s) f + b, so for s f the minimum is (a / s, b).
    from scipy.optimize import minimize

    from gpuimg.ml._calibration import _platt

    f = np.r_[np.linspace(-3.0, -1.0, 10), np.linspace(1.0, 3.0, 10), rng.normal(0.0, 1.0, 20)]
    positive = np.r_[np.zeros(10), np.ones(10), rng.integers(0, 2, 20)].astype(np.float64)

    def cross_entropy(ab):
        n_pos, n_neg = positive.sum(), (1 - positive).sum()
        t = np.where(positive > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        z = ab[0] * f + ab[1]
        return np.sum(np.logaddexp(0, z) - t * z)

    a, b = minimize(cross_entropy, [1.0, 0.0], method="BFGS", options={"gtol": 1e-10}).x
    # BFGS's tolerance (as above); b is near 0, hence the atol
    np.testing.assert_allclose(_platt(scale * f, positive, np), (a / scale, b), rtol=1e-5, atol=1e-6)


def test_pca_transforms_as_scikit_learn(cancer):
    X_train, X_test, _, _ = cancer
    ours = make_estimator("pca", "decomposition", n_components=5).fit(X_train)
    peer = PCA(n_components=5).fit(X_train)
    assert ours.route_ == "numpy"
    # The same scikit-learn computation on the same data.
    np.testing.assert_allclose(ours.transform(X_test), peer.transform(X_test), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        ours.inverse_transform(ours.transform(X_test)), peer.inverse_transform(peer.transform(X_test))
    )
    assert ours.fit_transform(X_train).shape == (X_train.shape[0], 5)


def test_gpuimg_ml_pca_has_scikit_learns_signature_and_results(cancer):
    # gpuimg.ml.PCA is the device-aware PCA (it was scikit-learn's, which refuses CuPy input; the CuPy
    # side is tested on the emulated device): scikit-learn's parameters and defaults, and on NumPy
    # input scikit-learn's computation.
    X_train, X_test, _, _ = cancer
    assert inspect.signature(ml.PCA) == inspect.signature(PCA)
    ours = ml.PCA(n_components=4, whiten=True).fit(X_train)
    peer = PCA(n_components=4, whiten=True).fit(X_train)
    assert ours.get_params() == peer.get_params() and ours.route_ == "numpy"
    for attribute in ("components_", "explained_variance_ratio_", "singular_values_", "mean_"):
        np.testing.assert_allclose(getattr(ours, attribute), getattr(peer, attribute), rtol=1e-12)
    np.testing.assert_allclose(ours.transform(X_test), peer.transform(X_test), rtol=1e-12, atol=1e-9)
    assert ours.score(X_test) == pytest.approx(peer.score(X_test), rel=1e-12)  # GridSearchCV's default
    search = GridSearchCV(make_pipeline(StandardScaler(), ml.PCA()), {"pca__n_components": [2, 3]}, cv=2)
    assert search.fit(X_train).best_estimator_[-1].n_components_ in (2, 3)


def test_pca_in_a_pipeline_of_pandas_output_as_scikit_learn(rng):
    # The wrapper had no get_feature_names_out, so set_output(transform="pandas") on a pipeline holding
    # it raised 'Unable to configure output ... set_output is not available'; scikit-learn's PCA names
    # its components pca0, pca1, ...
    table = pd.DataFrame(rng.normal(size=(30, 4)), columns=["a", "b", "c", "d"])
    ours = make_pipeline(StandardScaler(), make_estimator("pca", "decomposition", n_components=2))
    peer = make_pipeline(StandardScaler(), PCA(n_components=2))
    out, expected = (p.set_output(transform="pandas").fit_transform(table) for p in (ours, peer))
    assert list(out.columns) == list(expected.columns) == ["pca0", "pca1"]
    # The same scikit-learn computation on the same data.
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)


def test_clusterers_in_a_pipeline_of_pandas_output_as_scikit_learn(rng):
    # The clustering wrapper had no set_output: a pipeline ending in KMeans (distances to the centres
    # as features) with set_output(transform="pandas") raised 'Unable to configure output for
    # DeviceClusterer(...) because `set_output` is not available'; scikit-learn's KMeans names the
    # columns kmeans0, kmeans1, ... DBSCAN, which does not transform, offers neither, as scikit-learn's.
    table = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    new = pd.DataFrame(rng.normal(size=(5, 3)), columns=table.columns, index=np.arange(50, 55))
    ours = make_pipeline(
        StandardScaler(), make_estimator("kmeans", "clustering", n_clusters=3, random_state=0)
    )
    peer = make_pipeline(StandardScaler(), KMeans(n_clusters=3, random_state=0))
    for pipeline in (ours, peer):
        pipeline.set_output(transform="pandas").fit(table)
    out, expected = ours.transform(new), peer.transform(new)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(expected.columns) == ["kmeans0", "kmeans1", "kmeans2"]
    assert list(out.index) == list(expected.index)
    # The same scikit-learn computation on the same data.
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)
    som = make_estimator("som", "clustering", grid=(2, 2), random_state=0).set_output(transform="pandas")
    assert list(som.fit_transform(table).columns) == ["som0", "som1", "som2", "som3"]
    dbscan = make_estimator("dbscan", "clustering")
    for method in ("transform", "fit_transform", "set_output", "get_feature_names_out"):
        assert not hasattr(dbscan, method) and not hasattr(DBSCAN(), method)


@pytest.mark.parametrize(
    "ours", [ml.PCA(n_components=2), make_estimator("pca", "decomposition", n_components=2)]
)
def test_pca_transform_after_fit_gives_pandas_output_as_scikit_learn(rng, ours):
    # fit_transform gave a DataFrame after set_output(transform="pandas"), but transform a NumPy array
    # (scikit-learn wraps only the methods a class defines itself), so a fitted pipeline's transform or
    # predict handed the next step an unnamed array; scikit-learn's PCA gives a DataFrame from both.
    train = pd.DataFrame(rng.normal(size=(30, 4)), columns=["a", "b", "c", "d"])
    test = pd.DataFrame(rng.normal(size=(7, 4)), columns=train.columns, index=np.arange(100, 107))
    out = ours.set_output(transform="pandas").fit(train).transform(test)
    expected = PCA(n_components=2).set_output(transform="pandas").fit(train).transform(test)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(expected.columns) == ["pca0", "pca1"]
    assert list(out.index) == list(expected.index)
    # The same scikit-learn computation on the same data.
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)


# --- CuPy input without cuML, on this CPU-only machine ---------------------------------------------
#
# array-api-strict stands in for CuPy: its arrays on "device1" refuse any conversion to NumPy, as CuPy's
# do, so a hidden host copy fails the test, and scikit-learn dispatches to it as it does to CuPy. The
# wrappers' base module (_base) sees these arrays as CUDA arrays on a machine without cuML: its
# namespace, its input checks (tested on NumPy above) and its two transfer functions are replaced for
# the test, the transfers recorded. Everything else is the real route: the choice, the dispatch context
# and scikit-learn.


@pytest.fixture
def strict_gpu(monkeypatch):
    xps = pytest.importorskip("array_api_strict")
    device, host = xps.Device("device1"), xps.Device("CPU_DEVICE")
    array_type = type(xps.asarray(0.0))
    cuda = namespaces.Namespace("cuda", xps, None)
    cuda.__dict__["ml"] = None  # cuML not installed
    transfers = []

    def on_gpu(x):
        return isinstance(x, array_type)

    def to_numpy(x):
        if not on_gpu(x):
            return np.asarray(x)
        transfers.append("to host")
        return np.asarray(x.to_device(host))

    def to_device(x, where):
        transfers.append(f"to {where}")
        assert where == "cuda"
        return xps.asarray(np.asarray(x), device=device)

    real_namespace, real_features, real_target, real_length = (
        _base.namespace,
        _base.check_features,
        _base.check_target,
        _base.check_target_length,
    )
    monkeypatch.setattr(_base, "namespace", lambda x: cuda if on_gpu(x) else real_namespace(x))
    monkeypatch.setattr(_base, "check_features", lambda X: X if on_gpu(X) else real_features(X))
    monkeypatch.setattr(
        _base,
        "check_target",
        lambda X, y, classification: y if on_gpu(y) else real_target(X, y, classification=classification),
    )
    monkeypatch.setattr(
        _base,
        "check_target_length",
        lambda X, y, classification: y if on_gpu(y) else real_length(X, y, classification=classification),
    )
    monkeypatch.setattr(_base, "to_numpy", to_numpy)
    monkeypatch.setattr(_base, "to_device", to_device)
    # scikit-learn reads SCIPY_ARRAY_API when dispatch is switched on; SciPy read it (unset) when first
    # imported, which these estimators do not depend on (test_array_api_route_with_scipy_array_api_
    # from_the_start runs one with the variable set before SciPy is imported).
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    _array_api._warn_host_copy.cache_clear()
    _array_api._warn_no_array_api.cache_clear()

    class StrictGpu:
        def asarray(self, x):
            return xps.asarray(np.asarray(x), device=device)

        def numpy(self, x):
            assert on_gpu(x) and x.device == device, f"not on the device: {type(x)}"
            return np.asarray(x.to_device(host))

    gpu = StrictGpu()
    gpu.transfers = transfers
    yield gpu
    _array_api._warn_host_copy.cache_clear()
    _array_api._warn_no_array_api.cache_clear()


ARRAY_API = {
    "logistic_regression": ("classification", LogisticRegression, {"max_iter": 500}),
    "ridge": ("regression", Ridge, {"alpha": 0.1}),
    "linear_regression": ("regression", LinearRegression, {}),
    "pca": ("decomposition", PCA, {"n_components": 5}),
}


@pytest.mark.parametrize("name", ARRAY_API)
def test_array_api_route_keeps_data_on_the_device(strict_gpu, cancer, diabetes, name):
    task, cls, params = ARRAY_API[name]
    X_train, X_test, y_train, y_test = cancer if task == "classification" else diabetes
    if task == "classification":  # standardised, as lbfgs needs to converge on these features
        mean, std = X_train.mean(0), X_train.std(0)
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    gpu = strict_gpu
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither a host-copy warning nor scikit-learn's solver warning
        model = make_estimator(name, task, **params).fit(gpu.asarray(X_train), gpu.asarray(y_train))
    peer = cls(**params).fit(X_train, y_train)
    assert (model.route_, model.library_, model.device_) == ("array_api", "sklearn", "cuda")
    assert gpu.transfers == []
    X_gpu = gpu.asarray(X_test)
    # array-api-strict computes with NumPy underneath: the two runs differ only in rounding, from
    # scikit-learn's array-API code (loss, solver) against its NumPy/Cython code, so the results agree
    # to about 1e-14 here; the tolerances leave two orders of magnitude and more. (On CuPy, the gpu test.)
    if task == "classification":
        np.testing.assert_array_equal(gpu.numpy(model.classes_), peer.classes_)
        np.testing.assert_allclose(
            gpu.numpy(model.predict_proba(X_gpu)), peer.predict_proba(X_test), atol=1e-10
        )
        np.testing.assert_allclose(
            gpu.numpy(model.decision_function(X_gpu)), peer.decision_function(X_test), rtol=1e-9, atol=1e-9
        )
        np.testing.assert_array_equal(gpu.numpy(model.predict(X_gpu)), peer.predict(X_test))
        assert model.score(X_gpu, gpu.asarray(y_test)) == peer.score(X_test, y_test)
    elif task == "regression":
        # Ridge by SVD instead of Cholesky; LinearRegression by gpuimg's SVD instead of lstsq.
        np.testing.assert_allclose(gpu.numpy(model.predict(X_gpu)), peer.predict(X_test), rtol=1e-10)
        assert model.score(X_gpu, gpu.asarray(y_test)) == pytest.approx(peer.score(X_test, y_test), rel=1e-10)
    else:
        # The same solver (covariance eigendecomposition) and sign convention on both namespaces.
        np.testing.assert_allclose(
            gpu.numpy(model.transform(X_gpu)), peer.transform(X_test), rtol=1e-10, atol=1e-12
        )
        back = model.inverse_transform(model.transform(X_gpu))
        np.testing.assert_allclose(
            gpu.numpy(back), peer.inverse_transform(peer.transform(X_test)), rtol=1e-10, atol=1e-12
        )
        assert gpu.numpy(model.fit_transform(gpu.asarray(X_train))).shape == (X_train.shape[0], 5)
    assert gpu.transfers == []


def test_array_api_model_takes_gpu_input_only(strict_gpu, diabetes):
    X_train, X_test, y_train, _ = diabetes
    model = make_estimator("ridge", "regression").fit(
        strict_gpu.asarray(X_train), strict_gpu.asarray(y_train)
    )
    with pytest.raises(DeviceError, match="to_device"):
        model.predict(X_test)
    with pytest.raises(DeviceError, match="fitted on cuda"):
        model.score(X_test, np.zeros(len(X_test)))


@pytest.mark.parametrize(
    ("name", "task", "params"),
    [
        ("svm", "classification", {"C": 1.0}),
        ("random_forest", "regression", {"n_estimators": 10, "random_state": 0}),
        ("ridge", "regression", {"solver": "cholesky"}),  # scikit-learn dispatches only its SVD solver
        ("kmeans", "clustering", {"n_clusters": 3, "random_state": 0, "n_init": 1}),
    ],
)
def test_host_copy_is_explicit_and_warns_once(strict_gpu, cancer, name, task, params):
    X_train, X_test, y_train, y_test = cancer
    gpu = strict_gpu
    y_gpu = gpu.asarray(y_train) if task != "clustering" else None
    with pytest.warns(
        RuntimeWarning, match="cuML is not installed.*copies GPU features to the host once"
    ) as seen:
        model = make_estimator(name, task, **params).fit(gpu.asarray(X_train), y_gpu)
    assert len(seen) == 1 and seen[0].filename == __file__  # points at the caller's line
    assert model.route_ == "host_copy"
    # X and y to the host, once each; a clusterer's labels back to the device.
    assert gpu.transfers == (["to host"] * 2 if task != "clustering" else ["to host", "to cuda"])
    gpu.transfers.clear()
    predicted = model.predict(gpu.asarray(X_test))
    assert gpu.transfers == ["to host", "to cuda"]
    cls = model._reference_class()
    peer = cls(**params).fit(X_train, y_train if task != "clustering" else None)
    # The same scikit-learn computation on the same (copied) data.
    np.testing.assert_array_equal(gpu.numpy(predicted), peer.predict(X_test))
    if task != "clustering":
        assert model.score(gpu.asarray(X_test), y_test) == pytest.approx(
            peer.score(X_test, y_test), rel=1e-12
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: the second fit is silent
        make_estimator(name, task, **params).fit(
            gpu.asarray(X_train[:100]), None if y_gpu is None else y_train[:100]
        )


@pytest.mark.parametrize(
    ("name", "task", "peer", "params"),
    [
        ("svm", "classification", SVC, {}),  # the host copy
        (
            "logistic_regression",
            "classification",
            LogisticRegression,
            {"max_iter": 500},
        ),  # the array-API route
        ("ridge", "regression", Ridge, {"alpha": 0.1}),  # the array-API route, by SVD
        ("linear_regression", "regression", LinearRegression, {}),  # the array-API route, by SVD
    ],
)
def test_sample_weight_on_the_gpu_routes_without_cuml(strict_gpu, cancer, diabetes, name, task, peer, params):
    X_train, X_test, y_train, _ = cancer if task == "classification" else diabetes
    mean, std = X_train.mean(0), X_train.std(0)
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    w = np.random.default_rng(3).integers(0, 4, len(y_train)).astype(np.float64)
    gpu = strict_gpu
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the host copy's warning (its own test above)
        model = make_estimator(name, task, **params).fit(
            gpu.asarray(X_train), gpu.asarray(y_train), sample_weight=gpu.asarray(w)
        )
    peer = peer(**params).fit(X_train, y_train, sample_weight=w)
    output = "decision_function" if task == "classification" else "predict"
    expected = getattr(peer, output)(X_test)
    if name == "svm":  # X, y and the weights to the host, once each; the same libsvm fit there
        assert model.route_ == "host_copy" and gpu.transfers == ["to host"] * 3
        rtol = 0
    else:  # the weights stay on the device with X (array-api-strict refuses a mix)
        assert model.route_ == "array_api" and gpu.transfers == []
        # scikit-learn's array-API code against its NumPy code (and Ridge by SVD against Cholesky or
        # lstsq): rounding only, about 1e-14 here.
        rtol = 1e-9
    np.testing.assert_allclose(gpu.numpy(getattr(model, output)(gpu.asarray(X_test))), expected, rtol=rtol)


@pytest.mark.parametrize(("svd_solver", "route"), [("full", "array_api"), ("arpack", "host_copy")])
def test_gpuimg_ml_pca_gives_its_fitted_attributes_on_the_device(
    strict_gpu, monkeypatch, cancer, svd_solver, route
):
    # Fitted on a host copy (arpack, which scikit-learn does not dispatch), the attributes were the host
    # model's NumPy arrays beside GPU results; they are copied to the device, as the predictions are.
    monkeypatch.setattr(pca_module, "to_device", _base.to_device)  # the fixture's recorded transfer
    X_train, X_test, _, _ = cancer
    gpu = strict_gpu
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the host copy's warning, tested above
        model = ml.PCA(n_components=3, svd_solver=svd_solver, random_state=0).fit(gpu.asarray(X_train))
    peer = PCA(n_components=3, svd_solver=svd_solver, random_state=0).fit(X_train)
    assert model.route_ == route
    for attribute in ("components_", "explained_variance_", "singular_values_", "mean_"):
        np.testing.assert_allclose(gpu.numpy(getattr(model, attribute)), getattr(peer, attribute), rtol=1e-9)
    assert model.n_components_ == peer.n_components_ == 3
    projected = gpu.numpy(model.transform(gpu.asarray(X_test)))
    np.testing.assert_allclose(projected, peer.transform(X_test), rtol=1e-9, atol=1e-9)


def test_without_scipy_array_api_the_host_copy_warns_once_naming_it(strict_gpu, monkeypatch, diabetes):
    X_train, X_test, y_train, _ = diabetes
    gpu = strict_gpu
    monkeypatch.delenv("SCIPY_ARRAY_API")
    with pytest.warns(RuntimeWarning, match=r"SCIPY_ARRAY_API=1.*before Python starts") as seen:
        model = make_estimator("linear_regression", "regression").fit(gpu.asarray(X_train), y_train)
    assert len(seen) == 1
    assert model.route_ == "host_copy" and type(model.estimator_) is LinearRegression
    np.testing.assert_allclose(
        gpu.numpy(model.predict(gpu.asarray(X_test))),
        LinearRegression().fit(X_train, y_train).predict(X_test),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_estimator("ridge", "regression").fit(gpu.asarray(X_train), y_train)


def test_which_estimators_take_the_array_api_route():
    def chosen(name, cls, **params):
        estimator = _array_api_estimator(name, cls, params)
        return None if estimator is None else (type(estimator).__name__, estimator.get_params())

    assert chosen("logistic_regression", LogisticRegression)[0] == "LogisticRegression"
    assert chosen("logistic_regression", LogisticRegression, solver="liblinear") is None
    assert chosen("ridge", Ridge, alpha=2.0)[1]["solver"] == "svd"  # "auto" would warn and pick svd
    assert chosen("ridge", Ridge, solver="svd")[1]["solver"] == "svd"
    assert chosen("ridge", Ridge, solver="lsqr") is None
    assert chosen("ridge", Ridge, positive=True) is None
    name, params = chosen("linear_regression", LinearRegression, fit_intercept=False, tol=1e-8)
    assert name == "LinearRegression" or (name, params) == (
        "_LeastSquares",
        {"fit_intercept": False, "tol": 1e-8},
    )
    assert chosen("linear_regression", LinearRegression, positive=True) is None
    assert chosen("pca", PCA, n_components=3)[0] == "PCA"
    assert chosen("pca", PCA, svd_solver="arpack", n_components=3) is None
    assert chosen("pca", PCA, svd_solver="randomized", power_iteration_normalizer="LU") is None
    assert chosen("pca", PCA, svd_solver="randomized", power_iteration_normalizer="QR")[0] == "PCA"
    assert chosen("svm", SVC) is None
    assert chosen("random_forest", RandomForestClassifier) is None


def test_array_api_linear_regression_of_collinear_features_equals_scikit_learns(rng):
    # A radiomics table holds features that are sums or multiples of others. The array-API route ran
    # linear_regression as Ridge(alpha=0, solver="svd"), which inverts every singular value above
    # 1e-15: the rounding-error ones of collinear features made coefficients near 1e13 and predictions
    # up to 1.0 off LinearRegression's (its lstsq drops singular values below tol times the largest).
    # The estimator chosen for the route, run here on NumPy arrays, against LinearRegression.
    for scale in (1.0, 1e2, 1e4):
        a = rng.normal(size=(50, 3)) * scale
        X = np.column_stack([a, 3.0 * a[:, 0], a[:, 1] + a[:, 2]])  # rank 3 of 5 columns
        y = a @ [1.0, 2.0, 3.0] / scale + rng.normal(size=50)
        w = rng.integers(0, 4, 50).astype(np.float64)
        for fit_intercept in (True, False):
            params = {"fit_intercept": fit_intercept}
            model = _array_api_estimator("linear_regression", LinearRegression, params)
            model.fit(X, y, sample_weight=w)
            peer = LinearRegression(**params).fit(X, y, sample_weight=w)
            # Both the minimum-norm solution through an SVD (lstsq's and NumPy's): rounding, 1e-9.
            np.testing.assert_allclose(model.predict(X), peer.predict(X), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(
                model.coef_, peer.coef_, rtol=1e-9, atol=1e-9 * np.abs(peer.coef_).max()
            )
            assert model.intercept_ == pytest.approx(peer.intercept_, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_array_api_linear_regression_of_collinear_features_on_the_device(strict_gpu, rng, fit_intercept):
    a = rng.normal(size=(60, 3)) * 100.0
    X = np.column_stack([a, 3.0 * a[:, 0], a[:, 1] + a[:, 2]])
    y = a @ [1.0, 2.0, 3.0] / 100.0 + rng.normal(size=60)
    gpu = strict_gpu
    model = make_estimator("linear_regression", "regression", fit_intercept=fit_intercept)
    model.fit(gpu.asarray(X), gpu.asarray(y))
    assert model.route_ == "array_api" and gpu.transfers == []
    peer = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    # The minimum-norm solution through an SVD in both: rounding, 1e-9.
    np.testing.assert_allclose(
        gpu.numpy(model.predict(gpu.asarray(X))), peer.predict(X), rtol=1e-9, atol=1e-9
    )
    assert model.score(gpu.asarray(X), gpu.asarray(y)) == pytest.approx(peer.score(X, y), rel=1e-12)


def test_array_api_route_with_scipy_array_api_from_the_start():
    # The documented set-up: SCIPY_ARRAY_API=1 before SciPy is imported, in a fresh interpreter.
    pytest.importorskip("array_api_strict")
    script = """
import array_api_strict as xps
import numpy as np
from sklearn import config_context
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from gpuimg.ml._array_api import _array_api_estimator, _array_api_unavailable

assert _array_api_unavailable() is None
X, y = load_breast_cancer(return_X_y=True)
X = (X - X.mean(0)) / X.std(0)
model = _array_api_estimator("logistic_regression", LogisticRegression, {"max_iter": 500})
device = xps.Device("device1")
with config_context(array_api_dispatch=True):
    model.fit(xps.asarray(X, device=device), xps.asarray(y, device=device))
    assert model.coef_.device == device
"""
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_array_api_unavailable_names_the_variable(monkeypatch):
    monkeypatch.delenv("SCIPY_ARRAY_API", raising=False)
    assert "SCIPY_ARRAY_API=1" in _array_api_unavailable()


def test_device_score_is_scikit_learns(rng):
    # The score of cuML-fitted wrappers, computed with xp; checked here on NumPy.
    from sklearn.metrics import accuracy_score, r2_score

    y = rng.integers(0, 3, 50)
    y_pred = np.where(rng.random(50) < 0.7, y, rng.integers(0, 3, 50))
    w = rng.random(50)
    assert _device_score("classification", y, y_pred, None) == pytest.approx(
        accuracy_score(y, y_pred), rel=1e-12
    )
    assert _device_score("classification", y, y_pred, w) == pytest.approx(
        accuracy_score(y, y_pred, sample_weight=w)
    )
    t, p = rng.normal(size=50), rng.normal(size=50)
    assert _device_score("regression", t, p, None) == pytest.approx(r2_score(t, p), rel=1e-12)
    assert _device_score("regression", t, p, w) == pytest.approx(r2_score(t, p, sample_weight=w), rel=1e-12)
    assert _device_score("regression", np.ones(5), np.ones(5), None) == r2_score(np.ones(5), np.ones(5))


@pytest.mark.gpu
def test_array_api_route_on_cupy(monkeypatch, cancer, diabetes):
    # Real CuPy arrays, cuML hidden: the array-API route runs on the GPU, the rest takes the host copy.
    import cupy

    from gpuimg.backend import to_device

    cuda = namespaces.namespace_for("cuda")
    no_cuml = namespaces.Namespace("cuda", cuda.xp, cuda.ndi)
    no_cuml.__dict__["ml"] = None
    real_namespace = _base.namespace
    monkeypatch.setattr(
        _base, "namespace", lambda x: no_cuml if real_namespace(x) is cuda else real_namespace(x)
    )
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    _array_api._warn_host_copy.cache_clear()
    for name, (task, cls, params) in ARRAY_API.items():
        X_train, X_test, y_train, y_test = cancer if task == "classification" else diabetes
        if task == "classification":
            mean, std = X_train.mean(0), X_train.std(0)
            X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
        X_gpu, y_gpu = to_device(X_train, "cuda"), to_device(y_train, "cuda")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = make_estimator(name, task, **params).fit(X_gpu, y_gpu)
        assert model.route_ == "array_api", name
        peer = cls(**params).fit(X_train, y_train)
        X_test_gpu = to_device(X_test, "cuda")
        if task == "decomposition":
            out = model.transform(X_test_gpu)
            assert isinstance(out, cupy.ndarray)
            # Same solver and sign convention; cuSOLVER's eigendecomposition vs LAPACK's.
            np.testing.assert_allclose(out.get(), peer.transform(X_test), rtol=1e-6, atol=1e-6)
            continue
        out = model.predict(X_test_gpu)
        assert isinstance(out, cupy.ndarray)
        assert abs(model.score(X_test_gpu, to_device(y_test, "cuda")) - peer.score(X_test, y_test)) <= 0.01
        if task == "classification":
            assert isinstance(model.predict_proba(X_test_gpu), cupy.ndarray)
            assert isinstance(model.classes_, cupy.ndarray)
    with pytest.warns(RuntimeWarning, match="host once"):
        model = make_estimator("svm").fit(to_device(cancer[0], "cuda"), cancer[2])
    assert model.route_ == "host_copy" and isinstance(
        model.predict(to_device(cancer[1], "cuda")), cupy.ndarray
    )
    _array_api._warn_host_copy.cache_clear()


_WEIGHTED = (
    [
        ("classification", name, cls, params)
        for name, (cls, params) in CLASSIFIERS.items()
        if name != "random_forest"  # a forest of 50 trees: the decision tree covers the tree code
    ]
    + [
        ("regression", name, cls, params)
        for name, (cls, params) in REGRESSORS.items()
        if name != "random_forest"
    ]
    + [
        ("regression", "random_forest", RandomForestRegressor, {"n_estimators": 5, "random_state": 0}),
        ("clustering", "kmeans", KMeans, {"n_clusters": 3, "n_init": 2, "random_state": 0}),
        ("clustering", "dbscan", DBSCAN, {"eps": 0.7, "min_samples": 6}),
    ]
)


@pytest.mark.parametrize(
    ("task", "name", "cls", "params"), _WEIGHTED, ids=[w[1] + "-" + w[0] for w in _WEIGHTED]
)
def test_sample_weight_reaches_the_estimator_as_in_scikit_learn(cancer, diabetes, task, name, cls, params):
    # scikit-learn's estimator fitted with the same weights is the reference: fit(X, y, sample_weight=w)
    # was a TypeError, so class_weight-style weighting and Pipeline's step__sample_weight could not be used.
    X, _, y, _ = cancer if task == "classification" else diabetes
    X = StandardScaler().fit_transform(X)
    if task == "clustering":
        X, y = X[:, :4], None
    w = np.random.default_rng(7).integers(0, 4, X.shape[0]).astype(np.float64)  # zeros leave samples out

    def output(model):  # a continuous output where there is one, so that a change of weights shows
        if task == "clustering":
            return model.labels_
        if task == "regression":
            return model.predict(X)
        return model.decision_function(X) if hasattr(model, "decision_function") else model.predict_proba(X)

    ours = output(make_estimator(name, task, **params).fit(X, y, sample_weight=w))
    theirs = output(cls(**params).fit(X, y, sample_weight=w))
    np.testing.assert_array_equal(ours, theirs)  # the same scikit-learn code on the same data: bit for bit
    assert not np.array_equal(output(cls(**params).fit(X, y)), theirs)  # the weights change the model


def test_sample_weight_through_a_pipeline_and_as_a_number(cancer):
    X, _, y, _ = cancer
    w = np.where(y == 1, 1.0, 5.0)  # class_weight by hand: the rarer class counts five times
    ours = make_pipeline(StandardScaler(), make_estimator("logistic_regression", max_iter=500))
    peer = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    ours.fit(X, y, deviceclassifier__sample_weight=w)
    peer.fit(X, y, logisticregression__sample_weight=w)
    np.testing.assert_array_equal(ours.predict_proba(X), peer.predict_proba(X))
    # A number weighs every sample alike (scikit-learn's rule): the unweighted fit of an SVC.
    scaled = StandardScaler().fit_transform(X)
    ours = make_estimator("svm").fit(scaled, y, sample_weight=1.0).decision_function(scaled)
    np.testing.assert_array_equal(ours, SVC().fit(scaled, y).decision_function(scaled))


def test_bad_sample_weights_are_named(cancer):
    X, _, y, _ = cancer
    model = make_estimator("svm")
    with pytest.raises(ParameterError, match=r"sample_weight has shape \(5,\), but X has 398 samples"):
        model.fit(X, y, sample_weight=np.ones(5))
    with pytest.raises(ParameterError, match=r"sample_weight has shape \(398, 2\)"):
        model.fit(X, y, sample_weight=np.ones((398, 2)))
    with pytest.raises(ParameterError, match="sample_weight must hold numbers"):
        model.fit(X, y, sample_weight=["heavy"] * 398)
    # scikit-learn's SVC fits a NaN weight without a word (libsvm reads it as no weight); refused here.
    with pytest.raises(ParameterError, match="sample_weight holds NaN or infinite values for 1 sample"):
        model.fit(X, y, sample_weight=np.r_[np.nan, np.ones(397)])
    # What scikit-learn refuses (all weights zero) stays a ParameterError naming the weights.
    with pytest.raises(ParameterError, match="change the parameter, the weights"):
        make_estimator("logistic_regression").fit(X, y, sample_weight=np.zeros(398))


def test_sample_weight_refused_where_the_fit_takes_none(cancer, monkeypatch):
    # An estimator whose fit has no sample_weight (one of an older cuML release): a ParameterError naming
    # it, not a TypeError from inside, nor an unweighted fit.
    X, _, y, _ = cancer

    class Unweighted(DecisionTreeClassifier):
        def fit(self, X, y):
            return super().fit(X, y)

    model = make_estimator("decision_tree")
    monkeypatch.setattr(model, "_build", lambda ns: (Unweighted(), "cuml", "cuml"))
    with pytest.raises(
        ParameterError, match=r"sample_weight: 'decision_tree' \(cuML's Unweighted\) fits without"
    ):
        model.fit(X, y, sample_weight=np.ones(len(y)))
    assert model.fit(X, y).library_ == "cuml"


def test_kmeans_scores_as_scikit_learn_so_a_grid_search_needs_no_scoring(rng):
    # The wrapper offered no score: GridSearchCV over n_clusters without a scoring (which scikit-learn's
    # KMeans takes, scoring by its score) raised TypeError ('the estimator ... should have a 'score'
    # method'). Now KMeans' score, the opposite of the (weighted) inertia, as scikit-learn's.
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = pd.DataFrame(np.repeat(centres, 20, axis=0) + rng.normal(size=(60, 2)), columns=["volume", "entropy"])
    weights = rng.uniform(0.5, 2.0, 60)
    ours = ml.make_estimator("kmeans", "clustering", n_clusters=3, n_init=3, random_state=0)
    ours.fit(X, sample_weight=weights)
    reference = KMeans(n_clusters=3, n_init=3, random_state=0).fit(X, sample_weight=weights)
    # The same fit on the same float64 values: equal up to the summation order of the distances.
    assert ours.score(X) == pytest.approx(reference.score(X), rel=1e-12)
    assert ours.score(X, sample_weight=weights) == pytest.approx(
        reference.score(X, sample_weight=weights), rel=1e-12
    )
    grid = {"n_clusters": [2, 3, 4]}
    searched = GridSearchCV(ml.make_estimator("kmeans", "clustering", n_init=3, random_state=0), grid, cv=3)
    expected = GridSearchCV(KMeans(n_init=3, random_state=0), grid, cv=3)
    np.testing.assert_allclose(
        searched.fit(X).cv_results_["mean_test_score"],
        expected.fit(X).cv_results_["mean_test_score"],
        rtol=1e-12,
    )
    for name in ("dbscan", "som"):  # no score, as scikit-learn's DBSCAN has none
        assert not hasattr(ml.make_estimator(name, "clustering"), "score")


def test_pca_by_name_scores_as_scikit_learn_so_a_grid_search_needs_no_scoring(rng):
    # make_estimator("pca", "decomposition") offered no score (gpuimg.ml.PCA did): GridSearchCV over
    # n_components without a scoring raised TypeError, where scikit-learn's PCA is scored by its
    # mean log-likelihood under the probabilistic PCA model.
    X = rng.normal(size=(60, 5)) * [5.0, 2.0, 1.0, 0.5, 0.1]
    ours = ml.make_estimator("pca", "decomposition", n_components=2).fit(X)
    reference = PCA(n_components=2).fit(X)
    # The same fit (float64 SVD of the same values): equal up to rounding.
    np.testing.assert_allclose(ours.score_samples(X), reference.score_samples(X), rtol=1e-10)
    assert ours.score(X) == pytest.approx(reference.score(X), rel=1e-10)
    grid = {"n_components": [1, 2, 3]}
    searched = GridSearchCV(ml.make_estimator("pca", "decomposition"), grid, cv=3).fit(X)
    expected = GridSearchCV(PCA(), grid, cv=3).fit(X)
    np.testing.assert_allclose(
        searched.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"], rtol=1e-10
    )


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("logistic_regression", LogisticRegression()),
        ("random_forest", RandomForestClassifier(n_estimators=20, random_state=0)),
        ("svm", SVC(probability=True, random_state=0)),
    ],
)
def test_predict_log_proba_as_scikit_learn(name, reference, rng):
    # The wrapper offered no predict_log_proba, which these scikit-learn classifiers have:
    # cross_val_predict(method="predict_log_proba") raised AttributeError.
    from sklearn.model_selection import cross_val_predict

    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=60) > 0, "malignant", "benign")
    params = reference.get_params()
    ours = ml.make_estimator(
        name, **{k: params[k] for k in ("n_estimators", "probability", "random_state") if k in params}
    )
    expected = cross_val_predict(reference, X, y, cv=3, method="predict_log_proba")
    # The same fits on the same values: equal up to rounding.
    np.testing.assert_allclose(
        cross_val_predict(ours, X, y, cv=3, method="predict_log_proba"), expected, rtol=1e-9, atol=1e-12
    )
