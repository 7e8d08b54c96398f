"""read_dicom's geometry checks scale with the voxels: series of micrometre voxels, written by pydicom.

A synchrotron micro-CT has voxels of 0.65 um (6.5e-4 mm). Tolerances fixed in mm (1e-3 mm for a
duplicate position, 1e-4 mm between pixel spacings, 1e-3 mm added to the shear limit) are larger than
such a voxel: every step was a duplicate, different pixel spacings were one, a tilt went unseen.
"""

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from scipy.spatial.transform import Rotation

from gpuimg import GeometryError
from gpuimg.io import read_dicom

#: In-plane pixel spacing (rows, columns) and slice step of the series [mm]: 0.65 um, 0.7 um, 0.5 um.
PIXELS, STEP = (0.00065, 0.0007), 0.0005


def write_slices(folder: Path, data, positions, orientation, pixel_spacings) -> list[Path]:
    """One CT file per slice, written by pydicom alone (10 significant digits per DS value)."""
    folder.mkdir(parents=True, exist_ok=True)
    series, frame, study = generate_uid(), generate_uid(), generate_uid()
    files = []
    for k, (pixels, position, spacing) in enumerate(zip(data, positions, pixel_spacings, strict=True)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, meta.MediaStorageSOPInstanceUID, "CT"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.10g}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in orientation]
        ds.PixelSpacing = [f"{v:.10g}" for v in spacing]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = pixels.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
        ds.PixelData = pixels.astype("<i2").tobytes()
        path = folder / f"slice_{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def micro_series(folder: Path, n=6, shear=0.0, spacings=None) -> tuple[list[Path], np.ndarray]:
    """``n`` slices of random pixels on an oblique grid of PIXELS and STEP, each slice shifted ``shear``
    pixels further along its rows than the one before; ``spacings`` per slice (PIXELS for all)."""
    rng = np.random.default_rng(11)
    rotation = Rotation.from_euler("xyz", [20.0, -15.0, 10.0], degrees=True).as_matrix()
    row, col = rotation[:, 0], rotation[:, 1]
    normal = np.cross(row, col)
    origin = np.array([12.3, -4.5, 7.25])
    positions = [origin + k * STEP * normal + k * shear * PIXELS[1] * row for k in range(n)]
    data = rng.integers(0, 3000, (n, 5, 7))
    files = write_slices(folder, data, positions, [*row, *col], spacings or [PIXELS] * n)
    return files, np.column_stack([normal, col, row])


def test_a_series_of_submicrometre_voxels_reads_as_pydicom_and_simpleitk_read_it(
    tmp_path, sitk_read, sitk_files, pydicom_reference
):
    # Its every step (5e-4 mm) was under the fixed 1e-3 mm duplicate tolerance: 'slice_000.dcm and
    # slice_001.dcm are both at ... mm along the slice normal (5 duplicate positions in all)'.
    _, direction = micro_series(tmp_path / "series")
    read = read_dicom(tmp_path / "series", device="cpu")
    order = sitk_files(tmp_path / "series")
    voxels, spacing, origin, sitk_direction = sitk_read(order)
    np.testing.assert_array_equal(read.data, pydicom_reference(order))
    np.testing.assert_array_equal(read.data, voxels)
    # Positions written to 10 digits (1e-8 mm at 12 mm): steps of 5e-4 mm to 1e-7 relative.
    np.testing.assert_allclose(read.spacing, (STEP, *PIXELS), rtol=1e-6)
    np.testing.assert_allclose(read.spacing, spacing, rtol=1e-6)
    np.testing.assert_allclose(read.origin, origin, rtol=0, atol=1e-12)
    np.testing.assert_allclose(read.direction, sitk_direction, rtol=0, atol=1e-9)
    np.testing.assert_allclose(read.direction, direction, rtol=0, atol=1e-9)


def test_a_slice_exported_twice_is_still_a_duplicate_at_that_scale(tmp_path):
    files, _ = micro_series(tmp_path / "series")
    shutil.copy(files[2], tmp_path / "series" / "copy.dcm")
    with pytest.raises(GeometryError, match="both at") as info:
        read_dicom(tmp_path / "series", device="cpu")
    assert "copy.dcm" in str(info.value) and "1 duplicate position in all" in str(info.value)


def test_pixel_spacings_a_tenth_apart_are_mixed_at_that_scale(tmp_path):
    # 0.7 um against 0.75 um columns differ by 5e-5 mm, under the fixed 1e-4 mm: the series was read
    # with the first slice's spacing for all, the last slice's pixels placed 7 % off.
    spacings = [PIXELS] * 5 + [(PIXELS[0], 0.00075)]
    micro_series(tmp_path / "series", spacings=spacings)
    assert {tuple(pydicom.dcmread(f).PixelSpacing) for f in (tmp_path / "series").iterdir()} == {
        tuple(pydicom.valuerep.DSfloat(v) for v in s) for s in set(spacings)
    }
    with pytest.raises(GeometryError, match=r"mixes 2 different pixel spacings.*slice_005\.dcm"):
        read_dicom(tmp_path / "series", device="cpu")


def test_a_tilted_stack_of_micrometre_voxels_is_sheared(tmp_path):
    # Each slice 0.3 pixels further along its rows: the last is 1.5 pixels (1.05e-3 mm) off, which the
    # limit of 0.1 pixel + 1e-3 mm (1.07e-3 mm) let through: a stack sheared by 23 degrees.
    files, _ = micro_series(tmp_path / "series", shear=0.3)
    with pytest.raises(GeometryError, match="gantry tilt") as info:
        read_dicom(tmp_path / "series", device="cpu")
    assert files[-1].name in str(info.value)
