"""Feature selection steps for scikit-learn pipelines: variance threshold, correlation filter and mutual
information, on the input's device."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

from gpuimg._support import check_finite, check_flag, is_finite
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import ParameterError

from ._validation import (
    CheckedParams,
    check_features,
    check_fitted,
    check_names,
    check_seed,
    check_target,
    check_width,
    input_names,
    remember_names,
)


class _Selector(CheckedParams, TransformerMixin, BaseEstimator):
    """Keeps the columns of ``support_`` (a boolean mask set by ``fit``), on the input's device."""

    #: Whether fit and transform take NaN (missing feature values), as scikit-learn's selector does.
    _allow_nan = False
    #: The fit call the NotFittedError names (MutualInformationSelector's needs y).
    _fit_call = "fit(X)"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        return tags

    def get_support(self, indices: bool = False):
        """The kept features: a boolean mask, or their indices.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        """
        check_fitted(self, "support_", self._fit_call)
        support = to_numpy(self.support_)
        return np.flatnonzero(support) if indices else support

    def transform(self, X):
        """``X`` with the kept feature columns only.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the
            selector was fitted on, or (a DataFrame) other column names.
        FeatureError
            If ``X`` holds infinite values, or NaN (except for :class:`VarianceThreshold`, which passes
            NaN on).
        """
        check_fitted(self, "support_", self._fit_call)
        check_names(self, X)
        X = check_features(X, allow_nan=self._allow_nan)
        check_width(self, X)
        return X[:, namespace(X).xp.asarray(self.get_support(indices=True))]

    def get_feature_names_out(self, input_features=None):
        """Names of the kept features: of ``input_features``, else of the columns of the DataFrame
        fitted on (``feature_names_in_``), else ``x0``, ``x1``, ...

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            If ``input_features`` holds another number of names than the features fitted on, or (fitted
            on a DataFrame) other names than its columns.
        """
        check_fitted(self, "support_", self._fit_call)
        names = input_names(self, input_features)
        return names[self.get_support()]


class VarianceThreshold(_Selector):
    """Drop features whose variance is at most ``threshold``: scikit-learn's ``VarianceThreshold`` (same
    parameters and attributes, same features kept), computed on the input's device (scikit-learn's
    copies CuPy input to NumPy implicitly, which CuPy refuses).

    ``variances_`` holds the (population) variances. With ``threshold=0`` scikit-learn's holds
    ``min(variance, max - min)`` per feature instead (its guard against rounding in constant
    features), which differs for any feature whose variance exceeds its range (a range above 4).

    NaN values (missing features: ``extract`` gives NaN for a feature undefined for an ROI) are left
    out of their feature's variance (``nanvar``), as in scikit-learn; a feature without a value has
    the variance NaN and is dropped, and ``transform`` passes the other NaN on (to an imputer later in
    the pipeline). With ``threshold=0`` a feature constant apart from NaN is dropped, where
    scikit-learn's guard reads its range as NaN and may keep it for a rounding-error variance.
    Infinite values are refused.

    Parameters
    ----------
    threshold : float
        Features with a (population) variance above it are kept; 0 keeps the non-constant ones. At
        least 0, as in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import VarianceThreshold
    >>> VarianceThreshold().fit_transform(np.array([[0.0, 1.0], [0.0, 3.0]]))
    array([[1.],
           [3.]])
    """

    _allow_nan = True

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold

    def fit(self, X, y=None):
        """Learn the variances (``variances_``) and the kept features; returns self.

        Raises
        ------
        ParameterError
            For a ``threshold`` that is not a finite number of at least 0, an ``X`` that is not a 2D
            table of numbers with a sample and a feature, or no feature with a variance above the
            threshold (nothing would be kept).
        FeatureError
            If ``X`` holds infinite values (NaN is left out of the variances).
        """
        threshold = check_finite(self.threshold, "threshold", low=0)
        remember_names(self, X)
        X = check_features(X, allow_nan=True)
        xp = namespace(X).xp
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column of NaN only: variance NaN
            # In float64, as scikit-learn's: float32 sums of features near 1e5 (spread 0.05) put
            # their variances 6 % off those of the same values.
            self.variances_ = xp.nanvar(X.astype(np.float64), axis=0)
        keep = self.variances_ > threshold
        if threshold == 0:  # as scikit-learn: a constant column may have a rounding-error variance
            present = ~xp.isnan(X)
            keep &= xp.where(present, X, -xp.inf).max(axis=0) - xp.where(present, X, xp.inf).min(axis=0) > 0
        if not bool(keep.any()):
            alone = " (X holds 1 sample, whose features all have variance 0)" if X.shape[0] == 1 else ""
            raise ParameterError(f"No feature has a variance above threshold={self.threshold!r}{alone}.")
        self.support_ = xp.asarray(keep)
        self.n_features_in_ = int(X.shape[1])
        return self


