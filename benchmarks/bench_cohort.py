"""Studies per minute of the demo cohort's feature extraction: gpuimg with 1 and N Dask workers against
PyRadiomics' batch extraction of the same studies, masks and feature classes, in one run.

A script, not a test: ``python benchmarks/bench_cohort.py [--studies 200] [--workers 1 2] [--repeat 3]
[--device cpu] [--texture]``.

It writes the demo cohort (``gpuimg.datasets.write_demo_cohort``, 32 x 48 x 48 CT crops, one DICOM
file per slice) and each study's mask (voxels above -400 HU, as NRRD beside the slices). Both tools
then take the same inputs, the DICOM slices and the NRRD mask of each study, with bin width 25:

- gpuimg: ``run_pipeline`` with a features-only spec (morphology, statistics and intensity
  histogram families; with ``--texture`` also GLCM, GLRLM, GLSZM, NGTDM and NGLDM), after a warm-up
  run (kernels loaded). "end to end" is the manifest's wall time of the study stage: finding each
  study's series (its headers), reading it, reading and checking the mask, the features, a preview
  for the report, storing each study's result; not the tables, the report and the manifest written
  after. With N workers, "with start-up" is a fresh ``run_pipeline(workers=N)`` (the LocalCluster's
  start included); "steady state" runs on a cluster started and warmed beforehand
  (``scheduler=``), its connection excluded. "features alone" sums ``extract``'s time per study.
- PyRadiomics: ``RadiomicsFeatureExtractor.execute`` per study, one after another as its batch mode
  does (``--jobs N``: N processes, as ``pyradiomics --jobs N``), with its shape and first-order
  classes (with ``--texture`` also glcm, glrlm, glszm, ngtdm and gldm), ``additionalInfo`` off (no
  diagnostics: its fastest setting). "end to end" includes GDCM's scan of the study's files for the
  series, SimpleITK's series read and the mask read; "features alone" sums ``execute``.

Each row is the best of ``--repeat`` runs. gpuimg computes more features than PyRadiomics' classes
(the IBSI families: e.g. 29 morphology features with Moran's I and Geary's C against 14 shape
features); the script prints both counts, and the largest relative difference of a few features both
define (mesh volume, maximum diameter, mean), to show both measured the same ROIs. PyRadiomics
installs as bench_radiomics.py's docstring says; without it only gpuimg's rows are printed.
"""

