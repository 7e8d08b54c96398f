"""Self-organizing map: batch training with a Gaussian neighbourhood, on either device."""

import math

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin

from gpuimg._memory import check_allocation
from gpuimg._support import is_finite, random_generator
from gpuimg._text import count
from gpuimg.backend import bincount_fixed, namespace
from gpuimg.errors import ParameterError

from ._validation import (
    CheckedParams,
    check_features,
    check_fitted,
    check_names,
    check_sample_weight,
    check_width,
    prefixed_names,
    remember_names,
)

TOPOLOGIES = ("rectangular", "hexagonal")
_INITS = ("pca", "random")
#: Fraction of the epochs over which sigma shrinks; the rest train at sigma_final (convergence).
_SHRINK = 0.75
_CHUNK = 1 << 16  # samples per block of the sample-to-node distance matrix
#: The least sigma and sigma_final [nodes], and its inverse the largest: the neighbourhood divides by
#: 2 sigma**2, which underflows to 0 below about 1e-154 (sigma=1e-300 made every node NaN) and
#: overflows above 1e154 (sigma=1e300: a bare OverflowError). At 0.1 a node's neighbours already
#: weigh exp(-50), and at 10 times the map's side all nodes weigh alike: the bounds take nothing away.
_LEAST_SIGMA = 1e-150
#: The largest magnitude of X: the squared distances and the batch sums, in float64, overflow beyond
#: about 1e154 (X * 1e300 gave inf covariances, and a bare LinAlgError from the PCA init).
_LARGEST_X = 1e150


