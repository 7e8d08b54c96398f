"""gpuimg run on a cohort with broken studies: a row per good study, an error row per bad one, resume,
SIGKILL and re-run, and the same table from a Dask LocalCluster of 2 worker processes."""

import csv
import dataclasses
import errno
import hashlib
import hmac
import html
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pydicom
import pytest
from cohort_data import write_cohort, write_study
from seg_files import seg_sources, write_seg

import gpuimg
from gpuimg.cli import main
from gpuimg.cohort import load_spec, run_pipeline, spec_from_dict


def _table(folder):
    with open(folder / "features.csv", newline="") as file:
        return list(csv.DictReader(file))


def _errors(folder):
    with open(folder / "errors.csv", newline="") as file:
        return {row["study"]: row["error"] for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Four good studies and four bad ones: truncated file, missing slice, no DICOM, misfit mask."""
    root = tmp_path_factory.mktemp("broken")
    spec, cohort = write_cohort(root, n=4)
    bad = {name: cohort / name for name in ("x_truncated", "x_missing", "x_empty", "x_misfit")}
    for i, (name, folder) in enumerate(bad.items()):
        if name != "x_empty":
            write_study(folder, 10 + i, patient_id=f"BAD-{i}")
    slices = sorted((bad["x_truncated"] / "ct").iterdir())
    slices[5].write_bytes(slices[5].read_bytes()[:300])
    sorted((bad["x_missing"] / "ct").iterdir())[6].unlink()
    (bad["x_empty"]).mkdir()
    (bad["x_empty"] / "notes.txt").write_text("scanned elsewhere")
    ct = gpuimg.read_dicom(bad["x_misfit"] / "ct", device="cpu")
    gpuimg.write_image(
        gpuimg.Volume(np.ones((12, 20, 24), np.uint8), ct.spacing, ct.origin), bad["x_misfit"] / "mask.nrrd"
    )
    return spec, cohort, root / "key"


def test_good_studies_give_rows_and_bad_ones_errors(broken, tmp_path):
    spec, cohort, key = broken
    out = tmp_path / "out"
    manifest = run_pipeline(spec, cohort, out, key_path=key, progress=False, keep_ids=True)
    rows, errors = _table(out), _errors(out)
    assert sorted(r["study"] for r in rows) == [f"study_{i:03d}" for i in range(4)]
    assert set(errors) == {"x_truncated", "x_missing", "x_empty", "x_misfit"}
    assert "DicomError" in errors["x_truncated"] and "truncated" in errors["x_truncated"]
    assert "GeometryError" in errors["x_missing"] and "missing" in errors["x_missing"]
    assert "no DICOM image series" in errors["x_empty"]
    assert (
        "does not fit its image" in errors["x_misfit"]
        and "(12, 20, 24) vs (12, 24, 24)" in errors["x_misfit"]
    )
    assert manifest["rows"] == 4 and manifest["errors"] == 4
    # A study is flagged clipped where its mask reaches a face of the volume.
    touching = []
    for row in rows:
        mask = gpuimg.read_image(cohort / row["study"] / "mask.nrrd", device="cpu").data > 0
        faces = (mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1])
        if any(face.any() for face in faces):
            touching.append(row["study"])
    assert manifest["clipped"] == touching
    parquet = pq.read_table(out / "features.parquet").to_pylist()
    assert [r["study"] for r in parquet] == [r["study"] for r in rows]
    np.testing.assert_allclose(
        [r["stat_mean"] for r in parquet], [float(r["stat_mean"]) for r in rows], rtol=1e-12
    )  # the CSV holds the same numbers as the Parquet table (repr round trip)
    # The truth: each mask is the nodule the study was drawn with, so its volume is the voxel count.
    for row in rows:
        mask = gpuimg.read_image(cohort / row["study"] / "mask.nrrd", device="cpu")
        assert float(row["morph_vol_approx"]) == pytest.approx(mask.data.sum() * np.prod(mask.spacing))
    again = run_pipeline(spec, cohort, out, key_path=key, progress=False, keep_ids=True)
    assert again["processed_this_run"] == 0  # a re-run repeats no work
    assert _table(out) == rows and _errors(out) == errors
    # The journal's last study cut short (as a power cut can leave it: it is not flushed to disk) and
    # another's preview gone: the first is computed again, the second keeps its row.
    (journal,) = out.glob(".studies/*/journal-*.jsonl")
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])
    cut = json.loads(lines[-1])["study"]
    kept = next(study for study in ("study_001", "study_002") if study != cut)
    next(out.glob(f".studies/*/{kept}.npz")).write_bytes(b"PK\x03\x04")
    again = run_pipeline(spec, cohort, out, key_path=key, progress=False, keep_ids=True)
    assert again["processed_this_run"] == 1
    assert f"\nstudy {cut} " in (out / "run.log").read_text()  # done or failed, again
    assert _table(out) == rows and _errors(out) == errors


def _journaled(out: Path) -> list[dict]:
    """The records of the journals of ``out``'s stored studies, by the standard library's JSON parser line
    by line, oldest journal first (by its start, in its name), each line whole (ending in a newline)."""
    journals = sorted(out.glob(".studies/*/journal-*.jsonl"), key=lambda path: int(path.name.split("-")[1]))
    records = []
    for journal in journals:
        text = journal.read_text()
        assert text.endswith("\n") or not text, journal
        records += [json.loads(line) for line in text.splitlines()]
    return records


def _gpuimg_run(spec, cohort, out, *options):
    """The command line of ``gpuimg run`` in a fresh Python process."""
    command = [sys.executable, "-m", "gpuimg.cli", "run", str(spec)]
    return [*command, "--input", str(cohort), "--output", str(out), *options]


#: ``gpuimg run`` (its arguments after the first two), pausing for good once it has stored the number
#: of studies of ``sys.argv[1]``, after writing the file ``sys.argv[2]``: a test kills or interrupts it
#: there, midway however loaded the machine (polling for stored studies raced the run to its end).
_PAUSING = """
import pathlib, sys, time
from gpuimg.cli import main
from gpuimg.cohort import run
after, marker, store, stored = int(sys.argv[1]), pathlib.Path(sys.argv[2]), run._store, []
def pausing(cache, result):
    record = store(cache, result)
    stored.append(result["study"])
    if len(stored) == after:
        marker.write_text("paused")
        while True:
            time.sleep(0.01)
    return record
run._store = pausing
sys.exit(main(sys.argv[3:]))
"""


def _paused(command: list[str], after: int, marker: Path) -> list[str]:
    """``command`` (of :func:`_gpuimg_run`), pausing once ``after`` studies are stored."""
    return [sys.executable, "-c", _PAUSING, str(after), str(marker), *command[3:]]


def _wait_for(marker: Path, job: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert job.poll() is None, f"the run ended (status {job.returncode}) before its pause"
        assert time.monotonic() < deadline, "the run did not reach its pause in 300 s"
        time.sleep(0.01)


def test_sigkill_midway_then_rerun_gives_the_uninterrupted_table(broken, tmp_path):
    spec, cohort, key = broken
    total = len(list(cohort.iterdir()))
    whole = tmp_path / "whole"
    run_pipeline(spec, cohort, whole, key_path=key, progress=False)
    killed = tmp_path / "killed"
    command = _gpuimg_run(spec, cohort, killed, "--key", str(key), "--device", "cpu")
    job = subprocess.Popen(
        _paused(command, 3, tmp_path / "paused"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(tmp_path / "paused", job)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    done = len(_journaled(killed))
    assert done == 3 < total
    assert not (killed / "features.csv").exists()
    assert subprocess.run(command, capture_output=True, timeout=600).returncode == 0
    assert json.loads((killed / "manifest.json").read_text())["processed_this_run"] == total - done
    assert _table(killed) == _table(whole) and _errors(killed) == _errors(whole)
    assert not list(killed.rglob(".*.gpuimg-*.tmp*"))


def test_studies_go_to_dask_in_runs_each_once_in_order():
    from gpuimg.cohort._dask import _batches

    for n, threads in [(0, 2), (1, 2), (6, 2), (200, 2), (1000, 3), (37, 64)]:
        batches = _batches(list(range(n)), threads)
        assert [task for batch in batches for task in batch] == list(range(n))
        assert all(1 <= len(batch) <= 16 for batch in batches)
        # A few runs per thread at least, unless there are fewer studies than that.
        assert len(batches) >= min(n, 8 * threads)


def _cores() -> int:
    """The CPU cores a local Dask cluster may use here (0 without Dask)."""
    try:
        from dask.system import CPU_COUNT
    except ImportError:
        return 0
    return CPU_COUNT


@pytest.mark.skipif(_cores() < 2, reason="two worker processes need Dask and two CPU cores")
def test_two_dask_workers_give_the_serial_table(cohort, tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    from gpuimg.cohort import _dask

    # Runs of 3 studies (one per thread would be 1 here), so that a run of several goes to each worker.
    monkeypatch.setattr(_dask, "_BATCHES_PER_THREAD", 1)
    spec, folder = cohort
    # Every feature family, the texture ones too.
    every = tmp_path / "every.toml"
    every.write_text(
        re.sub(r"families = \[.*\]", "", spec.read_text()).replace(
            "labels.csv", str(spec.parent / "labels.csv")
        )
    )
    spec, key = every, tmp_path / "key"
    run_pipeline(spec, folder, tmp_path / "serial", key_path=key, progress=False)
    manifest = run_pipeline(spec, folder, tmp_path / "dask", key_path=key, workers=2, progress=False)
    assert manifest["workers"] == 2 and manifest["rows"] == 6
    assert _table(tmp_path / "dask") == _table(tmp_path / "serial")
    serial = json.loads((tmp_path / "serial" / "metrics.json").read_text())
    assert json.loads((tmp_path / "dask" / "metrics.json").read_text()) == serial
    # The confusion matrix counts every labelled study once, by its true class (labels.csv: i % 2).
    matrix = np.array(serial["classification"]["confusion_matrix"])
    assert matrix.sum(axis=1).tolist() == [3, 3]
    assert serial["classification"]["accuracy"] == pytest.approx(np.trace(matrix) / 6)
    # The saved model predicts from the table's feature columns.
    import joblib

    models = joblib.load(tmp_path / "serial" / "model.joblib")
    rows = _table(tmp_path / "serial")
    X = np.array([[float(r[name] or "nan") for name in models["features"]] for r in rows])
    assert set(models["classification"].predict(X).tolist()) <= {0, 1}
    assert models["regression"].predict(X).shape == (6,)


STS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ibsi" / "validation_sts"


@pytest.mark.skipif(not STS.exists(), reason="the IBSI validation_sts data are not in ../shared/data")
@pytest.mark.parametrize("modality", ["CT", "MR", "PET"])
def test_validation_sts_as_it_lies_gives_one_row_per_patient(modality, tmp_path):
    # Six patients, three series each, RTSTRUCT masks: the [input] rule picks one series per patient.
    spec = spec_from_dict(
        {
            "input": {"modality": modality},
            "mask": {"source": "rtstruct", "roi": "GTV"},
            "features": {"families": ["statistics"]},
        }
    )
    manifest = run_pipeline(spec, STS, tmp_path / "out", keep_ids=True, progress=False)
    rows = _table(tmp_path / "out")
    assert [r["study"] for r in rows] == [f"STS_00{i}" for i in range(1, 7)] and manifest["errors"] == 0
    assert {r["modality"] for r in rows} == {"PT" if modality == "PET" else modality}
    # The mean over the ROI equals the mean over the data set's own voxel mask (the same voxels).
    folder = {"CT": "CT", "MR": "MR_T1", "PET": "PET"}[modality]
    for row in rows[:1]:
        image = gpuimg.read_dicom(STS / row["study"] / folder / "image", device="cpu")
        mask = gpuimg.read_image(STS / row["study"] / folder / "mask_voxels.nii.gz", device="cpu").data > 0
        assert float(row["stat_mean"]) == pytest.approx(
            float(np.mean(image.data[mask], dtype=np.float64)), rel=1e-9
        )


def test_ctrl_c_leaves_no_half_written_output_and_says_how_to_resume(tmp_path):
    n = 4
    spec, cohort = write_cohort(tmp_path, n=n)
    out = tmp_path / "out"
    # Ctrl-C's default action, even where this run inherited SIGINT ignored (as a job started in the
    # background by a shell without job control does): the job must see the interrupt.
    job = subprocess.Popen(
        _paused(_gpuimg_run(spec, cohort, out, "--key", str(tmp_path / "key")), 1, tmp_path / "paused"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for(tmp_path / "paused", job)
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=120)
    stored = _journaled(out)  # every line of the journal is whole (json.loads)
    report = f"exit status {job.returncode}; {len(stored)} of {n} studies stored; stderr ends:\n{err[-4000:]}"
    assert job.returncode == 130 and "run the same command again to resume" in err, report
    assert len(stored) == 1, report
    assert not list(out.rglob(".*.gpuimg-*.tmp*")) and not (out / "features.csv").exists(), report


def test_seg_masks_through_the_pipeline(tmp_path):
    pytest.importorskip("highdicom")

    _, cohort = write_cohort(tmp_path, n=2)
    truth = {}
    for folder in sorted(cohort.iterdir()):
        sources = seg_sources(sorted((folder / "ct").iterdir()))
        mask = gpuimg.read_image(folder / "mask.nrrd", device="cpu")
        truth[folder.name] = mask.data.sum() * np.prod(mask.spacing)
        write_seg(folder / "seg.dcm", sources, {"nodule": mask.data.astype(bool)})
        (folder / "mask.nrrd").unlink()
    # No [input] rule: the SEG's own series is never taken for the image.
    document = {"mask": {"source": "seg", "roi": "nodule"}}
    seg_spec = spec_from_dict({**document, "features": {"families": ["morphology"]}})
    manifest = run_pipeline(seg_spec, cohort, tmp_path / "out", keep_ids=True, progress=False)
    assert manifest["errors"] == 0, _errors(tmp_path / "out")
    for row in _table(tmp_path / "out"):
        assert float(row["morph_vol_approx"]) == pytest.approx(truth[row["study"]])


def test_rtstruct_rois_of_one_name_are_chosen_by_their_number(tmp_path):
    # Two ROIs named "GTV" (a structure set of two lesions, say): mask.roi had to be a name, which the
    # reader refuses as ambiguous, so every study failed and no spec could choose one.
    from rtstruct_files import square_contour, write_structure_set

    _, cohort = write_cohort(tmp_path, n=2)
    for folder in sorted(cohort.iterdir()):
        image = gpuimg.read_dicom(folder / "ct", device="cpu")
        write_structure_set(
            folder / "rs.dcm",
            # pydicom strips the trailing space: both are named "GTV" in the file.
            {"GTV": [square_contour(image, 4, 1.5, 9.5)], "GTV ": [square_contour(image, 6, 1.5, 5.5)]},
        )
        assert [str(roi.ROIName) for roi in pydicom.dcmread(folder / "rs.dcm").StructureSetROISequence] == [
            "GTV",
            "GTV",
        ]
    features = {"families": ["morphology"]}
    out = tmp_path / "out"
    ambiguous = spec_from_dict({"input": {"modality": "CT"}, "mask": {"source": "rtstruct", "roi": "GTV"}})
    manifest = run_pipeline(
        dataclasses.replace(ambiguous, families=("morphology",)), cohort, out, progress=False
    )
    assert manifest["errors"] == 2 and all(
        "ROINumber of the one meant (1 or 2)" in e for e in _errors(out).values()
    )
    for number, side in ((1, 8), (2, 4)):
        chosen = {
            "input": {"modality": "CT"},
            "mask": {"source": "rtstruct", "roi": number},
            "features": features,
        }
        manifest = run_pipeline(spec_from_dict(chosen), cohort, tmp_path / f"roi{number}", progress=False)
        assert manifest["errors"] == 0, _errors(tmp_path / f"roi{number}")
        # Closed form: a square between voxel indices 1.5 and 1.5 + side holds side x side voxel centres.
        spacing = gpuimg.read_dicom(next(cohort.iterdir()) / "ct", device="cpu").spacing
        for row in _table(tmp_path / f"roi{number}"):
            assert float(row["morph_vol_approx"]) == pytest.approx(side * side * np.prod(spacing))


def test_a_readers_hint_in_errors_csv_names_the_spec_key_to_set(tmp_path):
    # A missing slice, a structure set of several ROIs and one of two ROIs of one name: errors.csv said
    # 'Pass allow_gaps=True' and 'pass roi= with one of them', keyword arguments a cohort's user cannot
    # pass, where the spec's [input] allow_gaps and [mask] roi are what they set.
    from rtstruct_files import square_contour, write_structure_set

    _, cohort = write_cohort(tmp_path, n=1)
    for name in ("x_gap", "x_rois", "x_same_name"):
        write_study(cohort / name, 1, patient_id=f"P-{name}")
    rois = {"study_000": ["GTV"], "x_gap": ["GTV"], "x_rois": ["GTV", "CTV"], "x_same_name": ["GTV", "GTV "]}
    for name, names in rois.items():
        image = gpuimg.read_dicom(cohort / name / "ct", device="cpu")
        write_structure_set(
            cohort / name / "rs.dcm",
            {roi: [square_contour(image, 4 + 2 * k, 1.5, 9.5)] for k, roi in enumerate(names)},
        )
    sorted((cohort / "x_gap" / "ct").iterdir())[6].unlink()
    document = {
        "input": {"modality": "CT"},
        "mask": {"source": "rtstruct"},
        "features": {"families": ["morphology"]},
    }
    manifest = run_pipeline(spec_from_dict(document), cohort, tmp_path / "out", keep_ids=True, progress=False)
    errors = pd.read_csv(tmp_path / "out" / "errors.csv", dtype=str).set_index("study")["error"]
    assert manifest["rows"] == 1 and sorted(errors.index) == ["x_gap", "x_rois", "x_same_name"]
    assert "Set allow_gaps = true in the spec's [input] table to read it anyway" in errors["x_gap"]
    assert "holds 2 ROIs ['CTV', 'GTV']; set the spec's [mask] roi to one of them." in errors["x_rois"]
    assert "set the spec's [mask] roi to the ROINumber of the one meant (1 or 2)" in errors["x_same_name"]
    assert not any(re.search(r"(?i)pass \w+=", e) for e in errors), errors.to_dict()
    # The hint works: with [input] allow_gaps = true the study's square (8 x 8 voxel centres in slice 4,
    # before the missing slice 6) is measured.
    document["input"]["allow_gaps"] = True
    manifest = run_pipeline(
        spec_from_dict(document), cohort, tmp_path / "gaps", keep_ids=True, progress=False
    )
    (row,) = [row for row in _table(tmp_path / "gaps") if row["study"] == "x_gap"]
    spacing = gpuimg.read_dicom(cohort / "study_000" / "ct", device="cpu").spacing
    assert float(row["morph_vol_approx"]) == pytest.approx(8 * 8 * np.prod(spacing))


def test_a_segs_hint_in_a_failing_study_names_the_spec_key_to_set(tmp_path):
    # read_seg's 'pass segment= with one number or label': in a cohort, the segment is [mask] roi.
    pytest.importorskip("highdicom")
    from gpuimg.cohort.study import StudyTask, process_study

    write_study(tmp_path / "s1", 1, patient_id="P")
    mask = gpuimg.read_image(tmp_path / "s1" / "mask.nrrd", device="cpu").data.astype(bool)
    sources = seg_sources(sorted((tmp_path / "s1" / "ct").iterdir()))
    write_seg(tmp_path / "s1" / "seg.dcm", sources, {"lesion": mask, "organ": mask})
    for roi, listed in ((None, "holds 2 segments"), ("liver", "has 0 segments matching 'liver'")):
        chosen = {"source": "seg"} if roi is None else {"source": "seg", "roi": roi}
        spec = spec_from_dict({"input": {"modality": "CT"}, "mask": chosen})
        error = process_study(StudyTask(tmp_path / "s1", "s1", spec, b"key"))["error"]
        assert listed in error and error.endswith("; set the spec's [mask] roi to one number or label."), (
            error
        )


def test_previews_only_for_the_studies_the_report_can_show(tmp_path):
    """14 studies: the first 12 by study ID keep a preview (the montage shows 6), every study says
    whether its ROI touches the volume's edge, and a study without a preview measures the same."""
    from gpuimg.cohort.study import StudyTask, process_study

    spec, cohort = write_cohort(tmp_path, n=14)
    out = tmp_path / "out"
    manifest = run_pipeline(spec, cohort, out, progress=False, keep_ids=True)
    assert manifest["rows"] == 14
    stored = sorted(path.stem for path in out.glob(".studies/*/*.npz"))
    assert stored == sorted(p.name for p in cohort.iterdir())[:12]
    assert "Slices (ROI outlined in red" in (out / "report.html").read_text()
    touching = []
    for study in sorted(cohort.iterdir()):
        mask = gpuimg.read_image(study / "mask.nrrd", device="cpu").data
        if any(
            face.any() for face in (mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1])
        ):
            touching.append(study.name)
    assert manifest["clipped"] == touching
    spec = gpuimg.cohort.load_spec(spec)
    task = StudyTask(cohort / "study_013", "study_013", spec, b"key")
    with_preview, without = process_study(task), process_study(dataclasses.replace(task, preview=False))
    assert "preview" in with_preview and "preview" not in without
    assert without["row"] == with_preview["row"] and without["clipped"] == with_preview["clipped"]


