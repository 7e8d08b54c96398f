"""A study folder's fingerprint: a digest of its files, by which a later run knows whether it must measure
the study again (:func:`gpuimg.cohort.run_pipeline`'s resume)."""

import hashlib
import os
from pathlib import Path

from gpuimg.io._scan import _tree_files, _unfollowable

#: The bytes read from the first file of each folder of a study for its :func:`fingerprint` [bytes]: a
#: DICOM file's preamble and meta group, with its SOP Instance UID, lie within them.
_HEAD_BYTES = 4096


def fingerprint(folder: Path) -> str:
    """A digest of the files under a study folder, at any depth: their paths, sizes [bytes] and times of
    last modification [ns], and the first :data:`_HEAD_BYTES` of the first file of each folder.

    A file replaced, added, removed or rewritten changes it, reading one file's head per folder; links
    to files count as their targets, links to folders are followed, each folder once (as
    :func:`gpuimg.io.list_series` walks). A folder that may not be listed counts by its name, so that
    read access given to it changes the digest even where it holds no file; a link that leads nowhere
    counts by its name and why, so that removing it changes the digest (a study folder that is such a
    link counts by why alone).

    The heads tell apart studies whose files have the same names, sizes and times (series of one
    protocol unpacked from an archive or an image that sets every file's time, or written in one tick):
    two such study folders swapped or renamed between runs kept each other's stored rows.
    """
    digest = hashlib.sha256()
    why = _unfollowable(folder)
    if why is not None:  # the study folder is a link leading nowhere: its error is kept while it does
        digest.update(f"\0{why}\0".encode())
        return digest.hexdigest()[:16]
    parts = _flat_parts(folder)
    if parts is not None:
        digest.update(b"".join(parts))
        return digest.hexdigest()[:16]
    unlisted: list[Path] = []
    dangling: dict[Path, str] = {}
    read: set[str] = set()
    # The files' names below the folder cut from their paths' text, which begins with the folder's (as
    # _tree_files joins them), and the parts hashed at once: Path.relative_to and a hash update a file
    # took most of the time (0.5 -> 0.35 ms of thread time for a demo study of 33 files).
    prefix = os.path.join(os.fspath(folder), "")
    parts = []
    for path in _tree_files(Path(folder), unlisted, dangling=dangling):
        try:
            stat = os.stat(path)
        except OSError:  # removed while walking
            continue
        text = os.fspath(path)
        name = text[len(prefix) :] if text.startswith(prefix) else str(path.relative_to(folder))
        parts.append(_part(name, stat))
        parent = os.path.dirname(text)
        if parent not in read:  # the folder's first file, in name order
            read.add(parent)
            parts.append(_head(path))
    digest.update(b"".join(parts))
    for locked in unlisted:  # its files are unknown: read access given changes the digest
        digest.update(f"{locked.relative_to(folder)}{os.sep}\0unlisted\0".encode(errors="surrogateescape"))
    for link, why in dangling.items():  # removed or mended, the study is read again
        digest.update(f"{link.relative_to(folder)}\0{why}\0".encode(errors="surrogateescape"))
    return digest.hexdigest()[:16]


def _flat_parts(folder: Path) -> list[bytes] | None:
    """:func:`fingerprint`'s parts of a study folder that holds regular files only (no folder, no link:
    the common case), from its listing alone, as the walk of :func:`_tree_files` gives them; None for a
    folder that holds anything else or cannot be listed, which that walk takes. No Path is made, looked
    at and cut again a file: 0.26 -> 0.13 ms of thread time a demo study."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return None
    if not all(entry.is_file(follow_symlinks=False) for entry in entries):
        return None
    parts = []
    for entry in entries:
        try:
            stat = os.stat(entry.path)
        except OSError:  # removed while walking
            continue
        parts.append(_part(entry.name, stat))
        if len(parts) == 1:  # the folder's first file, in name order
            parts.append(_head(entry.path))
    return parts


def _part(name: str, stat: os.stat_result) -> bytes:
    """A file's part of :func:`fingerprint`: its path below the study folder, size and time."""
    return f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode(errors="surrogateescape")


def _head(path) -> bytes:
    """The digest of the first :data:`_HEAD_BYTES` of the file at ``path``, for :func:`fingerprint`."""
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read(_HEAD_BYTES)).digest()
    except OSError:  # unreadable: the study will say so when it is read
        return b"\0unreadable\0"
