"""A cohort run: studies found, processed on Dask (or in this process), tables, models, report, manifest.

The checks of the run's arguments (the cohort's studies, the output folder, the key file, the workers)
are in ``_run_checks``; where the studies are processed (this process or a Dask cluster) in ``_dask``;
the stored results of finished studies, by which a later run resumes, in ``_resume``; the labels file's
patient IDs as matched to the studies in ``_label_ids``.
"""

import dataclasses
import datetime
import functools
import itertools
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import gpuimg
from gpuimg._text import count, some
from gpuimg.errors import ConfigError

from . import outputs
from ._dask import _execute, _versions
from ._fingerprint import fingerprint
from ._label_ids import _keyed_labels, _unlabelled_why
from ._resume import _Journal, _preview, _resume, _store
from ._run_checks import _check_key, _check_no_original_ids, _check_output, check_workers, find_studies
from .labels import ID_COLUMNS, read_labels
from .privacy import load_or_create_key
from .spec import Spec, load_spec
from .study import STAGES, StudyTask

#: Files of an output folder; the per-study results live in ``.studies/`` beside them.
OUTPUTS = (
    "features.parquet",
    "features.csv",
    "errors.csv",
    "model.joblib",
    "metrics.json",
    "report.html",
    "manifest.json",
)
#: Studies shown in the report's montage and histograms, and studies given a preview for them: the
#: first in the report's order (by study ID), twice as many, so that the montage stays full when
#: some of them fail.
_MONTAGE, _PREVIEWS = 6, 12


