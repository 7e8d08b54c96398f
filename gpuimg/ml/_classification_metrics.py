"""Scores of classifiers: accuracy, the confusion matrix, balanced accuracy, sensitivity, specificity
and the area under the ROC curve (binary, one-vs-rest and one-vs-one)."""

import itertools

import numpy as np

from gpuimg._arrays import real_dtype
from gpuimg._text import count, some
from gpuimg.backend import bincount_fixed
from gpuimg.errors import ParameterError

from ._metric_inputs import (
    _average,
    _check_labelled,
    _check_labels,
    _check_pos_label,
    _check_weights,
    _label_pair,
    _one_device,
    _rate,
    _same_kind,
)


def accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Fraction of samples predicted right.

    Parameters
    ----------
    y_true, y_pred : array (n_samples,)
        The true and the predicted labels (two label images are compared voxel by voxel).
    sample_weight : array (n_samples,), optional
        The weight of each sample (an image's voxel in ``.ravel()`` order), real, finite and >= 0, not all
        0, as scikit-learn's ``sample_weight``: the fraction of the total weight predicted right; an
        integer weight counts a sample that many times. Default: all alike.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None), a float label is not
        a whole number (a score, not a class), or the labels are text in one and numbers in the
        other, or of types that cannot be compared;
        ``sample_weight`` not one real, finite, non-negative weight per sample, or 0 for all.

    Examples
    --------
    >>> from gpuimg.ml import accuracy
    >>> accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])  # 3 of 5 right
    0.6
    >>> accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], sample_weight=[2, 1, 1, 1, 1])  # 4 of 6 right
    0.6666666666666666
    """
    y_true, y_pred, w, _xp = _label_pair(y_true, y_pred, sample_weight)
    return float(_average(y_true == y_pred, w))


def confusion_matrix(y_true, y_pred, labels=None, sample_weight=None):
    """Counts (classes, classes): row = true class, column = predicted class, in the order of
    ``labels`` (default: the sorted union of both).

    Samples whose true or predicted class is not in ``labels`` are left out, as in scikit-learn.

    Parameters
    ----------
    y_true, y_pred : array (n_samples,)
        The true and the predicted labels (two label images are compared voxel by voxel).
    labels : array (n_classes,), optional
        The classes of the rows and columns, in their order. Default: the sorted union of both.
    sample_weight : array (n_samples,), optional
        The weight of each sample (an image's voxel in ``.ravel()`` order), real, finite and >= 0, not all
        0, as scikit-learn's ``sample_weight``: each cell sums the weights of its samples, int64 for
        integer or boolean weights, else float64; an integer weight counts a sample that many times.
        Default: all alike.

    Returns
    -------
    array (n_classes, n_classes)
        On the inputs' device: int64 counts, or with ``sample_weight`` the sums of the weights (int64 for
        integer or boolean weights, float64 for float weights, as scikit-learn's).

    Raises
    ------
    ParameterError
        ``labels`` empty, holding a label twice, or none of whose labels is in ``y_true``
        (scikit-learn's ValueError 'At least one label specified must be in y_true'); a missing label
        (NaN, None), or a float label that is not a whole number (a score, not a class);
        ``sample_weight`` not one real, finite, non-negative weight per sample, or 0 for all.

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
    >>> confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], sample_weight=[0.5, 1.0, 1.0, 1.0, 2.0])
    array([[0.5, 1. ],
           [2. , 2. ]])
    """
    y_true, y_pred, w, xp = _label_pair(y_true, y_pred, sample_weight)
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
    if w is None:
        return bincount_fixed(flat, length=k * k).reshape(k, k)
    sums = bincount_fixed(flat, w[known], length=k * k).reshape(k, k)
    return sums.astype(w.dtype)  # integer weights: whole sums, exact below 2**53


def balanced_accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Mean over the true classes of the fraction of each predicted right (recall).

    Parameters
    ----------
    y_true, y_pred : array (n_samples,)
        The true and the predicted labels (two label images are compared voxel by voxel).
    sample_weight : array (n_samples,), optional
        The weight of each sample (an image's voxel in ``.ravel()`` order), real, finite and >= 0, not all
        0, as scikit-learn's ``sample_weight``: each class's recall is the fraction of its weight
        predicted right, and a class whose samples all weigh 0 is left out of the mean; an integer weight
        counts a sample that many times. Default: all alike.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None), a float label is not
        a whole number (a score, not a class), or the labels are text in one and numbers in the
        other, or of types that cannot be compared;
        ``sample_weight`` not one real, finite, non-negative weight per sample, or 0 for all.

    Examples
    --------
    >>> from gpuimg.ml import balanced_accuracy
    >>> round(balanced_accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]), 4)  # (1/2 + 2/3) / 2
    0.5833
    >>> balanced_accuracy([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], sample_weight=[3, 1, 1, 1, 0])  # (3/4 + 2/2) / 2
    0.875
    """
    matrix = confusion_matrix(y_true, y_pred, sample_weight=sample_weight)
    # The classes of y_true are the rows of positive weight; the others (classes of y_pred only, or
    # whose samples all weigh 0) have no recall, and scikit-learn leaves them out too.
    weight = matrix.sum(1)
    present = weight > 0
    return float((matrix.diagonal()[present] / weight[present]).mean())


