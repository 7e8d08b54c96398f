"""Running an operation in pieces with the result of the whole volume: a stencil on a Dask array, chunk
by chunk, and a separable filter pass by pass (on the CPU one slab per thread)."""

import functools
import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from gpuimg._arrays import check_known_shape

from .namespaces import namespace


def map_stencil(func: Callable, x, *, depth: int | tuple[int, ...], periodic: bool, dtype) -> object:
    """Apply ``func`` (array -> array of the same shape) to the Dask array ``x`` chunk by chunk.

    Each chunk is given ``depth`` voxels of its neighbours on every inner side, so a stencil of
    radius ``depth`` sees what it would see in the whole volume. Chunks at the volume's own edges
    get nothing past them and ``func`` applies its boundary mode there, as it would to the whole
    volume; with ``periodic`` they get the voxels of the opposite edge instead (wrap mode). So the
    result equals ``func`` on the whole volume, whatever the chunks.

    Parameters
    ----------
    func : callable
        The operation on one NumPy or CuPy chunk.
    x : dask.array.Array
    depth : int or tuple of int
        The stencil's radius [voxels], or one per axis.
    periodic : bool
        Whether ``func`` wraps around the volume's edges.
    dtype : dtype
        The dtype ``func`` returns.

    Raises
    ------
    ParameterError
        If ``x`` is a Dask array of unknown chunk sizes (after boolean indexing by a Dask array).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> from gpuimg.backend import map_stencil
    >>> image = np.arange(64.0).reshape(8, 8)
    >>> mean3 = map_stencil(lambda b: ndi.uniform_filter(b, 3), da.from_array(image, chunks=4),
    ...                     depth=1, periodic=False, dtype=float)  # a 3 x 3 mean: radius 1
    >>> mean3.chunks
    ((4, 4), (4, 4))
    >>> np.allclose(mean3.compute(), ndi.uniform_filter(image, 3))  # as on the whole image
    True
    """
    check_known_shape(x)
    meta = namespace(x).xp.empty((0,) * x.ndim, dtype=np.dtype(dtype))
    boundary = "periodic" if periodic else "none"
    depth = (depth,) * x.ndim if isinstance(depth, int | np.integer) else tuple(depth)
    # Dask refuses a halo deeper than the axis; such an axis goes whole into every chunk instead.
    whole = {axis: -1 for axis, (d, n) in enumerate(zip(depth, x.shape, strict=True)) if d >= n}
    if whole:
        x = x.rechunk(whole)
        depth = tuple(0 if axis in whole else d for axis, d in enumerate(depth))
    return x.map_overlap(func, depth=depth, boundary=boundary, dtype=dtype, meta=meta)


