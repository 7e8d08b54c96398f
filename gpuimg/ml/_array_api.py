"""GPU input without cuML: scikit-learn under array-API dispatch where it supports the estimator, else
one copy to the host, and the warning (once per process) that says which.

:func:`_array_api_estimator` is the scikit-learn estimator that runs a name on device arrays (or None),
:func:`_array_api_unavailable` says why dispatch cannot be switched on here, and :func:`_warn_host_copy`
and :func:`_warn_no_array_api` warn, at the line that called ``fit``, when the data go to the host
instead. The routes are described in :func:`gpuimg.ml.make_estimator`, Notes.
"""

import functools
import os
import sys
import warnings

import sklearn


def _array_api_estimator(name: str, cls: type, params: dict):
    """The scikit-learn estimator that runs ``name`` with ``params`` on device arrays under array-API
    dispatch, or None where scikit-learn cannot (see :func:`gpuimg.ml.make_estimator`, Notes)."""
    if name == "linear_regression" and not _tagged_array_api(cls(**params)):
        if params.get("positive", False):
            return None
        from sklearn.linear_model import Ridge

        # Ridge's SVD solver with alpha = 0 solves least squares through the pseudo-inverse (singular
        # values below 1e-15 dropped), as LinearRegression's lstsq does.
        return Ridge(alpha=0.0, solver="svd", fit_intercept=params.get("fit_intercept", True))
    if name == "ridge":
        if params.get("positive", False) or params.get("solver", "auto") not in ("auto", "svd"):
            return None
        params = {**params, "solver": "svd"}
    estimator = cls(**params)
    return estimator if _tagged_array_api(estimator) else None


def _tagged_array_api(estimator) -> bool:
    """Whether scikit-learn's tags say ``estimator``, with its parameters, supports array-API input."""
    try:
        from sklearn.utils import get_tags
    except ImportError:  # scikit-learn < 1.6
        return bool(estimator._get_tags().get("array_api_support", False))
    return bool(get_tags(estimator).array_api_support)


def _array_api_unavailable() -> str | None:
    """Why scikit-learn's array-API dispatch cannot be switched on here (its own message), or None.

    scikit-learn checks ``SCIPY_ARRAY_API=1`` and its SciPy's version when dispatch is switched on."""
    try:
        with sklearn.config_context(array_api_dispatch=True):
            pass
    except (ImportError, RuntimeError) as exc:
        return str(exc)
    return None


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside :mod:`gpuimg.ml` (whose estimators' ``fit`` calls
    the warnings below), for a warning raised in this module."""
    package = os.path.dirname(__file__) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


@functools.cache
def _warn_host_copy() -> None:
    warnings.warn(
        "cuML is not installed: gpuimg.ml copies GPU features to the host once and fits scikit-learn "
        "there (predictions are copied back). Install cuML for GPU estimators: in the gpuimg checkout, "
        "pip install -e '.[cuml13]' (or '.[cuml12]'). Without cuML, logistic_regression (lbfgs), "
        "ridge and linear_regression (svd) and pca stay on the GPU through scikit-learn's array-API "
        "support when SCIPY_ARRAY_API=1 is set before Python starts.",
        RuntimeWarning,
        stacklevel=_caller_level(),
    )


@functools.cache
def _warn_no_array_api(reason: str) -> None:
    warnings.warn(
        "cuML is not installed and scikit-learn's array-API support, which would keep this estimator "
        f"on the GPU, is off ({reason}). Set SCIPY_ARRAY_API=1 in the environment before Python starts "
        "(export SCIPY_ARRAY_API=1), or install cuML (pip install -e '.[cuml13]' in the checkout). "
        "Until then, gpuimg.ml copies GPU features to the host once and fits scikit-learn there "
        "(predictions are copied back).",
        RuntimeWarning,
        stacklevel=_caller_level(),
    )
