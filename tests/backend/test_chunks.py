"""gpuimg.backend.chunks: chunked stencils, chunked labels and threaded separable passes equal the
whole-volume result."""

import functools

import numba
import numpy as np
import pytest
import scipy.ndimage as ndi

from gpuimg.backend import label_chunks, map_stencil, separable_passes

da = pytest.importorskip("dask.array")


@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap", "constant"])
@pytest.mark.parametrize("size", [3, 5])
def test_any_scipy_filter_chunked_equals_whole(rng, mode, size):
    image = rng.normal(size=(19, 14, 23))
    stencil = functools.partial(ndi.uniform_filter, size=size, mode=mode, cval=2.5)
    lazy = da.from_array(image, chunks=((4, 2, 13), (14,), (7, 3, 9, 4)))
    got = map_stencil(stencil, lazy, depth=size // 2, periodic=mode == "wrap", dtype=image.dtype)
    np.testing.assert_allclose(got.compute(), stencil(image), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant"])
def test_a_stencil_deeper_than_an_axis_equals_whole(rng, mode):
    # Dask's map_overlap refuses a halo deeper than the axis ("The overlapping depth 12 is larger
    # than your array 3"): a thin slab under a wide Gaussian, or the 3 slices of a small study.
    image = rng.normal(size=(3, 30, 26))
    stencil = functools.partial(ndi.gaussian_filter, sigma=3.0, mode=mode, cval=2.5)
    lazy = da.from_array(image, chunks=(2, 11, 13))
    got = map_stencil(stencil, lazy, depth=(12, 12, 26), periodic=mode == "wrap", dtype=image.dtype)
    np.testing.assert_allclose(got.compute(), stencil(image), rtol=1e-12, atol=1e-12)
    empty = da.zeros((3, 0, 5), chunks=2)
    assert map_stencil(stencil, empty, depth=12, periodic=False, dtype=float).compute().shape == (3, 0, 5)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(9, 31, 17), (1, 40, 3), (64,)])
def test_separable_passes_equal_scipy_exactly(rng, threads, shape):
    """Slabs across another axis keep every filtered line whole: SciPy's own result, bit for bit."""
    image = rng.normal(size=shape).astype(np.float32)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        ours = separable_passes(
            lambda src, axis, out: ndi.gaussian_filter1d(src, 1.5, axis, 0, out, "mirror"),
            image,
            range(image.ndim),
        )
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(ours, ndi.gaussian_filter(image, 1.5, mode="mirror"))
    assert ours is not image


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(
    ("shape", "chunks"),
    [((17, 13, 19), ((4, 2, 11), (13,), (7, 1, 6, 5))), ((23, 29), ((5, 9, 9), (10, 19))), ((6, 6, 6), 2)],
)
def test_label_chunks_equals_scipy_numbering_sizes_and_boxes(rng, rank, shape, chunks):
    """Components of sparse noise cross chunk faces, edges and corners (also diagonally, through the
    2- and 3-rank neighbours): SciPy's labels exactly, numbered as SciPy numbers them."""
    mask = rng.random(shape) > 0.65
    structure = ndi.generate_binary_structure(len(shape), min(rank, len(shape)))
    want, count = ndi.label(mask, structure)
    labels, got_count, sizes, lows, highs, _ = label_chunks(da.from_array(mask, chunks=chunks), structure)
    assert got_count == count >= 1
    np.testing.assert_array_equal(labels.compute(), want)
    np.testing.assert_array_equal(sizes, np.bincount(want.ravel())[1:])
    boxes = ndi.find_objects(want)
    got_boxes = [tuple(map(slice, lo.tolist(), hi.tolist())) for lo, hi in zip(lows, highs, strict=True)]
    assert got_boxes == boxes


