"""The examples in the docs stay true: every docstring example of the package (gpuimg.kernels
included) runs as a doctest, and the README's Python blocks run in an empty folder, twice in a row
(the second run finds the first one's files)."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import gpuimg

README = Path(__file__).parents[1] / "README.md"


def _modules() -> list[str]:
    names = ["gpuimg"]
    for package in ("gpuimg", "gpuimg.kernels"):
        path = importlib.import_module(package).__path__
        names += [info.name for info in pkgutil.walk_packages(path, package + ".")]
    return sorted(set(names))


def _made_on_first_use(module) -> dict:
    """The classes and functions of ``module`` that its ``__getattr__`` makes on first use, which are
    not in its namespace, where DocTestFinder looks: gpuimg.errors.NotFittedError, made on first use
    so that ``import gpuimg`` does not import scikit-learn. They are found among the public names of
    the package (``gpuimg.__all__``) and of the module, and resolved here."""
    if "__getattr__" not in vars(module):
        return {}
    names = {*gpuimg.__all__, *getattr(module, "__all__", ())} - vars(module).keys()
    made = {}
    for attribute in sorted(names):
        try:
            value = getattr(module, attribute)
        except AttributeError:  # a name of the package that this module does not make
            continue
        if getattr(value, "__module__", None) == module.__name__:
            made[attribute] = value
    return made


def _doctests(module, name: str) -> list[doctest.DocTest]:
    """The docstring examples of ``module`` (named ``name``), those of the names it makes on first use
    included, and not those of the names it imports."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = finder.find(module, name)
    for attribute, value in _made_on_first_use(module).items():
        tests += finder.find(value, f"{name}.{attribute}", module=module)
    return [test for test in tests if test.examples and test.name.startswith(name)]


def test_the_example_of_a_class_made_on_first_use_is_collected():
    """Regression: NotFittedError's example never ran, its class being made on first use, outside the
    namespace of gpuimg.errors."""
    import gpuimg.errors

    assert "NotFittedError" not in vars(gpuimg.errors)
    names = [test.name for test in _doctests(gpuimg.errors, "gpuimg.errors")]
    assert "gpuimg.errors.NotFittedError" in names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _doctests(module, name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples of {name} failed (above)"


def _readme_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_readme_has_python_blocks():
    assert len(_readme_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_block_runs_alone_twice_in_an_empty_folder(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPUIMG_DEVICE", "cpu")
    block = _readme_blocks()[index]
    assert not any(tmp_path.iterdir())
    for _ in range(2):
        exec(compile(block, f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
    assert gpuimg.__version__


def test_the_example_spec_of_help_gpuimg_cohort_spec_is_a_valid_spec(tmp_path):
    """The README sends a newcomer to help(gpuimg.cohort.spec) for every key: its example is TOML, and
    with the mask keys of each source in turn a spec that spec_from_dict accepts; it shows every mask
    key, and each task names every estimator it takes (regression: the names were nowhere but in an
    error message)."""
    import textwrap
    import tomllib

    from gpuimg.cohort import spec
    from gpuimg.ml._base import _CLASSES

    block = textwrap.dedent(spec.__doc__.split("::\n", 1)[1])
    document = tomllib.loads(block)
    mask = document.pop("mask")
    assert set(mask) == {"source", *(key for keys in spec._MASK_KEYS.values() for key in keys)}
    for source in spec.MASK_SOURCES:
        table = {"source": source, **{k: v for k, v in mask.items() if k in spec._MASK_KEYS[source]}}
        spec.spec_from_dict({**document, "mask": table}, base=tmp_path)
    for kind in spec.TASKS:
        shown = re.search(rf"\[learning\.{kind}\]\n(?:.*\n)*?estimator = \"(\w+)\" *# or (.*)", block)
        assert shown, f"learning.{kind}: no estimator line with its alternatives"
        assert {shown[1], *re.findall(r'"(\w+)"', shown[2])} == set(_CLASSES[kind]), kind


def _raises(func) -> list[str]:
    """The errors the Raises section of ``func``'s docstring names."""
    import inspect

    doc = inspect.getdoc(func) or ""
    section = re.search(r"^Raises\n-+\n(.*?)(?=^\w[\w ]*\n-{3,}\n|\Z)", doc, re.S | re.M)
    return re.findall(r"^(\w+)\n", section.group(1), re.M) if section else []


def test_every_function_taking_a_device_says_it_raises_a_device_error(tmp_path):
    """device="gpu" (or "cuda" without a GPU) is a DeviceError, and the Raises section of each public
    function taking a device says so (regression: read_dicom, read_image, read_rtstruct, read_seg and
    run_pipeline did not, and to_device spoke of a missing GPU only)."""
    import inspect

    from rtstruct_files import square_contour, write_structure_set
    from seg_files import seg_sources, write_seg

    from gpuimg import backend, cohort, io

    volume = gpuimg.datasets.ct_phantom((8, 16, 16), seed=0)
    series = gpuimg.write_dicom(volume, tmp_path / "ct")
    ct = gpuimg.read_dicom(series, device="cpu")
    gpuimg.write_image(volume, tmp_path / "ct.nrrd")
    write_structure_set(tmp_path / "rs.dcm", {"GTV": [square_contour(ct, 4, 1.5, 9.5)]})
    inside = np.zeros(ct.shape, bool)
    inside[3:5, 4:9, 4:9] = True
    write_seg(tmp_path / "seg.dcm", seg_sources(ct.meta["files"]), {"nodule": inside})
    (tmp_path / "cohort" / "study").mkdir(parents=True)
    spec = cohort.spec_from_dict({"mask": {"source": "recipe", "threshold": [0, 100]}})
    calls = {  # each function, and its call on these files with device d
        gpuimg.read_dicom: lambda d: gpuimg.read_dicom(series, device=d),
        gpuimg.read_image: lambda d: gpuimg.read_image(tmp_path / "ct.nrrd", device=d),
        io.read_rtstruct: lambda d: io.read_rtstruct(tmp_path / "rs.dcm", ct, "GTV", device=d),
        io.read_seg: lambda d: io.read_seg(tmp_path / "seg.dcm", ct, "nodule", device=d),
        gpuimg.to_device: lambda d: gpuimg.to_device(volume.data, d),
        backend.namespace_for: lambda d: backend.namespace_for(d),
        backend.resolve_device: lambda d: backend.resolve_device(d),
        cohort.run_pipeline: lambda d: cohort.run_pipeline(
            spec, tmp_path / "cohort", tmp_path / "out", device=d
        ),
    }
    taking = {
        getattr(module, name)
        for module in (gpuimg, io, cohort, backend)
        for name in module.__all__
        if inspect.isfunction(getattr(module, name))
        and "device" in inspect.signature(getattr(module, name)).parameters
    }
    assert taking == set(calls)
    for func, call in calls.items():
        with pytest.raises(gpuimg.DeviceError, match="'gpu' is not a device"):
            call("gpu")
        assert "DeviceError" in _raises(func), func.__name__
