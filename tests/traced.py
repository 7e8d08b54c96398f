"""The most memory a call holds at once, as tracemalloc counts it (every allocation through Python's
and NumPy's allocators), for the tests that bound a function's memory."""

import tracemalloc


def traced_peak(call):
    """``(result, peak)``: ``call()``'s result and the most bytes it held at once above what was held
    when it started."""
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    return result, peak
