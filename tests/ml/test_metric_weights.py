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


def _labels(rng, n, k=3):
    y = rng.integers(0, k, n)
    return y, np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))


def _recall_of(negated):
    """scikit-learn's recall of the positive class 1 (the negated labels: of the negatives)."""

    def recall(y, p, sample_weight=None):
        return (
            skm.recall_score(y != 1, p != 1, sample_weight=sample_weight)
            if negated
            else skm.recall_score(y == 1, p == 1, sample_weight=sample_weight)
        )

    return recall


def _scores(rng, y):
    """Scores rounded to 0.1 (ties, counted half) of the binary labels ``y``."""
    return np.round(rng.normal(size=y.size) + y, 1)


def _probabilities(rng, y, k=3):
    proba = rng.random((y.size, k))
    proba[np.arange(y.size), y] += 0.5
    return proba / proba.sum(axis=1, keepdims=True)


CLASSIFICATION = {
    metrics.accuracy: skm.accuracy_score,
    metrics.balanced_accuracy: skm.balanced_accuracy_score,
    metrics.sensitivity: _recall_of(negated=False),
    metrics.specificity: _recall_of(negated=True),
}


@pytest.mark.parametrize("ours", CLASSIFICATION, ids=lambda f: f.__name__)
def test_weighted_classification_metrics_equal_scikit_learns(rng, ours):
    y, p = _labels(rng, 200)
    for w in (_weights(rng, 200), rng.integers(1, 5, 200)):
        # Sums of weights divided: float rounding only.
        want = CLASSIFICATION[ours](y, p, sample_weight=w)
        assert ours(y, p, sample_weight=w) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("labels", [None, [2, 0, 1], [1, 2]])
def test_weighted_confusion_matrix_equals_scikit_learns(rng, labels):
    y, p = _labels(rng, 120)
    for w in (_weights(rng, 120), rng.integers(0, 5, 120), rng.random(120) < 0.5):
        want = skm.confusion_matrix(y, p, labels=labels, sample_weight=w)
        got = metrics.confusion_matrix(y, p, labels=labels, sample_weight=w)
        assert got.dtype == want.dtype  # int64 for integer or boolean weights, float64 for floats
        np.testing.assert_allclose(got, want, rtol=1e-12)  # the same sums in another order


def test_weighted_roc_auc_equals_scikit_learns(rng):
    y = rng.integers(0, 2, 200)
    score = _scores(rng, y)
    for w in (_weights(rng, 200), rng.integers(0, 5, 200)):
        want = skm.roc_auc_score(y, score, sample_weight=w)
        # Weighted pair counts against the trapezoids of the weighted ROC curve: float rounding only.
        assert metrics.roc_auc(y, score, sample_weight=w) == pytest.approx(want, rel=1e-12)
        assert metrics.roc_auc(y, score, pos_label=0, sample_weight=w) == pytest.approx(1 - want, rel=1e-12)
        names = np.array(["benign", "malignant"])[y]
        assert metrics.roc_auc(names, score, sample_weight=w) == pytest.approx(want, rel=1e-12)


def test_weighted_roc_auc_of_several_classes_equals_scikit_learns_ovr_and_refuses_ovo(rng):
    y = rng.integers(0, 3, 150)
    proba = _probabilities(rng, y)
    w = _weights(rng, 150)
    want = skm.roc_auc_score(y, proba, multi_class="ovr", sample_weight=w)
    assert metrics.roc_auc(y, proba, multi_class="ovr", sample_weight=w) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="sample_weight is not supported for multiclass one-vs-one"):
        skm.roc_auc_score(y, proba, multi_class="ovo", sample_weight=w)
    with pytest.raises(
        ParameterError, match=r"sample_weight is not defined for multi_class='ovo' .*multi_class='ovr'"
    ):
        metrics.roc_auc(y, proba, multi_class="ovo", sample_weight=w)


