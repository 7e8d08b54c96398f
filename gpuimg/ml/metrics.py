"""Scores of classifiers, regressors, clusterings and segmentations, on the device of their inputs.

Each metric is written once with ``xp`` (NumPy or CuPy) and returns a Python float (or, for the
confusion matrix, an array on the inputs' device). Definitions follow ``sklearn.metrics``.

This module gathers the metrics, which are written in private modules by topic: classification
(``_classification_metrics``), regression (``_regression_metrics``), clustering
(``_clustering_metrics``), the overlap of segmentations (``_overlap_metrics``), and the checks of their
inputs (``_metric_inputs``).
"""

from ._classification_metrics import (
    accuracy,
    balanced_accuracy,
    confusion_matrix,
    roc_auc,
    sensitivity,
    specificity,
)
from ._clustering_metrics import davies_bouldin, silhouette
from ._overlap_metrics import dice, jaccard
from ._regression_metrics import mae, mse, r2

__all__ = [
    "accuracy",
    "balanced_accuracy",
    "confusion_matrix",
    "davies_bouldin",
    "dice",
    "jaccard",
    "mae",
    "mse",
    "r2",
    "roc_auc",
    "sensitivity",
    "silhouette",
    "specificity",
]
