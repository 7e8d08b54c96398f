"""The one way every benchmark here times a call: the best of several runs after a warm-up run."""

import time
from collections.abc import Callable


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
