"""Families' results kept on the device until one transfer brings them all to the host.

A family computes its reductions on the ROI's device and returns a :class:`Deferred`: those device
values by name, and the host function that turns them into the family's features. :func:`resolve`
brings the values of any number of them to the host in one transfer (one device sync), so that
:func:`gpuimg.features.extract` reads the device once for all its families instead of once or more
per family.

A feature IBSI defines no value for is NaN, with a :class:`~gpuimg.errors.FeatureWarning` saying
why (:func:`undefined`); :func:`collected` gathers those of a whole call into one warning
(:func:`warn_undefined`), so that an ROI of one voxel gives one warning, not one per feature.
"""

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from gpuimg._text import some
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import FeatureWarning

#: The features undefined so far under :func:`collected` (name to why), or None outside it.
_COLLECTING: ContextVar[dict[str, str] | None] = ContextVar("_COLLECTING", default=None)

#: The types the families' results mostly are, on the host: known by their type alone, without the
#: checks of attributes and classes (:func:`_to_host`: some 40 values a demo study, 8 -> 5 us).
_HOST_SCALARS = frozenset({float, int, np.float64, np.int64})
_HOST_TYPES = _HOST_SCALARS | {np.ndarray}
#: NumPy's arrays and scalars: on the host whatever their dtype.
_HOST_NUMPY = (np.ndarray, np.generic)

#: The most names shown for one reason in a warning; the rest are counted ("and 40 more").
_SHOWN = 8


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
        """The features, after one transfer of this family's values to the host; one
        :class:`FeatureWarning` for those undefined (see :func:`collected`)."""
        with collected() as found:
            features = resolve([self])[0]
        warn_undefined(found, stacklevel=3)  # this family's function's caller
        return features


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
        (
            p
            for p in parts
            if type(p) not in _HOST_TYPES and hasattr(p, "shape") and not isinstance(p, _HOST_NUMPY)
        ),
        None,
    )
    if device is None:  # on the host already: converted one by one, not gathered into one array first
        return [float(p) if type(p) in _HOST_SCALARS else _host_value(p) for p in parts]
    xp = namespace(device).xp
    flat = to_numpy(xp.concatenate([xp.ravel(xp.asarray(p, dtype=np.float64)) for p in parts]))
    out, start = [], 0
    for part in parts:
        size = int(getattr(part, "size", 1))
        out.append(float(flat[start]) if getattr(part, "ndim", 0) == 0 else flat[start : start + size])
        start += size
    return out


def _host_value(part):
    """A host value of :func:`_to_host`: an array as a flat float64 array, a 0-d one as a float."""
    return np.asarray(part, dtype=np.float64).ravel() if getattr(part, "ndim", 0) else float(part)


def undefined(name: str, why: str) -> float:
    """NaN for a feature IBSI defines no value for here, with a :class:`FeatureWarning` saying why."""
    report_undefined([name], why)
    return float("nan")


def report_undefined(names: Sequence[str], why: str) -> None:
    """Warn that the features ``names`` are undefined (NaN) for the reason ``why``: at once, or once
    for the whole call under :func:`collected`."""
    found = _COLLECTING.get()
    if found is None:
        warn_undefined(dict.fromkeys(names, why), stacklevel=4)
    else:
        found.update(dict.fromkeys(names, why))


@contextlib.contextmanager
def collected() -> Iterator[dict[str, str]]:
    """Inside, :func:`undefined` warns of nothing: it records each feature and why in the dict
    yielded, for one :func:`warn_undefined` after. Inside another, the dict stays empty: the
    outermost one collects (one warning per call, however deep the calls that it makes)."""
    found: dict[str, str] = {}
    if _COLLECTING.get() is not None:
        yield found
        return
    token = _COLLECTING.set(found)
    try:
        yield found
    finally:
        _COLLECTING.reset(token)


def warn_undefined(found: Mapping, *, stacklevel: int = 2) -> None:
    """One :class:`FeatureWarning` for the undefined features ``found``, grouped by reason.

    Parameters
    ----------
    found : dict
        ``{name: why}`` for one ROI, or ``{label: {name: why}}`` for ROIs of a label image.
    stacklevel : int
        As :func:`warnings.warn`'s, counted from the caller of this function.
    """
    by_label = found if any(isinstance(v, Mapping) for v in found.values()) else {None: found}
    groups: dict[str, tuple[dict, dict]] = {}  # why: (names, labels), each in first-seen order
    for label, features in by_label.items():
        for name, why in features.items():
            names, labels = groups.setdefault(why, ({}, {}))
            names[name] = labels[label] = None
    if not groups:
        return
    n = sum(len(features) for features in by_label.values())
    parts = [
        f"{some(names, _SHOWN)} ({why}{'' if None in labels else '; ' + _labels(labels)})"
        for why, (names, labels) in groups.items()
    ]
    if None in by_label:
        tail = f"for this ROI: {'it is' if n == 1 else f'these {n} features are'} NaN."
    else:
        tail = f"for {_labels(by_label)}: {n} feature values are NaN."
    message = f"IBSI defines no value of {'; '.join(parts)} {tail}"
    warnings.warn(FeatureWarning(message, undefined=dict(found)), stacklevel=stacklevel + 1)


def _labels(labels) -> str:
    """``label 3`` or ``labels 2, 5, ...``."""
    return f"{'label' if len(labels) == 1 else 'labels'} {some(labels, _SHOWN)}"
