"""Real CT inputs for the morphology tests: the pydicom CT slice and a crop of the lung CT."""

from pathlib import Path

import numpy as np
import pytest

import gpuimg

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def ct_slice():
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    return pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array.astype(np.int16)


@pytest.fixture(scope="module")
def ct_crop():
    """A 16 x 64 x 64 crop of the pyradiomics lung CT (int16 HU) and its spacing."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    volume = gpuimg.read_image(path)
    z, y, x = (s // 2 for s in volume.shape)
    return np.asarray(volume.data[z - 8 : z + 8, y - 32 : y + 32, x - 32 : x + 32]), volume.spacing
