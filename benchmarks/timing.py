"""The one way every benchmark here times a call: the best of several runs after a warm-up run; and
the one way a benchmark takes a module of an earlier revision to compare with."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def best_time(func: Callable[[], object], repeat: int, synchronize: Callable[[], None] | None = None):
    """Best wall time of ``func()`` over ``repeat`` runs after one warm-up run [s], and its result.

    The warm-up also compiles Numba kernels and fills caches, for gpuimg and its peer alike.
    ``synchronize`` (a GPU's) is called before each clock stops, so queued device work counts.
    """
    result = func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        if synchronize is not None:
            synchronize()
        times.append(time.perf_counter() - start)
    return min(times), result


def revision_file(revision: str, path: str, folder: Path, name: str) -> Path:
    """The checkout's file ``path`` (relative to its root) as it was at ``revision``, written to
    ``folder / name`` (to be loaded as a module beside this checkout's)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    written = folder / name
    written.write_text(source)
    return written
