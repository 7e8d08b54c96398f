"""The checks of a cohort run's arguments, before any study is processed: the cohort folder's studies
(:func:`find_studies`), the number of workers, the output folder (not a file, not in the cohort, not an
earlier ``keep_ids`` run's for a pseudonymised one) and the pseudonym key's file (never inside the
output folder)."""

import os
import stat
from pathlib import Path

from gpuimg._text import count
from gpuimg.errors import ConfigError
from gpuimg.io._scan import _unfollowable

from ._resume import _stored, _stored_studies
from .privacy import is_pseudonym, key_path_for


def find_studies(folder: str | os.PathLike) -> list[Path]:
    """The study folders of a cohort: the folders directly under ``folder``, in name order.

    Its links that cannot be followed count as study folders too, whose studies then fail with the
    reason (errors.csv): a link that leads nowhere (to a study folder moved or deleted, or a loop of
    links), and one into a folder the user may not search. Left out, a moved study went missing from
    the run without a word.

    Raises
    ------
    ConfigError
        If ``folder`` is not a folder, holds no sub-folder, or may not be listed (its permissions, or a
        folder's on the way to it).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from gpuimg.cohort import find_studies
    >>> cohort = Path(tempfile.mkdtemp())
    >>> for name in ("P02", "P01", ".cache"):
    ...     (cohort / name).mkdir()
    >>> _ = (cohort / "labels.csv").write_text("patient_id,label")
    >>> (cohort / "P03").symlink_to(cohort / "moved")  # a link to a study folder moved since
    >>> [study.name for study in find_studies(cohort)]  # folders, not files; hidden ones left out
    ['P01', 'P02', 'P03']
    """
    # Absolute: the studies may be processed by workers of a scheduler started elsewhere.
    folder = Path(folder).resolve()
    try:
        if not folder.is_dir():
            # A mistyped path was 'not a folder', as a file is.
            what = "is not a folder" if folder.exists() else "does not exist"
            raise ConfigError(f"--input {folder} {what}; pass the folder that holds one folder per study.")
        studies = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and _is_study(p))
    except OSError as exc:
        # A folder that may not be listed (or whose entries may not be looked at: read but no execute
        # permission) ended library calls in a bare PermissionError; no study can be found in it.
        raise ConfigError(
            f"--input {folder} cannot be listed ({exc.strerror or exc}); give your user read and execute "
            "permission on it and on the folders on the way to it, or pass another cohort folder."
        ) from exc
    if not studies:
        raise ConfigError(f"--input {folder} holds no study folders; put each study in its own sub-folder.")
    return studies


def _is_study(path: Path) -> bool:
    """Whether the entry ``path`` of a cohort folder is a study's: a folder, or a link that cannot be
    followed (it may have led to one). Raises PermissionError where the entry itself may not be looked
    at (the cohort folder may be read, not searched)."""
    try:
        return path.is_dir() or _unfollowable(path) is not None
    except PermissionError:  # a link into a folder that may not be searched, or the entry itself
        return stat.S_ISLNK(os.lstat(path).st_mode)


def check_workers(workers: int, *, local: bool = True) -> None:
    """Refuse a number of worker processes that is not a whole number from 1, or, for a ``local``
    cluster, more than the CPU cores this process may use: --workers 10000 started 10000 processes
    (each of one thread, importing NumPy and Numba), filling the memory before any study was measured,
    and a core runs one of them at a time anyway.

    Raises
    ------
    ConfigError
        Naming the number of cores (``dask.system.CPU_COUNT``: the CPU affinity and the cgroup's
        quota), or saying to install Dask.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers {workers!r} must be a whole number of worker processes, at least 1.")
    if workers == 1 or not local:  # no Dask (the studies run in this process), or a scheduler's workers
        return
    try:
        from dask.system import CPU_COUNT
    except ImportError as exc:
        raise ConfigError(
            f"--workers {workers} runs the studies on a local Dask cluster, and Dask is not installed; "
            "in the gpuimg checkout, pip install -e '.[dask]'; or leave out --workers."
        ) from exc
    if workers > CPU_COUNT:
        raise ConfigError(
            f"--workers {workers} is more than the {count(CPU_COUNT, 'CPU core')} this process may use "
            f"(its CPU affinity and container limit); each worker is a process computing one study at a "
            f"time: pass --workers {CPU_COUNT} or fewer."
        )


def _check_output(studies: Path, output: Path, found: list[Path]) -> None:
    """Refuse an output that is a file, or lies in the cohort's folder ``studies`` or is one of its
    ``found`` study folders through a link (where this run, the next, or a worker listing the
    studies, would take it for a study)."""
    if output.exists() and not output.is_dir():
        raise ConfigError(
            f"--output {output} is a file; pass a folder for the results (new, or one of an earlier run)."
        )
    resolved = output.resolve()
    if resolved == studies or studies in resolved.parents:
        raise ConfigError(
            f"--output {output} lies in --input {studies}, where the next run would read it as a study; "
            f"put the results beside the studies (e.g. --output {studies.parent / 'results'})."
        )
    # realpath: Path.resolve raises RuntimeError for a study that is a loop of links. Of links only: the
    # studies lie in the resolved cohort folder (find_studies), so any other is its own real path, which
    # the check above refused (realpath looks at each folder on a study's path: 4.3 -> 0.5 ms of thread
    # time for 200 studies).
    linked = [study for study in found if os.path.islink(study) and Path(os.path.realpath(study)) == resolved]
    if linked:
        raise ConfigError(
            f"--output {output} is linked from --input {studies} as the study folder {linked[0].name!r}, "
            "so this run would read its own results as a study; remove that link from the cohort, or "
            "pass another output folder."
        )


def _check_no_original_ids(output: Path) -> None:
    """Refuse to pseudonymise into an output folder whose stored studies an earlier ``keep_ids`` run
    named by their folders (and whose rows hold the original patient IDs): they would stay beside the
    outputs made to be shared. Such a study is not named by a pseudonym, in its folder's journals
    (:func:`_stored_studies`), or in the name of its preview's file (written before its record) or of
    its result's file (in a folder of a gpuimg before the journals)."""
    names = set()
    try:
        for folder in output.glob(".studies/*/"):
            studies = _stored_studies(folder)
            previews = {_stored(folder, study, ".npz").stem for study in studies}
            names |= studies | {path.stem for path in folder.glob("*.json")}
            names |= {path.stem for path in folder.glob("*.npz") if path.stem not in previews}
    except OSError as exc:
        raise ConfigError(
            f"--output {output}: the stored results of an earlier run cannot be read ({exc}); make them "
            "readable, or use a new output folder."
        ) from exc
    named = [name for name in names if not is_pseudonym(name, "study")]
    if named:
        raise ConfigError(
            f"--output {output} holds {count(len(named), 'study', 'studies')} of an earlier run with "
            f"--keep-ids (original IDs, in {output / '.studies'}); a pseudonymised run would leave them "
            "beside its outputs. Use a new output folder, or delete that one first."
        )


def _check_key(key_path: str | os.PathLike | None, output: Path) -> Path:
    """The pseudonym key's file (default ``<output>.key``); one inside the output folder, which is made
    to be shared, is refused: with it, anyone can pseudonymise a guessed ID and find its rows."""
    if key_path is None:
        return key_path_for(output)
    key_path, folder = Path(key_path), output.resolve()
    if folder == key_path.resolve() or folder in key_path.resolve().parents:
        raise ConfigError(
            f"--key {key_path} lies in --output {output}, which is made to be shared; keep the key beside "
            f"it (e.g. --key {key_path_for(output)}), never inside."
        )
    return key_path
