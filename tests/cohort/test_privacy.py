"""No patient name, birth date or original ID from the input headers reaches any output byte or log."""

import hashlib
import hmac
import os
import re
import subprocess
import sys
import unicodedata

import pydicom
import pytest
from cohort_data import write_cohort, write_study

import gpuimg

NAME, GIVEN, BIRTH = "Zabrowski^Henrietta", "Henrietta", "19470311"
IDS = [f"MRN{7734920 + i}" for i in range(5)]


def _born_on_birth(root):
    """Give every DICOM file under ``root`` the birth date BIRTH (write_study writes none)."""
    for path in root.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.PatientBirthDate = BIRTH
        ds.save_as(path)


def test_no_identifying_value_reaches_the_outputs(tmp_path):
    spec, cohort = write_cohort(tmp_path, n=5, patient_ids=IDS, name=NAME)
    _born_on_birth(cohort)
    # Study folders named after the patients, as exports often are; one study fails, so its error
    # message (which names files in the folder) is checked too.
    for i, folder in enumerate(sorted(cohort.iterdir())):
        folder.rename(cohort / IDS[i])
    next((cohort / IDS[4] / "ct").iterdir()).write_bytes(b"DICM truncated")
    out, key = tmp_path / "out", tmp_path / "out.key"
    done = subprocess.run(
        [sys.executable, "-m", "gpuimg.cli", "run", str(spec), "--input", str(cohort), "--output", str(out)],
        capture_output=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert key.exists() and not list(out.rglob("*.key"))  # the key lies beside the outputs
    secrets = [NAME, GIVEN, "Zabrowski", BIRTH, *IDS, "1947-03-11"]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"features.csv", "report.html", "errors.csv", "run.log", "manifest.json"} <= {
        p.name for p in files
    }
    for blob, where in [(p.read_bytes(), p) for p in files] + [
        (done.stdout, "stdout"),
        (done.stderr, "stderr"),
    ]:
        for secret in secrets:
            for encoded in (secret.encode(), secret.encode("utf-16-le")):
                assert encoded not in blob, f"{secret!r} found in {where}"
    # The pseudonyms are the keyed hashes (HMAC-SHA256) of the original IDs, written out here, so
    # the key holder can join new data.
    secret = bytes.fromhex(key.read_text().strip())

    def keyed(kind, value):
        return (
            f"{kind[0].upper()}-"
            + hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:16]
        )

    table = (out / "features.csv").read_text()
    assert all(keyed("patient", i) in table for i in IDS[:4])
    assert keyed("study", IDS[4]) in (out / "errors.csv").read_text()


def test_keep_ids_writes_the_original_ids(cohort, tmp_path):
    from gpuimg.cohort import run_pipeline

    spec, folder = cohort
    run_pipeline(spec, folder, tmp_path / "out", keep_ids=True, progress=False)
    table = (tmp_path / "out" / "features.csv").read_text()
    assert "PAT-000" in table and "study_000" in table
    assert not (tmp_path / "out.key").exists()


def test_a_key_inside_the_output_folder_is_refused(cohort, tmp_path):
    # --key results/secret.key wrote the key into the folder made to be shared: with it, anyone can
    # pseudonymise a guessed patient ID and find that patient's rows.
    import pytest

    from gpuimg import ConfigError
    from gpuimg.cohort import run_pipeline

    spec, folder = cohort
    out = tmp_path / "out"
    for key in (out / "secret.key", out / "keys" / "k", out):
        with pytest.raises(ConfigError, match=r"--key .* lies in --output .*never inside"):
            run_pipeline(spec, folder, out, key_path=key, progress=False)
        assert not out.exists()


def test_a_key_file_that_holds_no_key_or_cannot_be_written(tmp_path):
    # A binary file given as --key was a UnicodeDecodeError, a folder an IsADirectoryError, a key in
    # a folder that cannot be made a FileNotFoundError: tracebacks, not the ConfigError saying what to do.
    import os

    import pytest

    from gpuimg import ConfigError
    from gpuimg.cohort.privacy import load_or_create_key

    (tmp_path / "binary.key").write_bytes(bytes(range(200, 256)))
    (tmp_path / "folder.key").mkdir()
    for path in (tmp_path / "binary.key", tmp_path / "folder.key"):
        with pytest.raises(ConfigError, match=r"does not hold a pseudonym key \(64 hex digits\)"):
            load_or_create_key(path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match=r"cannot write the pseudonym key .*a-file/x\.key"):
        load_or_create_key(tmp_path / "a-file" / "x.key")
    key = load_or_create_key(tmp_path / "new" / "x.key")
    assert len(key) == 32 and load_or_create_key(tmp_path / "new" / "x.key") == key
    assert os.stat(tmp_path / "new" / "x.key").st_mode & 0o077 == 0  # its owner's only


