"""Running risky bad-input cases in a child process under a memory limit and a timeout.

A regression that would allocate terabytes or loop for minutes then fails its test (the child dies
or times out) instead of taking the machine down. Each case is a snippet of Python that calls
gpuimg; the child reports, per case, the type name and message of the exception it raised (or
``None`` if it returned).
"""

import json
import os
import subprocess
import sys
import textwrap

_DRIVER = """
import json, resource, sys, traceback
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
cases = json.loads(sys.argv[1])
setup = sys.argv[2]
scope = {{}}
exec(setup, scope)
results = {{}}
for name, code in cases.items():
    try:
        exec(code, dict(scope))
        results[name] = None
    except BaseException as exc:
        results[name] = [type(exc).__name__, str(exc), [c.__name__ for c in type(exc).__mro__]]
    print(json.dumps({{name: results[name]}}), flush=True)
"""


def run_guarded(
    cases: dict[str, str], setup: str = "", *, memory: int = 3 * 1024**3, timeout: float = 120.0
) -> dict[str, list | None]:
    """Run each snippet of ``cases`` after ``setup`` in one child process limited to ``memory`` bytes
    of address space and ``timeout`` seconds; per case, [type name, message, names of its classes]
    or None.

    A case that the child did not reach (it was killed, or ran out of time) is reported as
    ``["Killed", <why>, []]``, so that the test asserting its error type fails.
    """
    env = {**os.environ, "NUMBA_DISABLE_JIT": os.environ.get("NUMBA_DISABLE_JIT", "0")}
    env.pop("GPUIMG_MAX_BYTES", None)
    driver = _DRIVER.format(limit=int(memory))
    try:
        done = subprocess.run(
            [sys.executable, "-c", driver, json.dumps(cases), textwrap.dedent(setup)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        output, why = done.stdout, f"exit code {done.returncode}: {done.stderr[-2000:]}"
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        why = f"timed out after {timeout} s"
    results: dict[str, list | None] = {}
    for line in output.splitlines():
        if line.startswith("{"):
            results.update(json.loads(line))
    return {name: results.get(name, ["Killed", why, []]) for name in cases}
