"""The cohort's outputs (cohort.outputs): write_bytes against atomic, its reference, and write_csv
against csv.DictWriter."""

import csv
import os

import numpy as np
import pytest

from gpuimg.cohort import outputs
from gpuimg.errors import WriteError


def _files(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def _by_atomic(path, data):
    with outputs.atomic(path, "wb", durable=False) as file:
        file.write(data)


@pytest.mark.parametrize("durable", [False, True])
def test_write_bytes_leaves_what_atomic_leaves(tmp_path, durable):
    """The file's bytes and permissions (the umask's), a new folder made for it, an old file replaced, and
    no temporary left: as atomic writes the same bytes, the reference, into a folder of its own."""
    data = bytes(range(256)) * 300
    for writer, root in ((outputs.write_bytes, tmp_path / "new"), (_by_atomic, tmp_path / "reference")):
        path = root / "deeper" / "S-1.json"
        if writer is _by_atomic:
            writer(path, b"old")
            writer(path, data)
        else:
            writer(path, b"old", durable=durable)
            writer(path, memoryview(data), durable=durable)
        assert path.read_bytes() == data
    for name in ("deeper", "deeper/S-1.json"):
        assert os.stat(tmp_path / "new" / name).st_mode == os.stat(tmp_path / "reference" / name).st_mode
    assert _files(tmp_path / "new") == _files(tmp_path / "reference") == ["deeper", "deeper/S-1.json"]


def test_write_bytes_refuses_what_atomic_refuses(tmp_path):
    """A folder at the path, and a file where its folder would be: the same error and message as atomic's,
    and nothing written."""
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "file").write_bytes(b"a file")
    for path in (tmp_path / "folder.json", tmp_path / "file" / "S-1.json"):
        with pytest.raises(WriteError) as reference:
            _by_atomic(path, b"x")
        with pytest.raises(WriteError) as refused:
            outputs.write_bytes(path, b"x")
        assert str(refused.value) == str(reference.value)
    assert _files(tmp_path) == ["file", "folder.json"]


def test_a_failed_write_bytes_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    """A write that fails midway (a full disk) or is interrupted leaves the old file as it was and no
    temporary, as atomic does."""
    path = tmp_path / "S-1.json"
    outputs.write_bytes(path, b"old")
    for error in (OSError(28, "No space left on device"), KeyboardInterrupt()):

        def failing(descriptor, data, error=error):
            raise error

        monkeypatch.setattr(outputs.os, "write", failing)
        with pytest.raises(type(error)):
            outputs.write_bytes(path, b"new")
        monkeypatch.undo()
        assert path.read_bytes() == b"old" and _files(tmp_path) == ["S-1.json"]