def separable_passes(pass_1d: Callable, image, axes: Sequence[int], *, in_place: bool = False):
    """Run ``pass_1d(src, axis, out)`` along each of ``axes`` in turn, each pass on all CPU threads.

    A separable filter of ``scipy.ndimage`` (``gaussian_filter``, ``uniform_filter``) is such a
    sequence of 1D passes, each written to an array of the input's dtype, on one thread. Here each
    pass is split into slabs across another axis, one per Numba thread; every line along ``axis``
    lies whole in one slab, so the result is the single-threaded one exactly. SciPy releases the
    GIL in its 1D filters, so the slabs run at the same time. On a GPU each pass is one call.

    Parameters
    ----------
    pass_1d : callable
        ``pass_1d(src, axis, out)`` filters ``src`` along ``axis`` into ``out`` (a view).
    image : array (NumPy or CuPy)
        In the dtype the passes write (each pass rounds to it, as SciPy's do).
    axes : sequence of int
        The axes filtered, in order; none gives a copy of ``image``.
    in_place : bool
        Filter ``image`` itself, with no volume beside it: on the CPU each pass writes over its input
        (SciPy's 1D filters read a whole line before writing it, as its ``gaussian_filter`` relies
        on); on a GPU, whose filters need an output apart from their input, a slab at a time through
        a buffer of an eighth of the volume.

    Returns
    -------
    array
        A new array on the image's device, never ``image`` itself; ``image`` with ``in_place``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> from gpuimg.backend import separable_passes
    >>> image = np.random.default_rng(0).random((16, 16, 16))
    >>> def mean3(src, axis, out):
    ...     ndi.uniform_filter1d(src, 3, axis=axis, output=out)
    >>> smooth = separable_passes(mean3, image, axes=(0, 1, 2))
    >>> np.array_equal(smooth, ndi.uniform_filter(image, 3))  # SciPy's result, bit for bit
    True
    """
    import numba  # here, not at the top: `import gpuimg` need not pay its 0.3 s

    ns = namespace(image)
    threads = numba.get_num_threads() if ns.device == "cpu" else 1
    src = image
    for axis in axes:
        split = max((a for a in range(image.ndim) if a != axis), key=lambda a: image.shape[a], default=None)
        if in_place and ns.device != "cpu":
            _pass_through_slabs(ns.xp, pass_1d, image, axis, split)
            continue
        out = image if in_place else ns.xp.empty_like(image)
        if split is None or threads < 2 or image.shape[split] < 2 * threads:
            pass_1d(src, axis, out)
        else:
            bounds = np.linspace(0, image.shape[split], threads + 1).astype(int)
            slabs = [
                tuple(slice(lo, hi) if a == split else slice(None) for a in range(image.ndim))
                for lo, hi in itertools.pairwise(bounds)
            ]
            list(_pool(threads).map(lambda slab, s=src, o=out, a=axis: pass_1d(s[slab], a, o[slab]), slabs))
        src = out
    return src.copy() if src is image and not in_place else src


def _pass_through_slabs(xp, pass_1d, volume, axis: int, split: int | None, count: int = 8) -> None:
    """``pass_1d`` along ``axis`` over ``volume`` itself, ``count`` slabs across ``split`` one after
    another, each filtered into a buffer and copied back."""
    if split is None:
        bounds = [slice(None)]
    else:
        ends = np.linspace(0, volume.shape[split], min(count, volume.shape[split]) + 1).astype(int)
        bounds = [slice(lo, hi) for lo, hi in itertools.pairwise(ends)]
    for bound in bounds:
        slab = tuple(bound if a == split else slice(None) for a in range(volume.ndim))
        out = xp.empty(volume[slab].shape, dtype=volume.dtype)
        pass_1d(volume[slab], axis, out)
        volume[slab] = out
        del out  # one buffer alive at a time


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="gpuimg-slab")


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads: new pools
    os.register_at_fork(after_in_child=_pool.cache_clear)


def row_slices(x, bytes_per_voxel: float | None = None) -> list[slice]:
    """The slices of the Dask array ``x`` along its first axis to compute one after another: runs of
    whole rows of chunks, each as long as Dask's threads need and the memory budget allows.

    Dask's scheduler, given a whole chain at once, reads the halo pieces of chunks far ahead of the
    chunks that consume them (the reads have no dependencies, so they are always ready): peak memory
    grew with the volume (a 1 GiB volume in 16 MiB chunks kept about 0.45 GiB more than half of it).
    Computing a run of rows (with the halos it needs from the rows beside it) at a time bounds memory
    by that run and its halos, whatever the volume. A run holds at least one chunk per thread of the
    scheduler, so that every core works also where a row is one chunk (slab chunks, a CT in chunks of
    whole slices), unless its chunks would need more than the memory budget
    (:func:`gpuimg._memory.max_bytes`); a row is never split. Chunks on a GPU go a row at a time
    (the device runs one kernel after another, and its memory is not the host's budget). A chain of
    stencils recomputes the rows next to each run as far as its halos reach (a single stencil or a
    labelling on a store only rereads them).

    Parameters
    ----------
    x : dask.array.Array
    bytes_per_voxel : float, optional
        What computing one voxel of ``x`` holds in memory [bytes]; by default its result and the image
        it is made from (up to 8 bytes, a float64 image).
    """
    bounds = np.concatenate([[0], np.cumsum(x.chunks[0])]).astype(int).tolist()
    return [slice(bounds[run.start], bounds[run.stop]) for run in _row_runs(x, bytes_per_voxel)]


