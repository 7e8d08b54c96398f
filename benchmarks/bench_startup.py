"""Start-up cost, as a new process meets it: first call against second call, the demo, cold compiles.

    python benchmarks/bench_startup.py [--device cpu|cuda] [--side 128] [--only NAME ...]
                                       [--demo-studies 40] [--skip-cold] [--skip-demo] [--json FILE]

Three measurements, each in fresh Python processes:

1. **First against second call** of every operation of benchmarks/operations.py (compare.py's rows),
   after one earlier process has run them all (so the kernels are in Numba's on-disk cache, as on any
   machine after its first run). One process per operation: it builds the input, then times the
   first call and the second. The goal is a first call at most 0.5 s slower than the second.
   ``--side`` shrinks the random inputs (a cube of that side instead of 256) to keep the run short;
   the start-up cost does not depend on the size. Operations with an input of their own (a sphere
   of a given radius, drawn circles, blobs) keep compare.py's shapes.
2. **`gpuimg demo`** wall time with the cache warm (an earlier run compiled everything), in a new
   output folder so that no study is reused.
3. **Cold compile time per kernel family**: ``gpuimg.kernels.warmup`` of one family for float32, in a
   process whose ``NUMBA_CACHE_DIR`` is a new empty folder (so nothing is loaded from a cache).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

_FIRST_SECOND = """
import json, sys, time
sys.path.insert(0, {here!r})
import numpy as np
from dataclasses import replace
from operations import OPERATIONS
from gpuimg.backend import namespace_for
ns = namespace_for({device!r})
sync = ns.xp.cuda.Device().synchronize if ns.device == "cuda" else (lambda: None)
rows = []
for op in OPERATIONS:
    if {only!r} and op.name not in {only!r}:
        continue
    if {side} and op.build is None:  # an input of its own (a sphere of given radius...) keeps its shape
        op = replace(op, shape=tuple(min(n, {side}) for n in op.shape))
    image = op.make_input(ns)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        op.ours(image)
        sync()
        times.append(time.perf_counter() - start)
    rows.append({{"operation": op.name, "input": "x".join(map(str, op.shape)) + " " + op.dtype,
                  "first_s": times[0], "second_s": times[1]}})
print(json.dumps(rows))
"""


def _python(code: str, env: dict | None = None, timeout: float = 1800) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-4000:])
    return done.stdout.splitlines()[-1]


def operation_names() -> list[str]:
    sys.path.insert(0, str(HERE))
    from operations import OPERATIONS

    return [op.name for op in OPERATIONS]


def first_and_second(device: str, side: int, only: list[str] | None = None) -> list[dict]:
    """One earlier process runs every operation; then one fresh process per operation."""
    names = [name for name in operation_names() if not only or name in only]
    for name in names:  # the earlier run (one process per operation: one may fail)
        try:
            _python(_FIRST_SECOND.format(here=str(HERE), device=device, side=side, only=[name]))
        except RuntimeError:
            pass
    rows = []
    for name in names:
        start = time.perf_counter()
        code = _FIRST_SECOND.format(here=str(HERE), device=device, side=side, only=[name])
        try:
            (row,) = json.loads(_python(code))
        except RuntimeError as error:  # an operation broken in this checkout: say so, measure the rest
            print(f"{name:<22} failed: {str(error).strip().splitlines()[-1]}", flush=True)
            rows.append({"operation": name, "error": str(error).strip().splitlines()[-1]})
            continue
        row["process_s"] = time.perf_counter() - start
        row["extra_s"] = row["first_s"] - row["second_s"]
        rows.append(row)
        print(
            f"{row['operation']:<22} {row['input']:<20} first {row['first_s']:8.3f} s  second "
            f"{row['second_s']:8.3f} s  first - second {row['extra_s']:+7.3f} s",
            flush=True,
        )
    return rows


def demo_wall(device: str, studies: int) -> dict:
    """`gpuimg demo` twice in new folders: the first run warms the cache, the second is timed."""
    times = []
    for _ in range(2):
        with tempfile.TemporaryDirectory() as folder:
            command = [sys.executable, "-m", "gpuimg.cli", "demo", "--out", f"{folder}/demo"]
            command += ["--studies", str(studies), "--device", device]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-4000:])
            times.append(time.perf_counter() - start)
    print(f"gpuimg demo ({studies} studies): {times[0]:.1f} s (earlier run), {times[1]:.1f} s (warm cache)")
    return {"studies": studies, "earlier_run_s": times[0], "warm_cache_s": times[1]}


def cold_compiles(device: str) -> list[dict]:
    """Each family compiled for float32 in a process with an empty cache folder."""
    from gpuimg.kernels.warmup import TASKS

    rows = []
    code = (
        "import json; from gpuimg.kernels.warmup import warmup;"
        "steps = warmup([{family!r}], ['float32'], devices=[{device!r}], progress=False);"
        "print(json.dumps(sum(s[3] for s in steps)))"
    )
    for task in TASKS:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            seconds = json.loads(_python(code.format(family=task.families[0], device=device), env))
        rows.append({"task": task.name, "families": list(task.families), "compile_s": seconds})
        print(f"cold compile {task.name:<22} ({', '.join(task.families)}): {seconds:7.1f} s", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--side", type=int, default=128, help="largest side of random inputs (0: compare.py's shapes)"
    )
    parser.add_argument("--only", nargs="+", help="only these operations (first and second call)")
    parser.add_argument("--demo-studies", type=int, default=40)
    parser.add_argument("--skip-cold", action="store_true", help="leave out the cold compile times")
    parser.add_argument("--skip-demo", action="store_true", help="leave out gpuimg demo")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    import numba

    import gpuimg

    print(f"gpuimg {gpuimg.__version__}, numba {numba.__version__}, {os.cpu_count()} cores, {args.device}")
    result = {"device": args.device, "first_and_second": first_and_second(args.device, args.side, args.only)}
    worst = max((r for r in result["first_and_second"] if "extra_s" in r), key=lambda r: r["extra_s"])
    print(f"largest first - second: {worst['extra_s']:.3f} s ({worst['operation']}; goal <= 0.5 s)")
    if not args.skip_demo:
        result["demo"] = demo_wall(args.device, args.demo_studies)
    if not args.skip_cold:
        result["cold_compile"] = cold_compiles(args.device)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
