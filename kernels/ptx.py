"""Compile every registered CUDA kernel for a GPU architecture without a GPU, and report its resources.

Run as ``python -m gpuimg.kernels.ptx [--cc 9.0] [--json] [--shard K/N] [--ptx-dir DIR]``. Each
kernel of the registry is compiled to PTX with ``numba.cuda.compile_ptx`` for each of its signatures,
then assembled to a cubin with nvJitLink (from ``numba-cuda[cu13]``), which reports the registers,
stack and spills per thread. With ``--ptx-dir`` the PTX of each signature is kept there, one file
each, named in its report. Exits 1 if any kernel fails to compile or spills registers to local memory.

The CUDA simulator must be off (``NUMBA_ENABLE_CUDASIM=0``): the test suite runs this module in a
subprocess for that reason, one process per core with ``--shard`` (each compile is single-threaded).
"""

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from numba import config

from . import load_all
from .registry import load_cuda


@dataclass
class Report:
    """What one kernel signature compiled to."""

    kernel: str
    signature: str
    ptx_bytes: int = 0
    registers: int | None = None
    spill_stores: int | None = None
    spill_loads: int | None = None
    error: str = ""
    ptx_file: str = ""


def compile_kernel(py_func, signature: str, cc: tuple[int, int], ptx_file: Path | None = None) -> Report:
    """Compile one kernel signature to PTX, then (where nvJitLink is installed) to a cubin.

    The PTX is written to ``ptx_file`` where one is given.
    """
    report = Report(f"{py_func.__module__}.{py_func.__qualname__}", signature)
    try:
        ptx, _ = load_cuda().compile_ptx(py_func, signature, cc=cc)
    except Exception as exc:  # Numba raises typing, lowering and NVVM errors of many classes.
        report.error = f"{type(exc).__name__}: {exc}"
        return report
    report.ptx_bytes = len(ptx)
    if ptx_file is not None:
        ptx_file.write_text(ptx)
        report.ptx_file = str(ptx_file)
    log = _assemble(ptx, cc)
    if log is not None:
        registers = re.search(r"Used (\d+) registers", log)
        spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
        report.registers = int(registers[1]) if registers else None
        if spills:
            report.spill_stores, report.spill_loads = int(spills[1]), int(spills[2])
    return report


def _assemble(ptx: str, cc: tuple[int, int]) -> str | None:
    """ptxas' verbose log for ``ptx`` assembled by nvJitLink, or None without nvJitLink."""
    try:
        from cuda.bindings import nvjitlink
    except ImportError:
        return None
    data = ptx.encode()
    handle = nvjitlink.create(3, [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose", "-O3"])
    try:
        nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel")
        nvjitlink.complete(handle)
        log = bytearray(nvjitlink.get_info_log_size(handle))
        nvjitlink.get_info_log(handle, log)
        return log.decode(errors="replace")
    finally:
        nvjitlink.destroy(handle)


def check(
    cc: tuple[int, int] = (9, 0), shard: tuple[int, int] = (0, 1), ptx_dir: Path | None = None
) -> list[Report]:
    """Compile every signature of every registered CUDA kernel for compute capability ``cc``.

    ``shard=(k, n)`` compiles only the ``k``-th of ``n`` interleaved shares of the (kernel, signature)
    pairs, so that ``n`` processes together compile each pair once. With ``ptx_dir``, the PTX of the
    ``i``-th signature of kernel ``name`` is kept in ``ptx_dir / f"{name}.{i}.ptx"``.
    """
    index, count = shard
    pairs = [
        (name, kernel, i, signature)
        for name, kernel in load_all().items()
        for i, signature in enumerate(kernel.signatures)
    ]
    return [
        compile_kernel(kernel.py_func, signature, cc, ptx_dir and ptx_dir / f"{name}.{i}.ptx")
        for name, kernel, i, signature in pairs[index::count]
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0 (H100, H200)")
    parser.add_argument("--json", action="store_true", help="print one JSON list of reports")
    parser.add_argument("--shard", default="1/1", help="compile only share K of N (K from 1), e.g. 2/2")
    parser.add_argument("--ptx-dir", type=Path, help="keep each signature's PTX in this existing folder")
    args = parser.parse_args(argv)
    if config.ENABLE_CUDASIM:
        parser.error("the CUDA simulator is on; run with NUMBA_ENABLE_CUDASIM=0")
    major, minor = (int(part) for part in args.cc.split("."))
    try:
        index, count = (int(part) for part in args.shard.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        parser.error(f"--shard {args.shard}: give K/N with 1 <= K <= N, e.g. 1/2")
    if args.ptx_dir is not None and not args.ptx_dir.is_dir():
        parser.error(f"--ptx-dir {args.ptx_dir}: not a folder; create it first")
    reports = check((major, minor), (index - 1, count), args.ptx_dir)
    if args.json:
        print(json.dumps([asdict(r) for r in reports], indent=1))
    else:
        for r in reports:
            status = r.error or (
                f"{r.registers} registers, {r.spill_stores} B spill stores, {r.spill_loads} B spill loads"
            )
            print(f"{r.kernel}  {r.signature}\n    {status}")
    failed = [r for r in reports if r.error or r.spill_stores]
    return 1 if failed or not reports else 0


if __name__ == "__main__":
    sys.exit(main())