def _row_runs(x, bytes_per_voxel: float | None = None) -> list[range]:
    """The runs of :func:`row_slices`, as ranges of indices of rows of chunks."""
    from gpuimg._memory import max_bytes

    if bytes_per_voxel is None:
        bytes_per_voxel = x.dtype.itemsize + 8
    rows, per_row = len(x.chunks[0]), int(np.prod(x.numblocks[1:], dtype=np.int64))
    # Chunks on a GPU: its kernels queue on one device, whatever the threads launching them, and its
    # memory is not the budget's (the host's): a row at a time, as before.
    wanted = _scheduler_threads() if namespace(x).device == "cpu" else 1
    plane = float(np.prod(x.shape[1:], dtype=np.float64)) * bytes_per_voxel  # a voxel thick
    budget = max_bytes() if wanted > per_row else 0  # a row alone is enough: the budget is not read
    bounds = np.concatenate([[0], np.cumsum(x.chunks[0])]).astype(int).tolist()
    runs, first = [], 0
    for row in range(1, rows + 1):
        full = (row - first) * per_row >= wanted
        if full or row == rows or (bounds[row + 1] - bounds[first]) * plane > budget:
            runs.append(range(first, row))
            first = row
    return runs


def _scheduler_threads() -> int:
    """How many tasks Dask's scheduler runs at once here: 1 for the synchronous one, else its
    ``num_workers`` or the cores this process may use."""
    import dask
    import dask.system

    if dask.config.get("scheduler", None) in ("sync", "synchronous", "single-threaded"):
        return 1
    return int(dask.config.get("num_workers", None) or dask.system.CPU_COUNT)


class ChunkLabels(NamedTuple):
    """What :func:`label_chunks` finds: lazy labels and, per label, its size, box and seed mark."""

    labels: object
    count: int
    sizes: np.ndarray
    lows: np.ndarray
    highs: np.ndarray
    seeded: np.ndarray | None


