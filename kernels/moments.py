"""The centre and second moments of a binary mask's voxels (the IBSI morphology's PCA), as NumPy
computes them from ``numpy.nonzero``.

:func:`voxel_moments` gives the voxel count, the centre of the voxels [mm] and the sums of products of
their deviations from it (the scatter matrix), summed in NumPy's orders
(:func:`gpuimg.kernels.summation.pairwise_product_sum`), in one pass over the mask and one over its
voxels.

CPU only: the PCA of :mod:`gpuimg.features.morphology` runs on the host for both devices (the masks
come to the host once, for the convex hull), so there is no CUDA twin. The driver runs its serial
twin below ``SERIAL_WORK`` voxels (:meth:`~gpuimg.kernels.registry.CpuDriver.call`).
"""

import numba
import numpy as np

from .registry import cpu_kernel
from .summation import pairwise_product_sum


@cpu_kernel
def _voxel_moments_cpu(mask, spacing):
    """The count of ``mask``'s voxels, their centre and the 6 sums of products of their deviations."""
    nz, ny, nx = mask.shape
    starts = np.zeros(nz + 1, dtype=np.int64)  # where each plane's voxels start in C order
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                starts[z + 1] += mask[z, y, x] != 0
    for z in range(nz):
        starts[z + 1] += starts[z]
    n = starts[nz]
    centred = np.empty((3, n))  # the voxels' centres [mm], in C order, as numpy.nonzero lists them
    for z in numba.prange(nz):
        k = starts[z]
        for y in range(ny):
            for x in range(nx):
                if mask[z, y, x] != 0:
                    centred[0, k] = z * spacing[0]
                    centred[1, k] = y * spacing[1]
                    centred[2, k] = x * spacing[2]
                    k += 1
    centre = np.empty(3)
    for axis in range(3):
        total = 0.0  # in order, as NumPy sums the rows of an (n, 3) array along its first axis
        for k in range(n):
            total += centred[axis, k]
        centre[axis] = total / n
        for k in range(n):
            centred[axis, k] -= centre[axis]
    products = np.empty(6)
    m = 0
    for i in range(3):
        for j in range(i, 3):
            products[m] = 0.0 + pairwise_product_sum(centred[i], centred[j], n)
            m += 1
    return n, centre, products


def voxel_moments(mask: np.ndarray, spacing) -> tuple[int, np.ndarray, np.ndarray]:
    """The voxel count of ``mask``, the centre of its voxels [mm] and the sums of products of their
    deviations from it [mm²]: the centre of mass and the scatter matrix of the IBSI PCA.

    NumPy's numbers from ``p = numpy.stack(numpy.nonzero(mask), axis=1) * spacing``: ``centre =
    p.mean(axis=0)`` (each axis summed in order, to the bit), then, with ``d = (p - centre).T``, ``(d[i] *
    d[j]).sum()`` for the upper triangle, summed in the order of NumPy's pairwise sum of a contiguous
    array (to the bit with NumPy 2.4 on x86_64; NumPy 2.0 sums ROIs of tens of thousands of voxels in
    another order, a few ulp apart), in one pass over the mask and one over its voxels (its planes on
    threads from ``SERIAL_WORK`` voxels), without NumPy's eleven calls on arrays of a few hundred values
    (the PCA of a 700-voxel ROI: 43 -> 19 us).

    Parameters
    ----------
    mask : 3D uint8 or bool C-contiguous NumPy array
        Non-zero inside, at least one voxel.
    spacing : sequence of 3 float [mm]

    Returns
    -------
    count : int
    centre : (3,) float64 array [mm]
        In voxel indices times ``spacing`` (z, y, x).
    products : (6,) float64 array [mm²]
        The sums for the axis pairs ``zz, zy, zx, yy, yx, xx``.
    """
    # The planes' passes are parallel loops: serial below SERIAL_WORK voxels (see
    # gpuimg.kernels.hull._doubled_candidates).
    count, centre, products = _voxel_moments_cpu.call(mask.size, mask, np.asarray(spacing, dtype=np.float64))
    return int(count), centre, products
