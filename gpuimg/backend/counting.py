"""Counting into bins whose number the host knows, without reading the device."""

import numpy as np

from .namespaces import is_cupy


def bincount_fixed(indices, weights=None, *, length: int):
    """``numpy.bincount(indices, weights, minlength=length)`` for indices known to lie in ``[0, length)``.

    ``cupy.bincount`` reads the device twice per call (whether an index is negative, and the largest
    index, which sizes its output whatever ``minlength``): each read waits for the queued work. Here
    the output's length is the caller's, so CUDA arrays are counted without a read.

    Parameters
    ----------
    indices : 1D int array (NumPy or CuPy)
        The bin of each element, each in ``[0, length)`` (not checked: checking would read the device;
        on CUDA an index out of range wraps around modulo ``length``).
    weights : 1D array, same length as ``indices``, optional
        The weight of each element (booleans and integers count as 0.0 and 1.0, ...).
    length : int
        The number of bins.

    Returns
    -------
    int64 array (length,) without ``weights`` (or without indices), float64 array (length,) with
    them; on ``indices``'s device.

    Notes
    -----
    On the CPU, ``numpy.bincount`` itself. On CUDA, ``cupyx.scatter_add`` into zeros: the counts are
    exact (uint64 atomics, then int64); weighted sums are the same float64 values up to the order of
    the additions (atomics in any order), as with ``cupy.bincount``'s own atomics.

    Examples
    --------
    >>> import numpy as np
    >>> bincount_fixed(np.array([0, 2, 2]), length=4)
    array([1, 0, 2, 0])
    >>> bincount_fixed(np.array([0, 2, 2]), np.array([0.5, 1.0, 2.0]), length=3)
    array([0.5, 0. , 3. ])
    """
    if not is_cupy(indices):
        return np.bincount(indices, weights=weights, minlength=length)
    import cupy
    from cupyx import scatter_add

    if weights is None or indices.size == 0:  # NumPy gives int64 for no indices, weights or not
        counts = cupy.zeros(length, dtype=np.uint64)  # scatter_add has no int64 atomics
        scatter_add(counts, indices, 1)
        return counts.astype(np.int64)
    sums = cupy.zeros(length, dtype=np.float64)
    scatter_add(sums, indices, weights.astype(np.float64))
    return sums
