"""Checks of feature tables and targets shared by the estimators, splits and selectors."""

import numpy as np

from gpuimg._text import count
from gpuimg.backend import namespace
from gpuimg.errors import FeatureError, NotFittedError, ParameterError


def check_fitted(estimator, attribute: str, fit: str = "fit(X, y)") -> None:
    """Raise :class:`~gpuimg.errors.NotFittedError` unless ``estimator`` has its learned ``attribute``."""
    if not hasattr(estimator, attribute):
        name = type(estimator).__name__
        raise NotFittedError(
            f"This {name} is not fitted yet: call {fit} before using it (scikit-learn's contract)."
        )


def check_features(X, *, what: str = "X"):
    """``X`` as a 2D float array on its device, all values finite.

    Raises
    ------
    ParameterError
        If ``X`` is not 2D or holds no samples.
    FeatureError
        If ``X`` holds NaN or infinite values.
    """
    xp = namespace(X).xp
    X = xp.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(
            f"{what} must be a 2D table (samples, features) with at least one of each; got shape {X.shape}."
        )
    if X.dtype.kind not in "fiub":
        raise ParameterError(f"{what} must hold numbers; got dtype {X.dtype}.")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    finite = xp.isfinite(X)
    if not bool(finite.all()):
        bad = xp.nonzero(~finite.all(axis=0))[0]
        columns = [int(c) for c in bad[:10]]
        raise FeatureError(
            f"{what} holds NaN or infinite values in {count(int(bad.size), 'feature column')} "
            f"(first: {columns}); impute them (sklearn.impute.SimpleImputer) or drop those features first."
        )
    return X


def check_target(X, y, *, classification: bool):
    """``y`` as a 1D array as long as ``X``; for classification, with at least two classes."""
    xp = namespace(y).xp
    y = xp.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ParameterError(
            f"X has {X.shape[0]} samples but y has shape {y.shape}; give one target per sample (row of X)."
        )
    if classification:
        classes = xp.unique(y)
        if classes.size < 2:
            raise ParameterError(
                f"y holds one class only ({classes.tolist()}); a classifier needs at least two classes."
            )
    elif y.dtype.kind == "f" and not bool(xp.isfinite(y).all()):
        raise ParameterError("y holds NaN or infinite values; a regressor needs finite targets.")
    return y
