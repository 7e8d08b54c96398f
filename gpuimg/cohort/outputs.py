"""Atomic writes of the cohort outputs: a file is either absent, the old one, or the whole new one.

Each file is written under a temporary name in the output folder and renamed over its final name, as
:mod:`gpuimg.io` writes images (:func:`gpuimg.io._atomic._atomic_path`), so Ctrl-C or SIGKILL never
leaves a half-written output; a later run removes leftover temporary files. The outputs are also
flushed to disk before the rename (``durable``), so that they survive a power cut; the per-study
results, which a run reads back and can redo, are not (a flush to disk costs about as much as a small
study's features).
"""

import contextlib
import csv
import io
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np

from gpuimg.errors import WriteError
from gpuimg.io._atomic import (
    _TEMPORARIES,
    _atomic_path,
    _clean_stale,
    _format_suffix,
    _make_parent,
    _temporary,
)


@contextlib.contextmanager
def atomic(
    path: Path, mode: str = "w", *, durable: bool = True, exclusive: bool = False, private: bool = False
):
    """An open temporary file beside ``path`` that replaces ``path`` when the block succeeds.

    The file's permissions are those any new file gets (the process's umask, e.g. 0644), so that an
    output folder shared with a group is readable by it; ``private`` makes it its owner's only (0600:
    the pseudonym key). ``durable`` flushes it to disk (fsync) before the rename. ``exclusive`` never
    replaces a file: the temporary is hard-linked into place, which raises FileExistsError where
    ``path`` exists, even one another process made meanwhile (on a file system without hard links, a
    rename after a check).
    Killed writes' temporaries are left to :func:`remove_partials`, which a run calls once: a run
    writes every study's results into one folder.
    """
    text = {} if "b" in mode else {"newline": "", "encoding": "utf-8"}
    with _atomic_path(Path(path), exclusive=exclusive, clean=False) as tmp:
        descriptor = os.open(tmp, _NEW_FILE, 0o600 if private else 0o666)
        with open(descriptor, mode, **text) as file:
            yield file
            if durable:
                file.flush()
                os.fsync(file.fileno())


