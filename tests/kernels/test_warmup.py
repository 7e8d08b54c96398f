"""gpuimg.kernels.warmup and ``gpuimg warmup``: every family is warmed, and what it compiles lands in the
on-disk cache, where a fresh process finds it."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

import gpuimg.kernels.warmup
from gpuimg.cli import main
from gpuimg.errors import ParameterError
from gpuimg.kernels import FAMILIES
from gpuimg.kernels.warmup import TASKS, warmup


def test_every_family_has_a_warmup_task():
    covered = {family for task in TASKS for family in task.families}
    assert set(FAMILIES) <= covered


_RUN = """
import json
from gpuimg.kernels.registry import CPU_DRIVERS
from gpuimg.kernels.warmup import warmup
steps = warmup(["labels", "hough", "histogram"], ["uint8", "float32"], progress=False)
hits = {name: sum(d.stats.cache_hits.values()) for name, d in CPU_DRIVERS.items() if d.signatures}
inputs = {}
for name in ("_histogram_cpu", "_integer_counts_cpu"):
    driver = CPU_DRIVERS[f"gpuimg.kernels.histogram.{name}"]
    inputs[name] = sorted({str(signature[0]) for signature in driver.signatures})
serial = CPU_DRIVERS["gpuimg.kernels.histogram._integer_counts_cpu"].serial
inputs["serial _integer_counts_cpu"] = sorted({str(signature[0]) for signature in serial.signatures})
hits["serial _integer_counts_cpu"] = sum(serial.stats.cache_hits.values())
print(json.dumps([[s[:3] for s in steps], hits, inputs]))
"""


def test_warmup_fills_the_cache_that_a_fresh_process_loads(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run():
        command = [sys.executable, "-c", _RUN]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    steps, hits, inputs = run()
    tasks = ("equalize_hist", "hough", "integer_counts", "label")
    assert steps == [[task, dtype, "cpu"] for task in tasks for dtype in ("uint8", "float32")]
    # equalize_hist and integer_counts hand their input to the kernels as it is: a read-only array
    # is compiled for too (float images go to the histogram, integer ones to the integer count).
    assert {"readonly array(float32, 3d, C)", "array(float32, 3d, C)"} <= set(inputs["_histogram_cpu"])
    assert {"readonly array(uint8, 1d, C)", "array(uint8, 1d, C)"} <= set(inputs["_integer_counts_cpu"])
    # Small work runs the serial twin (CpuDriver.call), large work the parallel driver: both compiled.
    assert {"readonly array(uint8, 1d, C)", "array(uint8, 1d, C)"} <= set(
        inputs["serial _integer_counts_cpu"]
    )
    drivers = {
        "gpuimg.kernels.labels._statistics_cpu",
        "gpuimg.kernels.hough._lines_cpu",
        "gpuimg.kernels.histogram._histogram_cpu",
        "gpuimg.kernels.histogram._integer_counts_cpu",
        "serial _integer_counts_cpu",
    }
    assert drivers <= set(hits) and all(hits[name] == 0 for name in drivers)
    for stem in (
        "labels._statistics_cpu",
        "hough._lines_cpu",
        "hough._circles_cpu",
        "histogram._integer_counts_cpu",
    ):
        assert list(tmp_path.rglob(f"{stem}-*.nbi")), stem
    _, hits, _ = run()
    assert all(hits[name] >= 1 for name in drivers)


def test_unknown_family_or_dtype_is_refused():
    with pytest.raises(ParameterError, match="unknown kernel families"):
        warmup(["gradients"], progress=False)
    with pytest.raises(ParameterError, match="dtypes"):
        warmup(["labels"], ["int17"], progress=False)


def test_cli_warmup_passes_device_and_dtypes(monkeypatch, capsys):
    calls = []
    fake = lambda **kw: calls.append(kw) or [("t", "u", "c", 0.0)]  # noqa: E731
    monkeypatch.setattr(gpuimg.kernels.warmup, "warmup", fake)
    assert main(["warmup", "--device", "cpu", "--dtypes", "int16", "float32"]) == 0
    assert calls == [{"dtypes": ["int16", "float32"], "devices": ("cpu",)}]
    assert "1 kernel sets" in capsys.readouterr().out


def test_cli_warmup_reports_a_bad_dtype(capsys):
    assert main(["warmup", "--device", "cpu", "--dtypes", "int17"]) == 1
    assert "int17" in capsys.readouterr().err


def test_cli_warmup_skips_canny_for_the_integers_canny_refuses(monkeypatch, capsys):
    """Regression: gpuimg warmup --dtypes int64 stopped at canny ('canny takes a real image of at most
    32-bit integers'), compiling none of the kernels after it; canny is now left out for int64 alone."""
    from gpuimg.edges import canny

    # The reference: the dtypes gpuimg.edges.canny itself refuses, on a small volume.
    dtypes = ["int64", "uint64", "int32", "uint32", "int8", "bool", "float16", "float64"]
    refused = []
    for dtype in dtypes:
        try:
            canny(np.zeros((4, 5, 6), dtype))
        except ParameterError:
            refused.append(dtype)
    assert refused == ["int64", "uint64"]
    runs = []
    canny_task = next(t for t in TASKS if t.name == "canny")
    monkeypatch.setattr(gpuimg.kernels.warmup, "TASKS", [replace(canny_task, run=runs.append)])
    assert main(["warmup", "--device", "cpu", "--dtypes", "int64", "uint8"]) == 0
    out = capsys.readouterr().out
    assert "canny is not compiled for int64: canny takes integers of at most 32 bits" in out, out
    # Writable, then read-only, each with the serial twins, then with the parallel drivers.
    assert [image.dtype.name for image in runs] == ["uint8"] * 4
    monkeypatch.undo()
    assert [(task, dtype) for task, dtype, _ in gpuimg.kernels.warmup.skipped(None, dtypes)] == [
        ("canny", dtype) for dtype in refused
    ]


@pytest.mark.parametrize("dtype", ["complex64", "U8", "datetime64[s]", "object"])
def test_cli_warmup_refuses_dtypes_no_operation_takes_before_compiling(capsys, dtype):
    """Regression: --dtypes complex64 compiled the families before it, then stopped with 'the image must
    hold real numbers' (or a NumPy UFuncTypeError for dates), not naming --dtypes."""
    assert np.dtype(dtype).kind not in "biuf"  # the reference: NumPy's kinds of real numbers
    assert main(["warmup", "--device", "cpu", "--dtypes", "uint8", dtype]) == 1
    err = capsys.readouterr().err
    assert f"--dtypes {dtype!r}: the operations take real images (bool, integers, floats)" in err, err
    assert "uint8 int16 uint16 float32 float64" in err
