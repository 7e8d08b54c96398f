"""Images that the intensity, sharpening and histogram tests share: a lung CT region, random HU volumes."""

from pathlib import Path

import numpy as np
import pytest

import gpuimg

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def lung_ct():
    """A 12 x 64 x 64 region of a real lung CT (int16 HU), through the chest wall and lung; skips the
    test where the shared data are absent."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    volume = gpuimg.read_image(path)
    return volume.data[18:30, 200:264, 100:164].copy()


def hu_volume(rng, shape=(11, 13, 17)):
    return rng.integers(-1024, 3072, shape).astype(np.int16)