def test_outputs_take_the_umask_and_the_key_is_its_owners_only(tmp_path):
    """An output folder shared with a group is readable by it, as files that pandas or nibabel write
    (regression: every cohort output was created 0600); the pseudonym key stays 0600."""
    from gpuimg.cohort.outputs import write_json
    from gpuimg.cohort.privacy import load_or_create_key

    previous = os.umask(0o022)
    try:
        write_json(tmp_path / "metrics.json", {"auc": 0.5})
        load_or_create_key(tmp_path / "run.key")
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / "metrics.json").st_mode & 0o777 == 0o666 & ~0o022
    assert os.stat(tmp_path / "run.key").st_mode & 0o777 == 0o600


def test_a_pseudonymised_run_refuses_a_folder_holding_original_ids(cohort, tmp_path):
    # A run with --keep-ids (to check the data), then the run whose outputs are to be shared, into
    # the same folder: the first run's stored studies, named by their folders and holding the original
    # patient IDs, stayed in its .studies/ beside the new pseudonymised outputs.
    import pytest

    from gpuimg import ConfigError
    from gpuimg.cohort import run_pipeline

    spec, folder = cohort
    out = tmp_path / "out"
    run_pipeline(spec, folder, out, keep_ids=True, progress=False)
    assert "PAT-000" in next(out.glob(".studies/*/journal-*.jsonl")).read_text()
    with pytest.raises(ConfigError, match=r"holds 6 studies of an earlier run with --keep-ids") as info:
        run_pipeline(spec, folder, out, progress=False)
    assert "PAT-0" not in str(info.value) and "study_0" not in str(info.value)
    assert not (tmp_path / "out.key").exists()
    # The other way round is no leak: the pseudonymised studies stay pseudonymised.
    run_pipeline(spec, folder, tmp_path / "other", progress=False)
    run_pipeline(spec, folder, tmp_path / "other", keep_ids=True, progress=False)


def test_a_keep_ids_run_killed_at_its_first_record_still_refuses_a_pseudonymised_run(cohort, tmp_path):
    # A study's preview is written before its record, and a run killed as it appended its first
    # record left only a line cut short: the refusal read the journals' whole records alone, and a
    # pseudonymised run wrote its outputs beside the original folder names.
    import shutil

    import pytest

    from gpuimg import ConfigError
    from gpuimg.cohort import run_pipeline

    spec, folder = cohort
    out = tmp_path / "out"
    run_pipeline(spec, folder, out, keep_ids=True, progress=False)
    (journal,) = out.glob(".studies/*/journal-*.jsonl")
    first = journal.read_bytes().split(b"\n")[0]
    study = first.split(b'"')[3].decode()  # the study's name, the first value of its record
    assert (journal.parent / f"{study}.npz").exists()
    saved = tmp_path / "saved"
    shutil.copytree(out, saved)
    for cut, previews in ((first[: first.index(b'"', 12) + 3], False), (b"", True)):
        shutil.rmtree(out)
        shutil.copytree(saved, out)
        journal.write_bytes(cut)  # killed in its first record's write, or before it
        for preview in journal.parent.glob("*.npz"):
            if not previews or preview.stem != study:
                preview.unlink()
        with pytest.raises(ConfigError, match=r"holds 1 study of an earlier run with --keep-ids"):
            run_pipeline(spec, folder, out, progress=False)


