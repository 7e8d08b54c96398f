"""Where a cohort's studies are processed: in this process, or on a Dask cluster (a local one of
single-threaded processes, one worker per GPU with dask-cuda, or a scheduler's at an address), in runs
of consecutive studies, a study that kills its worker retried alone."""

import csv
import inspect
import sys
import time
import types
from importlib import metadata

from gpuimg.errors import ConfigError, DeviceError

from .study import StudyTask, process_study

#: The libraries whose versions the manifest records, by the name they are imported by: their
#: distributions' names differ by CUDA release (CuPy is cupy-cuda12x or cupy-cuda13x, cuML cuml-cu12 or
#: cuml-cu13), and a name such as "cupy" is no distribution's, so a GPU run recorded none of them.
_LIBRARIES = (
    "numpy",
    "scipy",
    "skimage",
    "sklearn",
    "numba",
    "numba_cuda",
    "pydicom",
    "dask",
    "distributed",
    "dask_cuda",
    "cupy",
    "cucim",
    "cuml",
)


def _execute(
    tasks: list[StudyTask], device: str, workers: int, scheduler: str | None, progress: bool, about: dict
):
    """Yield the result of each task as it finishes: in this process, or on a Dask cluster.

    ``about["seconds"]`` gets the time taken to connect to the cluster (and to start a local one); with
    ``scheduler``, ``about["worker_libraries"]`` gets each worker's :func:`_versions` by its address,
    asked once the studies are done (the workers that computed them, and any that joined meanwhile).
    A local cluster's workers run this interpreter's installation, whose versions the caller has.
    """
    bar = _bar(len(tasks)) if progress and tasks else _NO_BAR
    try:
        if scheduler is None and workers == 1:
            for task in tasks:
                yield process_study(task)
                bar.update()
            return
        if not tasks:
            return
        from dask.distributed import Client, as_completed
        from distributed import KilledWorker

        start = time.perf_counter()
        if scheduler:
            client = _connect(Client, scheduler)
        else:
            client = Client(_local_cluster(workers, device), set_as_default=False)
        about["seconds"] = time.perf_counter() - start
        try:
            threads = sum(client.nthreads().values()) or workers
            batches = _batches(tasks, threads)
            futures = client.map(_process_batch, batches, pure=False)
            batch_of = dict(zip(futures, batches, strict=True))
            suspects = []
            for future in as_completed(futures, loop=client.loop):
                try:
                    results = future.result()
                except KilledWorker:
                    # A study killed its worker (out of memory, a crash in a library), or this run was
                    # queued on the worker one did: its studies go again after the others, one at a
                    # time and alone on the cluster, so that only a study that kills its worker alone
                    # is recorded as failed.
                    suspects += batch_of[future]
                    continue
                for result in results:
                    yield result
                    bar.update()
            for task in suspects:
                try:
                    (result,) = client.submit(_process_batch, [task], pure=False).result()
                except KilledWorker:
                    result = _killed(task)
                yield result
                bar.update()
            if scheduler:
                # A worker where it fails (it could not import gpuimg, having joined late) is left out.
                about["worker_libraries"] = client.run(_versions, on_error="ignore")
        finally:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
    finally:
        bar.close()


