"""``sample_weight`` of gpuimg.ml's metrics on the CUDA device (emulated without a GPU) against
scikit-learn's on the host: weights on the device, or on the host beside labels on the device (copied
there, as the labels kept on the host are), or on the device beside labels on the host."""

import numpy as np
import pytest
import sklearn.metrics as skm

import gpuimg
from gpuimg import ml
from gpuimg.backend import namespace, to_numpy


def _placements(emulated_cuda, a, b, w):
    """The three ways of giving the inputs with one of them (at least) on the device."""
    yield emulated_cuda(a), emulated_cuda(b), emulated_cuda(w)
    yield emulated_cuda(a), emulated_cuda(b), w
    yield a, b, emulated_cuda(w)


def _weights(rng, n):
    w = rng.random(n) * 3.0
    w[::4] = 0.0
    return w


@pytest.mark.parametrize(
    ("ours", "reference"),
    [(ml.mse, skm.mean_squared_error), (ml.mae, skm.mean_absolute_error), (ml.r2, skm.r2_score)],
    ids=["mse", "mae", "r2"],
)
def test_weighted_regression_metrics_on_the_device(emulated_cuda, rng, ours, reference):
    y = rng.normal(size=(60, 2))
    p = y + rng.normal(size=y.shape)
    w = _weights(rng, 60)
    for a, b, weights in _placements(emulated_cuda, y, p, w):
        # Weighted sums in another order than NumPy's average: float rounding only.
        assert ours(a, b, sample_weight=weights) == pytest.approx(reference(y, p, sample_weight=w), rel=1e-12)
    with pytest.raises(gpuimg.ParameterError, match=r"sample_weight holds negative weights for 1 sample"):
        ours(emulated_cuda(y), emulated_cuda(p), sample_weight=emulated_cuda(np.r_[-1.0, w[1:]]))


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        (ml.accuracy, skm.accuracy_score),
        (ml.balanced_accuracy, skm.balanced_accuracy_score),
        (ml.sensitivity, skm.recall_score),
        (
            ml.specificity,
            lambda y, p, sample_weight: skm.recall_score(1 - y, 1 - p, sample_weight=sample_weight),
        ),
    ],
    ids=["accuracy", "balanced_accuracy", "sensitivity", "specificity"],
)
def test_weighted_classification_metrics_on_the_device(emulated_cuda, rng, ours, reference):
    y = rng.integers(0, 2, 80)
    p = np.where(rng.random(80) < 0.7, y, 1 - y)
    w = _weights(rng, 80)
    for a, b, weights in _placements(emulated_cuda, y, p, w):
        # Sums of weights divided: float rounding only.
        assert ours(a, b, sample_weight=weights) == pytest.approx(reference(y, p, sample_weight=w), rel=1e-12)


def test_weighted_confusion_matrix_on_the_device(emulated_cuda, rng):
    y, p = rng.integers(0, 3, 90), rng.integers(0, 3, 90)
    for w in (_weights(rng, 90), rng.integers(0, 4, 90)):
        want = skm.confusion_matrix(y, p, labels=[2, 0, 1], sample_weight=w)
        for a, b, weights in _placements(emulated_cuda, y, p, w):
            got = ml.confusion_matrix(a, b, labels=[2, 0, 1], sample_weight=weights)
            assert namespace(got).device == "cuda" and got.dtype == want.dtype
            np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)  # the same sums in another order


def test_weighted_roc_auc_on_the_device(emulated_cuda, rng):
    y = rng.integers(0, 2, 100)
    score = np.round(rng.normal(size=100) + y, 1)  # ties, counted half
    w = _weights(rng, 100)
    want = skm.roc_auc_score(y, score, sample_weight=w)
    for a, b, weights in _placements(emulated_cuda, y, score, w):
        assert ml.roc_auc(a, b, sample_weight=weights) == pytest.approx(want, rel=1e-12)
    y3 = rng.integers(0, 3, 100)
    proba = rng.random((100, 3))
    proba /= proba.sum(axis=1, keepdims=True)
    want = skm.roc_auc_score(y3, proba, multi_class="ovr", sample_weight=w)
    for a, b, weights in _placements(emulated_cuda, y3, proba, w):
        assert ml.roc_auc(a, b, multi_class="ovr", sample_weight=weights) == pytest.approx(want, rel=1e-12)
    with pytest.raises(gpuimg.ParameterError, match="sample_weight is not defined for multi_class='ovo'"):
        ml.roc_auc(emulated_cuda(y3), emulated_cuda(proba), multi_class="ovo", sample_weight=emulated_cuda(w))
