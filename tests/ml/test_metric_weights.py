"""``sample_weight`` of the metrics (gpuimg.ml.metrics) against scikit-learn's ``sample_weight``, and
against the closed form of an integer weight: the sample repeated that many times."""

import numpy as np
import pytest
import sklearn.metrics as skm

from gpuimg.errors import ParameterError
from gpuimg.ml import metrics

REGRESSION = {
    metrics.mse: skm.mean_squared_error,
    metrics.mae: skm.mean_absolute_error,
    metrics.r2: skm.r2_score,
}


def _weights(rng, n):
    """Random non-negative weights, every fourth 0 (a sample left out), at least one positive."""
    w = rng.random(n) * 3.0
    w[::4] = 0.0
    return w


def _regression_data(rng, shape):
    y = rng.normal(size=shape) * 10.0 + 5.0
    return y, y + rng.normal(size=shape)


@pytest.mark.parametrize("ours", REGRESSION, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(80,), (80, 3)], ids=["vector", "table"])
def test_weighted_regression_metrics_equal_scikit_learns(rng, ours, shape):
    y, p = _regression_data(rng, shape)
    w = _weights(rng, shape[0])
    # Weighted sums in another order than NumPy's average: float rounding only.
    assert ours(y, p, sample_weight=w) == pytest.approx(REGRESSION[ours](y, p, sample_weight=w), rel=1e-12)
    ints = rng.integers(0, 4, shape[0])
    ints[0] = 1
    assert ours(y, p, sample_weight=ints) == pytest.approx(
        REGRESSION[ours](y, p, sample_weight=ints), rel=1e-12
    )


@pytest.mark.parametrize("ours", REGRESSION, ids=lambda f: f.__name__)
def test_weighted_regression_metrics_of_two_images_weigh_each_voxel(rng, ours):
    image = rng.normal(size=(4, 5, 6))
    noisy = image + rng.normal(size=image.shape)
    w = _weights(rng, image.size)
    want = REGRESSION[ours](image.ravel(), noisy.ravel(), sample_weight=w)
    assert ours(image, noisy, sample_weight=w) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("ours", REGRESSION, ids=lambda f: f.__name__)
def test_regression_weights_of_one_equal_no_weights(rng, ours):
    y, p = _regression_data(rng, (50, 2))
    assert ours(y, p, sample_weight=np.ones(50)) == pytest.approx(ours(y, p), rel=1e-12)


@pytest.mark.parametrize("ours", REGRESSION, ids=lambda f: f.__name__)
def test_integer_regression_weights_repeat_the_samples(rng, ours):
    y, p = _regression_data(rng, (40, 2))
    counts = rng.integers(0, 4, 40)
    counts[0] = 2
    repeated = ours(np.repeat(y, counts, axis=0), np.repeat(p, counts, axis=0))
    assert ours(y, p, sample_weight=counts) == pytest.approx(repeated, rel=1e-12)


BAD_WEIGHTS = [
    (np.ones(9), r"sample_weight has shape \(9,\), but the inputs hold 10 samples; give one weight"),
    (np.ones((10, 1)), r"sample_weight has shape \(10, 1\), .* a 1-D array of shape \(10,\)"),
    (np.array(["1"] * 10), r"the sample_weight must hold real numbers; got dtype <U1"),
    (np.ones(10, dtype=complex), r"the sample_weight must hold real numbers; got dtype complex128"),
    (np.r_[np.nan, np.ones(9)], r"sample_weight holds NaN or infinite values for 1 sample; give each"),
    (np.r_[np.ones(8), np.inf, np.inf], r"sample_weight holds NaN or infinite values for 2 samples"),
    (
        np.r_[-0.5, np.ones(9)],
        r"sample_weight holds negative weights for 1 sample \(the smallest -0.5\); .* >= 0",
    ),
    (np.zeros(10), r"sample_weight is 0 for every sample, .* give at least one sample a positive weight"),
]


@pytest.mark.parametrize("ours", REGRESSION, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("weights", "message"), BAD_WEIGHTS)
def test_bad_regression_weights_are_refused(rng, ours, weights, message):
    y, p = _regression_data(rng, (10,))
    with pytest.raises(ParameterError, match=message):
        ours(y, p, sample_weight=weights)
