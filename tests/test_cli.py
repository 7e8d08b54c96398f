"""The gpuimg command: demo, run, info, bench, --version, and errors a person can act on."""

import ast
import csv
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from as_user import run_as_user, user_prefix

import gpuimg
from gpuimg.cli import main


def test_demo_runs_the_pipeline_keeps_its_outputs_and_says_what_next(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUIMG_DEVICE", "cpu")
    out = tmp_path / "demo"
    with monkeypatch.context() as fresh_machine:  # no kernel in the on-disk cache yet
        fresh_machine.setattr("gpuimg.kernels.cache.on_disk", lambda dispatcher: False)
        assert main(["demo", "--out", str(out), "--studies", "8", "--shape", "12", "16", "16"]) == 0
    said = capsys.readouterr().out
    assert "first run on this machine: the kernels compile" in said
    for stage in ("read", "preprocess", "segment", "edges", "features", "learning", "report"):
        assert re.search(rf"{stage}.* [\d.]+ s", said), stage
    assert re.search(r"accuracy [\d.]+, ROC AUC [\d.]+", said) and re.search(r"R² -?[\d.]+", said)
    assert re.search(r"silhouette -?[\d.]+", said)
    for kept in ("cohort", "labels.csv", "pipeline.toml", "results/report.html", "results/features.parquet"):
        assert (out / kept).exists(), kept
    assert f"gpuimg run {out / 'pipeline.toml'} --input" in said
    # 16 voxels of 1.25 mm (20 mm) cannot hold every nodule of up to 18 mm radius: the clipped ones are named.
    note = re.search(r"note: the lesion of (\d+) studies touches the volume's edge", said)
    manifest = json.loads((out / "results" / "manifest.json").read_text())
    assert note and int(note[1]) == len(manifest["clipped"]) > 0
    assert "clipped by the volume's edge" in (out / "results" / "report.html").read_text()
    with open(out / "results" / "features.csv") as file:
        assert len(list(csv.DictReader(file))) == 8
    # Run again in the same folder: the cohort and the finished studies are reused.
    assert main(["demo", "--out", str(out), "--studies", "8", "--shape", "12", "16", "16"]) == 0
    said = capsys.readouterr().out
    assert "from an earlier run" in said
    assert "first run on this machine" not in said  # the first run cached the kernels it compiled
    # Other parameters: the demo's own files are made anew, and nothing else in the folder is touched
    # (the whole folder was removed, with whatever a user had put there).
    (out / "my notes.txt").write_text("precious")
    assert main(["demo", "--out", str(out), "--studies", "5", "--shape", "12", "16", "16"]) == 0
    assert "from an earlier run" not in capsys.readouterr().out
    assert (out / "my notes.txt").read_text() == "precious"
    assert sorted(p.name for p in (out / "cohort").iterdir()) == [f"study_{i:03d}" for i in range(5)]
    with open(out / "results" / "features.csv") as file:
        assert len(list(csv.DictReader(file))) == 5


def test_demo_refuses_a_folder_it_did_not_make(capsys, tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    assert main(["demo", "--out", str(tmp_path), "--device", "cpu"]) == 1
    assert "was not made by gpuimg demo" in capsys.readouterr().err
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_demo_makes_a_folder_whose_marker_cannot_be_read_again(capsys, tmp_path, monkeypatch):
    # A marker cut short (a full disk) or edited ended the demo in json's JSONDecodeError traceback.
    import gpuimg.cohort

    def stop(*args, **kwargs):
        raise gpuimg.GpuimgError("stopped before the pipeline")

    monkeypatch.setattr(gpuimg.cohort, "run_pipeline", stop)
    out = tmp_path / "demo"
    out.mkdir()
    (out / "gpuimg-demo.json").write_text('{"studies": 4, "sha')
    (out / "notes.txt").write_text("mine")
    assert (
        main(["demo", "--out", str(out), "--studies", "4", "--shape", "8", "8", "8", "--device", "cpu"]) == 1
    )
    assert "stopped before the pipeline" in capsys.readouterr().err
    assert json.loads((out / "gpuimg-demo.json").read_text())["studies"] == 4  # written again
    assert len(list((out / "cohort").iterdir())) == 4 and (out / "notes.txt").read_text() == "mine"


def test_demo_refuses_an_out_that_is_a_file(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    assert main(["demo", "--out", str(tmp_path / "notes.txt"), "--device", "cpu"]) == 1
    assert "notes.txt is a file; pass a new or empty folder" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_demo_asking_for_cuda_without_a_gpu_explains(capsys, tmp_path):
    if gpuimg.backend.cuda_available():
        pytest.skip("a GPU is usable here")
    assert main(["demo", "--device", "cuda", "--out", str(tmp_path / "d")]) == 1
    assert "DeviceError" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["CPU", "Cpu", "CUDA", "Auto"])
def test_device_takes_a_name_in_any_case(capsys, monkeypatch, name):
    """--device CUDA or Cpu was refused by argparse ('invalid choice') while GPUIMG_DEVICE=CUDA was
    taken: warmup --device NAME now compiles for the devices (or fails with the message) of the
    lower-case name."""
    compiled = []

    def compile_kernels(dtypes, devices):
        compiled.append(devices)
        return []

    monkeypatch.setattr("gpuimg.kernels.warmup.warmup", compile_kernels)
    said = []
    for spelling in (name.lower(), name):  # the lower-case name first: the reference
        status = main(["warmup", "--device", spelling, "--dtypes", "uint8"])
        said.append((status, capsys.readouterr().err))
    assert said[1] == said[0] and "invalid choice" not in said[1][1]
    assert len(compiled) in (0, 2) and compiled[:1] == compiled[1:]
    assert said[0][0] != 0 or compiled  # a run that succeeded compiled


def test_demo_rejects_tiny_shapes(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--shape", "0", "8", "8"])
    assert "--shape needs sizes of at least 8 voxels" in capsys.readouterr().err


def test_demo_rejects_no_workers_before_writing_its_cohort(capsys, tmp_path):
    # --workers 0 was refused by the pipeline, after the cohort (40 studies, a minute) was written.
    with pytest.raises(SystemExit):
        main(["demo", "--workers", "0", "--out", str(tmp_path / "d"), "--device", "cpu"])
    assert "--workers needs at least 1 worker process; got 0" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (["--workers", "0"], "--workers needs at least 1"),
        (["--studies", "2"], "--studies needs at least 4"),
        (["--shape", "4", "8", "8"], "--shape needs sizes of at least 8"),
    ],
)
def test_demo_refuses_its_options_with_its_own_usage(capsys, tmp_path, bad, said):
    """Regression: demo's checks printed the top-level usage ('usage: gpuimg [-h] [--version] {demo,...')
    above a demo option's refusal. The reference: argparse's own refusal of a demo option."""
    out = ["--out", str(tmp_path / "d")]
    with pytest.raises(SystemExit) as argparse_own:
        main(["demo", "--workers", "two", *out])
    reference = capsys.readouterr().err
    with pytest.raises(SystemExit) as ours:
        main(["demo", *bad, *out])
    err = capsys.readouterr().err
    assert ours.value.code == argparse_own.value.code == 2
    assert err.splitlines()[0] == reference.splitlines()[0]  # "usage: gpuimg demo [-h] [--out OUT] ..."
    assert said in err.splitlines()[-1] and err.splitlines()[-1].startswith("gpuimg demo: error:"), err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["run", "p.toml", "--input", "", "--output", "out"], "--input"),
        (["run", "p.toml", "--input", "in", "--output", ""], "--output"),
        (["run", "", "--input", "in", "--output", "out"], "pipeline"),
        (["run", "p.toml", "--input", "in", "--output", "out", "--key", ""], "--key"),
        (["info", ""], "path"),
        (["demo", "--out", ""], "--out"),
    ],
)
def test_an_empty_path_is_refused_not_the_working_directory(capsys, tmp_path, monkeypatch, argv, argument):
    # --input "$STUDIES" with the variable unset: Path("") is ".", so the working directory's folders were
    # taken for studies (or the results written there, or the working directory listed).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(argv)
    assert f"argument {argument}: an empty path (is a shell variable unset?)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_run_reports_a_bad_spec_by_its_key(capsys, tmp_path):
    (tmp_path / "p.toml").write_text('[mask]\nsource = "atlas"\n')
    (tmp_path / "in" / "a").mkdir(parents=True)
    assert (
        main(
            [
                "run",
                str(tmp_path / "p.toml"),
                "--input",
                str(tmp_path / "in"),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "ConfigError" in (err := capsys.readouterr().err) and "mask.source='atlas'" in err


def test_info_names_the_device(capsys):
    assert main(["info"]) == 0
    assert re.search(r"device \(auto\): (cpu|cuda)", capsys.readouterr().out)


def test_info_reports_a_device_problem_instead_of_crashing(capsys, monkeypatch):
    if gpuimg.backend.cuda_available():
        pytest.skip("a GPU is usable here")
    monkeypatch.setenv("GPUIMG_DEVICE", "cuda")
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "device (auto): unavailable: DeviceError" in out and "numpy" in out


def test_info_path_lists_series_without_patient_ids(capsys, tmp_path):
    volume = gpuimg.Volume(gpuimg.datasets.ct_phantom((8, 16, 16), seed=0).data, spacing=(2.0, 0.5, 0.5))
    gpuimg.write_dicom(volume, tmp_path / "ct", patient_id="MRN-5512", patient_name="Roe^Richard")
    gpuimg.write_dicom(volume, tmp_path / "gap", patient_id="MRN-5512", modality="MR")
    sorted((tmp_path / "gap").iterdir())[3].unlink()
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 series" in out and "MRN-5512" not in out and "Roe" not in out
    ct = next(line for line in out.splitlines() if " CT " in line)
    assert re.search(r"P-[0-9a-f]{16} +CT +8 +8x16x16 +2, 0.5, 0.5", ct)
    mr = next(line for line in out.splitlines() if " MR " in line)
    assert "missing" in mr  # the series' problem, as read_dicom would say it
    reference = {str(pydicom.dcmread(p).Modality) for p in tmp_path.rglob("*.dcm")}
    assert reference == {"CT", "MR"}


def test_info_names_one_patient_once_whatever_the_form_of_its_id(capsys, tmp_path):
    # As the cohort names patients: an ID composed (NFC) in one series and decomposed (NFD) in the other,
    # with a leading space in a third (no part of an LO value), is one patient of one pseudonym.
    volume = gpuimg.Volume(gpuimg.datasets.ct_phantom((8, 8, 8), seed=0).data, spacing=(2.0, 0.5, 0.5))
    forms = {"a": "M\u00fcller-7", "b": unicodedata.normalize("NFD", "M\u00fcller-7"), "c": " M\u00fcller-7"}
    for name, patient in forms.items():
        gpuimg.write_dicom(volume, tmp_path / name, patient_id=patient)
    assert len({pydicom.dcmread(next((tmp_path / n).iterdir())).PatientID for n in forms}) == 3
    assert main(["info", str(tmp_path)]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if " CT " in line]
    assert len(rows) == 3 and len(set(rows)) == 1 and re.fullmatch(r"P-[0-9a-f]{16}", rows[0])


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"gpuimg {gpuimg.__version__}"


def test_console_script_is_installed():
    command = shutil.which("gpuimg")
    assert command, "the gpuimg console script is not on PATH; install with pip install -e ."
    done = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and all(c in done.stdout for c in ("demo", "run", "info", "bench"))


def test_bench_runs_the_checkout_comparison_for_this_device(capfd):
    if not (Path(gpuimg.__file__).resolve().parents[1] / "benchmarks" / "compare.py").exists():
        pytest.skip("not a source checkout")
    # An operation name that matches none is refused with the names (it printed an empty table), in
    # gpuimg's words: compare.py's usage line ('usage: compare.py [-h] ... [--repeat REPEAT] ... [--json
    # JSON]') named a script and options gpuimg bench does not take.
    # The reference: the name= of each Operation(...) row of benchmarks/operations.py, read as text.
    source = (Path(gpuimg.__file__).resolve().parents[1] / "benchmarks" / "operations.py").read_text()
    rows = [
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Operation"
    ]
    names = [k.value.value for row in rows for k in row.keywords if k.arg == "name"]
    assert len(names) == len(rows) >= 10
    for only, hint in [
        ("no_such_operation", ""),
        ("median_filter", " (did you mean median_filter_3?)"),
        ("", ""),
    ]:
        assert main(["bench", "--device", "cpu", "--only", only]) == 1
        err = capfd.readouterr().err
        assert err.startswith(
            f"gpuimg: ParameterError: gpuimg bench --only {only!r} is not a benchmarked operation{hint}; "
        ), err
        assert err.rstrip().endswith(f"use one of: {', '.join(names)}."), err
        assert "usage" not in err and "compare.py" not in err


@pytest.mark.parametrize("repeat", ["0", "-2"])
def test_compare_refuses_no_timed_runs_before_running(repeat):
    """Regression: benchmarks/compare.py --repeat 0 ran the first operation's warm-up, then ended in a
    traceback (ValueError: min() arg is an empty sequence). The reference: argparse's status 2."""
    script = Path(gpuimg.__file__).resolve().parents[1] / "benchmarks" / "compare.py"
    if not script.exists():
        pytest.skip("not a source checkout")
    command = [sys.executable, str(script), "--device", "cpu", "--only", "label", "--repeat", repeat]
    done = subprocess.run(command, capture_output=True, text=True, cwd=script.parent, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].endswith(f"--repeat needs at least 1 timed run; got {repeat}")
    assert "Traceback" not in done.stderr and not done.stdout


def test_compare_refuses_a_json_file_in_a_missing_folder_before_running(tmp_path):
    """Regression: benchmarks/compare.py --json results/run.json timed every operation (minutes), then
    ended in a traceback (FileNotFoundError) where the folder results/ did not exist, losing the rows."""
    script = Path(gpuimg.__file__).resolve().parents[1] / "benchmarks" / "compare.py"
    if not script.exists():
        pytest.skip("not a source checkout")
    target = tmp_path / "results" / "run.json"
    command = [sys.executable, str(script), "--device", "cpu", "--only", "label", "--json", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=script.parent, timeout=300)
    assert done.returncode == 2, done.stderr  # argparse's status for a refused argument
    assert f"--json {target}: the folder {target.parent} does not exist" in done.stderr
    assert "Traceback" not in done.stderr and not done.stdout


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_first_run_check_asks_the_cache_for_the_devices_kernels(monkeypatch, device):
    """The demo's first-run line looks up the Sobel and zone-labelling kernels of the device it runs on."""
    asked = []
    monkeypatch.setattr("gpuimg.kernels.cache.on_disk", lambda d: asked.append(d.py_func.__name__) or True)
    assert gpuimg.cli._kernels_on_disk(device) is True
    assert asked == [f"_gradient_{device}", f"_label_{device}"]


@pytest.mark.parametrize(
    ("argv", "where"),
    [(["info", "."], "gpuimg.list_series"), (["warmup", "--device", "cpu"], "gpuimg.kernels.warmup.warmup")],
)
def test_ctrl_c_outside_a_cohort_run_promises_no_resume(capsys, monkeypatch, argv, where):
    # Every command's Ctrl-C said 'Finished studies are kept ...; run the same command again to
    # resume', though info and warmup keep no studies.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(where, interrupted)
    assert main(argv) == 130  # 128 + SIGINT, as a shell reports it
    assert capsys.readouterr().err == "gpuimg: interrupted.\n"


def test_run_prints_an_undefined_score_as_n_a(capsys, monkeypatch, tmp_path):
    # A clustering of one cluster has no silhouette (NaN in metrics.json); the summary printed
    # "silhouette nan" where the report says n/a.
    manifest = {
        "time_per_stage_s": {"total (wall)": 1.0},
        "studies": 3,
        "processed_this_run": 3,
        "rows": 3,
        "errors": 0,
        "unlabelled": [],
        "metrics": {"clustering": {"silhouette": float("nan"), "n_clusters": 1, "n_studies": 3}},
    }
    monkeypatch.setattr("gpuimg.cohort.run_pipeline", lambda *args, **kwargs: manifest)
    assert (
        main(["run", str(tmp_path / "p.toml"), "--input", str(tmp_path), "--output", str(tmp_path / "o")])
        == 0
    )
    assert "  clustering: silhouette n/a\n" in capsys.readouterr().out


def test_info_of_a_folder_without_series_fails_naming_it(capsys, tmp_path):
    # A folder of other files listed '0 series' and exited 0, as a successful listing.
    (tmp_path / "notes.txt").write_text("not DICOM")
    assert main(["info", str(tmp_path)]) == 1
    said = capsys.readouterr()
    assert f"no DICOM image series under {tmp_path}: 1 file without images" in said.err
    assert "series under" not in said.out


def test_info_of_a_cohort_of_links_lists_the_studies_run_reads(capsys, tmp_path):
    # A cohort of links to the studies' folders, which gpuimg run reads (a study each), was refused by
    # info: 'the folder holds no files, only 2 links to folders, which are not followed'.
    from gpuimg.cohort.run import find_studies

    volume = gpuimg.Volume(gpuimg.datasets.ct_phantom((8, 16, 16), seed=0).data, spacing=(2.0, 0.5, 0.5))
    for name in ("P01", "P02"):
        gpuimg.write_dicom(volume, tmp_path / "archive" / name, patient_id=name)
        (tmp_path / "cohort").mkdir(exist_ok=True)
        (tmp_path / "cohort" / name).symlink_to(tmp_path / "archive" / name, target_is_directory=True)
    (tmp_path / "cohort" / "P02" / "back").symlink_to(tmp_path / "cohort", target_is_directory=True)
    assert [study.name for study in find_studies(tmp_path / "cohort")] == ["P01", "P02"]
    assert main(["info", str(tmp_path / "cohort")]) == 0
    out = capsys.readouterr().out
    uids = {str(pydicom.dcmread(p).SeriesInstanceUID) for p in (tmp_path / "archive").rglob("*.dcm")}
    assert len(uids) == 2 and out.startswith(f"2 series under {tmp_path / 'cohort'}")
    assert len(re.findall(r"P-[0-9a-f]{16} +CT +8 +8x16x16 +2, 0.5, 0.5", out)) == 2


def test_info_names_the_links_it_cannot_follow(capsys, tmp_path):
    # A link to a study's folder that was moved, or a loop of links, was left out of the table without
    # a word, as if the table were complete. Now a line names each (its patient replaced, as in the
    # problems); the reference is the system's refusal to reach their targets (os.stat).
    volume = gpuimg.datasets.ct_phantom((8, 16, 16), seed=0)
    gpuimg.write_dicom(volume, tmp_path / "cohort" / "open", patient_id="MRN-5512")
    (tmp_path / "cohort" / "MRN-5512 later").symlink_to(tmp_path / "moved", target_is_directory=True)
    (tmp_path / "cohort" / "open" / "loop").symlink_to(tmp_path / "cohort" / "open" / "loop")
    with pytest.raises(FileNotFoundError):
        os.stat(tmp_path / "cohort" / "MRN-5512 later")
    with pytest.raises(OSError) as system:
        os.stat(tmp_path / "cohort" / "open" / "loop")
    assert system.value.errno == errno.ELOOP
    assert main(["info", str(tmp_path / "cohort")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 series under")
    assert lines[-3].endswith(", 2 links leading nowhere (no target, or a loop of links)")
    advice = "so what it linked to is not in this table; fix or remove the link"
    assert lines[-2] == f"  cannot follow <patient> later: its target does not exist, {advice}"
    assert lines[-1] == f"  cannot follow {os.path.join('open', 'loop')}: a loop of links, {advice}"
    assert "MRN-5512" not in "\n".join(lines)


@pytest.mark.parametrize("name", ["ct.nii.gz", "CT.NII", "mask.nrrd", "ct.hdr"])
def test_info_of_a_nifti_or_nrrd_file_points_to_read_image(capsys, tmp_path, name):
    # It said 'no DICOM image series under ct.nii.gz: 1 file without images (structure sets, reports,
    # others)' and asked for a folder, though the file is an image that read_image reads.
    volume = gpuimg.Volume(np.zeros((3, 4, 5), np.int16), spacing=(2.0, 0.5, 0.5))
    path = tmp_path / name
    if name.lower().endswith(".nrrd"):
        gpuimg.write_image(volume, path)
    elif name.endswith(".hdr"):  # a NIfTI-1 pair: its header names it
        nibabel.save(nibabel.Nifti1Pair(volume.data, np.eye(4)), path)
    else:
        written = tmp_path / ("written.nii.gz" if name.endswith(".gz") else "written.nii")
        nibabel.save(nibabel.Nifti1Image(volume.data, np.eye(4)), written)
        written.rename(path)
    assert main(["info", str(path)]) == 1
    said = capsys.readouterr().err
    assert f"{path} is a NIfTI or NRRD image, not DICOM" in said and "gpuimg.read_image" in said, said
    assert gpuimg.read_image(path).shape[0] > 1  # and read_image reads it


def test_info_of_a_dicomdir_points_to_its_folder(capsys, tmp_path):
    # It said 'no DICOM image series under .../DICOMDIR: 1 file without images' and asked for the
    # folder that holds the series' files, without saying the file is a DICOMDIR index.
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file("DICOMDIR"))
    assert pydicom.dcmread(path).file_meta.MediaStorageSOPClassUID == pydicom.uid.MediaStorageDirectoryStorage
    assert main(["info", str(path)]) == 1
    said = capsys.readouterr().err
    assert f"{path} is a DICOMDIR" in said and f"pass its folder, {path.parent}" in said, said
    # An image file named DICOMDIR is judged by its header, not its name: listed as a series.
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "DICOMDIR")
    assert main(["info", str(tmp_path / "DICOMDIR")]) == 0
    assert "is a DICOMDIR" not in capsys.readouterr().err


def _patient_series(folder: Path, patient_id: str, patient_name: str, birth_date: str | None = None) -> Path:
    """A phantom CT series written into ``folder`` with these patient values (and birth date), its
    third file cut short so that info reports a problem naming it; that file."""
    volume = gpuimg.Volume(gpuimg.datasets.ct_phantom((8, 16, 16), seed=0).data, spacing=(2.0, 0.5, 0.5))
    gpuimg.write_dicom(volume, folder, patient_id=patient_id, patient_name=patient_name)
    if birth_date is not None:
        for path in folder.iterdir():
            ds = pydicom.dcmread(path)
            ds.PatientBirthDate = birth_date
            ds.save_as(path)
    truncated = sorted(folder.iterdir())[2]
    truncated.write_bytes(truncated.read_bytes()[:-100])
    return truncated


def test_info_problems_name_no_patient_even_in_file_paths(capsys, tmp_path):
    # Folders named by patient: only the ID was replaced in a problem naming a file, so the name
    # and birth date of the folder's name were printed.
    folder = tmp_path / "MRN-5512 Roe Richard 19470311"
    truncated = _patient_series(folder, "MRN-5512", "Roe^Richard", birth_date="19470311")
    assert str(pydicom.dcmread(truncated, stop_before_pixels=True).PatientName) == "Roe^Richard"
    for listed in (tmp_path, folder):  # the patient's own folder too, named in the table's first line
        assert main(["info", str(listed)]) == 0
        out = capsys.readouterr().out
        assert "truncated" in out and f"{truncated.name}: the header claims" in out  # the problem is shown
        for identifying in ("MRN-5512", "Roe", "Richard", "19470311"):
            assert identifying not in out, identifying


def test_info_replaces_each_of_several_names_and_ids(capsys, tmp_path):
    # A PatientName of two names (and an ID of two values) reads as a list, whose str is its repr:
    # '[Roe^Richard, Doe^Jane]' split into '[Roe' and 'Jane]', so a folder named by the patient was printed.
    folder = tmp_path / "MRN-5512 Richard Roe Jane Doe 19470311"
    truncated = _patient_series(folder, "MRN-5512", "Roe^Richard", birth_date="19470311")
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.PatientID = "Roe^Richard\\Doe^Jane", "MRN-5512\\ALT-99871"
        ds.save_as(path)
    ds = pydicom.dcmread(truncated, stop_before_pixels=True)
    assert (len(ds.PatientName), len(ds.PatientID)) == (2, 2)  # two values each, as pydicom reads them
    for listed in (tmp_path, folder):
        assert main(["info", str(listed)]) == 0
        out = capsys.readouterr().out
        assert f"{truncated.name}: the header claims" in out  # the problem is shown
        for identifying in ("MRN-5512", "5512", "ALT-99871", "Roe", "Richard", "Jane", "Doe", "19470311"):
            assert identifying not in out, (identifying, out)


@pytest.mark.parametrize("patient", ["7", "A", "12"])
def test_info_replaces_short_patient_ids_and_name_parts_as_whole_words(capsys, tmp_path, patient):
    # scrub left out IDs of one character, and the name's parts of one or two (Wu^Li), so a patient's
    # folder named by them was printed as it was: in the table's first line and in a problem naming a
    # file in it. An ID of two characters was replaced inside other numbers: '(5<patient> bytes)'.
    folder = tmp_path / patient / "Wu_Li"
    truncated = _patient_series(folder / "ct", patient, "Wu^Li")
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in (folder / "ct").iterdir()]
    assert {(str(ds.PatientID), str(ds.PatientName)) for ds in headers} == {(patient, "Wu^Li")}
    for listed in (tmp_path, folder, folder / "ct"):
        assert main(["info", str(listed)]) == 0
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert lines[0].startswith("1 series under ") and f"{truncated.name}: the header claims" in out
        assert "(512 bytes)" in out  # 16 x 16 pixels of 2 bytes: the numbers of the problem are kept
        assert re.search(r"P-[0-9a-f]{16} +CT +8 ", lines[2])  # the series is listed
        words = set(re.split(r"[\W_]+", out))
        assert not words & {patient, "Wu", "Li"}, out  # no word of the output is the raw ID or name
        assert listed == tmp_path or "<patient>" in lines[0]


def test_info_replaces_a_patient_named_in_another_case_than_the_header(capsys, tmp_path):
    # The replacements matched the header's case only: a folder 'Roe Richard (mrn-5512)' of a patient
    # whose header says ROE^RICHARD and MRN-5512 was printed as it was.
    truncated = _patient_series(tmp_path / "Roe Richard (mrn-5512)", "MRN-5512", "ROE^RICHARD")
    ds = pydicom.dcmread(truncated, stop_before_pixels=True)
    assert (ds.PatientID, str(ds.PatientName)) == ("MRN-5512", "ROE^RICHARD")
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{truncated.name}: the header claims" in out  # the problem, naming the file, is shown
    for identifying in ("roe", "richard", "mrn-5512"):
        assert identifying not in out.lower(), identifying


def test_info_replaces_every_files_patient_id_as_folders_spell_it(capsys, tmp_path):
    # Only the first file of each series had its ID replaced in every spelling (without separators,
    # its number alone): the other files' IDs were replaced as written only, so the folder of a series
    # whose later files name patient MRN-773-4920 was printed as '7734920'.
    folder = tmp_path / "7734920" / "ct"
    _patient_series(folder, "MRN-0001", "Roe^Richard")
    for path in sorted(folder.iterdir())[1:]:
        ds = pydicom.dcmread(path)
        ds.PatientID = "MRN-773-4920"
        ds.save_as(path)
    ids = [pydicom.dcmread(p, stop_before_pixels=True).PatientID for p in sorted(folder.iterdir())]
    assert ids[0] == "MRN-0001" and set(ids[1:]) == {"MRN-773-4920"}
    for listed in (tmp_path, folder):
        assert main(["info", str(listed)]) == 0
        out = capsys.readouterr().out
        assert "series under" in out
        assert "7734920" not in out and "773-4920" not in out, out


@pytest.mark.parametrize("spelled", ["1947-03-11", "11.03.1947", "03_11_1947"])
def test_info_replaces_a_birth_date_spelled_as_folders_spell_dates(capsys, tmp_path, spelled):
    # Only the header's spelling of the birth date (19470311, DICOM's DA) was replaced: a folder
    # 'Roe Richard 1947-03-11' was printed with the date.
    truncated = _patient_series(
        tmp_path / f"Roe Richard {spelled}", "MRN-5512", "Roe^Richard", birth_date="19470311"
    )
    assert str(pydicom.dcmread(truncated, stop_before_pixels=True).PatientBirthDate) == "19470311"
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{truncated.name}: the header claims" in out and "[birth date]" in out
    assert "1947" not in out, out


@pytest.mark.parametrize("command", ["run", "demo"])
def test_more_workers_than_cores_are_refused_before_any_work(capsys, tmp_path, command):
    # --workers 10000 started 10000 worker processes (the demo: after writing its cohort), filling the
    # memory before any study was measured.
    from dask.system import CPU_COUNT  # the reference: the cores Dask itself would use

    (tmp_path / "p.toml").write_text('[mask]\nsource = "recipe"\nthreshold = "otsu"\n')
    (tmp_path / "in" / "study").mkdir(parents=True)
    too_many = str(CPU_COUNT + 1)
    argv = {
        "run": [
            "run",
            str(tmp_path / "p.toml"),
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
        ],
        "demo": ["demo", "--out", str(tmp_path / "out")],
    }[command]
    assert main([*argv, "--device", "cpu", "--workers", too_many]) == 1
    said = capsys.readouterr()
    assert f"--workers {too_many} is more than the {CPU_COUNT} CPU core" in said.err
    assert f"pass --workers {CPU_COUNT} or fewer" in said.err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.key").exists()


def test_each_command_help_says_what_it_does_and_the_spec_help_it_names_runs(capsys):
    """Regression: gpuimg demo/run/info --help listed options only: not what run writes, nor where the
    spec's keys are told, nor that info without a path shows the device."""
    helps = {}
    for command in ("demo", "run", "info"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())
    assert "pipeline.toml" in helps["demo"] and "Without one: the device" in helps["info"]
    spec_help = re.search(r"python -c '([^']+)'", helps["run"])[1]
    done = subprocess.run(
        [sys.executable, "-c", spec_help],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PAGER": "cat"},
    )
    assert done.returncode == 0, done.stderr
    assert all(f"[{table}]" in done.stdout for table in ("input", "mask", "features", "learning"))


def test_info_into_a_reader_that_leaves_early_ends_without_a_traceback(tmp_path):
    """Regression: gpuimg info STUDIES/ | head printed a BrokenPipeError traceback once head left."""
    gpuimg.write_dicom(gpuimg.datasets.ct_phantom((8, 8, 8), seed=0), tmp_path / "ct")
    read, write = os.pipe()
    os.close(read)  # the reader has left before the first line
    with os.fdopen(write, "w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "gpuimg.cli", "info", str(tmp_path)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141


def test_info_lists_a_folder_whose_name_is_not_utf8_under_a_utf8_locale(tmp_path):
    """Regression: a folder named in Latin-1 ('Röntgen', as an archive unpacked from a Windows system
    names it) ended gpuimg info in a UnicodeEncodeError traceback where standard output is strict
    UTF-8, as Python sets it up under en_US.UTF-8 (PYTHONIOENCODING gives that handler here, whatever
    locales this machine has)."""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/R\xf6ntgen"))
    truncated = _patient_series(folder / "ct", "MRN-5512", "Roe^Richard")
    done = subprocess.run(
        [sys.executable, "-m", "gpuimg.cli", "info", str(folder)],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        timeout=120,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert done.returncode == 0
    # The names as the file system holds them (its own bytes, as ls writes them).
    listed = [name for name in os.listdir(bytes(tmp_path)) if name.startswith(b"R")]
    assert listed == [b"R\xf6ntgen"]
    assert f"1 series under {tmp_path}/".encode() + listed[0] in done.stdout
    assert os.fsencode(truncated) + b": the header claims" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--out", "{locked}/demo", "--studies", "4", "--shape", "8", "8", "8"],
        ["run", "{demo}/pipeline.toml", "--input", "{locked}", "--output", "{tmp}/out"],
        ["run", "{demo}/pipeline.toml", "--input", "{locked}/studies", "--output", "{tmp}/out"],
        ["run", "{demo}/pipeline.toml", "--input", "{demo}/cohort", "--output", "{locked}/out"],
        [
            "run",
            "{demo}/pipeline.toml",
            "--input",
            "{demo}/cohort",
            "--output",
            "{tmp}/out",
            "--key",
            "{locked}/k",
        ],
    ],
)
def test_a_path_the_system_refuses_is_one_line_not_a_traceback(tmp_path, argv):
    """Regression: a path inside a folder that the user may not open (another group's data on a shared
    server) ended demo and run in the PermissionError traceback of Path.exists or is_dir. Run where
    permissions apply: as root, without the capabilities that pass them (setpriv)."""
    from gpuimg.datasets.demo import write_demo_cohort

    prefix = user_prefix()
    write_demo_cohort(tmp_path / "demo", 4, shape=(8, 8, 8))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    argv = [a.format(locked=locked, demo=tmp_path / "demo", tmp=tmp_path) for a in argv]
    refused = next(a for a in argv if a.startswith(str(locked)))
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "gpuimg.cli", *argv, "--device", "cpu"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        locked.chmod(0o755)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    # The system's reason (os.strerror) and the path it refused, on the last line; a cohort folder that
    # may not be listed is find_studies' ConfigError, as library callers get it.
    cohort = argv[argv.index("--input") + 1] if "--input" in argv else None
    if cohort == refused:
        expected = (
            f"gpuimg: ConfigError: --input {refused} cannot be listed ({os.strerror(errno.EACCES)}); give "
            "your user read and execute permission on it and on the folders on the way to it"
        )
    else:
        expected = f"gpuimg: {refused}: {os.strerror(errno.EACCES)}. Check that you may open"
    assert expected in done.stderr.splitlines()[-1]


def test_a_path_the_system_refuses_for_another_reason_gets_no_permission_advice(capsys, tmp_path):
    # A name over NAME_MAX (255 bytes): Path.exists raised its OSError as a traceback out of demo.
    out = tmp_path / ("a" * 300)
    with pytest.raises(OSError) as system:  # the operating system's own refusal
        os.stat(out)
    assert system.value.errno == errno.ENAMETOOLONG
    assert (
        main(["demo", "--out", str(out), "--studies", "4", "--shape", "8", "8", "8", "--device", "cpu"]) == 1
    )
    err = capsys.readouterr().err
    assert err == f"gpuimg: {out}: {os.strerror(errno.ENAMETOOLONG)}. Check the path.\n"


def test_info_replaces_a_name_that_folders_spell_in_latin1_or_decomposed(tmp_path):
    """Regression: a folder named by the patient in Latin-1 (an archive unpacked from a Windows system)
    or decomposed (NFD, as macOS names files) spells 'Müller' otherwise than the header does (as
    surrogates, and as 'u' with a combining diaeresis), so it was printed as it was; 'Hans' was
    replaced. The output is compared as the bytes the file system holds."""
    spellings = [b"M\xfcller Hans", b"M\xdcLLER HANS", unicodedata.normalize("NFD", "Müller Hans").encode()]
    for k, spelled in enumerate(spellings):
        folder = Path(os.fsdecode(bytes(tmp_path) + b"/%d/" % k + spelled))
        _patient_series(folder / "ct", "MRN-5512", "Müller^Hans")
        assert str(pydicom.dcmread(folder / "ct" / "slice_0000.dcm").PatientName) == "Müller^Hans"
        assert os.listdir(os.path.dirname(os.fsencode(folder))) == [spelled]  # the name as it is on disk
        done = subprocess.run(
            [sys.executable, "-m", "gpuimg.cli", "info", str(folder)],
            capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},  # stdout as under en_US.UTF-8
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert b"truncated" in done.stdout and b"[name] [name]/ct/slice_0002.dcm" in done.stdout
        for word in [*spelled.split(), "Müller".encode()]:
            assert word.lower() not in done.stdout.lower(), (spelled, word)


def test_info_names_the_folders_it_may_not_list(tmp_path):
    """gpuimg info DIR left out a subfolder it may not list (permission denied) without a word, so its
    series were missing from a table that looked complete. Now a line names each, its patient replaced
    as in the problems; the reference is the system's refusal to list them (os.listdir as the user)."""
    volume = gpuimg.datasets.ct_phantom((8, 16, 16), seed=0)
    gpuimg.write_dicom(volume, tmp_path / "open" / "ct", patient_id="MRN-5512")
    gpuimg.write_dicom(volume, tmp_path / "MRN-5512 later" / "ct", patient_id="MRN-5512")
    gpuimg.write_dicom(volume, tmp_path / "open" / "b-locked" / "ct", patient_id="MRN-0001")
    locked = [tmp_path / "MRN-5512 later", tmp_path / "open" / "b-locked"]
    listing = (
        "import os, sys\nfor p in sys.argv[1:]:\n    try: os.listdir(p)\n    except OSError: print('refused')"
    )
    for folder in locked:
        folder.chmod(0)
    try:
        refused = run_as_user(sys.executable, "-c", listing, *map(str, locked)).stdout.split()
        some = run_as_user(sys.executable, "-m", "gpuimg.cli", "info", str(tmp_path))
        (tmp_path / "open").chmod(0)  # now no folder under tmp_path may be listed
        none = run_as_user(sys.executable, "-m", "gpuimg.cli", "info", str(tmp_path))
    finally:
        for folder in (tmp_path / "open", *locked):
            folder.chmod(0o755)
    assert refused == ["refused", "refused"]
    assert some.returncode == 0 and "Traceback" not in some.stderr, some.stderr
    lines = some.stdout.splitlines()
    assert lines[0].startswith("1 series under")
    assert lines[-3].endswith(", 2 folders that may not be listed (permission denied)")
    advice = ": permission denied, its files are not in this table; ask for read access to it"
    assert lines[-2] == f"  cannot list <patient> later{os.sep}{advice}"
    assert lines[-1] == f"  cannot list {os.path.join('open', 'b-locked')}{os.sep}{advice}"
    assert "MRN-5512" not in some.stdout
    # Nothing to list: the error counts the folders, and names none (a folder may be named by its patient).
    assert none.returncode == 1 and "Traceback" not in none.stderr, none.stderr
    assert f"{tmp_path}: the folder holds no files; 2 folders under it may not be listed" in none.stderr
    assert "MRN-5512" not in none.stderr and "open" not in none.stderr


def test_the_demo_summary_gives_each_tasks_folds_or_why_it_has_none(capsys, tmp_path):
    # The header said 'patient-level 1-fold cross-validation' for every task, the classification's folds
    # (a class of one patient in a demo of 4 studies), above the regression's score of 4 folds.
    from gpuimg.cli import _summary

    reason = "class 1 has one patient, ... label more patients."
    metrics = {
        "classification": {"n_studies": 4, "n_patients": 4, "folds": 1, "not_cross_validated": reason},
        "regression": {"n_studies": 4, "n_patients": 4, "folds": 4, "r2": -0.5, "mae": 5.625},
        "clustering": {"silhouette": 0.31, "n_clusters": 2, "n_studies": 4},
    }
    stages = ("read", "preprocess", "segment", "edges", "features")
    times = {f"{s} (sum over studies)": 0.0 for s in stages}
    times.update({s: 0.0 for s in ("studies (wall, this run)", "learning", "report", "total (wall)")})
    manifest = {"time_per_stage_s": times, "metrics": metrics, "rows": 4, "errors": 0, "clipped": []}
    _summary(manifest, tmp_path, tmp_path / "cohort")
    said = capsys.readouterr().out
    assert "  4 studies measured, 0 failed; patient-level cross-validation:\n" in said
    assert f"    classify (malignant): not cross-validated: {reason}\n" in said
    # The folds of metrics.json's regression, its scores as they are there.
    assert f"    regress (growth):     R² -0.50, MAE 5.62, {metrics['regression']['folds']} folds\n" in said
    metrics["classification"] = {"error": "ParameterError: y holds one class only ([0]); ...", "n_studies": 4}
    _summary(manifest, tmp_path, tmp_path / "cohort")
    assert (
        "    classify (malignant): not fitted: ParameterError: y holds one class only"
        in capsys.readouterr().out
    )


def test_the_summaries_say_why_a_clustering_has_no_silhouette(capsys, monkeypatch, tmp_path):
    # The demo printed "silhouette nan" for a NaN silhouette, and neither it nor `gpuimg run` said why
    # there was none (metrics.json's no_silhouette).
    from gpuimg.cli import _summary

    why = "all 4 studies fell in one cluster (equal features?); the silhouette needs 2 at least"
    clustering = {"silhouette": float("nan"), "n_clusters": 1, "n_studies": 4, "no_silhouette": why}
    stages = ("read", "preprocess", "segment", "edges", "features")
    times = {f"{s} (sum over studies)": 0.0 for s in stages}
    times.update({s: 0.0 for s in ("studies (wall, this run)", "learning", "report", "total (wall)")})
    manifest = {"time_per_stage_s": times, "rows": 4, "errors": 0, "clipped": []}
    _summary(manifest | {"metrics": {"clustering": clustering}}, tmp_path, tmp_path / "cohort")
    assert f"    cluster (k-means):    silhouette n/a ({why})\n" in capsys.readouterr().out
    manifest.update(studies=4, processed_this_run=4, unlabelled=[], metrics={"clustering": clustering})
    monkeypatch.setattr("gpuimg.cohort.run_pipeline", lambda *args, **kwargs: manifest)
    main(["run", str(tmp_path / "p.toml"), "--input", str(tmp_path), "--output", str(tmp_path / "o")])
    assert f"  clustering: silhouette n/a ({why})\n" in capsys.readouterr().out


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path):
    # gpuimg demo/run 2> log.txt (a batch job's log) got each update of tqdm's bar, a line of carriage
    # returns ('\r  0%|  | 0/4 [00:00<?, ?study/s]\r 25%|...'). The reference: tqdm's bar on a terminal.
    import fcntl
    import pty
    import struct
    import termios

    command = [sys.executable, "-m", "gpuimg.cli", "demo", "--studies", "4", "--shape", "12", "16", "16"]
    env = {**os.environ, "GPUIMG_DEVICE": "cpu"}
    piped = subprocess.run(
        [*command, "--out", str(tmp_path / "piped")], capture_output=True, text=True, env=env, timeout=600
    )
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "study/s" not in piped.stderr, piped.stderr
    main_fd, terminal = pty.openpty()
    # 80 columns: a new terminal has 0, where tqdm draws an empty line.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        shown = subprocess.run(
            [*command, "--out", str(tmp_path / "terminal")],
            stdout=subprocess.DEVNULL,
            stderr=terminal,
            env=env,
            timeout=600,
        )
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main_fd)
    assert shown.returncode == 0
    assert b"4/4" in drawn and b"study/s" in drawn
