"""Running a stencil operation on a Dask array, chunk by chunk, with the result of the whole volume."""

from collections.abc import Callable

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