class CorrelationFilter(_Selector):
    """Drop features strongly correlated with an earlier kept one (Pearson |r| above a threshold).

    Parameters
    ----------
    threshold : float in (0, 1]
        Features ``i < j`` with ``|r_ij| > threshold``: ``j`` is dropped, ``i`` kept.

    Attributes
    ----------
    support_ : array of bool (features,)
        Kept features, on the device of the training data.
    correlation_ : array (features, features)
        Absolute Pearson correlations; 0 for a constant feature.
    n_features_in_ : int

    Notes
    -----
    Features are visited in column order; each is kept unless it correlates above the threshold
    with a feature already kept (so a dropped feature never causes another to be dropped).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import CorrelationFilter
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=20), rng.normal(size=20)
    >>> X = np.column_stack([a, 2 * a + 1, b])  # the second feature is the first, rescaled
    >>> selector = CorrelationFilter(threshold=0.9).fit(X)
    >>> selector.get_support(), selector.transform(X).shape
    (array([ True, False,  True]), (20, 2))
    """

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold

    def fit(self, X, y=None):
        """Find the features to keep in ``X`` (samples, features); returns self.

        Raises
        ------
        ParameterError
            For a ``threshold`` outside (0, 1], or an ``X`` that is not a 2D table of numbers with a
            sample and a feature.
        FeatureError
            If ``X`` holds NaN or infinite values.
        """
        if not (is_finite(self.threshold) and 0 < float(self.threshold) <= 1):
            raise ParameterError(f"threshold={self.threshold!r} must be an absolute correlation in (0, 1].")
        remember_names(self, X)
        X = check_features(X)
        xp = namespace(X).xp
        # In float64: centred in float32, features far from 0 against their spread (near 1e4, spread
        # 0.01) lost their digits, and a correlation of 0.951 came out 0.983.
        X = X.astype(np.float64)
        # Each column divided by its largest magnitude first (which leaves r as it is): squares of
        # values beyond 1e154 overflowed, and below 1e-154 underflowed, to a correlation of 0.
        peak = xp.abs(X).max(0)
        X = X / xp.where(peak > 0, peak, 1.0)
        centred = X - X.mean(0)
        norms = xp.sqrt((centred**2).sum(0))
        scaled = centred / xp.where(norms > 0, norms, 1.0)
        # At most 1, as NumPy's corrcoef clips it: rounding made some copies of a feature correlate
        # above 1, so threshold=1 dropped these and kept others.
        self.correlation_ = xp.minimum(xp.abs(scaled.T @ scaled), 1.0)
        correlated = to_numpy(self.correlation_ > float(self.threshold))
        keep = np.zeros(X.shape[1], bool)
        for j in range(X.shape[1]):
            keep[j] = not correlated[j, :j][keep[:j]].any()
        self.support_ = xp.asarray(keep)
        self.n_features_in_ = int(X.shape[1])
        return self


