import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from traced import traced_peak

from gpuimg.errors import MemoryBudgetError, ParameterError
from gpuimg.ml import _clustering_metrics, metrics


def test_classification_metrics_match_scikit_learn(rng):
    y = rng.integers(0, 3, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 3, 200))
    # Counts and ratios of counts: equal up to float rounding.
    assert metrics.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert metrics.balanced_accuracy(y, p) == pytest.approx(skm.balanced_accuracy_score(y, p), abs=1e-12)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, p), skm.confusion_matrix(y, p))
    yb, pb = y > 0, p > 0
    assert metrics.sensitivity(yb, pb, pos_label=True) == pytest.approx(skm.recall_score(yb, pb), abs=1e-12)
    assert metrics.specificity(yb, pb, pos_label=True) == pytest.approx(skm.recall_score(~yb, ~pb), abs=1e-12)
    score = np.round(rng.normal(size=200) + yb, 1)  # rounded: ties, counted half
    assert metrics.roc_auc(yb, score, pos_label=True) == pytest.approx(
        skm.roc_auc_score(yb, score), abs=1e-12
    )


def test_regression_metrics_match_scikit_learn(rng):
    y, p = rng.normal(size=100), rng.normal(size=100)
    assert metrics.mse(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert metrics.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert metrics.r2(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.bool_])
def test_regression_metrics_of_integer_targets_match_scikit_learn(dtype):
    # Differences of unsigned and of int16 values wrapped around (uint8: 0 - 1 = 255; int16: 30000 -
    # -30000 = -5536), and NumPy refuses to subtract booleans: they are computed in float64.
    y = np.array([0, 1, 30000, -30000, 1, 0, 2]).astype(dtype)
    p = np.array([1, 0, -30000, 30000, 3, 0, 2]).astype(dtype)
    assert metrics.mse(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert metrics.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert metrics.r2(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)


def test_regression_metrics_of_several_targets_match_scikit_learn(rng):
    # Targets (samples, targets) on other scales: r2 pooled them into one R² (about 0.99997, the
    # spread between the columns explained), where scikit-learn's default averages the targets' R²
    # (about 0.6). mse and mae: the mean over targets is the mean over all values, as before.
    y = rng.normal(size=(50, 3)) * [1.0, 10.0, 100.0] + [0.0, 50.0, -400.0]
    p = y + rng.normal(size=(50, 3))
    assert metrics.r2(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    assert metrics.mse(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert metrics.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    # One target as a column, beside a vector or a column: the vector's score.
    want = skm.r2_score(y[:, 0], p[:, 0])
    assert metrics.r2(y[:, :1], p[:, :1]) == pytest.approx(want, rel=1e-12)
    assert metrics.r2(y[:, 0], p[:, :1]) == pytest.approx(want, rel=1e-12)
    # Two images of 3 or more axes: voxel by voxel, as scikit-learn scores the flattened images.
    image = rng.normal(size=(4, 5, 6))
    noisy = image + rng.normal(size=image.shape)
    assert metrics.r2(image, noisy) == pytest.approx(skm.r2_score(image.ravel(), noisy.ravel()), rel=1e-12)
    # A constant target: R² undefined, refused with its column (scikit-learn scores it 0 or 1).
    y[:, 1] = 3.0
    with pytest.raises(
        ParameterError, match=r"constant y_true \(target column 1 of 3: .* r2\(a.ravel\(\), b"
    ):
        metrics.r2(y, p)


@pytest.mark.parametrize("labels", [[2, 0, 1], [1, 2], [2, 0]])
def test_confusion_matrix_in_the_order_of_labels(rng, labels):
    # The labels were searched as if sorted: any other order gave counts in the wrong cells (or none).
    y, p = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y, p, labels=labels), skm.confusion_matrix(y, p, labels=labels)
    )
    names = np.array(["benign", "malignant", "unknown"])
    np.testing.assert_array_equal(
        metrics.confusion_matrix(names[y], names[p], labels=names[labels]),
        skm.confusion_matrix(names[y], names[p], labels=names[labels]),
    )


def test_confusion_matrix_refuses_labels_none_of_which_is_in_y_true():
    # All zeros came back for labels absent from y_true (here only in y_pred, or in neither), where
    # scikit-learn raises; an empty list was NumPy's bare IndexError.
    y, p = np.array([0, 1, 1, 0]), np.array([2, 2, 1, 0])
    for labels in ([5, 6], [2], []):
        with pytest.raises(ValueError, match="label"):  # the reference: scikit-learn refuses each
            skm.confusion_matrix(y, p, labels=labels)
        with pytest.raises(ParameterError, match=r"labels is empty|none of labels"):
            metrics.confusion_matrix(y, p, labels=labels)
    with pytest.raises(ParameterError, match="labels holds 1 more than once"):  # which row would count?
        metrics.confusion_matrix(y, p, labels=[1, 0, 1])
    # One label of y_true is enough, as in scikit-learn.
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y, p, labels=[5, 1]), skm.confusion_matrix(y, p, labels=[5, 1])
    )


