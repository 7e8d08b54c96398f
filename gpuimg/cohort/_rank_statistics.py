"""Rank statistics drawn in the cohort report: Spearman's correlation of feature columns, with ties and
missing values as pandas takes them, and the points of a ROC curve (see :mod:`gpuimg.cohort.report`)."""

import numpy as np


def _spearman(X: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of each pair of columns of ``X``, over the rows where both have a
    value, ties ranked by their mean rank; NaN where those rows hold fewer than two distinct values of
    either column (as pandas' ``DataFrame.corr(method="spearman")``).

    Not the correlation of ranks taken over every row with NaN as 0, which put the missing values at
    an arbitrary rank (0.43 for 0.80), nor of ranks that broke ties by row order.

    Columns with a value in the same rows (all of them, in a cohort without missing features) are
    ranked once and correlated together, Spearman's rho being Pearson's r of the ranks; a pair of
    columns missing values in different rows is ranked over the rows where both have one. Ranking each
    pair's columns anew called ``rankdata`` 1,640 times for 40 columns (0.14 s of the report).
    """
    present = np.isfinite(X)
    matrix = np.full((X.shape[1], X.shape[1]), np.nan)
    patterns, group = np.unique(present, axis=1, return_inverse=True)
    group = group.ravel()  # NumPy 2.0.0 gave it two axes (numpy#26738, undone in 2.0.1)
    for g in range(patterns.shape[1]):
        columns = np.flatnonzero(group == g)
        rows = patterns[:, g]
        matrix[np.ix_(columns, columns)] = _pearson(_ranks(X[np.ix_(rows, columns)]))
        for i in columns:  # a column with another pattern of rows: over the rows both have
            for j in np.flatnonzero(group > g):
                both = rows & present[:, j]
                pair = _ranks(X[np.ix_(both, [i, j])])
                matrix[i, j] = matrix[j, i] = _pearson(pair)[0, 1]
    return matrix


def _ranks(X: np.ndarray) -> np.ndarray:
    """The rank of each value of ``X`` in its column, from 1, tied values given the mean of their ranks
    (``scipy.stats.rankdata(X, axis=0)``, whose import, 0.35 s, a run without learning tasks paid for
    the report alone).

    Each run of equal values in a column's sorted order spans places ``first`` to ``last`` (from 0), and
    its values' rank is ``(first + last) / 2 + 1``: exact, as SciPy's.
    """
    order = np.argsort(X, axis=0, kind="stable")
    ordered = np.take_along_axis(X, order, axis=0)
    place = np.arange(len(X))[:, None]
    edge, differs = np.ones((1, X.shape[1]), bool), ordered[1:] != ordered[:-1]
    first = np.maximum.accumulate(np.where(np.r_[edge, differs], place, 0), axis=0)
    last = np.minimum.accumulate(np.where(np.r_[differs, edge], place, len(X))[::-1], axis=0)[::-1]
    ranks = np.empty(X.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=0)
    return ranks


def _pearson(ranks: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each pair of columns of ``ranks``; NaN for a pair where either column
    holds fewer than two distinct values."""
    varying = np.ptp(ranks, axis=0) > 0 if len(ranks) else np.zeros(ranks.shape[1], bool)
    matrix = np.full((ranks.shape[1], ranks.shape[1]), np.nan)
    if varying.any():
        matrix[np.ix_(varying, varying)] = np.corrcoef(ranks[:, varying], rowvar=False)
    return matrix


def _roc(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve's points, thresholds at every distinct score (ties moved together)."""
    order = np.argsort(-score, kind="stable")
    positive, score = positive[order], score[order]
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    tp = np.cumsum(positive)[last]
    fp = (last + 1) - tp
    return np.r_[0, fp / max(fp[-1], 1)], np.r_[0, tp / max(tp[-1], 1)]
