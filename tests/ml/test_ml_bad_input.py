"""Bad input to the ML estimators and voxel features (issue 14): a ParameterError naming the
parameter and the data, before scikit-learn's own ValueError or a long computation."""

import re

import numpy as np
import pytest
from guarded import run_guarded
from sklearn.linear_model import Ridge

from gpuimg import ParameterError, Volume
from gpuimg.ml import make_estimator, voxel_features


def test_more_clusters_than_samples():
    X = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(ParameterError, match="n_clusters=5") as info:
        make_estimator("kmeans", "clustering", n_clusters=5).fit(X)
    assert "n_samples=3, n_features=4" in str(info.value)


def test_more_components_than_samples():
    X = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(ParameterError, match="n_components=10") as info:
        make_estimator("pca", "decomposition", n_components=10).fit(X)
    assert "n_samples=3, n_features=4" in str(info.value)


def test_class_labels_of_mixed_types():
    # Labels read as 1 beside "malignant" (an object column) were np.unique's bare TypeError.
    X = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array([1, "malignant", 1, "malignant", 1, "malignant"], dtype=object)
    with pytest.raises(ParameterError, match=r"y mixes labels of types \['int', 'str'\]"):
        make_estimator("svm").fit(X, y)
    # One type, as the message says, fits as scikit-learn does.
    assert make_estimator("svm").fit(X, y.astype(str)).classes_.tolist() == ["1", "malignant"]


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0.0, 1.0, np.nan, 1.0, 0.0, 1.0]), r"no class label \(NaN, None\) for 1 sample;"),
        (
            np.array(["a", None, "b", "a", "b", None], dtype=object),
            r"no class label \(NaN, None\) for 2 samples",
        ),
        (np.linspace(0.1, 3.7, 6), r"continuous values \(6 samples not whole numbers"),
    ],
)
def test_class_labels_missing_or_continuous(y, message):
    # scikit-learn refuses these too ("Input y contains NaN", "Unknown label type: continuous"), but
    # gpuimg wrapped its refusal in advice to change a parameter or give more samples.
    X = np.random.default_rng(0).normal(size=(6, 2))
    for name in ("svm", "random_forest"):
        with pytest.raises(ParameterError, match=message) as info:
            make_estimator(name).fit(X, y)
        assert "give more samples" not in str(info.value)
    # Whole numbers in a float column are classes, as for scikit-learn.
    assert make_estimator("svm").fit(X, np.array([0.0, 1.0] * 3)).classes_.tolist() == [0.0, 1.0]


def test_a_regression_target_that_is_not_numbers():
    X = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ParameterError, match=r"y must hold numbers for a regressor; got dtype <U4 \('low'"):
        make_estimator("ridge", "regression").fit(X, np.array(["low", "high"] * 3))
    numbers = np.array(["1.5", 2, 3.25, "4", 5, 6], dtype=object)  # as read from a CSV of mixed cells
    fitted = make_estimator("ridge", "regression").fit(X, numbers)
    want = Ridge().fit(X, numbers.astype(float))
    np.testing.assert_allclose(fitted.predict(X), want.predict(X))


def test_valid_parameters_still_fit():
    X = np.random.default_rng(0).normal(size=(20, 4))
    assert make_estimator("kmeans", "clustering", n_clusters=3, n_init=1).fit(X).labels_.shape == (20,)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_voxel_features_of_a_non_finite_image(value):
    image = np.zeros((6, 6, 6), np.float32)
    image[3, 3, 3] = value
    with pytest.raises(ParameterError, match="NaN or inf"):
        voxel_features(image, sigmas=(1.0,))
    with pytest.raises(ParameterError, match="NaN or inf"):
        voxel_features(Volume(image), sigmas=(1.0,))


def test_a_table_of_numbers_as_objects_fits_as_its_floats():
    # An object array of numbers (what a pandas table of mixed column types gives) is converted,
    # as scikit-learn converts it; a cell that is not a number is a ParameterError.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    reference = make_estimator("logistic_regression").fit(X, y).predict_proba(X)
    got = make_estimator("logistic_regression").fit(X.astype(object), y).predict_proba(X.astype(object))
    np.testing.assert_array_equal(got, reference)
    cells = X.astype(object)
    cells[4, 2] = "high"
    with pytest.raises(ParameterError, match="not numbers"):
        make_estimator("logistic_regression").fit(cells, y)


