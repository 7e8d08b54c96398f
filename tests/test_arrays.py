"""gpuimg._arrays.check_gathered: an operation without a chunked path computes a Dask input whole in
memory; one larger than the memory budget (GPUIMG_MAX_BYTES) is refused before any of it is read."""

import numpy as np
import pytest

import gpuimg
from gpuimg._arrays import check_gathered, roi_voxels
from gpuimg.errors import MemoryBudgetError

da = pytest.importorskip("dask.array")

#: 16 x 32 x 32 float32: 65,536 bytes, past the 1 MiB passed unchecked only where GPUIMG_MAX_BYTES is set.
SHAPE = (16, 32, 32)

#: Each operation without a chunked path, and whether it computes the mask (image > 0.5) with the image.
OPERATIONS = {
    "resample": (lambda image, mask: gpuimg.preprocess.resample(image, spacing=1.0, new_spacing=4.0), False),
    "clahe": (lambda image, mask: gpuimg.preprocess.clahe(image), False),
    "anisotropic_diffusion": (lambda image, mask: gpuimg.preprocess.anisotropic_diffusion(image), False),
    "extract": (
        lambda image, mask: gpuimg.features.extract(image, mask, spacing=1.0, families=["statistics"]),
        True,
    ),
    "morphology": (lambda image, mask: gpuimg.features.morphology(image, mask, mask, (1.0, 1.0, 1.0)), True),
    "marching_cubes": (lambda image, mask: gpuimg.contours.marching_cubes(image, 0.5), False),
    "hough_line": (lambda image, mask: gpuimg.contours.hough_line(image[0]), False),
}


@pytest.fixture
def lazy_image():
    """A lazy float32 image that records every chunk computed."""
    reads = []

    def read(block):
        reads.append(block.shape)
        return block

    meta = np.empty((0,) * len(SHAPE), np.float32)
    image = da.ones(SHAPE, dtype=np.float32, chunks=8).map_blocks(read, dtype=np.float32, meta=meta)
    return image, reads


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_dask_input_over_the_budget_is_refused_before_it_is_read(name, lazy_image, monkeypatch):
    """These operations computed their Dask inputs whole with no look at the budget: 64 KiB (a volume
    from a Zarr store larger than memory, at scale) were read under a budget one byte smaller, where a
    NumPy array that size is refused from its file's header."""
    image, reads = lazy_image
    mask = image > 0.5
    run, with_mask = OPERATIONS[name]
    # Closed form: what is computed whole is the voxels times their bytes, of the image and the mask.
    shape = SHAPE[1:] if name == "hough_line" else SHAPE  # one slice of the image
    need = int(np.prod(shape)) * (4 + (1 if with_mask else 0))
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(need - 1))
    shapes = rf"{shape} float32".replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(MemoryBudgetError, match=rf"computes its Dask inputs? of shapes? {shapes}"):
        run(image, mask)
    assert reads == []


def test_check_gathered_counts_the_bytes_of_dask_arrays_only(monkeypatch):
    """The budget's edge: the Dask arrays' bytes (closed form: voxels x itemsize) pass at the budget and
    are refused one byte under it; arrays in memory and Dask arrays of unknown chunk sizes are not
    counted (the first takes nothing more, the second's size is unknown before it is computed), nor
    twice one array given twice (morphology's mask for both its roles)."""
    image = da.zeros(SHAPE, dtype=np.float32, chunks=8)
    mask = da.zeros(SHAPE, dtype=bool, chunks=8)
    need = np.prod(SHAPE) * (4 + 1)
    in_memory = np.zeros((512, 512, 8))  # 16 MiB
    unknown = image.ravel()[image.ravel() > 0]  # shape (nan,)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(need))
    check_gathered("an operation", image, mask, mask, in_memory, unknown, None)  # the mask computed once
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(need - 1))
    message = (
        r"an operation computes its Dask inputs of shapes \(16, 32, 32\) float32 and \(16, 32, 32\) bool"
    )
    with pytest.raises(MemoryBudgetError, match=message):
        check_gathered("an operation", image, mask, in_memory, unknown, None)
    check_gathered("an operation", in_memory, unknown, None)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int16, np.float32])
def test_roi_voxels_is_a_new_array_of_the_non_zero_voxels(dtype):
    # A bool mask is copied, not compared with 0; every mask gives a new array, as `mask != 0` does.
    mask = (np.random.default_rng(0).integers(0, 3, (4, 5, 6)) - 1).astype(dtype)
    inside = roi_voxels(mask)
    assert inside.dtype == bool and inside is not mask and not np.shares_memory(inside, mask)
    np.testing.assert_array_equal(inside, np.asarray(mask) != 0)