@pytest.mark.parametrize("multi_class", ["ovr", "ovo"])
def test_roc_auc_of_several_classes_equals_scikit_learn(rng, multi_class):
    # A 1-D score for three classes or more ranked class pos_label=1 against the rest without a word
    # (an area none of scikit-learn's averages gives); the probabilities of each class were refused.
    y = rng.integers(0, 4, 150)
    proba = rng.random((150, 4)).round(1) + 0.01  # rounded: ties, counted half
    proba[np.arange(150), y] += rng.random(150)
    proba /= proba.sum(axis=1, keepdims=True)
    want = skm.roc_auc_score(y, proba, multi_class=multi_class)
    assert metrics.roc_auc(y, proba, multi_class=multi_class) == pytest.approx(want, abs=1e-12)
    names = np.array(["benign", "cyst", "malignant", "unknown"])[y]
    assert metrics.roc_auc(names, proba, multi_class=multi_class) == pytest.approx(
        skm.roc_auc_score(names, proba, multi_class=multi_class), abs=1e-12
    )


@pytest.mark.parametrize(
    ("score", "multi_class", "message"),
    [
        (lambda proba: proba[:, 1], "ovr", "a 1-D score ranks one class against the rest"),
        (lambda proba: proba, "raise", "needs multi_class='ovr'"),
        (lambda proba: proba[:, :3], "ovr", "score has 3 columns but y_true holds 4 classes"),
        (lambda proba: proba * 2, "ovo", "must sum to 1 in each row"),
    ],
)
def test_roc_auc_of_several_classes_refuses_what_scikit_learn_refuses(rng, score, multi_class, message):
    y = np.arange(40) % 4
    proba = rng.random((40, 4))
    proba /= proba.sum(axis=1, keepdims=True)
    with pytest.raises(ValueError):
        skm.roc_auc_score(y, score(proba), multi_class=multi_class)
    with pytest.raises(ParameterError, match=message):
        metrics.roc_auc(y, score(proba), multi_class=multi_class)
    with pytest.raises(ParameterError, match="binary roc_auc takes the positive class's score"):
        metrics.roc_auc(y % 2, proba[:, :2], multi_class="ovr")  # scikit-learn: 'y should be a 1d array'


