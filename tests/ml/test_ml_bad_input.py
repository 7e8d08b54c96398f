"""Bad input to the ML estimators and voxel features (issue 14): a ParameterError naming the
parameter and the data, before scikit-learn's own ValueError or a long computation."""

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
        got = make_estimator("logistic_regression").fit(advised, y).predict_proba(X)
        # float64, the same solver: text to float round-trips each number (repr), 1e-9 for lbfgs' stops
        np.testing.assert_allclose(got, reference, rtol=1e-9)
