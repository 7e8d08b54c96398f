"""An emulated CUDA device: gpuimg's CUDA path run on the CPU, with the real GPU libraries' rules.

Inside :func:`emulated_cuda`, ``import cupy`` (and ``cupyx.scipy.ndimage``, ``cupyx.scipy.fft``,
``cucim.skimage``, ``cuml``) gives an emulated module, so gpuimg takes its CUDA branches unchanged:

- Arrays are :class:`DeviceArray`, a type of their own over a host buffer that behaves as
  ``cupy.ndarray`` where it matters: implicit conversion to NumPy raises CuPy's TypeError (``np.asarray``,
  ``np.float32(x)``, a host array indexed by it, a host array in an operation with it); reductions
  and element access give 0-d device arrays; ``float()``, ``int()``, ``bool()``, ``.get()``,
  ``.item()`` are the explicit transfers. NumPy functions on it dispatch to the emulated ``cupy``
  as CuPy's ``__array_function__`` does.
- Every call into the emulated libraries is checked against the **installed real library**: the
  name must exist there, the arguments must bind to its ``inspect.signature``, and the values the
  real library validates are checked by its own validators or the tables in
  :mod:`gpuimg.testing._accepted`. The call then runs NumPy / SciPy / scikit-image / scikit-learn
  on the host buffers and the results come back as device arrays.
- cuML estimators are the real cuML classes' constructors (so their parameters are checked by
  cuML itself); they fit the scikit-learn class cuML names as its CPU counterpart, with the
  parameters cuML translates for it (``_params_to_cpu``).
- CUDA kernels run in Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``), which reads device arrays
  through ``__cuda_array_interface__``.
- :attr:`Emulator.memory` counts the bytes of device buffers alive, and their peak.
- :data:`SYNCS` counts the device reads: gpuimg's own (``float()``, ``.get()``, ...) and those CuPy
  makes inside its functions for the given arguments (``bincount``, ``nonzero``, ``unique``,
  boolean-mask indexing, ...; the list, with CuPy's source lines, is in :mod:`gpuimg.testing._reads`).

What it cannot catch
--------------------
- Anything of the GPU itself: launch configurations, registers, shared memory, occupancy, races the
  simulator does not show, streams and asynchrony, out-of-memory, driver and toolkit versions.
- Numerical differences between the GPU libraries and their CPU counterparts: results are the CPU
  libraries' (cupyx's float32 interpolation, cuML's solvers, FMA contraction are not reproduced).
- A value the real library rejects only inside compiled code and that no validator or table here
  lists; a function whose signature cannot be read (CuPy's ufuncs) is checked for existence only.
- Reads inside CuPy functions not listed in :mod:`gpuimg.testing._reads` (gpuimg's calls were
  checked; a function newly called must be read in CuPy's source and added there), and inside
  cupyx.scipy, cuCIM and cuML, which are not counted.
- Memory: only buffers that reach gpuimg's code (results of every call, arrays it allocates) are
  counted, not the libraries' internal temporaries nor the memory pool's caching.
"""

import contextlib
import functools
import importlib
import importlib.util
import inspect
import sys
import types
import weakref
from collections.abc import Iterator

import numpy as np

from . import _accepted, _reads

_NO_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array "
    "explicitly."
)

#: The emulated modules: real module name -> its host counterpart.
_COUNTERPARTS = {
    "cupy": "numpy",
    "cupyx": None,
    "cupyx.scipy": None,
    "cupyx.scipy.ndimage": "scipy.ndimage",
    "cupyx.scipy.fft": "scipy.fft",
    "cucim": None,
    "cucim.skimage": "skimage",
    "cuml": None,  # see gpuimg.testing._cuml
}


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
        module = emulator().modules["cupy"]
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
    return emulator().modules["cupy"] if any(isinstance(a, DeviceArray) for a in args) else np


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


def _real(name: str):
    return emulator().real[name]


class _Module(types.ModuleType):
    """An emulated module: names of the real module ``real``, computed by the host module ``host``."""

    def __init__(self, name: str, real, host, overrides=None):
        super().__init__(name)
        self._real, self._host, self._overrides = real, host, overrides or {}

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in self._overrides:
            return self._overrides[attr]
        real = getattr(self._real, attr)  # the real library lacks it: AttributeError, as on a GPU
        if isinstance(real, types.ModuleType):
            value = emulator().module(f"{self.__name__}.{attr}")
        elif self._host is not None and getattr(self._host, attr, None) is real:
            value = real  # the same object in both (dtypes such as cupy.float32 is numpy.float32)
        elif callable(real):
            value = _checked(f"{self.__name__}.{attr}", real, getattr(self._host, attr))
        else:
            value = getattr(self._host, attr, real)
        setattr(self, attr, value)
        return value


