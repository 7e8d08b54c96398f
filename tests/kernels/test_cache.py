"""gpuimg.kernels.cache: every kernel is cached on disk, found again by a fresh process, recompiled
when a source it reads changes (also in another module), and cached in the user's folder when the
package's own folder cannot be written."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numba
import pytest
from numba.core.caching import CacheImpl, FunctionCache

import gpuimg.kernels
from gpuimg.kernels import FAMILIES, load_all
from gpuimg.kernels.cache import enable_cache, is_cached, source_files, sources_digest
from gpuimg.kernels.registry import CPU_DRIVERS, CpuDriver

KERNELS_DIR = Path(gpuimg.kernels.__file__).parent


def _dispatchers(module):
    """The module's Numba CPU dispatchers: its helpers, and its drivers' (behind :class:`CpuDriver`)."""
    values = [v.dispatcher if isinstance(v, CpuDriver) else v for v in vars(module).values()]
    return [
        value
        for value in values
        if isinstance(value, numba.core.registry.CPUDispatcher)
        and value.py_func.__module__ == module.__name__
    ]


def test_every_cpu_driver_is_cached_and_every_helper_compiled_into_one():
    """A new family's driver declared with a bare numba.njit(parallel=True) is caught here. Only
    helpers may go without the stamped cache: inlined ones (inline="always") and those a cached
    driver calls, directly or through other helpers (compiled into, and cached with, the driver)."""
    load_all()
    for family in FAMILIES:
        module = sys.modules[f"gpuimg.kernels.{family}"]
        dispatchers = _dispatchers(module)
        by_name = {d.py_func.__name__: d for d in dispatchers}
        pending = [d for d in dispatchers if is_cached(d)]
        called = set()
        while pending:
            names = set(pending.pop().py_func.__code__.co_names) - called
            called |= names
            pending += [by_name[name] for name in names if name in by_name]
        for dispatcher in dispatchers:
            name = f"{module.__name__}.{dispatcher.py_func.__name__}"
            if is_cached(dispatcher):
                assert CPU_DRIVERS[name].dispatcher is dispatcher
                continue
            assert dispatcher.targetoptions.get("inline") == "always" or (
                dispatcher.py_func.__name__ in called and not dispatcher.targetoptions.get("parallel")
            ), f"{name}: declare CPU drivers with @cpu_kernel (cached on disk)"


def test_every_cuda_kernel_is_cached():
    """In a subprocess with the simulator off (the simulator has nothing to cache)."""
    code = (
        "import json; from gpuimg.kernels import load_all; from gpuimg.kernels.cache import is_cached;"
        "print(json.dumps({n: is_cached(k.dispatcher) for n, k in load_all().items()}))"
    )
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    cached = json.loads(done.stdout)
    assert "gpuimg.kernels.gradient._gradient_cuda" in cached
    assert [name for name, ok in cached.items() if not ok] == []


_DRIVER = """
import numba
from gpuimg.kernels.registry import cpu_kernel
from .helper import VALUE, value

@cpu_kernel
def total(out):
    for i in numba.prange(out.size):
        out[i] = value() + VALUE
"""

_RUN = """
import json, sys
import numpy as np
import numba.core.caching as caching
if {read_only}:
    def refuse(self):
        raise OSError("read-only")
    locator = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator  # Numba 0.60: _
    locator.ensure_cache_path = refuse