def test_a_map_beyond_the_memory_budget_is_refused_before_it_is_built():
    # A map of 10⁶ nodes asked for its 14.6 TiB of node-to-node offsets before any check.
    cases = {
        "segment_som": "segment_som(np.arange(8.0).reshape(2, 2, 2), 10**6)",
        "som": "SOM(grid=(1000, 1000)).fit(np.ones((3, 2)))",
    }
    setup = "import numpy as np\nfrom gpuimg.ml import SOM, segment_som"
    for case, (name, message, _) in run_guarded(cases, setup, memory=3 * 1024**3, timeout=120).items():
        assert name == "MemoryBudgetError" and "node-to-node offsets" in message, (case, name, message)


def test_more_histogram_bins_than_the_limit_are_refused_before_they_are_built():
    # bins=10**9 was NumPy's MemoryError for the 7.45 GiB of bin edges.
    cases = {
        "segment_kmeans": "segment_kmeans(np.arange(8.0).reshape(2, 2, 2), 2, bins=10**9)",
        "segment_som": "segment_som(np.arange(8.0).reshape(2, 2, 2), 2, bins=10**9)",
    }
    setup = "import numpy as np\nfrom gpuimg.ml import segment_kmeans, segment_som"
    for case, (name, message, _) in run_guarded(cases, setup, memory=3 * 1024**3, timeout=120).items():
        assert name == "ParameterError" and "bins=1000000000 must be" in message, (case, name, message)


def test_text_in_a_feature_table_names_its_columns_and_the_advice_works():
    """A CSV's text column (a site) was 'X holds values that are not numbers (dtype object)', naming
    no column, and a text array 'X must hold numbers; got dtype <U32' with no advice."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    table = pd.DataFrame(X, columns=["stat_mean", "glcm_contrast", "morph_volume"]).assign(
        site=["A", "B"] * 15
    )
    with pytest.raises(
        ParameterError, match=r"not numbers \(dtype object\) in column 'site' \('A'\); encode"
    ):
        make_estimator("logistic_regression").fit(table, y)
    with pytest.raises(
        ParameterError, match=r"holds text \(dtype <U\d+\); convert its text of numbers with X.astype"
    ):
        make_estimator("logistic_regression").fit(X.astype(str), y)
    with pytest.raises(ParameterError, match=r"holds text \(dtype <U\d+\) in column 3 \('A'\); encode it"):
        make_estimator("logistic_regression").fit(table.to_numpy().astype(str), y)
    reference = LogisticRegression().fit(X, y).predict_proba(X)
    for advised in (table.drop(columns="site"), X.astype(str).astype(float)):
        got = make_estimator("logistic_regression").fit(advised, y).predict_proba(advised)
        # float64, the same solver: text to float round-trips each number (repr), 1e-9 for lbfgs' stops
        np.testing.assert_allclose(got, reference, rtol=1e-9)


def test_missing_values_in_a_feature_table_name_its_columns():
    """NaN in a DataFrame of radiomics features was 'X holds NaN or infinite values in 2 feature
    columns (first: [57, 88])': the user had to count columns to find them. A DataFrame's columns are
    named (pandas' isna says which); an array's, or a table's whose names are not all text, keep their
    indices (NumPy's isfinite says which)."""
    import pandas as pd

    from gpuimg.errors import FeatureError
    from gpuimg.ml import CorrelationFilter, VarianceThreshold

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 120)), np.arange(20) % 2
    X[3, 57], X[7, 88], X[0, 100] = np.nan, np.nan, np.inf
    table = pd.DataFrame(X, columns=[f"glcm_{i}" for i in range(120)])
    missing = table.columns[table.isna().any()].tolist()  # pandas: ['glcm_57', 'glcm_88']
    with pytest.raises(
        FeatureError, match=rf"3 feature columns \(first: \[{missing[0]!r}, {missing[1]!r}, 'glcm_100'\]\)"
    ):
        make_estimator("svm").fit(table, y)
    with pytest.raises(FeatureError, match=rf"X holds NaN or infinite values .* \(first: \[{missing[0]!r}, "):
        CorrelationFilter().fit(table)
    with pytest.raises(
        FeatureError, match=r"X holds infinite values in 1 feature column \(first: \['glcm_100'\]\)"
    ):
        VarianceThreshold().fit(table)
    indices = np.flatnonzero(~np.isfinite(X).all(axis=0)).tolist()  # [57, 88, 100]
    for unnamed in (X, table.set_axis(range(120), axis=1)):
        with pytest.raises(FeatureError, match=rf"\(first: \[{indices[0]}, {indices[1]}, {indices[2]}\]\)"):
            make_estimator("svm").fit(unnamed, y)


