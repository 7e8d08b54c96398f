"""Binary opening by a ball of 2 to 20 mm: gpuimg against SciPy's ``binary_opening``, in one run.

    python benchmarks/bench_morphology_ball.py [--device cpu] [--shape 64 128 128]
        [--spacing 1 1 1] [--radii 2 3 4 5 6 8 10 12 15 20] [--repeat 3] [--max-table-gb 2]

Prints, for each radius [mm], the ball's voxels, SciPy's time (``scipy.ndimage.binary_opening`` with
the explicit ball as ``structure``; on CUDA, cupyx's), gpuimg's (``opening(mask, "ball",
radius_mm=..., mode="constant")``, the same operation), the ratio gpuimg / peer (below 1: gpuimg
faster), and whether the results are equal (they must be: both are exact). SciPy's binary
morphology first tabulates ``(voxels of the ball's box) x (voxels of the ball)`` offsets of 8 bytes
(for a radius of 20 voxels 19 GB, a bare MemoryError); on the CPU a radius whose table exceeds
``--max-table-gb`` is not run with SciPy, and its time says so. The mask is a smoothed random field
above its median: blobs of a few mm. Each time is the best of ``--repeat`` runs after a warm-up run.
"""

import argparse
import math
import sys
from functools import partial

import numpy as np
import scipy.ndimage
from timing import best_time

import gpuimg
from gpuimg.backend import namespace_for
from gpuimg.morphology import footprint, opening


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 128, 128])
    parser.add_argument("--spacing", type=float, nargs=3, default=[1.0, 1.0, 1.0], help="[mm]")
    parser.add_argument("--radii", type=float, nargs="+", default=[2, 3, 4, 5, 6, 8, 10, 12, 15, 20])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-table-gb", type=float, default=2.0)
    args = parser.parse_args(argv)

    ns = namespace_for(args.device)
    sync = ns.xp.cuda.Device().synchronize if ns.device == "cuda" else None
    field = scipy.ndimage.gaussian_filter(np.random.default_rng(0).random(args.shape), 3.0)
    mask = gpuimg.to_device(field > np.median(field), ns.device)
    spacing = tuple(args.spacing)
    shape = "x".join(map(str, args.shape))
    print(
        f"gpuimg {gpuimg.__version__} on {ns.device}: binary opening of a {shape} mask, spacing {spacing} mm"
    )
    header = f"{'radius mm':>9} {'ball':>7} {'peer s':>9} {'gpuimg s':>9} {'ratio':>6}  equal"
    print(header)
    print("-" * len(header))
    unequal = 0
    for radius in args.radii:
        ball = footprint("ball", radius_mm=radius, spacing=spacing)
        ours_s, got = best_time(
            partial(opening, mask, "ball", radius_mm=radius, spacing=spacing, mode="constant"),
            args.repeat,
            sync,
        )
        table_gb = 8 * math.prod(ball.shape) * int(ball.sum()) / 1e9
        if ns.device == "cpu" and table_gb > args.max_table_gb:
            print(f"{radius:>9g} {int(ball.sum()):>7} {f'({table_gb:.0f} GB)':>9} {ours_s:>9.3f}")
            continue
        structure = ns.xp.asarray(ball)
        peer_s, want = best_time(partial(ns.ndi.binary_opening, mask, structure=structure), args.repeat, sync)
        equal = bool(np.array_equal(gpuimg.to_numpy(got), gpuimg.to_numpy(want)))
        unequal += not equal
        ratio = ours_s / peer_s
        print(f"{radius:>9g} {int(ball.sum()):>7} {peer_s:>9.3f} {ours_s:>9.3f} {ratio:>6.2f}  {equal}")
    return 1 if unequal else 0


if __name__ == "__main__":
    sys.exit(main())
