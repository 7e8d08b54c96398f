"""The stored results of a run's finished studies, by which a later run resumes: in ``.studies/<spec
hash>/`` of the output folder, each study's record (its row and how it was measured, JSON) in a
journal, and its preview (NPZ, only for the studies the report may show) in a file named by the study.

Each run appends its studies' records, one line each, to a journal of its own,
``journal-<start>-<pid>-<host>.jsonl`` (its start in nanoseconds since the epoch, its process's id,
its machine's digest as temporaries' names carry them, :mod:`gpuimg.io._atomic`): one write of a line
to an open file instead of a new file a study (whose creation by the kernel took about 0.35 ms, a tenth
of a small study). A later run reads every journal of the folder, oldest start first and each line in
order: a study's last complete record wins; a line cut short by a crash (without its newline, or not
JSON) is ignored, and its study redone. At its start, a run merges the journals of this machine's
processes that no longer run into one (``journal-<start>-merged.jsonl``, the latest of their starts,
written whole under a temporary name and renamed), and removes them; a running process's journal,
and another machine's (whose processes cannot be seen from here), are only read.

A run holds an exclusive lock (``flock``) on its journal while it writes it, and that lock, not its
process id (which another PID namespace on the same machine reuses), tells a running writer; the
journals are listed, read, merged and removed under an exclusive lock on the folder's ``.lock``, so
that two runs starting at once neither read a journal the other is removing nor both write the merge.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
import zipfile
from pathlib import Path

import numpy as np

import gpuimg
from gpuimg.io._atomic import _host

from . import outputs


def _stored(cache: Path, study: str, suffix: str) -> Path:
    """The file of a study's stored preview: named by the study, but a folder name (``--keep-ids``) too
    long for a file name with the temporary file's prefix and suffix (see :func:`outputs.atomic`) is cut,
    and a digest of it keeps it apart from the other studies. Never a pseudonym's form."""
    name = study.encode()
    if len(name) > _LONGEST_NAME:
        study = f"{name[:150].decode(errors='ignore')}~{hashlib.sha256(name).hexdigest()[:16]}"
    return cache / f"{study}{suffix}"


#: Most bytes of a study's name in the name of its stored preview's file (most file systems take 255).
_LONGEST_NAME = 200

#: The journals of a folder (glob pattern), and the last field of a merged journal's name.
_JOURNALS, _MERGED = "journal-*.jsonl", "merged"


def _journals(cache: Path) -> list[tuple[int, str, Path]]:
    """The journals in ``cache``, oldest start first: (start, writer, path), the writer being
    ``<pid>-<host>`` or ``merged``. A name of another form is no journal of a run."""
    found = []
    for path in cache.glob(_JOURNALS):
        fields = path.name[len("journal-") : -len(".jsonl")].split("-", 1)
        if len(fields) == 2 and fields[0].isdigit():
            found.append((int(fields[0]), fields[1], path))
    return sorted(found)


def _read(path: Path) -> list[dict]:
    """The complete records of the journal at ``path`` (:func:`_records`)."""
    return _records(path.read_bytes())


def _records(text: bytes) -> list[dict]:
    """The complete records of a journal's ``text``, in line order: a line without its newline (a write
    cut short) or that is not a JSON object with a study is left out."""
    lines = text.split(b"\n")
    records = []
    for line in lines[:-1]:  # the last piece is what follows the last newline: empty, or cut short
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("study"), str):
            records.append(record)
    return records


def _latest(records) -> dict[str, dict]:
    """Each study's last record of ``records``."""
    return {record["study"]: record for record in records}


