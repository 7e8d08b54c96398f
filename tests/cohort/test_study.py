"""A study task: the report's intensity histograms against NumPy's, its errors, and the device's run."""

import ast
import dataclasses
import hashlib
import os
import re
import shutil
import sys

import numpy as np
import pydicom
import pytest
from as_user import run_as_user
from cohort_data import write_study
from scipy.spatial.transform import Rotation

import gpuimg
from gpuimg.cohort import spec_from_dict
from gpuimg.cohort._fingerprint import fingerprint
from gpuimg.cohort.study import (
    _HISTOGRAM_BINS,
    StudyTask,
    _clipped,
    _histogram,
    process_study,
)


def _numpy_histogram(values):
    """The definition: 64 bins from the 0.5th to the 99.5th percentile (linear) of the float32 values."""
    values = values.astype(np.float32)
    low, high = np.percentile(values, [0.5, 99.5])
    return np.histogram(values, _HISTOGRAM_BINS, range=(low, max(high, low + 1e-6)))


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8, np.int8, np.int32, np.float64])
@pytest.mark.parametrize("size", [1, 2, 7, 1000, 20000])
def test_histogram_is_numpy_percentile_and_histogram(dtype, size):
    rng = np.random.default_rng(size)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    # Up to 16 bits, the type's whole range; wider types (the float32 path) over a CT's range.
    low, high = (info.min, info.max) if info and info.bits <= 16 else (-1024, 3000)
    for spread in (0, 3, 200, None):  # one value, a few, many, the whole range
        top = high if spread is None else min(high, low + spread)
        values = (
            rng.integers(low, top, size, endpoint=True) if info else rng.uniform(low, top + 1e-3, size)
        ).astype(dtype)
        counts, edges = _histogram(values.reshape(1, 1, -1))
        expected_counts, expected_edges = _numpy_histogram(values)
        # The same numbers exactly: the integer path picks the same order statistics and blends them
        # with np.percentile's formula, and counts each value where np.histogram puts it.
        np.testing.assert_array_equal(edges, expected_edges)
        np.testing.assert_array_equal(counts, expected_counts)
        assert counts.dtype == expected_counts.dtype


def test_too_many_series_are_named_by_a_few(tmp_path):
    """A study folder holding 7 matching series: the error names 5 of them and counts the rest."""
    for k in range(7):
        volume = gpuimg.Volume(np.full((2, 4, 4), k, np.int16), (2.0, 1.0, 1.0))
        gpuimg.write_dicom(volume, tmp_path / "study" / f"series_{k}", patient_id="P")
    spec = spec_from_dict({"input": {"modality": "CT"}, "mask": {"source": "file", "pattern": "m.nrrd"}})
    error = process_study(StudyTask(tmp_path / "study", "study", spec, b"key"))["error"]
    assert error.startswith("DicomError: 7 series match the [input] rules")
    assert error.count("(2 slices)") == 5 and "and 2 more" in error


def test_a_folder_holding_the_studies_of_several_patients_says_so(tmp_path):
    """A cohort nested a level deeper (--input the folder of the sites): each site's folder was a study
    whose series all matched, and the error asked to adjust the rules, which no rule can fix."""
    for k, patient in enumerate(("P-A", "P-B")):
        write_study(tmp_path / "site_1" / f"patient_{k}", k, patient_id=patient)
    # What the folder holds, by pydicom: one series per patient.
    found = {
        (str(ds.PatientID), str(ds.SeriesInstanceUID))
        for ds in map(pydicom.dcmread, (tmp_path / "site_1").rglob("*.dcm"))
    }
    assert len({patient for patient, _ in found}) == len(found) == 2
    spec = spec_from_dict(
        {"input": {"modality": "CT"}, "mask": {"source": "file", "pattern": "**/mask.nrrd"}}
    )
    error = process_study(StudyTask(tmp_path / "site_1", "site_1", spec, b"key"))["error"]
    assert error.startswith("DicomError: 2 series match the [input] rules")
    assert (
        "they belong to 2 patients. --input holds one folder per study, and this one holds several" in error
    )
    assert "P-A" not in error and "P-B" not in error