def test_roc_auc_refuses_nan_scores():
    # NaN scores were ranked as one value, and this AUC came out 1.0; scikit-learn refuses them too.
    y, score = np.array([0, 1, 1, 0]), np.array([0.1, np.nan, 0.8, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        skm.roc_auc_score(y, score)
    with pytest.raises(ParameterError, match=r"score holds 1 NaN value.*drop those samples"):
        metrics.roc_auc(y, score)


def test_a_pos_label_that_is_no_label_is_refused():
    # Text labels beside the default pos_label=1: every sample counted as a negative, so specificity
    # came out 1.0 without a word (and roc_auc said y_true held one class). scikit-learn refuses it.
    y = np.array(["benign", "malignant", "malignant", "benign", "malignant", "benign"])
    p = np.array(["benign", "malignant", "benign", "benign", "malignant", "malignant"])
    score = np.array([0.1, 0.9, 0.4, 0.3, 0.8, 0.6])
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        skm.recall_score(y, p, pos_label=1)
    refused = r"pos_label=1 is none of the labels \('benign', 'malignant'\)"
    for metric, second in ((metrics.sensitivity, p), (metrics.specificity, p), (metrics.roc_auc, score)):
        with pytest.raises(ParameterError, match=refused):
            metric(y, second, pos_label=1)
    for metric in (metrics.sensitivity, metrics.specificity):  # roc_auc's default is the greater label
        with pytest.raises(ParameterError, match=refused):
            metric(y, p)
    # Named, they equal scikit-learn's (ratios of counts: up to rounding); with one label only, there is
    # nothing to refuse (as there).
    for ours, theirs in (
        (metrics.sensitivity(y, p, pos_label="malignant"), skm.recall_score(y, p, pos_label="malignant")),
        (metrics.specificity(y, p, pos_label="malignant"), skm.recall_score(y, p, pos_label="benign")),
        (metrics.roc_auc(y, score, pos_label="malignant"), skm.roc_auc_score(y == "malignant", score)),
    ):
        assert ours == pytest.approx(theirs, abs=1e-12)
    negative = np.zeros(4, int)
    assert metrics.specificity(negative, negative) == skm.recall_score(negative, negative, pos_label=0)


@pytest.mark.parametrize(
    "labels",
    [(0, 1), (1, 2), (0, 2), (-1, 1), (False, True), (0.0, 1.0), ("benign", "malignant"), (2, 1)],
)
def test_roc_auc_scores_the_greater_label_as_scikit_learn_by_default(labels, rng):
    # The default pos_label was 1: for labels 1 and 2 (a grade, or 1 = benign, 2 = malignant) the area
    # was 1 - scikit-learn's (0.17 for its 0.83) without a word, and 0 and 2 were refused.
    # roc_auc_score's positive class is the greater label; scores with ties.
    y = np.array(labels)[rng.integers(0, 2, 40)]
    y[:2] = labels
    score = np.round(rng.normal(size=40) + (y == max(labels)), 1)
    assert metrics.roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert metrics.roc_auc(y, score, pos_label=min(labels)) == pytest.approx(
        skm.roc_auc_score(y == min(labels), score), abs=1e-12
    )


@pytest.mark.parametrize(
    "metric", [metrics.accuracy, metrics.balanced_accuracy, metrics.confusion_matrix, metrics.sensitivity]
)
def test_labels_of_text_beside_labels_of_numbers_are_refused(metric):
    # No text equals a number: 0 and '0' never matched, so the accuracy came out 0.0, the balanced
    # accuracy NaN and the confusion matrix all zeros (4 x 4), without a word. scikit-learn refuses them.
    y, p = np.array([0, 1, 1, 0]), np.array(["0", "1", "1", "0"])
    with pytest.raises(ValueError, match="Mix of label input types"):
        skm.accuracy_score(y, p)
    with pytest.raises(ParameterError, match=r"y_true holds numbers \(0, 1\) but y_pred text \('0', '1'\)"):
        metric(y, p)
    with pytest.raises(ParameterError, match=r"y_true holds text .* but y_pred numbers"):
        metric(p.astype(object), y)
    with pytest.raises(ParameterError, match=r"y_true holds numbers .* but labels text"):
        metrics.confusion_matrix(y, y, labels=["0", "1"])
    # Of one type (a pandas Categorical of text is text), they equal scikit-learn's.
    categorical = pd.Categorical(p)
    assert metrics.accuracy(categorical, p) == skm.accuracy_score(categorical, p)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, y[::-1]), skm.confusion_matrix(y, y[::-1]))


