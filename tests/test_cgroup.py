"""The memory a cgroup leaves the process (gpuimg._cgroup), on cgroup trees laid out as the kernel's
documentation (Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/memory.rst) describes them."""

import pytest

from gpuimg import _cgroup, _memory
from gpuimg.errors import MemoryBudgetError

GIB = 2**30


def _group(folder, limit, usage, files=(0, 0), version=2):
    folder.mkdir(parents=True, exist_ok=True)
    names = (
        ("memory.max", "memory.current")
        if version == 2
        else ("memory.limit_in_bytes", "memory.usage_in_bytes")
    )
    (folder / names[0]).write_text(f"{limit}\n")
    (folder / names[1]).write_text(f"{usage}\n")
    keys = ("active_file", "inactive_file") if version == 2 else ("total_active_file", "total_inactive_file")
    (folder / "memory.stat").write_text(f"anon 5\n{keys[0]} {files[0]}\n{keys[1]} {files[1]}\nshmem 7\n")


def test_v2_limit_less_the_usage_without_its_file_cache(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("0::/user.slice/job_42\n")
    _group(tmp_path / "sys/user.slice/job_42", 8 * GIB, 3 * GIB, files=(GIB, GIB // 2))
    # 8 GiB - (3 GiB - 1.5 GiB of reclaimable page cache)
    assert _cgroup.available_bytes(proc, tmp_path / "sys") == 8 * GIB - (3 * GIB - GIB - GIB // 2)


def test_v2_the_least_over_the_group_and_its_ancestors(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("0::/slurm/uid_1/job_7/step_0\n")
    _group(tmp_path / "sys/slurm/uid_1/job_7/step_0", "max", GIB)
    _group(tmp_path / "sys/slurm/uid_1/job_7", 4 * GIB, 3 * GIB)  # the job's limit, set above the step
    _group(tmp_path / "sys", "max", 100 * GIB)
    assert _cgroup.available_bytes(proc, tmp_path / "sys") == GIB


def test_v1_memory_controller_and_a_container_that_sees_its_group_at_the_mount(tmp_path):
    proc = tmp_path / "cgroup"
    # The host's path of the container's group, which the container's mount shows at its top.
    proc.write_text("5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n")
    _group(tmp_path / "sys/memory", 2 * GIB, GIB + GIB // 4, files=(GIB // 4, 0), version=1)
    assert _cgroup.available_bytes(proc, tmp_path / "sys") == GIB


def test_no_limit_or_nothing_readable_is_none(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/\n")
    _group(tmp_path / "sys/memory", 9223372036854771712, GIB, version=1)  # v1's "unlimited"
    assert _cgroup.available_bytes(proc, tmp_path / "sys") is None
    proc.write_text("0::/\n")
    assert _cgroup.available_bytes(proc, tmp_path / "empty") is None
    assert _cgroup.available_bytes(tmp_path / "absent", tmp_path / "sys") is None


def test_a_group_over_its_limit_leaves_nothing(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("0::/\n")
    _group(tmp_path / "sys", GIB, 2 * GIB)
    assert _cgroup.available_bytes(proc, tmp_path / "sys") == 0


def test_the_memory_budget_is_half_of_what_the_cgroup_leaves(monkeypatch):
    # A job limited to 2 MiB on a machine with gigabytes free: a 1.5 MiB array is refused before it is
    # allocated, where the machine's MemAvailable alone let it through (and the kernel killed the job).
    monkeypatch.delenv("GPUIMG_MAX_BYTES", raising=False)
    monkeypatch.setattr(_cgroup, "available_bytes", lambda: 2 * 2**20)
    assert _memory.max_bytes() == 2**20
    with pytest.raises(
        MemoryBudgetError, match=r"a test array needs 1\.5 MiB, more than the memory budget of 1\.0 MiB"
    ):
        _memory.check_allocation((3, 2**16), "float64", "a test array")
    monkeypatch.setattr(_cgroup, "available_bytes", lambda: None)
    assert _memory.max_bytes() > 2**20


def test_small_allocations_do_not_read_the_machine_memory(monkeypatch):
    # Reading /proc and the cgroup files took 0.13 ms a check, twice per extract call: up to 1 MiB
    # passes without it; a set GPUIMG_MAX_BYTES still bounds every size.
    monkeypatch.delenv("GPUIMG_MAX_BYTES", raising=False)

    def unread():
        raise AssertionError("the cgroup files were read for a small allocation")

    monkeypatch.setattr(_cgroup, "available_bytes", unread)
    _memory.check_allocation((2**17,), "float64", "a 1 MiB array")
    monkeypatch.setattr(_cgroup, "available_bytes", lambda: 0)
    with pytest.raises(MemoryBudgetError, match="a 1 MiB and 8 bytes array needs"):
        _memory.check_allocation((2**17 + 1,), "float64", "a 1 MiB and 8 bytes array")
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "100")
    with pytest.raises(
        MemoryBudgetError, match=r"a 1 KiB array needs 1\.0 KiB, more than the memory budget of 100 bytes"
    ):
        _memory.check_allocation((128,), "float64", "a 1 KiB array")


@pytest.mark.parametrize(
    ("shape", "shown"),
    [
        ((2**30, 2**30), "8.0 EiB"),  # 2**63 bytes of float64: the largest unit still fits
        ((2**40, 2**40, 2**40), "1.1e+37 bytes"),  # 2**123 bytes: 2**63 EiB, 19 digits in EiB
        ((10**100,), "8.0e+100 bytes"),  # a size parameter gone wrong: 10**82 EiB, 83 digits
    ],
)
def test_a_size_past_the_largest_unit_is_shown_with_an_exponent(monkeypatch, shape, shown):
    # 1e300 bytes read as an EiB count of 282 digits; past 1024 EiB the bytes are written as a
    # float with an exponent, the size the shape's product says (closed form: 8 * prod(shape)).
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1G")
    with pytest.raises(MemoryBudgetError) as error:
        _memory.check_allocation(shape, "float64", "a planned array")
    assert str(error.value).startswith(
        f"a planned array needs {shown}, more than the memory budget of 1.0 GiB."
    )
