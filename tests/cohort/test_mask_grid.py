"""A mask file on the image's voxels in another order (dcm2niix's bottom-up rows, an NRRD in another
orientation) is taken as the same mask; one on another grid is resampled onto the image's with
``mask.resample = true`` (IBSI: linear interpolation, partial volume >= 0.5), else refused saying so."""

import csv
import shutil
from pathlib import Path

import nibabel
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk
from cohort_data import write_study

import gpuimg
from gpuimg.cohort import run_pipeline, spec_from_dict
from gpuimg.cohort._study_mask import study_mask

BRAIN1 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pyradiomics"
STS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ibsi" / "validation_sts"
FAMILIES = ["morphology", "statistics", "histogram"]
#: The identity columns of a row, which differ between studies of one image by construction.
IDS = ("study", "patient")


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "features.csv", newline="") as file:
        return {row["study"]: row for row in csv.DictReader(file)}


def _errors(out: Path) -> dict[str, str]:
    path = out / "errors.csv"
    with open(path, newline="") as file:
        return {row["study"]: row["error"] for row in csv.DictReader(file)}


def _run(cohort: Path, out: Path, pattern: str, **mask) -> None:
    spec = spec_from_dict(
        {"mask": {"source": "file", "pattern": pattern, **mask}, "features": {"families": FAMILIES}}
    )
    run_pipeline(spec, cohort, out, keep_ids=True, progress=False)


def _position(volume: gpuimg.Volume, index) -> np.ndarray:
    """The LPS position [mm] of voxel ``index`` (z, y, x) of ``volume``: origin + direction @ (index *
    spacing), the definition of a Volume's geometry."""
    return np.asarray(volume.origin) + np.asarray(volume.direction) @ (
        np.asarray(index, float) * np.asarray(volume.spacing)
    )


def _write_rows_up_nifti(mask: gpuimg.Volume, path: Path) -> None:
    """``mask`` as dcm2niix writes a DICOM series: a NIfTI (by nibabel) of array axes (x, y, z), its
    rows stored bottom-up (y reversed), its affine in RAS, sform and qform both set."""
    data = np.asarray(mask.data)[:, ::-1, :].transpose(2, 1, 0)  # [i, j, k] = mask[k, ny - 1 - j, i]
    ny = mask.shape[1]
    direction, spacing = np.asarray(mask.direction), np.asarray(mask.spacing)
    lps = np.eye(4)
    lps[:3, 0] = direction[:, 2] * spacing[2]  # i: x
    lps[:3, 1] = -direction[:, 1] * spacing[1]  # j: y, reversed
    lps[:3, 2] = direction[:, 0] * spacing[0]  # k: z
    lps[:3, 3] = _position(mask, (0, ny - 1, 0))  # voxel (0, 0, 0) is the mask's last row
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # LPS -> RAS
    image = nibabel.Nifti1Image(np.ascontiguousarray(data), affine)
    image.set_sform(affine, code=1)
    image.set_qform(affine, code=1)
    nibabel.save(image, str(path))
    assert np.allclose(image.affine, affine) and image.get_fdata()[0, 0, 0] == mask.data[0, -1, 0]


