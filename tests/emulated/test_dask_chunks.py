"""Dask arrays of CUDA chunks (real or emulated device) through the operations that run our kernels
chunk by chunk, computed by Dask's default scheduler, each against SciPy / scikit-image on the
whole volume on the host."""

import dask.array as da
import numpy as np
import scipy.ndimage
import skimage.exposure
import skimage.feature

from gpuimg import edges, preprocess
from gpuimg.backend import to_numpy


def device_chunks(image, put, chunks):
    return da.from_array(put(image), chunks=chunks, asarray=False)


def test_kernels_on_dask_chunks_of_the_device_equal_the_whole_volume_on_the_host(emulated_cuda, rng):
    """The median kernel (with its halo), the equalisation kernels (histograms of the chunks merged on
    the device) and canny (smoothing, classes and hysteresis across chunks) on 2 x 2 chunks, computed
    by Dask's default scheduler. The emulated device failed inside Numba's simulator ("'Thread' object
    has no attribute 'blockIdx'") where Dask's threads launched two kernels at once; it now runs Dask's
    tasks one at a time."""
    volume = rng.normal(100.0, 30.0, (10, 12, 12))
    lazy = device_chunks(volume, emulated_cuda, (5, 12, 6))
    median = to_numpy(preprocess.median_filter(lazy, 3).compute())
    np.testing.assert_array_equal(median, scipy.ndimage.median_filter(volume, 3))  # exact: a voxel's value
    equalized = to_numpy(preprocess.equalize_hist(lazy, 64).compute())
    # NumPy's bins and interpolation in float64 (exact on the CPU); 1e-12 for a GPU's fused multiply-adds.
    np.testing.assert_allclose(equalized, skimage.exposure.equalize_hist(volume, 64), rtol=0, atol=1e-12)
    image = rng.normal(0.0, 1.0, (24, 20)).cumsum(axis=1)
    want = skimage.feature.canny(image, 1.5, 0.5, 1.5)
    found = edges.canny(device_chunks(image, emulated_cuda, (12, 10)), 1.5, 0.5, 1.5).compute()
    assert want.sum() > 30  # about 110 edge pixels in such an image
    np.testing.assert_array_equal(to_numpy(found), want)


def test_label_chunk_summaries_sort_nothing_on_the_device(emulated_cuda, rng):
    """Each chunk's summary (first voxel, size and box of each label) took 1 + 2 x ndim calls of
    cupyx's (or SciPy's) minimum / maximum of voxel positions by label, each an argsort of the chunk's
    voxels: out of core, label took 84-196 s (benchmarks/results/cpu-x86_64-2cores-2026-12-01). Now
    two passes of the label statistics kernel and no sort; the labels, their numbering, sizes and boxes
    are SciPy's on the whole volume (label, bincount, find_objects), for many small components."""
    from gpuimg.backend import label_chunks
    from gpuimg.testing.emulated_cuda import DeviceArray, emulator

    # 7% of voxels, below 26-connectivity's percolation threshold (about 10%): about 80 components
    mask = rng.random((12, 14, 16)) > 0.93
    structure = scipy.ndimage.generate_binary_structure(3, 3)
    lazy = device_chunks(mask, emulated_cuda, (6, 7, 8))
    emulated = isinstance(emulated_cuda(np.zeros(1)), DeviceArray)
    if emulated:
        emulator().calls.clear()
    found = label_chunks(lazy, structure)
    if emulated:
        sorts = ("minimum", "maximum", "median", "sort", "argsort", "unique", "labeled_comprehension")
        assert not [name for name, _ in emulator().calls if name.rsplit(".", 1)[-1] in sorts]
    want, count = scipy.ndimage.label(mask, structure)
    assert found.count == count > 20
    np.testing.assert_array_equal(to_numpy(found.labels.compute()), want)
    np.testing.assert_array_equal(found.sizes, np.bincount(want.ravel())[1:])
    boxes = scipy.ndimage.find_objects(want)
    np.testing.assert_array_equal(found.lows, [[s.start for s in box] for box in boxes])
    np.testing.assert_array_equal(found.highs, [[s.stop for s in box] for box in boxes])


def test_label_chunks_on_the_device_summarises_a_row_at_a_time(emulated_cuda, rng, monkeypatch):
    """Runs of rows, a chunk per thread, keep the host's cores busy (backend.chunks.row_slices); chunks
    on a GPU gain nothing from them (the device runs the threads' kernels one after another) and
    would hold a chunk per host core in device memory, which the host's memory budget does not
    bound: they go a row of chunks per compute, here one slab chunk, on Dask's threads too. The
    labels are SciPy's on the whole volume."""
    import dask

    from gpuimg.backend import label_chunks

    mask = rng.random((12, 14, 16)) > 0.8
    structure = scipy.ndimage.generate_binary_structure(3, 3)
    compute, sizes = dask.compute, []
    monkeypatch.setattr(dask, "compute", lambda *tasks, **k: sizes.append(len(tasks)) or compute(*tasks, **k))
    with dask.config.set(scheduler="threads", num_workers=4):
        found = label_chunks(device_chunks(mask, emulated_cuda, (2, 14, 16)), structure)
    monkeypatch.setattr(dask, "compute", compute)
    assert sizes == [1] * 6
    want, count = scipy.ndimage.label(mask, structure)
    assert found.count == count
    np.testing.assert_array_equal(to_numpy(found.labels.compute()), want)