def test_a_study_with_a_folder_it_may_not_list_is_an_error_not_a_row_of_the_rest(tmp_path):
    """A study whose subfolder may not be listed (permission denied) was measured on the files of the
    others, as if they were all: here a second CT series there would make the rules match two."""
    study = tmp_path / "s01"
    write_study(study, 1, patient_id="P-1", patient_name="DOE^JANE")
    gpuimg.write_dicom(gpuimg.read_dicom(study / "ct", device="cpu"), study / "DOE" / "ct")
    (study / "empty").mkdir()
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from gpuimg.cohort import spec_from_dict\n"
        "from gpuimg.cohort._fingerprint import fingerprint\n"
        "from gpuimg.cohort.study import StudyTask, process_study\n"
        "study = Path(sys.argv[1])\n"
        "for name in ('DOE', 'empty'):\n"
        "    try: os.listdir(study / name)\n"
        "    except PermissionError: print('refused', name)\n"
        "    except FileNotFoundError: pass\n"
        "spec = spec_from_dict({'input': {'modality': 'CT'}, 'mask': {'source': 'file', 'pattern': "
        "'mask.nrrd'}, 'features': {'families': ['statistics']}})\n"
        "result = process_study(StudyTask(study, 's01', spec, b'key'))\n"
        "print(result.get('error', 'row'))\n"
        "print(fingerprint(study))"
    )
    try:
        (study / "DOE").chmod(0)
        locked = run_as_user(sys.executable, "-c", code, str(study))
        (study / "DOE").chmod(0o755)
        shutil.rmtree(study / "DOE")
        (study / "empty").chmod(0)
        empty = run_as_user(sys.executable, "-c", code, str(study))
    finally:
        for name in ("DOE", "empty"):
            if (study / name).exists():
                (study / name).chmod(0o755)
    assert locked.returncode == 0 and empty.returncode == 0, locked.stderr + empty.stderr
    locked, empty = locked.stdout.splitlines(), empty.stdout.splitlines()
    # The system's refusals, the reference; then the error, the folder's name scrubbed (DOE: the name).
    assert locked[0] == "refused DOE"
    assert locked[1] == (
        "DicomError: the study's folder [name]/ may not be listed (permission denied): its files were not "
        "read, so the study may lack slices of its series or its mask. Ask for read access to it, or remove "
        "it from the study folder."
    )
    # An empty folder that may not be listed: its files are unknown too; given read access, the study's
    # fingerprint changes, so that a re-run does not keep the error of the folder it could not list.
    assert empty[0] == "refused empty"
    assert empty[1].startswith("DicomError: the study's folder empty/ may not be listed")
    assert empty[2] != fingerprint(study)
    spec = spec_from_dict(
        {
            "input": {"modality": "CT"},
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["statistics"]},
        }
    )
    assert "row" in process_study(StudyTask(study, "s01", spec, b"key"))


def test_a_series_of_several_volumes_is_told_what_to_do_in_the_study_folder(tmp_path):
    """read_dicom's advice for a series of two echoes or with a scout, 'pass the files of one echo to
    read_dicom as a list of paths', is no step a cohort's user can take: a study's series is what its
    folder holds. The error row says to keep those files alone there; doing so gives the echo's row."""
    study = tmp_path / "s01"
    write_study(study, 1, patient_id="P")
    first = sorted((study / "ct").iterdir())
    for echo, path in [(1, p) for p in first] + [(2, study / "echo2" / p.name) for p in first]:
        ds = pydicom.dcmread(first[[p.name for p in first].index(path.name)])
        if echo == 2:
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            path.parent.mkdir(exist_ok=True)
        ds.EchoNumbers = echo
        ds.save_as(path)
    spec = spec_from_dict(
        {
            "input": {"modality": "CT"},
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["statistics"]},
        }
    )
    error = process_study(StudyTask(study, "s01", spec, b"key"))["error"]
    assert "Their EchoNumbers differ (1, 2)" in error
    assert error.endswith(
        "keep the files of one echo alone in the study folder, moving the others out of it "
        "(pydicom.dcmread(path).EchoNumbers tells them apart)."
    )
    # A scout stored in the series (another orientation): the same advice for a stack.
    (study / "echo2").rename(tmp_path / "echo2")
    scout = pydicom.dcmread(first[0])
    scout.SOPInstanceUID = pydicom.uid.generate_uid()
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    scout.save_as(study / "scout.dcm")
    error = process_study(StudyTask(study, "s01", spec, b"key"))["error"]
    assert error.endswith(
        "keep the files of one stack alone in the study folder, moving the others out of it."
    )
    (study / "scout.dcm").unlink()
    # The advice followed: the row of echo 1, whose mean under the mask NumPy gives.
    result = process_study(StudyTask(study, "s01", spec, b"key"))
    mask = gpuimg.read_image(study / "mask.nrrd", device="cpu").data > 0
    image = gpuimg.read_dicom(first, device="cpu").data
    assert result["row"]["stat_mean"] == pytest.approx(image[mask].astype(float).mean(), rel=1e-9)


def test_a_ct_study_with_its_scout_series_is_measured_on_the_ct(tmp_path):
    """A CT study as the scanner exports it: the topogram (ImageType ...\\LOCALIZER), a series of its own,
    beside the axial series. With the default rules both matched ('2 series match the [input] rules'),
    though a scout is never the image to measure."""
    study = tmp_path / "s01"
    write_study(study, 1, patient_id="P")
    scout = pydicom.dcmread(sorted((study / "ct").iterdir())[0])
    scout.SeriesInstanceUID, scout.SOPInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    (study / "scout").mkdir()
    scout.save_as(study / "scout" / "topogram.dcm")
    assert len(gpuimg.list_series(study)) == 2
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd"}, "features": {"families": ["statistics"]}}
    )
    result = process_study(StudyTask(study, "s01", spec, b"key"))
    assert "error" not in result, result["error"]
    # The truth: the mean of the CT under the mask, by NumPy.
    mask = gpuimg.read_image(study / "mask.nrrd", device="cpu").data > 0
    image = gpuimg.read_dicom(study / "ct", device="cpu").data
    assert result["row"]["stat_mean"] == pytest.approx(image[mask].astype(float).mean(), rel=1e-9)


