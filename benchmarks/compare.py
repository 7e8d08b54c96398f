"""Side-by-side timing of gpuimg against its peer library, on the same input, in one run.

    python benchmarks/compare.py [--device auto|cpu|cuda] [--repeat 5] [--only NAME] [--json FILE]

Prints one row per operation of benchmarks/operations.py: the peer, its time, gpuimg's time and
the ratio gpuimg / peer (below 1 means gpuimg is faster). Each time is the best of ``--repeat``
runs after one warm-up run (which also compiles gpuimg's kernels); on CUDA the device is
synchronised before the clock stops.
"""

import argparse
import json
import os
import platform
import sys
from functools import partial
from pathlib import Path

import numba
from operations import OPERATIONS
from timing import best_time

import gpuimg
from gpuimg.backend import namespace_for


def machine(ns) -> str:
    if ns.device == "cuda":
        props = ns.xp.cuda.runtime.getDeviceProperties(ns.xp.cuda.Device().id)
        return props["name"].decode()
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", help="run only the operation of this name")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.repeat < 1:  # before any operation runs: the best of no runs is no time
        parser.error(f"--repeat needs at least 1 timed run; got {args.repeat}")
    if args.json is not None and not args.json.parent.is_dir():  # not after minutes of timing
        parser.error(f"--json {args.json}: the folder {args.json.parent} does not exist; create it first")
    names = [op.name for op in OPERATIONS]
    if args.only is not None and args.only not in names:
        parser.error(f"--only {args.only!r} is not an operation; use one of: {', '.join(names)}")

    ns = namespace_for(args.device)
    threads = numba.get_num_threads()
    print(f"gpuimg {gpuimg.__version__} on {ns.device} ({machine(ns)}), numba threads {threads}")
    header = f"{'operation':<22} {'input':<22} {'peer':<40} {'peer s':>8} {'gpuimg s':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    rows = []
    for op in OPERATIONS:
        if args.only and op.name != args.only:
            continue
        image = op.make_input(ns)
        sync = ns.xp.cuda.Device().synchronize if ns.device == "cuda" else None
        peer_s = best_time(partial(op.peer, ns, image), args.repeat, sync)[0]
        ours_s = best_time(partial(op.ours, image), args.repeat, sync)[0]
        shape = "x".join(map(str, op.shape)) + f" {op.dtype}"
        row = {
            "operation": op.name,
            "input": shape,
            "device": ns.device,
            "machine": machine(ns),
            "peer": op.peer_name(ns),
            "peer_s": peer_s,
            "gpuimg_s": ours_s,
            "ratio": ours_s / peer_s,
        }
        rows.append(row)
        print(
            f"{op.name:<22} {shape:<22} {row['peer']:<40} {peer_s:>8.4f} {ours_s:>9.4f} {row['ratio']:>6.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
