"""The base of gpuimg's estimator wrappers: the estimators by name (:data:`_CLASSES`) and
:class:`DeviceEstimator`, which checks the input, fits the named class of scikit-learn, cuML or
gpuimg as the input's device asks (see :func:`gpuimg.ml.make_estimator`), and calls its methods.

The wrappers of each task, and :func:`~gpuimg.ml.make_estimator`, are in :mod:`gpuimg.ml.estimators`.
"""

import contextlib
import importlib
import inspect
import numbers

import sklearn
from sklearn.base import BaseEstimator
from sklearn.utils import TransformerTags
from sklearn.utils.metaestimators import available_if

from gpuimg.backend import namespace, to_device, to_numpy
from gpuimg.errors import DeviceError, GpuimgError, ParameterError

from ._array_api import _array_api_estimator, _array_api_unavailable, _warn_host_copy, _warn_no_array_api
from ._calibration import _PlattCalibrated
from ._cuml import _cuml_params, _device_score
from ._validation import (
    check_features,
    check_fitted,
    check_names,
    check_sample_weight,
    check_target,
    check_target_length,
    check_width,
    remember_names,
)

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
        "ridge": {"sklearn": ("linear_model", "Ridge"), "cuml": ("linear_model", "Ridge")},
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
    "decomposition": {
        "pca": {"sklearn": ("decomposition", "PCA"), "cuml": ("decomposition", "PCA")},
    },
}


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
    route_ : {"numpy", "array_api", "host_copy", "cuml", "gpuimg"}
        Where it computes (see :func:`make_estimator`): scikit-learn on NumPy input, scikit-learn on
        GPU arrays under array-API dispatch, scikit-learn on a host copy of GPU input, cuML, or gpuimg.
    device_ : {"cpu", "cuda"}
        The device of the training data.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        The column names of a DataFrame fitted on (where all are strings); predicting on a DataFrame
        of other columns, or of the same in another order, is a ParameterError, as in scikit-learn.
        An array where a DataFrame was fitted (or a DataFrame where an array was) is taken by the
        columns' places, with scikit-learn's UserWarning ("X does not have valid feature names").

    Examples
    --------
    :func:`make_estimator` makes the wrapper of each task: a DeviceClassifier, DeviceRegressor,
    DeviceClusterer or DeviceTransformer.

    >>> import numpy as np
    >>> from sklearn.base import clone
    >>> from gpuimg.ml import make_estimator
    >>> X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    >>> y = np.array([0, 0, 0, 1, 1, 1])  # separable at 0.6
    >>> classifier = make_estimator("logistic_regression").fit(X, y)
    >>> type(classifier).__name__, classifier.score(X, y), classifier.route_, classifier.device_
    ('DeviceClassifier', 1.0, 'numpy', 'cpu')
    >>> clone(classifier).get_params()  # a scikit-learn estimator: clone, Pipeline, GridSearchCV
    {'name': 'logistic_regression'}
    >>> regressor = make_estimator("linear_regression", task="regression").fit(X, 2 * X[:, 0] + 1)
    >>> type(regressor).__name__, regressor.predict(np.array([[2.0]])).round(6)  # 2 * 2 + 1
    ('DeviceRegressor', array([5.]))
    >>> clusterer = make_estimator("kmeans", task="clustering", n_clusters=2, random_state=0).fit(X)
    >>> type(clusterer).__name__, np.array_equal(clusterer.labels_ == clusterer.labels_[0], y == 0)
    ('DeviceClusterer', True)
    >>> pca = make_estimator("pca", task="decomposition", n_components=1).fit(X)
    >>> type(pca).__name__, pca.transform(X).shape, pca.get_feature_names_out()
    ('DeviceTransformer', (6, 1), array(['pca0'], dtype=object))
    """

    _task = ""
    #: The fit call the NotFittedError names: fit(X) where the task takes no target.
    _fit_call = "fit(X, y)"

    def __init__(self, name: str, **params):
        self.name = name
        self.params = params

    def get_params(self, deep: bool = True) -> dict:
        """The name and the wrapped estimator's parameters (flat, so ``GridSearchCV`` can set them)."""
        return {"name": self.name, **self.params}

    def set_params(self, **params) -> "DeviceEstimator":
        """Set the name or any parameter of the wrapped estimator; returns self.

        Raises
        ------
        ParameterError
            A parameter the wrapped class does not take (nothing is set then), as scikit-learn's
            ``set_params`` refuses an invalid parameter. Values are checked by ``fit``.
        """
        name = params.pop("name", self.name)
        try:
            accepted = set(inspect.signature(self._class(name)).parameters)
        except ParameterError:  # an unknown name: fit says so, as it checks the values
            accepted = set(params)
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ParameterError(
                f"Invalid parameter {unknown} for {name!r}; its parameters are {sorted(accepted)}."
            )
        self.name, self.params = name, {**self.params, **params}
        return self

    def check_params(self) -> "DeviceEstimator":
        """Check the parameters' values without data, as ``fit`` does first; returns self.

        The wrapped scikit-learn class's constraints (``n_estimators`` a whole number from 1, ``C``
        positive, ...) or the SOM's; what the data decide (no more clusters than samples) is left to
        ``fit``.

        Raises
        ------
        ParameterError
            An unknown name or parameter, or a value the wrapped class refuses, with its reason.
        """
        cls = self._reference_class()
        estimator = cls(**self.params)
        try:
            estimator._check_params() if cls.__name__ == "SOM" else estimator._validate_params()
        except (TypeError, ValueError) as exc:  # scikit-learn's InvalidParameterError is both
            raise ParameterError(f"{self.name!r} ({cls.__name__}): {exc}") from exc
        return self

    def fit(self, X, y=None, sample_weight=None):
        """Fit on ``X`` (samples, features) and ``y`` on their device; returns self.

        Parameters
        ----------
        X : array (samples, features)
        y : array (samples,), optional
            The targets (classification, regression); ignored by the clusterers.
        sample_weight : array (samples,) or float, optional
            One weight per sample, passed to the wrapped estimator's ``fit`` (scikit-learn's, cuML's
            or the SOM's) where it computes: on X's device (host weights are copied there), or on
            the host for the host copy (``route_``). As scikit-learn's estimators take it; a number
            weighs every sample alike. Default: every sample weighs 1.

        Raises
        ------
        FeatureError
            NaN or infinite features.
        ParameterError
            Mismatched lengths of X and y, a single class for a classifier, unknown parameters, or
            parameters the data cannot meet (more clusters or components than samples), with the
            wrapped library's reason; sample weights that are not one finite number per sample, or
            given to an estimator whose ``fit`` takes none.
        """
        remember_names(self, X)
        X = check_features(X)
        if self._task in ("classification", "regression"):
            y = check_target(X, y, classification=self._task == "classification")
        ns = namespace(X)
        self.device_ = ns.device
        estimator, self.library_, self.route_ = self._build(ns)
        if self.route_ == "host_copy":
            X = to_numpy(X)
            y = None if y is None else to_numpy(y)
            if sample_weight is not None and not isinstance(sample_weight, numbers.Real):
                sample_weight = to_numpy(sample_weight)  # host weights stay there, GPU ones come along
            ns = namespace(X)
        fit_params = {}
        if sample_weight is not None:
            self._check_takes_weights(estimator)
            fit_params["sample_weight"] = check_sample_weight(sample_weight, X, ns)
        with self._context():
            try:
                estimator.fit(X, y, **fit_params)
            except ValueError as exc:  # scikit-learn's / cuML's refusal of parameters for this data
                if isinstance(exc, GpuimgError):
                    raise
                raise ParameterError(
                    f"{self.name}: {exc} (the data: n_samples={X.shape[0]}, n_features={X.shape[1]}"
                    f"{', sample_weight given' if fit_params else ''}); change the parameter"
                    f"{', the weights' if fit_params else ''} or give more samples."
                ) from exc
        self.estimator_ = estimator
        self.n_features_in_ = int(X.shape[1])
        return self

    def _check_takes_weights(self, estimator) -> None:
        """Refuse sample weights for an estimator whose ``fit`` takes none (one of an older cuML
        release, say), rather than fit it unweighted or fail with a bare TypeError."""
        parameters = inspect.signature(estimator.fit).parameters
        if "sample_weight" not in parameters and all(
            p.kind is not p.VAR_KEYWORD for p in parameters.values()
        ):
            library = {"sklearn": "scikit-learn", "cuml": "cuML"}.get(self.library_, self.library_)
            where = " on the CPU (NumPy input) or with a newer cuML" if library == "cuML" else ""
            raise ParameterError(
                f"sample_weight: {self.name!r} ({library}'s {type(estimator).__name__}) fits without "
                f"sample weights; fit it without them, or with them{where or ' by another estimator'}."
            )

    def _build(self, ns):
        """The unfitted estimator for a namespace, its library and its route (see ``route_``).

        Warns once per process (stack level: the caller of ``fit``) when GPU input is copied to the host.
        """
        entry = self._entry(self.name)
        if entry["sklearn"] is None:
            from .som import SOM

            return SOM(**self._checked(SOM)), "gpuimg", "gpuimg"
        cls = self._reference_class()
        if ns.device == "cpu":
            return cls(**self._checked(cls)), "sklearn", "numpy"
        if ns.ml is not None:
            module, class_name = entry["cuml"]
            cuml_cls = getattr(importlib.import_module(f"cuml.{module}"), class_name)
            params = _cuml_params(self.name, self.params, cuml_cls)
            if class_name == "SVC" and params.pop("probability", False):
                return _PlattCalibrated(cuml_cls, params, self.params.get("random_state")), "cuml", "cuml"
            return cuml_cls(**params), "cuml", "cuml"
        estimator = _array_api_estimator(self.name, cls, self._checked(cls))
        if estimator is not None:
            reason = _array_api_unavailable()
            if reason is None:
                return estimator, "sklearn", "array_api"
            _warn_no_array_api(reason)
        else:
            _warn_host_copy()
        return cls(**self._checked(cls)), "sklearn", "host_copy"

    def _context(self):
        """scikit-learn's array-API dispatch on the array-API route, else nothing."""
        if getattr(self, "route_", None) == "array_api":
            return sklearn.config_context(array_api_dispatch=True)
        return contextlib.nullcontext()

    def _entry(self, name) -> dict:
        choices = _CLASSES[self._task]
        if not isinstance(name, str) or name not in choices:
            raise ParameterError(
                f"name={name!r} is not a {self._task} estimator; use one of {sorted(choices)}."
            )
        return choices[name]

    def _class(self, name) -> type:
        """The scikit-learn class (or gpuimg's SOM) of the estimator ``name`` of this task."""
        entry = self._entry(name)
        if entry["sklearn"] is None:
            from .som import SOM

            return SOM
        module, class_name = entry["sklearn"]
        return getattr(importlib.import_module(f"sklearn.{module}"), class_name)

    def _reference_class(self) -> type:
        """The scikit-learn class (or gpuimg's SOM) whose parameters this wrapper takes."""
        cls = self._class(self.name)
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

    def _on_host(self, X) -> bool:
        """Whether scikit-learn computes on a host copy of ``X`` (GPU input, model fitted on the host)."""
        return self.library_ == "sklearn" and self.route_ != "array_api" and namespace(X).device == "cuda"

    def _to_input_device(self, result, X):
        """Predictions computed on the host for CuPy input go back to the GPU (the explicit copy)."""
        return to_device(result, "cuda") if self._on_host(X) else result

    def _call(self, method: str, X, *, same_width: bool = True):
        check_fitted(self, "estimator_", self._fit_call)
        if same_width:
            check_names(self, X)
        X = check_features(X)
        if same_width:
            check_width(self, X)
        self._check_device(X)
        with self._context():
            result = getattr(self.estimator_, method)(to_numpy(X) if self._on_host(X) else X)
        return self._to_input_device(result, X)

    def _check_device(self, X) -> None:
        device = namespace(X).device
        if self.route_ == "array_api" and device != self.device_:
            raise DeviceError(
                f"The {self.name!r} model was fitted on {self.device_} arrays through scikit-learn's "
                f"array-API support and its parameters live there; X is on {device}. Pass X on "
                f"{self.device_} (gpuimg.backend.to_device(X, {self.device_!r}))."
            )

    def _score(self, reference, X, y, sample_weight):
        """``reference`` (the scikit-learn mixin's score) where it can run, else the score on X's device,
        after the checks of ``fit``: a fitted model, ``y`` one target per sample of ``X`` and
        ``sample_weight`` one finite weight per sample."""
        check_fitted(self, "estimator_", self._fit_call)
        check_names(self, X, warn=False)  # predict(X), which scores it, warns
        features = check_features(X)
        check_width(self, features)
        y = check_target_length(features, y, classification=self._task == "classification")
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, features, namespace(features))
        if namespace(X).device == "cpu" or self.route_ == "array_api":
            self._check_device(X)
            with self._context():
                return float(reference(X, y, sample_weight=sample_weight))
        if self.library_ == "sklearn":  # scikit-learn on a host copy: score there too
            X = check_features(X)
            weights = {} if sample_weight is None else {"sample_weight": to_numpy(sample_weight)}
            return float(self.estimator_.score(to_numpy(X), to_numpy(y), **weights))
        return _device_score(self._task, y, self.predict(X), sample_weight)

    def __sklearn_tags__(self):
        """scikit-learn's tags of the task's mixin; a transformer's too where the wrapped class has
        ``transform`` (KMeans' distances to the centres, the SOM's to its nodes)."""
        tags = super().__sklearn_tags__()
        if tags.transformer_tags is None and _offers(self, "transform"):
            tags.transformer_tags = TransformerTags()
        return tags

    @available_if(lambda self: _offers(self, "transform"))
    def transform(self, X):
        """The wrapped estimator's transform of ``X`` (e.g. distances to KMeans centres), on its device.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the
            model was fitted on, or (a DataFrame) other column names.
        FeatureError
            If ``X`` holds NaN or infinite values.
        DeviceError
            If the model was fitted through scikit-learn's array-API support on one device and ``X``
            lies on the other.
        """
        return self._call("transform", X)


def _offers(model: DeviceEstimator, method: str) -> bool:
    """Whether the fitted estimator has ``method``; before ``fit``, whether the scikit-learn class (or
    gpuimg's SOM) made with the model's parameters has it, as scikit-learn's own estimators answer:
    the call then raises NotFittedError, and ``SVC(probability=False)`` has no ``predict_proba``
    (the class alone said it had, and a pipeline's cross_val_predict then raised AttributeError). An
    unknown name or parameter offers nothing."""
    if hasattr(model, "estimator_"):
        return hasattr(model.estimator_, method)
    try:
        return hasattr(model._reference_class()(**model.params), method)
    except ParameterError:
        return False
