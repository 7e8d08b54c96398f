"""The CUDA target of the 5³ median (gpuimg.kernels.median) against ``scipy.ndimage.median_filter``.

Run through ``gpuimg.preprocess.median_filter`` on the kernels' CUDA target: in Numba's simulator
without a GPU (small volumes: the simulator runs about a thousand threads a second), on the GPU
where one is visible. The volumes are not multiples of the kernel's block (32, 4, 2), so that blocks
at the volume's edges, and their halo tiles, are partly outside it.
"""

import numpy as np
import pytest
import scipy.ndimage as ndi

import gpuimg
from gpuimg.kernels import median as median_kernel
from gpuimg.preprocess import median_filter

MODES = ["reflect", "nearest", "mirror", "wrap", "constant"]
#: uint8 is not one of the kernels' dtypes: ``median_filter`` sends it to the device's ndimage.
DTYPES = [np.uint8, np.int16, np.uint16, np.float32, np.float64]


def awkward_image(rng, shape, dtype):
    """Values over the dtype's whole range and its extremes, with many ties; for floats also
    +-inf, subnormals and values of every magnitude (their bit patterns order as integers only
    after the kernel's key transform)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        image = rng.normal(0.0, 100.0, shape) * 10.0 ** rng.integers(-30, 30, shape)
        image = image.astype(dtype)
        tiny = np.finfo(dtype).smallest_subnormal
        extremes = [np.inf, -np.inf, tiny, -tiny, np.finfo(dtype).max, np.finfo(dtype).min, 0.0]
    else:
        info = np.iinfo(dtype)
        image = rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)
        extremes = [info.min, info.max, 0, 1]
    where = rng.choice(image.size, min(image.size // 2, 4 * len(extremes)), replace=False)
    image.flat[where] = (extremes * 4)[: where.size]
    image.flat[rng.integers(0, image.size, image.size // 3)] = image.flat[1]  # ties
    return image


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_median_5_equals_scipy(rng, on_cuda_target, mode, dtype):
    image = awkward_image(rng, (3, 5, 7), dtype)
    cval = np.array(-3 if np.dtype(dtype).kind in "if" else 3).astype(dtype)[()]
    got = gpuimg.to_numpy(median_filter(on_cuda_target(image), 5, mode=mode, cval=cval))
    assert got.dtype == image.dtype
    np.testing.assert_array_equal(got, ndi.median_filter(image, 5, mode=mode, cval=cval))


@pytest.mark.parametrize(("dtype", "mode"), [(np.float32, "reflect"), (np.int16, "constant")])
def test_cuda_median_5_across_blocks_along_rows(rng, on_cuda_target, dtype, mode):
    """Rows longer than a block's 32 threads: the halo of each block reads its neighbour's voxels."""
    image = awkward_image(rng, (2, 2, 37), dtype)
    got = gpuimg.to_numpy(median_filter(on_cuda_target(image), 5, mode=mode, cval=5))
    np.testing.assert_array_equal(got, ndi.median_filter(image, 5, mode=mode, cval=5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["mirror", "constant"])
def test_cuda_median_5_nan_makes_its_windows_nan(rng, on_cuda_target, dtype, mode):
    """A NaN of either sign in the window gives NaN (the bits of ``np.nan``, as on the CPU); -inf
    and +inf are ordered values. SciPy's result for a window with NaN depends on its comparisons,
    so elsewhere the reference is SciPy's median of the image without its NaN."""
    image = awkward_image(rng, (3, 6, 5), dtype)
    image[1, 0, 0] = np.nan
    image[2, 5, 4] = -np.nan  # sign bit set: below -inf as a bit pattern
    nan = np.isnan(image)
    got = gpuimg.to_numpy(median_filter(on_cuda_target(image), 5, mode=mode))
    nan_window = ndi.maximum_filter(nan, 5, mode=mode)
    assert nan_window.any() and not nan_window.all()
    np.testing.assert_array_equal(np.isnan(got), nan_window)
    np.testing.assert_array_equal(
        got[nan_window].view(f"u{image.itemsize}"), np.array(np.nan, dtype).view(f"u{image.itemsize}")
    )
    want = ndi.median_filter(np.where(nan, 0, image), 5, mode=mode)
    np.testing.assert_array_equal(got[~nan_window], want[~nan_window])


def test_cuda_median_5_nan_cval_makes_the_border_nan(rng, on_cuda_target):
    """cval=NaN in constant mode: every window reaching past the edges holds NaN."""
    image = awkward_image(rng, (5, 6, 7), np.float32)
    got = gpuimg.to_numpy(median_filter(on_cuda_target(image), 5, mode="constant", cval=np.nan))
    inner = np.zeros(image.shape, bool)
    inner[2:-2, 2:-2, 2:-2] = True
    np.testing.assert_array_equal(np.isnan(got), ~inner)
    np.testing.assert_array_equal(got[inner], ndi.median_filter(image, 5)[inner])


@pytest.mark.parametrize(
    ("dtype", "base", "pair", "spread"), [(np.int16, -1000, (6, 7), 40), (np.float32, 100.0, (2.0, 3.0), 0.5)]
)
def test_cuda_median_5_of_uniform_and_narrow_windows(rng, on_cuda_target, dtype, base, pair, spread):
    """Windows of one value, of two values one bit apart, and of values close together, beside
    windows spanning signs: the kernel counts only the bits where a window's keys differ, so these
    take its short paths."""
    image = np.full((3, 5, 17), base, dtype)
    image[:, :, 5:11] = rng.choice(np.array(pair, dtype), (3, 5, 6), p=(0.4, 0.6))
    image[:, :, 11:] += (rng.random((3, 5, 6)) * spread).astype(dtype)
    image[2, 4, 16] = -image[2, 4, 16]
    got = gpuimg.to_numpy(median_filter(on_cuda_target(image), 5, mode="nearest"))
    np.testing.assert_array_equal(got, ndi.median_filter(image, 5, mode="nearest"))


@pytest.mark.parametrize("mode", MODES)
def test_cuda_median_5_on_axes_of_one_and_two_voxels(rng, on_cuda_target, mode):
    """A 5³ window over axes shorter than its radius: the modes extend over several periods."""
    image = awkward_image(rng, (1, 2, 3), np.int16)
    got = gpuimg.to_numpy(median_filter(on_cuda_target(image), 5, mode=mode, cval=-9))
    np.testing.assert_array_equal(got, ndi.median_filter(image, 5, mode=mode, cval=-9))


@pytest.mark.parametrize("dtype", [np.int16, np.float64])
def test_cuda_median_5_on_the_cuda_device(rng, emulated_cuda, dtype):
    """The launch on a device array (CuPy's, or the emulated device's): bit views of the input and
    output, no copy, the result a device array of the input's dtype."""
    image = awkward_image(rng, (3, 5, 6), dtype)
    got = median_filter(emulated_cuda(image), 5, mode="wrap")
    assert type(got) is type(emulated_cuda(image)) and got.dtype == image.dtype
    np.testing.assert_array_equal(gpuimg.to_numpy(got), ndi.median_filter(image, 5, mode="wrap"))


def test_block_and_tile_fit_the_window():
    """The halo tile holds every window of the block's threads, in at most 48 KiB (float64 keys)."""
    block = median_kernel.BLOCK_5
    assert block[0] == 32  # one warp per row: a warp's shared reads at one offset are consecutive
    assert median_kernel._TILE == tuple(side + 4 for side in block[::-1])
    assert median_kernel._TILE_SIZE * 8 <= 48 * 1024