@pytest.mark.parametrize(
    "metric", [metrics.accuracy, metrics.balanced_accuracy, metrics.confusion_matrix, metrics.specificity]
)
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # scikit-learn's
def test_missing_labels_are_refused(metric):
    # NaN equals nothing, itself included: a sample without its label counted as a wrong prediction
    # (accuracy 0.5 for two right of three labelled) or was left out of the confusion matrix without a
    # word; None beside numbers was NumPy's TypeError. scikit-learn refuses them.
    y, p = np.array([0.0, 1.0, np.nan, 1.0]), np.array([0.0, 1.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="contains NaN"):
        skm.accuracy_score(y, p)
    with pytest.raises(ParameterError, match=r"y_true has no label \(NaN, None\) for 1 sample"):
        metric(y, p)
    with pytest.raises(ParameterError, match=r"y_pred has no label \(NaN, None\) for 1 sample"):
        metric(np.array([0, 1, 1, 1], dtype=object), np.array([0, 1, None, 0], dtype=object))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # scikit-learn's
def test_roc_auc_refuses_missing_labels():
    # A sample without its label (NaN) counted as a negative: this AUC came out 0.5 where the labelled
    # samples rank perfectly (1.0). scikit-learn refuses it.
    y, score = np.array([0.0, 1.0, np.nan, 1.0]), np.array([0.1, 0.9, 0.95, 0.8])
    with pytest.raises(ValueError, match="contains NaN"):
        skm.roc_auc_score(y, score)
    with pytest.raises(ParameterError, match=r"y_true has no label \(NaN, None\) for 1 sample"):
        metrics.roc_auc(y, score)
    labelled = ~np.isnan(y)
    assert metrics.roc_auc(y[labelled], score[labelled]) == skm.roc_auc_score(y[labelled], score[labelled])


@pytest.mark.parametrize("offset", [1e4, 1e8])
def test_silhouette_of_features_far_from_zero(rng, offset):
    # |x|^2 - 2 x.y + |y|^2 of float32 features near 1e4 (float64 near 1e8) cancelled to noise: the
    # score came out NaN (or 0.26 for 0.21). scikit-learn scores the same values moved to 0 in float64.
    base = rng.normal(size=(60, 3))
    labels = (base[:, 0] > 0).astype(int)
    X = (base + offset).astype(np.float32 if offset == 1e4 else np.float64)
    expected = skm.silhouette_score(X.astype(np.float64) - offset, labels)
    assert metrics.silhouette(X, labels) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("offset", [1e4, 1e6])
def test_davies_bouldin_of_float32_features_far_from_zero(rng, offset):
    # Centres and distances in float64 (not float32, nor |x|^2 - 2 x.y + |y|^2): scikit-learn's own
    # score of float32 features near 1e6 is off by 0.08 to 1.2 (of about 0.9). The reference is its
    # score of the same values moved to 0 in float64; float64 centres of values near 1e6 round at
    # about 1e-10 (relative), hence the tolerance.
    base = rng.normal(size=(300, 3)) + np.repeat([[0, 0, 0], [3, 0, 0], [0, 4, 0]], 100, axis=0)
    labels = np.repeat([0, 1, 2], 100)
    X = (base + offset).astype(np.float32)
    expected = skm.davies_bouldin_score(X.astype(np.float64) - offset, labels)
    assert metrics.davies_bouldin(X, labels) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("offset", [0.0, 0.1, 1e3 + 0.3])
def test_davies_bouldin_of_clusters_about_one_centre_as_scikit_learn(offset):
    # A core and a shell around it: centres equal but for the rounding of their means, 1e-16 of the
    # data's extent, so the pair's ratio was 1e15 to 1e17 (with the offset 0.1: 2.6e16, and 3.9e16
    # for the two clusters alone). scikit-learn leaves out a pair whose centres are at distance 0:
    # its score of the same clusters moved so that their centres are exact (offset 0: points
    # symmetric about whole numbers). The index is translation-invariant; the tolerance is the
    # rounding of centres of values near 1e3.
    ring = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.7, 0.7], [-0.7, -0.7]])
    X = np.vstack([ring, 3.0 * ring, ring + np.array([20.0, 0.0])])
    labels = np.repeat([0, 1, 2], len(ring))
    expected = skm.davies_bouldin_score(X, labels)
    assert 0 < expected < 1
    assert metrics.davies_bouldin(X + offset, labels) == pytest.approx(expected, rel=1e-9)
    # Two clusters about one centre: scikit-learn's 0 (no pair left), not 1e16.
    two = X[: 2 * len(ring)] + offset
    assert (
        metrics.davies_bouldin(two, labels[: 2 * len(ring)])
        == skm.davies_bouldin_score(X[:12], labels[:12])
        == 0
    )


