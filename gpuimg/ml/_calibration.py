"""Platt calibration: class probabilities for cuML's SVC, which has no ``probability``.

:class:`_PlattCalibrated` fits a binary SVC and Platt's sigmoid of its out-of-fold decision values
(:func:`_platt`), with ``xp`` on either device.
"""

import math

import numpy as np

from gpuimg._support import random_generator
from gpuimg.backend import namespace, to_device, to_numpy
from gpuimg.errors import ParameterError


class _PlattCalibrated:
    """A binary SVC with Platt-scaled probabilities (for cuML's SVC, which has no ``probability``).

    The SVC is fitted on all the data; the sigmoid ``P(y = classes_[1]) = 1 / (1 + exp(-(a f + b)))``
    of its decision value ``f`` is fitted by Newton's method on out-of-fold decision values (3 folds
    stratified by class; a fold trained without a class of one sample takes libsvm's decision values
    +-1), with Platt's regularised targets. Sample weights weigh the SVCs' fits and the sigmoid's (a sample of
    weight 0 counts nowhere). Works on either device (``xp``).
    """

    _FOLDS = 3

    def __init__(self, svc_class, params: dict, random_state):
        self.svc_class = svc_class
        self.params = params
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        ns = namespace(X)
        xp = ns.xp
        y = xp.asarray(to_device(y, ns.device))  # host labels are indexed by device masks below
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.svc_ = self.svc_class(**self.params).fit(X, y, **weights)
        self.classes_ = self.svc_.classes_
        if len(self.classes_) != 2:
            raise ParameterError(
                f"probability=True on the GPU supports two classes; y has {len(self.classes_)}. "
                "Use probability=False, or logistic_regression / random_forest for class probabilities."
            )
        positive = xp.asarray(y == self.classes_[1], dtype=np.float64)
        # Folds stratified by class: the samples of each class, shuffled, dealt to the folds in turn.
        # Folds of the shuffled samples alone left a class of 2 (two malignant studies among 30) out of
        # a fold's training set for 1 seed in 4, and its SVC refused the one class left.
        # Any seed NumPy takes: a NumPy integer (a value read from an array or a config) was taken for
        # None, so the folds, and the probabilities, changed from one fit to the next.
        order = xp.asarray(random_generator(self.random_state, "random_state").permutation(X.shape[0]))
        shuffled = positive[order]
        rank = xp.where(shuffled > 0, xp.cumsum(shuffled), xp.cumsum(1 - shuffled)) - 1
        folds = xp.empty(X.shape[0], dtype=np.int64)
        folds[order] = rank.astype(np.int64) % self._FOLDS
        n_pos = int(to_numpy(positive.sum()))
        scores = xp.empty(X.shape[0], dtype=np.float64)
        for k in range(self._FOLDS):
            test = folds == k
            # A class of one sample is in fold 0 alone: trained without it, the fold's decision values
            # are those of the other class, as libsvm's (+1 for the positive class, -1 for the negative).
            trained = [n - len(range(k, n, self._FOLDS)) for n in (n_pos, X.shape[0] - n_pos)]
            if not all(trained):
                scores[test] = 1.0 if trained[0] else -1.0
                continue
            fold = {name: w[~test] for name, w in weights.items()}
            model = self.svc_class(**self.params).fit(X[~test], y[~test], **fold)
            scores[test] = xp.asarray(model.decision_function(X[test]), dtype=np.float64).ravel()
        self.a_, self.b_ = _platt(scores, positive, xp, sample_weight)
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


def _platt(f, positive, xp, weights=None, *, iterations: int = 100) -> tuple[float, float]:
    """Platt's sigmoid ``(a, b)`` for decision values ``f`` and 0/1 labels, by Newton's method with a
    backtracking line search (Lin, Lin and Weng, 2007), from ``a = 0`` and the prior's ``b``.

    ``weights`` (one per value, default 1) weigh each value's term of the cross-entropy and count in
    the class sizes of Platt's targets, so a weight of 2 is a repeated value and 0 leaves it out (as
    libsvm leaves out samples of weight 0).

    References
    ----------
    H.-T. Lin, C.-J. Lin and R. C. Weng, "A note on Platt's probabilistic outputs for support vector
    machines", Machine Learning 68 (2007): Algorithm 1.
    """
    weights = xp.ones(f.shape, dtype=np.float64) if weights is None else xp.asarray(weights, dtype=np.float64)
    # Both class sizes in one device read.
    n_pos, n_all = (float(v) for v in to_numpy(xp.stack([(weights * positive).sum(), weights.sum()])))
    n_neg = n_all - n_pos
    target = xp.where(positive > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    # Newton's plain steps from a = 1, b = 0 overshot where the decision values are large (a linear SVC
    # on features in mm^3 or HU): the probabilities saturated, and a came out 3e7 where the minimum of
    # the cross-entropy is at 1.2e-4. Each step is now halved until it lowers the cross-entropy.
    a, b = 0.0, math.log((n_pos + 1) / (n_neg + 1))
    accepted = None  # (cross-entropy, a, b, da, db) of the last point that lowered it
    step = 1.0
    for _ in range(iterations):
        z = a * f + b
        p = xp.exp(-xp.logaddexp(0.0, -z))  # 1 / (1 + exp(-z)), without overflow
        r = weights * (p - target)
        w = weights * (p * (1 - p) + 1e-12)
        loss = weights * (xp.logaddexp(0.0, z) - target * z)  # -[t log p + (1 - t) log(1 - p)]
        # The six sums in one array, read back at once: one device sync per step.
        sums = to_numpy(
            xp.stack([loss.sum(), (r * f).sum(), r.sum(), (w * f * f).sum(), (w * f).sum(), w.sum()])
        )
        value = float(sums[0])
        if accepted is not None and not value < accepted[0] + 1e-12 * abs(accepted[0]):
            step /= 2  # the step raised the cross-entropy: half of it from the last accepted point
            if step < 1e-10:
                break
            a, b = accepted[1] - step * accepted[3], accepted[2] - step * accepted[4]
            continue
        g = (float(sums[1]), float(sums[2]))
        h = (float(sums[3]) + 1e-9, float(sums[4]), float(sums[5]) + 1e-9)
        det = h[0] * h[2] - h[1] ** 2
        da = (h[2] * g[0] - h[1] * g[1]) / det
        db = (h[0] * g[1] - h[1] * g[0]) / det
        accepted, step = (value, a, b, da, db), 1.0
        a, b = a - da, b - db
        if math.hypot(da, db) < 1e-10 * max(1.0, math.hypot(a, b)):
            return a, b
    return accepted[1], accepted[2]
