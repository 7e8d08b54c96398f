"""Spatial autocorrelation: the inverse-distance pair sums of Moran's I and Geary's C, pair by pair.

:func:`inverse_distance_pairs` sums, over the pairs of a small ROI's voxels, their inverse distances
and the products of those with the intensities' deviations, which
:mod:`gpuimg.features._autocorrelation` takes by FFT over larger ROIs; each voxel's pairs on its own thread
above ``SERIAL_WORK`` pairs, the serial twin below (:meth:`~gpuimg.kernels.registry.CpuDriver.call`).

CPU only: on CUDA, Moran's and Geary's sums stay on the device, by FFT, whatever the ROI's size, so
there is no CUDA twin.
"""

import math

import numba
import numpy as np

from .registry import cpu_kernel
from .summation import pairwise_product_sum


@numba.njit(fastmath={"reassoc"})
def _later_pairs(table, position, deviation, origin, d_i, first):
    """The sums of voxel ``i``'s pairs with the voxels from ``first`` on: of the weights, of the weights
    times the deviations, and of the weights times the squared differences of deviations.

    ``reassoc`` alone (no other fast-math flag: each product and difference rounded as written) lets
    LLVM split each sum into as many running sums as its vectors have lanes, and read the weights by
    vector gathers: 0.82 -> 0.47 ns a pair on the demo cohort's ROIs (AVX-512). The order of the
    additions is that of the compiled loop, the same on every call of one machine's build.
    """
    sum_w = sum_m = sum_g = 0.0
    # uint64: the offsets' indices are never negative (the table is laid out so), and unsigned ones
    # need no wraparound test, which kept the loop from being vectorised.
    for j in range(np.uint64(first), np.uint64(position.size)):
        w = table[np.uint64(origin - position[j])]
        t = d_i - deviation[j]
        sum_w += w
        sum_m += w * deviation[j]
        sum_g += w * t * t
    return sum_w, sum_m, sum_g


@cpu_kernel
def _inverse_distance_pairs_cpu(values, mask, mean, spacing):
    """Moran's and Geary's pair sums over the unordered pairs of ``mask``'s voxels: each voxel's pairs
    with the voxels after it on its own thread, then summed in order (the same bits for every thread
    count)."""
    nz, ny, nx = mask.shape
    # The inverse distances by signed offset p_i - p_j of a voxel j after i in C order, whose offset
    # along z is 0 or negative: (nz, 2 ny - 1, 2 nx - 1) for z offsets -(nz - 1) .. 0. The index of the
    # offset p_i - p_j is that of p_i less that of p_j, for p = z sz + y sy + x on the table's strides.
    # The squares of opposite offsets are equal (a product of two negatives is that of their
    # magnitudes, exactly): each weight is computed for the offsets along y and x of 0 and more, and
    # written to its four mirrors (a quarter of the roots and divisions).
    sy, sz = 2 * nx - 1, (2 * ny - 1) * (2 * nx - 1)
    table = np.empty(nz * sz)
    for a in numba.prange(nz):
        dz = (a - nz + 1) * spacing[0]
        for b in range(ny - 1, 2 * ny - 1):
            dy = (b - ny + 1) * spacing[1]
            row, mirror = a * sz + b * sy, a * sz + (2 * ny - 2 - b) * sy
            for c in range(nx - 1, 2 * nx - 1):
                dx = (c - nx + 1) * spacing[2]
                squared = 0.0 + dz * dz + dy * dy + dx * dx
                weight = 0.0 if squared == 0.0 else 1.0 / math.sqrt(squared)
                table[row + c] = table[row + 2 * nx - 2 - c] = weight
                table[mirror + c] = table[mirror + 2 * nx - 2 - c] = weight
    n = 0
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                n += mask[z, y, x]
    position = np.empty(n, dtype=np.int64)
    deviation = np.empty(n)
    k = 0
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if mask[z, y, x]:
                    position[k] = z * sz + y * sy + x
                    deviation[k] = values[z, y, x] - mean
                    k += 1
    centre = (nz - 1) * sz + (ny - 1) * sy + nx - 1  # the index of offset 0
    rows = np.zeros((3, n))
    for i in numba.prange(n):
        d_i = deviation[i]
        sum_w, sum_m, sum_g = _later_pairs(table, position, deviation, centre + position[i], d_i, i + 1)
        rows[0, i] = sum_w
        rows[1, i] = d_i * sum_m
        rows[2, i] = sum_g
    ones = np.ones(n)
    sums = np.empty(3)
    for k in range(3):  # each unordered pair stands for two ordered ones
        sums[k] = 2.0 * pairwise_product_sum(rows[k], ones, n)
    return sums


