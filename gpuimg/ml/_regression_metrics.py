"""Scores of regressors: mean squared error, mean absolute error and the coefficient of determination."""

from gpuimg._text import some
from gpuimg.errors import ParameterError

from ._metric_inputs import _average, _real_pair


def mse(y_true, y_pred, sample_weight=None) -> float:
    """Mean squared error [units of y squared].

    Parameters
    ----------
    y_true, y_pred : array (n_samples,) or (n_samples, n_targets)
        The true and the predicted values; a table's targets are averaged alike, and two images of 3 or
        more axes are scored voxel by voxel.
    sample_weight : array (n_samples,), optional
        The weight of each sample (a table's row, an image's voxel in ``.ravel()`` order), real, finite
        and >= 0, not all 0: the score is the weighted mean, as ``numpy.average`` takes it and
        scikit-learn's ``sample_weight``; integer weights count a sample that many times. Default: all alike.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, do not hold real numbers (text, complex values), or
        hold NaN or infinite values; or ``sample_weight`` is not one real, finite, non-negative weight
        per sample, or is 0 for all.

    Examples
    --------
    >>> from gpuimg.ml import mse
    >>> mse([1.0, 2.0, 3.0], [1.0, 2.0, 6.0])  # 3**2 / 3
    3.0
    >>> mse([1.0, 2.0, 3.0], [1.0, 2.0, 6.0], sample_weight=[1, 1, 2])  # 2 * 3**2 / 4
    4.5
    """
    y_true, y_pred, w, _xp = _real_pair(y_true, y_pred, targets=True, sample_weight=sample_weight)
    return float(_average((y_true - y_pred) ** 2, w).mean())


def mae(y_true, y_pred, sample_weight=None) -> float:
    """Mean absolute error [units of y].

    Parameters
    ----------
    y_true, y_pred : array (n_samples,) or (n_samples, n_targets)
        The true and the predicted values; a table's targets are averaged alike, and two images of 3 or
        more axes are scored voxel by voxel.
    sample_weight : array (n_samples,), optional
        The weight of each sample (a table's row, an image's voxel in ``.ravel()`` order), real, finite
        and >= 0, not all 0: the score is the weighted mean, as ``numpy.average`` takes it and
        scikit-learn's ``sample_weight``; integer weights count a sample that many times. Default: all alike.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, do not hold real numbers (text, complex values), or
        hold NaN or infinite values; or ``sample_weight`` is not one real, finite, non-negative weight
        per sample, or is 0 for all.

    Examples
    --------
    >>> from gpuimg.ml import mae
    >>> mae([1.0, 2.0, 3.0], [1.0, 2.0, 6.0])  # 3 / 3
    1.0
    >>> mae([1.0, 2.0, 3.0], [1.0, 2.0, 6.0], sample_weight=[1.0, 1.0, 0.5])  # 0.5 * 3 / 2.5
    0.6
    """
    y_true, y_pred, w, xp = _real_pair(y_true, y_pred, targets=True, sample_weight=sample_weight)
    return float(_average(xp.abs(y_true - y_pred), w).mean())


def r2(y_true, y_pred, sample_weight=None) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot (1: perfect; 0: the mean's prediction).

    Parameters
    ----------
    y_true, y_pred : array (n_samples,) or (n_samples, n_targets)
        The true and the predicted values; a table's targets are averaged alike, and two images of 3 or
        more axes are scored voxel by voxel.
    sample_weight : array (n_samples,), optional
        The weight of each sample (a table's row, an image's voxel in ``.ravel()`` order), real, finite
        and >= 0, not all 0: both sums of squares and the mean of ``y_true`` are weighted, as with
        scikit-learn's ``sample_weight``; integer weights count a sample that many times. Default: all alike.

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, do not hold real numbers (text, complex values), hold
        NaN or infinite values, or ``y_true`` (a target of it, for a table) is constant (no variance to
        explain) over the samples of non-zero weight; or ``sample_weight`` is not one real, finite,
        non-negative weight per sample, or is 0 for all.

    Notes
    -----
    A 2D pair is a table (samples, targets), scored as scikit-learn's ``r2_score`` scores it by
    default (``multioutput="uniform_average"``): the mean of the targets' R². Any other shape is
    scored value by value, all values pooled: a vector, or two images voxel by voxel (pass a 2D image
    as ``image.ravel()``, else its columns are targets). scikit-learn scores a constant target 1 if
    predicted exactly, else 0; here it is refused, as R² is undefined for it.

    Examples
    --------
    >>> from gpuimg.ml import r2
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])  # 1 - 1 / 2
    0.5
    >>> r2([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])  # the mean
    0.0
    >>> r2([[1.0, 1.0], [2.0, 3.0], [3.0, 5.0]], [[1.0, 2.0], [2.0, 3.0], [4.0, 5.0]])  # (0.5 + 0.875) / 2
    0.6875
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], sample_weight=[2, 1, 1])  # mean 1.75: 1 - 1 / 2.75
    0.6363636363636364
    """
    y_true, y_pred, w, xp = _real_pair(y_true, y_pred, targets=True, sample_weight=sample_weight)
    total = _average((y_true - _average(y_true, w)) ** 2, w)
    constant = xp.flatnonzero(total == 0).tolist()
    if constant:
        which = ""
        if y_true.shape[1] > 1:  # or a 2D image passed whole, its columns taken as targets
            which = (
                f" (target column {some(map(str, constant))} of {y_true.shape[1]}: a 2D pair is "
                "(samples, targets); score two 2D images voxel by voxel as r2(a.ravel(), b.ravel()))"
            )
        raise ParameterError(
            f"r2 is undefined for a constant y_true{which}; use mse or mae, or leave that target out."
        )
    return float((1.0 - _average((y_true - y_pred) ** 2, w) / total).mean())
