"""Cohorts: many studies -> feature table -> model -> report, in this process or on Dask.

:func:`load_spec` reads a pipeline spec (TOML) and checks it whole; :func:`run_pipeline` runs it on a
folder of studies and writes the feature tables, errors, model, metrics, an HTML report and a manifest.
Patient and study IDs are pseudonymised (:mod:`gpuimg.cohort.privacy`).
"""

from .privacy import key_path_for, pseudonym
from .run import OUTPUTS, find_studies, run_pipeline
from .spec import Spec, load_spec, spec_from_dict

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
