"""``sample_weight`` of gpuimg.ml's metrics on the CUDA device (emulated without a GPU) against
scikit-learn's on the host: weights on the device, or on the host beside labels on the device (copied
there, as the labels kept on the host are), or on the device beside labels on the host."""

import numpy as np
import pytest
import sklearn.metrics as skm

import gpuimg
from gpuimg import ml


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