def _interrupts_kept(func):
    """``func``, raising KeyboardInterrupt where a library's clean-up, run while Ctrl-C unwound it,
    raised an error of its own in its place (NumPy's ``savez`` closes its zip file in a ``finally``
    and raises ValueError there, so the interrupt looked like a failure, without the resume hint)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            cause = exc.__context__
            while cause is not None and not isinstance(cause, KeyboardInterrupt):
                cause = cause.__context__
            if cause is None:
                raise
            raise KeyboardInterrupt(*cause.args) from exc

    return wrapper


@_interrupts_kept
def run_pipeline(
    spec: Spec | str | os.PathLike,
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    device: str = "cpu",
    workers: int = 1,
    scheduler: str | None = None,
    key_path: str | os.PathLike | None = None,
    retry_errors: bool = False,
    keep_ids: bool = False,
    progress: bool = True,
) -> dict:
    """Run a pipeline spec on every study of a cohort and write the outputs.

    Parameters
    ----------
    spec : Spec or path
        The pipeline (:func:`gpuimg.cohort.load_spec` reads a TOML file, or an earlier run's
        ``manifest.json``, whose ``spec`` is the spec that run used).
    input : str or path
        The cohort: one sub-folder per study.
    output : str or path
        Created if needed. Gets ``features.parquet``, ``features.csv``, ``errors.csv``,
        ``model.joblib`` (when a learning task fitted a model), ``metrics.json`` (the tasks' scores,
        ``{}`` without learning tasks), ``report.html`` and ``manifest.json``; the finished studies
        are kept in ``.studies/`` so that a re-run skips them (those whose files changed since, by
        name, size, time of last modification or the head of a folder's first file, or that another
        version of gpuimg or another device measured, are redone).
    device : {"cpu", "cuda", "auto"}
        Where each study is computed; default "cpu", not the "auto" of ``gpuimg run --device`` and
        of :func:`gpuimg.read_dicom` (``GPUIMG_DEVICE``, else CUDA where a GPU is usable): pass
        ``device="auto"`` for that.
    workers : int
        Worker processes of a local Dask cluster; 1 runs the studies in this process. With
        ``device="cuda"`` and several GPUs, a dask-cuda LocalCUDACluster with one worker per GPU.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to use instead. Its workers compute
        the features, and may run other library versions than this process: see Notes.
    key_path : str or path, optional
        The pseudonym key file; default ``<output>.key`` beside the output folder, created on the
        first run. Keep it to pseudonymise new studies or labels the same way; a key inside the
        output folder is refused (the folder is made to be shared).
    keep_ids : bool
        Write the original patient IDs and study folder names instead of pseudonyms (as the spec's
        ``privacy.keep_ids``).
    retry_errors : bool
        Process again the studies that failed in an earlier run (finished ones are kept while their
        files are unchanged).
    progress : bool
        Show a progress bar (tqdm) on standard error.

    Returns
    -------
    dict
        The manifest (also in ``manifest.json``): counts, metrics, times per stage, outputs, and the
        versions of the libraries (``libraries``: this process's; ``worker_libraries``: a scheduler's
        workers', see Notes).

    Raises
    ------
    ConfigError
        A bad spec, input folder, output folder (a file, or inside the input), labels file or key
        file (before any study is processed). The messages name the ``gpuimg run`` options:
        ``--input``, ``--output``, ``--key``, ``--workers`` and ``--scheduler`` are ``input``,
        ``output``, ``key_path``, ``workers`` and ``scheduler`` here.
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or asks for CUDA where no GPU is usable (the
        message says what is missing and which extra to install).
    KeyboardInterrupt
        On Ctrl-C; finished studies are kept and every output file is whole (old or absent).

    Notes
    -----
    The result does not depend on ``workers``: each study is computed alone, and the tables are sorted
    by study before anything is fitted. The model file is a joblib pickle: loading it runs code, so
    load only model files you made or trust.

    The manifest's ``libraries`` are the versions (by distribution name) installed for this process,
    which learned, and which computed the features in it or on a local cluster. With ``scheduler``,
    ``worker_libraries`` holds the versions its workers ran, asked once this run's studies are done: a
    library's version, or the list of the versions (``None`` for a worker without it) where the
    workers differ; where they differ among themselves or from this process, ``run.log`` warns,
    naming the library and the versions. It is ``None`` where no scheduler's worker computed a study in
    this run (in this process, on a local cluster, or all studies done by an earlier run).

    ``features.parquet`` types its columns (text IDs, float64 features). CSV has no types: with
    ``--keep-ids``, IDs such as ``007`` read back as the number 7 unless the reader is told
    (``pandas.read_csv(path, dtype={"study": str, "patient": str})``; a spreadsheet's import as text).
    A text cell that a spreadsheet would run as a formula (an ID or folder name beginning with ``=``,
    ``+``, ``-`` or ``@``, not a number) is led by ``'`` in the CSV files; Parquet keeps it as it is.

    Examples
    --------
    >>> from gpuimg.cohort import spec_from_dict
    >>> from gpuimg.datasets.demo import write_demo_cohort
    >>> cohort = write_demo_cohort("demo", 4, shape=(12, 16, 16))
    >>> spec = spec_from_dict(
    ...     {"mask": {"source": "recipe", "threshold": [-400, 400]}, "features": {"families": ["statistics"]}}
    ... )
    >>> manifest = run_pipeline(spec, cohort, "results", progress=False)
    >>> manifest["rows"], manifest["errors"]
    (4, 0)
    """
    started = time.time()
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if keep_ids:
        spec = dataclasses.replace(spec, keep_ids=True)
    check_workers(workers, local=scheduler is None)
    device = gpuimg.backend.resolve_device(device)
    output = Path(output)
    studies = find_studies(input)
    _check_output(Path(input).resolve(), output, studies)
    if not spec.keep_ids:
        _check_no_original_ids(output)
    key_path = None if spec.keep_ids else _check_key(key_path, output)
    # The labels file is checked before the key is made: a run refused for it left a new key beside an
    # output folder that was never made.
    labels = read_labels(spec.learning, b"", keep_ids=True)
    given = list(labels)  # the file's IDs, for the reason studies are unlabelled
    key = b"" if key_path is None else load_or_create_key(key_path)
    if not spec.keep_ids:
        labels = _keyed_labels(labels, spec, key)
    cache = output / ".studies" / spec.study_hash
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # An output folder of an earlier run may be there but read-only (a mount, its mode): the first
        # write failed only after a study was measured.
        for folder in (output, cache):
            with tempfile.TemporaryFile(dir=folder):
                pass
    except OSError as exc:
        raise ConfigError(
            f"--output {output}: the folder cannot be made or written to ({exc}); pass a folder where you "
            "can write."
        ) from exc
    outputs.remove_partials(output)

    # A preview (the report's slice and histograms) costs a pass over the volume: only for the studies
    # the report may show. Those few tasks are made again, the others keeping their study ID (a keyed
    # hash) worked out once.
    tasks = [
        StudyTask(path, path.name, spec, key, device, preview=False, inputs=fingerprint(path))
        for path in studies
    ]
    previewed = set(sorted(task.study_id for task in tasks)[:_PREVIEWS])
    tasks = [
        dataclasses.replace(task, preview=True) if task.study_id in previewed else task for task in tasks
    ]
    results, todo, stored = {}, [], _resume(cache)
    for task in tasks:
        done = stored.get(task.study_id)
        # A study whose files changed since (replaced, added, removed), or measured by another gpuimg
        # or on another device (whose features may differ, in the last bits at least, and the manifest
        # names this run's device), is processed again.
        if (
            done is not None
            and done.get("inputs") == task.inputs
            and done.get("gpuimg") == gpuimg.__version__
            and done.get("device") == device
            and not (retry_errors and "error" in done)
        ):
            results[task.study_id] = done
        else:
            todo.append(task)
    log = [f"{len(tasks)} studies, {len(results)} already done, {len(todo)} to process on {device}"]
    extraction, about = time.perf_counter(), {}
    with _Journal(cache) as journal:
        for result in _execute(todo, device, workers, scheduler, progress, about):
            # As stored, so a resumed run sees exactly what an uninterrupted one does.
            results[result["study"]] = _store(journal, result)
            outcome = f"failed: {result['error']}" if "error" in result else "done"
            log.append(f"study {result['study']} {outcome}")
    extraction = time.perf_counter() - extraction
    libraries = _versions()
    worker_libraries = _worker_libraries(about.get("worker_libraries", {}), libraries, log)

    ordered = [results[k] for k in sorted(results)]
    rows = [r["row"] for r in ordered if "row" in r]
    errors = [
        {"study": r["study"], "patient": r["patient"] or "", "error": r["error"]}
        for r in ordered
        if "error" in r
    ]
    columns = list(dict.fromkeys([*ID_COLUMNS, *(c for row in rows for c in row)]))
    outputs.write_parquet(output / "features.parquet", rows, columns, text=ID_COLUMNS)
    outputs.write_csv(output / "features.csv", rows, columns)
    outputs.write_csv(output / "errors.csv", errors, ["study", "patient", "error"])

    learning = time.perf_counter()
    models, scores, predictions = {}, {}, {}
    if rows and spec.learning.tasks:
        # Here, not at the top: scikit-learn takes most of a second to import, which a run without
        # learning tasks, and the Dask workers, which import this module for the study tasks, need not pay.
        from .learn import fit_tasks

        models, scores, predictions = fit_tasks(rows, spec.learning, labels)
    log.extend(f"learning {task} not fitted: {s['error']}" for task, s in scores.items() if "error" in s)
    # Studies of patients the labels file does not name (a spreadsheet may have made "007" 7): not
    # learned from, which the metrics' n_studies alone would hide.
    supervised = any(task.kind != "clustering" for task in spec.learning.tasks)
    unlabelled = [row["study"] for row in rows if row["patient"] not in labels] if supervised else []
    missing = {row["patient"] for row in rows if row["patient"] not in labels}
    why = _unlabelled_why(missing, given, key, spec.keep_ids) if unlabelled else ""
    if unlabelled:
        log.append(
            f"{count(len(unlabelled), 'study', 'studies')} of patients not in learning.labels (not learned "
            f"from): {some(unlabelled)}{'; ' + why if why else ''}"
        )
    if models:
        outputs.write_joblib(output / "model.joblib", models)
    else:  # no task, or nothing to learn from: no model from an earlier run stays behind
        (output / "model.joblib").unlink(missing_ok=True)
    outputs.write_json(output / "metrics.json", scores)
    learning = time.perf_counter() - learning

    manifest = {
        "gpuimg": gpuimg.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": libraries,
        "worker_libraries": worker_libraries,
        "device": device,
        "workers": workers if scheduler is None else None,
        "scheduler": scheduler,
        # The spec this run used, as its checked fields give it (not the document it was read from,
        # which a Spec changed with dataclasses.replace keeps): load_spec reads it back from here.
        "spec": spec.to_dict(),
        "spec_hash": spec.study_hash,
        "pseudonymised": not spec.keep_ids,
        "studies": len(tasks),
        "rows": len(rows),
        "errors": len(errors),
        "processed_this_run": len(todo),
        "clipped": [r["study"] for r in ordered if r.get("clipped")],
        "unlabelled": unlabelled,
        "unlabelled_why": why,
        "metrics": scores,
        "time_per_stage_s": {
            **{
                f"{stage} (sum over studies)": sum(r["times"].get(stage, 0.0) for r in ordered)
                for stage in STAGES
            },
            "studies (wall, this run)": extraction,
            # Part of the above: connecting to the scheduler, and starting a local cluster's workers.
            "cluster start-up (wall)": about.get("seconds", 0.0),
            "learning": learning,
        },
        # With the UTC offset: a local time alone is a different instant on a machine elsewhere.
        "started": datetime.datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "outputs": [name for name in OUTPUTS if name != "model.joblib" or models],
    }
    report = time.perf_counter()
    from .report import build_report

    found = (_preview(cache, r["study"]) for r in ordered if "row" in r and r["study"] in previewed)
    # Read until the montage is full: the others (of the _PREVIEWS kept) were read and left out.
    previews = list(itertools.islice((preview for preview in found if preview is not None), _MONTAGE))
    outputs.write_text(
        output / "report.html", build_report(rows, errors, previews, scores, predictions, manifest)
    )
    manifest["time_per_stage_s"]["report"] = time.perf_counter() - report
    manifest["time_per_stage_s"]["total (wall)"] = time.time() - started
    outputs.write_json(output / "manifest.json", manifest)
    outputs.write_text(output / "run.log", "\n".join(log) + "\n")
    return manifest


def _worker_libraries(
    workers: dict[str, dict[str, str]], here: dict[str, str], log: list[str]
) -> dict | None:
    """The versions of the libraries that a scheduler's workers ran, which computed the features; this
    process (``here``, the manifest's ``libraries``) may run others.

    ``workers`` holds each worker's :func:`~gpuimg.cohort._dask._versions` by its address. A library's
    version where every worker ran one, else the versions they ran, in order (``None`` for workers
    without it). Where the workers differ among themselves, or from this process, a warning naming the
    library and the versions goes to ``log``. None without workers: the studies ran in this process or
    on a local cluster of its installation, or none ran in this run.
    """
    if not workers:
        return None
    recorded = {}
    for name in sorted({name for found in workers.values() for name in found}):
        ran = Counter(found.get(name) for found in workers.values())
        versions = sorted(ran, key=lambda version: (version is None, version or ""))
        recorded[name] = versions[0] if len(versions) == 1 else versions
        if len(versions) > 1 or here.get(name, versions[0]) != versions[0]:
            spelled = " and ".join(
                f"{version or 'none'} ({count(ran[version], 'worker')})" for version in versions
            )
            log.append(
                f"warning: the workers ran {name} {spelled}, and this process {here.get(name, 'none')}; "
                "the features may differ from one version's. Install one version on every worker."
            )
    return recorded
