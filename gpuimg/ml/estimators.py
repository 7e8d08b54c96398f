"""Classifiers, regressors, clusterers and PCA by name, on the device the data lives on.

:func:`make_estimator` builds a small wrapper estimator (:class:`DeviceClassifier`,
:class:`DeviceRegressor`, :class:`DeviceClusterer`, :class:`DeviceTransformer`) that chooses its
library when it is fitted: scikit-learn for NumPy input, cuML for CuPy input where cuML is installed.
Without cuML, CuPy input goes to scikit-learn's array-API support where scikit-learn has it for the
estimator and its parameters (the data stay on the GPU), and otherwise is copied to the host once (with
one warning per process), fitted with scikit-learn, and its predictions copied back to the GPU. The
wrappers follow scikit-learn's estimator API, so ``clone``, ``Pipeline`` and ``GridSearchCV`` take them;
their parameters are the wrapped scikit-learn class's.

This module holds :func:`make_estimator` and the wrappers of each task; their base,
:class:`DeviceEstimator` with the estimators by name, is in ``_base``, and the GPU routes' helpers are
in private modules: the cuML parameter translation and the score on the device in ``_cuml``, the
array-API route and the host-copy warnings in ``_array_api``, Platt calibration for cuML's SVC in
``_calibration``.
"""

from sklearn.base import ClassifierMixin, ClusterMixin, RegressorMixin, TransformerMixin
from sklearn.utils.metaestimators import available_if

from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import ParameterError

from ._base import DeviceEstimator, _offers
from ._validation import (
    check_features,
    check_fitted,
    check_names,
    check_sample_weight,
    check_width,
    prefixed_names,
)

TASKS = ("classification", "regression", "clustering", "decomposition")


def make_estimator(name: str, task: str = "classification", **params) -> "DeviceEstimator":
    """A classifier, regressor, clusterer or PCA by name, computing on its input's device.

    Parameters
    ----------
    name : str
        classification: ``"svm"``, ``"decision_tree"``, ``"random_forest"``, ``"logistic_regression"``;
        regression: ``"linear_regression"``, ``"ridge"``, ``"svr"``, ``"random_forest"``;
        clustering: ``"kmeans"``, ``"dbscan"``, ``"som"``; decomposition: ``"pca"``.
    task : {"classification", "regression", "clustering", "decomposition"}
    **params
        Parameters of the scikit-learn class (``SVC``, ``DecisionTreeClassifier``,
        ``RandomForestClassifier``, ``LogisticRegression``, ``LinearRegression``, ``Ridge``, ``SVR``,
        ``RandomForestRegressor``, ``KMeans``, ``DBSCAN``, ``PCA``) or of :class:`gpuimg.ml.SOM`, e.g.
        ``C=10.0``, ``random_state=0``.

    Returns
    -------
    DeviceClassifier, DeviceRegressor, DeviceClusterer or DeviceTransformer
        Unfitted; a scikit-learn estimator.

    Raises
    ------
    ParameterError
        Unknown task, name, or parameter; the message lists the choices.

    Warns
    -----
    RuntimeWarning
        Once per process, when CuPy input is copied to the host because cuML is missing (and, for the
        estimators below, scikit-learn's array-API support cannot be used).

    Notes
    -----
    Where the computation runs, by input (``route_`` of the fitted wrapper):

    - NumPy input: scikit-learn (``"numpy"``); ``"som"`` is gpuimg's own on either device (``"gpuimg"``).
    - CuPy input, cuML installed: cuML (``"cuml"``).
    - CuPy input, no cuML, an estimator scikit-learn supports under array-API dispatch: scikit-learn on
      the GPU arrays inside ``sklearn.config_context(array_api_dispatch=True)`` (``"array_api"``); fit,
      predict, predict_proba, decision_function, transform, inverse_transform and score all run there,
      and the fitted attributes (``coef_``, ``components_``, ``classes_``) are CuPy arrays. These are
      ``logistic_regression`` with ``solver="lbfgs"`` (the default), ``ridge`` with ``solver="svd"`` or
      ``"auto"`` (run as ``"svd"``, the only solver scikit-learn dispatches) and ``positive=False``,
      ``linear_regression`` with ``positive=False`` (LinearRegression's minimum-norm least-squares
      solution through an SVD in array-API code, singular values below ``tol`` times the largest
      dropped as its lstsq drops them, while scikit-learn's ``LinearRegression`` has no array-API
      support), and ``pca`` except ``svd_solver="arpack"`` and ``"randomized"`` with
      ``power_iteration_normalizer`` other than ``"QR"``. The scikit-learn version decides: an estimator
      whose tags say it lacks array-API support takes the host copy.
    - CuPy input otherwise: one explicit copy to the host, scikit-learn there, and predictions copied
      back to the GPU (``"host_copy"``), with one warning per process.

    scikit-learn's array-API support needs SciPy's, which is switched on by the environment variable
    ``SCIPY_ARRAY_API=1`` read when SciPy is first imported: set it before Python starts
    (``export SCIPY_ARRAY_API=1``), not from a running program, where SciPy may already be imported.
    gpuimg never sets it (it changes SciPy for the whole process). Without it (or with a SciPy older than
    scikit-learn requires), the estimators above take the host copy, with one warning per process that
    says so. A model fitted on the array-API route takes GPU input only (a :class:`DeviceError`
    otherwise); move host data with ``gpuimg.backend.to_device(X, "cuda")``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = make_estimator("random_forest", n_estimators=20, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).tolist()
    [0, 0, 0]
    >>> model.route_
    'numpy'
    """
    if task not in _WRAPPERS:
        raise ParameterError(f"task={task!r} is unknown; use one of {list(TASKS)}.")
    wrapper = _WRAPPERS[task](name, **params)
    wrapper._reference_class()
    return wrapper


