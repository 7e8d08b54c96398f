"""Scores of classifiers, regressors, clusterings and segmentations, on the device of their inputs.

Each metric is written once with ``xp`` (NumPy or CuPy) and returns a Python float (or, for the
confusion matrix, an array on the inputs' device). Definitions follow ``sklearn.metrics``.

The metrics are in private modules by topic: classification (``_classification``), regression
(``_regression``), clustering (``_clustering``), the overlap of segmentations (``_overlap``), and the
checks of their inputs (``_inputs``).
"""

from ._classification import accuracy, balanced_accuracy, confusion_matrix, roc_auc, sensitivity, specificity
from ._clustering import davies_bouldin, silhouette
from ._overlap import dice, jaccard
from ._regression import mae, mse, r2

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
