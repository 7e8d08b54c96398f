"""read_dicom's integral values beyond float32's exact range (2**24): 32-bit pixels and large intercepts.

The reference is pydicom's ``pixel_array`` rescaled in Python integers (int64 here: every value below
2**40), which read_dicom must give exactly: int16 where the values fit, float32 where they all lie below
2**24 in magnitude, float64 beyond (float32 rounds 2**31 - 1 to 2147483648.0).
"""

import numpy as np
import pytest
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian
from test_dicom_pixels import write_series

from gpuimg.errors import DicomError, MemoryBudgetError
from gpuimg.io import read_dicom

SHAPE = (4, 5, 6)  # z, y, x
INT32 = np.iinfo(np.int32)
UINT32 = np.iinfo(np.uint32)


def exact_reference(files, stored: np.ndarray, rescales) -> np.ndarray:
    """pydicom's stored values of each file times its slope plus its intercept, in int64 (exact)."""
    import pydicom

    slices = []
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        np.testing.assert_array_equal(ds.pixel_array, stored[k])  # the files hold what was written
        slope, intercept = (int(v) for v in rescales[k % len(rescales)])
        slices.append(ds.pixel_array.astype(np.int64) * slope + intercept)
    return np.stack(slices)


def with_values(rng, dtype, low, high, extremes) -> np.ndarray:
    """Random ``dtype`` values in [low, high] (z, y, x), with ``extremes`` among them."""
    values = rng.integers(low, high, SHAPE, endpoint=True, dtype=np.int64)
    values.flat[rng.choice(values.size, len(extremes), replace=False)] = extremes
    return values.astype(dtype)


E24 = 2**24  # float32 holds every integer below this exactly

CASES = {
    # name: (stored dtype, range, values that must be among them, rescales, expected dtype)
    "int32 ends": (
        np.int32,
        (INT32.min, INT32.max),
        (INT32.max, INT32.min, E24 + 1),
        ((1, 0),),
        "f8",
    ),
    "int32 intercept": (np.int32, (-(2**30), 2**30), (2**30, -(2**30), E24 + 1), ((1, -12345),), "f8"),
    "int32 slope and intercept": (np.int32, (-(2**28), 2**28), (E24 + 1,), ((3, 1000),), "f8"),
    "uint32 at the top": (np.uint32, (0, UINT32.max), (UINT32.max, 2**31 - 1, E24 + 1), ((1, 0),), "f8"),
    # intercepts of 2**24 slopes or more were refused (float32 voxels)
    "uint32 intercept": (np.uint32, (0, UINT32.max), (UINT32.max, 0), ((1, -(2**31)),), "f8"),
    "per-slice rescales": (np.int32, (0, 2**26), (E24 + 1,), ((1, 0), (1, -7), (2, 3)), "f8"),
    "uint16 large intercept": (np.uint16, (0, 65535), (65535,), ((1, E24 - 100),), "f8"),
    "int16 negative intercept": (np.int16, (-32768, 32767), (-32768,), ((1, -E24 + 100),), "f8"),
    "int16 intercept beyond 2**24": (np.int16, (-32768, 32767), (), ((2, 2**35 + 1),), "f8"),
    "int32 just below 2**24": (np.int32, (-E24 + 1, E24 - 1), (E24 - 1, -E24 + 1), ((1, 0),), "f4"),
    "int32 reaching 2**24": (np.int32, (0, E24), (E24,), ((1, 0),), "f8"),
    "int32 fitting int16": (np.int32, (-1024, 3071), (), ((1, 0),), "i2"),
}


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ExplicitVRBigEndian], ids=["quick", "pydicom"])
@pytest.mark.parametrize("case", CASES)
def test_integral_values_equal_pydicom_exactly(tmp_path, rng, case, syntax):
    dtype, (low, high), extremes, rescales, expected_dtype = CASES[case]
    stored = with_values(rng, dtype, low, high, extremes)
    files = write_series(tmp_path, stored, rescales=rescales, syntax=syntax)
    volume = read_dicom(tmp_path, device="cpu")
    expected = exact_reference(files, stored, rescales)
    assert volume.data.dtype == np.dtype(expected_dtype)
    # exact: each voxel is an integer, compared as one (float64 holds these below 2**53)
    np.testing.assert_array_equal(np.rint(volume.data), volume.data)
    np.testing.assert_array_equal(volume.data.astype(np.int64), expected)


def test_sixteen_bit_ct_still_reads_as_int16(tmp_path, rng):
    stored = with_values(rng, np.int16, -1024, 3071, (-1024, 3071))
    files = write_series(tmp_path, stored, rescales=((1, 0),))
    volume = read_dicom(tmp_path, device="cpu")
    assert volume.data.dtype == np.int16
    np.testing.assert_array_equal(volume.data, exact_reference(files, stored, ((1, 0),)))


@pytest.mark.parametrize("dtype, values", [(np.int16, (-1000, 1000)), (np.int32, (0, 2**20))])
def test_non_integral_slopes_still_read_as_float32(tmp_path, rng, dtype, values):
    import pydicom

    stored = with_values(rng, dtype, *values, ())
    files = write_series(tmp_path, stored, rescales=((0.5, -10.25),))
    volume = read_dicom(tmp_path, device="cpu")
    assert volume.data.dtype == np.float32
    # pydicom's values in float64, rounded to float32 once: these are exact in float32 (2**-2 steps)
    expected = np.stack([pydicom.dcmread(f).pixel_array * 0.5 - 10.25 for f in files])
    np.testing.assert_array_equal(volume.data, expected.astype(np.float32))


def test_the_memory_check_counts_a_float64_copy_before_reading(tmp_path, rng, monkeypatch):
    stored = with_values(rng, np.int32, INT32.min, INT32.max, (INT32.max,))
    write_series(tmp_path, stored)
    needed = stored.size * (4 + 8)  # the stored int32 values and their float64 copy
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed - 1))
    with pytest.raises(MemoryBudgetError, match="4 slices of 5 x 6 pixels"):
        read_dicom(tmp_path, device="cpu")
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed))
    assert read_dicom(tmp_path, device="cpu").data.dtype == np.float64


@pytest.mark.parametrize(
    "rescale, voxels",
    [((0.5, 2**23 + 0.25), "float32"), ((1, 2**53), "float64"), ((4, -4e16), "float64")],
)
def test_an_intercept_the_voxels_cannot_resolve_is_still_refused(tmp_path, rng, rescale, voxels):
    write_series(tmp_path, with_values(rng, np.int16, -100, 100, ()), rescales=(rescale,))
    with pytest.raises(DicomError, match=f"{voxels} voxels cannot tell apart stored values"):
        read_dicom(tmp_path, device="cpu")