def _write_permuted_nrrd(mask: gpuimg.Volume, path: Path, axes, flips) -> None:
    """``mask`` as an NRRD (by pynrrd) whose axis ``n`` runs along the mask's axis ``axes[n]``, reversed
    where ``flips[n]``: its space directions and origin say where each voxel lies."""
    data = np.asarray(mask.data).transpose(axes)
    data = data[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    direction, spacing = np.asarray(mask.direction), np.asarray(mask.spacing)
    rows = [(-1 if f else 1) * direction[:, a] * spacing[a] for a, f in zip(axes, flips, strict=True)]
    first = [0, 0, 0]
    for a, f in zip(axes, flips, strict=True):
        first[a] = mask.shape[a] - 1 if f else 0
    header = {
        "space": "left-posterior-superior",
        "space directions": np.array(rows),
        "space origin": _position(mask, first),
        "kinds": ["domain"] * 3,
    }
    nrrd.write(str(path), np.ascontiguousarray(data), header)  # array axis n is the NRRD axis n


@pytest.fixture(scope="module")
def reordered(tmp_path_factory):
    """One image in three studies, its mask as written on the image's grid, as a dcm2niix-like NIfTI
    and as an NRRD of permuted and reversed axes; the pipeline's outputs on them."""
    root = tmp_path_factory.mktemp("reordered")
    cohort = root / "cohort"
    for name in ("own_grid", "rows_up", "permuted"):
        write_study(cohort / name, 3, patient_id="P")
    mask = gpuimg.read_image(cohort / "own_grid" / "mask.nrrd", device="cpu")
    for name in ("rows_up", "permuted"):
        (cohort / name / "mask.nrrd").unlink()
    _write_rows_up_nifti(mask, cohort / "rows_up" / "mask.nii.gz")
    _write_permuted_nrrd(mask, cohort / "permuted" / "mask.nrrd", axes=(2, 0, 1), flips=(True, False, True))
    _run(cohort, root / "out", "mask.*")
    return cohort, root / "out"


def test_a_mask_on_the_images_voxels_in_another_order_gives_the_same_row(reordered):
    # The same voxels in another order were refused as 'does not fit its image'. The truth: the row of
    # the study whose mask lies on the image's own grid, as written by the study's writer.
    cohort, out = reordered
    rows = _rows(out)
    assert _errors(out) == {}
    assert sorted(rows) == ["own_grid", "permuted", "rows_up"]
    own = rows["own_grid"]
    features = [c for c in own if c not in IDS]
    assert "morph_vol_approx" in features and "stat_mean" in features
    for name in ("rows_up", "permuted"):
        # Each voxel reordered, none interpolated: the same numbers to the last bit.
        assert {c: rows[name][c] for c in features} == {c: own[c] for c in features}, name
    mask = nrrd.read(str(cohort / "own_grid" / "mask.nrrd"))[0]
    assert float(own["morph_vol_approx"]) == pytest.approx(mask.sum() * 2.0 * 1.25 * 1.25, rel=1e-12)


def test_a_rounded_header_fits_in_another_order_as_in_the_images(tmp_path):
    # A mask file whose spacings a tool rounded to three decimals (0.977 for 0.9765625 mm) fits its
    # image in the image's axis order (_misfit's header rounding); with its rows stored bottom-up its
    # voxels were tested against the image's to 0.01 mm at the far corners, 511 rows away (0.22 mm
    # off), and refused. The truth: the voxels as placed in the image's order.
    image = gpuimg.Volume(np.zeros((4, 512, 512), np.int16), spacing=(2.0, 0.9765625, 0.9765625))
    inside = np.zeros(image.shape, np.uint8)
    inside[1:3, 40:300, 100:140] = 1
    inside[2, 290:300, 100:105] = 0  # no symmetry a wrong flip would keep
    rounded = gpuimg.Volume(inside, (2.0, 0.977, 0.977), image.origin, image.direction)
    source = spec_from_dict({"mask": {"source": "file", "pattern": "mask.*"}}).mask
    for name, write in (
        ("image_order", lambda path: gpuimg.write_image(rounded, path.with_suffix(".nrrd"))),
        ("rows_up", lambda path: _write_rows_up_nifti(rounded, path)),
    ):
        study = tmp_path / name
        study.mkdir()
        write(study / "mask.nii.gz")
        found = study_mask(study, [], image, image, source)
        assert np.array_equal(np.asarray(found.data), inside), name


def test_the_reordered_files_are_not_on_the_images_grid(reordered):
    # What makes the test above one of reordering: each file's grid differs from the image's, and the
    # files hold the mask's voxels in another order (read back by their own libraries).
    cohort, _ = reordered
    image = gpuimg.read_dicom(cohort / "own_grid" / "ct", device="cpu")
    rows_up = nibabel.load(str(cohort / "rows_up" / "mask.nii.gz"))
    permuted, header = nrrd.read(str(cohort / "permuted" / "mask.nrrd"))
    own = nrrd.read(str(cohort / "own_grid" / "mask.nrrd"))[0].transpose(2, 1, 0)  # x, y, z -> z, y, x
    assert own.any() and not np.array_equal(own, own[:, ::-1]) and not np.array_equal(own, own[..., ::-1])
    assert rows_up.affine[1, 1] > 0  # RAS: +y anterior, rows bottom-up (the image's rows run posterior)
    assert np.asarray(image.direction)[1, 1] > 0  # LPS: +y posterior
    assert np.array_equal(np.asarray(rows_up.dataobj).transpose(2, 1, 0), own[:, ::-1])
    assert permuted.shape == (image.shape[2], image.shape[0], image.shape[1])  # axes x, z, y
    assert np.array_equal(permuted[::-1, :, ::-1].transpose(1, 2, 0), own)
    assert not np.allclose(header["space origin"], image.origin)


@pytest.mark.skipif(not BRAIN1.exists(), reason="PyRadiomics' brain1 case is not in ../shared/data")
def test_pyradiomics_brain1_label_on_its_image_written_as_dicom(tmp_path):
    # brain1's image and label lie on a left-handed grid (y along -P); written as DICOM, the image's
    # slices run the other way (a DICOM series is right-handed: its slice normal is row x column), so
    # the label, as it lies, is on the image's voxels in another order. The truth: the label's voxel
    # count and the image's mean over it, both read by pynrrd on their own shared grid.
    image_data, image_header = nrrd.read(str(BRAIN1 / "brain1_image.nrrd"))
    label_data, label_header = nrrd.read(str(BRAIN1 / "brain1_label.nrrd"))
    assert np.allclose(image_header["space directions"], label_header["space directions"])
    assert np.linalg.det(label_header["space directions"]) < 0  # left-handed
    study = tmp_path / "cohort" / "brain1"
    gpuimg.write_dicom(
        gpuimg.read_image(BRAIN1 / "brain1_image.nrrd", device="cpu"), study / "mr", modality="MR"
    )
    shutil.copy(BRAIN1 / "brain1_label.nrrd", study / "label.nrrd")
    spec = spec_from_dict(
        {
            "mask": {"source": "file", "pattern": "label.nrrd"},
            "features": {"families": ["morphology", "statistics"]},
        }
    )
    run_pipeline(spec, tmp_path / "cohort", tmp_path / "out", keep_ids=True, progress=False)
    assert _errors(tmp_path / "out") == {}
    rows = list(_rows(tmp_path / "out").values())
    assert len(rows) == 1
    voxel = abs(np.linalg.det(label_header["space directions"]))  # mm^3
    count = int((label_data > 0).sum())
    assert count == 4137
    assert float(rows[0]["morph_vol_approx"]) == pytest.approx(count * voxel, rel=1e-12)
    # The image's values (MR, no rescale) over the label: the voxels were paired, not only counted.
    assert float(rows[0]["stat_mean"]) == pytest.approx(image_data[label_data > 0].mean(), rel=1e-12)


@pytest.mark.skipif(not STS.exists(), reason="the IBSI validation_sts data are not in ../shared/data")
def test_real_ct_masks_reoriented_by_nibabel_give_the_same_rows(tmp_path):
    # Two sarcoma patients' CT series with their GTV masks (NIfTI, on the series' LPS voxels), once as
    # they lie and once reoriented to RAS by nibabel's as_closest_canonical (x and y reversed, as
    # dcm2niix and many NIfTI tools store them). The truth: the rows of the masks as they lie.
    for form, reorient in (("as_they_lie", lambda image: image), ("ras", nibabel.as_closest_canonical)):
        for patient in ("STS_001", "STS_004"):
            study = tmp_path / form / patient
            shutil.copytree(STS / patient / "CT" / "image", study / "ct")
            mask = reorient(nibabel.load(str(STS / patient / "CT" / "mask_voxels.nii.gz")))
            nibabel.save(mask, str(study / "mask.nii.gz"))
        assert nibabel.aff2axcodes(mask.affine) == (
            ("L", "P", "S") if form == "as_they_lie" else ("R", "A", "S")
        )
        spec = spec_from_dict(
            {"input": {"modality": "CT"}, "mask": {"source": "file", "pattern": "mask.nii.gz"}}
        )
        run_pipeline(spec, tmp_path / form, tmp_path / f"out_{form}", keep_ids=True, progress=False)
        assert _errors(tmp_path / f"out_{form}") == {}
    lying, ras = (_rows(tmp_path / f"out_{form}") for form in ("as_they_lie", "ras"))
    assert sorted(lying) == sorted(ras) == ["STS_001", "STS_004"]
    for patient, row in lying.items():
        assert float(row["morph_vol_approx"]) > 1e4  # mm^3: the GTV was measured
        assert ras[patient] == row, patient  # every feature, to the last digit written


def _coarse_mask(image: gpuimg.Volume) -> gpuimg.Volume:
    """An ellipsoid (with partial volumes) on a grid 2x coarser than the image's along each axis, over
    the same extent: each coarse voxel centre midway between two of the image's, so that linear
    interpolation's weights are multiples of 1/64 and no fraction is 0.5 (no tie with SimpleITK)."""
    shape = tuple(n // 2 for n in image.shape)
    spacing = tuple(2 * s for s in image.spacing)
    origin = _position(image, (0.5, 0.5, 0.5))
    z, y, x = np.indices(shape, dtype=float)
    inside = ((z - 2.6) / 1.7) ** 2 + ((y - 5.4) / 3.2) ** 2 + ((x - 6.3) / 2.9) ** 2 <= 1
    return gpuimg.Volume(inside.astype(np.uint8), spacing, tuple(origin), np.asarray(image.direction))


def _sitk_image(volume: gpuimg.Volume) -> sitk.Image:
    """A Volume as a SimpleITK image (ITK axes x, y, z: the spacing and the direction's columns
    reversed), as tests/preprocess/test_geometry.py converts it."""
    image = sitk.GetImageFromArray(np.asarray(volume.data, np.float64))
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction)[:, ::-1].ravel()))
    return image


