"""Where a cohort's studies are processed (cohort._dask): in this process, in runs of studies."""

import pytest

from gpuimg.cohort import _dask

#: Made-up seconds each study takes: many quick ones, slow ones, a mix, none, one.
_DURATIONS = [[0.001] * 40, [0.2] * 5, [0.03, 0.2, 0.01, 0.01, 0.5, 0.04] * 4, [], [1.0]]


class _Bar:
    def __init__(self, events):
        self.events = events

    def update(self):
        self.events.append(("bar", None))


@pytest.mark.parametrize("seconds", _DURATIONS)
def test_studies_in_this_process_are_yielded_in_order_in_short_runs(monkeypatch, seconds):
    """Each study's result is yielded once, in order, and the bar moves once a study; a run (studies
    processed, then yielded together) holds at most 16 studies and ends at the first that brings it to
    0.1 s (on a clock that the studies' durations advance) or at the last study. The reference: the
    studies in order, and each run's durations summed here."""
    now, events = [0.0], []

    def process(task):
        events.append(("processed", task))
        now[0] += seconds[task]
        return {"study": task}

    monkeypatch.setattr(_dask, "process_study", process)
    monkeypatch.setattr(_dask.time, "perf_counter", lambda: now[0])
    tasks = list(range(len(seconds)))
    for result in _dask._in_runs(tasks, _Bar(events)):
        events.append(("yielded", result["study"]))
    assert [task for kind, task in events if kind == "yielded"] == tasks
    assert sum(kind == "bar" for kind, _ in events) == len(tasks)
    runs = []  # [processed, yielded] of each run
    for kind, task in events:
        if kind == "processed" and (not runs or runs[-1][1]):
            runs.append([[], []])
        if kind != "bar":
            runs[-1][0 if kind == "processed" else 1].append(task)
    for processed, yielded in runs:
        assert yielded == processed and 1 <= len(processed) <= 16
        took = sum(seconds[task] for task in processed)
        assert len(processed) == 16 or took >= 0.1 or processed[-1] == tasks[-1]
        assert sum(seconds[task] for task in processed[:-1]) < 0.1  # held back only while under 0.1 s
    assert [task for processed, _ in runs for task in processed] == tasks
