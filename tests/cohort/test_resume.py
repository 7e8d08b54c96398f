"""A study's stored result (cohort._resume): what a run keeps is what a later run reads back."""

import json
import os
import subprocess
import sys

import numpy as np

from gpuimg.cohort._resume import _Journal, _preview, _resume, _store
from gpuimg.io._atomic import _host


def _typed(value):
    """``value`` with the type of every item beside it, so that equal values of other types differ."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, repr(value))


def test_a_stored_result_is_returned_as_json_reads_it_back(tmp_path):
    """_store returns the record as json.loads of the file it wrote gives it, type for type: the record a
    resumed run reads (_cached) is the one an uninterrupted run kept. The reference is the file's text
    read by the standard library's JSON parser."""
    result = {
        "study": "S-0123456789abcdef",
        "patient": "Ärztin Müller \udcfc",  # a name that is not UTF-8 on disk keeps its escapes
        "times": {"read": np.float64(0.25), "segment": 1e-320, "features": np.float32(0.1)},
        "inputs": "0123456789abcdef",
        "device": "cpu",
        "row": {
            "study": "S-0123456789abcdef",
            "nan": float("nan"),
            "inf": -np.inf,
            "zero": -0.0,
            "tiny": 5e-324,
            "huge": 1.7976931348623157e308,
            "pi": np.pi,
            "int": np.int64(-7),
            "big": 2**80,
            "flag": np.bool_(True),
            "array": np.array([[1.5, np.nan], [3.0, 4.0]]),
            "pair": (1, "two", None),
        },
        "clipped": False,
        7: "a key that is no string",
        "preview": {"image": np.arange(6, dtype=np.float32).reshape(2, 3)},
    }
    with _Journal(tmp_path) as journal:  # open: its run writes it, so _resume leaves it as it is
        record = _store(journal, result)
        (written,) = [json.loads(line) for line in journal.path.read_text().splitlines()]
        assert _typed(record) == _typed(written)
        assert _typed(_resume(tmp_path)["S-0123456789abcdef"]) == _typed(written)
        assert sorted(path.name for path in tmp_path.iterdir()) == [
            ".lock",
            "S-0123456789abcdef.npz",
            journal.path.name,
        ]  # no temporary left
    assert written["row"]["nan"] is None and written["row"]["array"] == [[1.5, None], [3.0, 4.0]]
    assert "preview" not in written and written["7"] == "a key that is no string"
    preview = _preview(tmp_path, "S-0123456789abcdef")
    np.testing.assert_array_equal(preview["image"], result["preview"]["image"])


def _result(study: str, value: float) -> dict:
    return {"study": study, "patient": None, "row": {"study": study, "stat_mean": value}}