def _sitk_resampled(mask: gpuimg.Volume, image: gpuimg.Volume) -> np.ndarray:
    """SimpleITK's linear resampling of the 0/1 mask onto the image's grid (0 outside), then >= 0.5."""
    moved = sitk.Resample(_sitk_image(mask), _sitk_image(image), sitk.Transform(), sitk.sitkLinear, 0.0)
    return sitk.GetArrayFromImage(moved) >= 0.5


@pytest.fixture
def coarse(tmp_path):
    """A study whose mask file lies on a grid 2x coarser than its image's; its image and that mask."""
    study = tmp_path / "cohort" / "coarse"
    write_study(study, 1, patient_id="P")
    image = gpuimg.read_dicom(study / "ct", device="cpu")
    mask = _coarse_mask(image)
    gpuimg.write_image(mask, study / "mask.nrrd")
    return study, image, mask


def test_a_mask_on_a_coarser_grid_is_resampled_as_simpleitk_does(coarse):
    study, image, mask = coarse
    expected = _sitk_resampled(mask, image)
    assert 20 < expected.sum() < expected.size // 4  # partial volumes, inside the image
    source = spec_from_dict({"mask": {"source": "file", "pattern": "mask.nrrd", "resample": True}}).mask
    found = study_mask(study, [], image, image, source)
    assert found.shape == image.shape and found.spacing == image.spacing
    assert np.array_equal(np.asarray(found.data), expected.astype(np.uint8))