def test_a_learning_task_the_cohort_cannot_fit_is_reported_and_the_run_ends(tmp_path, capsys):
    # Every patient of one class: the classifier cannot be fitted. The run still ends with every
    # output; the task's reason is in the metrics, the manifest, the log and the report.
    spec, cohort = write_cohort(tmp_path, n=4)
    labels = tmp_path / "labels.csv"
    with open(labels, newline="") as file:
        rows = list(csv.reader(file))
    with open(labels, "w", newline="") as file:
        csv.writer(file).writerows([rows[0], *([patient, 1, growth] for patient, _, growth in rows[1:])])
    out = tmp_path / "out"
    manifest = run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    reason = "ParameterError: y holds one class only ([1]); a classifier needs at least two classes."
    assert manifest["metrics"]["classification"]["error"] == reason
    assert json.loads((out / "metrics.json").read_text())["classification"]["error"] == reason
    assert "regression" in manifest["metrics"] and "error" not in manifest["metrics"]["regression"]
    assert f"learning classification not fitted: {reason}" in (out / "run.log").read_text()
    assert "y holds one class only" in (out / "report.html").read_text()
    assert len(_table(out)) == 4 and (out / "model.joblib").exists()
    # The command line says so too (the re-run reuses the studies).
    assert main(["run", str(spec), "--input", str(cohort), "--output", str(out), "--keep-ids"]) == 0
    assert f"classification: not fitted: {reason}" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["inside", "same", "file"])
