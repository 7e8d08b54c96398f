"""The registry of kernels, and how the CUDA ones are launched over a 3D volume.

Every CUDA kernel in ``gpuimg.kernels`` is declared with :func:`cuda_kernel`, which compiles it lazily
(on its first launch, for the argument types of that launch) and records it with representative
signatures; every CPU driver with :func:`cpu_kernel`. Both keep their compiled code in Numba's
on-disk cache (:mod:`gpuimg.kernels.cache`), so a kernel compiles once per machine. The PTX check
(``python -m gpuimg.kernels.ptx``, run by the test suite) compiles every registered kernel for sm_90
without a GPU, so no kernel escapes it; a test makes sure no module calls ``cuda.jit`` directly.

``numba.cuda`` itself (a quarter of a second to import) loads on the first CUDA use
(:func:`load_cuda`), not with the kernels, so a CPU-only process never pays for it; until then the
kernel modules' ``cuda`` (imported from here) is a placeholder.
"""

import contextlib
import functools
import os
import sys
import threading
from dataclasses import dataclass

import numba
import numpy as np
from numba.core.caching import FunctionCache

from .cache import enable_cache

#: Threads per block along x, y, z (x is the array's last, contiguous axis): 256 threads, one warp
#: along each contiguous row so that reads and writes coalesce.
BLOCK_3D = (32, 4, 2)
#: Threads per block of every 3D launch (:func:`block_3d` lays them out for the volume's shape).
THREADS_3D = BLOCK_3D[0] * BLOCK_3D[1] * BLOCK_3D[2]


class _CudaNotLoaded:
    """The kernel modules' ``cuda`` until :func:`load_cuda` puts ``numba.cuda`` in its place."""

    def __getattr__(self, name):
        if name.startswith("__"):  # what hasattr, copy and doctest ask of any object
            raise AttributeError(name)
        raise RuntimeError(
            f"cuda.{name} before numba.cuda is loaded: CUDA kernels run through gpuimg.kernels.registry "
            "(launch, launch_3d), which loads it; elsewhere call registry.load_cuda() first."
        )


#: ``numba.cuda`` once :func:`load_cuda` has run; a placeholder before. Kernel modules import it from
#: here (``from .registry import cuda``) for their kernels' ``cuda.grid``, ``cuda.syncthreads`` ...
cuda = _CudaNotLoaded()
_LOAD_LOCK = threading.Lock()


def load_cuda():
    """Import ``numba.cuda`` (and register gpuimg's CUDA lowerings), once, and make it the ``cuda`` of
    every kernel module: a kernel's globals are what Numba types it with, and what the CUDA simulator
    swaps for its own module during a simulated launch.

    Returns
    -------
    module
        ``numba.cuda`` (the simulator's under ``NUMBA_ENABLE_CUDASIM=1``).
    """
    global cuda
    if not isinstance(cuda, _CudaNotLoaded):  # every launch asks: no lock, no scan once loaded
        return cuda
    with _LOAD_LOCK:
        if isinstance(cuda, _CudaNotLoaded):
            from numba import cuda as numba_cuda

            from .exact import register_cuda_lowerings

            register_cuda_lowerings()
            cuda = numba_cuda
        for name, module in list(sys.modules.items()):
            placeholder = isinstance(getattr(module, "cuda", None), _CudaNotLoaded)
            if placeholder and name.startswith(f"{__package__}."):
                module.cuda = cuda
    return cuda


