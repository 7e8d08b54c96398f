"""The explicit host round trip of the contour operations that have no GPU implementation yet.

cuCIM has no marching cubes, marching squares or Hough peak finding. On CUDA these operations copy
their input to the host once, run scikit-image there and copy the result back to the input's device;
the first such copy of each operation warns, so that the transfer is never hidden.
"""

import warnings

from gpuimg._arrays import check_gathered
from gpuimg.backend import is_dask, to_numpy

_WARNED: set[str] = set()


def to_host(ns, operation: str, *arrays):
    """``arrays`` as NumPy arrays (None stays None), warning once per operation when they were on a GPU."""
    if ns.device != "cpu" and operation not in _WARNED:
        _WARNED.add(operation)
        warnings.warn(
            f"gpuimg.contours.{operation} has no GPU implementation yet: its input is copied to the "
            "host, processed with scikit-image, and the result copied back to the GPU.",
            stacklevel=3,
        )
    if any(is_dask(a) for a in arrays):
        import dask

        check_gathered(operation, *arrays)
        # In one pass: a mask made from the volume (volume > t) shares its reads, which two passes repeat.
        arrays = dask.compute(*arrays)
    return tuple(None if a is None else to_numpy(a) for a in arrays)