def test_a_float_mask_file_with_nan_outside_gives_the_rows_of_its_label_mask(tmp_path):
    """The mask file's NaN voxels (no value) are outside the ROI, and its non-zero ones, negative or
    not, inside, as ``label = 0`` promises; before, its negative voxels were left out."""
    write_study(tmp_path / "labels", 2, patient_id="P")
    write_study(tmp_path / "floats", 2, patient_id="P")
    mask = gpuimg.read_image(tmp_path / "labels" / "mask.nrrd")
    labels = np.asarray(mask.data)
    as_floats = np.where(labels > 0, -1.0, np.nan).astype(np.float32)
    gpuimg.write_image(dataclasses.replace(mask, data=as_floats), tmp_path / "floats" / "mask.nrrd")
    spec = spec_from_dict(
        {
            "input": {"modality": "CT"},
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["morphology", "statistics"]},
        }
    )
    rows = [process_study(StudyTask(tmp_path / name, name, spec, b"key")) for name in ("labels", "floats")]
    assert "error" not in rows[1], rows[1].get("error")
    assert rows[1]["row"]["morph_volume"] == rows[0]["row"]["morph_volume"] > 0
    assert rows[1]["row"]["stat_mean"] == rows[0]["row"]["stat_mean"]


@pytest.mark.parametrize("preview", [True, False])
def test_a_study_on_the_device_measures_as_on_the_cpu(emulated_cuda, tmp_path, preview):
    """``--device cuda``'s study task (on the emulated device without a GPU): the same row, the same
    clipping flag (found on the device) and the same preview as on the CPU."""
    write_study(tmp_path / "study", 3, patient_id="P")
    spec = spec_from_dict(
        {
            "input": {"modality": "CT"},
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {
                "families": ["morphology", "statistics", "histogram"],
                "discretisation": "fbs",
                "bin_width": 25.0,
            },
        }
    )
    assert gpuimg.read_dicom(tmp_path / "study" / "ct", device="cuda").device == "cuda"
    task = StudyTask(tmp_path / "study", "study", spec, b"key", preview=preview)
    cpu, gpu = process_study(task), process_study(dataclasses.replace(task, device="cuda"))
    assert "error" not in gpu, gpu.get("error")
    assert gpu["row"].keys() == cpu["row"].keys() and gpu["clipped"] == cpu["clipped"]
    for name, value in cpu["row"].items():
        if isinstance(value, float):
            assert gpu["row"][name] == pytest.approx(value, rel=1e-9, nan_ok=True), name
    assert ("preview" in gpu) is preview
    for name, array in cpu.get("preview", {}).items():
        np.testing.assert_array_equal(gpu["preview"][name], array)


def test_a_mask_pattern_that_matches_a_folder_counts_files_only(tmp_path):
    """A pattern that matches the image folder too ("*" finds ct/ beside mask.nrrd): the folder was
    counted as a mask file ("2 files match"), or read as one; only files are candidates."""
    write_study(tmp_path / "study", 1, patient_id="P")
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "*"}, "features": {"families": ["statistics"]}}
    )
    result = process_study(StudyTask(tmp_path / "study", "study", spec, b"key"))
    assert "error" not in result, result["error"]
    # The truth: the mean of the CT under mask.nrrd, the one file directly in the folder, by NumPy.
    mask = gpuimg.read_image(tmp_path / "study" / "mask.nrrd", device="cpu").data > 0
    image = gpuimg.read_dicom(tmp_path / "study" / "ct", device="cpu").data
    assert result["row"]["stat_mean"] == pytest.approx(image[mask].astype(float).mean(), rel=1e-9)


@pytest.mark.parametrize("suffix", [".img", ".IMG", ".img.gz"])
def test_a_mask_pattern_matching_both_files_of_a_nifti_pair_finds_one_image(tmp_path, suffix):
    """mask.pattern = "mask.*" finds mask.hdr and mask.img, the two files of one NIfTI-1 pair (as SPM
    writes a mask), which read_image reads as one image: the study failed with "2 files match"."""
    import nibabel as nib

    study = tmp_path / "study"
    write_study(study, 1, patient_id="P")
    # The pair, written by nibabel from the study's mask as NIfTI (the reference reader and writer).
    mask = gpuimg.read_image(study / "mask.nrrd", device="cpu")
    inside = mask.data > 0
    gpuimg.write_image(mask, tmp_path / "mask.nii")
    single = nib.load(tmp_path / "mask.nii")
    pair = study / f"mask{suffix}"
    nib.save(nib.Nifti1Pair(np.asanyarray(single.dataobj), single.affine), pair)
    (study / "mask.nrrd").unlink()
    header = pair.with_name(pair.name.replace("img", "hdr").replace("IMG", "HDR"))
    assert sorted(p.name for p in study.glob("mask.*")) == sorted([header.name, pair.name])
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.*"}, "features": {"families": ["statistics"]}}
    )
    result = process_study(StudyTask(study, "study", spec, b"key"))
    assert "error" not in result, result["error"]
    # The truth: the mean of the CT under the voxels the pair holds (those of mask.nrrd), by NumPy.
    image = gpuimg.read_dicom(study / "ct", device="cpu").data
    assert result["row"]["stat_mean"] == pytest.approx(image[inside].astype(float).mean(), rel=1e-9)
    # A second image matched is still refused: the pair counts once, a .nii beside it once more.
    shutil.copy(tmp_path / "mask.nii", study / "mask.nii")
    result = process_study(StudyTask(study, "study", spec, b"key"))
    assert result["error"].startswith(
        "ImageFileError: 2 images (NIfTI or NRRD; the .hdr and .img of a NIfTI-1 pair are one) match"
    )