class CudaDispatcher:
    """A CUDA kernel declared with :func:`cuda_kernel`: its ``numba.cuda.jit`` dispatcher, made (with
    the kernels' on-disk cache) on first use, which loads ``numba.cuda``; launched as a dispatcher is,
    ``kernel[grid, block, stream](*args)``, and its attributes read through.

    Parameters
    ----------
    func : function
        The kernel's Python function.
    """

    def __init__(self, func):
        self._dispatcher = None
        self._lock = threading.Lock()
        functools.update_wrapper(self, func)

    @property
    def py_func(self):
        """The kernel's Python function (what ``cuda.compile_ptx`` takes)."""
        return self.__wrapped__

    @property
    def dispatcher(self):
        """The ``numba.cuda.jit`` dispatcher (made on first use)."""
        with self._lock:
            if self._dispatcher is None:
                cuda_module = load_cuda()
                dispatcher = cuda_module.jit(self.__wrapped__)
                if not numba.config.ENABLE_CUDASIM:  # the simulator runs the Python function: no cache
                    from numba.cuda.dispatcher import CUDACache

                    enable_cache(dispatcher, CUDACache)
                self._dispatcher = dispatcher
        return self._dispatcher

    def __getitem__(self, configuration):
        return self.dispatcher[configuration]

    def __getattr__(self, name):
        if name in ("_dispatcher", "_lock", "__wrapped__"):  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.dispatcher, name)


@dataclass(frozen=True)
class CudaKernel:
    """A registered CUDA kernel: its name, its lazily made dispatcher and the signatures to check."""

    name: str
    kernel: CudaDispatcher
    signatures: tuple[str, ...]

    @property
    def dispatcher(self):
        """The kernel's ``numba.cuda.jit`` dispatcher (made on first use, loading ``numba.cuda``)."""
        return self.kernel.dispatcher

    @property
    def py_func(self):
        """The kernel's Python function (what ``cuda.compile_ptx`` takes)."""
        return self.kernel.py_func


#: Every CUDA kernel, by ``module.function`` name.
REGISTRY: dict[str, CudaKernel] = {}

#: Every CPU driver, by ``module.function`` name.
CPU_DRIVERS: dict[str, "CpuDriver"] = {}


