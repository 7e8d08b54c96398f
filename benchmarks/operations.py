"""The operations benchmarked against their peer library, shared by compare.py and the pytest-benchmark suite.

Each :class:`Operation` builds its input on a device and gives two callables on it: the peer's way
(SciPy on the CPU, cupyx on CUDA) and gpuimg's. Later issues append their rows to :data:`OPERATIONS`.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import skimage.draw
import skimage.measure
import skimage.transform

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
    #: Builds the host input from a generator, shape and dtype; default: normal noise (sd 100).
    build: Callable[[np.random.Generator, tuple[int, ...], str], np.ndarray] | None = None

    def make_input(self, ns: Namespace, seed: int = 0):
        """The operation's input (random noise unless it has its own builder) on the namespace's device."""
        rng = np.random.default_rng(seed)
        if self.build is None:
            image = rng.normal(0.0, 100.0, self.shape).astype(self.dtype)
        else:
            image = self.build(rng, self.shape, self.dtype)
        return gpuimg.to_device(image, ns.device)


def _sobel_magnitude(ns: Namespace, image):
    derivatives = [ns.ndi.sobel(image, axis=axis) for axis in range(image.ndim)]
    return ns.xp.sqrt(sum(d * d for d in derivatives))


def _bumpy_sphere(rng, shape, dtype):
    """Distance from the centre [voxels] plus smooth bumps of +-6 voxels: a closed, wavy surface at
    level ``_SPHERE_LEVEL`` (a radius of about 0.3 of the side)."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=dtype) for n in shape]
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    radius = np.sqrt(z * z + y * y + x * x) * (shape[0] / 2)
    bumps = 6.0 * np.sin(5 * z + rng.uniform(0, 6)) * np.cos(4 * y) * np.sin(3 * x + 1)
    return (radius + bumps).astype(dtype)


_SPHERE_LEVEL = 80.0


def _circle_edges(rng, shape, dtype):
    """An edge image: 12 drawn circles of radius 15 to 60 and 1% scattered edge pixels."""
    edges = rng.random(shape) < 0.01
    for _ in range(12):
        centre = rng.integers(0, shape[0], 2)
        edges[skimage.draw.circle_perimeter(*centre, int(rng.integers(15, 60)), shape=shape)] = True
    return edges.astype(dtype)


_HOUGH_RADII = np.arange(20, 60, 10)


def _on_host(ns: Namespace, image):
    """The peer of an operation cuCIM lacks: scikit-image, on a host copy on CUDA (timed with it)."""
    return gpuimg.to_numpy(image)


OPERATIONS = [
    Operation(
        name="gradient_magnitude",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ndi.__name__}.sobel x3 + magnitude",
        peer=_sobel_magnitude,
        ours=gpuimg.edges.gradient_magnitude,
    ),
    Operation(
        name="marching_cubes",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "skimage.measure.marching_cubes" + (" (host)" if ns.device == "cuda" else ""),
        peer=lambda ns, image: skimage.measure.marching_cubes(_on_host(ns, image), _SPHERE_LEVEL),
        ours=lambda image: gpuimg.contours.marching_cubes(image, _SPHERE_LEVEL),
        build=_bumpy_sphere,
    ),
    Operation(
        name="hough_circle",
        shape=(512, 512),
        dtype="bool",
        peer_name=lambda ns: "skimage.transform.hough_circle" + (" (host)" if ns.device == "cuda" else ""),
        peer=lambda ns, image: skimage.transform.hough_circle(_on_host(ns, image), _HOUGH_RADII),
        ours=lambda image: gpuimg.contours.hough_circle(image, _HOUGH_RADII),
        build=_circle_edges,
    ),
]
