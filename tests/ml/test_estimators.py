import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier

from gpuimg.errors import FeatureError, GpuimgError, ParameterError
from gpuimg.ml import make_estimator
from gpuimg.ml.estimators import _PlattCalibrated

CLASSIFIERS = {
    "svm": (SVC, {"C": 1.0}),
    "decision_tree": (DecisionTreeClassifier, {"max_depth": 5, "random_state": 0}),
    "random_forest": (RandomForestClassifier, {"n_estimators": 50, "random_state": 0}),
    "logistic_regression": (LogisticRegression, {"max_iter": 500}),
}
REGRESSORS = {
    "linear_regression": (LinearRegression, {}),
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
    with pytest.raises(ParameterError, match="fitted on 3"):
        model.predict(X[:, :2])
    with pytest.raises(ParameterError, match="fit_predict"):
        make_estimator("dbscan", "clustering").fit(X).predict(X)


def test_platt_calibration_matches_a_logistic_fit(rng):
    # The calibration cuML's SVC gets, run here with scikit-learn's SVC as the decision function.
    X = np.concatenate([rng.normal(-1, 1, (100, 2)), rng.normal(1, 1, (100, 2))])
    y = np.repeat([0, 1], 100)
    model = _PlattCalibrated(SVC, {"kernel": "linear"}, random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    assert model.a_ > 0  # positive decision values mean class 1
    # A well separated problem: confident and right on most samples, monotone in the decision value.
    f = model.decision_function(X)
    assert np.all(np.diff(proba[np.argsort(f), 1]) >= -1e-12)
    assert ((proba[:, 1] > 0.5) == y).mean() > 0.85
