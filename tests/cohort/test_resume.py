"""A study's stored result (cohort._resume): what a run keeps is what a later run reads back."""

import json

import numpy as np

from gpuimg.cohort._resume import _cached, _preview, _store


def _typed(value):
    """``value`` with the type of every item beside it, so that equal values of other types differ."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, repr(value))


def test_a_stored_result_is_returned_as_json_reads_it_back(tmp_path):
    """_store returns the record as json.loads of the file it wrote gives it, type for type: the record a
    resumed run reads (_cached) is the one an uninterrupted run kept. The reference is the file's text
    read by the standard library's JSON parser."""
    result = {
        "study": "S-0123456789abcdef",
        "patient": "Ärztin Müller \udcfc",  # a name that is not UTF-8 on disk keeps its escapes
        "times": {"read": np.float64(0.25), "segment": 1e-320, "features": np.float32(0.1)},
        "inputs": "0123456789abcdef",
        "device": "cpu",
        "row": {
            "study": "S-0123456789abcdef",
            "nan": float("nan"),
            "inf": -np.inf,
            "zero": -0.0,
            "tiny": 5e-324,
            "huge": 1.7976931348623157e308,
            "pi": np.pi,
            "int": np.int64(-7),
            "big": 2**80,
            "flag": np.bool_(True),
            "array": np.array([[1.5, np.nan], [3.0, 4.0]]),
            "pair": (1, "two", None),
        },
        "clipped": False,
        7: "a key that is no string",
        "preview": {"image": np.arange(6, dtype=np.float32).reshape(2, 3)},
    }
    record = _store(tmp_path, result)
    written = json.loads((tmp_path / "S-0123456789abcdef.json").read_text())
    assert _typed(record) == _typed(written)
    assert _typed(_cached(tmp_path, "S-0123456789abcdef")) == _typed(written)
    assert written["row"]["nan"] is None and written["row"]["array"] == [[1.5, None], [3.0, 4.0]]
    assert "preview" not in written and written["7"] == "a key that is no string"
    preview = _preview(tmp_path, "S-0123456789abcdef")
    np.testing.assert_array_equal(preview["image"], result["preview"]["image"])
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "S-0123456789abcdef.json",
        "S-0123456789abcdef.npz",
    ]  # no temporary left
