"""The checks of the metrics' inputs: two arrays on one device, flattened, of one shape; labels (none
missing, both text or both numbers, a ``pos_label`` among them) and real values; the samples' weights;
the weighted mean of the samples' values and a weighted rate.
"""

import numpy as np

from gpuimg._arrays import real_dtype
from gpuimg._text import count, some
from gpuimg.backend import namespace, to_device
from gpuimg.errors import ParameterError

from ._validation import check_comparable, missing_labels


def _one_device(*arrays):
    """The ``arrays`` on one device, then the namespace ``xp``: the GPU where any lives there (the
    others copied there explicitly, as labels or weights kept on the host usually are), else the CPU
    in the second array's namespace (the predictions' or scores'). A None (no weights) stays None."""
    given = [a for a in arrays if a is not None]
    ns = next((namespace(a) for a in given if namespace(a).device != "cpu"), namespace(arrays[1]))
    return (*(None if a is None else ns.xp.asarray(to_device(a, ns.device)) for a in arrays), ns.xp)


def _check_weights(sample_weight, n: int, xp):
    """``sample_weight`` (already on the samples' device) as one weight per sample of the ``n``, int64
    (booleans and integers: counts stay whole, as scikit-learn's confusion matrix keeps them) or
    float64; None stays None.

    Raises
    ------
    ParameterError
        Weights that are not 1-D with ``n`` values, not real numbers, NaN or infinite, negative, or all 0.
    """
    if sample_weight is None:
        return None
    w = sample_weight
    if w.shape != (n,):
        raise ParameterError(
            f"sample_weight has shape {w.shape}, but the inputs hold {count(n, 'sample')}; give one weight "
            f"per sample, a 1-D array of shape ({n},) (for two images scored voxel by voxel, the weight "
            "image's .ravel())."
        )
    real_dtype(w.dtype, "sample_weight")
    w = w.astype(np.float64 if w.dtype.kind == "f" else np.int64)
    bad = int(xp.count_nonzero(~xp.isfinite(w)))
    if bad:
        raise ParameterError(
            f"sample_weight holds NaN or infinite values for {count(bad, 'sample')}; give each sample a "
            "finite weight (0 leaves it out)."
        )
    negative = int(xp.count_nonzero(w < 0))
    if negative:
        raise ParameterError(
            f"sample_weight holds negative weights for {count(negative, 'sample')} (the smallest "
            f"{float(w.min())!r}); a weight counts a sample: give each a weight >= 0 (0 leaves it out)."
        )
    if not bool((w > 0).any()):
        raise ParameterError(
            "sample_weight is 0 for every sample, which leaves no sample to score; give at least one "
            "sample a positive weight, or sample_weight=None to weigh them alike."
        )
    return w


def _average(values, w):
    """The mean of ``values`` over the samples (axis 0), each weighted by ``w`` (None: alike), as
    ``numpy.average(values, axis=0, weights=w)``."""
    if w is None:
        return values.mean(0)
    return (w.reshape((-1,) + (1,) * (values.ndim - 1)) * values).sum(0) / w.sum()


def _real_pair(a, b, *, targets: bool = False, sample_weight=None):
    """``_pair`` of two real-valued vectors (tables with ``targets``), integers and booleans as
    float64: differences of unsigned or small integers would wrap around, and of booleans NumPy refuses."""
    a, b, w, xp = _pair(a, b, targets=targets, sample_weight=sample_weight)
    for name, values in (("y_true", a), ("y_pred", b)):
        real_dtype(values.dtype, name)
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        a, b = a.astype(np.float64), b.astype(np.float64)
    # A NaN (a missing target, a failed prediction) made the score NaN, and an infinite value inf or
    # NaN, without a word; scikit-learn refuses them ('Input contains NaN').
    for name, values in (("y_true", a), ("y_pred", b)):
        bad = int(xp.count_nonzero(~xp.isfinite(values)))
        if bad:
            raise ParameterError(
                f"{name} holds NaN or infinite values for {count(bad, 'sample')}; a regression score "
                "needs a finite value for every sample: drop those samples or fill them in."
            )
    return a, b, w, xp


def _pair(a, b, *, targets: bool = False, sample_weight=None):
    """``a`` and ``b`` on one device, flattened: of one shape (a column (n, 1) beside (n,) taken as
    the vector, as scikit-learn's column_or_1d takes it), compared element by element (voxel by
    voxel for two label images). With ``targets``, as tables (samples, targets): a 2D pair keeps its
    columns, any other is flattened into one column. Then the checked weights of the samples (rows),
    None without ``sample_weight``, and ``xp``."""
    a, b, w, xp = _one_device(a, b, sample_weight)
    if a.shape != b.shape:
        a, b = (v[:, 0] if v.ndim == 2 and v.shape[1] == 1 else v for v in (a, b))
    # The shape, not the number of values: a (z, x, y) label map beside a (z, y, x) one, or (4,) beside
    # (2, 2), was compared value by value after flattening, the wrong voxels with each other.
    if a.shape != b.shape or a.size == 0:
        raise ParameterError(
            f"the inputs must have the same shape and at least one value; got shapes {a.shape} and "
            f"{b.shape}. Give one value per sample in each (resample a label image onto the other's grid)."
        )
    shape = (a.shape if a.ndim == 2 else (a.size, 1)) if targets else (a.size,)
    a, b = a.reshape(shape), b.reshape(shape)
    return a, b, _check_weights(w, shape[0], xp), xp


def _label_pair(y_true, y_pred, sample_weight=None):
    """``_pair`` of two label vectors, both text or both numbers."""
    y_true, y_pred, w, xp = _pair(y_true, y_pred, sample_weight=sample_weight)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        _check_labelled(name, labels, xp)
    _same_kind(("y_true", y_true), ("y_pred", y_pred))
    return y_true, y_pred, w, xp


def _check_present(name: str, labels, xp) -> None:
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


def _check_labelled(name: str, labels, xp) -> None:
    """Refuse missing labels (NaN, None), labels of types that cannot be compared and scores."""
    _check_present(name, labels, xp)
    # Scores are not labels: a probability (predict_proba(X)[:, 1]) passed as y_pred equalled no
    # class, so the accuracy came out 0.0 and the confusion matrix grew a row and column per score.
    # scikit-learn refuses them ("a mix of binary and continuous targets").
    fractional = int((labels != xp.floor(labels)).sum()) if labels.dtype.kind == "f" else 0
    if fractional:
        raise ParameterError(
            f"{name} holds continuous values ({count(fractional, 'sample')} not whole numbers), not class "
            "labels; classification metrics compare labels: pass model.predict(X), or threshold the "
            "scores (e.g. score >= 0.5); roc_auc takes the scores themselves."
        )


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


def _rate(hits, among, w, what: str) -> float:
    """The fraction of the samples ``among`` (a mask) that are ``hits`` (a mask), each weighted by ``w``
    (None: alike)."""
    if w is None:
        numerator, denominator = hits.sum(), among.sum()
    else:
        numerator, denominator = (w * hits).sum(), (w * among).sum()
    if float(denominator) == 0:
        if w is not None and bool(among.any()):
            raise ParameterError(
                f"sample_weight is 0 for each {what} sample of y_true, so the rate is undefined; give "
                f"some {what} sample a positive weight."
            )
        raise ParameterError(f"y_true holds no {what} sample, so the rate is undefined.")
    return float(numerator) / float(denominator)