import argparse
import csv
import logging
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import gpuimg
from gpuimg.cohort import run_pipeline, spec_from_dict
from gpuimg.cohort.run import _local_cluster
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
TEXTURE = {"glcm": "glcm", "glrlm": "glrlm", "glszm": "glszm", "ngtdm": "ngtdm", "ngldm": "gldm"}
#: Features both tools define: gpuimg's column, PyRadiomics' key.
SAME = {
    "morph_volume": "original_shape_MeshVolume",
    "morph_diam": "original_shape_Maximum3DDiameter",
    "stat_mean": "original_firstorder_Mean",
}
_peer = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--texture", action="store_true", help="add the texture families / classes")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gpuimg-bench-cohort-"))
    try:
        _run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(args, root: Path) -> None:
    cohort = write_demo_cohort(root, args.studies)
    studies = sorted(cohort.iterdir())
    for study in studies:
        ct = gpuimg.read_dicom(study, device="cpu")
        mask = (ct.data > -400).astype(np.uint8)
        gpuimg.write_image(gpuimg.Volume(mask, ct.spacing, ct.origin, ct.direction), study / "mask.nrrd")
    document = {**SPEC, "features": dict(SPEC["features"])}
    if args.texture:
        document["features"]["families"] = SPEC["features"]["families"] + list(TEXTURE)
    spec = spec_from_dict(document)
    warm = root / "warm"
    for study in studies[:4]:
        shutil.copytree(study, warm / study.name)
    print(f"{len(studies)} studies of {ct.shape} voxels, ROI {int(mask.sum())} voxels in the last")
    print(f"best of {args.repeat} runs each")
    print(f"{'tool':<52} {'seconds':>8} {'studies/min':>12}")

    def row(label, seconds):
        print(f"{label:<52} {seconds:>8.3f} {60 * len(studies) / seconds:>12.1f}", flush=True)

    runs = iter(range(10**6))

    def pipeline(**kwargs) -> dict:
        out = root / f"out-{next(runs)}"
        manifest = run_pipeline(
            spec, cohort, out, device=args.device, progress=False, keep_ids=True, **kwargs
        )
        assert manifest["rows"] == len(studies), manifest["errors"]
        manifest["output"] = out
        return manifest

    ours = None
    for workers in args.workers:
        if workers == 1:
            run_pipeline(spec, warm, root / "warm-1", device=args.device, progress=False)
            best = min((pipeline() for _ in range(args.repeat)), key=_wall)
            row("gpuimg, 1 worker: end to end", _wall(best))
            row("gpuimg: features alone", best["time_per_stage_s"]["features (sum over studies)"])
            ours = best
            continue
        fresh = min((pipeline(workers=workers) for _ in range(args.repeat)), key=_wall)
        startup = fresh["time_per_stage_s"]["cluster start-up (wall)"]
        row(f"gpuimg, {workers} workers: end to end, with start-up", _wall(fresh))
        print(f"  (of which the LocalCluster's start: {startup:.2f} s)")
        from dask.distributed import Client

        with _local_cluster(workers, args.device) as cluster, Client(cluster):
            address = cluster.scheduler_address
            run_pipeline(spec, warm, root / f"warm-{workers}", scheduler=address, progress=False)
            steady = min((pipeline(scheduler=address) for _ in range(args.repeat)), key=_steady)
        row(f"gpuimg, {workers} workers: end to end, steady state", _steady(steady))
    try:
        import SimpleITK  # noqa: F401
        from radiomics import featureextractor  # noqa: F401
    except ImportError:
        print("PyRadiomics is not installed: see benchmarks/bench_radiomics.py for the install step.")
        return
    enabled = ["firstorder", "shape", *(TEXTURE.values() if args.texture else [])]
    _init_peer(enabled)
    # Several processes first: forked as pyradiomics --jobs forks them, before this process has run
    # SimpleITK's threads (a fork does not carry them over).
    for workers in sorted(args.workers, reverse=True):
        if workers == 1:
            results = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                done = [_peer_study(study) for study in studies]
                results.append((time.perf_counter() - start, done))
            wall, done = min(results, key=lambda r: r[0])
            row("PyRadiomics (batch), 1 process: end to end", wall)
            row("PyRadiomics: features alone", sum(d[1] for d in done))
            peer_features = {study.name: d[2] for study, d in zip(studies, done, strict=True)}
            continue
        walls = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with multiprocessing.get_context("fork").Pool(workers, _init_peer, (enabled,)) as pool:
                pool.map(_peer_study, studies)
            walls.append(time.perf_counter() - start)
        row(f"PyRadiomics (batch), {workers} processes: end to end", min(walls))
    if ours is not None:
        _compare(ours["output"] / "features.csv", peer_features)


def _wall(manifest: dict) -> float:
    return manifest["time_per_stage_s"]["studies (wall, this run)"]


def _steady(manifest: dict) -> float:
    times = manifest["time_per_stage_s"]
    return times["studies (wall, this run)"] - times["cluster start-up (wall)"]


def _init_peer(enabled: list[str]) -> None:
    global _peer
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    _peer = featureextractor.RadiomicsFeatureExtractor(binWidth=25, additionalInfo=False)
    _peer.disableAllFeatures()
    for name in enabled:
        _peer.enableFeatureClassByName(name)


def _peer_study(study: Path) -> tuple[float, float, dict]:
    """PyRadiomics on one study: (seconds reading, seconds extracting, features)."""
    import SimpleITK as sitk

    start = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(study)))
    image, mask = reader.Execute(), sitk.ReadImage(str(study / "mask.nrrd"))
    reading = time.perf_counter() - start
    start = time.perf_counter()
    features = _peer.execute(image, mask)
    return reading, time.perf_counter() - start, {k: float(v) for k, v in features.items()}


def _compare(table: Path, peer: dict) -> None:
    with open(table, newline="") as file:
        ours = {r["study"]: r for r in csv.DictReader(file)}
    counts = len(next(iter(ours.values()))) - 3, len(next(iter(peer.values())))
    print(f"features per study: gpuimg {counts[0]}, PyRadiomics {counts[1]}")
    for column, key in SAME.items():
        differences = [abs(float(ours[s][column]) / peer[s][key] - 1) for s in peer]
        print(f"  {column} vs {key}: largest relative difference {max(differences):.2e}")


if __name__ == "__main__":
    main()
