"""Bringing a family's results to the host in one transfer, and features IBSI leaves undefined."""

import warnings

import numpy as np

from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import FeatureWarning


def host_scalars(scalars: dict, **arrays) -> dict:
    """Device scalars as Python floats, and 1D device arrays as NumPy arrays, in one transfer.

    Parameters
    ----------
    scalars : dict of str to 0-d array (NumPy or CuPy) or number
    **arrays : 1D arrays on the same device
        Returned under their keyword, as float64 NumPy arrays.
    """
    parts = list(scalars.values()) + list(arrays.values())
    xp = namespace(next((p for p in parts if hasattr(p, "shape")), np.float64(0))).xp
    flat = xp.concatenate([xp.ravel(xp.asarray(p, dtype=np.float64)) for p in parts])
    host = to_numpy(flat)
    out = {name: float(value) for name, value in zip(scalars, host, strict=False)}
    start = len(scalars)
    for name, array in arrays.items():
        out[name] = host[start : start + array.size]
        start += array.size
    return out


def undefined(name: str, why: str) -> float:
    """NaN for a feature IBSI defines no value for here, with a :class:`FeatureWarning` saying why."""
    warnings.warn(f"{name} is not defined for this ROI ({why}); it is NaN.", FeatureWarning, stacklevel=3)
    return float("nan")
