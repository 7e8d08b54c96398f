"""The lower bounds of pyproject.toml are the releases .ci/oldest.txt pins, which CI tests.

``.ci/run`` installs the test extras under ``.ci/oldest.txt`` on the oldest Python that pyproject
admits and runs the tests there; this keeps the two files saying the same thing.
"""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[1]


def _lower_bounds() -> dict[str, Version]:
    """Name -> the ``>=`` bound of each requirement of [project] dependencies and the dask extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for line in project["dependencies"] + project["optional-dependencies"]["dask"]:
        requirement = Requirement(line)
        floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        if floors:
            bounds[canonicalize_name(requirement.name)] = max(floors)
    return bounds


def _pins() -> dict[str, Version]:
    lines = (ROOT / ".ci" / "oldest.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(p.specifier) == 1 and next(iter(p.specifier)).operator == "==" for p in pins)
    return {canonicalize_name(p.name): Version(next(iter(p.specifier)).version) for p in pins}


def test_oldest_pins_are_pyprojects_lower_bounds():
    bounds, pins = _lower_bounds(), _pins()
    assert "numpy" in bounds and "dask" in bounds  # both sections were read
    assert pins == bounds


def test_every_package_of_the_source_tree_is_installed():
    # pyproject.toml lists the packages one by one (kernels/ installs as gpuimg.kernels), so a new
    # subpackage left out of the list is missing from a wheel and a plain `pip install .`, while the
    # editable install of the tests still finds it (a split of gpuimg.ml.metrics into a folder did so).
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / path for name, path in setuptools["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            found.add(".".join((name, *parts)))
    assert found == set(setuptools["packages"])
