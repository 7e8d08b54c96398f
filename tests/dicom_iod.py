"""The attributes a DICOM file lacks against its IOD, by the standard's module tables as highdicom ships
them: the reference of the tests of written files."""

import json
from pathlib import Path

import pydicom
import pytest


def iod_gaps(ds: pydicom.Dataset) -> tuple[list[str], list[str]]:
    """The type 1 and 2 attributes of the mandatory modules of ``ds``'s IOD (by its SOPClassUID) that
    it lacks ("module: keyword (type k)"), and the type 1 attributes it holds empty. Skips the test
    without highdicom."""
    highdicom = pytest.importorskip("highdicom")
    from highdicom._standard_utils import construct_module_tree

    tables = Path(highdicom.__file__).parent / "_standard"
    iod = json.loads((tables / "sop_class_iod_map.json").read_text())[ds.SOPClassUID]
    modules = json.loads((tables / "iod_module_map.json").read_text())[iod]
    missing, empty = [], []
    for module in modules:
        if module["usage"] != "M":
            continue
        for keyword, attribute in construct_module_tree(module["key"])["attributes"].items():
            kind = attribute["type"].value
            if kind in ("1", "2") and keyword not in ds:
                missing.append(f"{module['key']}: {keyword} (type {kind})")
            elif kind == "1" and keyword in ds and ds[keyword].is_empty:
                empty.append(keyword)
    return missing, empty
