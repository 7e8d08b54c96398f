"""Bad input to the ML estimators and voxel features (issue 14): a ParameterError naming the
parameter and the data, before scikit-learn's own ValueError or a long computation."""

import numpy as np
import pytest

from gpuimg import ParameterError, Volume
from gpuimg.ml import make_estimator, voxel_features


def test_more_clusters_than_samples():
    X = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(ParameterError, match="n_clusters=5") as info:
        make_estimator("kmeans", "clustering", n_clusters=5).fit(X)
    assert "3 samples" in str(info.value)


def test_more_components_than_samples():
    X = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(ParameterError, match="n_components=10") as info:
        make_estimator("pca", "decomposition", n_components=10).fit(X)
    assert "3 samples" in str(info.value)


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
