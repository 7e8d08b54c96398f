"""cuML's side of the device estimators: scikit-learn parameters translated to cuML's, and the score of
a cuML-fitted estimator computed on the device.

:class:`gpuimg.ml._base.DeviceEstimator` takes scikit-learn's parameters. Where it fits with cuML
(CuPy input, cuML installed), :func:`_cuml_params` renames them, fixes those a name needs (cuML's
stand-alone decision tree is one unbootstrapped tree of its random forest) and maps the values cuML
spells differently; :func:`_device_score` is scikit-learn's accuracy or R² without a copy to the host.
"""

import inspect
import warnings

import numpy as np

from gpuimg.backend import namespace, to_device
from gpuimg.errors import ParameterError

#: Parameters cuML fixes for a name, and scikit-learn parameter names cuML spells differently.
_CUML_FIXED = {"decision_tree": {"n_estimators": 1, "bootstrap": False, "max_features": 1.0}}
_CUML_RENAMED = {"criterion": "split_criterion"}
_TREE_CRITERIA = {"split_criterion": {"squared_error": "mse", "log_loss": "entropy", "friedman_mse": None}}
#: scikit-learn values that cuML spells differently or lacks, per estimator and cuML parameter: the
#: cuML value fitting the same model (another solver of the same problem), or None where cuML has none.
_CUML_VALUES = {
    "random_forest": _TREE_CRITERIA,
    "decision_tree": _TREE_CRITERIA,
    "logistic_regression": {
        "solver": dict.fromkeys(("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"), "qn")
    },
    "ridge": {
        "solver": {"cholesky": "eig", **dict.fromkeys(("lsqr", "sparse_cg", "sag", "saga", "lbfgs"), "lsmr")}
    },
    "pca": {"svd_solver": dict.fromkeys(("covariance_eigh", "arpack", "randomized"), "full")},
    "dbscan": {"algorithm": dict.fromkeys(("auto", "ball_tree", "kd_tree"), "brute")},
}


def _cuml_params(name: str, params: dict, cls) -> dict:
    """scikit-learn parameters translated for the cuML class ``cls``; those cuML lacks are dropped
    with a warning (``n_jobs``, ``class_weight`` of some classes, ...)."""
    translated = {_CUML_RENAMED.get(k, k): v for k, v in params.items()}
    translated.update(_CUML_FIXED.get(name, {}))
    for param, values in _CUML_VALUES.get(name, {}).items():
        value = translated.get(param)
        if isinstance(value, str) and value in values:
            if values[value] is None:
                raise ParameterError(
                    f"{param}={value!r} has no cuML equivalent for {name!r}; choose one of "
                    f"{sorted(k for k, v in values.items() if v)} or cuML's own, or fit on the CPU."
                )
            translated[param] = values[value]
    signature = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        return translated
    dropped = sorted(k for k in translated if k not in signature and k != "probability")
    if dropped:
        warnings.warn(f"cuML's {cls.__name__} has no parameter {dropped}; ignored.", stacklevel=4)
    return {k: v for k, v in translated.items() if k in signature or k == "probability"}


def _device_score(task: str, y, y_pred, sample_weight) -> float:
    """Accuracy (classification) or R² (regression) of ``y_pred``, on its device, as scikit-learn's."""
    ns = namespace(y_pred)
    xp = ns.xp
    y = xp.asarray(to_device(y, ns.device)).ravel()
    y_pred = y_pred.ravel()
    w = (
        xp.ones(y.shape[0], dtype=np.float64)
        if sample_weight is None
        else xp.asarray(to_device(sample_weight, ns.device), dtype=np.float64)
    )
    if task == "classification":
        return float((w * (y == y_pred)).sum() / w.sum())
    y, y_pred = y.astype(np.float64), y_pred.astype(np.float64)
    mean = (w * y).sum() / w.sum()
    total = float((w * (y - mean) ** 2).sum())
    residual = float((w * (y - y_pred) ** 2).sum())
    if total == 0:  # scikit-learn's r2_score: 1 for a perfect fit of a constant, else 0
        return 1.0 if residual == 0 else 0.0
    return 1.0 - residual / total
