"""One patient ID written composed (NFC) in one place and decomposed (NFD) in another is one patient:
one pseudonym, one cross-validation group, one row of the labels file."""

import csv
import hashlib
import hmac
import json
import unicodedata

import pytest
from cohort_data import write_cohort, write_study

from gpuimg.cohort import run_pipeline, spec_from_dict


def nfc(text):
    return unicodedata.normalize("NFC", text)


def nfd(text):
    return unicodedata.normalize("NFD", text)


def keyed(key, value):
    """The pseudonym of the patient ``value`` as privacy.py's docstring defines it: HMAC-SHA256 of
    ``patient:<ID>`` under the key, its first 16 hex digits."""
    return "P-" + hmac.new(key, f"patient:{value}".encode(), hashlib.sha256).hexdigest()[:16]


#: The patients of the cohort (NFC), each study's patient and the form its headers write the ID in:
#: studies 0 and 1 are one patient's, NFC in the first and NFD in the second.
PATIENTS = ["M\u00fcller-01", "\u00c5ngstr\u00f6m-02", "Ren\u00e9e-03", "PAT-004", "\u00d8ster-05"]
HEADERS = [
    nfc(PATIENTS[0]),
    nfd(PATIENTS[0]),
    nfc(PATIENTS[1]),
    nfc(PATIENTS[2]),
    PATIENTS[3],
    nfd(PATIENTS[4]),
]
#: One row per patient; each class has 2 patients or more, as 2 patient-level folds need.
MALIGNANT = [0, 1, 0, 1, 1]


def _cohort(root, labels_form):
    """The six studies under ``root/cohort`` and a labels file writing the IDs in ``labels_form``."""
    spec, cohort = write_cohort(root, n=len(HEADERS), patient_ids=HEADERS)
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["patient_id", "malignant", "growth"])
        for i, patient in enumerate(PATIENTS):
            writer.writerow([labels_form(patient), MALIGNANT[i], 0.5 * i])
    assert HEADERS[0] != HEADERS[1] and nfc(HEADERS[1]) == HEADERS[0]  # the two forms differ as text
    return spec, cohort


def _patients(out):
    with open(out / "features.csv", newline="", encoding="utf-8") as file:
        return {row["study"]: row["patient"] for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def nfd_labels(tmp_path_factory):
    root = tmp_path_factory.mktemp("forms")
    return root, *_cohort(root, nfd)


def test_one_patient_in_two_forms_has_one_pseudonym_and_one_group(nfd_labels):
    # The pseudonym hashed the ID as the header wrote it: the patient of studies 0 and 1 got two, so a
    # patient-level cross-validation could train on one of its studies and test on the other.
    root, spec, cohort = nfd_labels
    out = root / "out"
    manifest = run_pipeline(spec, cohort, out, progress=False)
    key = bytes.fromhex((root / "out.key").read_text().strip())
    by_folder = {
        "S-" + hmac.new(key, f"study:study_{i:03d}".encode(), hashlib.sha256).hexdigest()[:16]: i
        for i in range(len(HEADERS))
    }
    patients = {by_folder[study]: patient for study, patient in _patients(out).items()}
    assert sorted(patients) == list(range(len(HEADERS)))
    assert patients == {i: keyed(key, nfc(HEADERS[i])) for i in range(len(HEADERS))}
    assert patients[0] == patients[1]
    # The ASCII ID hashed as it is.
    assert patients[4] == keyed(key, "PAT-004")
    # The labels file writes every ID in NFD, the headers most in NFC: every study is labelled, and
    # the cross-validation counts 5 patients in 6 studies (its groups are the patients).
    assert manifest["unlabelled"] == []
    for task in ("classification", "regression"):
        scores = manifest["metrics"][task]
        assert (scores["n_studies"], scores["n_patients"]) == (6, 5), scores
    assert json.loads((out / "metrics.json").read_text())["classification"]["n_patients"] == 5


def test_keep_ids_writes_each_id_in_its_composed_form(nfd_labels):
    root, spec, cohort = nfd_labels
    out = root / "kept"
    manifest = run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    patients = _patients(out)
    assert patients == {f"study_{i:03d}": nfc(HEADERS[i]) for i in range(len(HEADERS))}
    assert manifest["unlabelled"] == [] and manifest["metrics"]["classification"]["n_patients"] == 5


def test_labels_in_nfc_match_headers_in_nfd(tmp_path):
    # The other way round: the labels file composed, studies 1 and 5 decomposed.
    from gpuimg.cohort.labels import read_labels

    spec, cohort = _cohort(tmp_path, nfc)
    learning = spec_from_dict(
        {
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "learning": {"labels": str(tmp_path / "labels.csv"), "classification": {"target": "malignant"}},
        }
    ).learning
    key = bytes(range(32))
    assert set(read_labels(learning, key, keep_ids=True)) == set(PATIENTS)
    assert set(read_labels(learning, key, keep_ids=False)) == {keyed(key, p) for p in PATIENTS}
    manifest = run_pipeline(spec, cohort, tmp_path / "out", keep_ids=True, progress=False)
    assert manifest["unlabelled"] == [] and manifest["metrics"]["classification"]["n_patients"] == 5


def test_a_labels_file_naming_one_patient_in_both_forms_is_one_row(tmp_path):
    # Two rows of one patient, one in each form, are one patient's rows: they must agree in the targets.
    from gpuimg.cohort.labels import read_labels
    from gpuimg.errors import ConfigError

    path = tmp_path / "labels.csv"
    learning = spec_from_dict(
        {
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "learning": {"labels": str(path), "classification": {"target": "malignant"}},
        }
    ).learning
    path.write_text(f"patient_id,malignant\n{nfc(PATIENTS[0])},1\n{nfd(PATIENTS[0])},1\n", encoding="utf-8")
    assert list(read_labels(learning, b"", keep_ids=True)) == [nfc(PATIENTS[0])]
    path.write_text(f"patient_id,malignant\n{nfc(PATIENTS[0])},1\n{nfd(PATIENTS[0])},0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has the patient ID of the row ending on line 2"):
        read_labels(learning, b"", keep_ids=True)


@pytest.mark.parametrize(("header", "folder"), [(nfd, nfc), (nfc, nfd)])
def test_an_id_in_the_other_form_in_a_folder_name_is_scrubbed(header, folder, tmp_path):
    # A header's decomposed ID was scrubbed from messages as written and decomposed only: a folder
    # named with the composed ID reached errors.csv as it was.
    from gpuimg.cohort.study import StudyTask, process_study

    patient = "J\u00f6rgensen-7734920"
    write_study(tmp_path / "a" / folder(patient), 0, patient_id=header(patient))
    broken = sorted((tmp_path / "a" / folder(patient) / "ct").iterdir())[3]
    broken.write_bytes(b"DICM truncated")
    spec = spec_from_dict({"mask": {"source": "file", "pattern": "**/mask.nrrd"}})
    key = bytes(range(32))
    error = process_study(StudyTask(tmp_path / "a", "a", spec, key))["error"]
    assert f"/{keyed(key, nfc(patient))}/ct/{broken.name}" in error, error
    for form in (nfc, nfd):
        assert form("rgensen") not in form(error), error
