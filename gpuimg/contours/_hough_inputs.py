"""The checks of the inputs of the Hough transforms (:mod:`gpuimg.contours.hough` for lines,
:mod:`gpuimg.contours._hough_circles` for circles): the edge image, the angles and radii, the peaks'
options."""

from __future__ import annotations

import math

import numpy as np

from gpuimg._arrays import as_image, check_gathered
from gpuimg._support import check_finite
from gpuimg.backend import is_dask, namespace, to_numpy
from gpuimg.errors import ParameterError


def _edge_image(image):
    """The edge image as a NumPy or CuPy array (a Dask array computed), checked to be 2D and of real
    numbers, as every operation checks its image (a masked array's masked pixels would vote)."""
    image = as_image(image)
    if is_dask(image):
        check_gathered("the Hough transform", image)
        image = image.compute()
    xp = namespace(image).xp
    image = xp.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"the edge image must be 2D (rows, columns); got shape {image.shape}.")
    return image


def _radii(radius) -> np.ndarray:
    """The radii as a 1D float64 array, checked to be finite and 0 or more [pixels]; scikit-image's
    ``hough_circle`` casts them to integers (toward 0)."""
    radii = _finite_1d(radius, "radius", "radii in pixels")
    if (radii < 0).any():
        raise ParameterError(f"radius={radius!r} must be 0 or more pixels.")
    return radii


def _finite_1d(values, name, what):
    """``values`` (scalar, list or array on any device) as a non-empty 1D float64 NumPy array."""
    try:
        array = np.atleast_1d(np.asarray(to_numpy(values), dtype=np.float64))
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise ParameterError(f"{name}={values!r} must be a non-empty 1D array of finite {what}.")
    return array


def _check_peak_options(*, threshold, **options) -> None:
    """Peak separations are whole numbers of at least 0, peak counts whole numbers of at least 1 or
    ``inf`` (no limit), and a threshold is None or a finite number."""
    for name, value in options.items():
        count = name.endswith("num_peaks")
        whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
        unlimited = count and isinstance(value, float) and value == math.inf
        if not (unlimited or (whole and value >= int(count))):
            what = "a whole number of at least 1, or inf" if count else "a whole number of at least 0"
            raise ParameterError(f"{name}={value!r} must be {what}.")
    if threshold is not None:
        check_finite(threshold, "threshold")