@pytest.mark.parametrize("metric", [metrics.silhouette, metrics.davies_bouldin])
def test_cluster_metrics_refuse_missing_labels(rng, metric):
    # A NaN label (a sample the clustering left out, merged in by pandas) scored as a cluster of its
    # own, and None was a bare TypeError of the sorting. scikit-learn refuses NaN; its score of the
    # labelled samples is the score of the samples kept.
    X = rng.normal(size=(12, 2))
    labels = np.array([0.0, 1.0, 2.0] * 4)
    labels[[3, 7]] = np.nan
    reference = {metrics.silhouette: skm.silhouette_score, metrics.davies_bouldin: skm.davies_bouldin_score}
    with pytest.raises(ValueError, match="contains NaN"):
        reference[metric](X, labels)
    with pytest.raises(ParameterError, match=r"labels has no label \(NaN, None\) for 2 samples"):
        metric(X, labels)
    named = np.array(["a", "b", None] * 4, dtype=object)
    with pytest.raises(ParameterError, match=r"labels has no label \(NaN, None\) for 4 samples"):
        metric(X, named)
    with pytest.raises(ParameterError, match=r"labels has no label .* for 1 sample"):
        metric(X, pd.Series([0, 1, None] + [0, 1, 2] * 3, dtype="Int64"))
    keep = ~np.isnan(labels)
    assert metric(X[keep], labels[keep]) == pytest.approx(reference[metric](X[keep], labels[keep]), rel=1e-9)


def test_silhouette_in_blocks_of_samples(rng, monkeypatch):
    # The (samples x samples) distances were formed whole, with temporaries of the same size: 6.7 GiB
    # each for 30 000 samples (a clustering of voxels), which scikit-learn scores in chunks. Now in
    # blocks of rows: with 4000 samples (122 MiB a matrix), NumPy's peak stays below half of one.
    X = rng.normal(size=(4000, 3))
    labels = rng.integers(0, 3, 4000)
    expected = skm.silhouette_score(X, labels)
    got, peak = traced_peak(lambda: metrics.silhouette(X, labels))
    assert got == pytest.approx(expected, rel=1e-9)  # expansion vs direct distances: rounding only
    assert peak < 4000 * 4000 * 8 / 2
    # Blocks of 7 rows (a row of distances and 3 of sums by cluster, float64): block edges inside
    # clusters and at the last, partial block.
    monkeypatch.setattr(_clustering_metrics, "_BLOCK_BYTES", 7 * 8 * (150 + 3 * 3))
    X, labels = X[:150], labels[:150]
    assert metrics.silhouette(X, labels) == pytest.approx(skm.silhouette_score(X, labels), rel=1e-9)


def test_davies_bouldin_of_many_clusters_without_a_one_hot_matrix(rng):
    # The centres and scatters were sums through a (samples x clusters) one-hot matrix: 80 MB here
    # (90 MB peak), 7.2 GB for the 900 nodes of a 30 x 30 SOM over 1e6 voxels, where scikit-learn
    # holds O(samples x features). Now sums by cluster: the peak is the (clusters x clusters x
    # features) offsets of the centres, as scikit-learn's pairwise distances, and the samples.
    n, k = 20000, 500
    X = rng.normal(size=(n, 3))
    labels = rng.integers(0, k, n)
    got, peak = traced_peak(lambda: metrics.davies_bouldin(X, labels))
    assert got == pytest.approx(skm.davies_bouldin_score(X, labels), rel=1e-9)  # sums in another order
    assert peak < n * k * 8 / 4


