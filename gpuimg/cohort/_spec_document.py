"""A pipeline spec as a document: its tables as TOML and JSON hold them (no None, lists for tuples;
:meth:`~gpuimg.cohort.Spec.to_dict`), and a spec read back from a run's ``manifest.json`` (null bounds
as the open bounds JSON cannot write)."""

import copy
import math


def _present(table: dict) -> dict:
    """``table`` without its keys whose value is None."""
    return {key: value for key, value in table.items() if value is not None}


def _lists(value):
    """``value`` with its tuples as lists, at any depth, as TOML and JSON give them back."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(item) for item in value]
    return value


def _open_bounds(document: dict) -> dict:
    """A spec's tables read from JSON, which has no infinity (manifest.json writes it as null): a null
    bound of ``mask.threshold`` or ``features.reseg_range`` as the open bound it stands for."""
    document = copy.deepcopy(document)
    for table, key in (("mask", "threshold"), ("features", "reseg_range")):
        bounds = document.get(table, {}).get(key) if isinstance(document.get(table), dict) else None
        if isinstance(bounds, list) and len(bounds) == 2:
            document[table][key] = [
                (-math.inf, math.inf)[i] if bound is None else bound for i, bound in enumerate(bounds)
            ]
    return document
