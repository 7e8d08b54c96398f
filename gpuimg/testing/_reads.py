"""The device reads CuPy makes inside its own functions, as the emulated CUDA device counts them.

Some CuPy functions size their output, or validate their input, from values on the device: each
such read waits for the device to finish its queued work, as ``float(x)`` does in gpuimg's own code.
:func:`hidden_reads` gives how many reads a call makes for the given arguments, read from CuPy's
source (cupy-cuda13x 14.2; ``.py`` lines in the installed package, ``.pyx`` functions in the
repository cupy/cupy, ``cupy/_core/_routines_indexing.pyx``):

- ``bincount``: ``cupy/_statistics/histogram.py:546`` ``if (x < 0).any()`` always, and ``:560``
  ``int(cupy.max(x))`` when ``x`` is not empty (whatever ``minlength``): 2 reads, 1 for an empty ``x``.
- ``nonzero``, ``flatnonzero``, ``argwhere``, ``where(condition)`` (one argument) and the method
  ``ndarray.nonzero``: ``_sorting/search.py:142, 164, 230, 205`` all go to ``_ndarray_argwhere``
  (``_routines_indexing.pyx``), whose ``int(scan_index[-1])`` sizes the result: 1 read, none for an
  empty array.
- Boolean-mask indexing, ``a[mask]`` and ``a[mask] = v``: ``_getitem_mask_single`` and
  ``_scatter_op_mask_single`` size the selection in ``_prepare_mask_indexing_single`` by
  ``int(mask_scanned[-1])``: 1 read per mask with elements (a host mask is copied to the device first).
- ``unique`` (``axis=None``): ``_manipulation/add_remove.py:363`` ``aux[mask]`` (1), ``:369``
  ``perm[mask]`` with ``return_index`` (1 more), ``:376`` ``cupy.nonzero(mask)`` with
  ``return_counts`` (1 more); none of them for an empty array.
- ``compress``: ``_ndarray_compress`` (``_routines_indexing.pyx``) calls ``_ndarray_nonzero``: 1 read.

Functions gpuimg calls that were checked and read nothing: ``searchsorted`` (``_sorting/search.py:437``),
``sort``, ``lexsort``, ``count_nonzero``, ``percentile`` with a host ``q``
(``_statistics/order.py:336``: ``_quantile_is_valid`` reads only a device ``q``), ``linalg.eigvalsh``
(``linalg/_util.py:118``: reads ``dev_info`` only under ``cupyx.errstate(linalg='raise')``), ``pad``,
the FFTs, ``cupyx.scatter_add`` with integer indices (``_scatter_op_single``).
"""

import numpy as np


def _size(x) -> int:
    return int(np.size(getattr(x, "_buffer", x)))


def _argwhere(a, **_) -> int:
    return 1 if _size(a) else 0


def _bincount(x, **_) -> int:
    return 2 if _size(x) else 1


def _where(condition, x=None, y=None, **_) -> int:
    return _argwhere(condition) if x is None and y is None else 0


def _unique(ar, return_index=False, return_counts=False, axis=None, **_) -> int:
    if axis is not None or not _size(ar):
        return 0
    return 1 + bool(return_index) + bool(return_counts)


def _compress(condition, **_) -> int:
    return _argwhere(condition)


_READS = {
    "bincount": _bincount,
    "nonzero": _argwhere,
    "flatnonzero": _argwhere,
    "argwhere": _argwhere,
    "where": _where,
    "unique": _unique,
    "compress": _compress,
}


def hidden_reads(name: str, arguments: dict) -> int:
    """The reads the real ``cupy.<name>`` makes with ``arguments`` (bound by name)."""
    if not name.startswith("cupy.") or name.count(".") != 1:
        return 0
    count = _READS.get(name[len("cupy.") :])
    return 0 if count is None else count(**arguments)


def mask_reads(key) -> int:
    """The reads of indexing with ``key``: one per boolean array with elements."""
    parts = key if isinstance(key, tuple) else (key,)
    return sum(1 for k in parts if getattr(k, "dtype", None) == np.bool_ and _size(k))


#: ``cupyx.scatter_add``'s accepted dtypes (``_scatter_op_single`` in ``_routines_indexing.pyx``).
SCATTER_ADD_DTYPES = tuple(
    np.dtype(t) for t in (np.int32, np.float16, np.float32, np.float64, np.uint32, np.uint64)
)
