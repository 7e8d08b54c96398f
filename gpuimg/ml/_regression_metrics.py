"""Scores of regressors: mean squared error, mean absolute error and the coefficient of determination."""

from gpuimg.errors import ParameterError

from ._metric_inputs import _real_pair


def mse(y_true, y_pred) -> float:
    """Mean squared error [units of y squared].

    Raises
    ------
    ParameterError
        If the two differ in shape or are empty, do not hold real numbers (text, complex values), or
        hold NaN or infinite values.

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
        If the two differ in shape or are empty, do not hold real numbers (text, complex values), or
        hold NaN or infinite values.

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
        If the two differ in shape or are empty, do not hold real numbers (text, complex values), hold
        NaN or infinite values, or ``y_true`` is constant (no variance to explain).

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
