"""Classifiers, regressors and clusterers by name, on the device the data lives on.

:func:`make_estimator` builds a small wrapper estimator (:class:`DeviceClassifier`,
:class:`DeviceRegressor`, :class:`DeviceClusterer`) that chooses its library when it is fitted:
scikit-learn for NumPy input, cuML for CuPy input where cuML is installed. Without cuML, CuPy input is
copied to the host once (with one warning per process), fitted with scikit-learn, and predictions are
copied back to the GPU. The wrappers follow scikit-learn's estimator API, so ``clone``, ``Pipeline``
and ``GridSearchCV`` take them; their parameters are the wrapped scikit-learn class's.
"""

import functools
import importlib
import inspect
import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, ClusterMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from gpuimg.backend import namespace, to_device, to_numpy
from gpuimg.errors import ParameterError

from ._validation import check_features, check_target

TASKS = ("classification", "regression", "clustering")

#: (module, class) of each estimator in scikit-learn and in cuML, by task and name. cuML has no
#: stand-alone decision tree: one unbootstrapped tree of its random forest on all features is one.
_CLASSES = {
    "classification": {
        "svm": {"sklearn": ("svm", "SVC"), "cuml": ("svm", "SVC")},
        "decision_tree": {
            "sklearn": ("tree", "DecisionTreeClassifier"),
            "cuml": ("ensemble", "RandomForestClassifier"),
        },
        "random_forest": {
            "sklearn": ("ensemble", "RandomForestClassifier"),
            "cuml": ("ensemble", "RandomForestClassifier"),
        },
        "logistic_regression": {
            "sklearn": ("linear_model", "LogisticRegression"),
            "cuml": ("linear_model", "LogisticRegression"),
        },
    },
    "regression": {
        "linear_regression": {
            "sklearn": ("linear_model", "LinearRegression"),
            "cuml": ("linear_model", "LinearRegression"),
        },
        "svr": {"sklearn": ("svm", "SVR"), "cuml": ("svm", "SVR")},
        "random_forest": {
            "sklearn": ("ensemble", "RandomForestRegressor"),
            "cuml": ("ensemble", "RandomForestRegressor"),
        },
    },
    "clustering": {
        "kmeans": {"sklearn": ("cluster", "KMeans"), "cuml": ("cluster", "KMeans")},
        "dbscan": {"sklearn": ("cluster", "DBSCAN"), "cuml": ("cluster", "DBSCAN")},
        # Written once for both devices (gpuimg.ml.som).
        "som": {"sklearn": None, "cuml": None},
    },
}

#: Parameters cuML fixes for a name, and scikit-learn parameter names cuML spells differently.
_CUML_FIXED = {"decision_tree": {"n_estimators": 1, "bootstrap": False, "max_features": 1.0}}
_CUML_RENAMED = {"criterion": "split_criterion"}


def make_estimator(name: str, task: str = "classification", **params) -> "DeviceEstimator":
    """A classifier, regressor or clusterer by name, computing on its input's device.

    Parameters
    ----------
    name : str
        classification: ``"svm"``, ``"decision_tree"``, ``"random_forest"``, ``"logistic_regression"``;
        regression: ``"linear_regression"``, ``"svr"``, ``"random_forest"``;
        clustering: ``"kmeans"``, ``"dbscan"``, ``"som"``.
    task : {"classification", "regression", "clustering"}
    **params
        Parameters of the scikit-learn class (``SVC``, ``DecisionTreeClassifier``,
        ``RandomForestClassifier``, ``LogisticRegression``, ``LinearRegression``, ``SVR``,
        ``RandomForestRegressor``, ``KMeans``, ``DBSCAN``) or of :class:`gpuimg.ml.SOM`, e.g.
        ``C=10.0``, ``random_state=0``.

    Returns
    -------
    DeviceClassifier, DeviceRegressor or DeviceClusterer
        Unfitted; a scikit-learn estimator.

    Raises
    ------
    ParameterError
        Unknown task, name, or parameter; the message lists the choices.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = make_estimator("random_forest", n_estimators=20, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).tolist()
    [0, 0, 0]
    """
    if task not in _WRAPPERS:
        raise ParameterError(f"task={task!r} is unknown; use one of {list(TASKS)}.")
    wrapper = _WRAPPERS[task](name, **params)
    wrapper._reference_class()
    return wrapper