def test_resample_switched_on_measures_the_refused_study_again(coarse, tmp_path):
    # Without mask.resample the study is refused, the advice naming the key; a re-run into the same
    # output folder with it on must not reuse that stored refusal.
    study, image, mask = coarse
    out = tmp_path / "out"
    _run(study.parent, out, "mask.nrrd")
    assert _rows(out) == {}
    error = _errors(out)["coarse"]
    assert error.startswith("GeometryError: the mask mask.nrrd does not fit its image: shape (6, 12, 12) vs")
    assert error.endswith(
        "Export the mask on the image's grid, or set mask.resample = true to resample it onto the image's "
        "grid (IBSI: linear interpolation, partial volume >= 0.5)."
    )
    _run(study.parent, out, "mask.nrrd", resample=True)
    assert _errors(out) == {}
    row = _rows(out)["coarse"]
    expected = _sitk_resampled(mask, image)
    assert float(row["morph_vol_approx"]) == pytest.approx(expected.sum() * np.prod(image.spacing), rel=1e-12)
    assert float(row["stat_mean"]) == pytest.approx(np.asarray(image.data)[expected].mean(), rel=1e-12)


def test_a_mask_resampled_to_nothing_is_named(coarse, tmp_path):
    # One coarse voxel: each image voxel it reaches holds at most 27/64 of it, below 0.5.
    study, image, mask = coarse
    one = np.zeros(mask.shape, np.uint8)
    one[3, 6, 6] = 1
    gpuimg.write_image(gpuimg.Volume(one, mask.spacing, mask.origin, mask.direction), study / "mask.nrrd")
    assert not _sitk_resampled(gpuimg.Volume(one, mask.spacing, mask.origin, mask.direction), image).any()
    _run(study.parent, tmp_path / "out", "mask.nrrd", resample=True)
    assert _errors(tmp_path / "out") == {
        "coarse": "FeatureError: mask.nrrd, the mask of mask.pattern='mask.nrrd', has no voxel on the "
        "image's grid: resampling it there (mask.resample = true: linear interpolation, partial volume "
        ">= 0.5) left none. Check that it is this image's mask; its ROI lies outside the image, or is "
        "thinner than half an image voxel."
    }


