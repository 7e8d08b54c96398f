"""scikit-learn's own estimator checks (``parametrize_with_checks``) on gpuimg's estimators.

They are the reference for the estimator contract: ``clone``, ``get_params``, fitted attributes,
``n_features_in_``, the errors for empty, 1D, sparse and complex input, pickling, invariance to
sample order and subsets, and each kind's own checks (classifier, regressor, clusterer,
transformer). ``VoxelClassifier`` is left out: it fits images and scribbles, not a feature table.

Where gpuimg departs from the contract on purpose, the check is expected to fail, for the reason
given in ``_DEPARTURES``.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_estimators_pickle,
    parametrize_with_checks,
)

from gpuimg.errors import ParameterError
from gpuimg.ml import (
    PCA,
    SOM,
    CorrelationFilter,
    MutualInformationSelector,
    VarianceThreshold,
    make_estimator,
)
from gpuimg.ml.estimators import DeviceEstimator

_ESTIMATORS = [
    SOM(grid=(2, 2), epochs=10, random_state=0),
    VarianceThreshold(),
    CorrelationFilter(),
    MutualInformationSelector(k=2, random_state=0),
    make_estimator("logistic_regression"),
    make_estimator("random_forest", n_estimators=5, random_state=0),
    make_estimator("decision_tree", random_state=0),
    make_estimator("svm", probability=True, random_state=0),
    make_estimator("linear_regression", "regression"),
    make_estimator("ridge", "regression"),
    make_estimator("svr", "regression"),
    make_estimator("random_forest", "regression", n_estimators=5, random_state=0),
    make_estimator("kmeans", "clustering", n_clusters=3, n_init=2, random_state=0),
    make_estimator("dbscan", "clustering"),
    make_estimator("som", "clustering", grid=(2, 2), epochs=10, random_state=0),
    make_estimator("pca", "decomposition", n_components=2),
    PCA(n_components=2),
]

_NOT_A_NUMBER = (
    "a cell that is not a number (a dict) is refused with gpuimg's ParameterError, a ValueError, "
    "where scikit-learn expects the TypeError NumPy raises"
)
_PARAMS = (
    "the wrapper keeps the wrapped class's parameters in `params`; get_params and set_params "
    "flatten them, so clone, Pipeline and GridSearchCV work"
)
_MAP_NODES = (
    "a SOM's labels are the indices of the map's nodes (their place on the grid), so nodes "
    "without a sample leave gaps in them"
)

#: The estimators whose wrapped scikit-learn class fails the check of sample weights against repeated
#: samples: scikit-learn lists it among its own expected failures for these classes.
_WEIGHTS_NOT_REPEATS = ("random_forest", "svm", "svr", "kmeans")


def _departures(estimator) -> dict[str, str]:
    """The checks ``estimator`` is expected to fail, with the reason."""
    departures = {"check_dtype_object": _NOT_A_NUMBER}
    if isinstance(estimator, DeviceEstimator) and not isinstance(estimator, PCA):  # PCA has PCA's own
        departures["check_no_attributes_set_in_init"] = _PARAMS
    if isinstance(estimator, SOM) or getattr(estimator, "name", None) == "som":
        departures["check_clustering"] = _MAP_NODES
    if getattr(estimator, "name", None) in _WEIGHTS_NOT_REPEATS:
        cls = estimator._reference_class().__name__
        departures["check_sample_weight_equivalence_on_dense_data"] = (
            f"scikit-learn's own {cls} fails it, an expected failure in scikit-learn's tests: "
            "'sample_weight is not equivalent to removing/repeating samples'"
        )
    return departures


@parametrize_with_checks(_ESTIMATORS, expected_failed_checks=_departures)
def test_scikit_learn_estimator_checks(estimator, check):
    memmapped_pickle = getattr(check, "func", None) is check_estimators_pickle and check.keywords.get(
        "readonly_memmap"
    )
    if getattr(estimator, "name", None) == "svm" and memmapped_pickle:
        # scikit-learn's own SVC(probability=True) fails this variant of check_estimators_pickle (not the
        # plain one, which an expected failure by the check's name would have marked too, to pass as
        # XPASS): its predict_proba refuses a model whose arrays are read-only (memory-mapped).
        with pytest.raises(ValueError, match="buffer source array is read-only"):
            check(estimator)
        return
    check(estimator)


@pytest.mark.parametrize("estimator", _ESTIMATORS, ids=lambda e: getattr(e, "name", type(e).__name__))
def test_dataframe_column_names_as_scikit_learn(estimator):
    # scikit-learn's own check, which parametrize_with_checks leaves out: fitted on a DataFrame, the
    # column names are kept (feature_names_in_), and a DataFrame of other columns, or of the same in
    # another order, is refused. The estimators kept no names and took the columns by their place: a
    # logistic regression predicted other classes for 15 of 40 samples of X[['c', 'b', 'a']].
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


def _names_warnings(method, *arguments) -> list[str]:
    """The messages of the warnings about feature names that ``method(*arguments)`` gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        method(*arguments)
    return [str(w.message) for w in caught if "feature names" in str(w.message)]