class DeviceClassifier(ClassifierMixin, DeviceEstimator):
    __doc__ = DeviceEstimator.__doc__
    _task = "classification"

    @property
    def classes_(self):
        """The class labels, in the order of the columns of ``predict_proba``."""
        return self.estimator_.classes_

    def predict(self, X):
        """Predictions for ``X``, on its device.

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
        return self._call("predict", X)

    @available_if(lambda self: _offers(self, "predict_proba"))
    def predict_proba(self, X):
        """Class probabilities for ``X`` (samples, classes), on its device.

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
        return self._call("predict_proba", X)

    @available_if(lambda self: _offers(self, "predict_log_proba"))
    def predict_log_proba(self, X):
        """The logarithm of the class probabilities for ``X`` (samples, classes), on its device, where
        the wrapped classifier has it (``cross_val_predict(..., method="predict_log_proba")``).

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
        return self._call("predict_log_proba", X)

    @available_if(lambda self: _offers(self, "decision_function"))
    def decision_function(self, X):
        """The wrapped classifier's decision function for ``X``, on its device.

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
        return self._call("decision_function", X)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``), on X's device.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the
            model was fitted on, or (a DataFrame) other column names; a ``y`` that is not one target
            per sample of ``X``; sample weights that are not one finite number per sample.
        FeatureError
            If ``X`` holds NaN or infinite values.
        DeviceError
            If the model was fitted through scikit-learn's array-API support on one device and ``X``
            lies on the other.
        """
        return self._score(super().score, X, y, sample_weight)


class DeviceRegressor(RegressorMixin, DeviceEstimator):
    __doc__ = DeviceEstimator.__doc__
    _task = "regression"

    def predict(self, X):
        """Predictions for ``X``, on its device.

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
        return self._call("predict", X)

    def score(self, X, y, sample_weight=None) -> float:
        """R² of ``predict(X)`` against ``y`` (weighted by ``sample_weight``), on X's device.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the
            model was fitted on, or (a DataFrame) other column names; a ``y`` that is not one target
            per sample of ``X``; sample weights that are not one finite number per sample.
        FeatureError
            If ``X`` holds NaN or infinite values.
        DeviceError
            If the model was fitted through scikit-learn's array-API support on one device and ``X``
            lies on the other.
        """
        return self._score(super().score, X, y, sample_weight)