def test_an_output_folder_that_cannot_hold_the_results(tmp_path, where):
    # Inside the cohort's folder, the next run would read the results as a study; a file is no folder.
    spec, cohort = write_cohort(tmp_path, n=2)
    out = {"inside": cohort / "results", "same": cohort, "file": tmp_path / "labels.csv"}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    message = "is a file; pass a folder" if where == "file" else "lies in --input .* where the next run would"
    with pytest.raises(gpuimg.ConfigError, match=message):
        run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_an_output_folder_linked_from_the_cohort_is_not_read_as_a_study(tmp_path):
    # A link in the cohort to the output (made to reach the results from the studies' folder) made
    # the re-run read the results as one more study, an error row "no DICOM" among the patients'.
    spec, cohort = write_cohort(tmp_path, n=2)
    out = tmp_path / "out"
    run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    (cohort / "results").symlink_to(out, target_is_directory=True)
    before = sorted(p.relative_to(tmp_path) for p in out.rglob("*"))
    with pytest.raises(gpuimg.ConfigError, match=r"linked from --input .* as the study folder 'results'"):
        run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert sorted(p.relative_to(tmp_path) for p in out.rglob("*")) == before


def test_ctrl_c_inside_a_library_whose_clean_up_raises_stays_an_interrupt(tmp_path, monkeypatch):
    # Ctrl-C inside NumPy's savez: its `finally` closes the zip file, which raises ValueError ("Can't
    # close the ZIP file while there is an open writing handle"), and that replaced the interrupt:
    # the job ended with a traceback and no resume hint (twice in about 47 runs of the test above).
    spec, cohort = write_cohort(tmp_path, n=2)

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        finally:
            raise ValueError("Can't close the ZIP file while there is an open writing handle on it.")

    monkeypatch.setattr(np, "savez", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert not list(out.rglob(".*.gpuimg-*.tmp*")) and not (out / "features.csv").exists()

    def failed(*args, **kwargs):
        raise ValueError("not an interrupt")

    monkeypatch.setattr(np, "savez", failed)
    with pytest.raises(ValueError, match="not an interrupt"):  # other errors are left as they are
        run_pipeline(spec, cohort, tmp_path / "other", keep_ids=True, progress=False)


def test_a_study_whose_files_changed_is_measured_again(tmp_path):
    # A corrected mask put in place of a study's mask after a run, and another study's image folder
    # replaced: the re-run reused both stored rows (keyed by the folder's name only) and kept the old
    # numbers. Now the changed studies are measured again; the unchanged one is reused.
    spec, cohort = write_cohort(tmp_path, n=3)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    ct = gpuimg.read_dicom(cohort / "study_000" / "ct", device="cpu")
    corrected = np.zeros(ct.shape, np.uint8)
    corrected[3:9, 5:15, 6:18] = 1
    gpuimg.write_image(gpuimg.Volume(corrected, ct.spacing, ct.origin), cohort / "study_000" / "mask.nrrd")
    shutil.rmtree(cohort / "study_001" / "ct")
    shutil.copytree(cohort / "study_002" / "ct", cohort / "study_001" / "ct")
    manifest = run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert manifest["processed_this_run"] == 2
    rows = {row["study"]: row for row in _table(out)}
    # The truth: the mean of the voxels under each study's present mask, by NumPy (both sum the same
    # few hundred values in float64, in other orders).
    for study in ("study_000", "study_001", "study_002"):
        image = gpuimg.read_dicom(cohort / study / "ct", device="cpu").data
        mask = gpuimg.read_image(cohort / study / "mask.nrrd", device="cpu").data > 0
        assert float(rows[study]["stat_mean"]) == pytest.approx(image[mask].astype(float).mean(), rel=1e-9)
    assert rows["study_001"]["patient"] == rows["study_002"]["patient"] == "PAT-002"
    again = run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert again["processed_this_run"] == 0 and {row["study"]: row for row in _table(out)} == rows


def test_run_says_when_a_task_is_fitted_without_cross_validation(capsys, tmp_path):
    # A cohort of one patient: the regression is fitted, but there is nothing to score out of fold,
    # and the command printed "  regression: " and nothing after it.
    spec, cohort = write_cohort(tmp_path, n=1)
    assert main(["run", str(spec), "--input", str(cohort), "--output", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    reason = (
        "1 patient labelled; a patient-level cross-validation of a regression needs 3 at least (trained on "
        "one patient, a model predicts that patient's target for every study). The model is fitted on the "
        "1 labelled study, without a score: label more patients."
    )
    assert metrics["regression"] == {
        "n_studies": 1,
        "n_patients": 1,
        "folds": 1,
        "not_cross_validated": reason,
    }
    assert printed.startswith("1 feature row, 0 errors from 1 study (0 finished in an earlier run) in ")
    assert f"  regression: not cross-validated: {reason}\n" in printed


@pytest.mark.parametrize("address", ["scheduler-host", "tcp://127.0.0.1:1"])
def test_a_scheduler_that_cannot_be_reached_is_a_config_error(tmp_path, address):
    # A typo in --scheduler ended the run in distributed's traceback: ValueError 'missing port
    # number' at once, or OSError 'Timed out trying to connect' after 30 s.
    import dask
    import distributed  # its defaults loaded before one is set

    spec, cohort = write_cohort(tmp_path, n=1)
    before = dask.config.get("scheduler", None)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(gpuimg.ConfigError, match=rf"--scheduler {address}: no Dask scheduler could be"):
            run_pipeline(spec, cohort, tmp_path / "out", scheduler=address, keep_ids=True, progress=False)
    # The failed Client had made itself Dask's default: every later compute of the process (the rest
    # of the test session) asked for it, and failed or waited forever on its absent scheduler.
    assert dask.config.get("scheduler", None) == before
    default = getattr(dask.base.get_scheduler(), "__self__", None)
    assert not isinstance(default, distributed.Client), default


def test_gpuimg_run_ends_at_once_on_a_scheduler_that_cannot_be_reached(tmp_path):
    # The ConfigError was printed, then the process waited twice Dask's connect timeout (60 s by
    # default) to close the Client that had failed, and printed distributed's traceback
    # 'Exception ignored in: <function Client.__del__ ...> ... TimeoutError'.
    (tmp_path / "in" / "a").mkdir(parents=True)
    (tmp_path / "p.toml").write_text('[mask]\nsource = "recipe"\nthreshold = "otsu"\n')
    argv = ["run", str(tmp_path / "p.toml"), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o")]
    for address in ("scheduler-host", "tcp://127.0.0.1:1"):
        done = subprocess.run(
            [sys.executable, "-m", "gpuimg.cli", *argv, "--scheduler", address],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"},
        )
        assert done.returncode == 1
        assert (
            f"gpuimg: ConfigError: --scheduler {address}: no Dask scheduler could be reached" in done.stderr
        )
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_studies_measured_by_another_gpuimg_are_measured_again(tmp_path, monkeypatch):
    # After an upgrade (which may fix a feature), a re-run into the same output folder kept every
    # stored row of the old version, though the manifest named the new one.
    spec, cohort = write_cohort(tmp_path, n=2)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    assert run_pipeline(spec, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 2
    assert run_pipeline(spec, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 0
    monkeypatch.setattr(gpuimg, "__version__", gpuimg.__version__ + ".post1")
    manifest = run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert manifest["processed_this_run"] == 2 and manifest["gpuimg"].endswith(".post1")
    assert run_pipeline(spec, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 0


def test_rows_of_older_definitions_are_measured_again(tmp_path, monkeypatch):
    # A column whose definition changes within one gpuimg version (the edge features, from HU/mm times
    # the operator's scale to HU/mm) was reused from the stored rows and mixed with new ones.
    import gpuimg.cohort.spec as spec_module

    _, cohort = write_cohort(tmp_path, n=2)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    assert run_pipeline(spec, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 2
    monkeypatch.setattr(spec_module, "ROW_DEFINITIONS", spec_module.ROW_DEFINITIONS + 1)
    assert run_pipeline(spec, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 2
    assert run_pipeline(spec, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 0


def test_studies_measured_on_another_device_are_measured_again(emulated_cuda, tmp_path):
    # The stored studies were keyed by the spec and the study's files alone: a run with --device cuda
    # into the folder of a --device cpu run measured nothing (processed_this_run 0), kept the CPU's
    # rows and wrote a manifest saying cuda.
    _, cohort = write_cohort(tmp_path, n=2)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    runs = []
    for device in ("cpu", "cuda", "cuda", "cpu"):
        manifest = run_pipeline(spec, cohort, out, device=device, keep_ids=True, progress=False)
        stored = {record["study"]: record["device"] for record in _journaled(out)}
        stored = set(stored.values())
        runs.append((manifest["device"], manifest["processed_this_run"], stored))
    assert runs == [
        ("cpu", 2, {"cpu"}),
        ("cuda", 2, {"cuda"}),
        ("cuda", 0, {"cuda"}),
        ("cpu", 2, {"cpu"}),
    ]
    table = pd.read_parquet(out / "features.parquet").set_index("study")
    for study in ("study_000", "study_001"):
        ct = gpuimg.read_dicom(cohort / study / "ct", device="cpu").data
        roi = gpuimg.read_image(cohort / study / "mask.nrrd", device="cpu").data > 0
        # The ROI's mean HU as NumPy computes it (IBSI's mean); float32 sums of a few hundred voxels.
        np.testing.assert_allclose(
            table.loc[study, "stat_mean"], ct[roi].astype(np.float64).mean(), rtol=1e-6
        )


def test_a_spec_changed_in_python_measures_its_studies_again(tmp_path):
    # A Spec changed with dataclasses.replace kept its TOML document (spec.source), from which the
    # stored studies were keyed: a run with families = ["statistics"] into the folder of a run with
    # morphology too measured nothing (processed_this_run 0) and wrote the old rows, morph_* included.
    _, cohort = write_cohort(tmp_path, n=2)
    first = spec_from_dict(
        {
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["statistics", "morphology"]},
        }
    )
    out = tmp_path / "out"
    assert run_pipeline(first, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 2
    second = dataclasses.replace(first, families=("statistics",))
    assert run_pipeline(second, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 2
    table = pd.read_parquet(out / "features.parquet").set_index("study")
    features = [c for c in table.columns if c not in ("patient", "modality")]
    assert features and all(c.startswith("stat_") for c in features), features
    for study in ("study_000", "study_001"):
        ct = gpuimg.read_dicom(cohort / study / "ct", device="cpu").data
        roi = gpuimg.read_image(cohort / study / "mask.nrrd", device="cpu").data > 0
        # The ROI's mean HU as NumPy computes it (IBSI's mean); float32 sums of a few hundred voxels.
        np.testing.assert_allclose(
            table.loc[study, "stat_mean"], ct[roi].astype(np.float64).mean(), rtol=1e-6
        )


def test_the_manifest_records_the_spec_that_ran_and_reruns_from_it(tmp_path, capsys):
    # manifest["spec"] was the TOML document the Spec came from: after dataclasses.replace (other
    # families, another bin width, keep_ids) it named the first spec's settings, not those measured.
    spec_path, cohort = write_cohort(tmp_path, n=2)
    first = load_spec(spec_path)
    settings = dataclasses.replace(first.settings, bin_width=10.0)
    spec = dataclasses.replace(first, families=("statistics", "histogram"), settings=settings)
    out = tmp_path / "out"
    run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    recorded = json.loads((out / "manifest.json").read_text())["spec"]
    assert recorded["features"]["families"] == ["statistics", "histogram"]
    assert recorded["features"]["bin_width"] == 10.0 and recorded["privacy"]["keep_ids"] is True
    assert recorded["learning"]["labels"] == str(tmp_path / "labels.csv")
    ran = dataclasses.replace(spec, keep_ids=True)
    assert spec_from_dict(recorded, base=tmp_path / "elsewhere") == ran
    assert load_spec(out / "manifest.json") == ran
    # gpuimg run from the manifest runs that spec again: every study is found finished under its hash.
    assert main(["run", str(out / "manifest.json"), "--input", str(cohort), "--output", str(out),
                 "--device", "cpu", "--keep-ids"]) == 0  # fmt: skip
    assert "(2 finished in an earlier run)" in capsys.readouterr().out
    again = json.loads((out / "manifest.json").read_text())
    assert again["processed_this_run"] == 0 and again["spec"] == recorded
    # The bins of 10 HU were measured: the highest bin, IBSI's floor((x - min) / w) + 1 over the ROI of
    # the CT smoothed as the spec's step says (SciPy's Gaussian, sigma 0.5 voxels).
    from scipy import ndimage

    table = pd.read_parquet(out / "features.parquet").set_index("study")
    for study in ("study_000", "study_001"):
        ct = gpuimg.read_dicom(cohort / study / "ct", device="cpu").data
        smoothed = ndimage.gaussian_filter(ct.astype(np.float64), 0.5)
        values = smoothed[gpuimg.read_image(cohort / study / "mask.nrrd", device="cpu").data > 0]
        assert table.loc[study, "ih_max"] == np.floor((values.max() - values.min()) / 10.0) + 1


def test_a_spec_with_open_bounds_reruns_from_its_manifest(tmp_path):
    # manifest.json is strict JSON, which has no infinity: an open bound (mask.threshold = [-inf, 300],
    # features.reseg_range = [-1000, inf]) is written null, and the spec read back from it was refused
    # ('reseg_range=(-1000.0, None) must be two numbers').
    _, cohort = write_cohort(tmp_path, n=1)
    spec = spec_from_dict(
        {
            "mask": {"source": "recipe", "threshold": [-math.inf, 300]},
            "features": {"families": ["statistics"], "reseg_range": [-1000, math.inf]},
        }
    )
    run_pipeline(spec, cohort, tmp_path / "out", progress=False)
    text = (tmp_path / "out" / "manifest.json").read_text()

    def refused(constant):
        raise AssertionError(f"{constant} is not JSON")

    recorded = json.loads(text, parse_constant=refused)["spec"]
    assert recorded["mask"]["threshold"] == [None, 300.0]
    assert recorded["features"]["reseg_range"] == [-1000.0, None]
    assert load_spec(tmp_path / "out" / "manifest.json") == spec


def test_the_manifest_records_the_version_of_each_library_that_computed(tmp_path):
    # The manifest named "cupy", which is no distribution's name (CuPy is cupy-cuda12x or cupy-cuda13x),
    # and neither cuCIM nor cuML: a GPU run's manifest recorded none of the GPU libraries' versions.
    import importlib

    from packaging.version import Version

    _, cohort = write_cohort(tmp_path, n=1)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    libraries = run_pipeline(spec, cohort, tmp_path / "out", keep_ids=True, progress=False)["libraries"]
    distributions = {
        "numpy": "numpy",
        "sklearn": "scikit-learn",
        "skimage": "scikit-image",
        "cupy": "cupy-cuda",
        "cucim": "cucim-cu",
        "cuml": "cuml-cu",
    }
    for module, distribution in distributions.items():
        try:
            library = importlib.import_module(module)
        except ImportError:  # not installed; or cuML with a numba-cuda it does not take
            continue
        recorded = [v for k, v in libraries.items() if k.startswith(distribution)]
        assert len(recorded) == 1, (module, libraries)
        # The module's own version (cuCIM's __version__ spells 26.10.00 where its wheel says 26.10.0).
        assert Version(recorded[0]) == Version(library.__version__), module


def test_an_empty_mask_is_explained_by_the_mask_source_that_made_it(tmp_path):
    # A recipe or a label that selected no voxel failed in the features as 'the mask is empty: no
    # voxel of the ROI is set; give the mask of this image's region of interest', naming neither the
    # threshold, the opening nor the label, and pointing at a mask the spec did not take from a file.
    import nrrd

    _, cohort = write_cohort(tmp_path, n=1)
    study = cohort / "study_000"
    hu = [
        ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        for ds in map(pydicom.dcmread, sorted((study / "ct").iterdir()))
    ]
    low, high = min(a.min() for a in hu), max(a.max() for a in hu)
    labels = np.unique(nrrd.read(str(study / "mask.nrrd"))[0])
    masks = {
        "threshold": {"source": "recipe", "threshold": [5000, 6000], "fill_holes": False},
        "opening": {"source": "recipe", "threshold": [-100, 300], "opening_mm": 12.0},
        "label": {"source": "file", "pattern": "mask.nrrd", "label": 3},
    }
    errors = {}
    for name, mask in masks.items():
        spec = spec_from_dict({"mask": mask, "features": {"families": ["statistics"]}})
        run_pipeline(spec, cohort, tmp_path / name, keep_ids=True, progress=False)
        errors[name] = pd.read_csv(tmp_path / name / "errors.csv", dtype=str).set_index("study")["error"]
    assert errors["threshold"]["study_000"] == (
        f"FeatureError: mask.threshold=[5000, 6000] selects no voxel: the image's values (after the "
        f"preprocessing steps) lie from {low:g} to {high:g}. Set the threshold within them."
    )
    assert errors["opening"]["study_000"].startswith(
        "FeatureError: mask.opening_mm=12 removes every voxel that mask.threshold=[-100, 300] selects"
    )
    assert labels.tolist() == [0, 1]
    assert errors["label"]["study_000"] == (
        "FeatureError: mask.label=3: no voxel of mask.nrrd has that label; its labels are 1. Set "
        "mask.label to the ROI's label (0 for every non-zero voxel)."
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_an_empty_mask_file_is_named(dtype, tmp_path):
    # A mask file of no ROI voxel failed in the features as 'the mask is empty: no voxel of the ROI is
    # set; give the mask of this image's region of interest', naming no file of the study.
    import nrrd

    write_study(tmp_path / "cohort" / "s", 0, patient_id="P")
    mask = gpuimg.read_image(tmp_path / "cohort" / "s" / "mask.nrrd", device="cpu")
    empty = np.where(mask.data > 0, np.nan, 0.0) if dtype == np.float32 else np.zeros(mask.shape)
    path = tmp_path / "cohort" / "s" / "lesion_seg.nrrd"
    gpuimg.write_image(dataclasses.replace(mask, data=empty.astype(dtype)), path)
    (tmp_path / "cohort" / "s" / "mask.nrrd").unlink()
    written = nrrd.read(str(path))[0]
    assert written.dtype == dtype and not np.any((written != 0) & ~np.isnan(written))  # no ROI voxel
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "*.nrrd"}, "features": {"families": ["statistics"]}}
    )
    run_pipeline(spec, tmp_path / "cohort", tmp_path / "out", keep_ids=True, progress=False)
    assert _errors(tmp_path / "out") == {
        "s": "FeatureError: lesion_seg.nrrd, the mask of mask.pattern='*.nrrd', is empty: every voxel is 0"
        f"{' or NaN' if dtype == np.float32 else ''}. Export the study's ROI again, or leave the study out."
    }


def test_an_error_without_a_message_is_recorded_with_its_stage(tmp_path, monkeypatch):
    # SciPy's binary erosion raises MemoryError() without a message for a large ball (mask.opening_mm
    # = 40 on 1.25 mm voxels): the study's row in errors.csv read 'MemoryError: ' and nothing more.
    def opening(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(gpuimg.morphology, "opening", opening)
    _, cohort = write_cohort(tmp_path, n=1)
    spec = spec_from_dict(
        {
            "mask": {"source": "recipe", "threshold": [-100, 300], "opening_mm": 40.0},
            "features": {"families": ["statistics"]},
        }
    )
    run_pipeline(spec, cohort, tmp_path / "out", keep_ids=True, progress=False)
    errors = pd.read_csv(tmp_path / "out" / "errors.csv", dtype=str)
    assert errors["error"].tolist() == ["MemoryError: (no message) in the segment stage"]


def test_the_manifest_says_when_the_run_started_with_its_utc_offset(tmp_path, monkeypatch):
    # 'started' was the local time without its offset ("2026-12-03T03:21:00" in New York), a different
    # instant for a reader elsewhere or in UTC.
    import datetime

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        _, cohort = write_cohort(tmp_path, n=1)
        spec = spec_from_dict(
            {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
        )
        before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        run_pipeline(spec, cohort, tmp_path / "out", keep_ids=True, progress=False)
        after = datetime.datetime.now(datetime.UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    started = datetime.datetime.fromisoformat(
        json.loads((tmp_path / "out" / "manifest.json").read_text())["started"]
    )
    assert started.tzinfo is not None and before <= started <= after


def test_a_mask_whose_axes_point_elsewhere_is_refused_naming_them(tmp_path):
    # A mask on the image's shape, spacing and origin whose slices run the other way (its z axis
    # flipped) was refused as 'does not fit its image', with equal shapes, spacings and origins shown.
    _, cohort = write_cohort(tmp_path, n=1)
    study = cohort / "study_000"
    mask = gpuimg.read_image(study / "mask.nrrd", device="cpu")
    direction = np.array(mask.direction, dtype=float)
    direction[:, 0] *= -1
    gpuimg.write_image(
        gpuimg.Volume(np.asarray(mask.data)[::-1].copy(), mask.spacing, mask.origin, direction),
        study / "mask.nrrd",
    )
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    run_pipeline(spec, cohort, tmp_path / "out", keep_ids=True, progress=False)
    error = pd.read_csv(tmp_path / "out" / "errors.csv", dtype=str)["error"].tolist()
    # The image's z axis: the slice normal of its ImageOrientationPatient (row x column), by pydicom.
    ds = pydicom.dcmread(next((study / "ct").iterdir()))
    normal = np.cross(np.array(ds.ImageOrientationPatient[:3]), np.array(ds.ImageOrientationPatient[3:]))
    image_z, mask_z = (tuple(float(v) + 0.0 for v in vector) for vector in (normal, -normal))
    assert len(error) == 1 and error[0].startswith("GeometryError: the mask mask.nrrd does not fit"), error
    assert f"; its z axis points along {mask_z}, the image's along {image_z} (LPS). Export" in error[0]
    assert "y axis" not in error[0] and "x axis" not in error[0]


def test_an_output_folder_that_cannot_be_made(tmp_path):
    # An output under a file, or on a read-only mount, was a FileNotFoundError (or NotADirectoryError,
    # PermissionError) traceback from mkdir.
    spec, cohort = write_cohort(tmp_path, n=1)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(gpuimg.ConfigError, match=r"--output .*a-file/out: the folder cannot be made"):
        run_pipeline(spec, cohort, tmp_path / "a-file" / "out", keep_ids=True, progress=False)


def test_studies_of_patients_the_labels_do_not_name_are_counted_and_named(capsys, tmp_path):
    # A spreadsheet that made "PAT-004" something else: that study was left out of learning without a
    # word (only the metrics' n_studies showed it).
    spec, cohort = write_cohort(tmp_path, n=6)
    labels = tmp_path / "labels.csv"
    labels.write_text(labels.read_text().replace("PAT-004", "PAT-4"))
    out = tmp_path / "out"
    assert main(["run", str(spec), "--input", str(cohort), "--output", str(out), "--keep-ids"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unlabelled"] == ["study_004"]
    assert json.loads((out / "metrics.json").read_text())["regression"]["n_studies"] == 5
    assert "note: 1 study not learned from: the labels file does not name their patients" in printed
    assert (
        "1 study of patients not in learning.labels (not learned from): study_004"
        in (out / "run.log").read_text()
    )
    assert "Studies not learned from</h2>" in (out / "report.html").read_text()


def test_folder_names_that_are_not_utf8_are_written_as_their_bytes(tmp_path):
    # Folders named in Latin-1 (an old share or archive; Python holds their bytes as lone surrogates):
    # the pseudonyms ended in UnicodeEncodeError before any study ran, and with --keep-ids the run
    # measured every study, then ended in that traceback writing the tables.
    latin, skull = os.fsdecode(b"M\xfcller"), os.fsdecode(b"Sch\xe4del")
    cohort = tmp_path / "cohort"
    try:
        (cohort / latin).mkdir(parents=True)
    except (OSError, UnicodeEncodeError):  # a file system that takes only UTF-8 names (macOS)
        pytest.skip("this file system refuses names that are not UTF-8")
    write_study(cohort / latin, 0, patient_id="PAT-0")
    for path in (cohort / latin / "ct").iterdir():  # no patient ID: the patient is named by the folder
        ds = pydicom.dcmread(path)
        ds.PatientID = ""
        ds.save_as(path)
    write_study(cohort / "plain" / skull, 1, patient_id="PAT-1")
    next((cohort / "plain" / skull / "ct").iterdir()).write_bytes(b"DICM truncated")
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "**/mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    key = tmp_path / "out.key"
    for keep_ids in (True, False):
        out = tmp_path / f"out-{keep_ids}"
        manifest = run_pipeline(spec, cohort, out, keep_ids=keep_ids, key_path=key, progress=False)
        assert (manifest["rows"], manifest["errors"]) == (1, 1)
        # pandas reads the outputs as UTF-8 (strictly): the names' bytes are written as `ls -b` shows them.
        features = pd.read_parquet(out / "features.parquet")
        errors = pd.read_csv(out / "errors.csv", encoding="utf-8")
        assert (
            pd.read_csv(out / "features.csv", encoding="utf-8")["study"].tolist()
            == features["study"].tolist()
        )
        if keep_ids:
            assert features[["study", "patient"]].values.tolist() == [["M\\xfcller", "M\\xfcller"]]
        else:
            # The pseudonym is the keyed hash (HMAC-SHA256) of the name's bytes on disk.
            secret = bytes.fromhex(key.read_text())
            digest = hmac.new(secret, b"study:M\xfcller", hashlib.sha256).hexdigest()[:16]
            assert features["study"].tolist() == [f"S-{digest}"]
        assert "/Sch\\xe4del/ct/" in errors["error"][0]


def test_a_study_folder_of_a_long_name_with_keep_ids(tmp_path):
    # With --keep-ids a study's result was stored under its folder's name, and a name of more than about
    # 230 bytes (of 255 a file system takes) made the temporary file's name too long: the run measured the
    # study, then ended in OSError 'File name too long'.
    long_name = "Sarcoma cohort, thigh, T1 post-contrast " + "é" * 100  # 240 bytes in UTF-8
    cohort = tmp_path / "cohort"
    write_study(cohort / long_name, 0, patient_id="PAT-0")
    write_study(cohort / "short", 1, patient_id="PAT-1")
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    manifest = run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    assert (manifest["rows"], manifest["errors"]) == (2, 0)
    assert pd.read_csv(out / "features.csv", encoding="utf-8")["study"].tolist() == [long_name, "short"]
    # Stored, so a re-run measures nothing again; and still refused by a pseudonymised run.
    assert run_pipeline(spec, cohort, out, keep_ids=True, progress=False)["processed_this_run"] == 0
    with pytest.raises(gpuimg.ConfigError, match=r"holds 2 studies of an earlier run with --keep-ids"):
        run_pipeline(spec, cohort, out, key_path=tmp_path / "out.key", progress=False)


@pytest.mark.skipif(_cores() < 2, reason="two worker processes need Dask and two CPU cores")
def test_a_study_whose_worker_dies_is_an_error_row_not_the_end_of_the_run(tmp_path, monkeypatch):
    # A study that kills its Dask worker (out of memory, a crash in a library) ended the run with
    # distributed's KilledWorker traceback, and a re-run died on it again: the cohort could never finish.
    pytest.importorskip("dask.distributed")
    import dask
    from cohort_data import process_batch_dying_on

    from gpuimg.cohort import _dask

    monkeypatch.setattr(_dask, "_process_batch", process_batch_dying_on)  # imported by the workers
    monkeypatch.setattr(_dask, "_BATCHES_PER_THREAD", 1)  # the poison shares its run with other studies
    cohort = tmp_path / "cohort"
    for i, name in enumerate(("a", "b", "poison", "c")):
        write_study(cohort / name, i, patient_id=f"PAT-{i}")
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # one death is enough
        manifest = run_pipeline(spec, cohort, tmp_path / "out", keep_ids=True, workers=2, progress=False)
    assert (manifest["rows"], manifest["errors"]) == (3, 1)
    assert pd.read_csv(tmp_path / "out" / "features.csv")["study"].tolist() == ["a", "b", "c"]
    error = _errors(tmp_path / "out")["poison"]
    assert error.startswith("KilledWorker: the Dask worker processing this study died")


def test_spaces_around_a_patient_id_are_no_part_of_it(tmp_path):
    # DICOM ignores the spaces around an LO value such as PatientID (PS3.5 6.2), but pydicom keeps leading
    # ones (a legacy system's right-aligned numbers, ' 007'): the patient was ' 007', which the labels
    # file's '007' (spaces left out) never matched, so the study was not learned from.
    cohort = tmp_path / "cohort"
    for i, patient in enumerate((" 007 ", "  12")):
        write_study(cohort / f"s{i}", i, patient_id=patient)
    read = [str(pydicom.dcmread(next((cohort / f"s{i}" / "ct").iterdir())).PatientID) for i in range(2)]
    assert read == [" 007", "  12"]  # as pydicom reads them
    (tmp_path / "labels.csv").write_text("patient_id,y\n007,1.5\n12,2.5\n")
    spec = spec_from_dict(
        {
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["statistics"]},
            "learning": {"labels": "labels.csv", "folds": 2, "regression": {"target": "y"}},
        },
        base=tmp_path,
    )
    for keep_ids in (True, False):
        out = tmp_path / f"out-{keep_ids}"
        manifest = run_pipeline(spec, cohort, out, keep_ids=keep_ids, key_path=tmp_path / "k", progress=False)
        assert manifest["unlabelled"] == [] and manifest["metrics"]["regression"]["n_studies"] == 2
        patients = pd.read_parquet(out / "features.parquet")["patient"].tolist()
        if keep_ids:
            assert patients == ["007", "12"]
        else:
            secret = bytes.fromhex((tmp_path / "k").read_text())
            assert sorted(patients) == sorted(
                "P-" + hmac.new(secret, f"patient:{p}".encode(), hashlib.sha256).hexdigest()[:16]
                for p in ("007", "12")
            )


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_led_by_a_quote(tmp_path):
    # With --keep-ids, study folders and patient IDs went into features.csv as they are: a spreadsheet
    # opening it runs a cell beginning with = + - @ as a formula (CSV injection).
    ids = {"=1+2": "@SUM(1+1)", "+cmd": "-2+3", "-5": '=HYPERLINK("http://x")', "\tplain": "P 7"}
    for i, (folder, patient) in enumerate(ids.items()):
        write_study(tmp_path / "cohort" / folder, i, patient_id=patient)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    manifest = run_pipeline(spec, tmp_path / "cohort", out, keep_ids=True, progress=False)
    assert manifest["rows"] == 4, _errors(out)
    raw = pd.read_parquet(out / "features.parquet")
    assert dict(zip(raw["study"], raw["patient"], strict=True)) == ids  # Parquet keeps them as they are

    def inert(text):
        """OWASP's rule, written out: text beginning with = + - @ tab or CR, not a number, gets a quote."""
        try:
            float(text)
            return text
        except ValueError:
            return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    rows = _table(out)
    assert [(row["study"], row["patient"]) for row in rows] == [
        (inert(s), inert(p)) for s, p in raw[["study", "patient"]].values
    ]
    assert ("'=1+2", "'@SUM(1+1)") in [(row["study"], row["patient"]) for row in rows]
    assert ("-5", '\'=HYPERLINK("http://x")') in [(row["study"], row["patient"]) for row in rows]
    # The features are numbers, negative ones too, written as they are.
    for row, (_, expected) in zip(rows, raw.iterrows(), strict=True):
        assert float(row["stat_min"]) == expected["stat_min"] and not row["stat_min"].startswith("'")
    assert any(float(row["stat_min"]) < 0 for row in rows)


def test_an_output_folder_of_an_earlier_run_that_cannot_be_written(tmp_path):
    # The folder and its .studies/ were there, so nothing was made, and the first write, after a study
    # was measured (or every table's, after a resumed run), ended in OSError 'Read-only file system' or
    # PermissionError.
    _, cohort = write_cohort(tmp_path, n=1)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    out = tmp_path / "out"
    run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    if os.geteuid() == 0:  # root writes whatever the modes say: a read-only mount of the folder instead
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        mounted = subprocess.run(["mount", "--bind", str(out), str(read_only)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("running as root, and no read-only mount can be made here")
        subprocess.run(["mount", "-o", "remount,ro,bind", str(read_only)], check=True)
        undo = ["umount", str(read_only)]
    else:
        read_only = out
        for folder in (out, *out.rglob("*")):
            if folder.is_dir():
                folder.chmod(0o555)
        undo = ["chmod", "-R", "u+w", str(out)]
    try:
        with pytest.raises(gpuimg.ConfigError, match=r"--output .*: the folder cannot be made or written to"):
            run_pipeline(spec, cohort, read_only, keep_ids=True, progress=False)
    finally:
        subprocess.run(undo, check=True)


def test_the_feature_table_has_text_ids_and_float_features_whatever_the_values(tmp_path):
    # The Parquet types were inferred from the values: a feature null in every study was Arrow's null
    # type (object in pandas), and so were study, patient and modality when every study failed.
    import html.parser

    from gpuimg.cohort.outputs import write_parquet

    for name in ("007", "010"):
        (tmp_path / "in" / name).mkdir(parents=True)
    spec = spec_from_dict({"mask": {"source": "recipe", "threshold": "otsu"}})
    manifest = run_pipeline(spec, tmp_path / "in", tmp_path / "out", keep_ids=True, progress=False)
    assert (manifest["rows"], manifest["errors"]) == (0, 2)
    schema = pq.read_schema(tmp_path / "out" / "features.parquet")
    ids = ("study", "patient", "modality")
    assert [(f.name, str(f.type)) for f in schema] == [(c, "string") for c in ids]
    errors = pd.read_csv(tmp_path / "out" / "errors.csv", dtype=str)
    assert errors["study"].tolist() == ["007", "010"]

    class Cells(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.cells, self._in_cell = [], [], False

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self._in_cell = tag == "td"

        def handle_data(self, data):
            if self._in_cell:
                self.cells.append(data)
                self._in_cell = False

    page = Cells()
    page.feed((tmp_path / "out" / "report.html").read_text())
    assert "img" not in page.tags and {"007", "010"} <= set(page.cells)

    rows = [
        {"study": "007", "patient": "1e5", "modality": "CT", "glcm_joint_max": None, "stat_mean": 3},
        {"study": "010", "patient": "NaN", "modality": "CT", "glcm_joint_max": None, "stat_mean": 2.5},
    ]
    write_parquet(tmp_path / "t.parquet", rows, list(rows[0]), text=("study", "patient", "modality"))
    table = pd.read_parquet(tmp_path / "t.parquet")
    assert table["study"].tolist() == ["007", "010"] and table["patient"].tolist() == ["1e5", "NaN"]
    assert table["glcm_joint_max"].dtype == np.float64 and table["glcm_joint_max"].isna().all()
    assert table["stat_mean"].dtype == np.float64 and table["stat_mean"].tolist() == [3.0, 2.5]


def test_a_run_whose_every_study_failed_exits_1(capsys, tmp_path):
    # It exited 0, as a run with feature rows does, so a script running cohorts one after another
    # went on to learn from an empty table. The outputs are still written: errors.csv has each reason.
    spec, cohort = write_cohort(tmp_path, n=2)
    for study in cohort.iterdir():
        for dcm in study.rglob("*.dcm"):
            dcm.write_bytes(dcm.read_bytes()[:200])  # every slice truncated
    out = tmp_path / "out"
    assert main(["run", str(spec), "--input", str(cohort), "--output", str(out), "--keep-ids"]) == 1
    assert "every study failed (2 errors); errors.csv gives each study's reason" in capsys.readouterr().err
    assert len(pd.read_csv(out / "errors.csv")) == 2 and pd.read_parquet(out / "features.parquet").empty
    # The report says why nothing was learned: it said 'No learning task in the spec, or no labelled
    # study.', though the spec has three tasks.
    page = (out / "report.html").read_text()
    assert page.endswith("</body></html>\n") and "<p>2 studies: 0 with features, 2 failed;" in page
    assert (
        "No study has a feature row (each failed: see Errors below), so no learning task was fitted." in page
    )
    assert len(load_spec(spec).learning.tasks) == 3 and "No learning task" not in page


def test_studies_whose_ids_a_spreadsheet_wrote_as_numbers_are_explained(capsys, tmp_path):
    # A labels file saved by a spreadsheet that read its ID column as numbers: '00417' written 417, '086'
    # as 86.0 (as pandas writes a column with an empty cell), a 12-digit ID as 3.05218E+11. Their
    # studies were left out of learning with 'check its patient IDs' only.
    from gpuimg.cohort._label_ids import _unlabelled_why

    cohort = tmp_path / "cohort"
    ids = ("00417", "086", "305218470193", "PAT-9")
    for i, patient in enumerate(ids):
        write_study(cohort / f"s{i}", i, patient_id=patient)
    written = ("417", "86.0", "3.05218E+11", "PAT-9")
    (tmp_path / "labels.csv").write_text(
        "patient_id,y\n" + "".join(f"{p},{i}\n" for i, p in enumerate(written))
    )
    # The truth: each DICOM PatientID (as pydicom reads it) is the number the labels file holds.
    read = [str(pydicom.dcmread(next((cohort / f"s{i}" / "ct").iterdir())).PatientID) for i in range(4)]
    assert int(read[0]) == int(written[0]) and int(read[1]) == float(written[1])
    assert f"{float(read[2]):.5E}" == written[2]
    (tmp_path / "spec.toml").write_text(
        '[mask]\nsource = "file"\npattern = "mask.nrrd"\n[features]\nfamilies = ["statistics"]\n'
        '[learning]\nlabels = "labels.csv"\nfolds = 2\n[learning.regression]\ntarget = "y"\n'
    )
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "spec.toml"), "--input", str(cohort), "--output", str(out)]) == 0
    why = (
        "2 patients of them match an ID of the labels file but for its leading zeros or a '.0' (00123 "
        "written 123 or 123.0, as a spreadsheet writes IDs it read as numbers); 1 ID of the labels file is "
        "in scientific notation (such as 1.23457E+11: a spreadsheet cut long IDs to their first digits): "
        "format its ID column as text and export it from the original again"
    )
    printed = capsys.readouterr().out
    assert (
        "note: 3 studies not learned from: the labels file does not name their patients (run.log lists "
        f"them); {why}\n" in printed
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unlabelled_why"] == why and len(manifest["unlabelled"]) == 3
    assert why in (out / "run.log").read_text()
    assert html.escape(why) in (out / "report.html").read_text()
    # An ID as a token of its own. Not the digits after a number's decimal point: the report's tables of
    # metrics and times per stage hold numbers such as 0.086 or 0.417 (an ID after a letter's dot,
    # x.00417, is found). Not in the report's figures, base64 PNG bytes whose '+' and '/' bound digits.
    report = re.sub(r"data:image/png;base64,[^\"]+", "", (out / "report.html").read_text())
    for text in (printed, (out / "run.log").read_text(), report):
        assert not any(re.search(rf"(?<!\w)(?<!\d\.){re.escape(p)}\b", text) for p in (*ids, *written))
    # Kept IDs: the same patients found; an ID of the file that is no respelling of theirs, no reason.
    assert _unlabelled_why({"00417", "086"}, ["417", "86.0", "PAT-9"], b"", True).startswith("2 patients")
    assert _unlabelled_why({"00417"}, ["418", "0417x", "PAT-9"], b"", True) == ""


def test_labels_keyed_by_the_outputs_pseudonyms_join_their_studies(tmp_path):
    # A labels file made from the pseudonymised features.csv (by a collaborator who has only the outputs)
    # names its patients P-...: each was pseudonymised again, matched no study, and every study was left
    # out of learning ('check its patient IDs').
    from gpuimg.cohort.privacy import load_or_create_key

    cohort = tmp_path / "cohort"
    for i in range(2):
        write_study(cohort / f"s{i}", i, patient_id=f"PAT-{i}")
    out, key = tmp_path / "out", tmp_path / "out.key"
    secret = load_or_create_key(key)  # the key of the earlier run that wrote features.csv
    # The reference: each patient's pseudonym, HMAC-SHA256 of the key and its PatientID as pydicom reads it.
    read = [str(pydicom.dcmread(next((cohort / f"s{i}" / "ct").iterdir())).PatientID) for i in range(2)]
    named = ["P-" + hmac.new(secret, f"patient:{p}".encode(), hashlib.sha256).hexdigest()[:16] for p in read]
    # Labels by a pseudonym, as features.csv gives it, and by an original ID.
    (tmp_path / "labels.csv").write_text(f"patient_id,y\n{named[0]},0.5\n{read[1]},1.5\n")
    spec = spec_from_dict(
        {
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["statistics"]},
            "learning": {"labels": "labels.csv", "folds": 2, "regression": {"target": "y"}},
        },
        base=tmp_path,
    )
    manifest = run_pipeline(spec, cohort, out, key_path=key, progress=False)
    assert sorted(pd.read_csv(out / "features.csv")["patient"]) == sorted(named)
    assert manifest["unlabelled"] == [] and manifest["metrics"]["regression"]["n_studies"] == 2
    # One patient by both, with other targets: refused.
    with open(tmp_path / "labels.csv", "a") as file:
        file.write(f"{read[0]},7\n")
    with pytest.raises(gpuimg.ConfigError, match=rf"names the patient {named[0]} twice, by the ID and by"):
        run_pipeline(spec, cohort, out, key_path=key, progress=False)


def test_an_input_folder_that_does_not_exist_is_told_so(capsys, tmp_path):
    # A mistyped --input was 'is not a folder; pass the folder ...', as a file is.
    spec, _ = write_cohort(tmp_path, n=0)
    (tmp_path / "file").write_text("")
    for given, what in (("absent", "does not exist"), ("file", "is not a folder")):
        assert os.path.exists(tmp_path / given) == (given == "file")  # the system's answer, the reference
        argv = ["run", str(spec), "--input", str(tmp_path / given), "--output", str(tmp_path / "out")]
        assert main(argv) == 1
        assert capsys.readouterr().err == (
            f"gpuimg: ConfigError: --input {tmp_path / given} {what}; pass the folder that holds one folder "
            "per study.\n"
        )


def test_an_input_folder_that_may_not_be_listed_is_a_config_error(tmp_path):
    """find_studies raised a bare PermissionError to library callers for a cohort folder of mode 000
    (or 0o444: listed, but its entries may not be looked at); only the command turned it into a line."""
    from as_user import run_as_user

    code = (
        "import os, sys\n"
        "from gpuimg.cohort import find_studies\n"
        "try:\n"
        "    os.listdir(sys.argv[1]); [os.stat(e.path) for e in os.scandir(sys.argv[1])]\n"
        "except PermissionError:\n"
        "    print('refused')\n"
        "try:\n"
        "    find_studies(sys.argv[1])\n"
        "except Exception as exc:\n"
        "    print(f'{type(exc).__name__}: {exc}')\n"
    )
    cohort = tmp_path / "cohort"
    (cohort / "P01").mkdir(parents=True)
    said = {}
    try:
        for mode in (0o000, 0o444):
            cohort.chmod(mode)
            said[mode] = run_as_user(sys.executable, "-c", code, str(cohort))
    finally:
        cohort.chmod(0o755)
    for mode, result in said.items():
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "refused"  # the system's own refusal, the reference
        assert lines[1] == (
            f"ConfigError: --input {cohort} cannot be listed (Permission denied); give your user read and "
            "execute permission on it and on the folders on the way to it, or pass another cohort folder."
        ), oct(mode)


def test_a_run_leaves_the_temporaries_of_a_running_process_alone(tmp_path):
    """A run deleted every temporary file under its output folder, also those another run writing to
    the same folder was about to rename into place (whose rename then failed): only the temporaries of
    processes of this machine that no longer run are left-overs; another machine's are its own."""
    import hashlib

    from gpuimg.io._atomic import _host

    _, cohort = write_cohort(tmp_path, n=1)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    elsewhere = hashlib.sha256(b"another machine").hexdigest()[:8]
    assert elsewhere != _host()
    out = tmp_path / "out"
    folder = out / ".studies" / "0123456789ab"
    folder.mkdir(parents=True)
    names = {
        "killed": f".S-1.json.gpuimg-{finished.pid}-{_host()}-0a1b2c3d.tmp",
        "running": f".S-2.json.gpuimg-{running.pid}-{_host()}-0a1b2c3e.tmp",
        "elsewhere": f".S-3.json.gpuimg-{finished.pid}-{elsewhere}-0a1b2c3f.tmp",
        "running here": f".features.csv.gpuimg-{running.pid}-{_host()}-0a1b2c40.tmp",
    }
    for what, name in names.items():
        (out if what == "running here" else folder).joinpath(name).write_text("partial")
    try:
        # The system's answer, the reference: one process has ended, the other runs.
        assert finished.poll() is not None and running.poll() is None
        run_pipeline(spec, cohort, out, keep_ids=True, progress=False)
    finally:
        running.kill()
        running.wait()
    left = {path.name for path in out.rglob(".*.gpuimg-*.tmp*")}
    assert left == {names["running"], names["elsewhere"], names["running here"]}


def test_an_output_folder_holding_the_cohort_leaves_the_cohort_alone(tmp_path):
    """--output . with --input ./cohort: the clean-up of a killed run's temporaries walked every study's
    folders on each run, and deleted an interrupted write of another program there (a file of the
    input). Only the output's own folder and its .studies/ are cleaned; the run's outputs are beside
    the cohort, no study among them."""
    from gpuimg.io._atomic import _host

    _, cohort = write_cohort(tmp_path, n=1)
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert finished.poll() is not None  # the system's answer, the reference: the process has ended
    stale = f".S-1.json.gpuimg-{finished.pid}-{_host()}-0a1b2c3d.tmp"
    in_cohort = cohort / "study_000" / "ct" / stale
    in_cohort.write_text("another program's write")
    in_output = tmp_path / stale
    in_output.write_text("partial")
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    manifest = run_pipeline(spec, cohort, tmp_path, keep_ids=True, progress=False)
    assert in_cohort.read_text() == "another program's write"
    assert not in_output.exists()
    assert manifest["rows"] == 1 and manifest["errors"] == 0, _errors(tmp_path)


#: A spec of the fewest stages for the tests of which studies fail: the mask file, statistics.
_STATISTICS = """
[mask]
source = "file"
pattern = "mask.nrrd"
[features]
families = ["statistics"]
"""


def _unfollowable(path: Path) -> str | None:
    """The system's reason why the link ``path`` cannot be followed (os.stat's), None where it can."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return "its target does not exist"
    except OSError as exc:
        return "a loop of links" if exc.errno == errno.ELOOP else None
    return None


def test_study_links_that_lead_nowhere_are_failed_studies_and_counted(capsys, tmp_path):
    # A cohort where a study's folder is a link to where it was moved from, or a loop of links, ran the
    # other studies and said nothing of it (not in errors.csv, the manifest's counts or the report); a
    # study whose slice was a link to a moved file was measured on the other slices, without a word.
    _, cohort = write_cohort(tmp_path, n=3, name="MUSTERMANN^ERIKA")
    spec = tmp_path / "statistics.toml"
    spec.write_text(_STATISTICS)
    (cohort / "MUSTERMANN_ERIKA").symlink_to(
        tmp_path / "archive" / "MUSTERMANN_ERIKA", target_is_directory=True
    )
    (cohort / "loop_a").symlink_to(cohort / "loop_b")
    (cohort / "loop_b").symlink_to(cohort / "loop_a")
    (cohort / "notes.txt").write_text("not a study")
    (cohort / "study_002" / "ct" / "IM9999.dcm").symlink_to(tmp_path / "archive" / "IM9999.dcm")
    # The reference of what is there: os.walk's entries of the cohort and os.stat's refusals.
    top, *below = list(os.walk(cohort))
    entries = sorted(top[1] + top[2])
    nowhere = {name: _unfollowable(cohort / name) for name in entries if _unfollowable(cohort / name)}
    studies = [name for name in entries if os.path.isdir(cohort / name) or name in nowhere]
    inside = {
        Path(folder).relative_to(cohort).parts[0]: Path(folder, name).relative_to(cohort)
        for folder, _, files in below
        for name in files
        if _unfollowable(Path(folder, name))
    }
    assert nowhere == {
        "MUSTERMANN_ERIKA": "its target does not exist",
        "loop_a": "a loop of links",
        "loop_b": "a loop of links",
    }
    assert inside == {"study_002": Path("study_002", "ct", "IM9999.dcm")}
    out = tmp_path / "out"
    argv = ["run", str(spec), "--input", str(cohort), "--output", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    from gpuimg.cohort.privacy import key_path_for, load_or_create_key, pseudonym

    key = load_or_create_key(key_path_for(out))
    ids = {pseudonym(key, "study", name): name for name in studies}
    errors = {ids[study]: error for study, error in _errors(out).items()}
    expected = {
        name: f"DicomError: <study {pseudonym(key, 'study', name)}>: the link leads nowhere ({why}), so "
        "nothing was read. Fix or remove the link."
        for name, why in nowhere.items()
    }
    expected["study_002"] = (
        "DicomError: the study's link ct/IM9999.dcm leads nowhere (its target does not exist): what it "
        "linked to was not read, so the study may lack slices of its series or its mask. Fix the link, or "
        "remove it from the study folder."
    )
    assert errors == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["studies"], manifest["rows"], manifest["errors"]) == (6, 2, 4) == (len(studies), 2, 4)
    assert "2 feature rows, 4 errors from 6 studies" in printed
    assert "<p>6 studies: 2 with features, 4 failed;" in (out / "report.html").read_text()
    # No name, and not where the links led (an archive's path may name the patient).
    for name in ("errors.csv", "report.html", "manifest.json", "run.log"):
        text = (out / name).read_text()
        assert "MUSTERMANN" not in text and "archive" not in text and str(tmp_path) not in text, name
    # The link removed from the study, and the moved study found again: both are read again (their
    # files changed), the loops' errors are kept.
    (cohort / "study_002" / "ct" / "IM9999.dcm").unlink()
    shutil.copytree(cohort / "study_000", tmp_path / "archive" / "MUSTERMANN_ERIKA")
    assert main(argv) == 0
    capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["processed_this_run"], manifest["rows"], manifest["errors"]) == (2, 4, 2)
    assert {ids[study] for study in _errors(out)} == {"loop_a", "loop_b"}
    # The truth of a row read again: study_002's mean under its mask, by NumPy.
    image = gpuimg.read_dicom(cohort / "study_002" / "ct", device="cpu").data
    mask = gpuimg.read_image(cohort / "study_002" / "mask.nrrd", device="cpu").data > 0
    row = next(row for row in _table(out) if ids[row["study"]] == "study_002")
    assert float(row["stat_mean"]) == pytest.approx(image[mask].astype(float).mean(), rel=1e-9)


def test_study_links_and_folders_that_may_not_be_searched_are_failed_studies(tmp_path):
    # A study linked from a folder the user may not search (a colleague's archive) ended the whole run
    # with 'ConfigError: --input ... cannot be listed (Permission denied)', blaming the cohort folder;
    # a study folder of mode 000 is a failed study too. The reference: the system's refusals, as the user.
    _, cohort = write_cohort(tmp_path, n=2)
    spec = tmp_path / "statistics.toml"
    spec.write_text(_STATISTICS)
    shutil.copytree(cohort / "study_000", tmp_path / "private" / "DOE_JANE")
    (cohort / "linked").symlink_to(tmp_path / "private" / "DOE_JANE", target_is_directory=True)
    (cohort / "locked").mkdir()
    code = (
        "import os, sys\n"
        "from gpuimg.cli import main\n"
        "for name in ('linked', 'locked'):\n"
        "    try: os.listdir(os.path.join(sys.argv[1], name))\n"
        "    except PermissionError: print('refused', name)\n"
        "argv = ['run', sys.argv[2], '--input', sys.argv[1], '--output', sys.argv[3], '--keep-ids']\n"
        "sys.exit(main(argv))\n"
    )
    from as_user import run_as_user

    try:
        (tmp_path / "private").chmod(0o600)  # may be read, not searched
        (cohort / "locked").chmod(0)
        done = run_as_user(sys.executable, "-c", code, str(cohort), str(spec), str(tmp_path / "out"))
    finally:
        (tmp_path / "private").chmod(0o755)
        (cohort / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == [
        "refused linked",
        "refused locked",
        "2 feature rows, 2 errors from 4 studies (0 finished in an earlier run) in "
        + done.stdout.splitlines()[2].rsplit(" in ", 1)[1],
    ]
    errors = _errors(tmp_path / "out")
    assert errors == {
        name: f"DicomError: <study {name}>: cannot be read (Permission denied). Check the path, and that "
        "you may open it and the folders on the way to it."
        for name in ("linked", "locked")
    }
    assert "DOE" not in (tmp_path / "out" / "errors.csv").read_text()


def test_a_run_without_a_progress_bar_leaves_tqdm_unloaded(tmp_path):
    """progress=False (gpuimg run into a log file) makes no bar: tqdm's disabled bar made its lock (a
    process's first) after tqdm.auto's import (20-30 ms), in the studies' time of a one-run process.
    progress=True draws tqdm's bar on standard error, a study at a time."""
    spec, cohort = write_cohort(tmp_path, n=2)
    script = (
        "import sys\n"
        "from gpuimg.cohort import load_spec, run_pipeline\n"
        f"spec, cohort, out = load_spec({str(spec)!r}), {str(cohort)!r}, {str(tmp_path)!r}\n"
        "assert run_pipeline(spec, cohort, out + '/quiet', progress=False, keep_ids=True)['rows'] == 2\n"
        "assert 'tqdm.auto' not in sys.modules, 'tqdm.auto imported'\n"
        "run_pipeline(spec, cohort, out + '/shown', progress=True, keep_ids=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "2/2" in done.stderr and "study" in done.stderr, done.stderr
