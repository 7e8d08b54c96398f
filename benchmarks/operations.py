"""The operations benchmarked against their peer library, shared by compare.py and the pytest-benchmark suite.

Each :class:`Operation` builds its input on a device and gives two callables on it: the peer's way
(SciPy on the CPU, cupyx on CUDA) and gpuimg's. Later issues append their rows to :data:`OPERATIONS`.
"""

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


def _sitk_canny(ns: Namespace, image):
    """SimpleITK's Canny (CPU only: a CuPy input is copied to the host first)."""
    import SimpleITK as sitk

    itk_image = sitk.GetImageFromArray(gpuimg.to_numpy(image))
    return sitk.CannyEdgeDetection(itk_image, 5.0, 15.0, [1.0] * 3, [0.01] * 3)


def _scipy_label(ns: Namespace, image):
    """ndimage.label (26-connected) with what gpuimg's label also returns: sizes and boxes."""
    labels, count = ns.ndi.label(image > 0, ns.xp.ones((3, 3, 3), dtype=bool))
    sizes = ns.xp.bincount(labels.ravel(), minlength=count + 1)
    return labels, sizes, ns.ndi.find_objects(labels) if hasattr(ns.ndi, "find_objects") else None


OPERATIONS += [
    Operation(
        name="canny_3d",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.CannyEdgeDetection",
        peer=_sitk_canny,
        # ITK's thresholds 5 and 15 on its central-difference magnitude are 32 times these.
        ours=lambda image: gpuimg.edges.canny(image, 1.0, 32 * 5.0, 32 * 15.0),
    ),
    Operation(
        name="label",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ndi.__name__}.label + bincount + find_objects",
        peer=_scipy_label,
        ours=lambda image: gpuimg.morphology.label(image > 0, 26),
    ),
]