class DeviceClusterer(ClusterMixin, TransformerMixin, DeviceEstimator):
    __doc__ = DeviceEstimator.__doc__
    _task = "clustering"
    _fit_call = "fit(X)"

    def __sklearn_tags__(self):
        """The clusterer's tags; a transformer's only where the wrapped class has ``transform`` (not
        DBSCAN), though TransformerMixin (for ``set_output``) says so of every subclass."""
        tags = super().__sklearn_tags__()
        if not _offers(self, "transform"):
            tags.transformer_tags = None
        return tags

    def fit(self, X, y=None, sample_weight=None):
        """Cluster ``X`` (samples, features), each sample weighted by ``sample_weight`` (see
        :meth:`DeviceEstimator.fit`); the labels are in ``labels_``; returns self.

        Raises
        ------
        FeatureError
            NaN or infinite features.
        ParameterError
            As :meth:`DeviceEstimator.fit`: an ``X`` that is not a 2D table of numbers, an unknown
            name or parameter, parameters the data cannot meet (more clusters than samples), or sample
            weights that are not one finite number per sample.
        """
        super().fit(X, sample_weight=sample_weight)
        self.labels_ = self._to_input_device(self.estimator_.labels_, X)
        return self

    @available_if(lambda self: _offers(self, "predict"))
    def predict(self, X):
        """The cluster of each sample of ``X``.

        DBSCAN has no such method (as in scikit-learn): it labels the samples it was fitted on only
        (``fit_predict``, ``labels_``).

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
        return self._call("predict", X)

    @available_if(lambda self: _offers(self, "score"))
    def score(self, X, y=None, sample_weight=None) -> float:
        """KMeans' score of ``X``: the opposite of the sum of the samples' squared distances to their
        closest centres (weighted by ``sample_weight``), as scikit-learn's ``KMeans.score``, which
        ``GridSearchCV`` and ``cross_val_score`` use without a ``scoring``. DBSCAN and the SOM have
        none (DBSCAN has none in scikit-learn either).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the
            model was fitted on, or (a DataFrame) other column names; sample weights that are not one
            finite number per sample.
        FeatureError
            If ``X`` holds NaN or infinite values.
        DeviceError
            If the model was fitted through scikit-learn's array-API support on one device and ``X``
            lies on the other.
        """
        check_fitted(self, "estimator_", self._fit_call)
        check_names(self, X)
        features = check_features(X)
        check_width(self, features)
        self._check_device(features)
        weights = {}
        if sample_weight is not None:
            weights["sample_weight"] = check_sample_weight(sample_weight, features, namespace(features))
        if self._on_host(features):  # fitted by scikit-learn on a host copy: scored there too
            features, weights = to_numpy(features), {k: to_numpy(v) for k, v in weights.items()}
        with self._context():
            return float(self.estimator_.score(features, **weights))

    def transform(self, X):
        """The samples' distances to the centres (KMeans) or nodes (SOM), on X's device (a DataFrame of
        columns ``kmeans0``, ... or ``som0``, ... after ``set_output(transform="pandas")``).

        DBSCAN has no such method (as in scikit-learn).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the
            model was fitted on, or (a DataFrame) other column names.
        FeatureError
            If ``X`` holds NaN or infinite values.
        """
        return self._call("transform", X)

    def fit_transform(self, X, y=None, sample_weight=None):
        """``fit(X).transform(X)``: the samples' distances to the centres (KMeans) or nodes (SOM)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    @available_if(lambda self: _offers(self, "transform"))
    def get_feature_names_out(self, input_features=None):
        """Names of the columns of ``transform``: ``kmeans0``, ``kmeans1``, ... as scikit-learn's KMeans
        names them, or ``som0``, ... one per node (so ``set_output(transform="pandas")`` works).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            If ``input_features`` holds another number of names than the features fitted on, or
            (fitted on a DataFrame) other names than its columns.
        """
        check_fitted(self, "estimator_", self._fit_call)
        centres = getattr(self.estimator_, "cluster_centers_", None)
        outputs = (self.estimator_.weights_ if centres is None else centres).shape[0]
        return prefixed_names(self, self.name, int(outputs), input_features)


# TransformerMixin wrapped transform and fit_transform for set_output when DeviceClusterer was made
# (the methods a class defines itself); they are offered only where the wrapped class transforms.
for _method in ("transform", "fit_transform"):
    setattr(
        DeviceClusterer,
        _method,
        available_if(lambda self: _offers(self, "transform"))(getattr(DeviceClusterer, _method)),
    )


class DeviceTransformer(TransformerMixin, DeviceEstimator):
    __doc__ = DeviceEstimator.__doc__
    _task = "decomposition"
    _fit_call = "fit(X)"

    def fit(self, X, y=None):
        """Fit on ``X`` (samples, features) on its device; ``y`` is ignored; returns self.

        Raises
        ------
        FeatureError
            NaN or infinite features.
        ParameterError
            As :meth:`DeviceEstimator.fit`: an ``X`` that is not a 2D table of numbers, an unknown
            name or parameter, or parameters the data cannot meet (more components than samples).
        """
        return super().fit(X)

    def transform(self, X):
        """The components of ``X``, on its device (a DataFrame of columns ``pca0``, ``pca1``, ... after
        ``set_output(transform="pandas")``, as scikit-learn's PCA gives).

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
        # Defined here, not only inherited: scikit-learn's TransformerMixin wraps for set_output only
        # the methods a class defines itself, and the inherited one gave a NumPy array after
        # set_output(transform="pandas").
        return self._call("transform", X)

    def get_feature_names_out(self, input_features=None):
        """Names of the components, ``pca0``, ``pca1``, ... as scikit-learn's PCA names them (so
        ``set_output(transform="pandas")`` works in a pipeline).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            If ``input_features`` holds another number of names than the features fitted on, or
            (fitted on a DataFrame) other names than its columns.
        """
        check_fitted(self, "estimator_", self._fit_call)
        return prefixed_names(self, self.name, int(self.estimator_.components_.shape[0]), input_features)

    @available_if(lambda self: _offers(self, "inverse_transform"))
    def inverse_transform(self, X):
        """Back from the components to the features, on X's device."""
        return self._call("inverse_transform", X, same_width=False)

    @available_if(lambda self: _offers(self, "score_samples"))
    def score_samples(self, X):
        """The log-likelihood of each sample of ``X`` under the fitted probabilistic PCA model, on X's
        device (scikit-learn's; cuML's PCA has none)."""
        return self._call("score_samples", X)

    @available_if(lambda self: _offers(self, "score_samples"))
    def score(self, X, y=None) -> float:
        """The mean log-likelihood of the samples of ``X`` (``y`` is ignored), as scikit-learn's PCA
        scores, which ``GridSearchCV`` and ``cross_val_score`` use without a ``scoring``."""
        return float(self.score_samples(X).mean())


_WRAPPERS = {
    "classification": DeviceClassifier,
    "regression": DeviceRegressor,
    "clustering": DeviceClusterer,
    "decomposition": DeviceTransformer,
}