class MutualInformationSelector(_Selector):
    """Keep the ``k`` features with the highest mutual information with the target.

    Parameters
    ----------
    k : int
        Features kept (all when ``k`` is at least their number).
    discrete_target : bool
        Classification (``mutual_info_classif``) or regression (``mutual_info_regression``) target.
    n_neighbors : int
        Neighbours of the k-nearest-neighbour estimator of mutual information.
    random_state : int, optional
        Seeds the small noise scikit-learn adds to continuous features.

    Attributes
    ----------
    scores_ : ndarray (features,)
        Estimated mutual information [nats].
    support_ : array of bool (features,)
    n_features_in_ : int

    Notes
    -----
    The estimate (Kraskov et al. / Ross nearest neighbours) runs in scikit-learn on the host: ``fit``
    copies X and y there once; ``transform`` keeps the data on its device. Ties keep the earlier feature.
    Each feature is centred on its mean first (the mutual information is unchanged by a shift; the
    nearest-neighbour distances of values far from 0 lose their precision), and a constant feature
    scores 0, where scikit-learn's estimate scores the tiny noise it adds to break ties.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import MutualInformationSelector
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 10)
    >>> X = np.column_stack([rng.normal(size=20), y + 0.1 * rng.normal(size=20), rng.normal(size=20)])
    >>> selector = MutualInformationSelector(k=1, random_state=0).fit(X, y)
    >>> selector.get_support(indices=True), selector.transform(X).shape  # the feature that follows y
    (array([1]), (20, 1))
    """

    _fit_call = "fit(X, y)"

    def __init__(self, k: int = 10, *, discrete_target: bool = True, n_neighbors: int = 3, random_state=None):
        self.k = k
        self.discrete_target = discrete_target
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def fit(self, X, y):
        """Score the features of ``X`` against ``y``; returns self.

        Raises
        ------
        ParameterError
            For a ``k`` or ``n_neighbors`` that is not a positive integer (for a regression target, also
            below the number of samples), a ``discrete_target`` that is not True or False, a bad
            ``random_state``; an ``X`` that is not a 2D table of numbers; a ``y`` that is missing or not
            one target per sample, a class target with a missing label, one class only or no class
            of 2 samples, a regression target with NaN or infinite values.
        FeatureError
            If ``X`` holds NaN or infinite values.
        """
        if not isinstance(self.k, (int, np.integer)) or isinstance(self.k, bool) or self.k < 1:
            raise ParameterError(f"k={self.k!r} must be a positive integer (features kept).")
        discrete = check_flag(self.discrete_target, "discrete_target")
        remember_names(self, X)
        X = check_features(X)
        y = check_target(X, y, classification=discrete)
        neighbours = self.n_neighbors
        if not isinstance(neighbours, int | np.integer) or isinstance(neighbours, bool) or neighbours < 1:
            raise ParameterError(f"n_neighbors={neighbours!r} must be a positive integer.")
        if not discrete and neighbours >= X.shape[0]:
            raise ParameterError(
                f"n_neighbors={neighbours} needs more samples than that; X has {X.shape[0]}. Use "
                f"n_neighbors <= {X.shape[0] - 1}."
            )
        if discrete and np.unique(to_numpy(y), return_counts=True)[1].max() < 2:
            # scikit-learn's estimate leaves out the samples of a class of one (it has no neighbour
            # within its class): with every class of one it ended in its ValueError 'Found array
            # with 0 sample(s)'.
            raise ParameterError(
                f"y gives each of the {X.shape[0]} samples a class of its own; the mutual information "
                "of a class target is estimated from the neighbours of each sample within its class, "
                "so a class needs 2 samples at least. Give more samples of a class, or use "
                "discrete_target=False for a numeric target."
            )
        check_seed(self.random_state)
        score = mutual_info_classif if discrete else mutual_info_regression
        host = to_numpy(X).astype(np.float64)
        constant = host.max(0) == host.min(0)
        # Each feature about its mean, which leaves the mutual information as it is: scikit-learn's
        # nearest neighbours in a class of 7 samples or fewer (brute force, |x|^2 - 2 x.y + |y|^2)
        # lost the differences of values far from 0 against their spread, and ranked a constant
        # feature (3.7 in each of 30 samples) first with 0.6 nats, above the one that follows y.
        self.scores_ = score(
            host - host.mean(0), to_numpy(y), n_neighbors=self.n_neighbors, random_state=self.random_state
        )
        self.scores_[constant] = 0.0  # a constant tells nothing of y; the estimate scored its noise
        order = np.argsort(-self.scores_, kind="stable")
        keep = np.zeros(X.shape[1], bool)
        keep[order[: self.k]] = True
        self.support_ = namespace(X).xp.asarray(keep)
        self.n_features_in_ = int(X.shape[1])
        return self
