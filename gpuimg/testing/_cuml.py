"""Emulated cuML estimators.

cuML cannot be imported where Numba's CUDA simulator is on (cuDF, which it imports, needs Numba's
real CUDA target), so one helper process without the simulator holds the real cuML: it constructs
the real estimator for every emulated one (cuML checks the parameter names), checks the values
cuML accepts (:func:`gpuimg.testing._accepted.check_cuml`), and returns the scikit-learn class cuML
names as its CPU counterpart (``_cpu_class_path``) with the parameters cuML translates for it
(``_params_to_cpu``). The emulated estimator fits that class on host copies here.

The helper is a ``ProcessPoolExecutor``, not a ``multiprocessing.Pool``: where a result cannot be
unpickled here, the executor raises ``BrokenProcessPool`` with the reason, where the pool's result
thread died and its caller waited forever. Signatures come back without annotations and with
defaults of the builtin types only, so that unpickling them here imports nothing of cuML's (cuML
26.02 annotates ``predict_proba`` with its ``CumlArray``, which the simulator cannot import).
"""

import functools
import importlib
import inspect
import multiprocessing
import os
import types
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ._device_array import DeviceArray, _wrap


def _load():
    importlib.import_module("cucim.skimage")  # its libraries let libcuml.so load without a driver


def _class_info(module: str, name: str):
    """In the helper process: the real class's signature and its methods' signatures (None: no class)."""
    _load()
    try:
        cls = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    if isinstance(cls, types.ModuleType):
        return "module"
    if not isinstance(cls, type):
        return None
    methods = {}
    for attr in dir(cls):
        if not attr.startswith("_") and callable(getattr(cls, attr, None)):
            try:
                methods[attr] = _portable(inspect.signature(getattr(cls, attr)))
            except (TypeError, ValueError):
                methods[attr] = None
    return _portable(inspect.signature(cls)), methods


class _Default:
    """A default value of a type the parent may not import, by its repr."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _portable(signature: inspect.Signature) -> inspect.Signature:
    """``signature``'s parameter names, kinds and defaults, with nothing that needs cuML to unpickle."""
    parameters = []
    for p in signature.parameters.values():
        default = p.default
        if default is not p.empty and type(default).__module__ != "builtins":
            default = _Default(repr(default))
        parameters.append(p.replace(annotation=p.empty, default=default))
    return signature.replace(parameters=parameters, return_annotation=signature.empty)


def _real_cuml(module: str, name: str, args: tuple, params: dict):
    """In the helper process: the real estimator's CPU class and CPU parameters."""
    _load()
    from . import _accepted

    cls = getattr(importlib.import_module(module), name)
    estimator = cls(*args, **params)
    _accepted.check_cuml(estimator)
    return cls._cpu_class_path, estimator._params_to_cpu()


@functools.cache
def _helper():
    """The helper process (spawned once, without the CUDA simulator)."""
    saved = os.environ.get("NUMBA_ENABLE_CUDASIM")
    os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
    try:
        helper = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        helper.submit(int).result()  # started now, with the environment above (it starts on demand)
        return helper
    finally:
        if saved is None:
            os.environ.pop("NUMBA_ENABLE_CUDASIM")
        else:
            os.environ["NUMBA_ENABLE_CUDASIM"] = saved


def _host(value):
    """cuML takes host and device input alike."""
    return value._buffer if isinstance(value, DeviceArray) else value


def _bind(signature, *args, **kwargs) -> None:
    """Arguments that do not bind to the real method's signature raise TypeError, as they would there."""
    if signature is not None:
        signature.bind(*args, **kwargs)


class EmulatedEstimator:
    """A cuML estimator of the emulated device (see the module's docstring)."""

    _module = _name = ""

    def __init__(self, *args, **params):
        cpu_class, cpu_params = _helper().submit(_real_cuml, self._module, self._name, args, params).result()
        self._params = params
        if cpu_params.get("bootstrap") is False:
            # cuML's translation keeps max_samples without bootstrapping, which scikit-learn refuses
            # (and which means all samples in both).
            cpu_params["max_samples"] = None
        module, _, name = cpu_class.rpartition(".")
        self._model = getattr(importlib.import_module(module), name)(**cpu_params)
        self._on_device = False

    def get_params(self, deep=True):
        return dict(self._params)

    def fit(self, X, y=None, *args, **kwargs):
        _bind(self._methods["fit"], self, X, y, *args, **kwargs)
        self._on_device = isinstance(X, DeviceArray)
        kwargs = {k: _host(v) for k, v in kwargs.items()}
        self._model.fit(_host(X), _host(y), *map(_host, args), **kwargs)
        return self

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if not name.endswith("_") and name not in self._methods:
            raise AttributeError(f"cuML's {self._name} has no attribute {name!r}")
        value = getattr(self._model, name)
        if not callable(value):
            return _wrap(value) if self._on_device and isinstance(value, np.ndarray) else value
        signature = self._methods[name]

        def method(X, *args, **kwargs):
            _bind(signature, self, X, *args, **kwargs)
            result = value(_host(X), *map(_host, args), **{k: _host(v) for k, v in kwargs.items()})
            return _wrap(result) if isinstance(X, DeviceArray) and isinstance(result, np.ndarray) else result

        return method


class CumlModule(types.ModuleType):
    """An emulated ``cuml`` module: its estimator classes are those of the real module ``name``."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        info = _helper().submit(_class_info, self.__name__, attr).result()
        if info is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")
        if info == "module":
            from .emulated_cuda import emulator

            return emulator().module(f"{self.__name__}.{attr}")
        signature, methods = info
        value = type(
            attr,
            (EmulatedEstimator,),
            {"_module": self.__name__, "_name": attr, "_methods": methods, "__signature__": signature},
        )
        setattr(self, attr, value)
        return value
