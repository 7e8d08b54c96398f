"""demo_nodule: the nodule's documented intensity and the refusal of out-of-range parameters."""

import csv

import numpy as np
import pytest

from gpuimg import ParameterError
from gpuimg.datasets.demo import LUNG_HU, NODULE_HU, demo_nodule, write_demo_cohort


def test_a_one_voxel_nodule_is_nodule_hu_not_the_clip():
    # An odd shape puts a voxel centre on the nodule's centre; a radius under every spacing leaves
    # that voxel alone. The standard deviation of one value is 0, so no texture can be scaled to
    # heterogeneity_hu: without noise the voxel is NODULE_HU (30), the rest LUNG_HU (-800).
    # Before: the texture was divided by 1e-9, and the voxel clipped to 3071 HU (or -1024).
    ct, mask = demo_nodule(1.0, 0.0, 30.0, shape=(9, 11, 11), noise_hu=0.0, seed=0)
    expected = np.zeros((9, 11, 11), bool)
    expected[4, 5, 5] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(ct.data, np.where(expected, NODULE_HU, LUNG_HU))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        # Before: accepted, a volume of lung without a nodule (NaN <= 0 is False).
        ({"radius_mm": float("nan")}, "radius_mm=nan must be a finite number"),
        ({"heterogeneity_hu": float("inf")}, "heterogeneity_hu=inf must be a finite number"),
        # Before: NumPy's ValueError "scale < 0", naming no parameter.
        ({"noise_hu": -1.0}, "noise_hu=-1.0 must be a finite number"),
        # Before: a GeometryError from Volume, after the whole volume was made.
        ({"spacing": (2.0, 0.0, 1.25)}, r"spacing=\(2\.0, 0\.0, 1\.25\) must be one positive number"),
        # Before: NumPy's TypeError "'float' object cannot be interpreted as an integer".
        ({"shape": (8.5, 16, 16)}, r"shape=\(8\.5, 16, 16\) must be a positive whole number"),
    ],
)
def test_bad_parameters_are_named(kwargs, words):
    args = {"radius_mm": 4.0, "spiculation": 0.2, "heterogeneity_hu": 10.0, "shape": (8, 16, 16), **kwargs}
    with pytest.raises(ParameterError, match=words):
        demo_nodule(seed=0, **args)


def test_a_numpy_count_of_studies_is_taken(tmp_path):
    # A count from NumPy (np.int64, as len of an array's rows or arange gives) is a whole number.
    # Before: "n_studies=np.int64(4): the demo needs at least 4 studies", refusing 4 for not being 4.
    cohort = write_demo_cohort(tmp_path, np.int64(4), shape=(8, 8, 8))
    with open(tmp_path / "labels.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["patient_id"] for r in rows] == [f"DEMO-{i:03d}" for i in range(4)]
    assert sorted(p.name for p in cohort.iterdir()) == [f"study_{i:03d}" for i in range(4)]


@pytest.mark.parametrize("n_studies", [3, 4.0, True])
def test_too_few_or_not_whole_studies_are_refused(tmp_path, n_studies):
    with pytest.raises(ParameterError, match="the demo needs at least 4 studies"):
        write_demo_cohort(tmp_path, n_studies, shape=(8, 8, 8))


@pytest.mark.parametrize("seed", [-1, 1.5, "a", [0.5], True], ids=repr)
def test_a_seed_numpy_cannot_take_is_refused_naming_seed(tmp_path, seed):
    # Before: NumPy's bare ValueError 'expected non-negative integer' or TypeError 'SeedSequence
    # expects int ...' (True was seed 1), naming no parameter; the demo cohort's folder not written.
    with pytest.raises(ParameterError, match=r"seed=.* must be None, an integer of at least 0, or a numpy"):
        demo_nodule(4.0, 0.2, 10.0, shape=(8, 16, 16), seed=seed)
    with pytest.raises(ParameterError, match=r"seed=.* must be None, an integer of at least 0, or a numpy"):
        write_demo_cohort(tmp_path / "demo", 4, seed, shape=(8, 8, 8))
    assert not (tmp_path / "demo").exists()


def test_a_cohort_larger_than_the_free_disk_space_is_refused_before_writing(tmp_path, monkeypatch):
    # A count mistyped with extra zeros (gpuimg demo --studies 100000000000) wrote studies until the
    # disk was full. The reference: the bytes of the DICOM files a cohort of 4 studies does write.
    import shutil

    from gpuimg import WriteError

    write_demo_cohort(tmp_path / "written", 4, shape=(6, 10, 12))
    written = sum(p.stat().st_size for p in (tmp_path / "written" / "cohort").rglob("*") if p.is_file())
    assert written >= 4 * 6 * (2 * 10 * 12)  # the int16 voxels, and the headers
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=written - 1))
    with pytest.raises(WriteError, match=r"n_studies=4: the demo cohort of 4 studies of 6x10x12 voxels"):
        write_demo_cohort(tmp_path / "refused", 4, shape=(6, 10, 12))
    assert not (tmp_path / "refused").exists()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=2 * written))
    assert write_demo_cohort(tmp_path / "fits", 4, shape=(6, 10, 12)).is_dir()
