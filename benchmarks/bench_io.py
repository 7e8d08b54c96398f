"""read_dicom against SimpleITK's ImageSeriesReader on one 512 x 512 x 300 int16 CT series; list_series
on a generated cohort of 10,000 files.

A script, not a test: ``python benchmarks/bench_io.py [--slices 300] [--repeat 3] [--folder DIR]
[--cohort 100 100]``. It writes the series once with :func:`gpuimg.write_dicom` (a phantom CT), reads
it with each reader once to warm up and then ``--repeat`` times, taking the best (files in the page
cache from writing, so both read from memory), checks both give the same voxels and prints the times
and their ratio, and the floor: the pixel bytes alone copied into a new volume. Then it writes
``--cohort SERIES SLICES`` (100 series of 100 slices of 64 x 64 by default, one folder a series) and
times :func:`gpuimg.list_series` over the whole tree, in files per second, beside SimpleITK's GDCM
series scan of the same folders (``GetGDCMSeriesIDs``, which reads the headers and groups them,
without checking geometry).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from timing import best_time

import gpuimg
from gpuimg.datasets import ct_phantom


def _sitk_read(folder: Path) -> np.ndarray:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def _copy_floor(folder: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """The least read_dicom must do: each file's pixels read straight into a new int16 volume.

    One thread reads each file's last slice-sized bytes (its pixels), with no header parsing, no
    checks and no rescale.
    """
    volume = np.empty(shape, np.int16)
    for k, path in enumerate(sorted(folder.iterdir())):
        with open(path, "rb", buffering=0) as file:
            file.seek(-volume[k].nbytes, 2)
            file.readinto(memoryview(volume[k]).cast("B"))
    return volume


def _write_cohort(folder: Path, n_series: int, n_slices: int) -> list[Path]:
    """``n_series`` series of ``n_slices`` random 64 x 64 int16 slices, one folder each."""
    rng = np.random.default_rng(0)
    folders = []
    for k in range(n_series):
        data = rng.integers(-1024, 3071, (n_slices, 64, 64)).astype(np.int16)
        folders.append(folder / f"patient{k:03d}" / "ct")
        gpuimg.write_dicom(gpuimg.Volume(data, (2.0, 0.8, 0.8)), folders[-1], patient_id=f"P{k:03d}")
    return folders


def _series(args, scratch: Path) -> None:
    folder = args.folder or scratch / "ct"
    start = time.perf_counter()
    ct = ct_phantom((args.slices, 512, 512), (1.0, 0.7, 0.7), seed=0)
    gpuimg.write_dicom(ct, folder)
    print(f"wrote {args.slices} slices of 512 x 512 int16 in {time.perf_counter() - start:.2f} s")

    ours_s, ours = best_time(lambda: gpuimg.read_dicom(folder, device=args.device), args.repeat)
    sitk_s, theirs = best_time(lambda: _sitk_read(folder), args.repeat)

    floor_s, _ = best_time(lambda: _copy_floor(folder, theirs.shape), args.repeat)
    list_s, found = best_time(lambda: gpuimg.list_series(folder), args.repeat)
    print(f"gpuimg.list_series (headers of {found[0].n_slices} files, 1 series): {list_s:.3f} s")
    same = np.array_equal(gpuimg.to_numpy(ours.data), theirs)
    print(f"gpuimg.read_dicom ({ours.device}): {ours_s:.3f} s")
    print(f"SimpleITK ImageSeriesReader: {sitk_s:.3f} s")
    print(f"ratio gpuimg / SimpleITK: {ours_s / sitk_s:.2f}  (same voxels: {same})")
    print(
        f"floor, the pixel bytes ({theirs.nbytes / 2**20:.0f} MiB) read into a new volume by one thread: "
        f"{floor_s:.3f} s; read_dicom / floor: {ours_s / floor_s:.2f}"
    )


def _cohort(args, scratch: Path) -> None:
    n_series, n_slices = args.cohort
    root = scratch / "cohort"
    start = time.perf_counter()
    folders = _write_cohort(root, n_series, n_slices)
    n_files = n_series * n_slices
    took = time.perf_counter() - start
    print(f"wrote a cohort of {n_series} series x {n_slices} slices of 64 x 64 in {took:.1f} s")

    ours_s, found = best_time(lambda: gpuimg.list_series(root), args.repeat)
    assert len(found) == n_series and all(s.n_slices == n_slices and s.problem is None for s in found)
    sitk_s, ids = best_time(
        lambda: [sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(f)) for f in folders], args.repeat
    )
    assert sum(len(i) for i in ids) == n_series
    print(f"gpuimg.list_series ({n_files} files): {ours_s:.2f} s, {n_files / ours_s:.0f} files/s")
    print(f"SimpleITK GetGDCMSeriesIDs (same folders): {sitk_s:.2f} s, {n_files / sitk_s:.0f} files/s")
    print(f"ratio gpuimg / SimpleITK: {ours_s / sitk_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--folder", type=Path, help="where to write the series (default: a temporary folder)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cohort",
        type=int,
        nargs=2,
        default=(100, 100),
        metavar=("SERIES", "SLICES"),
        help="the list_series cohort: series and slices per series (0 0 skips it)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.slices:
            _series(args, Path(scratch))
        if args.cohort[0] and args.cohort[1]:
            _cohort(args, Path(scratch))


if __name__ == "__main__":
    main()
