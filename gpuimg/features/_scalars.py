"""Families' results kept on the device until one transfer brings them all to the host.

A family computes its reductions on the ROI's device and returns a :class:`Deferred`: those device
values by name, and the host function that turns them into the family's features. :func:`resolve`
brings the values of any number of them to the host in one transfer (one device sync), so that
:func:`gpuimg.features.extract` reads the device once for all its families instead of once or more
per family.
"""

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import FeatureWarning


@dataclass(frozen=True)
class Deferred:
    """A family's results still on the device.

    Attributes
    ----------
    arrays : dict of str to 0-d or 1D array (NumPy or CuPy), or number
        The device values the features are made of.
    finish : callable
        ``finish(host)`` gives the family's features (dict of str to float) from ``host``, the same
        names with 0-d arrays as Python floats and 1D arrays as float64 NumPy arrays.
    """

    arrays: dict
    finish: Callable[[dict], dict]

    def result(self) -> dict[str, float]:
        """The features, after one transfer of this family's values to the host."""
        return resolve([self])[0]


def resolve(deferred: Sequence[Deferred]) -> list[dict[str, float]]:
    """The features of each :class:`Deferred`, their device values brought to the host in one transfer."""
    parts = [value for d in deferred for value in d.arrays.values()]
    host = _to_host(parts)
    results, start = [], 0
    for d in deferred:
        values = dict(zip(d.arrays, host[start : start + len(d.arrays)], strict=True))
        start += len(d.arrays)
        results.append(d.finish(values))
    return results


def _to_host(parts: list) -> list:
    """``parts`` (0-d or 1D arrays of one device, or numbers) on the host: floats and float64 arrays."""
    if not parts:
        return []
    device = next(
        (p for p in parts if hasattr(p, "shape") and not isinstance(p, (np.ndarray, np.generic))), None
    )
    xp = np if device is None else namespace(device).xp
    flat = to_numpy(xp.concatenate([xp.ravel(xp.asarray(p, dtype=np.float64)) for p in parts]))
    out, start = [], 0
    for part in parts:
        size = int(getattr(part, "size", 1))
        out.append(float(flat[start]) if getattr(part, "ndim", 0) == 0 else flat[start : start + size])
        start += size
    return out


def undefined(name: str, why: str) -> float:
    """NaN for a feature IBSI defines no value for here, with a :class:`FeatureWarning` saying why."""
    warnings.warn(f"{name} is not defined for this ROI ({why}); it is NaN.", FeatureWarning, stacklevel=3)
    return float("nan")
