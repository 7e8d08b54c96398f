"""Writing a file or a folder so that readers see either the old one or the whole new one, never a part.

The new file (or folder) is written under a temporary name beside its target and renamed into place.
Temporary names carry a recognisable prefix, the writing process's id and its machine's
(``.<name>.gpuimg-<pid>-<host>-<random>.tmp``), so that a write killed midway (SIGKILL, power loss)
leaves a temporary that the next write on that machine into the same folder removes once its process
is gone; a shared folder's temporaries of other machines' writes, whose processes cannot be seen from
here, are left to them. The cohort's
outputs (:func:`gpuimg.cohort.outputs.atomic`) are written the same way.
"""

import contextlib
import hashlib
import os
import secrets
import shutil
import socket
from pathlib import Path

from gpuimg.errors import WriteError

_MARK = ".gpuimg-"
#: Bytes of the target's name that start its temporary's name, and most bytes of the suffix kept: the
#: temporary's name (these, the mark, a process id of up to 7 digits and twice 8 hex digits) stays within the
#: 255 bytes most file systems allow a name, whatever the target's name.
_NAME_BYTES = 120
_SUFFIX_BYTES = 16


def _temporary(path: Path, suffix: str = "") -> Path:
    """A fresh temporary name beside ``path`` (hidden, with this process's id), ending in ``suffix``."""
    start = os.fsdecode(os.fsencode(path.name)[:_NAME_BYTES])
    return path.parent / f".{start}{_MARK}{os.getpid()}-{_host()}-{secrets.token_hex(4)}.tmp{suffix}"


def _host() -> str:
    """This machine, in 8 hex digits (of its host name's SHA-256), for temporaries' names."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _format_suffix(path: Path) -> str:
    """The end of ``path``'s name that names its format (``.nii.gz``, ``.nrrd``), for writers that pick
    the format by name: its last two suffixes, else its last, if at most 16 bytes long (a longer one is
    part of the name, as a UID's last component is), else none."""
    for suffix in ("".join(path.suffixes[-2:]), path.suffix):
        if len(os.fsencode(suffix)) <= _SUFFIX_BYTES:
            return suffix
    return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: The names of temporaries (glob pattern).
_TEMPORARIES = f".*{_MARK}*-*.tmp*"


def _clean_stale(folder: Path) -> None:
    """Remove the temporaries that killed writes on this machine left in ``folder`` (their process no
    longer runs). Another machine's (a shared folder's) are kept: its process ids are not ours. A
    name without a machine (``<pid>-<random>``, of gpuimg before it had one) is this machine's."""
    if not folder.is_dir():
        return
    here = _host()
    for entry in folder.glob(_TEMPORARIES):
        fields = entry.name.split(_MARK, 1)[1].split(".tmp", 1)[0].split("-")
        if len(fields) == 3 and fields[1] != here:
            continue
        if fields[0].isdigit() and not _alive(int(fields[0])):
            _remove(entry)


def _remove(entry: Path) -> None:
    """Delete a temporary file or folder."""
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
def _atomic_path(path: Path, *, exclusive: bool = False, clean: bool = True):
    """A temporary path beside ``path`` (same format suffix) that replaces ``path`` when the block succeeds.

    ``exclusive`` never replaces a file: the temporary is hard-linked into place, which raises
    FileExistsError where ``path`` exists, even one another process made meanwhile (on a file system
    without hard links, a rename after a check). ``clean`` first removes killed writes' temporaries
    from the folder (a listing of it: a caller writing many files into one folder cleans it once).
    """
    if path.is_dir():
        raise WriteError(f"{path} is a folder; pass the path of a file to write.")
    _make_parent(path)
    if clean:
        _clean_stale(path.parent)
    tmp = _temporary(path, _format_suffix(path))
    try:
        yield tmp
        if exclusive:
            _link(tmp, path)
            tmp.unlink(missing_ok=True)  # the second name of a hard link
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _link(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` too; FileExistsError where ``path`` exists."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network shares)
        if path.exists():
            raise FileExistsError(f"{path} exists") from None
        os.replace(tmp, path)


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