def label_chunks(mask, structure: np.ndarray, *, seed: int | None = None) -> ChunkLabels:
    """Connected components of the Dask mask ``mask``, merged across its chunks, numbered as
    ``scipy.ndimage.label`` numbers them, with their sizes and boxes, in memory bounded by a few chunks.

    Each chunk is labelled on its own; one pass over the chunks, a run of rows along the first axis
    at a time (:func:`row_slices`: the run's chunks in parallel on Dask's threads, as many rows as the
    memory budget allows), keeps per chunk only small summaries: its label count and per label the
    raster index of its first voxel, its size and its box. Labels that touch across a face (through
    any neighbour of ``structure``, also diagonally across chunk edges and corners) are paired as each
    row is done, from its faces and the last faces of the row before, which are then dropped; the
    pairs are joined as a graph's connected components (SciPy's ``csgraph``), and the components are
    numbered in the order of their first voxel in the whole volume: SciPy's numbering, whatever the
    chunks and the scheduler. The labels themselves stay lazy: each chunk is labelled again and mapped
    through a lookup table when the result is computed, so the volume is never held whole.

    Parameters
    ----------
    mask : dask.array.Array, 2D or 3D
        Foreground where nonzero.
    structure : bool array of shape (3,) * mask.ndim
        The neighbourhood (``scipy.ndimage.generate_binary_structure``).
    seed : int, optional
        A value of ``mask``: which components hold a voxel of that value is found in the same pass
        (``seeded``), as hysteresis needs.

    Returns
    -------
    ChunkLabels
        A named tuple:
    labels : dask.array.Array of int32
        0 for background, 1 to ``count``.
    count : int
    sizes : NumPy int64 array of ``count``
        Voxels of label ``k`` at index ``k - 1``.
    lows, highs : NumPy int64 arrays of shape (count, ndim)
        The first and one-past-last index of each label's box along each axis.
    seeded : NumPy bool array of ``count``, or None without ``seed``
        Whether label ``k`` (at index ``k - 1``) holds a voxel equal to ``seed``.

    Raises
    ------
    ParameterError
        If ``mask`` is a Dask array of unknown chunk sizes (after boolean indexing by a Dask array).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> from gpuimg.backend import label_chunks
    >>> mask = np.zeros((8, 8), bool)
    >>> mask[1:3, 1:7] = True  # 2 x 6 voxels across all four chunks
    >>> mask[5:7, 2:4] = True  # 2 x 2 voxels
    >>> found = label_chunks(da.from_array(mask, chunks=4), ndi.generate_binary_structure(2, 1))
    >>> found.count, found.sizes.tolist(), found.lows.tolist(), found.highs.tolist()
    (2, [12, 4], [[1, 1], [5, 2]], [[3, 7], [7, 4]])
    >>> np.array_equal(found.labels.compute(), ndi.label(mask)[0])
    True
    """
    import dask
    import scipy.sparse
    import scipy.sparse.csgraph

    check_known_shape(mask, "mask")
    structure = np.asarray(structure, dtype=bool)
    # A chunk of length 0 (from slicing or concatenating) has no faces, and the chunks on either side
    # of it touch: leave it out, so that those two are neighbours in the chunk grid.
    if any(0 in c and sum(c) for c in mask.chunks):
        mask = mask.rechunk(tuple(tuple(n for n in c if n) or c for c in mask.chunks))
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64) for c in mask.chunks]
    shifts = (np.array(list(np.ndindex(*(3,) * mask.ndim))) - 1)[structure.ravel()]
    summaries, offsets, edges, by_index, total = [], [], [np.zeros((0, 2), dtype=np.int64)], {}, 0
    blocks = mask.to_delayed()
    # A run of rows of chunks at a time, the run's chunks summarised in parallel (see row_slices): a
    # chunk in flight holds its mask, its int32 labels and what made the mask (up to float64).
    for run in _row_runs(mask, mask.dtype.itemsize + 4 + 8):
        indices = [index for index in np.ndindex(*blocks.shape) if index[0] in run]  # raster order
        tasks = []
        for index in indices:
            start = tuple(int(starts[axis][i]) for axis, i in enumerate(index))
            tasks.append(dask.delayed(_chunk_summary)(blocks[index], structure, start, mask.shape, seed))
        summarised = dict(zip(indices, dask.compute(*tasks), strict=True))
        for row in run:  # the merge, a row at a time
            for index in [index for index in indices if index[0] == row]:
                summary = summarised.pop(index)
                by_index[index] = (summary, total)
                summaries.append(summary)
                offsets.append(total)
                total += summary["count"]
            edges += _join_row(by_index, mask.numblocks, row, shifts, total)
    pairs = np.concatenate(edges)
    graph = scipy.sparse.coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(total + 1, total + 1)
    )
    _, component = scipy.sparse.csgraph.connected_components(graph, directed=False)

    first = np.concatenate(
        [[-1]] + [np.ravel_multi_index(tuple(s["first"].T), mask.shape) for s in summaries]
    )  # the background ranks first
    component_first = np.full(component.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(component_first, component, first)
    rank = np.empty_like(component_first)
    rank[np.argsort(component_first, kind="stable")] = np.arange(len(component_first))
    lut = rank[component].astype(np.int32)  # the background's component ranks 0
    count = len(component_first) - 1

    sizes = np.zeros(count + 1, dtype=np.int64)
    lows = np.full((count + 1, mask.ndim), np.iinfo(np.int64).max)
    highs = np.full((count + 1, mask.ndim), -1, dtype=np.int64)
    seeded = np.zeros(count + 1, dtype=bool)
    for summary, offset in zip(summaries, offsets, strict=True):
        target = lut[offset + 1 : offset + 1 + summary["count"]]
        np.add.at(sizes, target, summary["sizes"])
        np.minimum.at(lows, target, summary["lows"])
        np.maximum.at(highs, target, summary["highs"])
        seeded[lut[offset + summary["seeded"]]] = True

    # Each task of the labels carries what relabel refers to (pickled with it by a distributed
    # scheduler): the lookup table and each chunk's offset and count, not the chunks' summaries.
    spans = {index: (offset, summary["count"]) for index, (summary, offset) in by_index.items()}

    def relabel(block, block_info=None):
        offset, local_count = spans[tuple(block_info[0]["chunk-location"])]
        xp = namespace(block).xp
        local = _label_block(block, structure)
        table = lut[offset : offset + local_count + 1].copy()
        table[0] = 0
        return xp.asarray(table)[local]

    meta = namespace(mask).xp.empty((0,) * mask.ndim, dtype=np.int32)
    labels = mask.map_blocks(relabel, dtype=np.int32, meta=meta)
    return ChunkLabels(
        labels, count, sizes[1:], lows[1:], highs[1:], seeded[1:] if seed is not None else None
    )


def _label_block(block, structure):
    """``scipy.ndimage.label`` (or cupyx's) of one chunk, as int32."""
    ns = namespace(block)
    labels, _ = ns.ndi.label(block, ns.xp.asarray(structure))
    return labels.astype(np.int32, copy=False)


def _chunk_summary(block, structure, start, shape, seed):
    """What the merge needs of one chunk: label count, faces, and per label its first voxel's raster
    index in the whole volume, its size, its box (whole-volume indices) and whether it holds ``seed``.

    Found on the chunk's device; only these summaries are copied to the host, never the chunk's
    labels: per label 2 + 2 x ndim numbers, the seeded labels, and the faces next to another chunk
    (None for a face on the volume's edge: ``start`` and ``shape`` say which).
    """
    from .namespaces import to_numpy

    ns = namespace(block)
    xp = ns.xp
    labels, count = ns.ndi.label(block, xp.asarray(structure))
    labels, count = labels.astype(np.int32, copy=False), int(count)
    seeded = np.zeros(0, dtype=np.int64)
    if seed is not None:
        seeded = to_numpy(xp.unique(labels[block == seed])).astype(np.int64)
    ends = [start[a] + labels.shape[a] for a in range(labels.ndim)]
    wanted = [(a, 0) for a in range(labels.ndim) if start[a] > 0]
    wanted += [(a, labels.shape[a] - 1) for a in range(labels.ndim) if ends[a] < shape[a]]
    faces = {key: xp.take(labels, [key[1]], axis=key[0]) for key in wanted}
    if faces:
        host = to_numpy(xp.concatenate([face.ravel() for face in faces.values()]))
        parts = np.split(host, np.cumsum([face.size for face in faces.values()])[:-1])
        faces = {
            key: part.reshape(face.shape) for (key, face), part in zip(faces.items(), parts, strict=True)
        }
    table = np.zeros((count, 2 + 2 * labels.ndim), dtype=np.int64)
    if count:
        from gpuimg.kernels.labels import label_statistics

        # Two passes of the kernel, no sort (ndimage's minimum and maximum sort the chunk, once per
        # call). Read as one row, a voxel's x is its raster index: the lowest x of a label is its first
        # voxel, and the sizes come with it. Read in its own shape, the labels give the boxes.
        labels = xp.ascontiguousarray(labels)
        sizes, first, _ = label_statistics(labels.reshape(1, 1, -1), count, xp=xp, target=ns.target)
        volume = labels.reshape((1,) * (3 - labels.ndim) + labels.shape)
        _, lows, highs = label_statistics(volume, count, xp=xp, target=ns.target)
        axes = slice(3 - labels.ndim, None)
        columns = [first[1:, 2:], sizes[1:, None], lows[1:, axes], highs[1:, axes]]
        table = to_numpy(xp.concatenate(columns, axis=1))
    ndim, offset = labels.ndim, np.asarray(start, dtype=np.int64)
    return {
        "count": count,
        "first": np.stack(np.unravel_index(table[:, 0], labels.shape), axis=1) + offset,
        "sizes": table[:, 1],
        "lows": table[:, 2 : 2 + ndim] + offset,
        "highs": table[:, 2 + ndim :] + offset + 1,
        "seeded": seeded[seeded > 0],
        "low": [faces.get((a, 0)) for a in range(ndim)],
        "high": [faces.get((a, labels.shape[a] - 1)) for a in range(ndim)],
    }


def _join_row(by_index, numblocks, row, shifts, total) -> list[np.ndarray]:
    """The distinct pairs of whole-volume labels (shape (n, 2)) touching across the faces of the chunks
    in ``row`` (along the first axis) with the row before and with each other, through ``shifts``; then
    the row's faces but its last and the row before's last are dropped from ``by_index``, so that the
    summaries kept grow by a few numbers per label, no more."""
    edges = []
    for axis in range(len(numblocks)):
        for before_row in [row - 1] if axis == 0 else range(numblocks[axis] - 1):
            if before_row < 0:
                continue
            fixed = {} if axis == 0 else {0: row}
            before = _face_plane(by_index, numblocks, axis, before_row, "high", fixed)
            after = _face_plane(by_index, numblocks, axis, before_row + 1, "low", fixed)
            # Each pair as one int64, a * span + b (span² fits for up to 3e9 labels): unique of
            # numbers, about 10x faster than unique(axis=0) of the pairs, which sorts them as bytes.
            span, keys = total + 1, []
            for shift in shifts[shifts[:, axis] == 1]:
                a, b = _shifted_pair(before, after, shift, axis)
                both = (a > 0) & (b > 0)
                pair = a[both] * span + b[both]
                # A pair repeats along each run of voxels it touches across: unique hashes it once a run.
                new = np.ones(pair.size, dtype=bool)
                new[1:] = pair[1:] != pair[:-1]
                keys.append(pair[new])
            if keys:  # none where the structure joins nothing along this axis
                keys = np.unique(np.concatenate(keys))
                edges.append(np.stack(np.divmod(keys, span), axis=1))
    for index, (summary, _) in by_index.items():
        if index[0] == row - 1:
            summary["high"] = None
        elif index[0] == row:
            summary["low"] = None
            summary["high"] = [summary["high"][0]] + [None] * (len(numblocks) - 1)
    return edges


def _face_plane(by_index, numblocks, axis, row, side, fixed):
    """The plane of whole-volume labels on the ``side`` ("low" or "high") face of the chunks in
    ``row`` along ``axis`` (and in the rows ``fixed`` gives along other axes, ``{axis: row}``): the
    chunks' faces, offset to unique labels, laid side by side."""
    others = [[fixed.get(a, row)] if a == axis or a in fixed else range(n) for a, n in enumerate(numblocks)]

    def face(index):
        summary, offset = by_index[index]
        plane = summary[side][axis]
        return np.where(plane > 0, plane.astype(np.int64) + offset, 0)

    grid = np.empty([len(o) for o in others], dtype=object)
    for index in np.ndindex(*grid.shape):
        grid[index] = face(tuple(o[i] for o, i in zip(others, index, strict=True)))
    return np.block(grid.tolist())


def _shifted_pair(before, after, shift, axis):
    """The voxels of the plane ``before`` and of ``after`` that ``shift`` (a neighbour offset with
    +1 along ``axis``) joins."""
    a_index, b_index = [], []
    for k, step in enumerate(shift):
        if k == axis or step == 0:
            a_index.append(slice(None))
            b_index.append(slice(None))
        elif step == 1:
            a_index.append(slice(None, -1))
            b_index.append(slice(1, None))
        else:
            a_index.append(slice(1, None))
            b_index.append(slice(None, -1))
    return before[tuple(a_index)], after[tuple(b_index)]