def test_write_csv_is_what_csv_dictwriter_writes(tmp_path):
    # The reference: the standard library's DictWriter (an empty cell where a row has no value, a row's
    # other keys left out), with the cells that a spreadsheet runs as formulas led by a quote.
    rows = [
        {"study": "S1", "patient": "=1+2", "a": 0.1, "b": float("nan"), "extra": "x"},
        {"b": -5, "study": "S2", "patient": None, "a": "-5"},
        {"study": "@x", "a": "+cmd", "b": 1e300},
        {},
    ]
    columns = ["study", "patient", "a", "b"]
    outputs.write_csv(tmp_path / "ours.csv", rows, columns)
    with open(tmp_path / "reference.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        inert = {"=1+2": "'=1+2", "@x": "'@x", "+cmd": "'+cmd"}
        writer.writerows(
            {k: inert.get(v, v) if isinstance(v, str) else v for k, v in r.items()} for r in rows
        )
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()


def test_plain_is_jsons_own_types_type_for_type():
    """outputs._plain (a study's stored record): finite floats and texts kept, inf and NaN as None, NumPy
    scalars and arrays as Python's, tuples as lists, keys as text; what json.loads gives back from its
    JSON, value and type, at any depth."""
    import json
    import math
    from pathlib import Path

    import numpy as np

    from gpuimg.cohort.outputs import _plain

    def reference(value):  # the definition, written out
        if isinstance(value, dict):
            return {str(k): reference(v) for k, v in value.items()}
        if isinstance(value, list | tuple | np.ndarray):
            return [reference(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return str(value) if isinstance(value, Path) else value

    def typed(value):  # value and type, at any depth
        if isinstance(value, dict):
            return {k: typed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [typed(v) for v in value]
        return (type(value), value)

    row = {"study": "s", "a": 1.5, "b": float("nan"), "c": float("inf"), "d": -float("inf"), "e": -0.0}
    row |= {"f": np.float64(2.5), "g": np.float32("nan"), "h": np.int64(3), "i": 7, "j": None, "k": True}
    row |= {"l": (1.0, float("nan")), "m": np.arange(3.0), 5: "five", "n": Path("x") / "y", "o": 1e308 * 10}
    record = {
        "study": "s",
        "row": row,
        "times": {"read": 0.25},
        "nested": {"row": dict(row)},
        "clipped": False,
    }
    plain = _plain(record)
    assert typed(plain) == typed(reference(record))
    assert typed(json.loads(json.dumps(plain))) == typed(plain)


@pytest.mark.parametrize("n", [0, 1, 9, 70])
def test_write_parquet_is_what_pyarrow_array_makes(tmp_path, n):
    """write_parquet builds its columns from their buffers (pyarrow.array imports pandas): the same
    table, and the same file, as pyarrow.array's columns of the values written; without importing pandas."""
    import subprocess
    import sys

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gpuimg.cohort.outputs import write_parquet

    rng = np.random.default_rng(n)
    texts = ["", "P-0a", "Müller", "日本", "=1+1", None, "x" * 300]
    numbers = [0.0, -0.0, 1.5, float("nan"), float("inf"), -float("inf"), None, 3, np.float64(2.5), 1e-310]
    columns = ["study", "patient", "a", "b", "c"]
    rows = []
    for i in range(n):
        row = {"study": f"s{i:03d}", "patient": texts[rng.integers(len(texts))]}
        row |= {c: numbers[rng.integers(len(numbers))] for c in ("a", "b") if rng.random() < 0.9}
        rows.append(row)  # "c" in no row: all null
    write_parquet(tmp_path / "ours.parquet", rows, columns, text=("study", "patient"))
    reference = pa.table(
        {
            c: pa.array(
                [row.get(c) for row in rows], type=pa.string() if c in ("study", "patient") else pa.float64()
            )
            for c in columns
        }
    )
    pq.write_table(reference, tmp_path / "reference.parquet")
    ours = pq.read_table(tmp_path / "ours.parquet")
    # Values by their repr: NaN equal to NaN, -0.0 apart from 0.0; None where null.
    assert ours.schema == reference.schema and repr(ours.to_pydict()) == repr(reference.to_pydict())
    assert (tmp_path / "ours.parquet").read_bytes() == (tmp_path / "reference.parquet").read_bytes()
    script = (
        "import sys\nfrom pathlib import Path\nfrom gpuimg.cohort.outputs import write_parquet\n"
        f"write_parquet(Path({str(tmp_path)!r}) / 'quiet.parquet', [{{'study': 'a', 'x': 1.0}}],"
        " ['study', 'x'], text=('study',))\nassert 'pandas' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "values, text",
    [
        (["1.5", 2.0], False),
        ([2**53 + 1, 1.0], False),
        ([-(2**53), 2**53, None], False),
        ([True, 1.0], False),
        ([np.int64(3), 1.0], False),
        (["a", 3], True),
        (["a", b"b"], True),
        (["a", True], True),
    ],
)
def test_write_parquet_values_it_does_not_build_are_pyarrows(tmp_path, values, text):
    """A value other than a str (text) or a float or an int float64 holds exactly (numbers) is what
    pyarrow.array makes of it: the same column, or the same error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gpuimg.cohort.outputs import write_parquet

    kind = pa.string() if text else pa.float64()
    rows, written = [{"x": v} for v in values], ("x",) if text else ()
    try:
        reference = pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
        with pytest.raises(type(error)):
            write_parquet(
                tmp_path / "t.parquet", [{"x": v} for v in values], ["x"], text=("x",) if text else ()
            )
        return
    write_parquet(tmp_path / "t.parquet", rows, ["x"], text=written)
    column = pq.read_table(tmp_path / "t.parquet").column("x")
    assert column.type == kind and repr(column.to_pylist()) == repr(reference.to_pylist())