class DeviceEstimator(BaseEstimator):
    """An estimator by name that fits with scikit-learn or cuML, as its input's device asks.

    Parameters
    ----------
    name : str
        The estimator, one of the names :func:`make_estimator` lists for this task.
    **params
        Parameters of the wrapped scikit-learn class (or :class:`gpuimg.ml.SOM`).

    Attributes
    ----------
    estimator_ : object
        The fitted scikit-learn, cuML or gpuimg estimator.
    library_ : {"sklearn", "cuml", "gpuimg"}
        The library that fitted it.
    n_features_in_ : int
    """

    _task = ""

    def __init__(self, name: str, **params):
        self.name = name
        self.params = params

    def get_params(self, deep: bool = True) -> dict:
        """The name and the wrapped estimator's parameters (flat, so ``GridSearchCV`` can set them)."""
        return {"name": self.name, **self.params}

    def set_params(self, **params) -> "DeviceEstimator":
        """Set the name or any parameter of the wrapped estimator; returns self."""
        self.name = params.pop("name", self.name)
        self.params = {**self.params, **params}
        return self

    def fit(self, X, y=None):
        """Fit on ``X`` (samples, features) and ``y`` on their device; returns self.

        Raises
        ------
        FeatureError
            NaN or infinite features.
        ParameterError
            Mismatched lengths of X and y, a single class for a classifier, unknown parameters.
        """
        X = check_features(X)
        if self._task != "clustering":
            y = check_target(X, y, classification=self._task == "classification")
        self.device_ = namespace(X).device
        estimator, self.library_ = self._build(namespace(X).ml)
        if self.library_ == "sklearn" and self.device_ == "cuda":
            _warn_host_copy()
            X = to_numpy(X)
            y = None if y is None else to_numpy(y)
        estimator.fit(X, y)
        self.estimator_ = estimator
        self.n_features_in_ = int(X.shape[1])
        return self

    def _build(self, ml):
        """The unfitted estimator for a library module (``sklearn``, ``cuml``, or None) and its name."""
        entry = self._entry()
        if entry["sklearn"] is None:
            from .som import SOM

            return SOM(**self._checked(SOM)), "gpuimg"
        if ml is None or ml.__name__ == "sklearn":
            cls = self._reference_class()
            return cls(**self._checked(cls)), "sklearn"
        module, class_name = entry["cuml"]
        cls = getattr(importlib.import_module(f"cuml.{module}"), class_name)
        params = _cuml_params(self.name, self.params, cls)
        if class_name == "SVC" and params.pop("probability", False):
            return _PlattCalibrated(cls, params, self.params.get("random_state")), "cuml"
        return cls(**params), "cuml"

    def _entry(self) -> dict:
        choices = _CLASSES[self._task]
        if self.name not in choices:
            raise ParameterError(
                f"name={self.name!r} is not a {self._task} estimator; use one of {sorted(choices)}."
            )
        return choices[self.name]

    def _reference_class(self) -> type:
        """The scikit-learn class (or gpuimg's SOM) whose parameters this wrapper takes."""
        entry = self._entry()
        if entry["sklearn"] is None:
            from .som import SOM

            cls = SOM
        else:
            module, class_name = entry["sklearn"]
            cls = getattr(importlib.import_module(f"sklearn.{module}"), class_name)
        self._checked(cls)
        return cls

    def _checked(self, cls) -> dict:
        accepted = set(inspect.signature(cls).parameters)
        unknown = sorted(set(self.params) - accepted)
        if unknown:
            raise ParameterError(
                f"{self.name!r} ({cls.__name__}) takes no parameter {unknown}; "
                f"its parameters are {sorted(accepted)}."
            )
        return dict(self.params)

    def _to_input_device(self, result, X):
        """Predictions computed on the host for CuPy input go back to the GPU (the explicit copy)."""
        if self.library_ == "sklearn" and namespace(X).device == "cuda":
            return to_device(result, "cuda")
        return result

    def _call(self, method: str, X):
        X = check_features(X)
        if X.shape[1] != self.n_features_in_:
            raise ParameterError(
                f"X has {X.shape[1]} features but the {self.name!r} model was fitted on "
                f"{self.n_features_in_}."
            )
        host = self.library_ == "sklearn" and namespace(X).device == "cuda"
        result = getattr(self.estimator_, method)(to_numpy(X) if host else X)
        return self._to_input_device(result, X)

    def predict(self, X):
        """Predictions for ``X``, on its device."""
        return self._call("predict", X)

    @available_if(lambda self: hasattr(self.estimator_, "transform"))
    def transform(self, X):
        """The wrapped estimator's transform of ``X`` (e.g. distances to KMeans centres)."""
        return self._call("transform", X)


class DeviceClassifier(ClassifierMixin, DeviceEstimator):
    __doc__ = DeviceEstimator.__doc__
    _task = "classification"

    @property
    def classes_(self):
        """The class labels, in the order of the columns of ``predict_proba``."""
        return self.estimator_.classes_

    @available_if(lambda self: hasattr(self.estimator_, "predict_proba"))
    def predict_proba(self, X):
        """Class probabilities for ``X`` (samples, classes), on its device."""
        return self._call("predict_proba", X)

    @available_if(lambda self: hasattr(self.estimator_, "decision_function"))
    def decision_function(self, X):
        """The wrapped classifier's decision function for ``X``, on its device."""
        return self._call("decision_function", X)


class DeviceRegressor(RegressorMixin, DeviceEstimator):
    __doc__ = DeviceEstimator.__doc__
    _task = "regression"


