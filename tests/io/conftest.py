"""Shared fixtures of the IO tests: pydicom's test files, random series, independent references."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy.spatial.transform import Rotation

from gpuimg import Volume
from gpuimg.io import write_dicom

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def testfile():
    """Path of one of pydicom's bundled test files; skips the test if it is not installed."""

    def get(name: str) -> Path:
        path = PYDICOM_FILES / name
        if not path.exists():
            pytest.skip(f"pydicom test file {name} is not installed")
        return path

    return get


@pytest.fixture
def shared_data():
    """Path under the shared data folder (the repository's sibling shared/data); skips if absent."""

    def get(relative: str) -> Path:
        path = SHARED_DATA / relative
        if not path.exists():
            pytest.skip(f"shared data {relative} is not present")
        return path

    return get


def random_direction(rng: np.random.Generator) -> np.ndarray:
    """A random oblique direction whose z column is row x column (the order read_dicom returns)."""
    rotation = Rotation.random(random_state=rng).as_matrix()
    row, col = rotation[:, 0], rotation[:, 1]
    return np.column_stack([np.cross(row, col), col, row])


def random_volume(rng: np.random.Generator, shape=None, dtype=np.int16, oblique=True) -> Volume:
    """A volume of random CT-like values with random spacing, origin and (oblique) direction."""
    shape = shape or tuple(int(n) for n in rng.integers(3, 12, 3))
    data = rng.integers(-1024, 3071, shape).astype(dtype)
    spacing = tuple(float(s) for s in rng.uniform(0.3, 5.0, 3))
    origin = tuple(float(o) for o in rng.uniform(-300, 300, 3))
    direction = random_direction(rng) if oblique else np.column_stack([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])
    return Volume(data, spacing, origin, direction, {"modality": "CT"})


@pytest.fixture
def series(tmp_path, rng):
    """A folder holding a fresh random oblique CT series of 8 slices: (folder, volume, files)."""
    volume = random_volume(rng, shape=(8, 12, 10))
    folder = tmp_path / "series"
    files = write_dicom(volume, folder)
    return folder, volume, files


def sitk_geometry(files) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Voxels (z, y, x), spacing (z, y, x), origin and direction (our column order) from SimpleITK."""
    sitk = pytest.importorskip("SimpleITK")
    files = [str(f) for f in files]
    if len(files) == 1:
        image = sitk.ReadImage(files[0])
    else:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        image = reader.Execute()
    return sitk_arrays(image)


def sitk_arrays(image) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A SimpleITK image as (voxels (z, y, x), spacing (z, y, x), origin, direction columns z, y, x)."""
    import SimpleITK as sitk

    voxels = sitk.GetArrayFromImage(image)
    spacing = np.array(image.GetSpacing())[::-1]
    direction = np.array(image.GetDirection()).reshape(3, 3)[:, ::-1]
    return voxels, spacing, np.array(image.GetOrigin()), direction


def sitk_series_files(folder) -> list[str]:
    """The files of the one series in ``folder`` in SimpleITK's (GDCM's) position order."""
    sitk = pytest.importorskip("SimpleITK")
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))


def pydicom_values(files) -> np.ndarray:
    """pixel_array * RescaleSlope + RescaleIntercept of each file, stacked in the given order."""
    slices = []
    for path in files:
        ds = pydicom.dcmread(path)
        slices.append(
            ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
        )
    return np.stack(slices)


@pytest.fixture
def make_volume(rng):
    """``make_volume(shape=None, dtype=np.int16, oblique=True)``: a fresh random volume."""
    return lambda **kwargs: random_volume(rng, **kwargs)


@pytest.fixture
def sitk_read():
    """``sitk_read(files)``: SimpleITK's (voxels, spacing, origin, direction) in gpuimg's axis order."""
    return sitk_geometry


@pytest.fixture
def sitk_files():
    """``sitk_files(folder)``: the series files in SimpleITK's position order."""
    return sitk_series_files


@pytest.fixture
def pydicom_reference():
    """``pydicom_reference(files)``: pydicom's rescaled pixel values stacked in the given order."""
    return pydicom_values


def enhanced_ct_file(folder: Path, stored: np.ndarray, frames: list[pydicom.Dataset]) -> Path:
    """An enhanced CT file ``folder/enhanced.dcm`` built by hand with pydicom: the uint16 frames
    ``stored`` in file order, 0.5 x 0.75 mm pixels and an axial orientation in its shared functional
    groups, and ``frames`` (one Dataset each: positions, rescale) as its per-frame groups."""
    ds = pydicom.dcmread(write_dicom(Volume(stored[:1].astype(np.int16)), folder / "seed")[0])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.EnhancedCTImageStorage
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        delattr(ds, keyword)
    if any("PixelValueTransformationSequence" in frame for frame in frames):
        del ds.RescaleSlope, ds.RescaleIntercept
    ds.NumberOfFrames, ds.PixelRepresentation = len(stored), 0
    ds.Rows, ds.Columns = stored.shape[1:]
    shared = pydicom.Dataset()
    shared.PlaneOrientationSequence = [pydicom.Dataset()]
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PixelMeasuresSequence = [pydicom.Dataset()]
    shared.PixelMeasuresSequence[0].PixelSpacing = [0.5, 0.75]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.PixelData = stored.astype(np.uint16).tobytes()
    path = folder / "enhanced.dcm"
    ds.save_as(path)
    return path


@pytest.fixture
def enhanced_ct(tmp_path):
    """``enhanced_ct(stored, frames)``: :func:`enhanced_ct_file` in the test's folder."""
    return lambda stored, frames: enhanced_ct_file(tmp_path, stored, frames)