def _calls(rng, n):
    """Each classification metric as a function of ``sample_weight``, on ``n`` samples of both classes
    (of three for the one-vs-rest roc_auc)."""
    y, p = _labels(rng, n, k=2)
    y[:2], p[:2] = [0, 1], [1, 0]
    score = _scores(rng, y)
    y3 = rng.integers(0, 3, n)
    y3[:3] = [0, 1, 2]
    proba = _probabilities(rng, y3)
    return {
        "accuracy": lambda w: metrics.accuracy(y, p, sample_weight=w),
        "balanced_accuracy": lambda w: metrics.balanced_accuracy(y, p, sample_weight=w),
        "confusion_matrix": lambda w: metrics.confusion_matrix(y, p, sample_weight=w),
        "sensitivity": lambda w: metrics.sensitivity(y, p, sample_weight=w),
        "specificity": lambda w: metrics.specificity(y, p, sample_weight=w),
        "roc_auc": lambda w: metrics.roc_auc(y, score, sample_weight=w),
        "roc_auc_ovr": lambda w: metrics.roc_auc(y3, proba, multi_class="ovr", sample_weight=w),
    }, (y, p, score, y3, proba)


CALLS = list(_calls(np.random.default_rng(0), 10)[0])


@pytest.mark.parametrize("name", CALLS)
def test_classification_weights_of_one_equal_no_weights(rng, name):
    call = _calls(rng, 60)[0][name]
    np.testing.assert_allclose(call(np.ones(60)), call(None), rtol=1e-12)


def _repeated(name, counts, inputs):
    """``name`` of the samples repeated ``counts`` times, without weights."""
    y, p, score, y3, proba = (np.repeat(v, counts, axis=0) for v in inputs)
    return {
        "accuracy": lambda: metrics.accuracy(y, p),
        "balanced_accuracy": lambda: metrics.balanced_accuracy(y, p),
        "confusion_matrix": lambda: metrics.confusion_matrix(y, p),
        "sensitivity": lambda: metrics.sensitivity(y, p),
        "specificity": lambda: metrics.specificity(y, p),
        "roc_auc": lambda: metrics.roc_auc(y, score),
        "roc_auc_ovr": lambda: metrics.roc_auc(y3, proba, multi_class="ovr"),
    }[name]()


@pytest.mark.parametrize("name", CALLS)
def test_integer_classification_weights_repeat_the_samples(rng, name):
    calls, inputs = _calls(rng, 60)
    counts = rng.integers(1, 4, 60)  # each sample kept: every class stays in y_true
    counts[5::7] = 0  # some left out
    got, want = calls[name](counts), _repeated(name, counts, inputs)
    if name == "confusion_matrix":
        np.testing.assert_array_equal(got, want)  # integer weights: whole counts, int64
        assert got.dtype == want.dtype == np.int64
    else:
        assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize(("weights", "message"), BAD_WEIGHTS)
def test_bad_classification_weights_are_refused(rng, name, weights, message):
    call = _calls(rng, 10)[0][name]
    with pytest.raises(ParameterError, match=message):
        call(weights)


def test_a_class_whose_samples_all_weigh_zero(rng):
    y, p = _labels(rng, 60)
    y[:3] = [0, 1, 2]
    w = np.where(y == 2, 0.0, rng.random(60) + 0.1)
    # balanced accuracy: the class has no recall and is left out, as scikit-learn leaves it out
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        want = skm.balanced_accuracy_score(y, p, sample_weight=w)
    assert metrics.balanced_accuracy(y, p, sample_weight=w) == pytest.approx(want, rel=1e-12)
    # a rate or a ROC curve of no weight: undefined (scikit-learn: 0 or NaN, with a warning)
    with pytest.raises(
        ParameterError, match="sample_weight is 0 for each positive sample of y_true, so the rate"
    ):
        metrics.sensitivity(y == 2, p == 2, pos_label=True, sample_weight=w)
    with pytest.raises(
        ParameterError, match="sample_weight is 0 for each negative sample of y_true, so the rate"
    ):
        metrics.specificity(y != 2, p != 2, pos_label=True, sample_weight=w)
    with pytest.raises(
        ParameterError, match="sample_weight is 0 for every positive sample of y_true, so the ROC"
    ):
        metrics.roc_auc(y == 2, rng.random(60), sample_weight=w)
    with pytest.raises(
        ParameterError, match="sample_weight is 0 for every positive sample of y_true, so the ROC"
    ):
        metrics.roc_auc(y, _probabilities(rng, y), multi_class="ovr", sample_weight=w)
