"""Images that the preprocessing tests share: regions of a real lung CT, random volumes, tolerances."""

from pathlib import Path

import numpy as np
import pytest

import gpuimg

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: float32 results against a float64 reference: SciPy's passes run in float64 but store each
#: pass in float32, so every voxel carries a few float32 roundings of values up to max|image|.
F32 = 1e-6


def _lung():
    """The lung CT (a Volume); skips the test where the shared data are absent."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return gpuimg.read_image(path)


def lung_ct():
    """A 12 x 64 x 64 region of a real lung CT (int16 HU), through the chest wall and lung."""
    return _lung().data[18:30, 200:264, 100:164].copy()


def lung_ct_with_spacing():
    """A 12 x 40 x 48 crop of a lung CT (int16 HU) with its spacing, across the chest wall."""
    volume = _lung()
    return volume.data[18:30, 230:270, 60:108], volume.spacing


def hu_volume(rng, shape=(11, 13, 17)):
    return rng.integers(-1024, 3072, shape).astype(np.int16)


def random_image(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.normal(0.0, 100.0, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)


def atol(image, dtype):
    scale = float(np.abs(np.asarray(image, dtype=np.float64)).max()) or 1.0
    return scale * (4 * F32 if np.dtype(dtype) == np.float32 else 1e-13)
