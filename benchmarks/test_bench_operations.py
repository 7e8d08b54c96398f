"""pytest-benchmark suite: every operation of operations.py, gpuimg and its peer, on the present device.

    python -m pytest benchmarks --benchmark-group-by=param:operation

Not part of the test suite (which never times anything); see compare.py for the ratio table.
"""

import pytest
from operations import OPERATIONS

from gpuimg.backend import namespace_for


@pytest.fixture(scope="module")
def ns():
    return namespace_for("auto")


def _run(benchmark, ns, func):
    if ns.device == "cuda":

        def func_synchronised():
            func()
            ns.xp.cuda.Device().synchronize()

        func()
        benchmark(func_synchronised)
    else:
        func()
        benchmark(func)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_gpuimg(benchmark, ns, operation):
    image = operation.make_input(ns)
    _run(benchmark, ns, lambda: operation.ours(image))


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_peer(benchmark, ns, operation):
    image = operation.make_input(ns)
    _run(benchmark, ns, lambda: operation.peer(ns, image))
