"""Canny on a Dask array, chunk by chunk, with the edges of the whole volume.

Everything before the hysteresis is local: smoothing (radius ``r``), derivatives, edge localisation
and the thresholds read at most ``r + 3`` voxels away. Each chunk is classified with that halo by
:func:`gpuimg.edges.canny` itself, told to return the hysteresis's input instead of running it (0:
no edge, 1: candidate, 2: seed); the hysteresis (the components of candidates that hold a seed) is
:func:`gpuimg.backend.label_chunks` with its seed mark, merged across chunks. Two passes over the
chunks, memory bounded by a few of them. In "wrap" mode the smoothing wraps around the volume but
the derivatives stop at its edge, as on the whole volume: the chunks are smoothed first, with the
opposite edge as their halo, then classified with their neighbours' halo only.
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

    sobel = method == "sobel"
    radius = tuple(_radius(s, sobel) for s in sigma)
    after = sigma  # the smoothing left for canny on each chunk
    if boundary.MODES[mode] == boundary.WRAP:
        # The smoothing wraps around the volume, the derivatives after it stop at its edge: the
        # chunks are smoothed with the opposite edge as their halo, then classified with their
        # neighbours' halo only, unsmoothed, at the thresholds of the image's dtype.
        def smooth(chunk):
            ns = namespace(chunk)
            return whole._smooth(ns, ns.xp.asarray(chunk), None, sigma, mode, cval, discrete=not sobel)[0]

        empty = np.empty(0, image.dtype)
        low_threshold, high_threshold = whole._thresholds(empty, low_threshold, high_threshold, False, sobel)
        smoothed_type = whole._float_type(np.dtype(image.dtype))
        image = map_stencil(smooth, image, depth=radius, periodic=True, dtype=smoothed_type)
        after, radius = (0.0,) * image.ndim, (0,) * image.ndim

    def classify(chunk):
        with whole.classes_instead_of_hysteresis():
            return whole.canny(chunk, after, low_threshold, high_threshold, **arguments)

    depth = tuple(r + 3 for r in radius)
    classes = map_stencil(classify, image, depth=depth, periodic=False, dtype=np.uint8)
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
