"""gpuimg.kernels: every CUDA kernel is registered, and every registered kernel compiles for sm_90."""

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import gpuimg.kernels
from gpuimg.kernels import FAMILIES, load_all

KERNELS_DIR = Path(gpuimg.kernels.__file__).parent
INFRASTRUCTURE = {"boundary", "cache", "exact", "registry", "ptx", "summation", "warmup"}


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
def test_every_registered_kernel_compiles_for_sm90_without_spills(sm90):
    registered = {(name, sig) for name, k in load_all().items() for sig in k.signatures}
    assert {(r["kernel"], r["signature"]) for r in sm90.reports} == registered
    for report in sm90.reports:
        assert report["error"] == "", report
        assert report["ptx_bytes"] > 0
        assert report["registers"] is not None, "nvJitLink (numba-cuda[cu13]) did not assemble the PTX"
        assert report["spill_stores"] == 0 and report["spill_loads"] == 0, report
    assert not sm90.failures, sm90.failures


def test_ptx_dir_that_is_not_a_folder_is_refused_before_compiling(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gpuimg.kernels.ptx", f"--ptx-dir={tmp_path / 'missing'}"],
        capture_output=True,
        text=True,
        env=dict(os.environ, NUMBA_ENABLE_CUDASIM="0"),
        timeout=300,
    )
    assert done.returncode == 2
    assert f"--ptx-dir {tmp_path / 'missing'}: not a folder; create it first" in done.stderr
