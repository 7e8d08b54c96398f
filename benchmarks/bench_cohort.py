"""Studies per minute of the demo cohort's feature extraction: gpuimg with 1 and N Dask workers against
PyRadiomics' batch extraction of the same studies, masks and feature classes, in one run.

A script, not a test: ``python benchmarks/bench_cohort.py [--studies 40] [--workers 1 2] [--device cpu]
[--texture]``.

It writes the demo cohort (``gpuimg.datasets.write_demo_cohort``) and each study's mask (voxels above
-400 HU, as NRRD), then runs a features-only spec (morphology, statistics and histogram families, bin
width 25, no learning; with ``--texture`` also GLCM, GLRLM, GLSZM, NGTDM and NGLDM) per worker count,
after a warm-up run on one study (the first run compiles kernels), and prints the manifest's wall
time of the study stage (reading, masks, features; a cluster's start included) and its feature
extraction time. PyRadiomics' ``RadiomicsFeatureExtractor.execute`` then runs over the same DICOM
series and masks, one study after another as its batch mode does, reading and extraction timed apart,
with its shape and first-order classes (with ``--texture`` also glcm, glrlm, glszm, ngtdm and gldm),
bin width 25. PyRadiomics installs as bench_radiomics.py's docstring says; without it only gpuimg's
rows are printed.
"""

import argparse
import logging
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
    parser.add_argument("--texture", action="store_true", help="add the texture families / classes")
    args = parser.parse_args()
    texture = {"glcm": "glcm", "glrlm": "glrlm", "glszm": "glszm", "ngtdm": "ngtdm", "ngldm": "gldm"}
    root = Path(tempfile.mkdtemp(prefix="gpuimg-bench-cohort-"))
    cohort = write_demo_cohort(root, args.studies)
    for study in sorted(cohort.iterdir()):
        ct = gpuimg.read_dicom(study, device="cpu")
        mask = (ct.data > -400).astype(np.uint8)
        gpuimg.write_image(gpuimg.Volume(mask, ct.spacing, ct.origin, ct.direction), study / "mask.nrrd")
    document = {**SPEC, "features": dict(SPEC["features"])}
    if args.texture:
        document["features"]["families"] = SPEC["features"]["families"] + list(texture)
    spec = spec_from_dict(document)
    warm = root / "warm"
    shutil.copytree(sorted(cohort.iterdir())[0], warm / "one")
    print(f"{'tool':<40} {'studies':>7} {'seconds':>8} {'studies/min':>12}")

    def row(label, seconds):
        print(f"{label:<40} {args.studies:>7} {seconds:>8.2f} {60 * args.studies / seconds:>12.1f}")

    for workers in args.workers:
        run_pipeline(
            spec, warm, root / f"warm-{workers}", device=args.device, workers=workers, progress=False
        )
        manifest = run_pipeline(
            spec, cohort, root / f"out-{workers}", device=args.device, workers=workers, progress=False
        )
        times = manifest["time_per_stage_s"]
        row(f"gpuimg, {workers} worker(s): studies, end to end", times["studies (wall, this run)"])
        if workers == 1:
            row("gpuimg: feature extraction alone", times["features (sum over studies)"])
    try:
        import SimpleITK as sitk
        from radiomics import featureextractor
    except ImportError:
        print("PyRadiomics is not installed: see benchmarks/bench_radiomics.py for the install step.")
        return
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    peer = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
    peer.disableAllFeatures()
    for name in ["firstorder", "shape", *(texture.values() if args.texture else [])]:
        peer.enableFeatureClassByName(name)
    reading = extraction = 0.0
    for study in sorted(cohort.iterdir()):
        start = time.perf_counter()
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(study)))
        image, mask = reader.Execute(), sitk.ReadImage(str(study / "mask.nrrd"))
        reading += time.perf_counter() - start
        start = time.perf_counter()
        peer.execute(image, mask)
        extraction += time.perf_counter() - start
    row("PyRadiomics (batch): end to end", reading + extraction)
    row("PyRadiomics: feature extraction alone", extraction)


if __name__ == "__main__":
    main()