def test_silhouette_of_many_clusters_in_blocks(rng, monkeypatch):
    # The (samples x clusters) sums were kept whole, with four temporaries of their size: a peak of
    # 4x the one-hot matrix (130 MB here), 1 GB for 30 000 samples in the 900 nodes of a 30 x 30 SOM.
    # Then a and b were taken block by block, beside the whole (samples x clusters) one-hot matrix
    # that summed the distances by cluster: 32 MB here, 381 MiB for 50 000 samples in 1000 clusters
    # (scikit-learn's chunks sum each row by bincount). Now the blocks only: 1 MiB here.
    monkeypatch.setattr(_clustering_metrics, "_BLOCK_BYTES", 1 << 20)
    n, k = 4000, 1000
    X = rng.normal(size=(n, 3))
    labels = rng.integers(0, k, n)  # singletons among them: they score 0
    got, peak = traced_peak(lambda: metrics.silhouette(X, labels))
    assert got == pytest.approx(skm.silhouette_score(X, labels), rel=1e-9)  # expansion vs direct distances
    assert peak < n * k * 8 / 4


def test_silhouette_blocks_are_sized_by_the_memory_budget(rng, monkeypatch):
    # The blocks were 32 MiB whatever GPUIMG_MAX_BYTES said, beside the one-hot matrix (16 MB here).
    # Now they hold at most the budget (here 4 samples a block, 43 KiB each), and a budget below one
    # sample's distances is refused before any is formed. Reference: scikit-learn's score.
    n, k = 4000, 500
    X = rng.normal(size=(n, 3)) + rng.integers(0, 2, n)[:, None] * 3.0
    labels = rng.permutation(np.arange(n) % k)  # each cluster with 8 samples
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "200k")
    got, peak = traced_peak(lambda: metrics.silhouette(X, labels))
    assert got == pytest.approx(skm.silhouette_score(X, labels), rel=1e-9)  # expansion vs direct distances
    assert peak < 1 << 20  # the blocks and the samples' arrays (X, a, b, the order: 0.4 MB)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "30k")
    with pytest.raises(MemoryBudgetError, match=r"silhouette of 4000 samples in 500 clusters"):
        metrics.silhouette(X, labels)


def test_silhouette_of_samples_at_one_place():
    # Samples with a = b = 0 scored 0 / 0 = NaN; scikit-learn scores them 0.
    X, labels = np.zeros((10, 2)), np.arange(10) % 2
    assert metrics.silhouette(X, labels) == skm.silhouette_score(X, labels) == 0.0


def test_cluster_metrics_match_scikit_learn(rng):
    X = rng.normal(size=(120, 3))
    labels = rng.integers(0, 4, 120)
    labels[:4] = [0, 1, 2, 3]
    labels[5] = 9  # a singleton cluster scores 0
    # Distances through |x|^2 - 2 x.y + |y|^2 vs direct: rounding of 1e-12 relative.
    assert metrics.silhouette(X, labels) == pytest.approx(skm.silhouette_score(X, labels), rel=1e-9)
    assert metrics.davies_bouldin(X, labels) == pytest.approx(skm.davies_bouldin_score(X, labels), rel=1e-9)


def test_mask_overlaps(rng):
    a, b = rng.random((8, 9, 10)) > 0.5, rng.random((8, 9, 10)) > 0.5
    assert metrics.dice(a, b) == pytest.approx(skm.f1_score(a.ravel(), b.ravel()), abs=1e-12)
    assert metrics.jaccard(a, b) == pytest.approx(skm.jaccard_score(a.ravel(), b.ravel()), abs=1e-12)
    assert metrics.dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0


@pytest.mark.parametrize("metric", ["dice", "jaccard"])
def test_mask_overlaps_of_volumes_are_on_one_grid(rng, metric):
    """A segmentation and its reference as Volumes: on one grid, scikit-learn's score of their voxels;
    on grids 2 slices apart or mirrored, a GeometryError (regression: a mask and the same mask read
    with another origin, 2 slices up, scored 1.0, though they share 4 of their 6 slices)."""
    import gpuimg

    score = {"dice": skm.f1_score, "jaccard": skm.jaccard_score}[metric]
    a, b = rng.random((6, 7, 8)) > 0.5, rng.random((6, 7, 8)) > 0.5
    grid = {"spacing": (2.0, 0.8, 0.8), "origin": (-30.0, 12.0, 100.0)}
    got = getattr(metrics, metric)(gpuimg.Volume(a, **grid), gpuimg.Volume(b, **grid))
    assert got == pytest.approx(score(a.ravel(), b.ravel()), abs=1e-12)
    for other, message in (
        ({**grid, "origin": (-30.0, 12.0, 104.0)}, r"origin \(-30.0, 12.0, 104.0\) mm, 4 mm from"),
        ({**grid, "direction": np.diag([1.0, 1.0, -1.0])}, "a flipped or rotated grid"),
    ):
        with pytest.raises(gpuimg.GeometryError, match=f"{metric}: .*{message}"):
            getattr(metrics, metric)(gpuimg.Volume(a, **grid), gpuimg.Volume(a, **other))


