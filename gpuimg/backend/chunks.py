"""Running a stencil operation on a Dask array, chunk by chunk, with the result of the whole volume."""

from collections.abc import Callable

import numpy as np

from .namespace import namespace


def map_stencil(func: Callable, x, *, depth: int, pad_mode: str, cval: float, dtype) -> object:
    """Apply ``func`` (array -> array of the same shape) to the Dask array ``x`` chunk by chunk.

    Each chunk is given ``depth`` voxels of its neighbours on every side, so a stencil of radius
    ``depth`` sees what it would see in the whole volume. At the volume's own edges the array is first
    extended the way the stencil's boundary mode reads past them, so the result equals ``func`` on
    the whole volume for every mode, whatever the chunks.

    Parameters
    ----------
    func : callable
        The operation on one NumPy or CuPy chunk.
    x : dask.array.Array
    depth : int
        The stencil's radius [voxels].
    pad_mode : str
        The ``numpy.pad`` mode equivalent to the stencil's boundary mode (SciPy's "reflect" is
        NumPy's "symmetric", "nearest" is "edge", "mirror" is "reflect", "wrap" is "wrap").
    cval : float
        The value outside the volume in "constant" mode.
    dtype : dtype
        The dtype ``func`` returns.
    """
    import dask.array as da

    extra = {"constant_values": cval} if pad_mode == "constant" else {}
    padded = da.pad(x, depth, mode=pad_mode, **extra)
    meta = namespace(x).xp.empty((0,) * x.ndim, dtype=np.dtype(dtype))
    out = padded.map_overlap(func, depth=depth, boundary="none", dtype=dtype, meta=meta)
    return out[(slice(depth, -depth),) * x.ndim]
