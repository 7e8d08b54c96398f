"""Scores of classifiers, regressors, clusterings and segmentations, on the device of their inputs.

Each metric is written once with ``xp`` (NumPy or CuPy) and returns a Python float (or, for the
confusion matrix, an array on the inputs' device). Definitions follow ``sklearn.metrics``.
"""

import itertools

import numpy as np

from gpuimg._support import real_dtype, roi_voxels
from gpuimg._text import count, some
from gpuimg.backend import bincount_fixed, namespace, to_device
from gpuimg.errors import ParameterError
from gpuimg.volume import Volume, check_same_grid

from ._validation import check_comparable, check_features, missing_labels


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples predicted right.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None), or the labels are
        text in one and numbers in the other, or of types that cannot be compared.

    Examples
    --------
    >>> from gpuimg.ml import accuracy
    >>> accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])  # 3 of 5 right
    0.6
    """
    y_true, y_pred, _xp = _label_pair(y_true, y_pred)
    return float((y_true == y_pred).mean())


def confusion_matrix(y_true, y_pred, labels=None):
    """Counts (classes, classes): row = true class, column = predicted class, in the order of
    ``labels`` (default: the sorted union of both).

    Samples whose true or predicted class is not in ``labels`` are left out, as in scikit-learn.

    Raises
    ------
    ParameterError
        ``labels`` empty, holding a label twice, or none of whose labels is in ``y_true``
        (scikit-learn's ValueError 'At least one label specified must be in y_true').

    Examples
    --------
    >>> from gpuimg.ml import confusion_matrix
    >>> confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    array([[1, 1],
           [1, 2]])
    >>> truth, predicted = ["benign", "malignant", "benign"], ["benign", "benign", "benign"]
    >>> confusion_matrix(truth, predicted, labels=["malignant", "benign"])  # in the order of labels
    array([[0, 1],
           [0, 2]])
    """
    y_true, y_pred, xp = _label_pair(y_true, y_pred)
    if labels is None:
        labels = xp.unique(xp.concatenate([y_true, y_pred]))
    else:
        labels = xp.asarray(labels).ravel()
        _same_kind(("y_true", y_true), ("labels", labels))
        _check_labels(labels, y_true, xp)
    k = labels.size
    order = xp.argsort(labels)  # labels in the caller's order, searched in sorted order
    true_index = order[xp.clip(xp.searchsorted(labels[order], y_true), 0, k - 1)]
    pred_index = order[xp.clip(xp.searchsorted(labels[order], y_pred), 0, k - 1)]
    known = (labels[true_index] == y_true) & (labels[pred_index] == y_pred)
    flat = true_index[known] * k + pred_index[known]
    return bincount_fixed(flat, length=k * k).reshape(k, k)


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean over the true classes of the fraction of each predicted right (recall).

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None), or the labels are
        text in one and numbers in the other, or of types that cannot be compared.

    Examples
    --------
    >>> from gpuimg.ml import balanced_accuracy
    >>> round(balanced_accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]), 4)  # (1/2 + 2/3) / 2
    0.5833
    """
    y_true, y_pred, xp = _label_pair(y_true, y_pred)
    classes = xp.unique(y_true)
    matrix = confusion_matrix(y_true, y_pred, labels=xp.unique(xp.concatenate([classes, y_pred])))
    present = xp.isin(xp.unique(xp.concatenate([classes, y_pred])), classes)
    recall = xp.diag(matrix)[present] / matrix.sum(1)[present]
    return float(recall.mean())


def sensitivity(y_true, y_pred, pos_label=1) -> float:
    """True positive rate: positives predicted positive / positives.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None), the labels are text
        in one and numbers in the other or of types that cannot be compared, ``pos_label`` is none of
        two or more labels, or ``y_true`` holds no positive sample.

    Examples
    --------
    >>> from gpuimg.ml import sensitivity
    >>> round(sensitivity([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]), 4)  # 2 of 3 positives found
    0.6667
    >>> sensitivity(["benign", "malignant"], ["malignant", "malignant"], pos_label="malignant")
    1.0
    """
    y_true, y_pred, _xp = _label_pair(y_true, y_pred)
    _check_pos_label(pos_label, y_true, y_pred)
    positive = y_true == pos_label
    return _ratio(((y_pred == pos_label) & positive).sum(), positive.sum(), "positive")


def specificity(y_true, y_pred, pos_label=1) -> float:
    """True negative rate: negatives predicted negative / negatives.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None), the labels are text
        in one and numbers in the other or of types that cannot be compared, ``pos_label`` is none of
        two or more labels, or ``y_true`` holds no negative sample.

    Examples
    --------
    >>> from gpuimg.ml import specificity
    >>> specificity([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])  # 1 of 2 negatives predicted negative
    0.5
    """
    y_true, y_pred, _xp = _label_pair(y_true, y_pred)
    _check_pos_label(pos_label, y_true, y_pred)
    negative = y_true != pos_label
    return _ratio(((y_pred != pos_label) & negative).sum(), negative.sum(), "negative")


def roc_auc(y_true, score, pos_label=1, multi_class: str = "raise") -> float:
    """Area under the ROC curve, as ``sklearn.metrics.roc_auc_score`` (macro average for several classes).

    Binary: the probability that a positive scores above a negative (ties count half), from the ranks
    of ``score`` (Mann-Whitney U). Several classes: ``score`` holds one column per class (the sorted
    labels of ``y_true``), probabilities that sum to 1 in each row, and ``multi_class`` says how the
    binary areas are averaged, with equal weights (scikit-learn's ``average="macro"``):

    - ``"ovr"``: each class against the rest, scored by its column;
    - ``"ovo"``: each pair of classes on their samples, each class of the pair scored by its column
      and the two areas averaged (Hand and Till, 2001).

    Parameters
    ----------
    y_true : array (n_samples,)
        The labels: two classes, or more with a score of one column per class.
    score : array (n_samples,) or (n_samples, n_classes)
        The positive class's score (binary), or each class's probability.
    pos_label : label
        The positive class of a binary problem.
    multi_class : {"raise", "ovr", "ovo"}
        The average for several classes; "raise" (the default, as scikit-learn's) refuses them.

    Raises
    ------
    ParameterError
        A score of another shape than ``y_true`` (a column (n, 1) beside (n,) is one), NaN scores, one
        class in ``y_true``, a 1-D score or ``multi_class="raise"`` for more than two classes, or class
        probabilities of the wrong width or not summing to 1.

    Examples
    --------
    >>> from gpuimg.ml import roc_auc
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # 3 of the 4 positive-negative pairs ordered
    0.75
    >>> probabilities = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]
    >>> roc_auc([0, 1, 2], probabilities, multi_class="ovr")  # each class scored highest by its column
    1.0
    """
    if multi_class not in ("raise", "ovr", "ovo"):
        raise ParameterError(f"multi_class={multi_class!r} must be 'raise', 'ovr' or 'ovo'.")
    y_true, score, xp = _one_device(y_true, score)
    columns = score.ndim == 2 and score.shape[1] > 1
    if not columns and y_true.shape != score.shape:  # one score per label, voxel by voxel for maps
        y_true, score = (v[:, 0] if v.ndim == 2 and v.shape[1] == 1 else v for v in (y_true, score))
        if y_true.shape != score.shape:  # a (z, x, y) map of scores paired the wrong voxels
            raise ParameterError(
                f"y_true and score must have the same shape (one score per label); got shapes "
                f"{y_true.shape} and {score.shape}."
            )
    y_true, score = y_true.ravel(), score if columns else score.ravel()
    if y_true.size == 0 or y_true.size != score.shape[0]:
        raise ParameterError(
            f"y_true and score must have the same, non-zero number of samples; got {y_true.size} and "
            f"{score.shape[0]}."
        )
    real_dtype(score.dtype, "score")
    if score.dtype.kind == "f" and bool(xp.isnan(score).any()):
        raise ParameterError(
            f"score holds {count(int(xp.isnan(score).sum()), 'NaN value')}, which have no rank; roc_auc "
            "needs a score for every sample: drop those samples or fix the model's output."
        )
    _check_labelled("y_true", y_true, xp)
    classes = xp.unique(y_true)
    if classes.size > 2:
        return _multiclass_auc(y_true, score, classes, multi_class, xp)
    if columns:
        raise ParameterError(
            f"score has {score.shape[1]} columns but y_true holds {count(classes.size, 'class', 'classes')}: "
            "a binary roc_auc takes the positive class's score, one column (e.g. predict_proba(X)[:, 1])."
        )
    _check_pos_label(pos_label, y_true)
    return _binary_auc(y_true == pos_label, score, xp)


def _binary_auc(positive, score, xp) -> float:
    """The area under the ROC curve of the 1-D ``score`` for the ``positive`` samples (Mann-Whitney U)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ParameterError("roc_auc needs positive and negative samples in y_true; it holds one class.")
    _, inverse, counts = xp.unique(score, return_inverse=True, return_counts=True)
    mean_rank = xp.cumsum(counts) - (counts - 1) / 2.0  # average 1-based rank of each distinct score
    rank_sum = float(mean_rank[inverse.ravel()][positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _multiclass_auc(y_true, score, classes, multi_class: str, xp) -> float:
    """The macro average of the one-vs-rest or one-vs-one areas, as scikit-learn's."""
    shown = some(map(repr, classes.tolist()), 3)
    if score.ndim == 1:
        raise ParameterError(
            f"y_true holds {classes.size} classes ({shown}) and score one column: a 1-D score ranks one "
            "class against the rest. Give each class's probability (n_samples, n_classes) with "
            "multi_class='ovr' or 'ovo', or score one class: roc_auc(y_true == c, score)."
        )
    if multi_class == "raise":
        raise ParameterError(
            f"roc_auc of {classes.size} classes needs multi_class='ovr' (each class against the rest) "
            "or 'ovo' (each pair of classes), as scikit-learn's roc_auc_score."
        )
    if score.shape[1] != classes.size:
        raise ParameterError(
            f"score has {score.shape[1]} columns but y_true holds {classes.size} classes ({shown}); give one "
            "column per class of y_true, in the sorted order of its labels."
        )
    totals = score.astype(np.float64).sum(axis=1)
    if not bool(xp.all(xp.abs(totals - 1.0) <= 1e-8 + 1e-5)):  # numpy.allclose(1, totals), as scikit-learn
        raise ParameterError(
            "the class probabilities in score must sum to 1 in each row (multi_class roc_auc, as "
            "scikit-learn's); normalise them, e.g. a softmax of the model's outputs."
        )
    names = classes.tolist()
    if multi_class == "ovr":
        return float(np.mean([_binary_auc(y_true == c, score[:, i], xp) for i, c in enumerate(names)]))
    areas = []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        pair = (y_true == a) | (y_true == b)
        labels, scores = y_true[pair], score[pair]
        first, second = _binary_auc(labels == a, scores[:, i], xp), _binary_auc(labels == b, scores[:, j], xp)
        areas.append((first + second) / 2.0)
    return float(np.mean(areas))


def mse(y_true, y_pred) -> float:
    """Mean squared error [units of y squared].

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, or do not hold real numbers (text, complex values).

    Examples
    --------
    >>> from gpuimg.ml import mse
    >>> mse([1.0, 2.0, 3.0], [1.0, 2.0, 6.0])  # 3**2 / 3
    3.0
    """
    y_true, y_pred, _xp = _real_pair(y_true, y_pred)
    return float(((y_true - y_pred) ** 2).mean())


def mae(y_true, y_pred) -> float:
    """Mean absolute error [units of y].

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, or do not hold real numbers (text, complex values).

    Examples
    --------
    >>> from gpuimg.ml import mae
    >>> mae([1.0, 2.0, 3.0], [1.0, 2.0, 6.0])  # 3 / 3
    1.0
    """
    y_true, y_pred, xp = _real_pair(y_true, y_pred)
    return float(xp.abs(y_true - y_pred).mean())


def r2(y_true, y_pred) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot (1: perfect; 0: the mean's prediction).

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, do not hold real numbers (text, complex values), or
        ``y_true`` is constant (no variance to explain).

    Notes
    -----
    Arrays of any shape are scored value by value, all values pooled (voxel by voxel for two images).
    For several targets per sample, (samples, targets), scikit-learn's ``r2_score`` averages the
    per-target scores instead; score each column for those: ``r2(y_true[:, j], y_pred[:, j])``.

    Examples
    --------
    >>> from gpuimg.ml import r2
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])  # 1 - 1 / 2
    0.5
    >>> r2([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])  # the mean
    0.0
    """
    y_true, y_pred, _xp = _real_pair(y_true, y_pred)
    total = float(((y_true - y_true.mean()) ** 2).sum())
    if total == 0:
        raise ParameterError("r2 is undefined for a constant y_true; use mse or mae.")
    return 1.0 - float(((y_true - y_pred) ** 2).sum()) / total


def silhouette(X, labels) -> float:
    """Mean silhouette coefficient of a clustering (Euclidean), in [-1, 1].

    Raises
    ------
    ParameterError
        If ``X`` is not a 2D table of numbers with a sample and a feature, ``labels`` is not one per
        sample, or the clusters number fewer than 2 or as many as the samples.
    FeatureError
        If ``X`` holds NaN or infinite values.

    Notes
    -----
    O(n^2) time, as ``sklearn.metrics.silhouette_score`` without ``sample_size``; the distances are
    formed for blocks of samples at a time (about :data:`_BLOCK_BYTES` each), so the memory grows
    with n, not n^2, as scikit-learn's chunked distances do. Samples alone in their cluster score 0.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import silhouette
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])  # two pairs 10 apart
    >>> round(silhouette(X, [0, 0, 1, 1]), 4)  # 1 - 1 / ((10 + sqrt(101)) / 2)
    0.9002
    >>> round(silhouette(X, [0, 1, 0, 1]), 4)  # pairs split: each nearer the other cluster
    -0.4475
    """
    X, labels, xp, onehot, counts = _clusters(X, labels)
    # About the mean, in float64: the expansion of values far from 0 (features near 1e4 in float32)
    # cancels to noise, and a negative noise made the score NaN.
    X = X.astype(np.float64) - X.mean(0)
    n = X.shape[0]
    squares = (X * X).sum(1)
    # Total distance of each sample to each cluster, a block of samples at a time: the whole
    # (samples x samples) matrix, and each of its temporaries, took 6.7 GiB for 30 000 samples.
    sums = xp.empty((n, onehot.shape[1]), dtype=np.float64)
    rows = max(1, _BLOCK_BYTES // (8 * n))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        distances = X[start:stop] @ X.T  # |x|^2 - 2 x.y + |y|^2 in place: one block alive at a time
        distances *= -2.0
        distances += squares[start:stop, None]
        distances += squares[None, :]
        xp.sqrt(xp.maximum(distances, 0.0, out=distances), out=distances)
        distances[xp.arange(stop - start), xp.arange(start, stop)] = 0.0  # rounding left some above 0
        sums[start:stop] = distances @ onehot
        del distances  # before the next block's is made
    own = onehot.astype(bool)
    own_count = (onehot * counts).sum(1)
    a = (sums * onehot).sum(1) / xp.maximum(own_count - 1, 1)
    b = xp.where(own, xp.inf, sums / counts).min(1)
    spread = xp.maximum(a, b)  # 0 for a sample at the same place as every other: it scores 0, as in sklearn
    s = xp.where((own_count > 1) & (spread > 0), (b - a) / xp.where(spread > 0, spread, 1.0), 0.0)
    return float(s.mean())


#: Bytes of one block of sample-to-sample distances in :func:`silhouette` (scikit-learn's chunks are
#: up to its working_memory, 1 GiB by default).
_BLOCK_BYTES = 1 << 25


def davies_bouldin(X, labels) -> float:
    """Davies-Bouldin index of a clustering (lower is better; 0 at best).

    Raises
    ------
    ParameterError
        If ``X`` is not a 2D table of numbers with a sample and a feature, ``labels`` is not one per
        sample, or the clusters number fewer than 2 or as many as the samples.
    FeatureError
        If ``X`` holds NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import davies_bouldin
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> round(davies_bouldin(X, [0, 0, 1, 1]), 4)  # (0.5 + 0.5) / 10: scatter 0.5, centres 10 apart
    0.1
    """
    X, labels, xp, onehot, counts = _clusters(X, labels)
    centres = (onehot.T @ X) / counts[:, None]
    scatter = (onehot.T @ xp.sqrt(((X - centres[labels]) ** 2).sum(1))) / counts
    separation = xp.sqrt(((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
    ratio = (scatter[:, None] + scatter[None, :]) / xp.where(separation > 0, separation, xp.inf)
    xp.fill_diagonal(ratio, -xp.inf)
    return float(ratio.max(1).mean())


def dice(a, b) -> float:
    """Dice coefficient of two masks, 2 |A and B| / (|A| + |B|) (1 when both are empty).

    A mask's non-zero voxels are in it; a float mask's NaN voxels are not (as for every gpuimg mask:
    features, labels, the cohort's masks). Two Volumes are compared voxel by voxel, so they must lie
    on one grid.

    Raises
    ------
    ParameterError
        If the masks' shapes differ.
    GeometryError
        If both are Volumes on different grids (spacing, origin or direction): resample one onto the
        other's grid first.

    Examples
    --------
    >>> import numpy as np
    >>> dice(np.array([0.0, 1.0, np.nan, 1.0]), np.array([0, 1, 1, 0]))
    0.5
    """
    a, b, _xp = _masks(a, b, "dice")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def jaccard(a, b) -> float:
    """Jaccard index of two masks, |A and B| / |A or B| (1 when both are empty).

    Masks as :func:`dice` reads them: non-zero voxels in, NaN voxels out; two Volumes on one grid
    (a GeometryError otherwise).

    Raises
    ------
    ParameterError
        If the masks' shapes differ.
    GeometryError
        If both are Volumes on different grids (spacing, origin or direction): resample one onto the
        other's grid first.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import jaccard
    >>> jaccard(np.array([0, 1, 1, 1]), np.array([0, 1, 1, 0])) == 2 / 3  # 2 shared of 3 in either
    True
    """
    a, b, _xp = _masks(a, b, "jaccard")
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def _one_device(a, b):
    """``a`` and ``b`` on one device: the GPU where either lives there (the other copied there
    explicitly, as labels kept on the host usually are), else the CPU."""
    ns = namespace(b) if namespace(a).device == "cpu" else namespace(a)
    return ns.xp.asarray(to_device(a, ns.device)), ns.xp.asarray(to_device(b, ns.device)), ns.xp


def _real_pair(a, b):
    """``_pair`` of two real-valued vectors, integers and booleans as float64: differences of unsigned
    or small integers would wrap around, and of booleans NumPy refuses."""
    a, b, xp = _pair(a, b)
    for name, values in (("y_true", a), ("y_pred", b)):
        real_dtype(values.dtype, name)
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        a, b = a.astype(np.float64), b.astype(np.float64)
    return a, b, xp


def _pair(a, b):
    """``a`` and ``b`` on one device, flattened: of one shape (a column (n, 1) beside (n,) taken as
    the vector, as scikit-learn's column_or_1d takes it), compared element by element (voxel by
    voxel for two label images)."""
    a, b, xp = _one_device(a, b)
    if a.shape != b.shape:
        a, b = (v[:, 0] if v.ndim == 2 and v.shape[1] == 1 else v for v in (a, b))
    # The shape, not the number of values: a (z, x, y) label map beside a (z, y, x) one, or (4,) beside
    # (2, 2), was compared value by value after flattening, the wrong voxels with each other.
    if a.shape != b.shape or a.size == 0:
        raise ParameterError(
            f"the inputs must have the same shape and at least one value; got shapes {a.shape} and "
            f"{b.shape}. Give one value per sample in each (resample a label image onto the other's grid)."
        )
    return a.ravel(), b.ravel(), xp


def _label_pair(y_true, y_pred):
    """``_pair`` of two label vectors, both text or both numbers."""
    y_true, y_pred, xp = _pair(y_true, y_pred)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        _check_labelled(name, labels, xp)
    _same_kind(("y_true", y_true), ("y_pred", y_pred))
    return y_true, y_pred, xp


def _check_labelled(name: str, labels, xp) -> None:
    """Refuse missing labels (NaN, None) and labels of types that cannot be compared."""
    # NaN equals nothing, itself included: such samples counted as wrong predictions (accuracy) or
    # negatives (roc_auc), or were left out (confusion matrix) without a word. scikit-learn refuses them.
    missing = int((xp.isnan(labels) if labels.dtype.kind == "f" else missing_labels(labels)).sum())
    if missing:
        raise ParameterError(
            f"{name} has no label (NaN, None) for {count(missing, 'sample')}; drop those samples or give "
            "each a label."
        )
    if labels.dtype.kind == "O":
        check_comparable(labels, name)


def _check_labels(labels, y_true, xp) -> None:
    """Refuse ``labels`` of a confusion matrix that are empty, hold a label twice, or hold none of
    ``y_true``'s (a matrix of zeros; scikit-learn raises 'At least one label specified must be in
    y_true')."""
    if labels.size == 0:
        raise ParameterError("labels is empty; give at least one label, or labels=None for all of them.")
    distinct, counts = xp.unique(labels, return_counts=True)
    if distinct.size < labels.size:
        twice = some(map(repr, distinct[counts > 1].tolist()))
        raise ParameterError(f"labels holds {twice} more than once; give each label once.")
    if not bool(xp.isin(y_true, labels).any()):
        raise ParameterError(
            f"none of labels ({some(map(repr, labels.tolist()))}) is in y_true "
            f"({some(map(repr, xp.unique(y_true).tolist()))}); give at least one label of y_true, "
            "or labels=None for all of them."
        )


def _same_kind(*named) -> None:
    """Refuse labels of text beside labels of numbers: no text equals a number, so 0 and '0' never
    matched (an accuracy of 0, a confusion matrix of zeros). scikit-learn refuses them too."""
    (first, a), (second, b) = named
    if _is_text(a) != _is_text(b):
        kinds = [
            f"{'text' if _is_text(v) else 'numbers'} ({some(map(repr, dict.fromkeys(v.tolist())), 3)})"
            for v in (a, b)
        ]
        raise ParameterError(
            f"{first} holds {kinds[0]} but {second} {kinds[1]}; give both labels of one type, e.g. "
            f"{second}.astype({first}.dtype)."
        )


def _is_text(labels) -> bool:
    """Whether labels are strings (a string dtype, or an object array holding one)."""
    if labels.dtype.kind in "US":
        return True
    return labels.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in labels.tolist())