def test_label_chunks_joins_a_diagonal_across_a_chunk_corner():
    """Two voxels meeting only at a corner of four chunks: one component with 26-connectivity
    (found only by merging whole planes, not chunk against face neighbour), two with 6."""
    mask = np.zeros((4, 4, 4), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True
    lazy = da.from_array(mask, chunks=2)
    assert label_chunks(lazy, ndi.generate_binary_structure(3, 3))[1] == 1
    assert label_chunks(lazy, ndi.generate_binary_structure(3, 1))[1] == 2


def test_label_chunks_takes_chunks_of_length_zero(rng):
    """Dask admits a chunk of length 0 (chunks=((3, 0, 7), ...)); the chunks on either side of it touch.
    Its faces were taken at index -1 of an empty axis (IndexError: cannot do a non-empty take)."""
    mask = rng.random((10, 9, 8)) > 0.6
    structure = ndi.generate_binary_structure(3, 3)
    want, count = ndi.label(mask, structure)
    lazy = da.from_array(mask, chunks=((3, 0, 7), (4, 5, 0), (0, 8)))
    labels, got_count, sizes, *_ = label_chunks(lazy, structure)
    assert got_count == count
    np.testing.assert_array_equal(labels.compute(), want)
    np.testing.assert_array_equal(sizes, np.bincount(want.ravel())[1:])


def test_label_chunks_with_a_structure_joining_nothing_along_an_axis(rng):
    """Slice-wise labels (a structure of one plane): no pair of labels joins across the chunk faces
    along z, every slice's components are its own. SciPy's labels with the same structure."""
    mask = rng.random((8, 9, 10)) > 0.6
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndi.generate_binary_structure(2, 2)
    want, count = ndi.label(mask, structure)
    found = label_chunks(da.from_array(mask, chunks=3), structure)
    assert found.count == count
    np.testing.assert_array_equal(found.labels.compute(), want)


def test_label_chunks_finds_distinct_face_pairs_without_sorting_rows(rng, monkeypatch):
    """The pairs of labels touching across chunk faces were made distinct by unique(axis=0), which
    sorts the pairs as byte strings: 1.8 s of label_chunks' 4.0 s for a 256x512x512 mask in
    64x256x256 chunks, twice the labelling's time. Now each pair is one int64 and unique takes numbers;
    the labels still SciPy's."""
    unique = np.unique
    axes = []
    monkeypatch.setattr(np, "unique", lambda *a, **k: axes.append(k.get("axis")) or unique(*a, **k))
    mask = rng.random((16, 18, 20)) > 0.75
    structure = ndi.generate_binary_structure(3, 3)
    want, count = ndi.label(mask, structure)
    found = label_chunks(da.from_array(mask, chunks=(5, 6, 7)), structure)
    assert axes and all(axis is None for axis in axes)
    assert found.count == count
    np.testing.assert_array_equal(found.labels.compute(), want)


def test_label_chunks_tasks_carry_a_lookup_table_not_the_summaries(rng):
    """Each task of the lazy labels pickles what its function refers to (a distributed scheduler sends
    it to a worker so): it carried every chunk's summary (first voxel, size, box: about 80 bytes per
    label per chunk), 1.3 MB per task for 9633 components of a 128x512x512 mask in 64 chunks (82 MB
    sent for a 32 MiB mask); now the lookup table (4 bytes per label per chunk) and each chunk's span.
    The labels still SciPy's."""
    cloudpickle = pytest.importorskip("cloudpickle")
    mask = rng.random((32, 64, 64)) > 0.93  # 7%: small components, few of them cut by a chunk face
    structure = ndi.generate_binary_structure(3, 3)
    want, count = ndi.label(mask, structure)
    found = label_chunks(da.from_array(mask, chunks=(16, 32, 32)), structure)
    graph = dict(found.labels.__dask_graph__())
    tasks = [task for key, task in graph.items() if key[0] == found.labels.name]
    assert len(tasks) == 8 and count > 2000  # about 3000
    assert max(len(cloudpickle.dumps(task)) for task in tasks) < 20 * count + 16384
    np.testing.assert_array_equal(found.labels.compute(), want)


def test_label_chunks_of_an_empty_mask():
    mask = da.zeros((5, 6), dtype=bool, chunks=3)
    labels, count, sizes, lows, highs, seeded = label_chunks(mask, np.ones((3, 3), bool), seed=2)
    assert count == 0 and sizes.shape == seeded.shape == (0,) and lows.shape == highs.shape == (0, 2)
    assert not labels.compute().any()


def test_label_chunks_marks_the_components_holding_a_seed(rng):
    """Hysteresis's question (which components of candidates hold a seed), answered across chunks."""
    classes = (rng.random((15, 16, 17)) > 0.6).astype(np.uint8)
    classes[rng.random(classes.shape) > 0.97] = 2
    structure = np.ones((3, 3, 3), bool)
    found = label_chunks(da.from_array(classes, chunks=(4, 7, 5)), structure, seed=2)
    want, count = ndi.label(classes, structure)
    assert found.count == count
    np.testing.assert_array_equal(found.seeded, np.isin(np.arange(1, count + 1), want[classes == 2]))


def test_dask_arrays_of_unknown_chunk_sizes_are_a_parameter_error():
    """Boolean indexing by a Dask array leaves chunk sizes unknown (NaN): label_chunks ended in
    TypeError ('>' between NoneType and int) and map_stencil in a bare AssertionError of Dask's."""
    from gpuimg.errors import ParameterError

    mask = da.from_array(np.ones((8, 6, 6), bool), chunks=3)[da.from_array(np.ones(8, bool), chunks=3)]
    assert np.isnan(mask.shape[0])
    with pytest.raises(ParameterError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        label_chunks(mask, np.ones((3, 3, 3), bool))
    with pytest.raises(ParameterError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        map_stencil(functools.partial(ndi.uniform_filter, size=3), mask, depth=1, periodic=False, dtype=bool)
    known = mask.compute_chunk_sizes()  # what the message asks for: then both work
    assert label_chunks(known, np.ones((3, 3, 3), bool)).count == 1


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
@pytest.mark.parametrize(
    "chunks",
    [(1, 40, 36), (4, 40, 36), (7, 13, 36), ((5, 1, 9, 2, 6, 7), (40,), (11, 25)), 12],
    ids=["slices", "slabs", "bricks", "irregular", "cubes"],
)
def test_label_chunks_whatever_the_chunks_and_the_scheduler(rng, scheduler, chunks):
    """Components of smoothed noise (each across many chunks) and seeds in them: SciPy's labels on
    the whole array, numbered as SciPy numbers them, with its sizes, boxes and seeded components, for
    chunks of single slices and slabs (one chunk per row of chunks: runs of rows summarised at once
    on Dask's threads), bricks, irregular chunks and cubes, on 3 threads and on the synchronous
    scheduler alike."""
    import dask

    smooth = ndi.gaussian_filter(rng.normal(size=(30, 40, 36)), 2.0)
    classes = (smooth > np.percentile(smooth, 80)).astype(np.uint8)  # 10 to 30 components
    classes[(classes == 1) & (rng.random(classes.shape) > 0.995)] = 2
    structure = ndi.generate_binary_structure(3, 3)
    want, count = ndi.label(classes, structure)
    with dask.config.set(scheduler=scheduler, num_workers=3):
        found = label_chunks(da.from_array(classes, chunks=chunks), structure, seed=2)
        labels = found.labels.compute()
    assert found.count == count > 5
    np.testing.assert_array_equal(labels, want)
    np.testing.assert_array_equal(found.sizes, np.bincount(want.ravel())[1:])
    boxes = ndi.find_objects(want)
    np.testing.assert_array_equal(found.lows, [[s.start for s in box] for box in boxes])
    np.testing.assert_array_equal(found.highs, [[s.stop for s in box] for box in boxes])
    np.testing.assert_array_equal(found.seeded, np.isin(np.arange(1, count + 1), want[classes == 2]))


def test_label_chunks_summarises_slab_chunks_in_parallel_within_the_memory_budget(rng, monkeypatch):
    """With slab chunks (one chunk per row of chunks along z, as a CT in chunks of whole slices) each
    chunk's summary was a dask.compute of its own: one task at a time, one core working whatever the
    scheduler's threads. Now a run of rows, a chunk per thread, is summarised at once: the first two
    summaries meet at a barrier on 2 threads (they timed out, one after the other, before). A run
    never holds more chunks than threads, and only one row where the memory budget is less than two
    chunks' mask and labels (1 + 4 bytes a voxel). The labels still SciPy's."""
    import itertools
    import threading

    import dask

    from gpuimg.backend import chunks as chunks_module

    mask = rng.random((24, 16, 16)) > 0.7
    structure = ndi.generate_binary_structure(3, 3)
    want, _ = ndi.label(mask, structure)
    lazy = da.from_array(mask, chunks=(2, 16, 16))  # 12 rows of one chunk of 512 voxels
    summarise, calls, met = chunks_module._chunk_summary, itertools.count(), []
    barrier = threading.Barrier(2, timeout=10)

    def summary(*args):
        if next(calls) < 2:
            try:
                met.append(barrier.wait() >= 0)
            except threading.BrokenBarrierError:
                met.append(False)
        return summarise(*args)

    compute, sizes = dask.compute, []
    monkeypatch.setattr(chunks_module, "_chunk_summary", summary)
    monkeypatch.setattr(dask, "compute", lambda *tasks, **k: sizes.append(len(tasks)) or compute(*tasks, **k))
    with dask.config.set(scheduler="threads", num_workers=2):
        found = label_chunks(lazy, structure)
    assert met == [True, True]
    assert sum(sizes) == 12 and max(sizes) == 2
    np.testing.assert_array_equal(compute(found.labels)[0], want)

    sizes.clear()
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(2 * 512 * (1 + 4) - 1))
    with dask.config.set(scheduler="threads", num_workers=4):
        found = label_chunks(lazy, structure)
    assert sizes == [1] * 12
    np.testing.assert_array_equal(compute(found.labels)[0], want)


def test_label_chunks_hashes_a_face_pair_once_a_run(monkeypatch):
    """Every voxel pair across a chunk face (9 per voxel with 26-connectivity) gave np.unique one
    number, most of them the same pair again along a run of voxels: for a CT in chunks of single
    slices that hashing took a third of label_chunks (0.45 s of 1.5 s, 64 slices of 512 x 512). A pair
    now counts once per run of voxels it touches across. A 20 x 30 x 30 block in chunks of single
    slices, one pair across each of 19 faces: at most one number per shift and face reaches unique
    (before: (30 - |dy|) x (30 - |dx|) for each of the 9 shifts, 88² = 7744). The labels still
    SciPy's."""
    unique, sizes = np.unique, []
    monkeypatch.setattr(np, "unique", lambda a, *r, **k: sizes.append(np.size(a)) or unique(a, *r, **k))
    mask = np.zeros((24, 40, 40), bool)
    mask[2:22, 5:35, 5:35] = True
    mask[10, 38, 38] = True  # a second component, alone in its slice
    structure = ndi.generate_binary_structure(3, 3)
    found = label_chunks(da.from_array(mask, chunks=(1, 40, 40)), structure)
    monkeypatch.setattr(np, "unique", unique)
    assert 0 < max(sizes) <= 9
    np.testing.assert_array_equal(found.labels.compute(), ndi.label(mask, structure)[0])
