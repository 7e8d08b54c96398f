"""Principal component analysis on the device its input lives on, with scikit-learn's PCA parameters.

:class:`PCA` is ``make_estimator("pca", "decomposition", ...)`` under scikit-learn's class name and
signature: ``PCA(n_components=5)`` as ``sklearn.decomposition.PCA(n_components=5)``, fitted with
scikit-learn on NumPy input and with cuML (or scikit-learn's array-API support, or a host copy) on
CuPy input, each result on the input's device.
"""

import inspect

import numpy as np
from sklearn.base import BaseEstimator

from gpuimg.backend import to_device

from ._validation import CheckedParams
from .estimators import DeviceTransformer

#: scikit-learn's fitted attributes of PCA, read from the fitted estimator.
_FITTED = {
    "components_": "Principal axes (n_components, n_features), by decreasing explained variance.",
    "explained_variance_": "Variance explained by each component (n_components,).",
    "explained_variance_ratio_": "Fraction of the total variance explained by each component.",
    "singular_values_": "Singular values of the centred data for each component.",
    "mean_": "Mean of each feature over the training samples (n_features,).",
    "noise_variance_": "Variance of the noise in the probabilistic PCA model.",
}


class PCA(CheckedParams, DeviceTransformer):
    """Principal component analysis, on the device of the data it is fitted on.

    The parameters are ``sklearn.decomposition.PCA``'s, with its defaults; see its documentation.
    Fitting chooses the library by the input's device, as :func:`gpuimg.ml.make_estimator` says
    (``route_``): scikit-learn for NumPy input; cuML for CuPy input where it is installed, else
    scikit-learn on the GPU arrays through its array-API support, else one copy to the host (with a
    warning). ``transform``, ``inverse_transform`` and ``fit_transform`` return arrays on their
    input's device; a scikit-learn estimator (``clone``, ``Pipeline``, ``GridSearchCV``).

    Parameters
    ----------
    n_components : int, float, "mle" or None
    copy : bool
    whiten : bool
    svd_solver : {"auto", "full", "covariance_eigh", "arpack", "randomized"}
    tol : float
    iterated_power : int or "auto"
    n_oversamples : int
    power_iteration_normalizer : {"auto", "QR", "LU", "none"}
    random_state : int, RandomState or None

    Attributes
    ----------
    components_, explained_variance_, explained_variance_ratio_, singular_values_, mean_,
    n_components_, noise_variance_
        As scikit-learn's PCA, on the device of the training data.
    estimator_, library_, route_, device_, n_features_in_, feature_names_in_
        As :class:`gpuimg.ml.DeviceEstimator`'s.

    Notes
    -----
    ``score`` and ``score_samples`` (the log-likelihood under the probabilistic PCA model, which
    ``GridSearchCV`` without a ``scoring`` uses) are scikit-learn's, and not offered after a fit by
    cuML, whose PCA has neither; ``get_covariance`` and ``get_precision`` are not offered.
    ``estimator_`` is the fitted scikit-learn or cuML object.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 4)) * [5.0, 1.0, 0.5, 0.1]
    >>> model = PCA(n_components=2).fit(X)
    >>> model.transform(X).shape, model.route_
    ((50, 2), 'numpy')
    """

    name = "pca"

    def __init__(
        self,
        n_components=None,
        *,
        copy=True,
        whiten=False,
        svd_solver="auto",
        tol=0.0,
        iterated_power="auto",
        n_oversamples=10,
        power_iteration_normalizer="auto",
        random_state=None,
    ):
        self.n_components = n_components
        self.copy = copy
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.tol = tol
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state

    @property
    def params(self) -> dict:
        """The parameters given other values than scikit-learn's defaults, which
        :class:`DeviceEstimator` passes the wrapped PCA (so that cuML's, which lacks some of them,
        gets only those asked for, as from ``make_estimator("pca", "decomposition", ...)``)."""
        defaults = {k: p.default for k, p in inspect.signature(PCA.__init__).parameters.items()}
        return {
            k: v
            for k, v in BaseEstimator.get_params(self, deep=False).items()
            if not (v is defaults[k] or (type(v) is type(defaults[k]) and v == defaults[k]))
        }

    def get_params(self, deep: bool = True) -> dict:
        """scikit-learn's PCA parameters (no ``name``: the class is the estimator)."""
        return BaseEstimator.get_params(self, deep)

    @property
    def n_components_(self) -> int:
        """The number of components kept (cuML's PCA has no such attribute)."""
        return int(self.components_.shape[0])


def _fitted(attribute: str, doc: str) -> property:
    def get(self):
        value = getattr(self.estimator_, attribute)
        if self.route_ == "host_copy" and isinstance(value, np.ndarray):  # fitted on a host copy
            return to_device(value, "cuda")
        return value

    return property(get, doc=doc)


for _attribute, _doc in _FITTED.items():
    setattr(PCA, _attribute, _fitted(_attribute, _doc))