def test_column_names_of_text_and_numbers_are_refused_as_scikit_learn():
    """A table of named features beside an array's columns 0, 1 (pd.concat) was fitted with no names
    kept, so the same table with its columns in another order at predict was taken by their place
    (the predictions of other features). scikit-learn refuses such names at fit and at predict; with
    the advice taken (names as text), both refuse the columns' other order."""
    import pandas as pd
    from sklearn.svm import SVC

    from gpuimg.ml import SOM, CorrelationFilter

    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    named = pd.DataFrame(rng.normal(size=(20, 2)) + y[:, None], columns=["glcm_contrast", "stat_mean"])
    table = pd.concat([named, pd.DataFrame(rng.normal(size=(20, 2)))], axis=1)  # columns [.., .., 0, 1]
    with pytest.raises(TypeError, match="only supported if all input features have string names"):
        SVC().fit(table, y)
    refused = r"only supported if all input features have string names, .* \['int', 'str'\]"
    for model in (make_estimator("svm"), CorrelationFilter(), SOM(grid=(2, 1))):
        with pytest.raises(ParameterError, match=refused):
            model.fit(table, y)
    on_array = make_estimator("svm").fit(table.to_numpy(), y)
    with pytest.raises(TypeError, match="only supported if all"):
        SVC().fit(table.to_numpy(), y).predict(table)
    with pytest.raises(ParameterError, match=refused):
        on_array.predict(table)
    advised = table.set_axis(table.columns.astype(str), axis=1)
    reordered = advised[advised.columns[::-1]]
    with pytest.raises(ValueError, match="same order"):
        SVC().fit(advised, y).predict(reordered)
    with pytest.raises(ParameterError, match="same order"):
        make_estimator("svm").fit(advised, y).predict(reordered)


def test_a_table_of_pandas_nullable_columns_reads_missing_values_as_nan():
    """pandas' nullable columns (Float64, Int64, boolean: what read_parquet with
    dtype_backend="numpy_nullable" or convert_dtypes() give) hold pandas' NA where a value is
    missing, which NumPy cannot convert: the table was refused as 'values that are not numbers ...
    encode them as numbers first (OneHotEncoder)'. scikit-learn reads NA as NaN: its VarianceThreshold
    keeps the same features with the same variances, its split takes the table, and its classifiers
    refuse the NaN (ours with a FeatureError naming the columns)."""
    import pandas as pd
    from sklearn.feature_selection import VarianceThreshold as SklearnVarianceThreshold
    from sklearn.model_selection import GroupShuffleSplit

    from gpuimg.errors import FeatureError
    from gpuimg.ml import VarianceThreshold, patient_split

    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "glcm_contrast": pd.array(np.r_[rng.normal(size=9), None], dtype="Float64"),
            "morph_voxels": pd.array(rng.integers(10, 900, 10), dtype="Int64"),
            "calcified": pd.array(
                [True, False, None, True, True, False, False, True, None, True], dtype="boolean"
            ),
            "constant": np.full(10, 2.0),
        }
    )
    reference = SklearnVarianceThreshold(threshold=0.01).fit(table)
    ours = VarianceThreshold(threshold=0.01).fit(table)
    np.testing.assert_array_equal(ours.get_support(), reference.get_support())
    # nanvar in both, of the same float64 values: 1e-12 for the order of the sums.
    np.testing.assert_allclose(ours.variances_, reference.variances_, rtol=1e-12)
    np.testing.assert_array_equal(ours.get_feature_names_out(), reference.get_feature_names_out())
    y, patients = np.tile([0, 1], 5), np.arange(10) // 2
    split = GroupShuffleSplit(n_splits=1, test_size=2, random_state=0).split(table, y, patients)
    want = next(split)
    got = patient_split(table, y, patients, test_size=0.4, random_state=0)
    for part, expected in zip(got, want, strict=True):
        np.testing.assert_array_equal(part, np.sort(expected))
    with pytest.raises(
        FeatureError,
        match=r"NaN or infinite values in 2 feature columns \(first: \['glcm_contrast', 'calcified'\]\)",
    ):
        make_estimator("logistic_regression").fit(table, y)


