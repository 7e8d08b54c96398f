"""The clustering task of a cohort: the clusters, their silhouette (or why it has none), a 2D map."""

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from gpuimg._text import count
from gpuimg.ml import metrics


def fit_clusters(pipeline, X: np.ndarray, estimator: str) -> tuple:
    """``pipeline`` (imputation, standardisation, the clustering ``estimator``) fitted on the feature
    rows ``X``; its scores, and the clusters and first two principal components the report draws."""
    with warnings.catch_warnings():
        # Equal features: fewer clusters than asked, counted in the scores (it warned on the console).
        warnings.filterwarnings("ignore", "Number of distinct clusters", ConvergenceWarning)
        clusters = np.asarray(pipeline.fit_predict(X))
    standardised = pipeline[:-1].transform(X)
    # DBSCAN's label -1 is noise, no cluster: a run whose every study was noise said n_clusters 1.
    noise = int(np.count_nonzero(clusters == -1)) if estimator == "dbscan" else 0
    groups = np.unique(clusters).size
    scores = {
        "silhouette": metrics.silhouette(standardised, clusters) if 1 < groups < len(X) else math.nan,
        "n_clusters": int(np.unique(clusters[clusters != -1] if noise else clusters).size),
        **({"n_noise": noise} if estimator == "dbscan" else {}),
        "n_studies": len(X),
    }
    if not 1 < groups < len(X):
        scores["no_silhouette"] = _why_no_silhouette(groups, len(X))
    return pipeline, scores, {"clusters": clusters, "projection": _projection(standardised)}


def _why_no_silhouette(groups: int, n: int) -> str:
    """Why the silhouette of ``n`` studies in ``groups`` groups is undefined (scikit-learn's: 2 to
    ``n - 1`` labels): metrics.json said null and the report 'n/a', without a word of why."""
    studies = count(n, "study", "studies")
    if n < 3:
        return f"{studies}: the silhouette needs 3 at least (2 groups, one of them of 2 studies)"
    if groups < 2:
        return f"all {studies} fell in one cluster (equal features?); the silhouette needs 2 at least"
    return f"each of the {studies} is a cluster of its own; ask for at most {n - 1} clusters"


def _projection(X: np.ndarray) -> np.ndarray:
    """The first two principal components of ``X`` (already standardised), for the cluster map."""
    centred = X - X.mean(axis=0)
    if centred.shape[0] < 2:
        return np.zeros((centred.shape[0], 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ vt[:2].T
    return np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
