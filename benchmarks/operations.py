"""The operations benchmarked against their peer library, shared by compare.py and the pytest-benchmark suite.

Each :class:`Operation` builds its input on a device and gives two callables on it: the peer's way
(SciPy on the CPU, cupyx on CUDA) and gpuimg's. Later issues append their rows to :data:`OPERATIONS`.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import gpuimg
from gpuimg.backend import Namespace


@dataclass(frozen=True)
class Operation:
    """One row of the comparison: an operation, its input, the peer's code and gpuimg's."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    peer_name: Callable[[Namespace], str]
    peer: Callable[[Namespace, object], object]
    ours: Callable[[object], object]

    def make_input(self, ns: Namespace, seed: int = 0):
        """A random volume of the operation's shape and dtype on the namespace's device."""
        image = np.random.default_rng(seed).normal(0.0, 100.0, self.shape).astype(self.dtype)
        return gpuimg.to_device(image, ns.device)


def _sobel_magnitude(ns: Namespace, image):
    derivatives = [ns.ndi.sobel(image, axis=axis) for axis in range(image.ndim)]
    return ns.xp.sqrt(sum(d * d for d in derivatives))


OPERATIONS = [
    Operation(
        name="gradient_magnitude",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ndi.__name__}.sobel x3 + magnitude",
        peer=_sobel_magnitude,
        ours=gpuimg.edges.gradient_magnitude,
    ),
]


def _kmeans_voxels(ns: Namespace, image):
    """k-means of the voxel intensities with the device's estimator (scikit-learn or cuML), k=4, n_init=1."""
    kmeans = importlib.import_module(f"{ns.ml.__name__}.cluster").KMeans(
        n_clusters=4, n_init=1, random_state=0
    )
    return kmeans.fit_predict(image.reshape(-1, 1))


OPERATIONS.append(
    Operation(
        name="segment_kmeans",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ml.__name__}.cluster.KMeans(k=4, n_init=1)",
        peer=_kmeans_voxels,
        ours=lambda image: gpuimg.ml.segment_kmeans(image, 4),
    )
)
