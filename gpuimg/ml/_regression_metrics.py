"""Scores of regressors: mean squared error, mean absolute error and the coefficient of determination."""

from gpuimg._text import some
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
        NaN or infinite values, or ``y_true`` (a target of it, for a table) is constant (no variance to
        explain).

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
    """
    y_true, y_pred, xp = _real_pair(y_true, y_pred, targets=True)
    total = ((y_true - y_true.mean(0)) ** 2).sum(0)
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
    return float((1.0 - ((y_true - y_pred) ** 2).sum(0) / total).mean())
