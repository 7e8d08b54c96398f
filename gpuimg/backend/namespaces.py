"""The libraries for each device, and moving arrays between devices.

Operations are written once against a :class:`Namespace`: ``xp`` (NumPy or CuPy), ``ndi``
(``scipy.ndimage`` or ``cupyx.scipy.ndimage``), ``ski`` (scikit-image or ``cucim.skimage``) and the
kernel ``target``. :func:`namespace` gives the namespace of the device an array lives on, so the
result of an operation stays on its input's device. Transfers between host and GPU happen only
through :func:`to_device` and :func:`to_numpy`.
"""

import functools
import importlib
import inspect
import math
import sys
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

import numpy as np

from gpuimg._arrays import roi_voxels
from gpuimg.errors import DeviceError

from .device import resolve_device


@dataclass(frozen=True)
class Namespace:
    """The array libraries of one device.

    Attributes
    ----------
    device : {"cpu", "cuda"}
        Also the target of the Numba kernels in ``gpuimg.kernels``.
    xp : module
        ``numpy`` or ``cupy``.
    ndi : module
        ``scipy.ndimage`` or ``cupyx.scipy.ndimage``.

    Examples
    --------
    >>> from gpuimg.backend import namespace_for
    >>> ns = namespace_for("cpu")  # a Namespace
    >>> ns.device, ns.target, ns.xp.__name__, ns.ndi.__name__, ns.ski.__name__
    ('cpu', 'cpu', 'numpy', 'scipy.ndimage', 'skimage')
    >>> float(ns.ndi.uniform_filter(ns.xp.ones((3, 3)), 3).sum())  # written once, run on any device
    9.0
    """

    device: str
    xp: ModuleType
    ndi: ModuleType

    @property
    def target(self) -> str:
        """The kernel target for this device: ``"cpu"`` or ``"cuda"``."""
        return self.device

    @functools.cached_property
    def ski(self) -> ModuleType:
        """``skimage`` on the CPU, ``cucim.skimage`` on CUDA (imported on first use)."""
        if self.device == "cpu":
            return importlib.import_module("skimage")
        try:
            return importlib.import_module("cucim.skimage")
        except ImportError as exc:
            raise DeviceError(
                f"This operation needs cuCIM on the GPU, which is not installed ({exc}). "
                "Install it with pip install -e '.[cuda13]' (or '.[cuda12]') in the gpuimg checkout."
            ) from exc

    @functools.cached_property
    def fft(self) -> ModuleType | SimpleNamespace:
        """Real n-D FFTs of this device, ``rfftn`` and ``irfftn`` with ``scipy.fft``'s arguments:
        ``scipy.fft`` on the CPU, on all Numba threads from 2**20 points (below that, starting the
        threads costs more than they save), and ``cupyx.scipy.fft`` (cuFFT) on CUDA."""
        if self.device == "cpu":
            import scipy.fft

            def threaded(transform):
                def run(x, s=None, axes=None, **kwargs):
                    points = math.prod(s) if s is not None else x.size
                    return transform(x, s, axes, workers=fft_workers(points), **kwargs)

                return run

            return SimpleNamespace(rfftn=threaded(scipy.fft.rfftn), irfftn=threaded(scipy.fft.irfftn))
        return importlib.import_module("cupyx.scipy.fft")

    @functools.cached_property
    def ml(self) -> ModuleType | None:
        """``sklearn`` on the CPU, ``cuml`` on CUDA, or None where cuML is not installed."""
        if self.device == "cpu":
            return importlib.import_module("sklearn")
        try:
            return importlib.import_module("cuml")
        except ImportError:
            return None


@functools.cache
def _cpu() -> Namespace:
    import scipy.ndimage

    return Namespace("cpu", np, scipy.ndimage)


@functools.cache
def _cuda() -> Namespace:
    resolve_device("cuda")
    import cupy
    import cupyx.scipy.ndimage

    return Namespace("cuda", cupy, _CupyxNdimage(cupyx.scipy.ndimage))


