"""The memory budget: how many bytes one planned allocation may take, and the checks that refuse more.

The memory budget bounds any single planned allocation, so that a header claiming 1200³ voxels or a
filter size of 10⁶ fails with :class:`~gpuimg.errors.MemoryBudgetError` before anything is allocated.
It is ``GPUIMG_MAX_BYTES`` (a whole number of bytes, or a size with a ``k``/``M``/``G``/``T`` suffix,
powers of 1024, rounded down to whole bytes: ``9.2G``) where that variable is set, else half of the
memory available now (``MemAvailable`` in ``/proc/meminfo``, else the physical memory; less where the
process's cgroup, as in a container or a Slurm job, leaves it less: :mod:`gpuimg._cgroup`), and never
more than the address-space limit (``RLIMIT_AS``) of the process. Without ``GPUIMG_MAX_BYTES``, an
allocation of at most ``UNCHECKED_BYTES`` (1 MiB) passes without reading the machine's memory (a tenth
of a millisecond of file reads, more than such an allocation costs, and paid per study in a cohort of
small ROIs): a process that cannot spare 2 MiB fails in any case.

Examples
--------
>>> from gpuimg._memory import check_allocation
>>> check_allocation((4, 4), "float64", "a small array")  # within any budget: nothing happens
>>> check_allocation((10**6,) * 3, "int16", "a header's 10^6 x 10^6 x 10^6 voxels")
Traceback (most recent call last):
    ...
gpuimg.errors.MemoryBudgetError: a header's 10^6 x 10^6 x 10^6 voxels needs 1.7 EiB, ...
"""

import math
import os
import re
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from gpuimg import _cgroup
from gpuimg.errors import ConfigError, MemoryBudgetError

#: Allocations of at most this many bytes are not checked against the memory available (see above).
UNCHECKED_BYTES = 2**20
#: A size's suffix in GPUIMG_MAX_BYTES, powers of 1024.
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def max_bytes() -> int:
    """The memory budget [bytes] for one allocation (see the module's docstring).

    Examples
    --------
    >>> max_bytes() > 0
    True
    """
    text = os.environ.get("GPUIMG_MAX_BYTES", "").strip()
    if text:
        match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([kKmMgGtT]?)i?[bB]?", text)
        # Exact: a size of 1.5k is 1536 bytes, 9.2G rounds down to whole bytes; bytes alone are whole.
        size = Fraction(match[1]) * _UNITS[match[2].lower()] if match else Fraction(0)
        if match is None or size < 1 or (not match[2] and size.denominator != 1):
            raise ConfigError(
                f"GPUIMG_MAX_BYTES={text!r} is not a positive size of whole bytes; use e.g. 8G, 512M or "
                "1000000000."
            )
        return math.floor(size)
    budget = _available_bytes() // 2
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            budget = min(budget, soft // 2)
    except (ImportError, ValueError, OSError):
        pass
    return max(int(budget), 1)


def check_bytes(nbytes: float, what: str) -> None:
    """Raise MemoryBudgetError if an allocation of ``nbytes`` planned for ``what`` exceeds the budget.

    ``what`` names the data and where it comes from (a file, a parameter) so that the message says
    which input to fix.

    Examples
    --------
    >>> check_bytes(1024, "a small array")
    """
    if nbytes <= UNCHECKED_BYTES and not os.environ.get("GPUIMG_MAX_BYTES", "").strip():
        return
    budget = max_bytes()
    if not nbytes <= budget:
        need, shown_budget = _sizes_apart(nbytes, budget)
        raise MemoryBudgetError(
            f"{what} needs {need}, more than the memory budget of {shown_budget}. Check the "
            "input (a header or a size parameter may be wrong), process it in parts, or raise the budget "
            "with the environment variable GPUIMG_MAX_BYTES."
        )


def check_allocation(shape: Sequence[int], dtype, what: str) -> None:
    """Check the array of ``shape`` and ``dtype`` planned for ``what`` against the memory budget.

    Examples
    --------
    >>> check_allocation((2, 3), np.float32, "a small array")
    """
    check_bytes(math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize, what)


def _available_bytes() -> int:
    """The memory available now [bytes]: the machine's, or less where a cgroup limits the process."""
    group = _cgroup.available_bytes()
    machine = _machine_available_bytes()
    return machine if group is None else min(machine, group)


def _machine_available_bytes() -> int:
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


#: The units of a size in a message, powers of 1024 apart.
_SIZE_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def _human(nbytes: float, digits: int = 1) -> tuple[str, float]:
    """``nbytes`` as a message shows it, in the largest unit of at least 1 with ``digits`` decimals
    (whole bytes below 1 KiB; in bytes with an exponent from 1024 EiB on, where the EiB count
    would run to hundreds of digits), and the size that text says [bytes]."""
    value, step = float(nbytes), 0
    while round(value, digits) >= 1024 and step < len(_SIZE_UNITS) - 1:
        value, step = value / 1024, step + 1
    if round(value, digits) >= 1024:
        text = f"{float(nbytes):.{digits}e}"
        return f"{text} bytes", float(text)
    text = f"{value:.{0 if step == 0 else digits}f}"
    return f"{text} {_SIZE_UNITS[step]}", float(text) * 1024**step


def _sizes_apart(need: float, budget: int) -> tuple[str, str]:
    """``need`` and the smaller ``budget`` [bytes] shown with as many decimals as tell them apart (up to
    3), else in bytes: with one decimal each, 9.24 GiB and 9.2 GiB both read "9.2 GiB"."""
    for digits in (1, 2, 3):
        (need_text, need_shown), (budget_text, budget_shown) = _human(need, digits), _human(budget, digits)
        if need_shown > budget_shown:
            return need_text, budget_text
    exact = math.ceil(need) if math.isfinite(need) else need
    return f"{exact:,} bytes", f"{budget:,} bytes"