def _studies_naming_the_patient(root, description):
    """Two failing studies of the patient NAME (born BIRTH) under ``root``: ``a`` in a folder named
    after her, with its fourth slice truncated; ``b`` with a second CT series described by
    ``description``, so that two series match. Returns the truncated file."""
    patient_folder = f"{NAME.replace('^', '_')}_{BIRTH}"
    write_study(root / "a" / patient_folder, 0, patient_id=IDS[0], patient_name=NAME)
    write_study(root / "b", 1, patient_id=IDS[1], patient_name=NAME)
    ct = gpuimg.read_dicom(root / "b" / "ct", device="cpu")
    gpuimg.write_dicom(
        ct, root / "b" / "ct2", patient_id=IDS[1], patient_name=NAME, series_description=description
    )
    _born_on_birth(root)
    broken = sorted((root / "a" / patient_folder / "ct").iterdir())[3]
    broken.write_bytes(b"DICM truncated")
    return broken


def test_a_study_failing_before_its_series_is_chosen_names_no_patient(tmp_path):
    # The name and birth date were scrubbed from a failing study's message only once its series was
    # chosen: a broken file in a folder named after the patient, or the descriptions of two series that
    # both match, reached errors.csv as they were.
    from gpuimg.cohort import spec_from_dict
    from gpuimg.cohort.study import StudyTask, process_study

    broken = _studies_naming_the_patient(tmp_path, f"{GIVEN} follow-up")
    spec = spec_from_dict({"mask": {"source": "file", "pattern": "**/mask.nrrd"}})
    key = bytes(32)
    for study, expected in (
        (
            "a",
            rf"cannot be read as DICOM, e.g. <study S-\w+>/\[name\]_\[name\]_\[birth date\]/ct/{broken.name}",
        ),
        ("b", r"2 series match .* it holds .*CT '\[name\] follow-up' \(12 slices\)"),  # in UID order
    ):
        # What the headers hold (read by pydicom), and the message with each of them replaced.
        ds = pydicom.dcmread(next((tmp_path / study).rglob("slice_0000.dcm")))
        assert (str(ds.PatientName), ds.PatientBirthDate) == (NAME, BIRTH)
        error = process_study(StudyTask(tmp_path / study, study, spec, key))["error"]
        assert re.search(expected, error), error
        for secret in (NAME, GIVEN, "Zabrowski", BIRTH, *IDS):
            assert secret not in error


def test_a_patient_of_several_names_and_ids_is_named_nowhere(tmp_path):
    # Two names and two IDs read as lists, whose str is their repr ('[Zabrowski^Henrietta, Roe^Ann]'):
    # split at '^' only, '[Zabrowski' and 'Ann]' were the parts replaced, and a folder named after the
    # patient reached errors.csv with her names.
    from gpuimg.cohort import spec_from_dict
    from gpuimg.cohort.study import StudyTask, process_study

    folder = tmp_path / "a" / f"Zabrowski Henrietta Roe Ann {BIRTH} MRN7734920 ALT99871"
    write_study(folder, 0, patient_id=IDS[0], patient_name=NAME)
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.PatientID = f"{NAME}\\Roe^Ann", f"{IDS[0]}\\ALT99871"
        ds.PatientBirthDate = BIRTH
        ds.save_as(path)
    broken = sorted((folder / "ct").iterdir())[3]
    assert len(pydicom.dcmread(broken).PatientName) == 2  # two names, as pydicom reads them
    broken.write_bytes(b"DICM truncated")
    spec = spec_from_dict({"mask": {"source": "file", "pattern": "**/mask.nrrd"}})
    error = process_study(StudyTask(tmp_path / "a", "a", spec, bytes(32)))["error"]
    assert broken.name in error, error  # the message names the file, in the scrubbed folder
    for secret in ("Zabrowski", GIVEN, "Roe", "Ann", BIRTH, IDS[0], "ALT99871"):
        assert secret not in error, (secret, error)


def test_a_replacement_is_not_scrubbed_again(tmp_path):
    # The folder's path was replaced by '<study PSEUDONYM>', then the folder's name was replaced inside
    # that pseudonym where its hex digits held it: '<study S-ed402S-ed402001cb22a831cb22a831>' for a
    # folder named 001.
    from gpuimg.cohort import spec_from_dict
    from gpuimg.cohort.privacy import pseudonym
    from gpuimg.cohort.study import StudyTask, process_study

    key = bytes(32)
    name = next(f"{k:03d}" for k in range(1000) if f"{k:03d}" in pseudonym(key, "study", f"{k:03d}")[2:])
    (tmp_path / name).mkdir()
    spec = spec_from_dict({"mask": {"source": "recipe", "threshold": "otsu"}})
    result = process_study(StudyTask(tmp_path / name, name, spec, key))
    study = "S-" + hmac.new(key, f"study:{name}".encode(), hashlib.sha256).hexdigest()[:16]
    assert result["study"] == study
    assert result["error"] == f"DicomError: <study {study}>: the folder holds no files. Check the path."