def _masks(a, b, caller: str):
    if isinstance(a, Volume) and isinstance(b, Volume):  # voxel by voxel: one grid, or a wrong overlap
        check_same_grid(a, b, caller)
    a, b, xp = _one_device(a, b)
    if a.shape != b.shape:
        raise ParameterError(f"the masks must have the same shape; got {a.shape} and {b.shape}.")
    # NaN != 0, so astype(bool) counted a float mask's NaN voxels in; gpuimg's masks leave them out.
    return roi_voxels(a), roi_voxels(b), xp


def _check_pos_label(pos_label, *labelled) -> None:
    """Refuse a ``pos_label`` that is none of the labels where they hold two or more, as scikit-learn
    does: every sample would count as a negative (string labels beside the default 1)."""
    xp = namespace(labelled[0]).xp
    labels = xp.unique(xp.concatenate(labelled))
    if labels.size >= 2 and not bool((labels == pos_label).any()):
        shown = some(repr(v) for v in labels.tolist())
        raise ParameterError(
            f"pos_label={pos_label!r} is none of the labels ({shown}); pass the positive class as pos_label."
        )


def _ratio(numerator, denominator, what: str) -> float:
    if int(denominator) == 0:
        raise ParameterError(f"y_true holds no {what} sample, so the rate is undefined.")
    return float(numerator) / float(denominator)


def _clusters(X, labels):
    X = check_features(X)
    xp = namespace(X).xp
    _, labels = xp.unique(xp.asarray(labels).ravel(), return_inverse=True)
    labels = labels.ravel()
    if labels.size != X.shape[0]:
        raise ParameterError(f"X has {X.shape[0]} samples but labels has {labels.size}.")
    k = int(labels.max()) + 1
    if not 2 <= k < X.shape[0]:
        raise ParameterError(f"a clustering score needs 2 to samples - 1 clusters; got {k} for {X.shape[0]}.")
    onehot = (labels[:, None] == xp.arange(k)[None, :]).astype(np.float64)
    return X, labels, xp, onehot, onehot.sum(0)
