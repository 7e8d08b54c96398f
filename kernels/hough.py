"""Hough accumulators for straight lines and circles, voted by the edge pixels of a 2D image.

Both transforms give ``skimage.transform.hough_line`` / ``hough_circle`` exactly: the same bins and
the same votes. The caller lists the edge pixels (``nonzero``) and the shapes voted (the angles'
cosines and sines, or each radius's circle perimeter offsets); these kernels only vote.

- Lines: edge pixel ``(row, col)`` votes, at angle ``j``, for the distance bin
  ``round(cos[j] * col + sin[j] * row) + offset``, rounded half away from zero as scikit-image does,
  with the products read from tables (see :func:`line_bin`).
  The accumulator is written transposed, ``(angle, distance)``, so that the CPU target's threads
  (one per angle, no atomics) each own one contiguous row.
- Circles: edge pixel ``(row, col)`` adds ``weight[k]`` at ``(row + dr, col + dc)`` for every offset
  of radius ``k``'s perimeter that lands inside the accumulator. The CPU target's threads each own
  one radius's plane; for one radius every vote adds the same weight, so the sum of ``n`` votes is
  ``n`` repeated additions of that weight whatever their order, equal to scikit-image's bit for bit
  on both targets.

The CUDA targets run one thread per (edge pixel, angle) or (edge pixel, perimeter offset, radius)
and add with atomics. Work: edge pixels x angles (or perimeter offsets summed over the radii) votes,
each one read-modify-write of 8 bytes in an accumulator that stays in cache for small images; the
floor is the vote count times the cost of one cached increment (about 1 ns on one CPU core), the
accumulator's own zeroing (8 bytes per cell) is negligible beside it.
"""

import numba
import numpy as np

from .registry import cpu_kernel, cuda, cuda_kernel, launch_3d


@numba.njit(inline="always")
def line_bin(cos_col, sin_row, offset):
    """Distance bin ``round(cos * col + sin * row) + offset`` from the two products, rounded half away
    from zero (scikit-image's ``round``).

    The products come precomputed (tables ``cos[j] * col`` and ``sin[j] * row``): scikit-image's C
    rounds each product before the addition, and NVVM would contract a multiply and an add into
    one fused multiply-add, moving a pixel within rounding of a half bin into the next bin.
    """
    r = cos_col + sin_row
    if r > 0:
        return int(r + 0.5) + offset
    return int(r - 0.5) + offset


@numba.njit(inline="always")
def circle_cell(row, col, dr, dc, n_rows, n_cols):
    """Accumulator cell ``(row + dr, col + dc)`` of a circle vote, and whether it lies inside."""
    r = row + dr
    c = col + dc
    return r, c, 0 <= r < n_rows and 0 <= c < n_cols


@cpu_kernel
def _lines_cpu(rows, cols, cos_cols, sin_rows, offset, accum_t):
    for j in numba.prange(cos_cols.shape[0]):
        for i in range(rows.size):
            accum_t[j, line_bin(cos_cols[j, cols[i]], sin_rows[j, rows[i]], offset)] += 1


@cuda_kernel("void(int64[::1], int64[::1], float64[:, ::1], float64[:, ::1], int64, uint64[:, ::1])")
def _lines_cuda(rows, cols, cos_cols, sin_rows, offset, accum_t):
    i, j, z = cuda.grid(3)
    if z == 0 and i < rows.size and j < cos_cols.shape[0]:
        b = line_bin(cos_cols[j, cols[i]], sin_rows[j, rows[i]], offset)
        cuda.atomic.add(accum_t, (j, b), numba.uint64(1))


@cpu_kernel
def _circles_cpu(rows, cols, d_rows, d_cols, counts, weights, accum):
    n_rows, n_cols = accum.shape[1], accum.shape[2]
    # Threads take contiguous runs of the radii; in the order smallest, largest, next smallest, ...
    # each run holds about as many votes as the others.
    order = np.argsort(counts)
    for t in numba.prange(counts.size):
        k = order[t // 2] if t % 2 == 0 else order[counts.size - 1 - t // 2]
        w = weights[k]
        # Pixel outside, perimeter inside: each pixel's votes land within one circle's rows.
        for i in range(rows.size):
            for p in range(counts[k]):
                r, c, inside = circle_cell(rows[i], cols[i], d_rows[k, p], d_cols[k, p], n_rows, n_cols)
                if inside:
                    accum[k, r, c] += w


@cuda_kernel(
    "void(int64[::1], int64[::1], int64[:, ::1], int64[:, ::1], int64[::1], float64[::1], float64[:, :, ::1])"
)
def _circles_cuda(rows, cols, d_rows, d_cols, counts, weights, accum):
    i, p, k = cuda.grid(3)
    if i < rows.size and k < counts.size and p < counts[k]:
        r, c, inside = circle_cell(
            rows[i], cols[i], d_rows[k, p], d_cols[k, p], accum.shape[1], accum.shape[2]
        )
        if inside:
            cuda.atomic.add(accum, (k, r, c), weights[k])


def hough_lines(rows, cols, cos_cols, sin_rows, offset, accum_t, *, target):
    """Add the line votes of the edge pixels ``(rows, cols)`` to ``accum_t``.

    Parameters
    ----------
    rows, cols : 1D int64 arrays
        The edge pixels' coordinates.
    cos_cols, sin_rows : (angles, columns) and (angles, rows) float64 arrays
        ``cos[j] * col`` for every column and ``sin[j] * row`` for every row of the image.
    offset : int
        Bin of distance 0.
    accum_t : (angles, distances) uint64 C-contiguous array
        The transposed accumulator, zeroed by the caller.
    target : {"cpu", "cuda"}
    """
    if target == "cuda":
        shape = (1, cos_cols.shape[0], rows.size)
        launch_3d(_lines_cuda, shape, rows, cols, cos_cols, sin_rows, offset, accum_t)
    else:
        _lines_cpu(rows, cols, cos_cols, sin_rows, offset, accum_t)


def hough_circles(rows, cols, d_rows, d_cols, counts, weights, accum, *, target):
    """Add the circle votes of the edge pixels ``(rows, cols)`` to ``accum``.

    Parameters
    ----------
    rows, cols : 1D int64 arrays
        The edge pixels' coordinates in the accumulator's frame.
    d_rows, d_cols : (radii, max perimeter) int64 arrays
        Each radius's perimeter offsets, ``counts[k]`` of them used in row ``k``.
    counts : 1D int64 array
    weights : 1D float64 array
        The vote of each radius.
    accum : (radii, rows, cols) float64 C-contiguous array, zeroed by the caller
    target : {"cpu", "cuda"}
    """
    if target == "cuda":
        shape = (counts.size, d_rows.shape[1], rows.size)
        launch_3d(_circles_cuda, shape, rows, cols, d_rows, d_cols, counts, weights, accum)
    else:
        _circles_cpu(rows, cols, d_rows, d_cols, counts, weights, accum)