class DeviceClusterer(ClusterMixin, DeviceEstimator):
    __doc__ = DeviceEstimator.__doc__
    _task = "clustering"

    def fit(self, X, y=None):
        """Cluster ``X`` (samples, features); the labels are in ``labels_``; returns self."""
        super().fit(X)
        self.labels_ = self._to_input_device(self.estimator_.labels_, X)
        return self

    def predict(self, X):
        """The cluster of each sample of ``X`` (not for DBSCAN, which has no predict)."""
        if not hasattr(self.estimator_, "predict"):
            raise ParameterError(
                f"{self.name!r} cannot label new samples; use fit_predict (labels_) on the data itself."
            )
        return self._call("predict", X)


_WRAPPERS = {"classification": DeviceClassifier, "regression": DeviceRegressor, "clustering": DeviceClusterer}


@functools.cache
def _warn_host_copy() -> None:
    warnings.warn(
        "cuML is not installed: gpuimg.ml copies GPU features to the host once and fits scikit-learn "
        "there (predictions are copied back). Install cuML for GPU estimators: "
        "pip install 'gpuimg[cuml13]' (or 'gpuimg[cuml12]').",
        RuntimeWarning,
        stacklevel=3,
    )


def _cuml_params(name: str, params: dict, cls) -> dict:
    """scikit-learn parameters translated for the cuML class ``cls``; those cuML lacks are dropped
    with a warning (``n_jobs``, ``class_weight`` of some classes, ...)."""
    translated = {_CUML_RENAMED.get(k, k): v for k, v in params.items()}
    translated.update(_CUML_FIXED.get(name, {}))
    signature = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        return translated
    dropped = sorted(k for k in translated if k not in signature and k != "probability")
    if dropped:
        warnings.warn(f"cuML's {cls.__name__} has no parameter {dropped}; ignored.", stacklevel=4)
    return {k: v for k, v in translated.items() if k in signature or k == "probability"}


class _PlattCalibrated:
    """A binary SVC with Platt-scaled probabilities (for cuML's SVC, which has no ``probability``).

    The SVC is fitted on all the data; the sigmoid ``P(y = classes_[1]) = 1 / (1 + exp(-(a f + b)))``
    of its decision value ``f`` is fitted by Newton's method on out-of-fold decision values (3 folds),
    with Platt's regularised targets. Works on either device (``xp``).
    """

    _FOLDS = 3

    def __init__(self, svc_class, params: dict, random_state):
        self.svc_class = svc_class
        self.params = params
        self.random_state = random_state

    def fit(self, X, y):
        xp = namespace(X).xp
        self.svc_ = self.svc_class(**self.params).fit(X, y)
        self.classes_ = self.svc_.classes_
        if len(self.classes_) != 2:
            raise ParameterError(
                f"probability=True on the GPU supports two classes; y has {len(self.classes_)}. "
                "Use probability=False, or logistic_regression / random_forest for class probabilities."
            )
        seed = self.random_state if isinstance(self.random_state, int) else None
        order = xp.asarray(np.random.default_rng(seed).permutation(X.shape[0]))
        folds = xp.empty(X.shape[0], dtype=np.int64)
        folds[order] = xp.arange(X.shape[0]) % self._FOLDS
        scores = xp.empty(X.shape[0], dtype=np.float64)
        for k in range(self._FOLDS):
            test = folds == k
            model = self.svc_class(**self.params).fit(X[~test], y[~test])
            scores[test] = xp.asarray(model.decision_function(X[test]), dtype=np.float64).ravel()
        self.a_, self.b_ = _platt(scores, xp.asarray(y == self.classes_[1], dtype=np.float64), xp)
        return self

    def predict(self, X):
        return self.svc_.predict(X)

    def decision_function(self, X):
        return self.svc_.decision_function(X)

    def predict_proba(self, X):
        xp = namespace(X).xp
        f = xp.asarray(self.svc_.decision_function(X), dtype=np.float64).ravel()
        p = 1.0 / (1.0 + xp.exp(-(self.a_ * f + self.b_)))
        return xp.stack([1.0 - p, p], axis=1)


def _platt(f, positive, xp, iterations: int = 100) -> tuple[float, float]:
    """Platt's sigmoid ``(a, b)`` for decision values ``f`` and 0/1 labels, by Newton's method."""
    n_pos = float(positive.sum())
    n_neg = positive.size - n_pos
    target = xp.where(positive > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + xp.exp(-(a * f + b)))
        r = p - target
        w = p * (1 - p) + 1e-12
        g = (float((r * f).sum()), float(r.sum()))
        h = (float((w * f * f).sum()) + 1e-9, float((w * f).sum()), float(w.sum()) + 1e-9)
        det = h[0] * h[2] - h[1] ** 2
        da = (h[2] * g[0] - h[1] * g[1]) / det
        db = (h[0] * g[1] - h[1] * g[0]) / det
        a, b = a - da, b - db
        if math.hypot(da, db) < 1e-10:
            break
    return a, b
