"""Cohorts: many studies -> feature table -> model -> report, in this process or on Dask.

:func:`load_spec` reads a pipeline spec (TOML) and checks it whole; :func:`run_pipeline` runs it on a
folder of studies and writes the feature tables, errors, model, metrics, an HTML report and a manifest.
Patient and study IDs are pseudonymised (:mod:`gpuimg.cohort.privacy`).
"""

import importlib
from typing import TYPE_CHECKING

from .privacy import key_path_for, pseudonym

if TYPE_CHECKING:  # for type checkers and editors, which do not run __getattr__
    from .run import OUTPUTS, find_studies, run_pipeline
    from .spec import Spec, load_spec, spec_from_dict

#: Names loaded on first use, by module: the spec checks its steps against gpuimg.preprocess and
#: gpuimg.features, which import Numba and the kernels (1 s); ``gpuimg info`` needs only the privacy
#: helpers.
_LAZY = {
    "OUTPUTS": "run",
    "find_studies": "run",
    "run_pipeline": "run",
    "Spec": "spec",
    "load_spec": "spec",
    "spec_from_dict": "spec",
}

__all__ = [
    "OUTPUTS",
    "Spec",
    "find_studies",
    "key_path_for",
    "load_spec",
    "pseudonym",
    "run_pipeline",
    "spec_from_dict",
]


#: Submodules that ``import gpuimg.cohort`` made attributes (``help(gpuimg.cohort.spec)``), loaded on use.
_SUBMODULES = ("learn", "outputs", "report", "run", "spec", "study")


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