def sensitivity(y_true, y_pred, pos_label=1, sample_weight=None) -> float:
    """True positive rate: positives predicted positive / positives.

    Parameters
    ----------
    y_true, y_pred : array (n_samples,)
        The true and the predicted labels (two label images are compared voxel by voxel).
    pos_label : label, default 1
        The positive class.
    sample_weight : array (n_samples,), optional
        The weight of each sample (an image's voxel in ``.ravel()`` order), real, finite and >= 0, not all
        0, as scikit-learn's ``sample_weight``: the weight of the positives predicted positive / the
        positives' weight, as ``recall_score``'s; an integer weight counts a sample that many times.
        Default: all alike.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None) or is a float that is
        not a whole number (a score, not a class), the labels are text in one and numbers in the other
        or of types that cannot be compared, ``pos_label`` is none of two or more labels, or ``y_true``
        holds no positive sample (or all its positive samples weigh 0);
        ``sample_weight`` not one real, finite, non-negative weight per sample, or 0 for all.

    Examples
    --------
    >>> from gpuimg.ml import sensitivity
    >>> round(sensitivity([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]), 4)  # 2 of 3 positives found
    0.6667
    >>> sensitivity(["benign", "malignant"], ["malignant", "malignant"], pos_label="malignant")
    1.0
    >>> sensitivity([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], sample_weight=[1, 1, 1, 1, 2])  # 2 of 4
    0.5
    """
    y_true, y_pred, w, _xp = _label_pair(y_true, y_pred, sample_weight)
    _check_pos_label(pos_label, y_true, y_pred)
    positive = y_true == pos_label
    return _rate((y_pred == pos_label) & positive, positive, w, "positive")


def specificity(y_true, y_pred, pos_label=1, sample_weight=None) -> float:
    """True negative rate: negatives predicted negative / negatives.

    Parameters
    ----------
    y_true, y_pred : array (n_samples,)
        The true and the predicted labels (two label images are compared voxel by voxel).
    pos_label : label, default 1
        The positive class; every other label is negative.
    sample_weight : array (n_samples,), optional
        The weight of each sample (an image's voxel in ``.ravel()`` order), real, finite and >= 0, not all
        0, as scikit-learn's ``sample_weight``: the weight of the negatives predicted negative / the
        negatives' weight, as ``recall_score``'s of the negated labels; an integer weight counts a sample
        that many times. Default: all alike.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, a label is missing (NaN, None) or is a float that is
        not a whole number (a score, not a class), the labels are text in one and numbers in the other
        or of types that cannot be compared, ``pos_label`` is none of two or more labels, or ``y_true``
        holds no negative sample (or all its negative samples weigh 0);
        ``sample_weight`` not one real, finite, non-negative weight per sample, or 0 for all.

    Examples
    --------
    >>> from gpuimg.ml import specificity
    >>> specificity([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])  # 1 of 2 negatives predicted negative
    0.5
    >>> specificity([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], sample_weight=[3, 1, 1, 1, 1])  # 3 of 4
    0.75
    """
    y_true, y_pred, w, _xp = _label_pair(y_true, y_pred, sample_weight)
    _check_pos_label(pos_label, y_true, y_pred)
    negative = y_true != pos_label
    return _rate((y_pred != pos_label) & negative, negative, w, "negative")