def test_mask_overlaps_leave_nan_voxels_out(rng):
    # A float mask's NaN voxels are outside it, as every gpuimg mask reads them (roi_voxels: the
    # features, the labels, the cohort's mask files); astype(bool) counted them in (NaN != 0).
    a, b = rng.random((6, 7, 8)), (rng.random((6, 7, 8)) > 0.5).astype(np.float32)
    a = np.where(a > 0.7, np.nan, (a > 0.35).astype(np.float64))
    b[rng.random(b.shape) > 0.8] = np.nan
    inside_a, inside_b = np.nan_to_num(a) != 0, np.nan_to_num(b) != 0  # NaN -> 0: outside
    assert metrics.dice(a, b) == pytest.approx(skm.f1_score(inside_a.ravel(), inside_b.ravel()), abs=1e-12)
    assert metrics.jaccard(a, b) == pytest.approx(
        skm.jaccard_score(inside_a.ravel(), inside_b.ravel()), abs=1e-12
    )


def test_bad_metric_inputs():
    with pytest.raises(ParameterError, match="same"):
        metrics.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ParameterError, match="one class"):
        metrics.roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ParameterError, match="shape"):
        metrics.dice(np.zeros((2, 2)), np.zeros(4))
    with pytest.raises(ParameterError, match="constant"):
        metrics.r2([1.0, 1.0], [1.0, 2.0])


def test_inputs_of_one_size_but_other_shapes_are_refused_as_scikit_learn():
    # Two label maps of one size but other shapes, a (z, x, y) prediction beside a (z, y, x) truth,
    # were flattened and compared value by value, the wrong voxels with each other: accuracy 0.67 for
    # a prediction right everywhere, r2 -0.33 for a perfect one. scikit-learn refuses inputs of
    # other shapes; a column (n, 1) beside (n,) it takes as the vector (column_or_1d).
    truth = np.zeros((2, 3, 4), np.int64)
    truth[:, :, 2:] = 1
    swapped = truth.transpose(0, 2, 1)
    for ours, theirs in ((metrics.accuracy, skm.accuracy_score), (metrics.r2, skm.r2_score)):
        with pytest.raises(ValueError):
            theirs(np.arange(4) % 2, np.array([[0, 1], [0, 1]]))
        with pytest.raises(ParameterError, match=r"same shape .* got shapes \(4,\) and \(2, 2\)"):
            ours(np.arange(4) % 2, np.array([[0, 1], [0, 1]]))
        with pytest.raises(ParameterError, match=r"got shapes \(2, 3, 4\) and \(2, 4, 3\)"):
            ours(truth, swapped)
    for metric in (metrics.confusion_matrix, metrics.balanced_accuracy, metrics.sensitivity, metrics.mse):
        with pytest.raises(ParameterError, match="same shape"):
            metric(truth, swapped)
    y, p = np.array([0, 1, 1, 0, 1]), np.array([0, 1, 0, 0, 1])
    want = skm.accuracy_score(y[:, None], p)
    assert metrics.accuracy(y[:, None], p) == want == metrics.accuracy(y, p[:, None])
    # Voxel by voxel for label maps of one shape: the flattened maps' scores.
    assert metrics.accuracy(truth, swapped.transpose(0, 2, 1)) == 1.0