def test_a_mask_pattern_counts_images_not_the_files_beside_them(tmp_path):
    """mask.pattern = "mask.*" finds a detached NRRD (mask.nhdr and its data file mask.raw.gz) and a
    note beside it: "3 files match", though one image does. Files of no image format are counted only
    where no image matches."""
    study = tmp_path / "study"
    write_study(study, 2, patient_id="P")
    mask = gpuimg.read_image(study / "mask.nrrd", device="cpu")
    gpuimg.write_image(mask, study / "mask.nhdr")
    (study / "mask.nrrd").unlink()
    (study / "mask.txt").write_text("drawn by hand\n")
    assert sorted(p.name for p in study.glob("mask.*")) == ["mask.nhdr", "mask.raw.gz", "mask.txt"]
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.*"}, "features": {"families": ["statistics"]}}
    )
    result = process_study(StudyTask(study, "study", spec, b"key"))
    assert "error" not in result, result["error"]
    # The truth: the mean of the CT under the mask's voxels, by NumPy.
    image = gpuimg.read_dicom(study / "ct", device="cpu").data
    assert result["row"]["stat_mean"] == pytest.approx(image[mask.data > 0].astype(float).mean(), rel=1e-9)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.t*"}, "features": {"families": ["statistics"]}}
    )
    result = process_study(StudyTask(study, "study", spec, b"key"))
    assert result["error"].startswith("ImageFileError: 0 images (NIfTI or NRRD;")
    assert "(it matches 1 file of other formats); one is needed." in result["error"]


@pytest.mark.parametrize("operator", ["sobel", "prewitt", "scharr"])
@pytest.mark.parametrize("axis", [0, 2])
def test_the_edge_features_are_in_hu_per_mm_whatever_the_operator(operator, axis):
    """They were in HU/mm times the operator's scale: a ramp of 10 HU/mm measured 320 with Sobel, 180
    with Prewitt and 5120 with Scharr, so the spec's operator changed the features' values 16-fold.
    Closed form: a linear ramp's gradient is its slope, everywhere away from the faces."""
    from gpuimg.cohort.study import _edges

    spacing = (2.5, 0.7, 0.8)
    position_mm = np.indices((12, 20, 20))[axis] * spacing[axis]
    image = gpuimg.Volume((10.0 * position_mm - 500.0).astype(np.float32), spacing)
    inside = np.zeros(image.shape, dtype=np.uint8)
    inside[3:9, 5:15, 5:15] = 1
    _, values = _edges(image, gpuimg.Volume(inside, spacing), operator)
    np.testing.assert_allclose(values["edge_gradient_mean"], 10.0, rtol=1e-5)
    np.testing.assert_allclose(values["edge_boundary_gradient_mean"], 10.0, rtol=1e-5)


@pytest.mark.parametrize("spacing", [(2.0, 1.25, 1.25), (5.0, 0.7, 0.7)])
def test_the_boundary_gradient_is_over_the_rois_one_voxel_rind(spacing):
    """On 5 x 0.7 mm CT the boundary was an erosion by a cross of 5 mm, a rind 7 voxels thick in-plane: the
    boundary voxels are those with a 6-neighbour outside the ROI, as scipy.ndimage's binary erosion by
    the 6-connected cross finds them (the volume's faces, with nothing known past them, not counted)."""
    from scipy import ndimage as ndi

    from gpuimg.cohort.study import _edges

    rng = np.random.default_rng(0)
    image = gpuimg.Volume(rng.normal(0.0, 50.0, (12, 40, 40)).astype(np.float32), spacing)
    inside = np.zeros(image.shape, dtype=bool)
    inside[2:10, 5:35, 8:30] = True
    inside[0:4, 18:22, 18:22] = True  # a stalk to the volume's first slice
    gradient, values = _edges(image, gpuimg.Volume(inside.astype(np.uint8), spacing), "sobel")
    cross = ndi.generate_binary_structure(3, 1)
    rind = inside & ~ndi.binary_erosion(inside, cross, border_value=1)
    assert rind.sum() < inside.sum() // 2
    np.testing.assert_allclose(values["edge_boundary_gradient_mean"], gradient[rind].mean(), rtol=1e-6)
    np.testing.assert_allclose(values["edge_gradient_mean"], gradient[inside].mean(), rtol=1e-6)


def test_studies_of_equal_file_names_sizes_and_times_have_other_fingerprints(tmp_path):
    """Two studies of one protocol whose files have the same names, sizes and times (unpacked from an
    archive or a container image that sets every file's time): the fingerprint was of those alone, so
    two such folders swapped or renamed between runs kept each other's stored rows, the features of one
    patient under the other's study (its folder, its ID)."""
    studies = [tmp_path / "a", tmp_path / "b"]
    write_study(studies[0], 0, patient_id="PAT-0")
    shutil.copytree(studies[0], studies[1])
    for path in (studies[1] / "ct").iterdir():  # another patient's series: the same bytes but its ID
        path.write_bytes(path.read_bytes().replace(b"PAT-0", b"PAT-1"))
    for path in (p for s in studies for p in s.rglob("*")):
        os.utime(path, ns=(1_577_836_800_000_000_000,) * 2)

    def listing(study):
        return sorted(
            (str(p.relative_to(study)), p.stat().st_size, p.stat().st_mtime_ns) for p in study.rglob("*")
        )

    # The truth: the same names, sizes and times (all the old fingerprint read), other patients.
    assert listing(studies[0]) == listing(studies[1])
    patients = [pydicom.dcmread(next((s / "ct").iterdir())).PatientID for s in studies]
    assert patients == ["PAT-0", "PAT-1"]
    assert fingerprint(studies[0]) != fingerprint(studies[1])
    # Swapped: each folder's fingerprint follows its files.
    before = [fingerprint(s) for s in studies]
    os.rename(studies[0], tmp_path / "swap")
    os.rename(studies[1], studies[0])
    os.rename(tmp_path / "swap", studies[1])
    assert [fingerprint(s) for s in studies] == before[::-1]