def _checked(name: str, real, host):
    """``host`` behind the real function's signature and accepted values."""
    try:
        signature = inspect.signature(real)
    except (TypeError, ValueError):  # a CuPy ufunc or another compiled callable
        signature = None
    # CuPy's own functions take device arrays only; cupyx and cuCIM want the image on the device and
    # copy other array arguments (weights, matrices, structures) there themselves.
    host_ok = not name.startswith("cupy.")
    # Arguments only the GPU library has (cupyx's float64_coords, ...) are checked, then not passed on.
    host_parameters = _parameters(host)
    host_takes_all = host_parameters is None or any(p.kind is p.VAR_KEYWORD for p in host_parameters.values())

    @functools.wraps(host)
    def call(*args, **kwargs):
        if signature is not None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            _accepted.check(name, real, bound.arguments)
            SYNCS.count += _reads.hidden_reads(name, bound.arguments)
            emulator().calls.append((name, {k: v for k, v in bound.arguments.items() if _is_scalar(v)}))
        if not host_takes_all:
            kwargs = {k: v for k, v in kwargs.items() if k in host_parameters}
        first, rest = (_unwrap(args[:1]), args[1:]) if host_ok else ((), args)
        rest = _unwrap(rest, host_ok=host_ok)
        result = host(*first, *rest, **{k: _unwrap(v, host_ok=host_ok) for k, v in kwargs.items()})
        out = kwargs.get("output", kwargs.get("out"))
        return out if isinstance(out, DeviceArray) else _wrap(result)

    return call


def _parameters(func) -> dict | None:
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


class Emulator:
    """The real libraries (``real``), their emulated modules (``modules``) and the memory counter."""

    def __init__(self):
        self.real = {}
        for name in ("cupy", "cupyx.scipy.ndimage", "cupyx.scipy.fft", "cucim.skimage"):
            importlib.import_module(name)
        # cuCIM loads its submodules lazily, which fails once the emulated parents are in sys.modules:
        # they are loaded now.
        for name in IMPORTED:
            if name.startswith("cucim.skimage."):
                module = importlib.import_module(name)
                for attr in getattr(module, "__all__", ()):
                    getattr(module, attr)
        for name in _COUNTERPARTS:
            if not name.startswith("cuml"):
                self.real[name] = importlib.import_module(name)
        if importlib.util.find_spec("cuml") is None:
            raise ImportError("cuML is not installed")
        self.modules: dict[str, _Module] = {}
        #: The checked calls since the device was installed: (name, scalar arguments by name).
        self.calls: list[tuple[str, dict]] = []
        self.memory = MEMORY
        self.syncs = SYNCS

    def module(self, name: str) -> _Module:
        if name not in self.modules and name.split(".")[0] == "cuml":
            from ._cuml import CumlModule

            self.modules[name] = CumlModule(name)
        if name not in self.modules:
            real = importlib.import_module(name)
            top = next(n for n in sorted(_COUNTERPARTS, key=len, reverse=True) if name.startswith(n))
            host_name = _COUNTERPARTS[top]
            host = None
            if host_name is not None:
                host = importlib.import_module(host_name + name[len(top) :])
            overrides = {"cupy": _CUPY_OVERRIDES, "cupyx": {"scatter_add": _scatter_add}}.get(name)
            self.modules[name] = _Module(name, real, host, overrides)
        return self.modules[name]


@functools.cache
def emulator() -> Emulator:
    """The emulator of this process (imports the real GPU libraries once)."""
    return Emulator()


#: Module names that gpuimg imports by name and so must resolve to the emulated modules.
IMPORTED = (
    *_COUNTERPARTS,
    "cucim.skimage.filters",
    "cucim.skimage.feature",
    "cucim.skimage.measure",
    "cucim.skimage.morphology",
    "cucim.skimage.exposure",
    "cuml.ensemble",
    "cuml.linear_model",
    "cuml.svm",
    "cuml.cluster",
    "cuml.decomposition",
)


def _one_task_at_a_time():
    """Dask's synchronous scheduler as the default (nothing without Dask)."""
    try:
        import dask
    except ImportError:
        return contextlib.nullcontext()
    return dask.config.set(scheduler="synchronous")


@contextlib.contextmanager
def emulated_cuda() -> Iterator[Emulator]:
    """Run the block with the emulated CUDA device as gpuimg's ``cuda`` device.

    Needs the real GPU libraries installed (``pip install -e '.[test]'`` in the gpuimg checkout) and
    Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before ``numba.cuda`` is imported) for the
    kernels.

    Dask computes its tasks one at a time in the block (the synchronous scheduler): the simulator runs
    one kernel at a time (a second launch from another thread while one runs fails inside it with
    "'Thread' object has no attribute 'blockIdx'"), and Dask's threads launch the kernels of their
    chunks at once (a GPU runs them one after another on its stream).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.testing import emulated_cuda
    >>> with emulated_cuda() as device:  # doctest: +SKIP
    ...     import cupy
    ...     x = cupy.asarray(np.arange(4.0))
    ...     float(x.sum())
    6.0
    """
    from gpuimg.backend import device, namespaces

    emu = emulator()
    saved = {name: sys.modules.get(name) for name in IMPORTED}
    sys.modules.update({name: emu.module(name) for name in IMPORTED})
    for cache in (device._probe_cuda, namespaces._cuda):
        cache.cache_clear()
    emu.calls.clear()
    try:
        with _one_task_at_a_time():
            yield emu
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for cache in (device._probe_cuda, namespaces._cuda):
            cache.cache_clear()
