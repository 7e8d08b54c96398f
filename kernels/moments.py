"""The centre and second moments of a binary mask's voxels (the IBSI morphology's PCA), as NumPy
computes them from ``numpy.nonzero``; the moments of an ROI's values (the IBSI statistics and
intensity histogram), as NumPy's array expressions give them.

:func:`voxel_moments` gives the voxel count, the centre of the voxels [mm] and the sums of products of
their deviations from it (the scatter matrix), summed in NumPy's orders
(:func:`gpuimg.kernels.summation.pairwise_product_sum`), in one pass over the mask and one over its
voxels. :func:`value_moments` gives the sums of the statistics' moments and deviations in one pass
over the values per sum, where NumPy made some twenty calls on arrays of a few hundred values.
:func:`roi_summary` and :func:`mask_box` give the processing chain's counts, extremes and boxes of an
ROI (:mod:`gpuimg.features.chain`) in one pass each, where NumPy made four to fifteen calls.

CPU only: the PCA of :mod:`gpuimg.features.morphology` runs on the host for both devices (the masks
come to the host once, for the convex hull), and on CUDA the statistics and the chain's summaries stay
CuPy's array expressions on the device, so there is no CUDA twin. The drivers run their serial twins
below ``SERIAL_WORK`` voxels or values (:meth:`~gpuimg.kernels.registry.CpuDriver.call`).
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


@cpu_kernel
def _value_moments_cpu(x, ordered, below, weights):
    """The 15 sums of :func:`value_moments`, in the order of :data:`VALUE_MOMENTS`."""
    n = x.size
    out = np.empty(15)
    low, high = x[0], x[0]
    for k in range(1, n):
        low, high = min(low, x[k]), max(high, x[k])
    for q in range(5):  # the percentiles: linear between the neighbours, from the nearer one
        first, second = ordered[below[q]], ordered[min(below[q] + 1, n - 1)]
        step, w = second - first, weights[q]
        out[6 + q] = second - step * (1 - w) if w >= 0.5 else first + step * w
    p10, median, p90 = out[6], out[8], out[10]
    ones = np.ones(n)  # a sum is a pairwise sum of products with 1.0 (exact)
    mean = min(max(pairwise_product_sum(x, ones, n) / n, low), high)
    deviation = np.empty(n)
    for k in numba.prange(n):
        deviation[k] = x[k] - mean
    shift = pairwise_product_sum(deviation, ones, n) / n
    square, cube, term, central = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    n_central = 0
    for k in numba.prange(n):
        deviation[k] -= shift
        square[k] = deviation[k] * deviation[k]
        cube[k] = square[k] * deviation[k]
        term[k] = abs(deviation[k])
        inside = x[k] >= p10 and x[k] <= p90
        central[k] = x[k] if inside else 0.0
        n_central += inside
    out[0], out[4], out[5] = mean, low, high
    out[1] = pairwise_product_sum(square, ones, n) / n
    out[2] = pairwise_product_sum(cube, ones, n) / n
    out[3] = pairwise_product_sum(square, square, n) / n
    out[11] = pairwise_product_sum(term, ones, n) / n
    count = max(n_central, 1)
    central_mean = min(max(pairwise_product_sum(central, ones, n) / count, p10), p90)
    for k in numba.prange(n):  # the central values' deviations, 0 elsewhere
        central[k] = x[k] - central_mean if x[k] >= p10 and x[k] <= p90 else 0.0
    central_shift = pairwise_product_sum(central, ones, n) / count
    for k in numba.prange(n):
        term[k] = abs(central[k] - central_shift) if x[k] >= p10 and x[k] <= p90 else 0.0
    out[12], out[13] = pairwise_product_sum(term, ones, n), n_central
    for k in numba.prange(n):
        term[k] = abs(x[k] - median)
    out[14] = pairwise_product_sum(term, ones, n) / n
    return out


#: The names of :func:`value_moments`' sums, in the order it returns them.
VALUE_MOMENTS = (
    "mean", "m2", "m3", "m4", "min", "max", "p10", "p25", "median", "p75", "p90",
    "mad", "rmad_sum", "n_central", "medad",
)  # fmt: skip


def value_moments(x: np.ndarray, below, weights, ordered: np.ndarray | None = None) -> np.ndarray:
    """The moments, extremes, percentiles and absolute deviations of the values ``x`` that the IBSI
    statistics and intensity histogram share, in the order of :data:`VALUE_MOMENTS`.

    Each as NumPy's array expressions of :func:`gpuimg.features.intensity._moments` give it, to the bit:
    the same operations on each value, each sum in the order of NumPy's pairwise sum of a contiguous
    float64 array (:func:`~gpuimg.kernels.summation.pairwise_product_sum`, times 1.0 exactly), the
    values of a mask (P10 to P90) summed with zeros elsewhere as ``where`` gives them; one call and one
    pass per sum instead of some twenty NumPy calls.

    Parameters
    ----------
    x : 1D float64 C-contiguous NumPy array
        The values, at least one, all finite.
    below : (5,) int64 array
        The index of the lower neighbour of each percentile (10, 25, 50, 75, 90) in the sorted values.
    weights : (5,) float64 array
        Each percentile's position past its lower neighbour, in [0, 1).
    ordered : 1D float64 NumPy array, optional
        ``numpy.sort(x)``, where the caller has it without a sort (the discretised levels, from their
        counts); sorted here by default.

    Returns
    -------
    (15,) float64 array
        The mean (kept between the extremes), the second to fourth central moments (of the deviations
        less their mean), the least and largest value, the five percentiles (linear, interpolated from
        the nearer neighbour), the mean absolute deviation, the sum of the absolute deviations of the
        values from P10 to P90 from their mean and their count, and the mean absolute deviation from
        the median.
    """
    if ordered is None:
        ordered = np.sort(x)  # NumPy's sort: the neighbours as numpy.percentile picks them
    return _value_moments_cpu.call(x.size, x, ordered, below, weights)


@cpu_kernel
def _masked_sums_cpu(values, inside, count, low, high, spacing):
    """The sum, mean and 4 sums of :func:`masked_sums`."""
    nz, ny, nx = values.shape
    plane = ny * nx
    n = nz * plane
    g, dev, ones = np.empty(n), np.empty(n), np.ones(n)
    for z in numba.prange(nz):  # g = where(inside, values, 0), in C order
        for y in range(ny):
            for x in range(nx):
                g[z * plane + y * nx + x] = values[z, y, x] if inside[z, y, x] else 0.0
    out = np.empty(6)
    out[0] = 0.0 + pairwise_product_sum(g, ones, n)
    mean = out[1] = min(max(out[0] / count, low), high)
    for z in numba.prange(nz):  # where(inside, values - mean, 0)
        for y in range(ny):
            for x in range(nx):
                k = z * plane + y * nx + x
                dev[k] = g[k] - mean if inside[z, y, x] else 0.0
    out[2] = 0.0 + pairwise_product_sum(dev, dev, n)
    # g's projections on the axes, each summed as NumPy sums g over the two other axes: a plane's
    # values pairwise; a row's pairwise, the rows added in order; a column's values in order.
    projections = (np.zeros(nz), np.zeros(ny), np.zeros(nx))
    for z in range(nz):
        projections[0][z] = 0.0 + pairwise_product_sum(g[z * plane : (z + 1) * plane], ones, plane)
        for y in range(ny):
            row = g[z * plane + y * nx : z * plane + (y + 1) * nx]
            projections[1][y] += pairwise_product_sum(row, ones, nx)
            for x in range(nx):
                projections[2][x] += row[x]
    for axis in range(3):
        weighted = projections[axis].copy()
        for k in range(weighted.size):
            weighted[k] = weighted[k] * k * spacing[axis]
        out[3 + axis] = 0.0 + pairwise_product_sum(weighted, ones, weighted.size)
    return out


def masked_sums(values: np.ndarray, inside: np.ndarray, count: int, extremes, spacing) -> np.ndarray:
    """The sums of an ROI's intensities that the IBSI morphology's intensity features take: their sum
    and mean, the sum of their squared deviations from the mean, and the sums of the intensity-weighted
    voxel positions along each axis [mm].

    As the array expressions of :mod:`gpuimg.features.morphology` (which CuPy runs on a GPU) give
    them in NumPy, to the bit with NumPy 2.4 on x86_64: ``g = where(inside, values, 0)``,
    ``g.sum()``, the mean ``g.sum() / count`` kept between ``extremes``, ``dev = where(inside, values -
    mean, 0)``, ``(dev * dev).sum()`` and, per axis, ``(g.sum(axis=<the others>) * arange(n) *
    step).sum()``, each sum in NumPy's order (:func:`~gpuimg.kernels.summation.pairwise_product_sum`),
    in one call instead of some twelve NumPy calls on a box of a few thousand voxels.

    Parameters
    ----------
    values : 3D float64 NumPy array
        The image on the ROI's box (a view is taken as it is).
    inside : 3D bool NumPy array of ``values``' shape
        The intensity mask.
    count : int
        The voxels of ``inside``, at least 1.
    extremes : (float, float)
        The least and largest intensity within ``inside``.
    spacing : sequence of 3 float [mm]

    Returns
    -------
    (6,) float64 array
        The sum, the mean (kept between ``extremes``), the sum of squared deviations, and the three
        weighted position sums (z, y, x).
    """
    low, high = extremes
    spacing = np.asarray(spacing, dtype=np.float64)
    return _masked_sums_cpu.call(values.size, values, inside, count, float(low), float(high), spacing)


@cpu_kernel
def _roi_summary_cpu(image, morph, inten, separate):
    """:func:`roi_summary`, in one pass over the box."""
    nz, ny, nx = image.shape
    masks = 2 if separate else 1
    out = np.zeros(5 + masks * (nz + ny + nx))
    kept = undefined = nonfinite = found = 0
    low, high = np.inf, -np.inf
    not_a_number = False
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                value = image[z, y, x]
                bad = not np.isfinite(value)
                nonfinite += bad
                if morph[z, y, x]:
                    kept += 1
                    undefined += bad
                    out[5 + z] = out[5 + nz + y] = out[5 + nz + ny + x] = 1.0
                if inten[z, y, x]:
                    found += 1
                    not_a_number |= value != value
                    low, high = min(low, value), max(high, value)
                    if separate:
                        start = 5 + nz + ny + nx
                        out[start + z] = out[start + nz + y] = out[start + nz + ny + x] = 1.0
    out[0], out[1], out[2] = kept, undefined, nonfinite
    if found:
        out[3], out[4] = (np.nan, np.nan) if not_a_number else (low, high)
    return out


def roi_summary(image: np.ndarray, morph: np.ndarray, inten: np.ndarray) -> np.ndarray:
    """What :func:`gpuimg.features.prepare` reads of an ROI's box, as its NumPy expressions give it.

    Parameters
    ----------
    image : 3D float64 NumPy array
        The image on the ROI's box.
    morph, inten : 3D bool NumPy arrays of ``image``'s shape
        The morphological and intensity masks; ``inten`` may be ``morph`` itself (no
        re-segmentation), whose projections are then given once.

    Returns
    -------
    (5 + k (nz + ny + nx),) float64 array
        The voxels of ``morph``, those of them whose image value is NaN or infinite, the image's NaN or
        infinite voxels; the least and largest value within ``inten`` (0 and 0 for an empty ``inten``,
        NaN where one is NaN, as ``values.min()`` and ``.max()`` of ``image[inten]``); then, for
        ``morph`` and (when another array) ``inten``, whether each index along z, then y, then x holds
        one of its voxels (1.0 or 0.0): ``numpy.any`` over the two other axes.

    Notes
    -----
    One pass over the box, where NumPy made some fifteen calls (``isfinite``, three ``count_nonzero``,
    ``min``, ``max``, four ``any`` per mask, their concatenation): 0.03 ms of a demo ROI.
    """
    return _roi_summary_cpu.call(image.size, image, morph, inten, inten is not morph)


@cpu_kernel
def _mask_box_cpu(mask):
    """:func:`mask_box`: each plane's, then each row's voxels counted by a pass that reduces it
    (vectorised; most planes of a study's mask are empty), then a row's ends found."""
    nz, ny, nx = mask.shape
    box = np.array([nz, -1, ny, -1, nx, -1], dtype=np.int64)
    for z in range(nz):
        plane = mask[z].ravel()  # a view of a C-contiguous mask's plane
        found = 0
        for k in range(plane.size):
            found += plane[k] != 0
        if not found:
            continue
        for y in range(ny):
            row = mask[z, y]
            found = 0
            for x in range(nx):
                found += row[x] != 0
            if found:
                first = 0
                while row[first] == 0:
                    first += 1
                last = nx - 1
                while row[last] == 0:
                    last -= 1
                box[0], box[1] = min(box[0], z), max(box[1], z)
                box[2], box[3] = min(box[2], y), max(box[3], y)
                box[4], box[5] = min(box[4], first), max(box[5], last)
    return box


def mask_box(mask: np.ndarray) -> list[tuple[int, int]] | None:
    """The first and last index of a 3D NumPy mask's voxels (non-zero, NaN included) along each axis,
    or None for an empty mask: :func:`gpuimg.features.chain.roi_box`'s box from one pass over the
    mask, where the projections' four NumPy reductions, their concatenation and search took 0.025 ms of
    a demo study's 32 x 48 x 48 mask (this: 0.012)."""
    box = _mask_box_cpu.call(mask.size, mask)
    if box[1] < 0:
        return None
    return [(int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (int(box[4]), int(box[5]))]
