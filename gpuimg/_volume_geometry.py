"""The numbers of a Volume's geometry as :class:`gpuimg.Volume` checks them: spacing and origin as 3 finite
floats [mm], the direction as a 3x3 array with orthonormal columns, each by a plain-Python path for the
values readers give (tuples and float64 arrays) and NumPy's for any other.
"""

import math

import numpy as np

from gpuimg._support import host_values
from gpuimg.errors import GeometryError


def _numbers(value) -> np.ndarray:
    """``value`` as a float array (a copy); empty where it does not hold numbers only. A CuPy array (a
    spacing or direction computed on the GPU) is copied to the host explicitly (:func:`host_values`)."""
    try:
        return np.array(host_values(value), dtype=float)
    except (TypeError, ValueError):
        return np.empty(0)


def _direction_numbers(value) -> np.ndarray:
    """The numbers of :func:`_numbers` of a direction, not always a copy: a 3x3 float64 NumPy array (a
    reader's, a checked Volume's) as it is, without the conversion through an object array (1.7 of a
    Volume's 9 us); anything else through :func:`_numbers`."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (3, 3):
        return value
    return _numbers(value)


def _float_triple(value) -> tuple[float, float, float] | None:
    """``value`` as :func:`_triple` gives it (0.0 for -0.0) where it is a tuple of 3 finite Python floats
    or a float64 NumPy array of 3 finite numbers (a reader's spacing and origin), else None: the
    geometry of a checked Volume, without NumPy's conversions (a reader's arrays took 15 us through
    them)."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (3,):
        value = tuple(value.tolist())
    if type(value) is tuple and len(value) == 3 and all(type(v) is float and math.isfinite(v) for v in value):
        return tuple(v + 0.0 for v in value)
    return None


#: The identity, and the tolerance of each entry of a direction's ``D.T @ D`` against it (see
#: :func:`_orthonormal`).
_EYE = np.eye(3)
_ORTHONORMAL_TOLERANCE = 1e-4 + 1e-5 * np.abs(_EYE)


def _orthonormal(direction: np.ndarray) -> bool:
    """Whether the 3x3 ``direction`` has orthonormal columns: ``np.allclose(D.T @ D, I, atol=1e-4)``
    (its default rtol 1e-5), as the same comparison of each entry, without allclose's checks of its
    arguments (NaN and infinite entries fail it as they fail allclose, whose ``x == y`` adds nothing
    where ``y`` is finite).

    A float64 matrix whose ``D.T @ D`` is within 9e-5 of the identity in Python's sums passes without
    NumPy (3 of a Volume's 9 us): NumPy's sums differ from them by some 1e-16, so its comparison passes
    too; any other (NaN, infinite, or near or past the tolerance) is NumPy's to judge."""
    if direction.dtype == np.float64 and direction.shape == (3, 3):
        (a, b, c), (d, e, f), (g, h, i) = direction.tolist()  # columns (a, d, g), (b, e, h), (c, f, i)
        if (
            abs(a * a + d * d + g * g - 1.0) <= 9e-5
            and abs(b * b + e * e + h * h - 1.0) <= 9e-5
            and abs(c * c + f * f + i * i - 1.0) <= 9e-5
            and abs(a * b + d * e + g * h) <= 9e-5
            and abs(a * c + d * f + g * i) <= 9e-5
            and abs(b * c + e * f + h * i) <= 9e-5
        ):
            return True
    return bool((np.abs(direction.T @ direction - _EYE) <= _ORTHONORMAL_TOLERANCE).all())


def _triple(name: str, value, *, isotropic: bool = False) -> tuple[float, float, float]:
    """``value`` as 3 finite floats, 0.0 for -0.0; one number stands for all three where ``isotropic``."""
    values = _numbers(value)
    if isotropic and values.ndim == 0:
        values = np.repeat(values, 3)
    values = values.ravel()
    if values.size != 3 or not np.all(np.isfinite(values)):
        one = " (or one, the same along each axis)" if isotropic else ""
        raise GeometryError(f"Volume {name} must be 3 finite numbers{one} (mm); got {value!r}.")
    return tuple(float(v) for v in values + 0.0)  # + 0.0: no -0.0
