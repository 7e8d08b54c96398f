"""NaN and inf in the preprocessing tests: images that hold them, and where a filter spreads them."""

import numpy as np
import scipy.ndimage as ndi


def with_nonfinite(rng, shape, dtype, count=2):
    """Normal values with ``count`` NaN, +inf and -inf each, at distinct random voxels (edges too)."""
    image = rng.normal(0, 100, shape).astype(dtype)
    where = rng.choice(image.size, 3 * count, replace=False)
    for value, flat in zip([np.nan, np.inf, -np.inf] * count, where, strict=True):
        image[np.unravel_index(flat, shape)] = value
    return image


def assert_same_nonfinite(got, want):
    """NaN, +inf and -inf at the same voxels; ``assert_allclose`` alone would let +inf pass for NaN."""
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(kind(got), kind(want), err_msg=kind.__name__)


def reached(flags, mode, size=None, footprint=None):
    """Voxels whose neighbourhood (``size`` box or ``footprint``) holds a flagged voxel, in ``mode``."""
    return ndi.maximum_filter(flags.astype(np.uint8), size, footprint, mode=mode).astype(bool)