class SOM(CheckedParams, ClusterMixin, TransformerMixin, BaseEstimator):
    """A self-organizing map (Kohonen), trained in batch mode, on the device of its input.

    Parameters
    ----------
    grid : tuple of 2 int
        Nodes along the map's rows and columns, ``(m, n)``.
    topology : {"rectangular", "hexagonal"}
        Node layout: a square lattice, or rows shifted by half a node (each node has 6 neighbours).
    sigma : float, optional [nodes]
        Initial width of the Gaussian neighbourhood; default ``max(m, n) / 2``. It shrinks
        geometrically to ``sigma_final`` over the first three quarters of the epochs, which the
        last quarter keeps.
    sigma_final : float [nodes]
        Neighbourhood width of the last epoch. Small values end the training as k-means on the nodes
        (lower quantization error); larger ones keep the map smoother.
    learning_rate : float
        Fraction of the way each node moves to its batch target in each epoch, in (0, 1]
        (1: Kohonen's batch map).
    epochs : int
        Passes over the data.
    init : {"pca", "random"}
        Nodes spread on the plane of the data's first two principal components (deterministic), or
        drawn from the samples with ``random_state``.
    random_state : int, numpy.random.Generator or RandomState, optional

    Attributes
    ----------
    weights_ : array (m * n, features)
        Node ``k`` sits at row ``k // n``, column ``k % n`` of the grid.
    positions_ : array (m * n, 2)
        Node coordinates on the map [node spacings].
    labels_ : array (samples,)
        Best-matching node of each training sample.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        The column names of a DataFrame fitted on (where all are strings), as in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import SOM
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0.0, 0.1, (10, 2)), rng.normal(5.0, 0.1, (10, 2))])  # two blobs
    >>> som = SOM(grid=(2, 1), epochs=10).fit(X)
    >>> som.weights_.round(1)  # one node on each blob
    array([[-0.,  0.],
           [ 5.,  5.]])
    >>> som.predict(np.array([[0.0, 0.0], [5.0, 5.0]])), round(som.quantization_error(X), 2)
    (array([0, 1]), 0.09)
    """

    def __init__(
        self,
        grid: tuple[int, int] = (10, 10),
        topology: str = "rectangular",
        sigma: float | None = None,
        sigma_final: float = 0.3,
        learning_rate: float = 1.0,
        epochs: int = 20,
        init: str = "pca",
        random_state: int | None = None,
    ):
        self.grid = grid
        self.topology = topology
        self.sigma = sigma
        self.sigma_final = sigma_final
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.init = init
        self.random_state = random_state

    def fit(self, X, y=None, sample_weight=None):
        """Train the map on ``X`` (samples, features); returns self.

        Parameters
        ----------
        X : array (samples, features), NumPy or CuPy
        y : ignored
        sample_weight : array (samples,) or float, optional
            Weight of each sample in the batch means (e.g. histogram counts); a number weighs every
            sample alike (as in scikit-learn), which changes nothing.

        Raises
        ------
        ParameterError
            For a ``grid`` that is not two positive integers, an unknown topology or init, a sigma,
            ``sigma_final`` or learning rate that is not a finite positive number (the rate at most 1,
            the sigmas from 1e-150 to 1e150 nodes), ``epochs`` below 1, a ``random_state`` NumPy cannot seed
            with (-1, 1.5, "a"); an ``X`` that is not a 2D table of numbers with a sample and a feature,
            or holds values beyond 1e150 in magnitude (the squared distances would overflow);
            sample weights that are not numbers, not one per sample (or one number for all), not finite,
            negative, or of a sum that is not finite and positive.
        FeatureError
            If ``X`` holds NaN or infinite values.
        MemoryBudgetError
            If the map's node-to-node offsets (``(m n)**2`` pairs) would exceed the memory budget.

        Notes
        -----
        Each epoch finds every sample's best-matching node, then sets each node to the mean of the
        samples weighted by the Gaussian of the grid distance between the node and their best match
        (Kohonen's batch map): O(samples x nodes x features) per epoch.
        """
        m, n = self._check_params()
        remember_names(self, X)
        check_allocation((m * n, m * n, 2), np.float64, f"grid={self.grid!r}: the map's node-to-node offsets")
        X = check_features(X)
        ns = namespace(X)
        xp = ns.xp
        _check_magnitude(X, xp)
        # float64 weights whatever X's dtype: the batch means are summed in float64.
        w = (
            xp.ones(X.shape[0])
            if sample_weight is None
            else check_sample_weight(sample_weight, X, ns, np.float64)
        )
        with np.errstate(over="ignore"):  # a sum beyond float64 is refused below
            negative, total = int(xp.count_nonzero(w < 0)), float(w.sum())
        if negative or not 0 < total < math.inf:
            raise ParameterError(
                f"sample_weight must hold non-negative weights, their sum above zero and finite (each node "
                f"is a weighted mean); got {count(negative, 'negative weight')} and the sum {total:g}."
            )
        self.positions_ = xp.asarray(_positions(m, n, self.topology))
        grid_d2 = ((self.positions_[:, None, :] - self.positions_[None, :, :]) ** 2).sum(-1)
        weights = self._initial_weights(X, w, m, n, xp)
        sigma0 = max(m, n) / 2.0 if self.sigma is None else float(self.sigma)
        sigma1 = min(float(self.sigma_final), sigma0)
        for epoch in range(self.epochs):
            fraction = min(epoch / max(_SHRINK * (self.epochs - 1), 1), 1.0)
            sigma = sigma0 * (sigma1 / sigma0) ** fraction  # the ratio at least 1e-300: the bounds
            bmu = _best_matches(X, weights, xp)[0]
            # Bins of a host-known number: no read of the device in the loop (cupy.bincount makes two).
            counts = bincount_fixed(bmu, w, length=m * n)
            sums = xp.stack(
                [bincount_fixed(bmu, w * X[:, j], length=m * n) for j in range(X.shape[1])], axis=1
            )
            # Each node's Gaussian weights over the nodes holding samples, divided by the largest
            # (that of the nearest such node), which leaves the weighted mean as it is: the plain
            # Gaussian underflowed to 0 beyond about 11.6 nodes at sigma 0.3, so a node that far
            # from every best match took the target 0 / 0 (read as 0): the origin of feature space.
            held = xp.where(counts > 0, grid_d2, xp.inf)
            h = xp.exp(-(held - held.min(1)[:, None]) / (2.0 * sigma**2))
            target = (h @ sums) / (h @ counts)[:, None]
            weights = weights + self.learning_rate * (target - weights)
        self.weights_ = weights
        self.n_features_in_ = int(X.shape[1])
        self.labels_ = _best_matches(X, weights, xp)[0]
        return self

    def predict(self, X):
        """The best-matching node (0 to m * n - 1) of each sample.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the map was
            fitted on, or (a DataFrame) other column names.
        FeatureError
            If ``X`` holds NaN or infinite values.
        """
        return _best_matches(self._checked(X), self.weights_, namespace(X).xp)[0]

    def transform(self, X):
        """Euclidean distance of each sample to each node, (samples, m * n).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the map was
            fitted on, or (a DataFrame) other column names.
        FeatureError
            If ``X`` holds NaN or infinite values.
        """
        X = self._checked(X)
        return namespace(X).xp.sqrt(_squared_distances(X, self.weights_, namespace(X).xp))

    def get_feature_names_out(self, input_features=None):
        """Names of the columns of ``transform``, the distances to the nodes: ``som0``, ``som1``, ...
        one per node, as scikit-learn names a KMeans' distances to its centres (``kmeans0``, ...), so
        that ``set_output(transform="pandas")`` works.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            If ``input_features`` holds another number of names than the features fitted on, or
            (fitted on a DataFrame) other names than its columns.
        """
        check_fitted(self, "weights_", "fit(X)")
        return prefixed_names(self, "som", int(self.weights_.shape[0]), input_features)

    def quantization_error(self, X) -> float:
        """Mean distance of the samples to their best-matching node [units of X].

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the map was
            fitted on, or (a DataFrame) other column names.
        FeatureError
            If ``X`` holds NaN or infinite values.
        """
        X = self._checked(X)
        xp = namespace(X).xp
        return float(xp.sqrt(_best_matches(X, self.weights_, xp)[1]).mean())

    def topographic_error(self, X) -> float:
        """Fraction of samples whose best and second-best nodes are not neighbours on the grid.

        Neighbours: the 8 surrounding nodes on a rectangular map (as MiniSom counts them), the 6
        adjacent ones on a hexagonal map.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ParameterError
            For an ``X`` that is not a 2D table of numbers, has another number of features than the map was
            fitted on, or (a DataFrame) other column names; for a map of one node (no second-best node).
        FeatureError
            If ``X`` holds NaN or infinite values.
        """
        X = self._checked(X)
        if self.weights_.shape[0] < 2:
            raise ParameterError(
                f"grid={self.grid!r} has one node: topographic_error compares each sample's best and "
                "second-best nodes, so it needs a map of 2 nodes or more."
            )
        xp = namespace(X).xp
        first, second = [], []
        for start in range(0, X.shape[0], _CHUNK):
            d2 = _squared_distances(X[start : start + _CHUNK], self.weights_, xp)
            two = xp.argsort(d2, axis=1)[:, :2]
            first.append(two[:, 0])
            second.append(two[:, 1])
        first, second = xp.concatenate(first), xp.concatenate(second)
        gap = xp.sqrt(((self.positions_[first] - self.positions_[second]) ** 2).sum(-1))
        reach = math.sqrt(2) if self.topology == "rectangular" else 1.0
        return float((gap > reach + 1e-6).mean())

    def _checked(self, X):
        check_fitted(self, "weights_", "fit(X)")
        check_names(self, X)
        X = check_features(X)
        check_width(self, X)
        _check_magnitude(X, namespace(X).xp)
        return X

    def _check_params(self) -> tuple[int, int]:
        grid = tuple(self.grid) if np.ndim(self.grid) == 1 else ()
        if len(grid) != 2 or not all(isinstance(g, (int, np.integer)) and g >= 1 for g in grid):
            raise ParameterError(f"grid={self.grid!r} must be two positive integers (rows, columns).")
        if self.topology not in TOPOLOGIES:
            raise ParameterError(f"topology={self.topology!r} is unknown; use one of {list(TOPOLOGIES)}.")
        if self.init not in _INITS:
            raise ParameterError(f"init={self.init!r} is unknown; use one of {list(_INITS)}.")
        for name in ("sigma_final", "learning_rate") + (() if self.sigma is None else ("sigma",)):
            value = getattr(self, name)
            # NumPy floats taken; an infinite sigma made NaN nodes, a learning rate above 1 overshoots
            # the batch targets (3 diverged: nodes at 7e4 for data within 3).
            top = 1.0 if name == "learning_rate" else math.inf
            if isinstance(value, (bool, str)) or not (is_finite(value) and 0 < float(value) <= top):
                bound = " of at most 1 (the fraction of the way to the batch target)" if top == 1 else ""
                raise ParameterError(f"{name}={value!r} must be a finite positive number{bound}.")
            if top != 1 and not _LEAST_SIGMA <= float(value) <= 1 / _LEAST_SIGMA:
                raise ParameterError(
                    f"{name}={value!r} [nodes] is outside {_LEAST_SIGMA:g} to {1 / _LEAST_SIGMA:g}: the "
                    f"neighbourhood divides by 2 {name}**2, which underflows to 0 or overflows in float64. "
                    f"Pass {name} between 0.1 (a node's neighbours already weigh exp(-50), as good as none) "
                    "and 10 times the map's longer side (every node already weighs alike)."
                )
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise ParameterError(f"epochs={self.epochs!r} must be a positive integer.")
        # What init="random" seeds with; checked for either init, as scikit-learn checks its seeds.
        random_generator(self.random_state, "random_state", why=" (it seeds init='random')")
        return int(grid[0]), int(grid[1])

    def _initial_weights(self, X, w, m, n, xp):
        if self.init == "random":
            rng = random_generator(self.random_state, "random_state")
            return X[xp.asarray(rng.choice(X.shape[0], m * n, replace=X.shape[0] < m * n))].astype(np.float64)
        mean = (w[:, None] * X).sum(0) / w.sum()
        centred = X - mean
        cov = (w[:, None] * centred).T @ centred / w.sum()
        values, vectors = xp.linalg.eigh(cov)
        axes = vectors[:, ::-1][:, :2] * xp.sqrt(xp.maximum(values[::-1][:2], 0.0))
        if axes.shape[1] == 1:
            axes = xp.concatenate([axes, xp.zeros_like(axes)], axis=1)
        rows = xp.linspace(-1.0, 1.0, m) if m > 1 else xp.zeros(1)
        cols = xp.linspace(-1.0, 1.0, n) if n > 1 else xp.zeros(1)
        plane = xp.stack(xp.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)
        # The longer map side along the first principal component.
        plane = plane if m >= n else plane[:, ::-1]
        return mean + plane @ axes.T


