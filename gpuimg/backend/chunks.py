"""Running an operation in pieces with the result of the whole volume: a stencil on a Dask array, chunk
by chunk, and a separable filter pass by pass (on the CPU one slab per thread)."""

import functools
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .namespaces import namespace


def map_stencil(func: Callable, x, *, depth: int, periodic: bool, dtype) -> object:
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
    depth : int
        The stencil's radius [voxels].
    periodic : bool
        Whether ``func`` wraps around the volume's edges.
    dtype : dtype
        The dtype ``func`` returns.
    """
    meta = namespace(x).xp.empty((0,) * x.ndim, dtype=np.dtype(dtype))
    boundary = "periodic" if periodic else "none"
    return x.map_overlap(func, depth=depth, boundary=boundary, dtype=dtype, meta=meta)


def separable_passes(pass_1d: Callable, image, axes: Sequence[int]):
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

    Returns
    -------
    array
        A new array on the image's device, never ``image`` itself.
    """
    ns = namespace(image)
    threads = numba.get_num_threads() if ns.device == "cpu" else 1
    src = image
    for axis in axes:
        out = ns.xp.empty_like(image)
        split = max((a for a in range(image.ndim) if a != axis), key=lambda a: image.shape[a], default=None)
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
    return src.copy() if src is image else src


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="gpuimg-slab")
