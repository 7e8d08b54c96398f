"""Bad input to the ML estimators and voxel features (issue 14): a ParameterError naming the
parameter and the data, before scikit-learn's own ValueError or a long computation."""

import numpy as np
import pytest
from guarded import run_guarded

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
