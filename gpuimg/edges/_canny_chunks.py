"""Canny on a Dask array, chunk by chunk, with the edges of the whole volume.

Everything before the hysteresis is local: smoothing (radius ``r``), derivatives, edge localisation
and the thresholds read at most ``r + 3`` voxels away. Each chunk is classified with that halo by
:func:`gpuimg.edges.canny` itself, told to return the hysteresis's input instead of running it (0:
no edge, 1: candidate, 2: seed); the hysteresis (the components of candidates that hold a seed) is
:func:`gpuimg.backend.label_chunks` with its seed mark, merged across chunks. Two passes over the
chunks, memory bounded by a few of them.
"""

from __future__ import annotations

import importlib

import numpy as np

from gpuimg.backend import label_chunks, map_stencil, namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import boundary

#: The module gpuimg.edges.canny (its name in the package is taken by the function).
whole = importlib.import_module("gpuimg.edges.canny")

#: The value of a seed in the classes the chunks return.
SEED = 2


def canny_chunks(image, sigma, low_threshold, high_threshold, *, mask, use_quantiles, mode, cval, method):
    """:func:`gpuimg.edges.canny` of the Dask array ``image``; ``sigma`` in voxels, one per axis.

    Raises
    ------
    ParameterError
        For a mask or ``use_quantiles`` (they need the whole volume), and whatever ``canny`` refuses
        of the arguments (checked at once, on a small image of the same dtype).
    """
    if mask is not None or use_quantiles:
        raise ParameterError(
            "canny of a Dask array takes neither a mask nor use_quantiles (both need the whole "
            "volume); pass thresholds in intensity units, or image.compute()."
        )
    arguments = {"mode": mode, "cval": cval, "method": method}
    whole.canny(np.zeros((3,) * image.ndim, image.dtype), sigma, low_threshold, high_threshold, **arguments)

    def classify(chunk):
        with whole.classes_instead_of_hysteresis():
            return whole.canny(chunk, sigma, low_threshold, high_threshold, **arguments)

    depth = tuple(_radius(s, method == "sobel") + 3 for s in sigma)
    periodic = boundary.MODES[mode] == boundary.WRAP
    classes = map_stencil(classify, image, depth=depth, periodic=periodic, dtype=np.uint8)
    found = label_chunks(classes, np.ones((3,) * image.ndim, dtype=bool), seed=SEED)
    keep = np.concatenate([[False], found.seeded])
    return found.labels.map_blocks(lambda block: namespace(block).xp.asarray(keep)[block], dtype=bool)


def _radius(sigma: float, sobel: bool) -> int:
    """The smoothing kernel's radius [voxels] along an axis of standard deviation ``sigma``."""
    if sigma <= 1e-15:
        return 0
    if sobel:
        return int(4.0 * sigma + 0.5)
    return len(whole._discrete_gaussian_kernel(sigma**2)) // 2
