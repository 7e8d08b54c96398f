"""The kernels' sm_90 build, done once for the session and shared by the ``ptx`` tests."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuimg.kernels import load_all


@dataclass
class Build:
    """What ``python -m gpuimg.kernels.ptx`` reported for every signature of every registered kernel."""

    reports: list[dict]
    failures: list[str]  # the standard error of each compiling process that exited non-zero

    def ptx(self, kernel: str) -> list[str]:
        """The PTX of each signature of ``kernel``, in the order of its registered signatures (files
        ``{kernel}.{index}.ptx``); fails unless every signature compiled."""
        files = [Path(r["ptx_file"]) for r in self.reports if r["kernel"] == kernel and r["ptx_file"]]
        assert len(files) == len(load_all()[kernel].signatures), f"not every signature of {kernel} compiled"
        return [path.read_text() for path in sorted(files, key=lambda path: int(path.name.split(".")[-2]))]


@pytest.fixture(scope="session")
def sm90(tmp_path_factory) -> Build:
    """Every registered kernel compiled for sm_90, its PTX kept in a temporary folder.

    In subprocesses: compile_ptx needs the simulator off, and this run may have it on. One process
    per core, each compiling an interleaved share of the kernels (a compile uses one thread).
    """
    ptx_dir = tmp_path_factory.mktemp("ptx")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    shards = max(1, min(4, os.cpu_count() or 1))
    command = [sys.executable, "-m", "gpuimg.kernels.ptx", "--cc", "9.0", "--json", f"--ptx-dir={ptx_dir}"]
    processes = [
        subprocess.Popen(
            [*command, f"--shard={k}/{shards}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(1, shards + 1)
    ]
    build = Build([], [])
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=1200)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        assert stdout, stderr[-3000:]
        build.reports += json.loads(stdout)
        if process.returncode != 0:
            build.failures.append(stderr)
    return build
