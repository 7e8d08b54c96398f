"""The patient IDs of a labels file as a run matches them to its studies: its rows by the pseudonyms of
their patients, and why studies matched none of its IDs (a spreadsheet's numbers for text IDs)."""

import re

from gpuimg._text import count
from gpuimg.errors import ConfigError

from .privacy import is_pseudonym, patient_name
from .spec import Spec


def _keyed_labels(labels: dict[str, dict[str, str]], spec: Spec, key: bytes) -> dict[str, dict[str, str]]:
    """The labels file's rows by the pseudonyms of their patients; an ID of the form of a patient's
    pseudonym (``P-`` and 16 hex digits) is taken as one, as a labels file made from the pseudonymised
    ``features.csv`` names its patients: it matched no study, each left out of learning."""
    keyed: dict[str, dict[str, str]] = {}
    targets = [task.target for task in spec.learning.tasks if task.target is not None]
    for patient, row in labels.items():
        name = patient if is_pseudonym(patient, "patient") else patient_name(key, patient)
        first = keyed.setdefault(name, row)
        if [first.get(t) for t in targets] != [row.get(t) for t in targets]:
            raise ConfigError(
                f"learning.labels: {spec.learning.labels} names the patient {name} twice, by the ID and "
                "by its pseudonym, with other targets; keep one row per patient."
            )
    return keyed


#: A patient ID of digits as a spreadsheet writes it once it has read it as a number: its leading zeros
#: left out (00123 as 123), with '.0' where the column held an empty cell (123.0, as pandas writes it).
_NUMBER_ID = re.compile(r"0*([0-9]+?)(\.0+)?")
#: ... and in scientific notation, as a spreadsheet shows a long number (1.23457E+11): digits are lost.
_SCIENTIFIC_ID = re.compile(r"[0-9](\.[0-9]+)?E\+[0-9]+", re.IGNORECASE)
#: The longest spelling of a number ID with leading zeros that is looked for [characters].
_WIDEST_ID = 20


def _unlabelled_why(patients: set[str], given: list[str], key: bytes, keep_ids: bool) -> str:
    """Why the labels file names none of the patients ``patients`` (as the outputs name them), where
    its IDs ``given`` show it, or "": a spreadsheet that read the ID column as numbers wrote '00123' as
    123 (or 123.0), and a long one as 1.23457E+11; the studies were left out of learning with 'check its
    patient IDs' only. No ID is shown."""
    found: set[str] = set()
    for spelt in given:
        number = _NUMBER_ID.fullmatch(spelt)
        if number is None:
            continue
        for width in range(len(number[1]), _WIDEST_ID + 1):
            candidate = number[1].zfill(width)
            named = patient_name(key, candidate, keep_ids=keep_ids)
            if candidate != spelt and named in patients:
                found.add(named)
    scientific = sum(1 for spelt in given if _SCIENTIFIC_ID.fullmatch(spelt))
    reasons = []
    if found:
        reasons.append(
            f"{count(len(found), 'patient')} of them match{'es' if len(found) == 1 else ''} an ID of the "
            "labels file but for its leading zeros or a '.0' (00123 written 123 or 123.0, as a spreadsheet "
            "writes IDs it read as numbers)"
        )
    if scientific:
        reasons.append(
            f"{count(scientific, 'ID')} of the labels file {'is' if scientific == 1 else 'are'} in "
            "scientific notation (such as 1.23457E+11: a spreadsheet cut long IDs to their first digits)"
        )
    if not reasons:
        return ""
    return "; ".join(reasons) + ": format its ID column as text and export it from the original again"
