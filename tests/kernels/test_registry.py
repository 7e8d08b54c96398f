"""gpuimg.kernels: every CUDA kernel is registered, and every registered kernel compiles for sm_90."""

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import gpuimg.kernels
from gpuimg.kernels import FAMILIES, load_all

KERNELS_DIR = Path(gpuimg.kernels.__file__).parent
INFRASTRUCTURE = {"boundary", "cache", "exact", "registry", "ptx", "warmup"}


def test_every_kernel_module_is_a_listed_family():
    modules = {m.name for m in pkgutil.iter_modules([str(KERNELS_DIR)])}
    assert modules - INFRASTRUCTURE == set(FAMILIES)


def test_no_module_calls_cuda_jit_directly():
    """Kernels are declared with cuda_kernel (which registers them), never with a bare cuda.jit."""
    for path in KERNELS_DIR.glob("*.py"):
        if path.stem == "registry":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "jit":
                assert not (isinstance(node.value, ast.Name) and node.value.id == "cuda"), (
                    f"{path.name}:{node.lineno} uses cuda.jit; declare kernels with @cuda_kernel(signature)"
                )


def test_registry_holds_every_family_kernel_with_signatures():
    registry = load_all()
    assert "gpuimg.kernels.gradient._gradient_cuda" in registry
    for kernel in registry.values():
        assert kernel.signatures and all(s.startswith("void(") for s in kernel.signatures)


def test_cuda_kernel_needs_a_signature():
    with pytest.raises(TypeError, match="representative signature"):
        gpuimg.kernels.registry.cuda_kernel()


@pytest.mark.ptx
def test_every_registered_kernel_compiles_for_sm90_without_spills():
    """In subprocesses: compile_ptx needs the simulator off, and this run may have it on. One process
    per core, each compiling an interleaved share of the kernels (a compile uses one thread)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    shards = max(1, min(4, os.cpu_count() or 1))
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gpuimg.kernels.ptx", "--cc", "9.0", "--json", f"--shard={k}/{shards}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(1, shards + 1)
    ]
    reports, failures = [], []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=1200)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        reports += json.loads(stdout)
        if process.returncode != 0:
            failures.append(stderr)
    registered = {(name, sig) for name, k in load_all().items() for sig in k.signatures}
    assert {(r["kernel"], r["signature"]) for r in reports} == registered
    for report in reports:
        assert report["error"] == "", report
        assert report["ptx_bytes"] > 0
        assert report["registers"] is not None, "nvJitLink (numba-cuda[cu13]) did not assemble the PTX"
        assert report["spill_stores"] == 0 and report["spill_loads"] == 0, report
    assert not failures, failures