@pytest.mark.parametrize("form", ["rows_up", "coarse"])
def test_the_mask_on_the_cuda_device(emulated_cuda, tmp_path, form):
    # The study's image on the CUDA device (real or emulated): the mask file read onto it is reordered
    # or resampled there, to the voxels of the references above.
    study = tmp_path / "s"
    write_study(study, 2, patient_id="P")
    image = gpuimg.read_dicom(study / "ct", device="cpu")
    own = gpuimg.read_image(study / "mask.nrrd", device="cpu")
    (study / "mask.nrrd").unlink()
    if form == "rows_up":
        _write_rows_up_nifti(own, study / "mask.nii.gz")
        expected = np.asarray(own.data) > 0
    else:
        mask = _coarse_mask(image)
        gpuimg.write_image(mask, study / "mask.nrrd")
        expected = _sitk_resampled(mask, image)
    source = spec_from_dict({"mask": {"source": "file", "pattern": "mask.*", "resample": True}}).mask
    on_device = gpuimg.read_dicom(study / "ct", device="cuda")
    found = study_mask(study, [], on_device, on_device, source)
    assert found.device == "cuda"
    assert np.array_equal(gpuimg.backend.to_numpy(found.data), expected.astype(np.uint8))


@pytest.mark.parametrize("label", [0, 2])
def test_the_label_is_chosen_before_the_mask_is_reordered_or_resampled(coarse, label):
    # A label image on another grid: mask.label's voxels are chosen on the file's grid, then moved, so
    # that interpolation never blends label values (1 and 2 would average to a 1.5 of neither).
    study, image, mask = coarse
    labels = mask.data.astype(np.int16)
    labels[:, :, 6:] *= 2  # the ellipsoid's two halves: 1 and 2
    assert set(np.unique(labels)) == {0, 1, 2}
    labelled = gpuimg.Volume(labels, mask.spacing, mask.origin, mask.direction)
    gpuimg.write_image(labelled, study / "mask.nrrd")
    chosen = labels > 0 if label == 0 else labels == label
    expected = _sitk_resampled(
        gpuimg.Volume(chosen.astype(np.uint8), mask.spacing, mask.origin, mask.direction), image
    )
    source = spec_from_dict(
        {"mask": {"source": "file", "pattern": "mask.nrrd", "label": label, "resample": True}}
    ).mask
    found = study_mask(study, [], image, image, source)
    assert 0 < expected.sum() and np.array_equal(np.asarray(found.data), expected.astype(np.uint8))
