"""Where a grid read from an image lies past the image's outer voxel edges, shared by the resamplers.

:func:`gpuimg.preprocess.resample` onto a ``reference=`` grid (3D) and :func:`gpuimg.io.stitch` with
``resample=True`` (2D, each slice onto the first station's pixels) read an image at continuous indices
``matrix @ r + offset`` of the output indices ``r``. Past the image's outer voxel edges (half a voxel
beyond its outer centres) SimpleITK's resampler gives its default pixel value and a station covers
nothing: both ask :func:`past_the_edges`, with one tolerance, :data:`EDGE_TOL`. Below both
:mod:`gpuimg.io` and :mod:`gpuimg.preprocess`, as :mod:`gpuimg._arrays` is.

Examples
--------
>>> import numpy as np
>>> from gpuimg._regrid import past_the_edges
>>> past_the_edges(np, np.eye(2), (0.0, 0.75), (2, 2), (2, 2), "an example").astype(int).tolist()
[[0, 1], [0, 1]]
"""

import itertools

import numpy as np

from gpuimg._memory import check_allocation

#: A point this far (in image voxels) past the image's outer voxel edge still counts as in it.
EDGE_TOL = 1e-6


def edge_limits(matrix, offset, shape, out_shape) -> tuple | None:
    """The terms of :func:`past_the_edges`' test: ``(matrix, offset, low, high)`` as float64 arrays, an
    index on image axis ``a`` lying past the edges below ``low`` or above ``high[a]``; None where every
    output corner lies within, and with them every output voxel (the map is affine).

    Shared with the CPU kernel of :func:`gpuimg.preprocess.resample` (``reference=``), which makes the same
    comparisons voxel by voxel instead of a mask.
    """
    matrix = np.asarray(matrix, dtype=float)
    offset = np.asarray(offset, dtype=float)
    low = -0.5 - EDGE_TOL
    high = np.asarray(shape, dtype=float) - 0.5 + EDGE_TOL
    corners = np.array(list(itertools.product(*[(0, m - 1) for m in out_shape])), dtype=float)
    reached = matrix @ corners.T + offset[:, None]
    if np.all((reached >= low) & (reached <= high[:, None])):
        return None
    return matrix, offset, low, high


def past_the_edges(xp, matrix, offset, shape, out_shape, what: str):
    """The bool mask of the output voxels whose continuous index lies past the image's outer voxel edges.

    Parameters
    ----------
    xp : module
        NumPy or CuPy: the mask is made on its device.
    matrix : (d, d) array_like and offset : (d,) array_like
        Output index ``r`` (axes in the output's order, the first one the slowest) is read at the
        image's continuous index ``matrix @ r + offset`` [image voxels].
    shape : sequence of d int
        The image's shape.
    out_shape : sequence of d int
        The output's shape.
    what : str
        What is being resampled, for the memory budget's message.

    Returns
    -------
    xp bool array of ``out_shape``, or None
        True where the index lies outside ``[-0.5, n - 0.5]`` by more than :data:`EDGE_TOL` on an axis
        (``n`` that axis's length); None where every output voxel lies within (the corners do: the map
        is affine), so no mask need be made or applied.

    Raises
    ------
    MemoryBudgetError
        Where the mask would exceed the memory budget (checked before it is made).

    Notes
    -----
    Along image axis ``a`` the index is the part over the output's last axes (one array of their
    shape) plus the part along the first axis and the offset (one value per output slice); the two
    are compared, not added into a full-size float array: the full-size arrays are the mask and one
    bool comparison at a time, both checked against the budget.
    """
    limits = edge_limits(matrix, offset, shape, out_shape)
    if limits is None:
        return None
    matrix, offset, low, high = limits
    # The mask and one comparison's bools at a time.
    check_allocation((2, *out_shape), bool, f"{what}: the mask of voxels past the image's edges")
    first, *rest = (xp.arange(m, dtype=np.float64) for m in out_shape)
    # The indices along the output's last axes, each along its own axis of their common shape.
    rest = [index.reshape([-1 if c == b else 1 for c in range(len(rest))]) for b, index in enumerate(rest)]
    across = (slice(None),) + (None,) * len(rest)  # one value per output slice, over the rest
    outside = xp.zeros(tuple(out_shape), dtype=bool)
    for a in range(len(shape)):
        plane = 0.0
        for b, index in enumerate(rest, start=1):
            plane = plane + float(matrix[a, b]) * index
        along = float(matrix[a, 0]) * first + float(offset[a])
        outside |= plane < (low - along)[across]
        outside |= plane > (float(high[a]) - along)[across]
    return outside
