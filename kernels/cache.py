"""The kernels' on-disk cache: each kernel is compiled once per machine, not once per process.

Every CPU driver and CUDA kernel keeps its compiled code in Numba's on-disk cache, in the first
writable place of Numba's own list: ``NUMBA_CACHE_DIR`` when set, the ``__pycache__`` folder next to
the kernel's source, else the user's cache folder (``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``),
which is where a read-only site-packages install caches. Where none is writable the kernels still
work, compiled in every process, and one warning says to set ``NUMBA_CACHE_DIR``.

Numba judges an entry fresh by the modification time and size of the file that defines the
function, and by its bytecode. That misses the helpers a kernel inlines from another module
(``boundary.neighbour``, a constant such as ``boundary.CONSTANT``): editing them would leave stale
machine code in the cache. Here the freshness stamp also holds :func:`sources_digest`, a hash of the
source of the kernel's module and of every module of the package it imports, transitively, so an
edit anywhere a kernel reads from recompiles it, and an edit elsewhere does not.
"""

import ast
import functools
import hashlib
import inspect
import sys
import warnings
from pathlib import Path


@functools.cache
def sources_digest(path: str) -> str:
    """SHA-256 of the sources of :func:`source_files` of the module at ``path``.

    Parameters
    ----------
    path : str
        The source file of a kernel module.

    Returns
    -------
    str
        A hex digest that changes whenever any of these sources changes.

    Examples
    --------
    >>> import gpuimg.kernels.gradient as gradient
    >>> len(sources_digest(gradient.__file__))
    64
    """
    folder = Path(path).resolve().parent
    digest = hashlib.sha256()
    for file in sorted(source_files(path)):
        digest.update(str(file.relative_to(folder)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def source_files(path: str) -> set[Path]:
    """The module at ``path`` and every module under its folder it imports, transitively.

    Imports are followed where they can be resolved: relative ones (``from .boundary import
    neighbour``) by path, absolute ones through the modules already imported.

    Examples
    --------
    >>> import gpuimg.kernels.gradient as gradient
    >>> sorted(p.name for p in source_files(gradient.__file__))
    ['boundary.py', 'cache.py', 'exact.py', 'gradient.py', 'registry.py']
    """
    root = Path(path).resolve()
    folder = root.parent
    pending, seen = [root], set()
    while pending:
        file = pending.pop()
        if file in seen:
            continue
        seen.add(file)
        pending += [f for f in _imported_files(file) if f.is_relative_to(folder) and f not in seen]
    return seen


def _imported_files(file: Path) -> list[Path]:
    """The source files of the modules ``file`` imports that can be found (relative or in sys.modules)."""
    found = []
    for node in ast.walk(ast.parse(file.read_bytes(), str(file))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = file.parent
                for _ in range(node.level - 1):
                    base = base.parent
                stem = base.joinpath(*node.module.split(".")) if node.module else base
                candidates = [stem.with_suffix(".py"), stem / "__init__.py"]
                candidates += [stem / f"{alias.name}.py" for alias in node.names]
                found += [c.resolve() for c in candidates if c.is_file()]
            else:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                found += _module_files(names)
        elif isinstance(node, ast.Import):
            found += _module_files(alias.name for alias in node.names)
    return found


def _module_files(names) -> list[Path]:
    files = []
    for name in names:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file:
            files.append(Path(file).resolve())
    return files


class _SourcesStamped:
    """Mixin for a Numba cache class: the index's freshness stamp also holds :func:`sources_digest`.

    The digest is taken when the index is first read or written (the kernel's first call in the
    process), not when the kernel is declared: importing gpuimg parses no source, and a process pays
    only for the kernels it runs.
    """

    #: Appended to the cache files' names: a second compilation of the same function with other
    #: options (Numba's index does not tell them apart) keeps its own files.
    variant = ""

    def __init__(self, py_func):
        super().__init__(py_func)
        index = self._cache_file
        self._cache_file = _lazily_stamped(type(index))(
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base + (f"-{self.variant}" if self.variant else ""),
            source_stamp=index._source_stamp,
            source=inspect.getfile(py_func),
        )


@functools.cache
def _lazily_stamped(index_class: type) -> type:
    """A subclass of Numba's index file class whose stamp is ``(Numba's stamp, sources digest)``,
    the digest taken on first use."""

    class LazilyStamped(index_class):
        def __init__(self, *, source: str, **kwargs):
            self._kernel_source = source
            super().__init__(**kwargs)

        @property
        def _source_stamp(self):
            return self._numba_stamp, sources_digest(self._kernel_source)

        @_source_stamp.setter
        def _source_stamp(self, stamp):
            self._numba_stamp = stamp

    LazilyStamped.__name__ = LazilyStamped.__qualname__ = f"LazilyStamped{index_class.__name__}"
    return LazilyStamped


@functools.cache
def _stamped(cache_class: type, variant: str) -> type:
    name = f"SourcesStamped{cache_class.__name__}{variant.capitalize()}"
    return type(name, (_SourcesStamped, cache_class), {"variant": variant})


def enable_cache(dispatcher, cache_class: type, variant: str = "") -> bool:
    """Give ``dispatcher`` Numba's on-disk cache, stamped with its sources (:func:`sources_digest`).

    Parameters
    ----------
    dispatcher : numba dispatcher
        A ``numba.njit`` or ``numba.cuda.jit`` dispatcher.
    cache_class : type
        Numba's cache class for that target (``FunctionCache`` or ``CUDACache``).
    variant : str
        Appended to the cache files' names, for a second compilation of the same function with
        other options (the serial twin of a parallel driver).

    Returns
    -------
    bool
        Whether the cache is on; False, with one warning per process, where no cache folder is writable
        or the kernel's source is not a file (Numba then finds no cache locator).
    """
    try:
        dispatcher._cache = _stamped(cache_class, variant)(dispatcher.py_func)
    except (RuntimeError, OSError) as error:  # no writable cache folder, or no source file
        _warn_uncached(error)
        return False
    return True


def is_cached(dispatcher) -> bool:
    """Whether ``dispatcher`` uses the kernels' stamped on-disk cache."""
    return isinstance(getattr(dispatcher, "_cache", None), _SourcesStamped)


def on_disk(dispatcher) -> bool:
    """Whether ``dispatcher`` has compiled code in the on-disk cache for its current sources, so that
    its first call in a process loads it instead of compiling.

    Examples
    --------
    >>> import numba
    >>> on_disk(numba.njit(lambda x: x))  # not declared with the kernels' cache
    False
    """
    cache = getattr(dispatcher, "_cache", None)
    return isinstance(cache, _SourcesStamped) and bool(cache._cache_file._load_index())


def _warn_uncached(error: RuntimeError) -> None:
    """Warn once per process that the kernels are not cached."""
    if _warned:
        return
    _warned.append(True)
    warnings.warn(
        f"gpuimg.kernels: no on-disk cache for the kernels ({error}); they will compile again in every "
        "process. Set NUMBA_CACHE_DIR to a writable folder to cache them.",
        RuntimeWarning,
        stacklevel=4,
    )


_warned: list[bool] = []