#: The most offsets whose inverse distances :func:`inverse_distance_pairs` should tabulate, ``nz (2 ny - 1)
#: (2 nx - 1)`` for a box of ``nz x ny x nx`` voxels (:func:`pair_offsets`): 512 KiB of them, within
#: the memory budget's unchecked 1 MiB with 48 bytes for each of up to 10^4 voxels.
PAIRS_TABLE = 2**16


def pair_offsets(shape) -> int:
    """The offsets :func:`inverse_distance_pairs` tabulates for a box of ``shape`` ``(nz, ny, nx)``:
    those from a voxel to the voxels after it in C order, ``nz (2 ny - 1) (2 nx - 1)``."""
    nz, ny, nx = (int(s) for s in shape)
    return nz * (2 * ny - 1) * (2 * nx - 1)


def inverse_distance_pairs_bytes(n: int, shape) -> int:
    """The bytes :func:`inverse_distance_pairs` allocates for ``n`` voxels in a box of ``shape``: the
    table of the offsets' inverse distances (8 bytes an offset, :func:`pair_offsets`), and 48 bytes a
    voxel."""
    return 8 * pair_offsets(shape) + 48 * n


def inverse_distance_pairs(values: np.ndarray, mask: np.ndarray, mean: float, spacing) -> np.ndarray:
    """The inverse-distance pair sums of Moran's I and Geary's C, pair by pair.

    Parameters
    ----------
    values : 3D float64 NumPy array [image units]
        The image, best cropped to the mask's bounding box (see Notes).
    mask : 3D bool NumPy array of ``values``' shape
        The intensity mask.
    mean : float [image units]
        The mean of ``values`` over ``mask``.
    spacing : sequence of 3 float [mm]
        Voxel spacing (z, y, x).

    Returns
    -------
    (3,) float64 array
        Over all ordered pairs ``i != j`` of mask voxels, with ``w_ij = 1 / |p_i - p_j|`` [1/mm] and
        ``d_i = g_i - mean``: ``W = sum w_ij``, ``sum w_ij d_i d_j`` and ``sum w_ij (d_i - d_j)^2``,
        the sums :func:`gpuimg.features.morphology` takes by FFT over larger ROIs.

    Notes
    -----
    Each of the ``N (N - 1) / 2`` unordered pairs of the ``N`` mask voxels once, its weight read from
    a table of the box's offsets (``1 / sqrt`` of the squared distance summed over the axes in order:
    each rounded once); each voxel's sums over the voxels after it in as many running sums of each
    kind as the machine's vectors have lanes (the loop vectorised, its weights gathered: see
    ``_later_pairs``), those of all voxels added as NumPy adds an array (pairwise), then doubled
    (exactly). Time about 0.33 ns a pair and 1.5 ns an offset of the table (AVX-512; 0.8 ns a pair
    without vectors), on one thread below ``SERIAL_WORK`` pairs (without the thread pool's start),
    each voxel's on its own thread above (the same bits); memory :func:`inverse_distance_pairs_bytes`,
    the table ``8 nz (2 ny - 1) (2 nx - 1)`` bytes for a box of ``nz x ny x nx``: at most
    :data:`PAIRS_TABLE` offsets is the caller's rule. Rounding: within 5e-16 of the sum of the terms'
    magnitudes from the exact sums of the demo cohort's ROIs (the FFT's: 3e-16), so Moran's sum, whose
    signed terms cancel, to about 1e-14 relative.
    """
    n = int(np.count_nonzero(mask))
    arguments = (values, mask.view(np.uint8), float(mean), np.asarray(spacing, dtype=np.float64))
    return _inverse_distance_pairs_cpu.call(n * (n - 1) // 2, *arguments)
