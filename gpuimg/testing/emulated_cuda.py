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
from collections.abc import Iterator

import numpy as np

from . import _accepted, _reads
from ._cupy import _CUPY_OVERRIDES, _scatter_add
from ._device_array import MEMORY, SYNCS, DeviceArray, MemoryCounter, SyncCounter, _unwrap, _wrap

__all__ = [
    "IMPORTED",
    "MEMORY",
    "SYNCS",
    "DeviceArray",
    "Emulator",
    "MemoryCounter",
    "SyncCounter",
    "emulated_cuda",
    "emulator",
]

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
