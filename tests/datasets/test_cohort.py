"""write_cohort: what it writes reads back through list_series, read_dicom and read_image."""

import numpy as np

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