def _bar(total: int):
    """tqdm's progress bar of ``total`` studies, on standard error."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="study", file=sys.stderr)


#: No progress bar. Not tqdm's disabled one: tqdm.auto's import and a process's first bar (its lock) took
#: 13-19 ms of thread time (25-35 ms wall) of a one-run process's studies (0.1 ms a demo study).
_NO_BAR = types.SimpleNamespace(update=lambda: None, close=lambda: None)


def _connect(client, scheduler: str):
    """A Dask ``client`` of the scheduler at ``scheduler``; an address that is malformed or answers
    nothing (within Dask's connect timeout) is a ConfigError, not distributed's ValueError or OSError.

    Not made Dask's default (the studies go to it explicitly): a default Client registers itself
    before it connects and stays registered when it fails, so every later ``compute`` of the process
    waited on a scheduler that is not there.

    The address is first reached by a connection of its own, and the Client made only once it answers:
    a Client that failed to connect is closed when the interpreter exits, after its event loop has
    stopped, so ``gpuimg run`` waited twice the connect timeout (60 s) after its error and printed
    distributed's traceback ('Exception ignored in Client.__del__ ... TimeoutError').
    """
    try:
        _reach(scheduler)
        return client(scheduler, set_as_default=False)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise ConfigError(
            f"--scheduler {scheduler}: no Dask scheduler could be reached there ({type(exc).__name__}: "
            f"{exc}); check the address (tcp://host:8786) and that the scheduler runs, or leave out "
            "--scheduler."
        ) from exc


def _reach(scheduler: str) -> None:
    """Open and close a connection to the address ``scheduler`` (Dask's connect timeout); raises
    ValueError for a malformed address, OSError where nothing answers.

    In a thread of its own, with its own event loop: the caller's thread may be running one (Jupyter).
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect
    from distributed.security import Security

    async def reach():
        # TLS as the Client would take it (dask's config, distributed.comm.tls).
        comm = await connect(scheduler, **Security().get_connection_args("client"))
        await comm.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, reach()).result()


def _batches(tasks: list[StudyTask], threads: int) -> list[list[StudyTask]]:
    """The tasks in runs of consecutive studies, one Dask task each.

    Scheduling a Dask task and sending its result back costs about a millisecond, as much as a small
    study's features: a run of up to :data:`_MAX_BATCH` studies pays it once. Runs are kept short
    enough that each thread gets :data:`_BATCHES_PER_THREAD` of them or more, so that the load stays
    balanced, and a run killed midway loses little.
    """
    size = max(1, min(_MAX_BATCH, len(tasks) // (threads * _BATCHES_PER_THREAD)))
    return [tasks[start : start + size] for start in range(0, len(tasks), size)]


#: Most studies in one Dask task, and fewest tasks per worker thread (see :func:`_batches`).
_MAX_BATCH, _BATCHES_PER_THREAD = 16, 8


def _process_batch(tasks: list[StudyTask]) -> list[dict]:
    return [process_study(task) for task in tasks]


def _killed(task: StudyTask) -> dict:
    """The result of a study whose Dask worker died processing it (after Dask's retries)."""
    return {
        "study": task.study_id,
        "patient": None,
        "times": {},
        "inputs": task.inputs,
        "device": task.device,
        "error": "KilledWorker: the Dask worker processing this study died (its process ended: out of "
        "memory, or a crash in a library). Run it alone (--workers 1) to see why, or give each worker more "
        "memory.",
    }


def _local_cluster(workers: int, device: str):
    """A LocalCluster of ``workers`` single-threaded processes, or one worker per GPU with dask-cuda."""
    if device == "cuda" and _gpu_count() > 1:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as exc:
            raise DeviceError(
                "several GPUs are visible but dask-cuda is not installed; pip install dask-cuda, or run "
                "with --workers 1."
            ) from exc
        return LocalCUDACluster(n_workers=min(workers, _gpu_count()), dashboard_address=None)
    from dask.distributed import LocalCluster

    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )


def _gpu_count() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def _versions() -> dict:
    """The version of each installed distribution that provides one of :data:`_LIBRARIES`, by its name:
    the first such distribution of that name on the path, as Python imports the modules from it.

    The distributions providing a module are found as :func:`_top_level` finds them, not by
    :func:`importlib.metadata.packages_distributions`, which makes an object of every file of every
    installed distribution (0.15 s a run, for an environment of 120 distributions). Each one's
    metadata is parsed once, for its name and version (``metadata.version(name)`` parsed it again after
    a search of the path).
    """
    providers = {}
    for dist in metadata.distributions():
        modules = _top_level(dist, _LIBRARIES)
        if modules:
            about = dist.metadata
            for module in modules:
                providers.setdefault(module, []).append((about["Name"], about["Version"]))
    found = {}
    for module in _LIBRARIES:
        for name, version in providers.get(module, ()):
            if name:  # not a distribution whose metadata lacks its name
                found.setdefault(name, version)
    return found


def _top_level(dist: metadata.Distribution, among) -> set[str]:
    """The top-level modules of ``dist`` that are named in ``among``, by the rule of
    :func:`importlib.metadata.packages_distributions` since Python 3.12: those its ``top_level.txt``
    declares, else the first folder of each file it lists (its RECORD read as CSV text), or the module
    name of a file at the top (``six.py``: ``six``), names with a dot (``numpy.libs``, ``..``) left out.
    Python 3.11's function looks at the Python files only; for the libraries recorded the two agree.

    A RECORD whose text holds none of the names is not parsed: a path's first folder or file is one of
    them only where the text spells it (CSV quoting doubles quote characters only, which no module's
    name holds)."""
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return set(declared).intersection(among)
    record = dist.read_text("RECORD")
    if record is None:  # files listed another way (an egg's installed-files.txt)
        paths = [str(path) for path in dist.files or ()]
    elif not any(name in record for name in among):
        return set()
    else:
        paths = [row[0] for row in csv.reader(record.splitlines()) if row]
    names = {path.split("/", 1)[0] if "/" in path else inspect.getmodulename(path) or path for path in paths}
    return {name for name in names if "." not in name}.intersection(among)