def roc_auc(y_true, score, pos_label=None, multi_class: str = "raise", sample_weight=None) -> float:
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
    pos_label : label, optional
        The positive class of a binary problem. Default: the greater of its two labels (1 of 0 and 1,
        2 of 1 and 2, "malignant" of "benign" and "malignant"), as ``roc_auc_score`` takes it.
    multi_class : {"raise", "ovr", "ovo"}
        The average for several classes; "raise" (the default, as scikit-learn's) refuses them.
    sample_weight : array (n_samples,), optional
        The weight of each sample (an image's voxel in ``.ravel()`` order), real, finite and >= 0, not all
        0, as scikit-learn's ``sample_weight``: each positive-negative pair counts with the product of
        their weights (the area under the weighted ROC curve), for a binary problem and for each class
        against the rest (``"ovr"``); an integer weight counts a sample that many times. Not defined for
        ``"ovo"``, which refuses it, as scikit-learn does. Default: all alike.

    Raises
    ------
    ParameterError
        A score of another shape than ``y_true`` (a column (n, 1) beside (n,) is one), NaN scores, a
        label of ``y_true`` missing (NaN, None) or not a whole number (a score, not a class), one class
        in ``y_true``, a ``pos_label`` that is none of two labels, a 1-D score or
        ``multi_class="raise"`` for more than two classes, or class probabilities of the wrong width or
        not summing to 1; ``sample_weight`` not one real, finite, non-negative weight per sample, 0 for
        all, 0 for every sample of a class, or given with ``multi_class="ovo"``.

    Examples
    --------
    >>> from gpuimg.ml import roc_auc
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # 3 of the 4 positive-negative pairs ordered
    0.75
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], sample_weight=[1, 3, 1, 1])  # pairs' weight 5 of 8
    0.625
    >>> probabilities = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]
    >>> roc_auc([0, 1, 2], probabilities, multi_class="ovr")  # each class scored highest by its column
    1.0
    """
    if multi_class not in ("raise", "ovr", "ovo"):
        raise ParameterError(f"multi_class={multi_class!r} must be 'raise', 'ovr' or 'ovo'.")
    y_true, score, w, xp = _one_device(y_true, score, sample_weight)
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
    w = _check_weights(w, y_true.size, xp)
    real_dtype(score.dtype, "score")
    if score.dtype.kind == "f" and bool(xp.isnan(score).any()):
        raise ParameterError(
            f"score holds {count(int(xp.isnan(score).sum()), 'NaN value')}, which have no rank; roc_auc "
            "needs a score for every sample: drop those samples or fix the model's output."
        )
    _check_labelled("y_true", y_true, xp)
    classes = xp.unique(y_true)
    if classes.size > 2:
        return _multiclass_auc(y_true, score, w, classes, multi_class, xp)
    if columns:
        raise ParameterError(
            f"score has {score.shape[1]} columns but y_true holds {count(classes.size, 'class', 'classes')}: "
            "a binary roc_auc takes the positive class's score, one column (e.g. predict_proba(X)[:, 1])."
        )
    if pos_label is None:  # the greater label, as scikit-learn (the default 1 gave 1 - its AUC for 1 and 2)
        return _binary_auc(y_true == classes[-1], score, w, xp)
    _check_pos_label(pos_label, y_true)
    return _binary_auc(y_true == pos_label, score, w, xp)


def _binary_auc(positive, score, w, xp) -> float:
    """The area under the ROC curve of the 1-D ``score`` for the ``positive`` samples, each weighted by
    ``w`` (None: alike): the weight of the positive-negative pairs ordered by the score, a tie counted
    half, over the weight of all pairs (Mann-Whitney U; scikit-learn's trapezoids of the weighted ROC)."""
    if not (bool(positive.any()) and not bool(positive.all())):
        raise ParameterError("roc_auc needs positive and negative samples in y_true; it holds one class.")
    distinct, inverse = xp.unique(score, return_inverse=True)
    inverse = inverse.ravel()
    weight = xp.ones(positive.size, dtype=np.float64) if w is None else w.astype(np.float64)
    pos = bincount_fixed(inverse, weight * positive, length=distinct.size)  # weights at each score
    neg = bincount_fixed(inverse, weight * ~positive, length=distinct.size)
    pos_total, neg_total = float(pos.sum()), float(neg.sum())
    if pos_total == 0 or neg_total == 0:
        which = "positive" if pos_total == 0 else "negative"
        raise ParameterError(
            f"sample_weight is 0 for every {which} sample of y_true, so the ROC curve is undefined; give "
            f"some {which} sample a positive weight."
        )
    below = xp.cumsum(neg) - neg  # the negatives' weight under each score
    return float((pos * (below + neg / 2.0)).sum()) / (pos_total * neg_total)


def _multiclass_auc(y_true, score, w, classes, multi_class: str, xp) -> float:
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
        return float(np.mean([_binary_auc(y_true == c, score[:, i], w, xp) for i, c in enumerate(names)]))
    if w is not None:
        raise ParameterError(
            "sample_weight is not defined for multi_class='ovo' (scikit-learn's roc_auc_score refuses it "
            "too); use multi_class='ovr', or sample_weight=None."
        )
    areas = []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        pair = (y_true == a) | (y_true == b)
        labels, scores = y_true[pair], score[pair]
        first = _binary_auc(labels == a, scores[:, i], None, xp)
        second = _binary_auc(labels == b, scores[:, j], None, xp)
        areas.append((first + second) / 2.0)
    return float(np.mean(areas))