class _Launches:
    """How this process calls its CPU drivers, by Numba's threading layer (known after the first call).

    Two of Numba's threading layers end the whole process on uses that are ordinary in a cohort job:

    - ``workqueue`` (Numba's own, where neither an OpenMP nor a TBB runtime loads) aborts when two
      threads launch at once, as Dask's threaded scheduler does: the drivers then take turns (a lock).
    - GNU OpenMP (``omp`` on Linux) aborts in a process forked from one that used it: ``multiprocessing``
      on Linux and PyTorch's DataLoader fork their workers. A forked child then calls each driver's
      serial twin.

    TBB, and OpenMP elsewhere, allow both: the drivers are called directly.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.direct = False
        self.serial = False

    def learn_layer(self):
        """After a call under the lock: call directly from now on unless the layer is ``workqueue``."""
        try:
            self.direct = numba.threading_layer() != "workqueue"
        except ValueError:  # the driver launched no threads; the layer is still unknown
            pass

    def after_fork_in_child(self):
        """A forked child: a lock held by another thread of the parent would never be released, and a
        parent that started GNU OpenMP leaves the child only serial code."""
        self.lock = threading.Lock()
        if _gnu_openmp_started():
            self.direct, self.serial = False, True


def _gnu_openmp_started() -> bool:
    try:
        layer = numba.threading_layer()
    except ValueError:
        return False
    if layer != "omp":
        return False
    from numba.np.ufunc import omppool

    return omppool.openmp_vendor == "GNU"


_LAUNCHES = _Launches()
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_LAUNCHES.after_fork_in_child)


class CpuDriver:
    """A CPU driver: ``numba.njit(parallel=True)`` with the kernels' on-disk cache, called the way
    :class:`_Launches` says; its dispatcher's attributes (``signatures``, ``stats``, ...) read through.

    Parameters
    ----------
    func : function
        The driver's Python function.
    """

    def __init__(self, func):
        self.dispatcher = numba.njit(parallel=True)(func)
        enable_cache(self.dispatcher, FunctionCache)
        self._serial = None
        functools.update_wrapper(self, func)

    def __call__(self, *args):
        if _LAUNCHES.direct:
            return self.dispatcher(*args)
        if _LAUNCHES.serial:
            return self.serial(*args)
        with _LAUNCHES.lock:
            result = self.dispatcher(*args)
            _LAUNCHES.learn_layer()
        return result

    def call(self, work: int, *args):
        """``self(*args)``; below :data:`SERIAL_WORK` units of ``work`` (voxel visits, pairs) its serial
        twin, on the calling thread: neither the thread pool's start nor a change of Numba's thread
        count, about 6 to 10 us of a call on the demo cohort's ROIs, and no thread team left competing
        for the cores. A driver that takes its thread count takes :func:`threads` of the same work."""
        return self.serial(*args) if work < SERIAL_WORK else self(*args)

    @property
    def serial(self):
        """The driver compiled with ``parallel=False`` (on first use), cached on disk beside it."""
        if self._serial is None:
            serial = numba.njit(parallel=False)(self.__wrapped__)
            enable_cache(serial, FunctionCache, variant="serial")
            self._serial = serial
        return self._serial

    def __getattr__(self, name):
        if name == "dispatcher":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.dispatcher, name)


def cpu_kernel(func) -> CpuDriver:
    """Declare a CPU driver (:class:`CpuDriver`): parallel, cached on disk, registered.

    The per-voxel helpers it calls stay plain ``numba.njit(inline="always")`` functions: they are
    compiled into (and cached with) each driver that calls them.
    """
    driver = CpuDriver(func)
    CPU_DRIVERS[f"{func.__module__}.{func.__qualname__}"] = driver
    return driver


def cuda_kernel(*signatures: str):
    """Declare a CUDA kernel (a :class:`CudaDispatcher`: ``cuda.jit`` on first use, compiled lazily,
    cached on disk) and register it.

    Parameters
    ----------
    *signatures : str
        Numba signatures such as ``"void(float32[:, :, ::1], float32[:, :, ::1])"``, at least one:
        the argument types the kernel is checked with (compiled to PTX for sm_90 by the test suite).
    """
    if not signatures:
        raise TypeError("cuda_kernel needs at least one representative signature")

    def register(func):
        kernel = CudaDispatcher(func)
        name = f"{func.__module__}.{func.__qualname__}"
        REGISTRY[name] = CudaKernel(name, kernel, tuple(signatures))
        return kernel

    return register


#: Below this many voxel visits (about 10 ms of work) a CPU driver runs on one thread, its serial twin
#: (:meth:`CpuDriver.call`): starting the thread pool costs tens of microseconds, and milliseconds on
#: a loaded machine.
SERIAL_WORK = 1 << 21


def threads(work: int) -> int:
    """The threads a driver called by :meth:`CpuDriver.call` with ``work`` runs on: 1 below
    :data:`SERIAL_WORK` (its serial twin), Numba's thread count above; for the drivers that share
    their work out themselves (a thread count or a number of slabs among their arguments)."""
    return 1 if work < SERIAL_WORK else numba.get_num_threads()


@contextlib.contextmanager
def threads_for(work: int):
    """Run the CPU drivers called inside on one thread when ``work`` (voxel visits) is small: the
    parallel driver, for those whose serial twin is the slower (:meth:`CpuDriver.call` otherwise;
    zones' ``_label_cpu``, 12 to 31 us a call on the demo cohort's ROIs against 63 to 222 serial)."""
    if work >= SERIAL_WORK:
        yield
        return
    count = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(count)


@contextlib.contextmanager
def parallel_drivers():
    """:meth:`CpuDriver.call` runs the parallel drivers whatever the work, inside (:data:`SERIAL_WORK`
    0; not thread-safe): ``gpuimg warmup`` compiles them on its small volumes as well as the serial
    twins."""
    global SERIAL_WORK
    serial_work, SERIAL_WORK = SERIAL_WORK, 0
    try:
        yield
    finally:
        SERIAL_WORK = serial_work


def launch_3d(kernel, shape, *args):
    """Launch ``kernel`` with one thread per voxel of a volume of ``shape`` (z, y, x).

    The kernel reads its voxel as ``x, y, z = cuda.grid(3)`` and returns early outside ``shape``.
    It runs on CuPy's current stream when CuPy is in use, so it is ordered with the CuPy work
    around it.
    """
    nz, ny, nx = shape
    block = block_3d(shape)
    bx, by, bz = block
    launch(kernel, (-(-nx // bx), -(-ny // by), -(-nz // bz)), block, *args)


def block_3d(shape) -> tuple[int, int, int]:
    """Threads per block (x, y, z) for a volume of ``shape`` (z, y, x): always 256 (a kernel may size
    its shared memory by it); :data:`BLOCK_3D` for a large volume, but no more threads along x than a
    row is long and along z than there are slices (a 2D image gets ``(32, 8, 1)``, not half its
    threads idle), the threads saved going to y, past the rows' count to x (a single long row gets
    ``(256, 1, 1)``), and past the row's length to z."""
    nz, ny, nx = shape
    bx = min(BLOCK_3D[0], _power_of_two(nx))
    bz = min(BLOCK_3D[2], _power_of_two(nz))
    by = min(THREADS_3D // (bx * bz), _power_of_two(ny))
    bx = min(THREADS_3D // (by * bz), max(bx, _power_of_two(nx)))
    return bx, by, THREADS_3D // (bx * by)


def _power_of_two(n: int) -> int:
    """The smallest power of two at least ``n`` (1 for 0)."""
    return 1 << max(int(n) - 1, 0).bit_length()


def launch(kernel, grid, block, *args):
    """Launch ``kernel`` on ``grid`` blocks of ``block`` threads, on CuPy's current stream (as
    :func:`launch_3d`, for kernels that lay out their own blocks)."""
    load_cuda()
    if numba.config.ENABLE_CUDASIM:
        with _python_helpers(kernel.py_func):
            kernel[grid, block](*map(_simulated, args))
    else:
        with _cupy_device():
            kernel[grid, block, _current_stream()](*args)


def _simulated(arg):
    """A device array as the simulator takes it: a NumPy view of the memory its
    ``__cuda_array_interface__`` describes (host memory, for the emulated CUDA device of the tests)."""
    interface = getattr(arg, "__cuda_array_interface__", None)
    if interface is None or isinstance(arg, np.ndarray):
        return arg
    holder = type("_Host", (), {"__array_interface__": {**interface, "version": 3}, "owner": arg})()
    return np.asarray(holder)


def _cupy_device():
    """Numba's context of CuPy's current device, so that a kernel runs on the GPU that holds its
    arrays (CuPy's ``with cupy.cuda.Device(i)``); nothing without CuPy."""
    cupy = sys.modules.get("cupy")
    if cupy is None:
        return contextlib.nullcontext()
    return cuda.gpus[cupy.cuda.Device().id]


def _current_stream():
    """CuPy's current stream as a Numba stream; 0 (the default stream) without CuPy or simulated."""
    cupy = sys.modules.get("cupy")
    if cupy is None or numba.config.ENABLE_CUDASIM:
        return 0
    ptr = cupy.cuda.get_current_stream().ptr
    return cuda.external_stream(ptr) if ptr else 0


@contextlib.contextmanager
def _python_helpers(func):
    """Under the CUDA simulator, make the ``numba.njit`` helpers a kernel calls plain Python again.

    The simulator runs a kernel as Python and hands it arrays wrapped in its own array type, which
    compiled ``njit`` code cannot take. For the length of a simulated launch, every ``njit``
    function reachable through the globals of the kernel's module (and of the modules those
    helpers come from) is replaced by its Python function, as the simulator itself replaces the
    ``cuda`` module; everything is put back afterwards.
    """
    swapped = []
    pending, seen = [func.__globals__], set()
    while pending:
        namespace = pending.pop()
        if id(namespace) in seen:
            continue
        seen.add(id(namespace))
        for name, value in list(namespace.items()):
            if isinstance(value, numba.core.registry.CPUDispatcher):
                swapped.append((namespace, name, value))
                namespace[name] = value.py_func
                pending.append(value.py_func.__globals__)
    try:
        yield
    finally:
        for namespace, name, value in swapped:
            namespace[name] = value
