"""GPU input without cuML: scikit-learn under array-API dispatch where it supports the estimator, else
one copy to the host, and the warning (once per process) that says which.

:func:`_array_api_estimator` is the scikit-learn estimator that runs a name on device arrays (or None),
:func:`_array_api_unavailable` says why dispatch cannot be switched on here, and :func:`_warn_host_copy`
and :func:`_warn_no_array_api` warn, at the line that called ``fit``, when the data go to the host
instead. The routes are described in :func:`gpuimg.ml.make_estimator`, Notes.
"""

import functools
import warnings

import sklearn
from sklearn.base import RegressorMixin
from sklearn.linear_model._base import LinearModel
from sklearn.utils._array_api import get_namespace

from gpuimg._support import caller_level


def _array_api_estimator(name: str, cls: type, params: dict):
    """The scikit-learn estimator that runs ``name`` with ``params`` on device arrays under array-API
    dispatch, or None where scikit-learn cannot (see :func:`gpuimg.ml.make_estimator`, Notes)."""
    if name == "linear_regression" and not _tagged_array_api(cls(**params)):
        if params.get("positive", False):
            return None
        return _LeastSquares(fit_intercept=params.get("fit_intercept", True), tol=params.get("tol", 1e-6))
    if name == "ridge":
        if params.get("positive", False) or params.get("solver", "auto") not in ("auto", "svd"):
            return None
        params = {**params, "solver": "svd"}
    estimator = cls(**params)
    return estimator if _tagged_array_api(estimator) else None


class _LeastSquares(RegressorMixin, LinearModel):
    """scikit-learn's ``LinearRegression`` of dense data (its minimum-norm least-squares solution)
    in array-API code, for its array-API route: the data, centred and scaled by the square roots of
    the sample weights as ``LinearRegression`` does, solved through their SVD, dropping the singular
    values below ``tol`` times the largest (``scipy.linalg.lstsq(cond=tol)``, which it calls).

    It stood in as ``Ridge(alpha=0, solver="svd")``, which drops singular values below 1e-15 only:
    for collinear features (a feature the sum or a multiple of others, as radiomics tables hold)
    the rounding-error singular values were inverted, coefficients came out near 1e13 and
    predictions up to 1.0 off those of ``LinearRegression``.
    """

    def __init__(self, *, fit_intercept: bool = True, tol: float = 1e-6):
        self.fit_intercept = fit_intercept
        self.tol = tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (samples, features) and ``y`` (samples,) of one array namespace; returns self."""
        xp, _ = get_namespace(X)  # scikit-learn's: array_api_compat's CuPy namespace on the GPU
        y = xp.astype(xp.asarray(y), X.dtype)
        w = xp.ones_like(X[:, 0]) if sample_weight is None else xp.astype(xp.asarray(sample_weight), X.dtype)
        if self.fit_intercept:
            X_offset = xp.sum(X * w[:, None], axis=0) / xp.sum(w)
            y_offset = xp.sum(y * w) / xp.sum(w)
        else:
            X_offset, y_offset = xp.zeros_like(X[0, :]), xp.zeros_like(y[0])
        root = xp.sqrt(w)
        U, s, Vt = xp.linalg.svd((X - X_offset) * root[:, None], full_matrices=False)
        kept = s > self.tol * s[0]
        inverse = xp.where(kept, 1.0 / xp.where(kept, s, 1.0), 0.0)
        self.coef_ = Vt.T @ (inverse * (U.T @ ((y - y_offset) * root)))
        self.intercept_ = y_offset - xp.sum(X_offset * self.coef_)
        self.n_features_in_ = int(X.shape[1])
        return self


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


@functools.cache
def _warn_host_copy() -> None:
    warnings.warn(
        "cuML is not installed: gpuimg.ml copies GPU features to the host once and fits scikit-learn "
        "there (predictions are copied back). Install cuML for GPU estimators: in the gpuimg checkout, "
        "pip install -e '.[cuml13]' (or '.[cuml12]'). Without cuML, logistic_regression (lbfgs), "
        "ridge and linear_regression (svd) and pca stay on the GPU through scikit-learn's array-API "
        "support when SCIPY_ARRAY_API=1 is set before Python starts.",
        RuntimeWarning,
        stacklevel=caller_level(__file__),
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
        stacklevel=caller_level(__file__),
    )
