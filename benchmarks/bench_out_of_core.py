"""Peak memory of a volume larger than memory going through gpuimg chunk by chunk, Zarr to Zarr.

    python benchmarks/bench_out_of_core.py [--shape 1024 512 512] [--chunks 64 256 256] [--folder DIR]

Writes a float32 volume of ``--shape`` (default 1024 x 512 x 512, 2 GiB: smoothed noise, CT-like
values) to a Zarr store chunk by chunk, then, each in a fresh process, opens it as a Dask array and
writes to a new Zarr store: ``gaussian_filter`` (sigma 2), ``gradient_magnitude``, and ``label`` of
the smoothed volume above a threshold. Prints each one's wall time and the process's peak resident
memory (``ru_maxrss``, the import of gpuimg included), and checks crops that straddle chunk
borders against SciPy on the same crop with a margin (gaussian, gradient).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_OPERATION = """
import json, resource, sys, time
import numpy as np
import gpuimg
lazy = gpuimg.io.open_zarr({source!r})
start = time.perf_counter()
if {name!r} == "gaussian_filter":
    result = gpuimg.preprocess.gaussian_filter(lazy, 2.0)
elif {name!r} == "gradient_magnitude":
    result = gpuimg.edges.gradient_magnitude(lazy)
else:
    found = gpuimg.morphology.label(gpuimg.preprocess.gaussian_filter(lazy, 2.0) > {threshold!r})
    result = found.labels
gpuimg.io.write_chunked(result, {target!r})
seconds = time.perf_counter() - start
extra = {{"count": found.count}} if {name!r} == "label" else {{}}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
print(json.dumps({{"operation": {name!r}, "seconds": seconds, "peak_rss_gib": peak, **extra}}))
"""


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-4000:])
    return json.loads(done.stdout.splitlines()[-1])


def write_source(path: Path, shape, chunks) -> float:
    """The input volume, made and written chunk by chunk; returns the threshold for ``label``."""
    code = f"""
import json, numpy as np, dask.array as da, scipy.ndimage as ndi, gpuimg
noise = da.random.default_rng(0).standard_normal({tuple(shape)!r}, chunks={tuple(chunks)!r}, dtype=np.float32)
smooth = noise.map_overlap(lambda b: ndi.gaussian_filter(b, 3.0), depth=12, boundary="reflect")
ct = smooth * np.float32(2000.0) - np.float32(100.0)
gpuimg.io.write_chunked(ct, {str(path)!r})
sample = np.asarray(ct[: {chunks[0]}].compute())
print(json.dumps(float(np.percentile(sample, 80))))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-4000:])
    return json.loads(done.stdout.splitlines()[-1])


def check_crops(source: Path, folder: Path, chunks) -> dict:
    """Largest difference from SciPy on crops straddling chunk borders (margin beyond the halo)."""
    import numpy as np
    import scipy.ndimage as ndi

    import gpuimg

    image = gpuimg.io.open_zarr(source)
    margin = 12
    worst = {}
    middle = [c * max(1, n // c // 2) for n, c in zip(image.shape, chunks, strict=True)]
    for k, corner in enumerate([chunks, middle]):
        lo = [c - 10 for c in corner]
        hi = [c + 10 for c in corner]
        window = tuple(slice(a - margin, b + margin) for a, b in zip(lo, hi, strict=True))
        inner = tuple(slice(margin, -margin) for _ in lo)
        crop = np.asarray(image[window].compute())
        references = {
            "gaussian_filter": ndi.gaussian_filter(crop, 2.0),
            "gradient_magnitude": np.sqrt(sum(ndi.sobel(crop, axis=a) ** 2 for a in range(3))),
        }
        for name, want in references.items():
            got = np.asarray(gpuimg.io.open_zarr(folder / f"{name}.zarr")[window].compute())
            scale = float(np.abs(want[inner]).max())
            worst[f"{name} crop {k}"] = float(np.abs(got[inner] - want[inner]).max()) / scale
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(1024, 512, 512))
    parser.add_argument("--chunks", type=int, nargs=3, default=(64, 256, 256))
    parser.add_argument("--folder", type=Path, help="where the Zarr stores go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        folder = Path(folder)
        source = folder / "source.zarr"
        start = time.perf_counter()
        threshold = write_source(source, args.shape, args.chunks)
        size = 4 * args.shape[0] * args.shape[1] * args.shape[2] / 2**30
        shape, chunks = "x".join(map(str, args.shape)), "x".join(map(str, args.chunks))
        seconds = time.perf_counter() - start
        print(
            f"input {shape} float32 ({size:.2f} GiB), chunks {chunks}: written in {seconds:.1f} s", flush=True
        )
        rows = []
        for name in ("gaussian_filter", "gradient_magnitude", "label"):
            code = _OPERATION.format(
                source=str(source), target=str(folder / f"{name}.zarr"), name=name, threshold=threshold
            )
            row = _run(code)
            rows.append(row)
            extra = f", {row['count']} components" if "count" in row else ""
            print(f"{name:<20} {row['seconds']:7.1f} s   peak RSS {row['peak_rss_gib']:.2f} GiB{extra}")
        crops = check_crops(source, folder, args.chunks)
        for name, error in crops.items():
            print(f"{name:<30} largest difference / largest value: {error:.1e}")
    if args.json:
        result = {"shape": args.shape, "chunks": args.chunks, "rows": rows, "crops": crops}
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
