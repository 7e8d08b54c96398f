"""The memory a Linux control group (cgroup) leaves its processes.

A container (Docker, Kubernetes) or a batch job (Slurm) bounds its memory with a cgroup, while
``/proc/meminfo`` shows the whole machine's: a job limited to 8 GiB on a 512 GiB node would plan for
hundreds of GiB and be killed by the kernel, without a message, where the memory budget of
:mod:`gpuimg._memory` should have refused the allocation. :func:`available_bytes` reads the limit of
the process's cgroup and of each cgroup above it (cgroup v2's ``memory.max``, v1's
``memory.limit_in_bytes``) and subtracts what the group uses, less its file cache, which the kernel
reclaims before it kills (as ``MemAvailable`` counts it available).

Examples
--------
>>> available = available_bytes()
>>> available is None or available >= 0
True
"""

import os
from pathlib import Path

#: Limits at or above this [bytes] mean "no limit" (cgroup v1 writes 2**63 rounded down to a page).
_UNLIMITED = 2**60


def available_bytes(
    proc: str | os.PathLike = "/proc/self/cgroup", root: str | os.PathLike = "/sys/fs/cgroup"
) -> int | None:
    """The bytes the process's cgroups leave it, the least over the group and its ancestors; None
    where no memory limit is set (or none can be read).

    Parameters
    ----------
    proc : path
        The process's cgroup membership (``/proc/self/cgroup``).
    root : path
        Where the cgroup file systems are mounted.
    """
    try:
        lines = Path(proc).read_text().splitlines()
    except OSError:
        return None
    least = None
    for line in lines:
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "-", "")
        if controllers == "":  # cgroup v2: one hierarchy, mounted at root
            layout = (Path(root), "memory.max", "memory.current", ("active_file", "inactive_file"))
        elif "memory" in controllers.split(","):  # cgroup v1: the memory controller's hierarchy
            layout = (
                Path(root) / "memory",
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                ("total_active_file", "total_inactive_file"),
            )
        else:
            continue
        for folder in _folders(layout[0], path):
            available = _group_available(folder, *layout[1:])
            if available is not None and (least is None or available < least):
                least = available
    return least


def _folders(mount: Path, path: str) -> list[Path]:
    """The group's folder under ``mount`` and those of its ancestors, up to the mount itself. In a
    container the group's path is often the host's, and the mount shows the container's group at its
    top: the mount itself is always read."""
    parts = [part for part in path.strip("/").split("/") if part and part != ".."]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _group_available(
    folder: Path, limit_file: str, usage_file: str, cache_keys: tuple[str, str]
) -> int | None:
    """``limit - (usage - file cache)`` of one group [bytes], at least 0; None without a limit."""
    try:
        text = (folder / limit_file).read_text().strip()
        if text == "max" or int(text) >= _UNLIMITED:
            return None
        limit = int(text)
        usage = int((folder / usage_file).read_text())
    except (OSError, ValueError):
        return None
    cache = 0
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in cache_keys:
                cache += int(value)
    except (OSError, ValueError):
        cache = 0
    return max(limit - max(usage - cache, 0), 0)