@pytest.mark.parametrize("shape", [(6, 7, 8), (1, 5, 5), (4, 1, 6), (3, 4, 1), (1, 1, 1)])
def test_clipped_is_whether_the_roi_touches_a_face(shape):
    # The definition: a voxel of the ROI on one of the six faces (a face's plane being the whole
    # volume along an axis of one voxel).
    def touches(mask):
        return any(mask.take(i, axis=a).any() for a in range(3) for i in (0, -1))

    rng = np.random.default_rng(sum(shape))
    masks = [np.zeros(shape, np.uint8)]
    for axis in range(3):  # one voxel on each face, at a random place on it
        for end in (0, shape[axis] - 1):
            mask = np.zeros(shape, np.uint8)
            where = [rng.integers(n) for n in shape]
            where[axis] = end
            mask[tuple(where)] = 1
            masks.append(mask)
    inner = np.zeros(shape, np.uint8)
    inner[tuple(slice(1, -1) for _ in shape)] = 1  # empty where an axis has 2 voxels or fewer
    masks += [inner, (rng.random(shape) < 0.3).astype(np.uint8)]
    for mask in masks:
        assert _clipped(mask) == touches(mask)
        assert _clipped(mask.view(bool)) == touches(mask)


def _fingerprint_by_definition(study) -> str:
    """The docstring's definition: each file's path below ``study``, size and time, in sorted order, the
    SHA-256 of the first 4096 bytes of each folder's first file after it; the digest's 16 first digits."""
    parts, seen = [], set()
    for path in sorted(
        (p for p in study.rglob("*") if p.is_file()), key=lambda p: p.relative_to(study).parts
    ):
        stat = path.stat()
        parts.append(f"{path.relative_to(study)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if path.parent not in seen:
            seen.add(path.parent)
            parts.append(hashlib.sha256(path.read_bytes()[:4096]).digest())
    return hashlib.sha256(b"".join(parts)).hexdigest()[:16]


@pytest.mark.parametrize("layout", ["flat", "hidden file", "sub-folder", "link", "empty"])
def test_the_fingerprint_is_its_definition(tmp_path, layout):
    # A folder of regular files only (the common case) is read from its listing; any other through the
    # walk of list_series: both give the definition's digest.
    study = tmp_path / "study"
    study.mkdir()
    rng = np.random.default_rng(0)
    if layout != "empty":
        for i in (3, 1, 2, 10):  # written out of name order; the first by name is longer than a head
            (study / f"slice{i}.dcm").write_bytes(rng.bytes(5000 if i == 1 else 100 * i))
    if layout == "hidden file":
        (study / ".listing").write_bytes(b"x")
    if layout == "sub-folder":
        (study / "mask").mkdir()
        (study / "mask" / "mask.nrrd").write_bytes(rng.bytes(300))
    if layout == "link":
        (tmp_path / "mask.nrrd").write_bytes(rng.bytes(300))
        (study / "mask.nrrd").symlink_to(tmp_path / "mask.nrrd")
    assert fingerprint(study) == _fingerprint_by_definition(study)
    # The first file's head counts: its bytes changed, its size and time kept.
    first = study / ("slice1.dcm" if layout != "hidden file" else ".listing")
    if layout != "empty":
        stat = first.stat()
        first.write_bytes(bytes(255 - b for b in first.read_bytes()))
        os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert fingerprint(study) == _fingerprint_by_definition(study)


_NFD = "La\u0308sion"  # "Läsion" as macOS writes it: an a, then the combining diaeresis
_NFC = "L\u00e4sion"  # as a spec typed on any system holds it


def _reference_matches(folder, pattern):
    """The files under ``folder`` whose NFC path matches the NFC ``pattern`` part by part, by os.walk
    and fnmatch, the definition (``**``: any number of folders; names compared by NFC)."""
    import fnmatch
    import unicodedata
    from pathlib import PurePath

    def nfc(text):
        return unicodedata.normalize("NFC", text)

    def match(names, parts):
        if not parts:
            return not names
        if parts[0] == "**":
            return any(match(names[i:], parts[1:]) for i in range(len(names) + 1))
        return bool(names) and fnmatch.fnmatchcase(names[0], parts[0]) and match(names[1:], parts[1:])

    parts = [nfc(part) for part in PurePath(pattern).parts]
    found = []
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if match([nfc(n) for n in PurePath(os.path.relpath(path, folder)).parts], parts):
                found.append(path)
    return sorted(found)


@pytest.mark.parametrize(
    "pattern",
    [
        f"{_NFC}.nrrd",
        f"{_NFD}.nrrd",
        "L?sion.nrrd",  # one character in NFC, two in NFD
        f"**/{_NFC}.nrrd",
        f"Befu\u0308nde/{_NFC}*",
        "Bef[\u00fcu]nde/*.nrrd",
        "*.txt",
    ],
)
def test_mask_pattern_matches_names_in_nfc(tmp_path, pattern):
    """A mask pattern typed 'Läsion.nrrd' (NFC) found no file macOS named 'La\\u0308sion.nrrd' (NFD), so
    the study failed with '0 images match' where ls shows the same name: names and pattern are compared
    in NFC, as os.walk and fnmatch of the NFC names (the reference) find them."""
    from gpuimg.cohort._study_mask import matching_files

    study = tmp_path / "study"
    (study / "Befu\u0308nde").mkdir(parents=True)
    for name in (f"{_NFD}.nrrd", f"Befu\u0308nde/{_NFD}.nrrd", f"Befu\u0308nde/{_NFC}.nrrd", "note.txt"):
        (study / name).write_bytes(b"")
    # The file system keeps the names as written (no normalisation of its own), as on Linux and APFS.
    assert sorted(os.listdir(study)) == sorted(["Befu\u0308nde", f"{_NFD}.nrrd", "note.txt"])
    expected = _reference_matches(study, pattern)
    assert expected  # each pattern names files of the study
    assert [str(path) for path in matching_files(study, pattern)] == expected


def test_a_one_level_mask_pattern_is_matched_on_the_folder_listing(tmp_path, monkeypatch):
    """A one-level pattern (the usual 'mask.nrrd') is matched on the study folder's names as listed: the
    glob of every entry, each made a Path and taken relative to the folder, took 3.1 ms for a study of 300
    slices, 0.3 ms so. The files are the reference's (os.walk and fnmatch of the NFC names): hidden ones
    and links to files too, not a folder of a matching name nor the files inside it."""
    from pathlib import Path

    from gpuimg.cohort._study_mask import matching_files

    study = tmp_path / "study"
    (study / "masks.nrrd").mkdir(parents=True)
    (study / "masks.nrrd" / "inner.nrrd").write_bytes(b"")
    for name in [f"IM{k:04d}.dcm" for k in range(300)] + ["mask.nrrd", ".mask.nrrd", f"{_NFD}.nrrd"]:
        (study / name).write_bytes(b"")
    os.symlink(study / "mask.nrrd", study / "link.nrrd")

    def walk(self, pattern):
        raise AssertionError(f"globbed {pattern!r}: each entry of the folder made a Path")

    monkeypatch.setattr(Path, "glob", walk)
    for pattern in ("mask.nrrd", "*.nrrd", f"{_NFC}.nrrd", "L?sion.nrrd", ".*", "*"):
        expected = _reference_matches(study, pattern)
        assert expected
        assert [str(path) for path in matching_files(study, pattern)] == expected


def test_the_features_take_the_study_mask_as_bool(tmp_path, monkeypatch):
    """The study's 0/1 mask went to extract as a uint8 Volume: extract searched it for a second label and
    checked its grid against the image's, passes that cost 0.44 of a demo study's 4.6 ms of features,
    though study_mask made it 0 and 1 on the image's grid. It now gets its voxels as bool; the row is the
    same: the mean, volume and maximum diameter are NumPy's and SciPy's of the mask file's voxels."""
    import scipy.spatial

    from gpuimg.cohort import study

    write_study(tmp_path / "study", 2, patient_id="P")
    spec = spec_from_dict(
        {
            "input": {"modality": "CT"},
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["statistics", "morphology"]},
        }
    )
    masks = []

    def spy(image, mask, **kwargs):
        masks.append(mask)
        return extract(image, mask, **kwargs)

    extract = study.extract
    monkeypatch.setattr(study, "extract", spy)
    result = process_study(StudyTask(tmp_path / "study", "study", spec, b"key"))
    assert "error" not in result, result.get("error")
    assert len(masks) == 1 and isinstance(masks[0], np.ndarray) and masks[0].dtype == bool
    image = gpuimg.read_dicom(tmp_path / "study" / "ct")
    inside = gpuimg.read_image(tmp_path / "study" / "mask.nrrd").data != 0
    np.testing.assert_array_equal(masks[0], inside)
    np.testing.assert_allclose(result["row"]["stat_mean"], np.asarray(image.data)[inside].mean(), rtol=1e-12)
    np.testing.assert_allclose(
        result["row"]["morph_vol_approx"], inside.sum() * np.prod(image.spacing), rtol=1e-12
    )
    centres = np.argwhere(inside) * np.asarray(image.spacing)
    # The mesh's extreme vertices lie half a voxel out from the extreme centres, or at the same distance.
    assert result["row"]["morph_diam"] >= scipy.spatial.distance.pdist(centres).max()


