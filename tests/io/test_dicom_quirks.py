"""read_dicom on series as real exports leave them: headers edited with pydicom, read back against
pydicom's own decoding and SimpleITK."""

import numpy as np
import pydicom
import pytest

from gpuimg import DicomError
from gpuimg.io import read_dicom


@pytest.mark.parametrize("missing", [[0, 7], [3]])
def test_slices_without_a_position_among_placed_ones_are_named_as_such(series, pydicom_reference, missing):
    # One slice of a CT series without ImagePositionPatient was called 'a projection image (CR, DX,
    # secondary capture), not a slice of a cross-sectional (CT, MR, PET) series; read_dicom reads slice
    # series only', of a CT whose other 7 slices are placed; the advice (none) did not read it.
    folder, volume, files = series
    for k in missing:
        ds = pydicom.dcmread(files[k])
        del ds.ImagePositionPatient
        ds.save_as(files[k])
    placed = [f for k, f in enumerate(files) if k not in missing]
    assert all("ImagePositionPatient" in pydicom.dcmread(f) for f in placed)
    with pytest.raises(DicomError, match="no ImagePositionPatient") as info:
        read_dicom(folder, device="cpu")
    message = str(info.value)
    assert all(files[k].name in message for k in missing)
    assert f"while the other {len(placed)} images of the series have both" in message
    assert "projection image" not in message and "pass read_dicom the other files as a list" in message
    # As the message says: the placed files read, a slice inside the stack left empty with allow_gaps.
    inside = [k for k in missing if 0 < k < len(files) - 1]
    read = read_dicom(placed, device="cpu", allow_gaps=bool(inside))
    assert read.shape[0] == len(files) - len(missing) + len(inside) and read.meta["missing_slices"] == inside
    kept = [k for k in range(len(files)) if k not in missing]  # write_dicom wrote slice k to files[k]
    slots = [k - kept[0] for k in kept]  # read slice j is slice kept[0] + j
    np.testing.assert_array_equal(read.data[slots], pydicom_reference(placed))
    np.testing.assert_array_equal(read.data[slots], volume.data[kept])
