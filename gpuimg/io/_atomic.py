"""Writing a file or a folder so that readers see either the old one or the whole new one, never a part.

The new file (or folder) is written under a temporary name beside its target and renamed into place.
Temporary names carry a recognisable prefix and the writing process's id
(``.<name>.gpuimg-<pid>-<random>.tmp``), so that a write killed midway (SIGKILL, power loss) leaves
a temporary that the next write into the same folder removes once its process is gone.
"""

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from gpuimg.errors import WriteError

_MARK = ".gpuimg-"


def _temporary(path: Path, suffix: str = "") -> Path:
    """A fresh temporary name beside ``path`` (hidden, with this process's id)."""
    return path.parent / f".{path.name}{_MARK}{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(folder: Path) -> None:
    """Remove the temporaries that killed writes left in ``folder`` (their process no longer runs)."""
    if not folder.is_dir():
        return
    for entry in folder.glob(f".*{_MARK}*-*.tmp*"):
        pid = entry.name.split(_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _make_parent(path: Path) -> None:
    """Create ``path``'s folder; WriteError naming it if that fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"{path.parent}: cannot create the folder ({exc.strerror or exc}).") from exc


@contextlib.contextmanager
def _atomic_path(path: Path):
    """A temporary path beside ``path`` (same suffixes) that replaces ``path`` when the block succeeds."""
    if path.is_dir():
        raise WriteError(f"{path} is a folder; pass the path of a file to write.")
    _make_parent(path)
    _clean_stale(path.parent)
    tmp = _temporary(path, "".join(path.suffixes))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _atomic_folder(folder: Path):
    """A temporary folder beside ``folder`` that replaces ``folder`` when the block succeeds.

    The old ``folder``, if any, is removed once the new one is in place (the caller decides whether
    it may be). Between the two renames the folder is briefly absent, never half written.
    """
    _make_parent(folder)
    _clean_stale(folder.parent)
    tmp = _temporary(folder)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise WriteError(f"{folder.parent}: cannot write there ({exc.strerror or exc}).") from exc
    try:
        yield tmp
        old = None
        if folder.exists():
            if any(folder.iterdir()):
                old = _temporary(folder)
                os.replace(folder, old)
            else:
                folder.rmdir()
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