def test_a_run_refused_for_its_labels_file_leaves_no_key(cohort, tmp_path):
    # The key was made before the labels file was read: a run refused for its labels (saved with
    # semicolons by a spreadsheet) left a new key beside an output folder that was never made.
    import pytest

    from gpuimg import ConfigError
    from gpuimg.cohort import run_pipeline
    from gpuimg.cohort.privacy import key_path_for

    spec, folder = cohort
    (tmp_path / "pipeline.toml").write_text(spec.read_text())
    (tmp_path / "labels.csv").write_text("patient_id;malignant;growth\nPAT-000;1;0.5\n")
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"learning\.labels: .* separated by ';'"):
        run_pipeline(tmp_path / "pipeline.toml", folder, out, progress=False)
    assert not key_path_for(out).exists() and not out.exists()
    with pytest.raises(ConfigError, match=r"learning\.labels: .* separated by ';'"):
        run_pipeline(
            tmp_path / "pipeline.toml", folder, out, key_path=tmp_path / "k" / "x.key", progress=False
        )
    assert not (tmp_path / "k").exists()


def test_a_new_key_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    # Regression: the key file was created empty, then written; a run killed in between left an empty
    # key that every later run refused. And a key another run makes meanwhile is used, never replaced.
    import os
    from pathlib import Path

    import pytest

    from gpuimg.cohort import outputs
    from gpuimg.cohort.privacy import load_or_create_key

    path = tmp_path / "out.key"
    real_fsync = os.fsync

    def killed(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        load_or_create_key(path)
    assert list(tmp_path.iterdir()) == []  # neither the key nor a temporary
    monkeypatch.setattr(outputs.os, "fsync", real_fsync)

    other = os.urandom(32)
    real_link = os.link

    def raced(source, target):  # another run writes its key just before this one's lands
        Path(target).write_text(other.hex() + "\n")
        real_link(source, target)

    monkeypatch.setattr(outputs.os, "link", raced)
    assert load_or_create_key(path) == other
    assert bytes.fromhex(path.read_text()) == other and [p.name for p in tmp_path.iterdir()] == ["out.key"]

    def no_hard_links(source, target):  # FAT, some network shares
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(outputs.os, "link", no_hard_links)
    key = load_or_create_key(tmp_path / "fat.key")
    assert bytes.fromhex((tmp_path / "fat.key").read_text()) == key and len(key) == 32
    assert os.stat(tmp_path / "fat.key").st_mode & 0o077 == 0


def test_dicom_uids_in_a_failed_studys_reason_are_pseudonymised(tmp_path):
    # read_dicom's messages name the series by its SeriesInstanceUID ('Series 1.2.826...: ... both at
    # -11.000 mm'), which the hospital's archive maps to the patient: errors.csv and run.log held it as
    # it was, where folders and patient IDs are keyed hashes.
    import shutil

    from gpuimg.cohort import run_pipeline, spec_from_dict

    _, cohort = write_cohort(tmp_path, n=2, patient_ids=IDS[:2], name=NAME)
    study = cohort / "study_001"
    shutil.copytree(study / "ct", study / "ct_copy")  # the series exported twice: duplicate positions
    uid = str(pydicom.dcmread(next((study / "ct").iterdir())).SeriesInstanceUID)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out, key_path = tmp_path / "out", tmp_path / "pseudonyms.key"
    run_pipeline(spec, cohort, out, key_path=key_path, progress=False)
    key = bytes.fromhex(key_path.read_text().strip())
    # The keyed hash (HMAC-SHA256) the outputs name the series by, as privacy.pseudonym documents it.
    hashed = "U-" + hmac.new(key, f"uid:{uid}".encode(), hashlib.sha256).hexdigest()[:16]
    errors = (out / "errors.csv").read_text()
    assert f"GeometryError: Series {hashed}: <study S-" in errors and "both at" in errors, errors
    for path in out.rglob("*"):
        if path.is_file():
            assert uid.encode() not in path.read_bytes(), path


def test_keep_ids_keeps_the_ids_but_never_a_name_or_birth_date(tmp_path):
    # --keep-ids left a failing study's message unscrubbed: the description of a series naming the
    # patient ('Henrietta 19470311 follow-up') and a folder named after her reached errors.csv,
    # run.log and report.html, though keep_ids keeps the IDs only.
    from gpuimg.cohort import run_pipeline

    cohort = tmp_path / "cohort"
    _studies_naming_the_patient(cohort, f"{GIVEN} {BIRTH} follow-up")
    spec = gpuimg.cohort.spec_from_dict({"mask": {"source": "file", "pattern": "**/mask.nrrd"}})
    out = tmp_path / "out"
    manifest = run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert manifest["errors"] == 2
    errors = (out / "errors.csv").read_text()
    assert "cannot be read as DICOM, e.g. <study a>/[name]_[name]_[birth date]/ct/" in errors
    assert "CT '[name] [birth date] follow-up' (12 slices)" in errors
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"errors.csv", "report.html", "run.log", "manifest.json"} <= {p.name for p in files}
    for path in files:
        blob = path.read_bytes()
        for secret in (NAME, GIVEN, "Zabrowski", BIRTH, "1947-03-11"):
            assert secret.encode() not in blob, f"{secret!r} found in {path}"