def test_a_mask_named_in_nfd_is_the_study_mask(tmp_path):
    """The study's row is measured on the mask macOS named in NFD, the spec naming it in NFC."""
    write_study(tmp_path / "study", 1, patient_id="P")
    os.rename(tmp_path / "study" / "mask.nrrd", tmp_path / "study" / f"{_NFD}.nrrd")
    spec = spec_from_dict(
        {
            "input": {"modality": "CT"},
            "mask": {"source": "file", "pattern": f"{_NFC}.nrrd"},
            "features": {"families": ["statistics"]},
        }
    )
    result = process_study(StudyTask(tmp_path / "study", "study", spec, b"key"))
    assert "error" not in result, result.get("error")
    # The reference: NumPy's mean of the CT's values under the mask file's voxels.
    image = gpuimg.read_dicom(tmp_path / "study" / "ct")
    mask = gpuimg.read_image(tmp_path / "study" / f"{_NFD}.nrrd").data != 0
    np.testing.assert_allclose(result["row"]["stat_mean"], np.asarray(image.data)[mask].mean(), rtol=1e-9)


def test_a_series_description_in_nfd_matches_the_rule_typed_in_nfc(tmp_path):
    """input.description 'nätiv' (NFC) matched no series described 'Thorax na\\u0308tiv' (NFD): both are
    compared in NFC, so the native series (pydicom reads its description as written) is the one chosen."""
    study = tmp_path / "study"
    for k, description in enumerate(("Thorax na\u0308tiv", "Thorax KM")):
        volume = gpuimg.Volume(np.full((2, 4, 4), 100 * k, np.int16), (2.0, 1.0, 1.0))
        gpuimg.write_dicom(
            volume, study / f"series_{k}", patient_id="P", series_description=description, series_number=k + 1
        )
    written = pydicom.dcmread(next((study / "series_0").iterdir())).SeriesDescription
    assert written == "Thorax na\u0308tiv"
    gpuimg.write_image(gpuimg.Volume(np.ones((2, 4, 4), np.uint8), (2.0, 1.0, 1.0)), study / "mask.nrrd")
    spec = spec_from_dict(
        {
            "input": {"description": "N\u00c4TIV"},
            "mask": {"source": "file", "pattern": "mask.nrrd"},
            "features": {"families": ["statistics"]},
        }
    )
    result = process_study(StudyTask(study, "study", spec, b"key"))
    assert "error" not in result, result.get("error")
    assert result["row"]["stat_mean"] == 0.0  # series_0's value, by construction