sys.path.insert(0, {root!r})
from kernelpkg.driver import total
out = np.zeros(4, dtype=np.int64)
total(out)
hits, misses = (sum(counts.values()) for counts in (total.stats.cache_hits, total.stats.cache_misses))
print(json.dumps([int(out[0]), hits, misses, total.stats.cache_path]))
"""


def _package(root: Path, helper_value: int, constant: int) -> None:
    package = root / "kernelpkg"
    package.mkdir(parents=True, exist_ok=True)
    if not (package / "driver.py").exists():  # written once: Numba itself sees a change to it
        (package / "__init__.py").write_text("")
        (package / "driver.py").write_text(_DRIVER)
    helper = f"import numba\nVALUE = {constant}\n\n@numba.njit(inline='always')\ndef value():\n"
    helper += f"    return {helper_value}\n"
    (package / "helper.py").write_text(helper)


def _run(root: Path, env: dict, read_only: bool = False) -> list:
    code = _RUN.format(root=str(root), read_only=read_only)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def clean_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")
    return env


def test_a_fresh_process_loads_the_driver_and_an_edited_helper_recompiles_it(tmp_path, clean_env):
    """Numba alone checks only the driver's own file: the helper's new value (another module, inlined)
    would be ignored and the stale machine code loaded."""
    root = tmp_path / "src"
    _package(root, helper_value=1, constant=10)
    assert _run(root, clean_env)[:3] == [11, 0, 1]
    assert _run(root, clean_env)[:3] == [11, 1, 0]
    _package(root, helper_value=2, constant=10)
    assert _run(root, clean_env)[:3] == [12, 0, 1]
    _package(root, helper_value=2, constant=30)
    assert _run(root, clean_env)[:3] == [32, 0, 1]
    assert _run(root, clean_env)[:3] == [32, 1, 0]


def test_a_read_only_package_caches_in_the_users_folder(tmp_path, clean_env):
    """The package folder refuses writes (as site-packages owned by root does; simulated because this
    test may run as root): the cache goes to $XDG_CACHE_HOME/numba and a second process finds it."""
    root = tmp_path / "src"
    _package(root, helper_value=1, constant=0)
    first = _run(root, clean_env, read_only=True)
    second = _run(root, clean_env, read_only=True)
    assert first[:3] == [1, 0, 1] and second[:3] == [1, 1, 0]
    assert Path(second[3]).is_relative_to(tmp_path / "user-cache" / "numba")
    assert not (root / "kernelpkg" / "__pycache__").exists() or not any(
        (root / "kernelpkg" / "__pycache__").glob("*.nbi")
    )


def test_no_writable_cache_folder_warns_and_compiles_anyway(monkeypatch):
    monkeypatch.setattr(CacheImpl, "_locator_classes", [])
    monkeypatch.setattr("gpuimg.kernels.cache._warned", [])
    dispatcher = numba.njit(lambda x: x + 1)
    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        assert not enable_cache(dispatcher, FunctionCache)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        assert not enable_cache(numba.njit(lambda x: x - 1), FunctionCache)
    assert dispatcher(1) == 2


def test_sources_digest_follows_imports_of_the_package_only(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "base.py").write_text("A = 1\n")
    (package / "middle.py").write_text("from .base import A\n")
    (package / "top.py").write_text("import numpy\nfrom . import middle\n")
    (package / "other.py").write_text("B = 2\n")
    top = str(package / "top.py")
    before = sources_digest.__wrapped__(top)
    (package / "other.py").write_text("B = 3\n")
    assert sources_digest.__wrapped__(top) == before
    (package / "base.py").write_text("A = 2\n")
    assert sources_digest.__wrapped__(top) != before


def test_the_gradient_kernel_sources_cover_its_boundary_helpers():
    names = {path.name for path in source_files(str(KERNELS_DIR / "gradient.py"))}
    assert {"gradient.py", "boundary.py", "registry.py"} <= names
    assert "median.py" not in names


def test_the_sources_digest_is_taken_on_a_kernels_first_call_not_on_import():
    """Importing gpuimg declares every kernel but parses no source; running one kernel digests the
    sources of its own module only."""
    code = (
        "import numpy as np, gpuimg, gpuimg.kernels.cache as c; seen = [];"
        "digest = c.sources_digest; c.sources_digest = lambda path: seen.append(path) or digest(path);"
        "before = digest.cache_info().currsize;"
        "gpuimg.preprocess.median_filter(np.zeros((4, 4, 4), np.float32), 3);"
        "print(before, sorted({p.rsplit('/', 1)[-1] for p in seen}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(" ", 1) == ["0", "['median.py']\n"]


def test_on_disk_tells_whether_a_kernel_will_load_or_compile(tmp_path):
    code = (
        "import numpy as np, gpuimg; from gpuimg.kernels.cache import on_disk;"
        "from gpuimg.kernels import load_all; from gpuimg.kernels.registry import CPU_DRIVERS as d;"
        "load_all(); k = d['gpuimg.kernels.median._median_cpu'];"
        "before = on_disk(k); gpuimg.preprocess.median_filter(np.zeros((4, 4, 4), np.float32), 3);"
        "print(before, on_disk(k), sum(k.stats.cache_hits.values()))"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    command = [sys.executable, "-c", code]
    runs = [subprocess.run(command, capture_output=True, text=True, env=env, timeout=300) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    assert [run.stdout.split() for run in runs] == [["False", "True", "0"], ["True", "True", "1"]]
