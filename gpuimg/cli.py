"""The ``gpuimg`` command.

    gpuimg demo [--out DIR] [--studies N] [--device auto|cpu|cuda] [--workers N]
    gpuimg run PIPELINE.toml --input DIR --output OUT [--device ...] [--workers N | --scheduler ADDR]
    gpuimg info [PATH]
    gpuimg bench [--device ...] [--only NAME]
    gpuimg warmup [--device ...] [--dtypes DTYPE ...]
    gpuimg --version

``demo`` writes a synthetic DICOM cohort and runs the whole pipeline on it (read, preprocess, edges,
segment, features, classify, regress, cluster), keeping everything in ./gpuimg-demo; ``run`` runs a
pipeline spec on a cohort of your own (a failed study is recorded in errors.csv and the run goes on;
it exits with status 1 where every study failed); ``info`` shows the DICOM series of a folder (patients
pseudonymised), or without a path the device and libraries; ``bench`` times gpuimg against its peer
libraries on this machine (from a checkout); ``warmup`` compiles every kernel once for the common
dtypes into the on-disk cache (for container builds), so later processes start at once.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gpuimg
from gpuimg._cli_info import info
from gpuimg._text import count
from gpuimg.backend import resolve_device
from gpuimg.backend.device import normalised_name
from gpuimg.errors import GpuimgError, ParameterError

#: The marker of a folder ``gpuimg demo`` made, with the parameters it was made with.
_DEMO_MARKER = "gpuimg-demo.json"


def demo(out: Path, n_studies: int, device: str, workers: int, shape: tuple[int, int, int]) -> None:
    """Write the demo cohort (unless ``out`` has it already), run its pipeline, print a summary."""
    from gpuimg.cohort import run_pipeline
    from gpuimg.datasets.demo import write_demo_cohort

    device = resolve_device(device)
    params = {"studies": n_studies, "shape": list(shape), "gpuimg": gpuimg.__version__}
    if out.exists() and not out.is_dir():
        raise GpuimgError(
            f"--out {out} is a file; pass a new or empty folder (or the demo's own from an earlier run)."
        )
    marker = out / _DEMO_MARKER
    print(f"gpuimg {gpuimg.__version__} demo on {device}: {n_studies} synthetic nodule CTs in {out}/")
    if marker.exists() and _made_with(marker) != params:
        _remove_demo(out)
    elif out.exists() and any(out.iterdir()) and not marker.exists():
        raise GpuimgError(
            f"{out} exists and was not made by gpuimg demo; pass --out with a new or empty folder."
        )
    start = time.perf_counter()
    if marker.exists():
        print("  the cohort is there from an earlier run: the studies it finished on this device are reused")
        cohort = out / "cohort"
    else:
        cohort = write_demo_cohort(out, n_studies, shape=shape)
        marker.write_text(json.dumps(params))
    print(
        f"  {'write DICOM cohort (' + str(n_studies) + ' series, labels, pipeline.toml)':<52} "
        f"{time.perf_counter() - start:8.1f} s"
    )
    if not _kernels_on_disk(device):
        print(
            "  first run on this machine: the kernels compile as they are first used (most of the first "
            "study's time,\n  about 30 s on 2 CPU cores); they are cached on disk, and later runs load them"
        )
    results = out / "results"
    manifest = run_pipeline(
        out / "pipeline.toml", cohort, results, device=device, workers=workers, progress=_on_terminal()
    )
    _summary(manifest, out, cohort)


def _on_terminal() -> bool:
    """Whether standard error is a terminal, where the progress bar is drawn: into a file or a pipe (a
    batch job's log, ``2> log.txt``) each of its updates was written, a line of carriage returns."""
    return sys.stderr.isatty()


def _made_with(marker: Path) -> dict | None:
    """The parameters a demo folder's marker records; None if it cannot be read (cut short by a full
    disk, edited), so that the demo is made again."""
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


#: What ``gpuimg demo`` writes in its folder: the cohort, its labels and spec, the results and their
#: pseudonym key, and the marker. A demo of other parameters removes these, and nothing else there.
_DEMO_ENTRIES = ("cohort", "results", "labels.csv", "pipeline.toml", "results.key", _DEMO_MARKER)


def _remove_demo(out: Path) -> None:
    for name in _DEMO_ENTRIES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


#: The demo pipeline's kernels that take longest to compile (Sobel, and the texture zones' labels).
_SLOWEST_KERNELS = ("gpuimg.kernels.gradient._gradient", "gpuimg.kernels.zones._label")


def _kernels_on_disk(device: str) -> bool:
    """Whether the demo pipeline's slowest kernels to compile are in the on-disk cache for ``device``."""
    from gpuimg.kernels import load_all
    from gpuimg.kernels.cache import on_disk
    from gpuimg.kernels.registry import CPU_DRIVERS

    kernels = load_all()
    dispatchers = [
        CPU_DRIVERS[f"{name}_cpu"] if device == "cpu" else kernels[f"{name}_cuda"].dispatcher
        for name in _SLOWEST_KERNELS
    ]
    return all(on_disk(d) for d in dispatchers)


def _summary(manifest: dict, out: Path, cohort: Path) -> None:
    times = manifest["time_per_stage_s"]
    for stage in ("read", "preprocess", "segment", "edges", "features"):
        print(f"  {stage + ' (sum over studies)':<52} {times[stage + ' (sum over studies)']:8.1f} s")
    for stage in ("studies (wall, this run)", "learning", "report", "total (wall)"):
        print(f"  {stage:<52} {times[stage]:8.1f} s")
    scores = manifest["metrics"]
    classification, regression = scores.get("classification", {}), scores.get("regression", {})
    clustering = scores.get("clustering", {})
    # Each task's folds: the header gave the classification's for all ('1-fold' where its rarer class
    # had one patient), beside the regression's score of 4 folds.
    print(
        f"  {count(manifest['rows'], 'study', 'studies')} measured, {manifest['errors']} failed; "
        "patient-level cross-validation:"
    )
    accuracy, auc = _number(classification.get("accuracy")), _number(classification.get("roc_auc"))
    print(
        _scored("classify (malignant):", classification, f"accuracy {accuracy}, ROC AUC {auc} (chance 0.50)")
    )
    r2, mae = _number(regression.get("r2")), _number(regression.get("mae"))
    print(_scored("regress (growth):    ", regression, f"R² {r2}, MAE {mae}"))
    why = clustering.get("error") or clustering.get("no_silhouette")
    print(
        f"    cluster (k-means):    silhouette {_number(clustering.get('silhouette'))}"
        + (f" ({why})" * bool(why))
    )
    results = out / "results"
    clipped = len(manifest["clipped"])
    if clipped:
        print(
            f"  note: the lesion of {clipped} studies touches the volume's edge and is clipped by it; "
            "their shape features describe the visible part (use a larger --shape)"
        )
    print(f"Kept in {out}/: the DICOM cohort ({cohort.name}/), labels.csv, pipeline.toml and results/")
    print(f"  report:   {results / 'report.html'}")
    print(f"  features: {results / 'features.parquet'} (and .csv); model.joblib, metrics.json, manifest.json")
    print(
        f"Next: open the report, then run the same pipeline on your own cohort:\n"
        f"  gpuimg run {out / 'pipeline.toml'} --input YOUR_STUDIES/ --output results/"
    )


def _scored(task: str, scores: dict, shown: str) -> str:
    """The demo's line of a supervised ``task``: its ``shown`` scores and folds, or why it has none."""
    if "error" in scores:
        return f"    {task} not fitted: {scores['error']}"
    if "not_cross_validated" in scores:
        return f"    {task} not cross-validated: {scores['not_cross_validated']}"
    return f"    {task} {shown}, {scores.get('folds', '?')} folds"


def _number(value) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def run(args) -> int:
    """``gpuimg run``: a pipeline spec on a cohort; prints where the outputs are. Returns the exit
    status: 1 where every study failed (there is no feature row to learn from), else 0."""
    from gpuimg.cohort import run_pipeline

    manifest = run_pipeline(
        args.pipeline,
        args.input,
        args.output,
        device=args.device,
        workers=args.workers,
        scheduler=args.scheduler,
        key_path=args.key,
        retry_errors=args.retry_errors,
        keep_ids=args.keep_ids,
        progress=_on_terminal(),
    )
    total = manifest["time_per_stage_s"]["total (wall)"]
    reused = manifest["studies"] - manifest["processed_this_run"]
    print(
        f"{count(manifest['rows'], 'feature row')}, {count(manifest['errors'], 'error')} from "
        f"{count(manifest['studies'], 'study', 'studies')} "
        f"({reused} finished in an earlier run) in {total:.1f} s"
    )
    for task, scores in manifest["metrics"].items():
        shown = ", ".join(
            f"{k} {'n/a' if math.isnan(v) else f'{v:.3f}'}" for k, v in scores.items() if isinstance(v, float)
        )
        if "error" in scores:
            shown = f"not fitted: {scores['error']}"
        elif not shown:  # one fold: nothing to score out of fold, for the reason the metrics give
            shown = f"not cross-validated: {scores['not_cross_validated']}"
        elif "no_silhouette" in scores:
            shown += f" ({scores['no_silhouette']})"
        print(f"  {task}: {shown}")
    if manifest["unlabelled"]:
        print(
            f"  note: {count(len(manifest['unlabelled']), 'study', 'studies')} not learned from: the labels "
            "file does not name their patients (run.log lists them); "
            f"{manifest.get('unlabelled_why') or 'check its patient IDs'}"
        )
    print(f"outputs in {args.output}/ (report.html, features.parquet, errors.csv, manifest.json)")
    if manifest["studies"] and not manifest["rows"]:
        print(
            f"gpuimg: every study failed ({count(manifest['errors'], 'error')}); errors.csv gives each "
            "study's reason",
            file=sys.stderr,
        )
        return 1
    return 0


def bench(device: str, only: str | None) -> int:
    """Run benchmarks/compare.py of a checkout for this machine's device; returns its exit status."""
    script = Path(gpuimg.__file__).resolve().parents[1] / "benchmarks" / "compare.py"
    if not script.exists():
        raise GpuimgError(
            f"gpuimg bench runs benchmarks/compare.py of a source checkout, and {script} is absent; install "
            "gpuimg from a clone (pip install -e .) to benchmark."
        )
    command = [sys.executable, str(script), "--device", resolve_device(device)]
    if only is not None:
        _check_operation(only, script.parent / "operations.py")
        command += ["--only", only]
    return subprocess.call(command, cwd=script.parent)


def _check_operation(name: str, operations: Path) -> None:
    """Refuse an ``--only`` that names none of the operations of benchmarks/operations.py, in gpuimg's
    words: compare.py refused it with its own usage line, whose options gpuimg bench does not take."""
    import difflib
    import importlib.util

    spec = importlib.util.spec_from_file_location("_gpuimg_bench_operations", operations)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = [operation.name for operation in module.OPERATIONS]
    if name in names:
        return
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ParameterError(
        f"gpuimg bench --only {name!r} is not a benchmarked operation{hint}; use one of: {', '.join(names)}."
    )


def warmup(device: str, dtypes: list[str] | None) -> None:
    """Compile every kernel family for ``dtypes`` (default: the common ones) on the CPU, and on CUDA
    when that is the device, into Numba's on-disk cache."""
    from gpuimg.kernels.warmup import DTYPES, check_dtypes, skipped
    from gpuimg.kernels.warmup import warmup as compile_kernels

    dtypes = dtypes or DTYPES
    check_dtypes(dtypes, "--dtypes")  # before any kernel compiles, in the command's words
    devices = ("cpu",) if resolve_device(device) == "cpu" else ("cpu", "cuda")
    for task, dtype, why in skipped(dtypes=dtypes):
        print(f"gpuimg warmup: {task} is not compiled for {dtype}: {why}")
    start = time.perf_counter()
    steps = compile_kernels(dtypes=dtypes, devices=devices)
    elapsed = time.perf_counter() - start
    print(f"gpuimg warmup: {len(steps)} kernel sets compiled or loaded in {elapsed:.1f} s")


def _path(text: str) -> Path:
    """A path argument; an empty one (a shell variable that is not set: --input "$STUDIES") is refused,
    where Path("") would be the working directory."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (is a shell variable unset?); pass a path")
    return Path(text)


def _stdout_writes_file_names() -> None:
    """Let standard output write file names as the file system holds them.

    A name that is not UTF-8 (``Röntgen`` in Latin-1, as an archive unpacked from a Windows or an old
    Unix system names it) reaches Python as text holding surrogates (PEP 383), and standard output
    refuses them under a UTF-8 locale such as ``en_US.UTF-8`` (its error handler is ``strict`` there,
    ``surrogateescape`` only in the C and POSIX locales), ending a listing of such a folder in a
    UnicodeEncodeError traceback. With ``surrogateescape`` the name's own bytes are written, as ``ls``
    and ``find`` write them.
    """
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")


def _system_refusal(exc: OSError) -> str:
    """What the operating system refused, and of which path, in one line."""
    if exc.filename is None:
        return f"{type(exc).__name__}: {exc}"
    path = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    said = f"{path}: {exc.strerror or type(exc).__name__}."
    if isinstance(exc, PermissionError):
        said += (
            " Check that you may open it and the folders on the way to it (and write where gpuimg writes)."
        )
    else:
        said += " Check the path."
    return said


def main(argv=None) -> int:
    _stdout_writes_file_names()
    parser = argparse.ArgumentParser(
        prog="gpuimg", description="Medical volume analysis on the GPU, with the same API on the CPU."
    )
    parser.add_argument("--version", action="version", version=f"gpuimg {gpuimg.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    device = {
        "default": "auto",
        "type": normalised_name,  # CUDA, Cpu: any case, as device= and GPUIMG_DEVICE
        "choices": ["auto", "cpu", "cuda"],
        "help": "where to compute (default: GPUIMG_DEVICE, else CUDA if a GPU is usable, else CPU)",
    }
    run_demo = commands.add_parser(
        "demo",
        help="write a synthetic DICOM cohort and run the whole pipeline on it (kept in ./gpuimg-demo)",
        description="Write a synthetic DICOM cohort of lung-nodule CTs and run the whole pipeline on it "
        "(read, preprocess, edges, segment, features, classify, regress, cluster), printing the time "
        "per stage and the cross-validated metrics. Everything stays in --out: the cohort, labels.csv, "
        "results/ (report.html, features.parquet, ...) and pipeline.toml, a complete spec to start "
        "your own from (gpuimg run).",
    )
    run_demo.add_argument(
        "--out",
        type=_path,
        default=Path("gpuimg-demo"),
        help="folder for everything (default: ./gpuimg-demo)",
    )
    run_demo.add_argument("--studies", type=int, default=40, help="patients in the cohort (default: 40)")
    run_demo.add_argument("--device", **device)
    run_demo.add_argument(
        "--workers", type=int, default=1, help="Dask worker processes (default: 1, no Dask)"
    )
    run_demo.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(32, 48, 48),
        metavar=("Z", "Y", "X"),
        help="voxels of each study's CT crop (default: 32 48 48; spacing 2 x 1.25 x 1.25 mm)",
    )
    run_cohort = commands.add_parser(
        "run",
        help="run a pipeline spec (TOML) on a folder of studies",
        description="Run a pipeline spec on a cohort: one feature row per study (features.parquet, "
        ".csv), errors.csv, the models and their patient-level cross-validated metrics, report.html "
        "and manifest.json in --output. A failed study is recorded and the run goes on; a re-run "
        "skips the finished studies. The spec's tables and keys: python -c 'import gpuimg.cohort; "
        "help(gpuimg.cohort.spec)'; a complete example: the pipeline.toml that gpuimg demo writes.",
    )
    run_cohort.add_argument(
        "pipeline",
        type=_path,
        help="the pipeline spec, a TOML file (or an earlier run's manifest.json, to run its spec again)",
    )
    run_cohort.add_argument("--input", required=True, type=_path, help="the cohort: one sub-folder per study")
    run_cohort.add_argument("--output", required=True, type=_path, help="the output folder (created)")
    run_cohort.add_argument("--device", **device)
    workers = run_cohort.add_mutually_exclusive_group()
    workers.add_argument(
        "--workers", type=int, default=1, help="local Dask worker processes (default: 1, no Dask)"
    )
    workers.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    run_cohort.add_argument(
        "--key", type=_path, help="pseudonym key file (default: OUTPUT.key beside the output)"
    )
    run_cohort.add_argument(
        "--keep-ids", action="store_true", help="write original patient IDs and folder names (no pseudonyms)"
    )
    run_cohort.add_argument("--retry-errors", action="store_true", help="process the failed studies again")
    show = commands.add_parser(
        "info",
        help="the series of a DICOM folder, or the device and libraries",
        description="With a folder: one line per DICOM series under it (patient pseudonym, modality, "
        "slices, shape, spacing and any problem read_dicom would raise). Without one: the device "
        "gpuimg would use and the libraries it found.",
    )
    show.add_argument(
        "path",
        nargs="?",
        type=_path,
        help="a folder of DICOM files (searched recursively); leave it out for the device and libraries",
    )
    benchmark = commands.add_parser(
        "bench", help="time gpuimg against its peer libraries here (from a checkout)"
    )
    benchmark.add_argument("--device", **device)
    benchmark.add_argument("--only", help="only the operation of this name")
    warm = commands.add_parser("warmup", help="compile every kernel once, for container builds")
    warm.add_argument("--device", **device)
    warm.add_argument(
        "--dtypes",
        nargs="+",
        metavar="DTYPE",
        help="the input dtypes (default: uint8 int16 uint16 float32 float64)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":  # refused with demo's usage, as argparse refuses its options
            if min(args.shape) < 8:
                run_demo.error(
                    f"--shape needs sizes of at least 8 voxels; got {' '.join(map(str, args.shape))}"
                )
            if args.studies < 4:
                run_demo.error(f"--studies needs at least 4 studies (the folds); got {args.studies}")
            if args.workers < 1:  # before the cohort is written (a minute), not after
                run_demo.error(f"--workers needs at least 1 worker process; got {args.workers}")
            from gpuimg.cohort.run import check_workers

            check_workers(args.workers)
            demo(args.out, args.studies, args.device, args.workers, tuple(args.shape))
        elif args.command == "run":
            return run(args)
        elif args.command == "bench":
            return bench(args.device, args.only)
        elif args.command == "warmup":
            warmup(args.device, args.dtypes)
        else:
            info(args.path)
    except GpuimgError as exc:
        print(f"gpuimg: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader left (gpuimg info STUDIES/ | head): nothing more to say. Standard output goes to
        # /dev/null, where Python's flush at exit cannot fail again; 128 + SIGPIPE, as a shell tool's.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        # A path the system refuses (a folder on the way that may not be opened, a full disk) where
        # no check of gpuimg's names it first: the system's reason and the path, not a traceback.
        print(f"gpuimg: {_system_refusal(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Only a cohort run (run, demo) has studies to keep and resume.
        resume = (
            " Finished studies are kept and no output is half-written; run the same command again to resume."
            if args.command in ("run", "demo")
            else ""
        )
        print(f"gpuimg: interrupted.{resume}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
