"""Studies per minute of the demo cohort's feature extraction: gpuimg with 1 and N Dask workers against
PyRadiomics' batch extraction of the same studies, masks and feature classes, in one run.

A script, not a test: ``python benchmarks/bench_cohort.py [--studies 40] [--workers 1 2] [--device cpu]``.
It writes the demo cohort (``gpuimg.datasets.write_demo_cohort``) and each study's mask (the pipeline's
recipe mask, saved as NRRD), then times ``gpuimg run`` with a features-only spec (morphology and
first-order families, bin width 25, no learning) on a warm output-less run per worker count, and
PyRadiomics' ``RadiomicsFeatureExtractor.execute`` over the same images and masks with its shape and
first-order classes (bin width 25). The first gpuimg study compiles kernels: each gpuimg run is
preceded by a warm-up run on a copy of one study. PyRadiomics installs as bench_radiomics.py's
docstring says; without it only gpuimg's rows are printed.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import gpuimg
from gpuimg.cohort import run_pipeline, spec_from_dict
from gpuimg.datasets.demo import write_demo_cohort

SPEC = {
    "input": {"modality": "CT"},
    "mask": {"source": "file", "pattern": "mask.nrrd"},
    "features": {
        "families": ["morphology", "statistics", "histogram"],
        "discretisation": "fbs",
        "bin_width": 25.0,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gpuimg-bench-cohort-"))
    cohort = write_demo_cohort(root, args.studies)
    for study in sorted(cohort.iterdir()):
        ct = gpuimg.read_dicom(study, device="cpu")
        mask = (ct.data > -400).astype(np.uint8)
        gpuimg.write_image(gpuimg.Volume(mask, ct.spacing, ct.origin, ct.direction), study / "mask.nrrd")
    spec = spec_from_dict(SPEC)
    warm = root / "warm"
    shutil.copytree(sorted(cohort.iterdir())[0], warm / "one")
    print(f"{'tool':<28} {'studies':>7} {'seconds':>8} {'studies/min':>12}")
    for workers in args.workers:
        run_pipeline(
            spec, warm, root / f"warm-{workers}", device=args.device, workers=workers, progress=False
        )
        start = time.perf_counter()
        run_pipeline(
            spec, cohort, root / f"out-{workers}", device=args.device, workers=workers, progress=False
        )
        seconds = time.perf_counter() - start
        label = f"gpuimg, {workers} worker(s)"
        print(f"{label:<28} {args.studies:>7} {seconds:>8.1f} {60 * args.studies / seconds:>12.1f}")
    try:
        import SimpleITK as sitk
        from radiomics import featureextractor
    except ImportError:
        print("PyRadiomics is not installed: see benchmarks/bench_radiomics.py for the install step.")
        return
    peer = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
    peer.disableAllFeatures()
    peer.enableFeatureClassByName("firstorder")
    peer.enableFeatureClassByName("shape")
    start = time.perf_counter()
    for study in sorted(cohort.iterdir()):
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(study)))
        peer.execute(reader.Execute(), sitk.ReadImage(str(study / "mask.nrrd")))
    seconds = time.perf_counter() - start
    print(
        f"{'PyRadiomics (batch)':<28} {args.studies:>7} {seconds:>8.1f} {60 * args.studies / seconds:>12.1f}"
    )


if __name__ == "__main__":
    main()
