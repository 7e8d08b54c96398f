"""``label_chunks`` (``label`` of a Dask mask), this checkout against an earlier revision, same input.

    python benchmarks/bench_label_chunks.py --before REV [--shape 256 512 512] [--chunks 64 256 256] [--zarr]

The mask is the one ``bench_out_of_core.py`` labels (noise smoothed with sigma 3, above its 80th
percentile), held in memory, so that no reading is timed. Times, best of ``--repeat`` runs taken in
turn: ``label_chunks`` (labelling and summarising each chunk, merging the summaries; the labels
stay lazy) of this checkout and of ``--before`` (``git show REV:gpuimg/backend/chunks.py``); and
``scipy.ndimage.label`` of each chunk alone, the part neither can avoid. Checks that both give the
same count, sizes and boxes as ``scipy.ndimage`` on the whole mask.

With ``--zarr``, end to end instead: ``bench_out_of_core.py``'s ``label`` (smoothing, threshold,
``label``, labels written Zarr to Zarr), each run in a fresh process, ``gpuimg.morphology.label``
calling either revision's ``label_chunks`` and ``write_chunked`` either revision's ``row_slices`` (the
runs of rows it computes at a time); wall time and peak RSS.
"""

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import scipy.ndimage as ndi
from timing import revision_file

from gpuimg.backend import chunks

#: Loads the file ``path`` as a module beside this checkout's chunks module.
_LOAD = """
import importlib.util
spec = importlib.util.spec_from_file_location("gpuimg.backend._chunks_before", {path!r})
before = importlib.util.module_from_spec(spec)
spec.loader.exec_module(before)
"""


def _end_to_end(args, before: Path, folder: Path) -> None:
    """``bench_out_of_core.py``'s ``label``, each revision in turn, each run in a fresh process."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_out_of_core

    source = folder / "source.zarr"
    threshold = bench_out_of_core.write_source(source, args.shape, args.chunks)
    swap = _LOAD.format(path=str(before)) + (
        "gpuimg.morphology.labels.label_chunks = before.label_chunks\n"
        "gpuimg.io.chunked.row_slices = before.row_slices\n"
    )
    print(f"mask {'x'.join(map(str, args.shape))}, chunks {'x'.join(map(str, args.chunks))}", flush=True)
    for repeat in range(args.repeat):
        for name in ("before", "after"):
            target = folder / f"{name}-{repeat}.zarr"
            code = bench_out_of_core._OPERATION.format(
                source=str(source), target=str(target), name="label", threshold=threshold
            )
            if name == "before":
                code = code.replace(
                    "import gpuimg\n",
                    "import gpuimg, gpuimg.io.chunked, gpuimg.morphology.labels\n" + swap,
                    1,
                )
            row = bench_out_of_core._run(code)
            print(
                f"{name:<7} label {row['seconds']:7.1f} s   peak RSS {row['peak_rss_gib']:.2f} GiB   "
                f"{row['count']} components",
                flush=True,
            )


def _timed(func):
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the git revision to compare with")
    parser.add_argument("--shape", type=int, nargs=3, default=(256, 512, 512))
    parser.add_argument("--chunks", type=int, nargs=3, default=(64, 256, 256))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--zarr", action="store_true", help="end to end, Zarr to Zarr (see above)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = revision_file(args.before, "gpuimg/backend/chunks.py", Path(folder), "chunks_before.py")
        if args.zarr:
            _end_to_end(args, path, Path(folder))
            return 0
        namespace = {}
        exec(_LOAD.format(path=str(path)), namespace)
        _in_memory(args, namespace["before"])
    return 0


def _in_memory(args, before) -> None:
    rng = np.random.default_rng(0)
    image = ndi.gaussian_filter(rng.standard_normal(args.shape, dtype=np.float32), 3.0)
    mask = image > np.percentile(image, 80)
    structure = ndi.generate_binary_structure(3, 3)
    lazy = da.from_array(mask, chunks=tuple(args.chunks))
    print(
        f"mask {'x'.join(map(str, args.shape))} ({mask.mean():.0%} foreground), chunks "
        f"{'x'.join(map(str, args.chunks))} ({lazy.npartitions}), threads {dask.system.CPU_COUNT}",
        flush=True,
    )
    want, count = ndi.label(mask, structure)
    sizes = np.bincount(want.ravel())[1:]
    boxes = ndi.find_objects(want)
    lows = np.array([[s.start for s in box] for box in boxes])
    highs = np.array([[s.stop for s in box] for box in boxes])
    del want

    runs = {"after": chunks.label_chunks, "before": before.label_chunks}
    for run in runs.values():  # kernels compiled or loaded from the cache, not timed
        run(lazy[:8, :8, :8], structure)
    best = {name: float("inf") for name in [*runs, "ndi.label"]}
    blocks = lazy.to_delayed().ravel()
    for _ in range(args.repeat):
        for name, run in runs.items():
            seconds, found = _timed(functools.partial(run, lazy, structure))
            assert found.count == count, (name, found.count, count)
            np.testing.assert_array_equal(found.sizes, sizes)
            np.testing.assert_array_equal(found.lows, lows)
            np.testing.assert_array_equal(found.highs, highs)
            best[name] = min(best[name], seconds)
        tasks = [dask.delayed(ndi.label)(block, structure) for block in blocks]
        seconds, _ = _timed(functools.partial(dask.compute, *tasks))
        best["ndi.label"] = min(best["ndi.label"], seconds)
    print(f"{count} components; sizes and boxes equal scipy.ndimage's on the whole mask, before and after")
    for name, seconds in best.items():
        what = "scipy.ndimage.label of each chunk alone" if name == "ndi.label" else "label_chunks"
        print(f"{name:<10} {seconds:8.2f} s   {what}")
    print(f"before / after: {best['before'] / best['after']:.1f}")


if __name__ == "__main__":
    sys.exit(main())
