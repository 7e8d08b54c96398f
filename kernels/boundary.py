"""Boundary handling shared by every stencil kernel, on both targets.

A stencil of radius one reads the neighbours ``i - 1`` and ``i + 1`` of each voxel; at the edge of the
volume these fall outside and the boundary mode says which voxel stands in for them. The modes and
their numbers are SciPy's (``scipy.ndimage``), so a kernel that uses these helpers equals SciPy's
filter with the same ``mode`` and ``cval``.

The helpers are ``numba.njit(inline="always")`` functions: the CPU loops inline them, and CUDA kernels
call them too (Numba compiles a ``jit`` function for the CUDA target when a kernel calls it), so the
per-voxel arithmetic is written once.
"""

import numba

REFLECT = 0
NEAREST = 1
MIRROR = 2
WRAP = 3
CONSTANT = 4

#: SciPy's mode names (and its ``grid-`` aliases) to the kernels' mode numbers.
MODES = {
    "reflect": REFLECT,
    "grid-mirror": REFLECT,
    "nearest": NEAREST,
    "mirror": MIRROR,
    "wrap": WRAP,
    "grid-wrap": WRAP,
    "constant": CONSTANT,
    "grid-constant": CONSTANT,
}


@numba.njit(inline="always")
def neighbour(i, n, mode):
    """Index standing in for ``i`` (one step outside ``[0, n)`` at most); -1 means "use cval".

    Only constant mode returns -1; every other mode gives an index inside ``[0, n)``.
    """
    if i < 0:
        if mode == WRAP:
            return n - 1
        if mode == MIRROR:
            return min(1, n - 1)
        if mode == CONSTANT:
            return -1
        return 0
    if i >= n:
        if mode == WRAP:
            return 0
        if mode == MIRROR:
            return max(n - 2, 0)
        if mode == CONSTANT:
            return -1
        return n - 1
    return i