@pytest.mark.parametrize(
    ("name", "change", "fits"),
    [
        ("mask.nii.gz", None, True),  # NIfTI: the geometry in float32
        ("mask.nrrd", "origin", False),  # half a voxel along x
        ("mask.nrrd", "spacing", False),  # 10.9 um for 10 um
        ("mask.nrrd", "direction", False),  # turned by 2e-4 rad about z
    ],
)
def test_a_micro_ct_mask_file_off_the_image_grid_is_refused_showing_how(tmp_path, name, change, fits):
    # Micro-CT (10 x 10 x 20 um voxels): the mask file's origin and spacing were compared with the
    # image's to 1e-2 mm and 1e-3 mm, a whole voxel and a tenth of one, so a mask half a voxel off,
    # or of 10.9 um voxels (its far corner 2 voxels off), was read as if on the image's grid. The
    # rounding a header allows is now also at most a tenth of a voxel and 1% of a spacing; float32
    # geometry (NIfTI) still fits. The refusal showed the values to 2 or 3 decimals, the mask's
    # origin or axis equal to the image's; they are shown to as many decimals as tell them apart.
    # The truth: the shift, spacing and turn as written (closed form).
    rng = np.random.default_rng(7)
    direction = np.array([[0.0, 0.6, 0.8], [0.0, 0.8, -0.6], [1.0, 0.0, 0.0]])  # oblique, columns z y x
    voxels = rng.integers(0, 1000, (8, 20, 24)).astype(np.int16)
    ct = gpuimg.Volume(voxels, (0.02, 0.01, 0.01), (1.2001, -2.3456789, 3.45678), direction)
    study = tmp_path / "s01"
    gpuimg.write_dicom(ct, study / "ct", patient_id="P")
    image = gpuimg.read_dicom(study / "ct", device="cpu")  # the image as the cohort reads it
    mask = np.zeros(image.shape, np.uint8)
    mask[2:6, 5:15, 6:18] = 1
    spacing, origin, axes = np.array(image.spacing), np.array(image.origin), np.array(image.direction)
    if change == "origin":
        origin = origin + 0.5 * spacing[2] * axes[:, 2]
    elif change == "spacing":
        spacing = spacing * [1.0, 1.09, 1.09]
    elif change == "direction":
        turn = Rotation.from_rotvec(2e-4 * axes[:, 0]).as_matrix()
        axes = turn @ axes
    gpuimg.write_image(gpuimg.Volume(mask, tuple(spacing), tuple(origin), axes), study / name)
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": name}, "features": {"families": ["statistics"]}}
    )
    result = process_study(StudyTask(study, "s01", spec, b"key"))
    if fits:
        assert "error" not in result, result["error"]
        expected = image.data[mask > 0].astype(float).mean()
        assert result["row"]["stat_mean"] == pytest.approx(expected, rel=1e-9)
        return
    assert f"the mask {name} does not fit its image" in result.get("error", ""), result
    field = {"origin": r"origin (\(.*?\)) vs (\(.*?\))", "spacing": r"spacing (\(.*?\)) vs (\(.*?\))"}
    shown = re.search(
        field.get(change, r"x axis points along (\(.*?\)), the image's along (\(.*?\))"), result["error"]
    )
    mine, theirs = (np.array(ast.literal_eval(group)) for group in shown.groups())
    truth = {"origin": origin, "spacing": spacing, "direction": axes[:, 2]}[change]
    assert not np.array_equal(mine, theirs)
    np.testing.assert_allclose(mine, truth, rtol=0, atol=5e-3)  # to at least 2 decimals


