"""The names of CuPy the emulated CUDA device replaces rather than checks: array creation and
transfer (``asarray``, ``array``, ``asnumpy``, ``get_array_module``), ``cupy.cuda`` (devices and streams)
and ``cupyx.scatter_add``.
"""

import inspect
import types

import numpy as np

from . import _reads
from ._device_array import SYNCS, DeviceArray, _emulator, _real, _unwrap


def _asarray(a, dtype=None, order=None, *, blocking=False):
    """``cupy.asarray``: a host array is copied to the device; a device array is kept when it can be."""
    if isinstance(a, DeviceArray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return DeviceArray(np.array(_uploaded(a), dtype=dtype, order=order or "K", copy=True))


def _array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    return DeviceArray(np.array(_uploaded(obj), dtype=dtype, order=order, ndmin=ndmin, copy=True))


def _uploaded(value):
    """A host value as CuPy copies it to the device: the bytes of a NumPy array of the other byte order
    (a big-endian file's) are taken as they are, in the native order, so its values come out wrong
    (cupy/cupy#3652, #9014)."""
    value = _unwrap(value, host_ok=True)
    if isinstance(value, np.ndarray) and not value.dtype.isnative:
        return value.view(value.dtype.newbyteorder("="))
    return value


def _asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    return a.get(order=order) if isinstance(a, DeviceArray) else np.asarray(a, order=order)


def _get_array_module(*args):
    return _emulator().modules["cupy"] if any(isinstance(a, DeviceArray) for a in args) else np


class _Device:
    """``cupy.cuda.Device``: the current device is a number, selected in a ``with`` block."""

    current = 0

    def __init__(self, device=None):
        self.id = _Device.current if device is None else int(device)
        self._previous = []

    def __enter__(self):
        self._previous.append(_Device.current)
        _Device.current = self.id
        return self

    def __exit__(self, *exc):
        _Device.current = self._previous.pop()

    def use(self):
        _Device.current = self.id

    def synchronize(self):
        pass


def _cuda_namespace() -> types.SimpleNamespace:
    stream = types.SimpleNamespace(ptr=0, synchronize=lambda: None)
    return types.SimpleNamespace(
        Device=_Device,
        get_current_stream=lambda device=None: stream,
        get_device_id=lambda: _Device.current,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 2, getDevice=lambda: _Device.current),
        Stream=types.SimpleNamespace(null=stream),
    )


def _scatter_add(a, slices, value):
    """``cupyx.scatter_add``: ``a[slices] += value`` in place, repeated indices added up; CuPy's dtypes."""
    inspect.signature(_real("cupyx").scatter_add).bind(a, slices, value)
    if a.dtype not in _reads.SCATTER_ADD_DTYPES:
        raise TypeError(f"scatter_add only supports {_reads.SCATTER_ADD_DTYPES} as data type, not {a.dtype}")
    SYNCS.count += _reads.mask_reads(slices)
    np.add.at(a._buffer, _unwrap(slices, host_ok=True), _unwrap(value, host_ok=True))


_CUPY_OVERRIDES = {
    "ndarray": DeviceArray,
    "asarray": _asarray,
    "array": _array,
    "asanyarray": _asarray,
    "asnumpy": _asnumpy,
    "get_array_module": _get_array_module,
    "cuda": _cuda_namespace(),
}