def _unfitted_pairs():
    """gpuimg's estimators, unfitted, beside the scikit-learn estimator each wraps or mirrors."""
    from sklearn.cluster import DBSCAN, KMeans
    from sklearn.decomposition import PCA as SklearnPCA
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.feature_selection import SelectKBest
    from sklearn.feature_selection import VarianceThreshold as SklearnVarianceThreshold
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier

    from gpuimg.ml import (
        PCA,
        SOM,
        CorrelationFilter,
        MutualInformationSelector,
        VarianceThreshold,
        VoxelClassifier,
    )

    return [
        (make_estimator("svm", probability=True), SVC(probability=True)),
        (make_estimator("decision_tree"), DecisionTreeClassifier()),
        (make_estimator("random_forest"), RandomForestClassifier()),
        (make_estimator("logistic_regression"), LogisticRegression()),
        (make_estimator("linear_regression", "regression"), LinearRegression()),
        (make_estimator("ridge", "regression"), Ridge()),
        (make_estimator("svr", "regression"), SVR()),
        (make_estimator("random_forest", "regression"), RandomForestRegressor()),
        (make_estimator("kmeans", "clustering", n_clusters=2), KMeans(n_clusters=2)),
        (make_estimator("dbscan", "clustering"), DBSCAN()),
        (make_estimator("som", "clustering", grid=(2, 2)), KMeans(n_clusters=4)),
        (make_estimator("pca", "decomposition"), SklearnPCA()),
        (PCA(), SklearnPCA()),
        (SOM(grid=(2, 2)), KMeans(n_clusters=4)),
        (VarianceThreshold(), SklearnVarianceThreshold()),
        (CorrelationFilter(), SklearnVarianceThreshold()),
        (MutualInformationSelector(k=2), SelectKBest(k=2)),
        (VoxelClassifier(), RandomForestClassifier()),  # a forest on voxel features
    ]


#: Methods that fit, or that work on the parameters only, and so need no fitted model.
_NO_MODEL_NEEDED = {"fit", "fit_predict", "fit_transform", "get_params", "set_params", "check_params"}


def _calls_needing_a_model(estimator):
    """The public methods of ``estimator`` other than fitting and parameters, each with its data."""
    import inspect

    X, y = np.random.default_rng(0).normal(size=(12, 3)), np.tile([0, 1], 6)
    for name in sorted(dir(estimator)):
        if name.startswith(("_", "set_")) or name in _NO_MODEL_NEEDED or name == "get_metadata_routing":
            continue
        if isinstance(inspect.getattr_static(estimator, name), property) or not hasattr(estimator, name):
            continue  # fitted attributes read through properties, and methods the estimator lacks
        method = getattr(estimator, name)
        if not callable(method):
            continue  # a parameter (name)
        parameters = inspect.signature(method).parameters
        args = [X] if {"X", "image"} & set(parameters) else []
        if "y" in parameters and parameters["y"].default is inspect.Parameter.empty:
            args.append(y)
        yield name, method, args


@pytest.mark.parametrize(
    ("ours", "reference"), _unfitted_pairs(), ids=lambda e: getattr(e, "name", type(e).__name__)
)
def test_every_method_before_fit_raises_not_fitted_as_scikit_learn(ours, reference):
    # Before fit, scikit-learn's check_is_fitted refuses the reference and each of its methods raises
    # its NotFittedError; so must each of ours, as gpuimg's NotFittedError (a subclass). The Device*
    # wrappers' score raised AttributeError: 'DeviceClassifier' object has no attribute 'route_'.
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    from sklearn.utils.validation import check_is_fitted

    from gpuimg.errors import NotFittedError

    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(reference)
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(ours)
    calls = list(_calls_needing_a_model(ours))
    assert calls or not list(_calls_needing_a_model(reference))  # DBSCAN has none: fit_predict only
    for name, method, args in calls:
        if hasattr(reference, name):
            # scikit-learn 1.9.0's PCA.inverse_transform refuses with an AttributeError ('components_'),
            # 1.9.1's with its NotFittedError: both are a refusal, the fact this reference is for.
            with pytest.raises((SklearnNotFittedError, AttributeError)):
                getattr(reference, name)(*args)
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method(*args)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_score_with_bad_y_or_weights_names_the_parameter(task):
    # score's bad y and weights were scikit-learn's plain ValueError ('Found input variables with
    # inconsistent numbers of samples: [5, 20]'), where fit's are ParameterErrors naming them.
    # scikit-learn's SVC / SVR refuse the same input (the reference that it is bad).
    from sklearn.svm import SVC, SVR

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.tile([0, 1], 10)
    ours = make_estimator("svm" if task == "classification" else "svr", task).fit(X, y)
    reference = (SVC() if task == "classification" else SVR()).fit(X, y)
    weights = np.ones(20)
    weights[3] = np.nan
    bad = [
        ((X, y[:5]), {}, r"X has 20 samples but y has shape \(5,\)"),
        ((X, np.column_stack([y, y])), {}, r"y has 2 targets per sample"),
        ((X, y), {"sample_weight": np.ones(5)}, r"sample_weight has shape \(5,\), but X has 20 samples"),
        ((X, y), {"sample_weight": weights}, r"sample_weight holds NaN or infinite values for 1 sample"),
    ]
    for args, kwargs, message in bad:
        with pytest.raises(ValueError):
            reference.score(*args, **kwargs)
        with pytest.raises(ParameterError, match=message):
            ours.score(*args, **kwargs)
    # Good input scores as scikit-learn's (same model, same data: exactly).
    assert ours.score(X, y, sample_weight=np.arange(20.0)) == reference.score(
        X, y, sample_weight=np.arange(20.0)
    )


