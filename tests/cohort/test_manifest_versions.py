"""The manifest of a run on a scheduler's workers records the library versions the workers ran, and the
run log warns where they differ among themselves or from the process that ran ``gpuimg run``."""

from importlib import metadata

import pytest
from cohort_data import write_cohort

from gpuimg.cohort import run_pipeline, spec_from_dict

#: Modules the workers import to compute a study, which every installation of the tests has.
MODULES = ("numpy", "scipy", "skimage", "numba", "pydicom", "dask", "distributed")
SPEC = {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}


def distribution(module):
    """The distribution that provides ``module``, as importlib.metadata names it."""
    (name,) = metadata.packages_distributions()[module]
    return name


@pytest.fixture(scope="module")
def scheduler():
    """A dask.distributed scheduler with 2 workers, by its address (workers in this process: they start
    in a fraction of a second, and a test can change what they run)."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=40
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    _, folder = write_cohort(tmp_path_factory.mktemp("versions"), n=2)
    return folder


def test_the_manifest_records_the_versions_the_workers_ran(scheduler, cohort, tmp_path):
    # The manifest's "libraries" were this process's only, where a scheduler's workers computed the
    # features and may run other versions.
    manifest = run_pipeline(spec_from_dict(SPEC), cohort, tmp_path, scheduler=scheduler, progress=False)
    assert manifest["rows"] == 2
    recorded = manifest["worker_libraries"]
    for module in MODULES:
        name = distribution(module)
        assert recorded[name] == metadata.version(name) == manifest["libraries"][name], module
    assert "warning" not in (tmp_path / "run.log").read_text()


def test_a_run_in_this_process_records_no_worker_versions(cohort, tmp_path):
    manifest = run_pipeline(spec_from_dict(SPEC), cohort, tmp_path, progress=False)
    assert manifest["worker_libraries"] is None
    assert manifest["libraries"][distribution("numpy")] == metadata.version(distribution("numpy"))


@pytest.mark.parametrize("changed", ["one worker", "every worker"])
def test_workers_running_other_versions_are_warned_of(changed, scheduler, cohort, tmp_path, monkeypatch):
    from gpuimg.cohort import _dask

    numpy, scipy = distribution("numpy"), distribution("scipy")
    real, versions = metadata.version(numpy), _dask._versions

    def reported(dask_worker):
        """What a worker reports: numpy 0.0.1 for worker 0 (or all), and, for one worker changed, no SciPy
        for worker 1."""
        found = versions()
        if changed == "every worker" or dask_worker.name == 0:
            found[numpy] = "0.0.1"
        elif dask_worker.name == 1:
            del found[scipy]
        return found

    monkeypatch.setattr(_dask, "_versions", reported)
    manifest = run_pipeline(spec_from_dict(SPEC), cohort, tmp_path, scheduler=scheduler, progress=False)
    log = (tmp_path / "run.log").read_text()
    warnings = [line for line in log.splitlines() if line.startswith("warning:")]
    recorded = manifest["worker_libraries"]
    assert manifest["libraries"][numpy] == real  # this process's, as before
    if changed == "one worker":
        assert recorded[numpy] == sorted(["0.0.1", real]) and recorded[scipy] == [
            metadata.version(scipy),
            None,
        ]
        ran = " and ".join(f"{version} (1 worker)" for version in sorted(["0.0.1", real]))
        assert warnings == [
            f"warning: the workers ran {numpy} {ran}, and this process {real}; the features may differ from "
            "one version's. Install one version on every worker.",
            f"warning: the workers ran {scipy} {metadata.version(scipy)} (1 worker) and none (1 worker), and "
            f"this process {metadata.version(scipy)}; the features may differ from one version's. Install "
            "one version on every worker.",
        ]
    else:
        assert recorded[numpy] == "0.0.1" and recorded[scipy] == metadata.version(scipy)
        assert warnings == [
            f"warning: the workers ran {numpy} 0.0.1 (2 workers), and this process {real}; the features may "
            "differ from one version's. Install one version on every worker."
        ]
    # Versions only: no study or patient is named.
    assert not any(name in line for line in warnings for name in ("S-", "P-", "PAT", "study"))


def test_the_versions_are_those_of_the_distributions_that_provide_the_modules(tmp_path, monkeypatch):
    # _versions finds the distributions of each module from their top_level.txt or RECORD text, not
    # through importlib.metadata.packages_distributions (0.15 s a run): for the libraries installed here
    # the names and versions that function gives, and for made-up distributions that declare their
    # modules, list a module's files in RECORD (a quoted path among them), provide it as one file, or
    # hold data only in its folder, each its own.
    from gpuimg.cohort import _dask

    made_up = {
        "made-up-declared": ("top_level.txt", "made_up_a\nmade_up_b\n", []),
        "made-up-recorded": (
            "RECORD",
            None,
            ["made_up_c/__init__.py", "made_up_c/a,b.py", "made_up_x.libs/a.so"],
        ),
        "made-up-one-file": ("RECORD", None, ["made_up_d.py", "../../bin/made_up_y"]),
        "made-up-data": ("RECORD", None, ["made_up_e/data.bin"]),
    }
    for name, (listing, text, files) in made_up.items():
        info = tmp_path / "site" / f"{name.replace('-', '_')}-9.9.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 9.9\n")
        rows = "".join(f'"{file}",,\n' if "," in file else f"{file},,\n" for file in files)
        (info / listing).write_text(text or rows + f"{info.name}/RECORD,,\n")
    monkeypatch.syspath_prepend(tmp_path / "site")
    providers = metadata.packages_distributions()
    libraries = {
        name: metadata.version(name) for module in _dask._LIBRARIES for name in providers.get(module, ())
    }
    assert {distribution(module) for module in MODULES} < set(libraries)
    assert _dask._versions() == libraries
    provided_by = {
        f"made_up_{letter}": name
        for letter, name in zip("abcde", ["made-up-declared", *made_up], strict=True)
    }
    monkeypatch.setattr(_dask, "_LIBRARIES", (*_dask._LIBRARIES, *provided_by, "made_up_x", "made_up_y"))
    assert _dask._versions() == {**libraries, **dict.fromkeys(provided_by.values(), "9.9")}