class _CupyxNdimage(ModuleType):
    """``cupyx.scipy.ndimage`` computing as ``scipy.ndimage`` where cupyx differs by default.

    - ``mode="grid-constant"``: SciPy's filters treat it as ``"constant"``; cupyx's filters reject it
      (its interpolation functions take it, and keep it).
    - ``distance_transform_edt`` of a 1-D array: cupyx has 2D and 3D only; a 1-D line is computed as
      a 2D image of one row (the same distances).
    - ``affine_transform`` computes its coordinates in double precision, as SciPy does
      (``float64_coords=True``), instead of in the input's precision.
    """

    def __init__(self, module: ModuleType):
        super().__init__(module.__name__)
        self._module = module

    def __getattr__(self, name: str):
        value = getattr(self._module, name)
        if name.startswith("_") or not callable(value):
            return value
        if name == "distance_transform_edt":
            value = functools.partial(_edt_any_ndim, value)
        elif name == "affine_transform":
            value = functools.partial(value, float64_coords=True)
        elif "mode" in _parameters(value) and "interpolation" not in getattr(value, "__module__", ""):
            value = _constant_for_grid_constant(value)
        setattr(self, name, value)
        return value


def _parameters(func) -> dict:
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}


def _constant_for_grid_constant(func):
    signature = inspect.signature(func)

    @functools.wraps(func)
    def run(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        mode = bound.arguments.get("mode")
        if mode is not None:
            grid = "grid-constant"
            bound.arguments["mode"] = (
                ("constant" if mode == grid else mode)
                if isinstance(mode, str)
                else [("constant" if m == grid else m) for m in mode]
            )
        return func(*bound.args, **bound.kwargs)

    return run


def _edt_any_ndim(edt, image, sampling=None, **kwargs):
    if image.ndim != 1:
        return edt(image, sampling, **kwargs)
    if sampling is not None:
        sampling = (1.0, float(np.ravel(sampling)[0]))
    result = edt(image[None], sampling, **kwargs)
    if isinstance(result, tuple):  # distances and indices: the row's distances, the column indices
        distances, indices = result
        return distances[0], indices[1:, 0]
    return result[0] if kwargs.get("return_distances", True) else result[1:, 0]


def namespace_for(device: str | None = "auto") -> Namespace:
    """The namespace of ``device`` ("auto", "cpu" or "cuda"; see :func:`resolve_device`).

    Raises
    ------
    DeviceError
        As :func:`resolve_device`: for an unknown device, or CUDA where no GPU is usable.

    Examples
    --------
    >>> from gpuimg.backend import namespace_for
    >>> namespace_for("cpu").xp.__name__
    'numpy'
    """
    return _cuda() if resolve_device(device) == "cuda" else _cpu()


def is_dask(x) -> bool:
    """Whether ``x`` is a Dask array (checked without importing Dask).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from gpuimg.backend import is_dask
    >>> is_dask(da.zeros((4, 4), chunks=2)), is_dask(np.zeros((4, 4)))
    (True, False)
    """
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(x, dask_array.Array)


def _is_volume(x) -> bool:
    """Whether ``x`` is a :class:`gpuimg.Volume` (which builds on this module, so it is not imported)."""
    return getattr(type(x), "_is_volume", False)


def is_cupy(x) -> bool:
    """Whether ``x`` is a CuPy array (checked without importing CuPy).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.backend import is_cupy, to_device
    >>> is_cupy(np.zeros(3)), is_cupy(to_device(np.zeros(3), "cpu"))
    (False, False)
    """
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def namespace(x) -> Namespace:
    """The namespace of the device ``x`` lives on.

    A CuPy array gives the CUDA namespace, a Dask array the namespace of its chunks, and anything
    else (a NumPy array, a list, a scalar) the CPU namespace. A Volume gives its voxels' namespace.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.backend import namespace
    >>> ns = namespace(np.zeros((4, 4)))  # a CuPy array would give CuPy and cupyx.scipy.ndimage
    >>> ns.device, ns.xp.__name__, ns.ndi.__name__
    ('cpu', 'numpy', 'scipy.ndimage')
    >>> namespace([1, 2, 3]).device
    'cpu'
    """
    if _is_volume(x):
        return namespace(x.data)
    if is_dask(x):
        return namespace(x._meta)
    return _cuda() if is_cupy(x) else _cpu()


def on_device(ns: Namespace, x, name: str, dtype=None):
    """``x`` (a mask, a reference) as an array of ``ns``, the namespace of the image it goes with.

    A host array given with an image on the GPU is copied there (a mask is small beside the image);
    a GPU array given with an image on the CPU is a DeviceError naming it, where NumPy would meet
    CuPy's refusal of an implicit copy (a bare TypeError).

    Raises
    ------
    DeviceError
        If ``x`` is on the GPU and ``ns`` is the CPU's (an image on the host with a CuPy mask).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.backend import namespace, on_device
    >>> image = np.zeros(3)
    >>> on_device(namespace(image), [0.0, 2.0, np.nan], "mask", dtype=bool)  # NaN is outside the ROI
    array([False,  True, False])
    """
    if ns.device == "cpu" and namespace(x).device != "cpu":
        raise DeviceError(
            f"{name} is on the GPU and the image on the CPU; put both on one device: "
            f"gpuimg.to_numpy({name}), or gpuimg.to_device(image, 'cuda')."
        )
    if dtype is bool:  # a mask: its ROI by gpuimg's one rule, a float mask's NaN voxels left out
        return roi_voxels(ns.xp.asarray(x))
    return ns.xp.asarray(x, dtype=dtype)


def to_numpy(x) -> np.ndarray:
    """``x`` as a NumPy array in host memory: copied from the GPU, or computed if it is a Dask array;
    a Volume gives its voxels (its geometry stays with the Volume).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import gpuimg
    >>> gpuimg.to_numpy(da.arange(6, chunks=2) * 2)  # computed
    array([ 0,  2,  4,  6,  8, 10])
    >>> ct = gpuimg.Volume(np.zeros((2, 3, 4), np.int16), spacing=1.0)
    >>> type(gpuimg.to_numpy(ct)).__name__, gpuimg.to_numpy(ct).shape
    ('ndarray', (2, 3, 4))
    """
    if _is_volume(x):
        x = x.data
    if is_dask(x):
        x = x.compute()
    if is_cupy(x):
        return x.get()
    return np.asarray(x)


def to_device(x, device: str | None = "auto"):
    """``x`` on ``device`` ("auto", "cpu" or "cuda"): unchanged if it is already there.

    A Dask array stays a Dask array, its chunks moved one by one when computed; a Volume stays a
    Volume with the same geometry.

    Raises
    ------
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or is "cuda" and no usable GPU is found.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> ct = gpuimg.Volume(np.zeros((2, 3, 4), np.int16), spacing=(2.5, 0.7, 0.7))
    >>> on_cpu = gpuimg.to_device(ct, "cpu")  # "cuda" uploads it to the GPU
    >>> type(on_cpu.data).__name__, on_cpu.spacing
    ('ndarray', (2.5, 0.7, 0.7))
    >>> gpuimg.to_device(ct.data, "gpu")
    Traceback (most recent call last):
    ...
    gpuimg.errors.DeviceError: device='gpu' is not a device; use 'auto', 'cpu' or 'cuda'.
    """
    if _is_volume(x):
        return x.to(device)
    target = namespace_for(device)
    if is_dask(x):
        if namespace(x) is target:
            return x
        move = functools.partial(_upload, xp=target.xp) if target.device == "cuda" else to_numpy
        return x.map_blocks(move, meta=target.xp.empty((0,) * x.ndim, dtype=x.dtype.newbyteorder("=")))
    if target.device == "cuda":
        return _upload(x, target.xp)
    return to_numpy(x)


def _upload(x, xp):
    """``x`` on the GPU. CuPy copies the bytes of a host array of the other byte order (a big-endian
    file's) as they are and reads them in the native order (cupy/cupy#3652): such an array is put in
    the native order first."""
    if isinstance(x, np.ndarray) and not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return xp.asarray(x)


#: From this many points a CPU FFT runs on all Numba threads: below, starting them costs more than they save.
THREADED_FFT_POINTS = 1 << 20


def fft_workers(points: int) -> int:
    """``scipy.fft``'s ``workers`` for a CPU transform over ``points`` points (:attr:`Namespace.fft`'s
    rule): every Numba thread from :data:`THREADED_FFT_POINTS`, else one."""
    import numba  # here, not at the top: `import gpuimg` need not pay its 0.3 s

    return numba.get_num_threads() if points >= THREADED_FFT_POINTS else 1
