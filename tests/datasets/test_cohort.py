"""write_cohort: what it writes reads back through list_series, read_dicom and read_image."""

import numpy as np
import pytest

from gpuimg import ParameterError
from gpuimg.datasets import write_cohort
from gpuimg.io import list_series, read_dicom, read_image


def test_cohort_reads_back(tmp_path, rng):
    seed = int(rng.integers(2**31))
    patients = write_cohort(tmp_path / "a", 3, seed, shape=(8, 32, 32))
    series = list_series(tmp_path / "a")
    assert sorted(s.patient_id for s in series) == ["PATIENT-000", "PATIENT-001", "PATIENT-002"]
    assert all(s.shape == (8, 32, 32) and s.problem is None for s in series)
    for patient in patients:
        ct = read_dicom(patient / "ct", device="cpu")
        mask = read_image(patient / "lesions.nrrd", device="cpu")
        assert ct.data.dtype == np.int16 and mask.data.dtype == np.uint8
        np.testing.assert_allclose(ct.affine, mask.affine, atol=1e-6)
    again = write_cohort(tmp_path / "b", 1, seed, shape=(8, 32, 32))
    np.testing.assert_array_equal(
        read_dicom(again[0] / "ct", device="cpu").data, read_dicom(patients[0] / "ct", device="cpu").data
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        # Before: NumPy's OverflowError "can't convert negative value to uint32_t".
        ({"n_patients": -1}, "n_patients=-1 must be a whole number"),
        # Before: TypeError "'float' object cannot be interpreted as an integer".
        ({"n_patients": 2.5}, "n_patients=2.5 must be a whole number"),
        # Before: one patient written (range(True)).
        ({"n_patients": True}, "n_patients=True must be a whole number"),
        # Before: the string's truth value, so "no" replaced the earlier patients.
        ({"overwrite": "no"}, "overwrite='no' must be True or False"),
        # Before: NumPy's bare ValueError 'expected non-negative integer' and TypeError 'SeedSequence
        # expects int or sequence of ints for entropy not 1.5', naming no parameter (a Generator too).
        ({"seed": -1}, r"seed=-1 must be None, an integer of at least 0, or a numpy\.random\.Generator"),
        ({"seed": 1.5}, r"seed=1\.5 must be None, an integer of at least 0"),
        ({"seed": "a"}, r"seed='a' must be None, an integer of at least 0"),
        ({"seed": True}, r"seed=True must be None, an integer of at least 0"),
    ],
)
def test_bad_parameters_are_named_before_writing(tmp_path, kwargs, words):
    with pytest.raises(ParameterError, match=words):
        write_cohort(tmp_path / "c", **{"n_patients": 1, "seed": 0, "shape": (8, 16, 16), **kwargs})
    assert not (tmp_path / "c").exists()


def test_a_generator_seed_writes_the_voxels_of_its_integer(tmp_path):
    """write_cohort(seed=np.random.default_rng(s)) writes what seed=s writes (NumPy: default_rng(s)
    seeds from SeedSequence(s), whose children the patients draw from); it was NumPy's TypeError
    'SeedSequence expects int or sequence of ints'."""
    want = write_cohort(tmp_path / "int", 2, 11, shape=(8, 16, 16))
    got = write_cohort(tmp_path / "generator", 2, np.random.default_rng(11), shape=(8, 16, 16))
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(
            read_dicom(a / "ct", device="cpu").data, read_dicom(b / "ct", device="cpu").data
        )


def test_a_randomstate_seed_writes_the_same_voxels_twice(tmp_path):
    """A RandomState's generator cannot spawn (NumPy: 'does not implement spawning'): its patients are
    seeded by its draws, the same for the same RandomState seed, different for patients 0 and 1."""
    first, second = (
        write_cohort(tmp_path / name, 2, np.random.RandomState(3), shape=(8, 16, 16)) for name in "ab"
    )
    voxels = [[read_dicom(p / "ct", device="cpu").data for p in run] for run in (first, second)]
    np.testing.assert_array_equal(voxels[0][0], voxels[1][0])
    np.testing.assert_array_equal(voxels[0][1], voxels[1][1])
    assert not np.array_equal(voxels[0][0], voxels[0][1])