def _ended_pid() -> int:
    """The id of a process that has ended (the system's answer, Popen.poll, is the reference)."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert finished.poll() is not None
    return finished.pid


def _lines(path) -> list[dict]:
    """A journal's records by the standard library's JSON parser, line by line."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_journals_give_each_study_its_last_complete_record(tmp_path):
    """Two runs' journals, the later one cut short by a crash, a dead writer's and a live one's: each
    study's record is its last whole line, oldest journal first; the ended process's journals are merged
    into one (their latest records) and removed, the running process's and another machine's are kept
    as they were. The running writer holds its journal's lock under an id that no process of this PID
    namespace has (as a container sharing the machine's name shows it). The reference: the lines
    written, read back by json.loads."""
    running = None
    try:
        dead, elsewhere = _ended_pid(), "0" * 8 if _host() != "0" * 8 else "1" * 8
        names = {
            "old": f"journal-{10:020d}-{dead}-{_host()}.jsonl",
            "cut": f"journal-{20:020d}-{dead}-{_host()}.jsonl",
            "live": f"journal-{15:020d}-{dead}-{_host()}.jsonl",
            "elsewhere": f"journal-{30:020d}-{dead}-{elsewhere}.jsonl",
        }
        lines = {
            "old": [_result("A", 1.0), _result("B", 2.0), _result("C", 3.0), _result("A", 1.5)],
            "live": [_result("B", 20.0), _result("D", 4.0)],
            "cut": [_result("B", 200.0), _result("C", 30.0)],
            "elsewhere": [_result("E", 5.0)],
        }
        for what, records in lines.items():
            (tmp_path / names[what]).write_text("".join(json.dumps(r) + "\n" for r in records))
        cut = json.dumps(_result("A", 99.0))
        with open(tmp_path / names["cut"], "a") as file:  # a line of A cut short, then one without newline
            file.write("{not json\n" + cut[:-1] + "\n" + cut)
        written = {
            what: [
                json.loads(line) for line in (tmp_path / name).read_text().splitlines()[: len(lines[what])]
            ]
            for what, name in names.items()
        }
        assert written == lines
        holder = "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        holder += "print(flush=True); time.sleep(600)"
        running = subprocess.Popen(
            [sys.executable, "-c", holder, tmp_path / names["live"]], stdout=subprocess.PIPE
        )
        assert running.stdout.readline() == b"\n"  # it holds the lock
        stored = _resume(tmp_path)
        # By hand: A's last whole line is old's second; B's is cut's (20 > 15 > 10), C's cut's.
        assert stored == {
            "A": _result("A", 1.5),
            "B": _result("B", 200.0),
            "C": _result("C", 30.0),
            "D": _result("D", 4.0),
            "E": _result("E", 5.0),
        }
        merged = f"journal-{20:020d}-merged.jsonl"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [".lock", merged, names["live"], names["elsewhere"]]
        )
        assert {r["study"]: r for r in _lines(tmp_path / merged)} == {
            "A": _result("A", 1.5),
            "B": _result("B", 200.0),
            "C": _result("C", 30.0),
        }
        assert len(_lines(tmp_path / merged)) == 3
        for what in ("live", "elsewhere"):
            assert _lines(tmp_path / names[what]) == lines[what]
        # Once merged, the same records; a merged journal alone is left as it is.
        before = (tmp_path / merged).stat().st_mtime_ns
        assert _resume(tmp_path) == stored
        assert (tmp_path / merged).stat().st_mtime_ns == before
        # This run's journal comes after all of them: its records win.
        with _Journal(tmp_path) as journal:
            assert _store(journal, _result("B", 7.0)) == _result("B", 7.0) | {"gpuimg": _gpuimg()}
        assert journal.path.name.endswith(f"-{os.getpid()}-{_host()}.jsonl")
        assert _resume(tmp_path)["B"]["row"]["stat_mean"] == 7.0
    finally:
        if running is not None:
            running.kill()
            running.wait()


def _gpuimg() -> str:
    import gpuimg

    return gpuimg.__version__


def test_a_run_that_stores_nothing_leaves_no_journal(tmp_path):
    with _Journal(tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []
    assert _resume(tmp_path) == {}
    assert [path.name for path in tmp_path.iterdir()] == [".lock"]


def test_two_runs_starting_at_once_keep_every_stored_record(tmp_path, monkeypatch):
    """Regression: a run (B) listing the journals while another (A) merged and removed them read none
    of them, then wrote an empty merged journal over A's (every finished study redone). B is held for
    up to a second after listing them, A starts meanwhile; the reference: the records written."""
    import threading

    from gpuimg.cohort import _resume as resume

    dead = _ended_pid()
    for k in range(3):
        records = [_result(f"S{k}-{j}", float(j)) for j in range(5)]
        journal = tmp_path / f"journal-{k + 1:020d}-{dead}-{_host()}.jsonl"
        journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    expected = {f"S{k}-{j}": _result(f"S{k}-{j}", float(j)) for k in range(3) for j in range(5)}
    read, listed, a_done = resume._read, threading.Event(), threading.Event()

    def held_read(path):
        if threading.current_thread().name == "B" and not listed.is_set():
            listed.set()
            a_done.wait(timeout=1.0)
        return read(path)

    monkeypatch.setattr(resume, "_read", held_read)
    results = {}

    def run():
        results[threading.current_thread().name] = resume._resume(tmp_path)
        if threading.current_thread().name == "A":
            a_done.set()

    b = threading.Thread(target=run, name="B")
    b.start()
    assert listed.wait(timeout=30)
    a = threading.Thread(target=run, name="A")
    a.start()
    a.join(timeout=60)
    b.join(timeout=60)
    assert results == {"A": expected, "B": expected}
    (merged,) = tmp_path.glob("journal-*.jsonl")
    assert {r["study"]: r for r in _lines(merged)} == expected
