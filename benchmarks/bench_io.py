"""read_dicom against SimpleITK's ImageSeriesReader on one 512 x 512 x 300 int16 CT series.

A script, not a test: ``python benchmarks/bench_io.py [--slices 300] [--repeat 3] [--folder DIR]``. It
writes the series once with :func:`gpuimg.write_dicom` (a phantom CT), reads it with each reader once
to warm up and then ``--repeat`` times, taking the best (files in the page cache from writing, so both
read from memory), checks both give the same voxels and prints the times and their ratio.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--folder", type=Path, help="where to write the series (default: a temporary folder)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch) / "ct"
        start = time.perf_counter()
        ct = ct_phantom((args.slices, 512, 512), (1.0, 0.7, 0.7), seed=0)
        gpuimg.write_dicom(ct, folder)
        print(f"wrote {args.slices} slices of 512 x 512 int16 in {time.perf_counter() - start:.2f} s")

        ours_s, ours = best_time(lambda: gpuimg.read_dicom(folder, device=args.device), args.repeat)
        sitk_s, theirs = best_time(lambda: _sitk_read(folder), args.repeat)

        list_s, found = best_time(lambda: gpuimg.list_series(folder), args.repeat)
        print(f"gpuimg.list_series (headers of {found[0].n_slices} files, 1 series): {list_s:.3f} s")
        same = np.array_equal(gpuimg.to_numpy(ours.data), theirs)
        print(f"gpuimg.read_dicom ({ours.device}): {ours_s:.3f} s")
        print(f"SimpleITK ImageSeriesReader: {sitk_s:.3f} s")
        print(f"ratio gpuimg / SimpleITK: {ours_s / sitk_s:.2f}  (same voxels: {same})")


if __name__ == "__main__":
    main()