def write_all(descriptor: int, data: bytes) -> None:
    """Write all of ``data`` to the open file ``descriptor``: ``os.write`` again for what a write left."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """``data`` as the file ``path``, replaced as :func:`atomic` replaces it (the same temporary beside it,
    renamed over it; the same refusal of a folder), in a few system calls and no file object.

    A run stores the studies' previews and its merged journals so (:mod:`gpuimg.cohort._resume`):
    :func:`atomic`'s context managers, file objects and folder creation took 16 of its 54 us a file. The
    folder is made only where the temporary cannot be created for want of it.
    """
    if path.is_dir():
        raise WriteError(f"{path} is a folder; pass the path of a file to write.")
    tmp = _temporary(path, _format_suffix(path))
    try:
        descriptor = os.open(tmp, _NEW_FILE, 0o666)
    except (FileNotFoundError, NotADirectoryError):  # no folder there: made (or refused) as atomic does
        _make_parent(path)
        descriptor = os.open(tmp, _NEW_FILE, 0o666)
    try:
        try:
            write_all(descriptor, data)
            if durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: The flags of a temporary file: a new one, never one that exists.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def remove_partials(folder: Path) -> None:
    """Delete the temporary files an interrupted run left where a run writes: in the output ``folder``
    and, at any depth, in its ``.studies/``; those of processes of this machine that no longer run. A
    running process's (another run writing to the same folder) and another machine's (a shared
    folder's) are kept, as :func:`gpuimg.io._atomic._clean_stale` keeps them: deleting them failed that
    run's next rename of a finished file.

    The rest of ``folder`` is not walked: an output folder may hold the cohort (``--output .`` with
    ``--input ./cohort``), whose every study's folders were walked on each run, and whose files (another
    program's interrupted writes among them) are the input's, never a run's to delete."""
    leftovers = [*folder.glob(_TEMPORARIES), *(folder / ".studies").rglob(_TEMPORARIES)]
    for parent in sorted({leftover.parent for leftover in leftovers}):
        _clean_stale(parent)


def write_json(path: Path, value, *, durable: bool = True) -> None:
    # One write: json.dump would write each of its many small pieces through the text layer.
    with atomic(path, durable=durable) as file:
        file.write(json_text(value))


def json_text(value, *, indent: int | None = 2) -> str:
    """``value`` as JSON text ending in a newline, NumPy values as Python ones and non-finite floats as
    null (:func:`_plain`)."""
    return json.dumps(_plain(value), indent=indent, sort_keys=False, allow_nan=True) + "\n"


def write_text(path: Path, text: str) -> None:
    with atomic(path) as file:
        file.write(text)


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """``rows`` as CSV, a text cell that a spreadsheet would run as a formula led by a quote.

    Text beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (a study folder named
    ``=HYPERLINK(...)`` with ``--keep-ids``, a crafted Modality header) is a formula to Excel and
    LibreOffice, which they run on opening; OWASP's advice (CSV injection) is to prefix such a cell
    with ``'``, which spreadsheets show as text. Numbers (``-0.5``) and other text are written as
    they are; the Parquet table keeps every value as it is.
    """
    with atomic(path) as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        # Each row's cells in the columns' order, as csv.DictWriter takes them (an empty cell where a row
        # has no value, the row's other keys left out), its texts made inert; no dict made a row nor call
        # a number (10.4 -> 8.6 ms of thread time for 200 demo studies' table).
        writer.writerows(
            [_inert(value) if isinstance(value, str) else value for value in map(row.get, columns, _EMPTY)]
            for row in rows
        )


#: The value of a row's cell where the row has none (csv.DictWriter's restval).
_EMPTY = itertools.repeat("")


#: The first characters of a cell that spreadsheets read as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    try:
        float(value)  # a number ("-5", "+1e3") is no formula
    except ValueError:
        return "'" + value
    return value


def write_parquet(path: Path, rows: list[dict], columns: list[str], *, text: tuple[str, ...] = ()) -> None:
    """``rows`` as a Parquet table: strings for the ``text`` columns (the IDs), float64 for the others.

    The types are set, not inferred from the values: a feature that is NaN (null) in every study, and
    every column of a cohort whose studies all failed, would be Arrow's ``null`` type (object in pandas).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({c: _arrow_column([row.get(c) for row in rows], text=c in text) for c in columns})
    with atomic(path, "wb") as file:
        pq.write_table(table, file)


def _arrow_column(values: list, *, text: bool):
    """``values`` (texts, or numbers; None for a missing value) as an Arrow array of strings or float64,
    the Arrow array ``pyarrow.array(values, type)`` makes. Built from its buffers where the values are
    str (text) or float and ints float64 holds exactly (numbers), as a study's row has them:
    ``pyarrow.array`` of a list imports pandas to ask whether it is one of pandas' (0.5-1.4 s of a one-run
    process here). Other values go to ``pyarrow.array``, which converts or refuses them."""
    import pyarrow as pa

    if not all(value is None or _arrow_ready(value, text) for value in values):
        return pa.array(values, pa.string() if text else pa.float64())
    n = len(values)
    valid = np.fromiter((value is not None for value in values), bool, n)
    if text:
        encoded = [b"" if value is None else value.encode() for value in values]
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum([len(value) for value in encoded], out=offsets[1:])
        kind, buffers = pa.string(), [pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    else:
        numbers = np.fromiter((0.0 if value is None else value for value in values), np.float64, n)
        kind, buffers = pa.float64(), [pa.py_buffer(numbers)]
    nulls = n - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(kind, n, [bitmap, *buffers], null_count=nulls)


def _arrow_ready(value, text: bool) -> bool:
    """Whether :func:`_arrow_column` builds ``value``'s Arrow value itself: a str in a text column; a float
    (NumPy's float64 too), or an int within +-2**53 (exact in float64), in a number column."""
    if text:
        return type(value) is str
    return isinstance(value, float) or (type(value) is int and -(2**53) <= value <= 2**53)


def write_npz(path: Path, arrays: dict, *, durable: bool = True) -> None:
    """``arrays`` uncompressed: a study's preview is a few kB, and deflating it took 5x as long as writing."""
    buffer = io.BytesIO()  # zipfile's many small writes and seeks, in memory
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getbuffer(), durable=durable)


def write_joblib(path: Path, value) -> None:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(value, buffer)
    with atomic(path, "wb") as file:
        file.write(buffer.getvalue())


def _plain(value):
    """``value`` with NumPy scalars and arrays as Python ones and non-finite floats as None (JSON null)."""
    kind = type(value)
    if kind is float:  # a study's features: the common case first, without the checks below
        return value if math.isfinite(value) else None
    if kind is str or kind is int or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
