"""The 5³ median per dtype: gpuimg's kernel against the device's ``ndimage.median_filter``, in one run.

    python benchmarks/bench_median.py [--device auto|cpu|cuda] [--size 5] [--side 128] [--repeat 5]

Prints, for int16, uint16, float32 and float64 noise of ``side``³ voxels (normal, sd 100, with
ties), the peer's time (SciPy on the CPU, cupyx on CUDA), gpuimg's, the ratio gpuimg / peer (below
1: gpuimg faster), gpuimg's voxels per second, and whether the two results are equal (they must
be: both are exact). Each time is the best of ``--repeat`` runs after a warm-up run (which also
compiles the kernels); on CUDA the device is synchronised before the clock stops. The 5³ CUDA
kernel's design (:mod:`gpuimg.kernels.median`) is chosen from its compiled resources; this script is
what measures it on a GPU.
"""

import argparse
import sys
from functools import partial

import numpy as np
from timing import best_time

import gpuimg
from gpuimg.backend import namespace_for
from gpuimg.preprocess import median_filter

DTYPES = ("int16", "uint16", "float32", "float64")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--size", type=int, default=5, choices=[3, 5], help="window side [voxels]")
    parser.add_argument("--side", type=int, default=128, help="the volume's side [voxels]")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    ns = namespace_for(args.device)
    sync = ns.xp.cuda.Device().synchronize if ns.device == "cuda" else None
    shape = (args.side,) * 3
    print(f"gpuimg {gpuimg.__version__} on {ns.device}: median {args.size}^3 of {args.side}^3 voxels")
    header = f"{'dtype':<8} {'peer s':>9} {'gpuimg s':>9} {'ratio':>6} {'Mvoxel/s':>9}  equal"
    print(header)
    print("-" * len(header))
    unequal = 0
    for dtype in DTYPES:
        noise = np.random.default_rng(0).normal(0.0, 100.0, shape).round(-1).astype(dtype)  # ties
        image = gpuimg.to_device(noise, ns.device)
        peer_s, want = best_time(partial(ns.ndi.median_filter, image, args.size), args.repeat, sync)
        ours_s, got = best_time(partial(median_filter, image, args.size), args.repeat, sync)
        equal = bool(np.array_equal(gpuimg.to_numpy(got), gpuimg.to_numpy(want)))
        unequal += not equal
        rate = noise.size / ours_s / 1e6
        print(f"{dtype:<8} {peer_s:>9.4f} {ours_s:>9.4f} {ours_s / peer_s:>6.2f} {rate:>9.1f}  {equal}")
    return 1 if unequal else 0


if __name__ == "__main__":
    sys.exit(main())