@pytest.mark.parametrize("kind", ["rtstruct", "seg"])
def test_a_referenced_series_uid_of_several_values_is_matched_as_the_image_meta_gives_it(tmp_path, kind):
    # The image's meta gives a SeriesInstanceUID of two values as written (backslash-joined, as
    # read_dicom does since ee5108d): the UIDs an RTSTRUCT or a SEG references are read the same way, or
    # the one drawn on the series would not be found among two.
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    from gpuimg.cohort._study_mask import _referenced_series

    uid = "1.2.826.0.1.3680043.2.1\\1.2.826.0.1.3680043.2.2"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = {
        "rtstruct": "1.2.840.10008.5.1.4.1.1.481.3",
        "seg": "1.2.840.10008.5.1.4.1.1.66.4",
    }[kind]
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.9"
    referenced = Dataset()
    referenced.SeriesInstanceUID = uid
    if kind == "seg":
        ds.ReferencedSeriesSequence = Sequence([referenced])
    else:
        study = Dataset()
        study.RTReferencedSeriesSequence = Sequence([referenced])
        frame = Dataset()
        frame.RTReferencedStudySequence = Sequence([study])
        ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    path = tmp_path / f"{kind}.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert _referenced_series(path) == {uid}


def test_a_study_of_unreadable_dicom_files_only_says_why_one_is_unreadable(tmp_path):
    # It said 'no DICOM image series in ... (0 other file(s), 2 unreadable)', not what was wrong with them
    # (a file refused for its header gave no hint in errors.csv).
    volume = gpuimg.Volume(np.zeros((2, 4, 4), np.int16), (2.0, 1.0, 1.0))
    gpuimg.write_dicom(volume, tmp_path / "case_7" / "ct", patient_id="P")
    files = sorted((tmp_path / "case_7" / "ct").iterdir())
    for file in files:
        file.write_bytes(file.read_bytes()[:300])
    spec = spec_from_dict({"mask": {"source": "file", "pattern": "m.nrrd"}})
    error = process_study(StudyTask(tmp_path / "case_7", "case_7", spec, b"key"))["error"]
    found = gpuimg.list_series(tmp_path / "case_7")
    assert not found and set(found.broken) == set(files)
    path, why = next(iter(found.broken.items()))
    assert re.fullmatch(
        r"DicomError: no DICOM image series in <study S-\w+> \(0 other file\(s\), 2 unreadable, e\.g\. "
        rf"<study S-\w+>/ct/{path.name} \({re.escape(why)}\)\); put the study's DICOM files there or "
        r"remove the folder\.",
        error,
    ), error


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 6), (2, 3, 4), (7, 1, 5), (6, 8, 1), (9, 10, 11)])
def test_clipped_is_whether_the_roi_touches_a_face_of_the_volume(shape, rng):
    """_clipped against the definition: any voxel of the six faces (an axis's first and last planes) in
    the ROI, each face taken by its own index; for every voxel of the volume alone in the ROI, and for
    random masks. An axis of one plane has one face, both first and last."""
    from gpuimg.cohort.study import _clipped

    def touches(mask):
        faces = (mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1])
        return any(bool(np.any(face)) for face in faces)

    masks = []
    for index in np.ndindex(shape):
        mask = np.zeros(shape, np.uint8)
        mask[index] = 1
        masks.append(mask)
    masks += [(rng.random(shape) < p).astype(np.uint8) for p in (0.0, 0.01, 0.1, 0.5)]
    for mask in masks:
        assert _clipped(mask) is touches(mask)
    assert any(touches(mask) for mask in masks) and (min(shape) < 3 or not all(map(touches, masks)))


def test_a_task_hashes_its_study_id_once(tmp_path, monkeypatch):
    """The study ID (a keyed hash of the folder's name) is asked by the run several times a study (the
    report's previews, the stored results, the study's own result): worked out once a task, kept in a
    pickled task (a Dask worker's), and the hash the docstring names, HMAC-SHA256 of ``study:<name>``."""
    import hmac
    import pickle

    import gpuimg.cohort.study as study_module

    hashed = []
    real = study_module.pseudonym
    monkeypatch.setattr(study_module, "pseudonym", lambda *args: hashed.append(args) or real(*args))
    key, spec = b"key", spec_from_dict({"mask": {"source": "recipe", "threshold": [-400, 400]}})
    task = StudyTask(tmp_path / "s01", "s01", spec, key)
    expected = "S-" + hmac.new(key, b"study:s01", hashlib.sha256).hexdigest()[:16]
    assert task.study_id == task.study_id == expected
    assert pickle.loads(pickle.dumps(task)).study_id == expected
    assert process_study(task)["study"] == expected  # no series there: an error row, of the same study
    assert hashed == [(key, "study", "s01")]
    # With keep_ids the folder's name, as it is.
    assert StudyTask(tmp_path / "s01", "s01", dataclasses.replace(spec, keep_ids=True), key).study_id == "s01"


@pytest.mark.parametrize(
    ("name", "images"),
    [
        ("mask.nrrd", 1),
        ("MASK.NII.GZ", 1),
        ("mask.img", 1),
        ("mask.hdr.gz", 1),
        ("mask.txt", 0),
        ("mask.raw.gz", 0),
    ],
)
def test_one_matched_file_is_one_image_where_its_suffix_is_an_images(tmp_path, name, images):
    """The usual single match: itself where read_image reads its suffix (either file of a NIfTI-1 pair
    too, its partner absent or not), none where it is no image (a note, a detached NRRD's data)."""
    from gpuimg.cohort._study_mask import _images

    assert _images([tmp_path / name]) == [tmp_path / name] * images
    (tmp_path / name).write_bytes(b"")
    for partner in ("mask.img", "mask.hdr", "mask.img.gz", "mask.hdr.gz"):
        (tmp_path / partner).write_bytes(b"")
    assert _images([tmp_path / name]) == [tmp_path / name] * images
