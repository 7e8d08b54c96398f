"""The emulated ``cupy.ndarray`` (:class:`DeviceArray`) and the counters of device memory and reads.

Part of the emulated CUDA device (:mod:`gpuimg.testing.emulated_cuda`, which describes what the
array refuses and allows).
"""

import functools
import weakref

import numpy as np

from . import _reads

_NO_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array "
    "explicitly."
)


class MemoryCounter:
    """Bytes of device buffers alive (``current``) and the most alive at once since ``reset`` (``peak``)."""

    def __init__(self):
        self.current = 0
        self.peak = 0
        self._live: dict[int, int] = {}

    def reset(self) -> None:
        """Start a new peak from the bytes alive now."""
        self.peak = self.current

    def track(self, buffer: np.ndarray) -> None:
        owner = buffer
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        key = id(owner)
        if key in self._live:
            return
        self._live[key] = owner.nbytes
        self.current += owner.nbytes
        self.peak = max(self.peak, self.current)
        weakref.finalize(owner, self._release, key)

    def _release(self, key: int) -> None:
        self.current -= self._live.pop(key)


MEMORY = MemoryCounter()


class SyncCounter:
    """Device-to-host reads (``float()``, ``int()``, ``bool()``, ``.get()``, ``.item()``, ...): on a GPU
    each waits for the device to finish its queued work."""

    def __init__(self):
        self.count = 0


SYNCS = SyncCounter()


def _host_error(value) -> TypeError:
    return TypeError(f"Unsupported type {type(value)}")


def _unwrap(value, *, host_ok: bool = False):
    """The host buffer behind ``value``; a NumPy array where CuPy refuses one raises CuPy's TypeError."""
    if isinstance(value, DeviceArray):
        return value._buffer
    if isinstance(value, np.ndarray):
        if not host_ok:
            raise _host_error(value)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, host_ok=host_ok) for v in value)
    return value


def _wrap(value):
    """NumPy results as device arrays (scalars as 0-d arrays, as CuPy's reductions give)."""
    if isinstance(value, np.ndarray):
        return DeviceArray(value)
    if isinstance(value, np.generic):
        return DeviceArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _emulator():
    """The emulator of this process (imported when called: :mod:`.emulated_cuda` imports this module)."""
    from .emulated_cuda import emulator

    return emulator()


def _real(name: str):
    return _emulator().real[name]


class DeviceArray:
    """An emulated ``cupy.ndarray``: a host buffer that refuses implicit conversion to NumPy."""

    __slots__ = ("__weakref__", "_buffer")
    __hash__ = None

    def __init__(self, buffer: np.ndarray):
        self._buffer = buffer
        MEMORY.track(buffer)

    # Explicit transfers, as CuPy allows them.
    def get(self, stream=None, order="C", out=None, blocking=True) -> np.ndarray:
        SYNCS.count += 1
        return np.array(self._buffer, order=order)

    def item(self):
        SYNCS.count += 1
        return self._buffer.item()

    def tolist(self):
        SYNCS.count += 1
        return self._buffer.tolist()

    def __array__(self, *args, **kwargs):
        raise TypeError(_NO_IMPLICIT)

    def __float__(self):
        SYNCS.count += 1
        return float(self._buffer)

    def __int__(self):
        SYNCS.count += 1
        return int(self._buffer)

    def __complex__(self):
        SYNCS.count += 1
        return complex(self._buffer)

    def __bool__(self):
        SYNCS.count += 1
        return bool(self._buffer)

    def __len__(self):
        return len(self._buffer)

    def __iter__(self):
        return (_wrap(row) for row in self._buffer)

    def __repr__(self):
        return f"DeviceArray({self._buffer!r})"

    @property
    def __cuda_array_interface__(self) -> dict:
        interface = dict(self._buffer.__array_interface__)
        interface.update(version=3, stream=None)
        return interface

    def __getitem__(self, key):
        SYNCS.count += _reads.mask_reads(key)
        return _wrap(self._buffer[_unwrap(key, host_ok=True)])

    def __setitem__(self, key, value):
        SYNCS.count += _reads.mask_reads(key)
        self._buffer[_unwrap(key, host_ok=True)] = _unwrap(value, host_ok=True)

    def __getattr__(self, name):
        if name.startswith("__") or not hasattr(_real("cupy").ndarray, name):
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        value = getattr(self._buffer, name)
        if not callable(value):
            return _wrap(value)

        @functools.wraps(value)
        def method(*args, **kwargs):
            if name == "nonzero":
                SYNCS.count += _reads.hidden_reads("cupy.nonzero", {"a": self})
            return _wrap(value(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

        return method

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if not hasattr(_real("cupy"), ufunc.__name__):
            return NotImplemented
        out = kwargs.get("out")
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        module = _emulator().modules["cupy"]
        for part in func.__module__.split(".")[1:]:
            module = getattr(module, part, None)
        target = getattr(module, func.__name__, None) if module is not None else None
        return NotImplemented if target is None else target(*args, **kwargs)


def _operator(name: str):
    def binary(self, *args):
        result = getattr(self._buffer, name)(*_unwrap(args))
        return NotImplemented if result is NotImplemented else _wrap(result)

    def inplace(self, other):
        getattr(self._buffer, name)(_unwrap(other))
        return self

    return inplace if name.startswith("__i") and name not in ("__invert__", "__index__") else binary


for _name in (
    *(f"__{p}{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
                                 "and", "or", "xor", "lshift", "rshift") for p in ("", "r", "i")),
    "__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__",
    "__neg__", "__pos__", "__abs__", "__invert__",
):  # fmt: skip
    setattr(DeviceArray, _name, _operator(_name))