@pytest.mark.parametrize(
    ("name", "description", "scrubbed"),
    [
        ("Smith-Jones^Anna", "Jones follow-up", "[name] follow-up"),
        ("Smith-Jones^Anna", "SMITH_JONES", "[name]_[name]"),
        ("O'Brien^Sean", "OBrien f/u", "[name] f/u"),
        ("O\u2019Brien^Sean", "Brien, S.", "[name], S."),
        ("M\u00fcller^Ren\u00e9e", "MULLER RENEE", "[name] [name]"),
    ],
)
def test_a_name_is_scrubbed_as_folders_and_descriptions_spell_it(name, description, scrubbed, tmp_path):
    # The name's parts were its ^-separated components only: the description of a series that named the
    # patient by one half of a double-barrelled name (Jones of Smith-Jones), without its apostrophe
    # (OBrien) or its accents (Muller) reached errors.csv as it was.
    from gpuimg.cohort import spec_from_dict
    from gpuimg.cohort.study import StudyTask, process_study

    write_study(tmp_path / "s", 0, patient_id=IDS[0], patient_name=name)
    ct = gpuimg.read_dicom(tmp_path / "s" / "ct", device="cpu")
    gpuimg.write_dicom(
        ct, tmp_path / "s" / "ct2", patient_id=IDS[0], patient_name=name, series_description=description
    )
    ds = pydicom.dcmread(next((tmp_path / "s" / "ct2").iterdir()))
    assert (str(ds.PatientName), ds.SeriesDescription) == (name, description)  # as pydicom reads them
    spec = spec_from_dict({"mask": {"source": "file", "pattern": "mask.nrrd"}})
    error = process_study(StudyTask(tmp_path / "s", "s", spec, bytes(32)))["error"]
    assert f"CT '{scrubbed}' (12 slices)" in error, error