def test_roc_auc_of_a_score_map_of_another_shape_is_refused():
    # A (z, x, y) map of lesion probabilities beside a (z, y, x) truth of one size was flattened and
    # ranked against the wrong voxels' labels (0.59 for a score that separates the classes
    # perfectly). Maps of one shape are scored voxel by voxel: scikit-learn's area of the flattened
    # maps; a column (n, 1) beside (n,) is the vector, as scikit-learn takes it.
    rng = np.random.default_rng(0)
    truth = (rng.random((3, 4, 5)) < 0.4).astype(int)
    score = truth + rng.random(truth.shape)  # every lesion voxel above every other
    with pytest.raises(ParameterError, match=r"same shape .* got shapes \(3, 4, 5\) and \(3, 5, 4\)"):
        metrics.roc_auc(truth, score.transpose(0, 2, 1))
    assert metrics.roc_auc(truth, score) == skm.roc_auc_score(truth.ravel(), score.ravel()) == 1.0
    y, s = truth.ravel(), score.ravel()
    assert (
        metrics.roc_auc(y[:, None], s) == metrics.roc_auc(y, s[:, None]) == skm.roc_auc_score(y[:, None], s)
    )


@pytest.mark.parametrize(
    "metric",
    [
        metrics.accuracy,
        metrics.balanced_accuracy,
        metrics.confusion_matrix,
        metrics.sensitivity,
        metrics.specificity,
    ],
)
def test_scores_given_as_labels_are_refused_as_scikit_learn(metric):
    # A probability (predict_proba(X)[:, 1]) passed as y_pred equalled no class: the accuracy came out
    # 0.0, the sensitivity 0.0 and the confusion matrix 7 x 7, without a word. scikit-learn refuses it.
    y, score = np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.9, 0.4, 0.1, 0.6])
    with pytest.raises(ValueError, match="mix of binary and continuous"):
        skm.accuracy_score(y, score)
    with pytest.raises(ParameterError, match=r"y_pred holds continuous values \(5 samples not whole"):
        metric(y, score)
    with pytest.raises(ParameterError, match=r"y_true holds continuous values \(5 samples"):
        metric(score, y)
    # Labels stored as floats (a labels file with a gap read by pandas) are labels: scikit-learn's scores.
    predicted = (score >= 0.5).astype(np.float64)
    assert metrics.accuracy(y.astype(np.float64), predicted) == skm.accuracy_score(y, predicted) == 0.8


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        (metrics.mse, skm.mean_squared_error),
        (metrics.mae, skm.mean_absolute_error),
        (metrics.r2, skm.r2_score),
    ],
)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_regression_metrics_refuse_missing_or_infinite_values_as_scikit_learn(metric, reference, bad):
    # A missing target or a failed prediction (NaN) made the score NaN, an infinite one inf or NaN,
    # without a word. scikit-learn refuses both ('Input contains NaN', '... infinity').
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.5, 4.0])
    with_bad = np.array([1.5, bad, 2.5, 4.0])
    with pytest.raises(ValueError, match="Input contains"):
        reference(y, with_bad)
    with pytest.raises(ParameterError, match=r"y_pred holds NaN or infinite values for 1 sample"):
        metric(y, with_bad)
    with pytest.raises(ParameterError, match=r"y_true holds NaN or infinite values for 1 sample"):
        metric(np.array([1.0, bad, 3.0, 4.0], np.float32), p)
    # The finite samples score as scikit-learn's (the same float64 sums: 1e-12 for their order).
    keep = np.isfinite(with_bad)
    assert metric(y[keep], with_bad[keep]) == pytest.approx(reference(y[keep], with_bad[keep]), rel=1e-12)


def test_r2_of_targets_and_davies_bouldin_of_one_centre_on_the_cuda_device(rng, emulated_cuda):
    # The per-target R² and the coincident-centre test run with CuPy's xp (flatnonzero, fill_diagonal,
    # explicit reads only): scikit-learn's scores of the same values on the host.
    y = rng.normal(size=(30, 3))
    p = y + rng.normal(size=(30, 3))
    assert metrics.r2(emulated_cuda(y), emulated_cuda(p)) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    ring = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.7, 0.7], [-0.7, -0.7]])
    X = np.vstack([ring, 3.0 * ring, ring + np.array([20.0, 0.0])])
    labels = np.repeat([0, 1, 2], len(ring))
    expected = skm.davies_bouldin_score(X, labels)
    assert metrics.davies_bouldin(emulated_cuda(X + 0.1), labels) == pytest.approx(expected, rel=1e-9)
