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


@cpu_kernel
def _inverse_distance_pairs_cpu(values, mask, mean, spacing):
    """Moran's and Geary's pair sums over the unordered pairs of ``mask``'s voxels: each row's on its own
    thread, then summed in order (the same bits for every thread count)."""
    nz, ny, nx = mask.shape
    # The inverse distances by signed offset, (2 nz - 1, 2 ny - 1, 2 nx - 1): the index of the offset
    # p_i - p_j is that of p_i less that of p_j, for p = z sz + y sy + x on the table's strides.
    sy, sz = 2 * nx - 1, (2 * ny - 1) * (2 * nx - 1)
    table = np.empty((2 * nz - 1) * sz)
    for a in numba.prange(2 * nz - 1):
        dz = (a - nz + 1) * spacing[0]
        for b in range(2 * ny - 1):
            dy = (b - ny + 1) * spacing[1]
            for c in range(2 * nx - 1):
                dx = (c - nx + 1) * spacing[2]
                squared = 0.0 + dz * dz + dy * dy + dx * dx
                table[a * sz + b * sy + c] = 0.0 if squared == 0.0 else 1.0 / math.sqrt(squared)
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
        origin, d_i = centre + position[i], deviation[i]
        # Four running sums of each kind (pairs j, j + 1, j + 2, j + 3), in a fixed order: independent
        # additions, not one chain of them.
        w0 = w1 = w2 = w3 = m0 = m1 = m2 = m3 = g0 = g1 = g2 = g3 = 0.0
        j = i + 1
        while j + 3 < n:
            w = table[origin - position[j]]
            t = d_i - deviation[j]
            w0 += w
            m0 += w * deviation[j]
            g0 += w * t * t
            w = table[origin - position[j + 1]]
            t = d_i - deviation[j + 1]
            w1 += w
            m1 += w * deviation[j + 1]
            g1 += w * t * t
            w = table[origin - position[j + 2]]
            t = d_i - deviation[j + 2]
            w2 += w
            m2 += w * deviation[j + 2]
            g2 += w * t * t
            w = table[origin - position[j + 3]]
            t = d_i - deviation[j + 3]
            w3 += w
            m3 += w * deviation[j + 3]
            g3 += w * t * t
            j += 4
        while j < n:
            w = table[origin - position[j]]
            t = d_i - deviation[j]
            w0 += w
            m0 += w * deviation[j]
            g0 += w * t * t
            j += 1
        rows[0, i] = (w0 + w1) + (w2 + w3)
        rows[1, i] = d_i * ((m0 + m1) + (m2 + m3))
        rows[2, i] = (g0 + g1) + (g2 + g3)
    ones = np.ones(n)
    sums = np.empty(3)
    for k in range(3):  # each unordered pair stands for two ordered ones
        sums[k] = 2.0 * pairwise_product_sum(rows[k], ones, n)
    return sums


#: The most offsets whose inverse distances :func:`inverse_distance_pairs` should tabulate, ``(2 nz - 1)
#: (2 ny - 1) (2 nx - 1)`` for a box of ``nz x ny x nx`` voxels: 512 KiB of them, within the memory
#: budget's unchecked 1 MiB with 48 bytes for each of up to 10^4 voxels.
PAIRS_TABLE = 2**16


def inverse_distance_pairs_bytes(n: int, shape) -> int:
    """The bytes :func:`inverse_distance_pairs` allocates for ``n`` voxels in a box of ``shape``: the
    table of the offsets' inverse distances (8 bytes an offset), and 48 bytes a voxel."""
    return 8 * math.prod(2 * s - 1 for s in shape) + 48 * n


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
    each rounded once); each voxel's sums over the voxels after it in four running sums of each kind,
    those of all voxels added as NumPy adds an array (pairwise), then doubled (exactly). Time about
    1 ns a pair, on one thread below ``SERIAL_WORK`` pairs (without the thread pool's start), each
    voxel's on its own thread above (the same bits); memory
    :func:`inverse_distance_pairs_bytes`, the table ``8 (2 nz - 1) (2 ny - 1) (2 nx - 1)`` bytes for a
    box of ``nz x ny x nx``: at most :data:`PAIRS_TABLE` offsets is the caller's rule. Rounding: within
    2e-15 relative of the exact sums of the demo cohort's ROIs (the FFT's: 5e-16).
    """
    n = int(np.count_nonzero(mask))
    arguments = (values, mask.view(np.uint8), float(mean), np.asarray(spacing, dtype=np.float64))
    return _inverse_distance_pairs_cpu.call(n * (n - 1) // 2, *arguments)