#: The methods that take the features of a fitted estimator (DBSCAN has none of them).
_TAKING_X = ("predict", "predict_proba", "decision_function", "transform", "score")


@pytest.mark.parametrize(
    "estimator",
    [e for e in _ESTIMATORS if any(hasattr(e, m) for m in _TAKING_X)],
    ids=lambda e: getattr(e, "name", type(e).__name__),
)
def test_an_array_for_a_dataframe_warns_as_scikit_learn(estimator):
    # Fitted on a DataFrame and given an array (or the other way round), the columns are taken by
    # their place: scikit-learn's estimators say so with a UserWarning each call; ours said nothing.
    # The reference is scikit-learn's LogisticRegression: its words, with the estimator's own name.
    rng = np.random.default_rng(0)
    array = rng.normal(size=(30, 3))
    frame = pd.DataFrame(array, columns=["glcm_contrast", "firstorder_mean", "shape_volume"])
    y = np.tile([0, 1, 2], 10)
    reference = {}
    for fitted, given in ((frame, array), (array, frame)):
        model = LogisticRegression().fit(fitted, y)
        (reference[type(given)],) = _names_warnings(model.predict, given)
    name = type(estimator).__name__
    for fitted, given in ((frame, array), (array, frame), (frame, frame), (array, array)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence, a constant column's variance
            model = clone(estimator).fit(fitted, y)
        expected = (
            []
            if type(given) is type(fitted)
            else [reference[type(given)].replace("LogisticRegression", name)]
        )
        for method in (m for m in _TAKING_X if hasattr(model, m)):
            arguments = (given, y) if method == "score" else (given,)
            assert _names_warnings(getattr(model, method), *arguments) == expected, method


@pytest.mark.parametrize("estimator", _ESTIMATORS, ids=lambda e: getattr(e, "name", type(e).__name__))
def test_a_column_name_given_twice_is_refused_as_scikit_learn(estimator):
    # Two feature tables joined side by side (pd.concat(axis=1)) name a feature twice. The columns
    # of one name could come in either order at predict without a word (fitted on glcm_contrast from
    # two extractions, the model took them by their place), and X[model.feature_names_in_] took each
    # twice. scikit-learn refuses such a table at fit; ours kept the names.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=["glcm_contrast", "glcm_contrast", "shape_volume"])
    y = np.tile([0, 1, 2], 10)
    with pytest.raises(ValueError):
        LogisticRegression().fit(X, y)
    with pytest.raises(ParameterError, match=r"'glcm_contrast' \(2 times\).*rename the copies"):
        clone(estimator).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence
        model = clone(estimator).fit(
            X.set_axis(["glcm_contrast", "glcm_contrast_2", "shape_volume"], axis=1), y
        )
    assert model.feature_names_in_.tolist() == ["glcm_contrast", "glcm_contrast_2", "shape_volume"]