@contextlib.contextmanager
def _locked(cache: Path):
    """Hold the exclusive lock on ``cache``'s ``.lock`` (made where missing) for the journals' listing,
    reading, merging and removal (see the module's docstring)."""
    descriptor = os.open(cache / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # which releases the lock


def _ended(path: Path) -> bool:
    """Whether no process writes the journal at ``path``: none holds its lock (:class:`_Journal`)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


def _resume(cache: Path) -> dict[str, dict]:
    """The stored record of each study in ``cache`` (its last complete one), once the journals of this
    machine's ended processes are merged into one and removed."""
    with _locked(cache):
        return _merged(cache)


def _merged(cache: Path) -> dict[str, dict]:
    """:func:`_resume` under the folder's lock."""
    here, ended, read = _host(), [], []
    for start, writer, path in _journals(cache):
        try:
            records = _read(path)
        except OSError:  # unreadable (its mode): its studies are redone, and it is left as it is
            continue
        read.append(records)
        if writer == _MERGED or (writer.partition("-")[2] == here and _ended(path)):
            ended.append((start, writer, path, records))
    if len(ended) > 1 or any(writer != _MERGED for _, writer, _, _ in ended):
        merged = _latest(record for *_, records in ended for record in records)
        target = cache / f"journal-{ended[-1][0]:020d}-{_MERGED}.jsonl"
        text = "".join(json.dumps(record) + "\n" for record in merged.values())
        outputs.write_bytes(target, text.encode(), durable=False)
        for _, _, path, _ in ended:
            if path != target:
                path.unlink(missing_ok=True)
    return _latest(record for records in read for record in records)


def _stored_studies(cache: Path) -> set[str]:
    """The studies the journals in ``cache`` name: in their records, and at the start of a line cut
    short (a run killed as it wrote its first record)."""
    with _locked(cache):
        names = set()
        for _, _, path in _journals(cache):
            text = path.read_bytes()
            names.update(record["study"] for record in _records(text))
            torn = _TORN_STUDY.match(text[text.rfind(b"\n") + 1 :])
            if torn:
                names.add(json.loads(torn[1]))
        return names


#: A record's start, which names its study (a result's first key), in a line cut short after the
#: study's whole JSON string (a name cut short itself is no study's, pseudonym or not).
_TORN_STUDY = re.compile(rb'\{"study": ("(?:[^"\\]|\\.)*")')


class _Journal:
    """This run's journal in ``cache``, made at its first record (a run that stores nothing leaves none).

    Used as a context manager, which closes it."""

    def __init__(self, cache: Path):
        self.path = cache / f"journal-{time.time_ns():020d}-{os.getpid()}-{_host()}.jsonl"
        self._descriptor = None

    def append(self, line: bytes) -> None:
        """Append ``line`` (ending in its newline), in one write where the system takes it whole."""
        if self._descriptor is None:
            self._descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666)
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)  # held while this run writes (see _ended)
        outputs.write_all(self._descriptor, line)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _store(journal: _Journal, result: dict) -> dict:
    """Store a study's ``result`` (its record as a line of ``journal``, its preview as NPZ beside it), and
    return the record as :func:`_resume` will read it back, so that a resumed run sees exactly what an
    uninterrupted one does, without reading it again: the record in JSON's own types
    (:func:`outputs._plain`: lists, str keys, finite floats, None for NaN), which ``json.loads`` of the
    line written gives back equal, type for type (a float's JSON text is its shortest round-trip repr).

    The line is compact JSON (``json.dumps`` escapes any line break inside a string): with an indent,
    the standard library's encoder runs in Python, three times as long as its C encoder.
    """
    # Not flushed to disk: a result lost in a power cut is missing or cut short, and computed again.
    if "preview" in result:
        outputs.write_npz(
            _stored(journal.path.parent, result["study"], ".npz"), result["preview"], durable=False
        )
    record = {**{k: v for k, v in result.items() if k != "preview"}, "gpuimg": gpuimg.__version__}
    record = outputs._plain(record)
    journal.append((json.dumps(record) + "\n").encode())
    return record


def _preview(cache: Path, study: str) -> dict | None:
    path = _stored(cache, study, ".npz")
    try:
        with np.load(path) as arrays:
            return dict(arrays)
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