def test_set_params_refuses_an_unknown_parameter_as_the_wrappers_do():
    # PCA's (and the SOM's and selectors') set_params raised scikit-learn's plain ValueError for an
    # unknown parameter (DeviceEstimator.set_params a ParameterError), after setting those before it.
    from sklearn.base import clone

    for ours, reference in _unfitted_pairs():
        with pytest.raises(ValueError, match="Invalid parameter"):
            clone(reference).set_params(bogus=1)
        before = ours.get_params()
        first = next(iter(before))
        with pytest.raises(ParameterError, match=r"Invalid parameter \['bogus'\]"):
            ours.set_params(**{first: before[first]}, bogus=1)
        assert ours.get_params() == before  # nothing set


def test_input_features_other_than_the_fitted_columns_are_refused_as_scikit_learn():
    # Fitted on a DataFrame, a selector's get_feature_names_out(["x", "y", "z"]) returned the given
    # names as the kept features', and PCA's and the SOM's accepted them; scikit-learn's refuses names
    # other than the columns fitted on ('input_features is not equal to feature_names_in_').
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA as SklearnPCA
    from sklearn.feature_selection import VarianceThreshold as SklearnVarianceThreshold

    from gpuimg.ml import PCA, SOM, CorrelationFilter, VarianceThreshold

    table = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 3)), columns=["a", "b", "c"])
    pairs = [
        (VarianceThreshold(), SklearnVarianceThreshold()),
        (CorrelationFilter(), SklearnVarianceThreshold()),
        (PCA(n_components=2), SklearnPCA(n_components=2)),
        (make_estimator("pca", "decomposition", n_components=2), SklearnPCA(n_components=2)),
        (make_estimator("kmeans", "clustering", n_clusters=2, random_state=0), KMeans(2, random_state=0)),
        (SOM(grid=(1, 2)), KMeans(2, random_state=0)),
    ]
    for ours, reference in pairs:
        ours.fit(table), reference.fit(table)
        with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
            reference.get_feature_names_out(["x", "y", "z"])
        with pytest.raises(ParameterError, match="input_features is not equal to feature_names_in_"):
            ours.get_feature_names_out(["x", "y", "z"])
        # The columns fitted on are taken, and name the outputs as without them.
        assert list(ours.get_feature_names_out(["a", "b", "c"])) == list(ours.get_feature_names_out())
    # A selector's kept names are the DataFrame's, as scikit-learn's.
    kept = VarianceThreshold().fit(table).get_feature_names_out(["a", "b", "c"])
    assert list(kept) == list(SklearnVarianceThreshold().fit(table).get_feature_names_out(["a", "b", "c"]))


@pytest.mark.parametrize(
    ("ours", "reference"),
    [pair for pair in _unfitted_pairs() if type(pair[0]).__name__ != "VoxelClassifier"],  # fit(image, ...)
    ids=lambda e: getattr(e, "name", type(e).__name__),
)
def test_not_fitted_error_names_the_fit_call_of_the_reference(ours, reference):
    # The clusterers, PCA and the unsupervised selectors said "call fit(X, y)", where their fit (as
    # scikit-learn's KMeans.fit, PCA.fit, VarianceThreshold.fit) takes X alone.
    import inspect

    from sklearn.feature_selection import mutual_info_classif

    from gpuimg.errors import NotFittedError

    # SelectKBest.fit takes y=None (for unsupervised score functions); mutual information needs y.
    fit = mutual_info_classif if type(ours).__name__ == "MutualInformationSelector" else type(reference).fit
    y = inspect.signature(fit).parameters["y"]
    call = "fit(X, y)" if y.default is inspect.Parameter.empty else "fit(X)"
    for _, method, args in _calls_needing_a_model(ours):
        with pytest.raises(NotFittedError, match=rf"call {re.escape(call)} before"):
            method(*args)
