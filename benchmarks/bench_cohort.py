"""Studies per minute of the demo cohort's feature extraction: gpuimg with 1 and N Dask workers against
PyRadiomics' batch extraction of the same studies, masks and feature classes, in one run.

A script, not a test: ``python benchmarks/bench_cohort.py [--studies 200] [--workers 1 2] [--repeat 3]
[--device cpu] [--texture] [--shape 32 48 48]``.

It writes the demo cohort (``gpuimg.datasets.write_demo_cohort``, 32 x 48 x 48 CT crops by default,
``--shape`` for larger ones around the same nodules, one DICOM file per slice) and each study's mask
(voxels above -400 HU, as NRRD beside the slices). Both tools then take the same inputs, the DICOM
slices and the NRRD mask of each study, with bin width 25:

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

The tools take turns (gpuimg, PyRadiomics, gpuimg ...), so that a change in the machine's load hits
both alike, and each row is the best of ``--repeat`` runs; the ratios of throughput follow. The
"whole run" row adds what ``gpuimg run`` does once per run after the studies (tables, HTML report,
manifest). gpuimg computes more features than PyRadiomics' classes (the IBSI families: e.g. 29
morphology features with Moran's I and Geary's C against 14 shape features); the script prints both
counts, and the largest relative difference of a few features both define (mesh volume, maximum
diameter, mean), to show both measured the same ROIs. PyRadiomics installs as bench_radiomics.py's
docstring says; without it only gpuimg's rows are printed.
"""

import argparse
import contextlib
import csv
import logging
import multiprocessing
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import gpuimg
from gpuimg.cohort import run_pipeline, spec_from_dict
from gpuimg.cohort._dask import _local_cluster
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
    parser.add_argument("--shape", type=int, nargs=3, default=(32, 48, 48), help="voxels (z, y, x) a study")
    args = parser.parse_args()
    # The fresh cluster of a run with start-up finds the kept cluster's HTTP port taken: said, not an error.
    warnings.filterwarnings("ignore", message="(?s).*already have a cluster running")
    root = Path(tempfile.mkdtemp(prefix="gpuimg-bench-cohort-"))
    try:
        _run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(args, root: Path) -> None:
    cohort = write_demo_cohort(root, args.studies, shape=tuple(args.shape))
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
    try:
        import SimpleITK  # noqa: F401
        from radiomics import featureextractor  # noqa: F401
    except ImportError:
        print("PyRadiomics is not installed: see benchmarks/bench_radiomics.py for the install step.")
        peer = None
    else:
        peer = ["firstorder", "shape", *(TEXTURE.values() if args.texture else [])]
        _init_peer(peer)
    runs = iter(range(10**6))

    def pipeline(**kwargs) -> dict:
        out = root / f"out-{next(runs)}"
        manifest = run_pipeline(
            spec, cohort, out, device=args.device, progress=False, keep_ids=True, **kwargs
        )
        assert manifest["rows"] == len(studies), manifest["errors"]
        manifest["output"] = out
        return manifest

    seconds: dict[str, list[float]] = {}  # row -> the time of each repeat

    def record(label: str, value: float) -> None:
        seconds.setdefault(label, []).append(value)

    # The tools take turns, so that a change in the machine's load hits both alike.
    with contextlib.ExitStack() as running:
        from dask.distributed import Client

        addresses = {}
        for workers in args.workers:
            if workers > 1:  # a cluster kept up for the steady state, warmed by a run of its own
                cluster = running.enter_context(_local_cluster(workers, args.device))
                running.enter_context(Client(cluster))
                addresses[workers] = cluster.scheduler_address
        for workers in args.workers:
            run_pipeline(
                spec,
                warm,
                root / f"warm-{workers}",
                device=args.device,
                progress=False,
                scheduler=addresses.get(workers),
            )
        for _ in range(args.repeat):
            for workers in args.workers:
                if workers == 1:
                    ours = pipeline()
                    record("gpuimg, 1 worker: end to end", _wall(ours))
                    record("gpuimg, 1 worker: whole run", ours["time_per_stage_s"]["total (wall)"])
                    record("gpuimg: features alone", ours["time_per_stage_s"]["features (sum over studies)"])
                    if peer:
                        start = time.perf_counter()
                        done = [_peer_study(study) for study in studies]
                        record("PyRadiomics (batch), 1 process: end to end", time.perf_counter() - start)
                        record("PyRadiomics: features alone", sum(d[1] for d in done))
                    continue
                fresh = pipeline(workers=workers)
                record(f"gpuimg, {workers} workers: end to end, with start-up", _wall(fresh))
                record(f"gpuimg, {workers} workers: LocalCluster start-up", _startup(fresh))
                record(
                    f"gpuimg, {workers} workers: end to end, steady state",
                    _steady(pipeline(scheduler=addresses[workers])),
                )
                if peer:
                    start = time.perf_counter()
                    with multiprocessing.get_context("fork").Pool(workers, _init_peer, (peer,)) as pool:
                        pool.map(_peer_study, studies)
                    record(
                        f"PyRadiomics (batch), {workers} processes: end to end", time.perf_counter() - start
                    )
    print(f"best of {args.repeat} runs each, the tools taking turns")
    print(f"{'tool':<56} {'seconds':>8} {'studies/min':>12}")
    best = {label: min(values) for label, values in seconds.items()}
    for label, value in best.items():
        print(f"{label:<56} {value:>8.3f} {60 * len(studies) / value:>12.1f}")
    if not peer:
        return
    print("throughput, gpuimg / PyRadiomics:")
    for ours_label, theirs_label in _pairs(args.workers):
        print(f"  {ours_label}: {best[theirs_label] / best[ours_label]:.2f}x")
    if 1 in args.workers:
        times, n = ours["time_per_stage_s"], len(studies)
        stages = {k.split(" (")[0]: 1e3 * v / n for k, v in times.items() if "sum over studies" in k}
        stages = {k: v for k, v in stages.items() if v >= 0.005}  # no preprocessing, no edges here
        stages["the rest (preview, storing the result)"] = 1e3 * _wall(ours) / n - sum(stages.values())
        print("last 1-worker runs, per study [ms]:")
        print("  gpuimg: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
        reading, extraction = (1e3 * sum(d[i] for d in done) / n for i in (0, 1))
        print(f"  PyRadiomics: reading (GDCM scan, series, mask) {reading:.2f}, execute {extraction:.2f}")
        _compare(ours["output"] / "features.csv", {s.name: d[2] for s, d in zip(studies, done, strict=True)})


def _pairs(worker_counts: list[int]) -> list[tuple[str, str]]:
    """(gpuimg's row, PyRadiomics' row) of each comparison."""
    pairs = []
    for workers in worker_counts:
        if workers == 1:
            pairs.append(("gpuimg, 1 worker: end to end", "PyRadiomics (batch), 1 process: end to end"))
            pairs.append(("gpuimg: features alone", "PyRadiomics: features alone"))
            continue
        theirs = f"PyRadiomics (batch), {workers} processes: end to end"
        pairs.append((f"gpuimg, {workers} workers: end to end, steady state", theirs))
        pairs.append((f"gpuimg, {workers} workers: end to end, with start-up", theirs))
    return pairs


def _wall(manifest: dict) -> float:
    return manifest["time_per_stage_s"]["studies (wall, this run)"]


def _startup(manifest: dict) -> float:
    return manifest["time_per_stage_s"]["cluster start-up (wall)"]


def _steady(manifest: dict) -> float:
    return _wall(manifest) - _startup(manifest)


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