def _positions(m: int, n: int, topology: str) -> np.ndarray:
    """Node coordinates on the map, (m * n, 2) [node spacings], row-major."""
    rows, cols = np.meshgrid(np.arange(m, dtype=float), np.arange(n, dtype=float), indexing="ij")
    if topology == "hexagonal":
        cols = cols + 0.5 * (rows % 2)
        rows = rows * math.sqrt(3) / 2
    return np.stack([rows.ravel(), cols.ravel()], axis=1)


def _check_magnitude(X, xp) -> None:
    """Refuse X whose values the map's float64 squares and sums would overflow (beyond _LARGEST_X)."""
    largest = float(xp.abs(X).max()) if X.size else 0.0
    if largest > _LARGEST_X:
        raise ParameterError(
            f"X holds values up to {largest:.3g} in magnitude; the map's squared distances and sums "
            f"(float64) overflow beyond about 1e154, so values above {_LARGEST_X:g} are refused. Rescale "
            "X first (e.g. sklearn.preprocessing.StandardScaler, or a unit of measure 1e6 times larger)."
        )


def _squared_distances(X, weights, xp):
    """Squared distances (samples, nodes), expanded as |x|^2 - 2 x.w + |w|^2 about the nodes' mean in
    float64: about 0, that sum cancels to noise for values far from it (features near 1e4 in float32,
    1e8 in float64 gave samples the wrong best-matching node)."""
    centre = weights.mean(0)
    X, weights = X.astype(np.float64) - centre, weights - centre
    d2 = (X * X).sum(1)[:, None] - 2.0 * (X @ weights.T) + (weights * weights).sum(1)[None, :]
    return xp.maximum(d2, 0.0)


def _best_matches(X, weights, xp):
    """Index of each sample's nearest node and its squared distance, in blocks of samples."""
    index, best = [], []
    for start in range(0, X.shape[0], _CHUNK):
        d2 = _squared_distances(X[start : start + _CHUNK], weights, xp)
        k = xp.argmin(d2, axis=1)
        index.append(k)
        best.append(xp.take_along_axis(d2, k[:, None], axis=1)[:, 0])
    return xp.concatenate(index), xp.concatenate(best)