def test_a_name_spelled_by_a_legacy_or_decomposed_folder_name_is_scrubbed(tmp_path):
    # A folder named after the patient in Latin-1 bytes (an archive unpacked from Windows) reaches
    # Python as surrogates ('M\udcfcller'), and one written by macOS decomposed (NFD); neither matched
    # the header's 'Müller', so errors.csv named the patient as 'M\xfcller_[name]'. A folder with such
    # a name that is not the patient's is written as it is (escaped), and the run goes on.
    from gpuimg.cohort import run_pipeline, spec_from_dict

    name = "M\u00fcller^Hans"
    cohort = tmp_path / "cohort"
    folders = {
        "a": os.fsdecode(b"M\xfcller_Hans"),
        "b": os.fsdecode("MÜLLER HANS".encode("cp1252")),
        "c": unicodedata.normalize("NFD", "Müller-Hans"),
        "d": os.fsdecode(b"R\xf6ntgen"),
    }
    for i, (study, folder) in enumerate(folders.items()):
        write_study(cohort / study / folder, i, patient_id=IDS[i], patient_name=name)
        sorted((cohort / study / folder / "ct").iterdir())[3].write_bytes(b"DICM truncated")
    spec = spec_from_dict({"mask": {"source": "file", "pattern": "**/mask.nrrd"}})
    manifest = run_pipeline(spec, cohort, tmp_path / "out", progress=False)
    assert manifest["errors"] == 4
    errors = (tmp_path / "out" / "errors.csv").read_bytes().decode("utf-8")
    for scrubbed in ("[name]_[name]/ct", "[name] [name]/ct", "[name]-[name]/ct"):
        assert scrubbed in errors, errors
    assert "R\\xf6ntgen/ct" in errors, errors  # not the patient's: kept, escaped
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace").lower()
            assert "ller" not in text and "hans" not in text, path


@pytest.mark.parametrize(
    ("patient_id", "folder"),
    [
        ("MRN7734920", "7734920_11.03.47"),  # the ID's number alone, a two-digit year
        ("MRN-773-4920", "MRN7734920 470311"),  # the ID without its separators, YYMMDD
        ("0012345", "12345_03-11-47"),  # without leading zeros, month first
    ],
)
def test_an_id_or_birth_date_spelled_otherwise_by_a_folder_is_scrubbed(patient_id, folder, tmp_path):
    # Only the ID as the header wrote it and four-digit-year dates were replaced: a folder named after
    # the patient's number ('7734920' of 'MRN7734920') or birth date with a two-digit year
    # ('11.03.47' of 19470311) reached errors.csv as it was.
    from gpuimg.cohort import spec_from_dict
    from gpuimg.cohort.study import StudyTask, process_study

    write_study(tmp_path / "a" / folder, 0, patient_id=patient_id, patient_name=NAME)
    _born_on_birth(tmp_path)
    broken = sorted((tmp_path / "a" / folder / "ct").iterdir())[3]
    broken.write_bytes(b"DICM truncated")
    ds = pydicom.dcmread(next((tmp_path / "a").rglob("slice_0000.dcm")))
    assert (ds.PatientID, ds.PatientBirthDate) == (patient_id, BIRTH)  # as pydicom reads them
    spec = spec_from_dict({"mask": {"source": "file", "pattern": "**/mask.nrrd"}})
    error = process_study(StudyTask(tmp_path / "a", "a", spec, bytes(32)))["error"]
    # The folder's parts, replaced: the ID by the patient's pseudonym, the date by [birth date].
    assert re.search(rf"<study S-\w+>/P-\w{{16}}[_ ]\[birth date\]/ct/{broken.name}", error), error
    digits = re.sub(r"\D", "", patient_id).lstrip("0")
    for secret in (patient_id, digits, "470311", "11.03.47", "03-11-47"):
        assert secret not in error, error


def test_a_third_party_exceptions_text_is_left_out_of_errors_csv(tmp_path, monkeypatch):
    # pydicom's and NumPy's texts quote raw values ("could not convert string to float: ..."), which a
    # damaged length runs over the patient's elements: bytes of a name the scrubbing cannot know (the
    # header it reads the name from is the damaged one). errors.csv held the text as it was.
    from gpuimg.cohort import run_pipeline, spec_from_dict

    def opening(*args, **kwargs):
        raise ValueError(
            "could not convert string to float: '1\\x10\\x00\\x10\\x00PN\\x10\\x00Qqmarker^Zzname'"
        )

    monkeypatch.setattr(gpuimg.morphology, "opening", opening)
    _, cohort = write_cohort(tmp_path, n=1)
    spec = spec_from_dict(
        {
            "mask": {"source": "recipe", "threshold": [-100, 300], "opening_mm": 4.0},
            "features": {"families": ["statistics"]},
        }
    )
    run_pipeline(spec, cohort, tmp_path / "out", keep_ids=True, progress=False)
    errors = (tmp_path / "out" / "errors.csv").read_text()
    assert "ValueError: (its text is left out: it may quote the files' values) in the segment stage" in errors
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert b"Qqmarker" not in path.read_bytes() and b"Zzname" not in path.read_bytes(), path
