"""Machine learning on the device: estimators by name, SOM, feature selection, patient splits, metrics,
voxel-level clustering and classification."""

from ._base import DeviceEstimator
from ._dbscan import dbscan_candidates
from ._histogram_clustering import segment_kmeans, segment_som
from .estimators import DeviceClassifier, DeviceClusterer, DeviceRegressor, DeviceTransformer, make_estimator
from .evaluation import patient_cv, patient_split
from .metrics import (
    accuracy,
    balanced_accuracy,
    confusion_matrix,
    davies_bouldin,
    dice,
    jaccard,
    mae,
    mse,
    r2,
    roc_auc,
    sensitivity,
    silhouette,
    specificity,
)
from .pca import PCA
from .selection import CorrelationFilter, MutualInformationSelector, VarianceThreshold
from .som import SOM
from .voxel import VoxelClassifier, voxel_features

__all__ = [
    "PCA",
    "SOM",
    "CorrelationFilter",
    "DeviceClassifier",
    "DeviceClusterer",
    "DeviceEstimator",
    "DeviceRegressor",
    "DeviceTransformer",
    "MutualInformationSelector",
    "VarianceThreshold",
    "VoxelClassifier",
    "accuracy",
    "balanced_accuracy",
    "confusion_matrix",
    "davies_bouldin",
    "dbscan_candidates",
    "dice",
    "jaccard",
    "mae",
    "make_estimator",
    "mse",
    "patient_cv",
    "patient_split",
    "r2",
    "roc_auc",
    "segment_kmeans",
    "segment_som",
    "sensitivity",
    "silhouette",
    "specificity",
    "voxel_features",
]
