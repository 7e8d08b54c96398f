"""A cohort run whose files have a damaged Specific Character Set (0008,0005): pydicom's "Unknown
encoding" warning, which quotes the value (and a damaged length makes it hold the patient's name),
reaches no output file, warning or log record (gpuimg/io/_charset.py)."""

import csv
import logging

from charset_files import NAME, damage_character_set, secrets_in
from cohort_data import write_cohort

from gpuimg.cohort import run_pipeline, spec_from_dict

IDS = [f"MRN{7734920 + i}" for i in range(4)]
#: Each study's damage and transfer syntax (see charset_files); study_001's folder is renamed after the
#: patient, as exports often are.
STUDIES = {
    "study_000": ("runs_on", "implicit"),
    "study_001": ("holds_name", "implicit"),
    "study_002": ("unknown_term", "implicit"),
    "study_003": ("holds_name", "explicit"),
}


def test_a_damaged_character_set_reaches_no_output_of_a_cohort_run(tmp_path, recwarn, caplog):
    caplog.set_level(logging.INFO, logger="pydicom")
    _, cohort = write_cohort(tmp_path, n=len(STUDIES), patient_ids=IDS, name=NAME)
    for study, (damage, syntax) in STUDIES.items():
        for path in (cohort / study / "ct").iterdir():
            damage_character_set(path, damage, syntax)
    (cohort / "study_001").rename(cohort / "Zabrowski_Henrietta")
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    run_pipeline(spec, cohort, out, progress=False)
    heard = [str(w.message) for w in recwarn] + [record.getMessage() for record in caplog.records]
    assert not [text for text in heard if secrets_in(text)]
    for path in out.rglob("*"):
        if path.is_file():
            assert not secrets_in(path.read_bytes()), path
    # The files refused for their character set make the two failed studies; the harmless unknown term
    # and the file the quick reader takes without pydicom are read.
    with open(out / "features.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == 2
    with open(out / "errors.csv", newline="") as file:
        errors = [row["error"] for row in csv.DictReader(file)]
    assert len(errors) == 2 and all("12 unreadable" in error for error in errors), errors
