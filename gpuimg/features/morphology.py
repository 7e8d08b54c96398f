"""IBSI morphological features: the ROI's size, shape and the spatial arrangement of its intensities.

One function, :func:`morphology`, computes the 25 features of IBSI 1, section 3.1, that have reference
values (the oriented minimum bounding box and minimum volume enclosing ellipsoid densities have none
and are left out), keyed by their IBSI tags.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import check_gathered, roi_voxels
from gpuimg._memory import check_bytes
from gpuimg.backend import is_dask, namespace, to_numpy
from gpuimg.contours.binary_mesh import cube_measures
from gpuimg.errors import FeatureError
from gpuimg.kernels.hull import convex_hull, hull_candidates_bytes, largest_distance
from gpuimg.kernels.moments import masked_sums, voxel_moments
from gpuimg.volume import Volume

from ._autocorrelation import _pair_sums
from ._scalars import Deferred, report_undefined
from .chain import Roi, check_finite_roi, roi_box

#: Terms ``nu = 0 .. 20`` of the Legendre series of an ellipsoid's area (IBSI 1, section 3.1.20).
_AEE_DEGREE = 20

#: The entries (i, j), i <= j, of a symmetric 3 x 3 matrix in the order of voxel_moments' products.
_UPPER = tuple(itertools.combinations_with_replacement(range(3), 2))


def morphology(
    image: ArrayLike, morph_mask: ArrayLike, intensity_mask: ArrayLike, spacing: Sequence[float]
) -> dict[str, float]:
    """The IBSI morphological features of a region of interest.

    Parameters
    ----------
    image : 3D array (z, y, x), NumPy or CuPy [image units, e.g. HU]
        The image after interpolation: the arrays of a prepared :class:`~gpuimg.features.Roi`,
        not a Volume (for a Volume and its mask, ``extract(volume, mask, families=["morphology"])``
        runs the processing chain and this).
    morph_mask : 3D bool array, the image's shape and device
        The morphological ROI mask: after interpolation, before re-segmentation (IBSI 1, section 2.2).
        A mask of numbers holds its non-zero voxels, NaN not (as for every mask in gpuimg).
        It gives the mesh, the voxel volume, the PCA axes and the geometric centre of mass.
    intensity_mask : 3D bool array, the image's shape and device
        The intensity ROI mask: after re-segmentation. Its voxels give the intensity-weighted centre
        of mass, the integrated intensity, Moran's I and Geary's C.
    spacing : sequence of 3 float [mm]
        Voxel spacing (z, y, x).

    Returns
    -------
    dict of str to float
        Keyed by IBSI tag: ``morph_volume`` and ``morph_vol_approx`` [mm³], ``morph_area_mesh`` [mm²],
        ``morph_av`` [1/mm], ``morph_comp_1``, ``morph_comp_2``, ``morph_sph_dispr``,
        ``morph_sphericity``, ``morph_asphericity``, ``morph_com`` [mm], ``morph_diam`` [mm],
        ``morph_pca_maj_axis``, ``morph_pca_min_axis``, ``morph_pca_least_axis`` [mm],
        ``morph_pca_elongation``, ``morph_pca_flatness``, ``morph_vol_dens_aabb``,
        ``morph_area_dens_aabb``, ``morph_vol_dens_aee``, ``morph_area_dens_aee``,
        ``morph_vol_dens_conv_hull``, ``morph_area_dens_conv_hull``, ``morph_integ_int``
        [image units x mm³], ``morph_moran_i``, ``morph_geary_c``. A feature IBSI leaves undefined for
        this ROI (the PCA ratios of a single voxel, the AEE volume density of a flat ROI and its area
        density of a line, Moran's I of constant intensities, the centre of mass shift of intensities
        summing to 0) is NaN, with a warning. A flat ROI (one slice) keeps its AEE area density: its
        ellipsoid is flat (least semi-axis 0), of finite area by IBSI's series.

    Raises
    ------
    FeatureError
        For arrays that are not 3D or differ in shape or device, a Volume or complex image, a
        spacing that is not 3 positive numbers, an empty morphological or intensity mask, or NaN or
        infinite image values inside the morphological mask (refused as
        :func:`~gpuimg.features.extract` refuses them, before any work: the centre of mass, the
        integrated intensity, Moran's I and Geary's C would be NaN).
    MemoryBudgetError
        If Moran's I and Geary's C over the intensity mask's bounding box (see Notes) would exceed
        the memory budget, or Dask inputs, computed whole, would (checked before they are read).

    Notes
    -----
    - Where it runs: both masks come to the host at once, one byte per voxel with the morphological
      mask's NaN or infinite image voxels (the only read of the device besides the final one); the
      mesh measures, the convex hull and the PCA are computed there from them (their kernels are CPU
      only). The intensity sums, Moran's I and Geary's C
      are reduced on the input's device in float64, and their scalars come to the host once (with
      the other families' results in :func:`~gpuimg.features.extract`).
    - Mesh: marching cubes at level 0.5 on the morphological mask padded with one voxel of zeros, with
      the spacing (scikit-image's Lewiner mesh). Its volume (signed tetrahedra of the faces) and area
      come from :func:`gpuimg.contours.binary_mesh_measures`, one pass over the mask that sums them per
      cube configuration without building the mesh.
    - PCA: eigenvalues ``l1 >= l2 >= l3`` of the covariance (``N - 1`` normalisation, as MIRP) of the
      morphological mask's voxel centres [mm] (their sums in NumPy's order, in one pass:
      :func:`gpuimg.kernels.moments.voxel_moments`); axis lengths ``4 sqrt(l)``, elongation ``sqrt(l2/l1)``,
      flatness ``sqrt(l3/l1)``. The approximate enclosing ellipsoid has semi-axes ``2 sqrt(l)``; its
      area is the Legendre series of IBSI 1, section 3.1.20, to degree 20, evaluated through the
      recurrence of ``(alpha beta)^nu P_nu(x)``, which stays finite for spheroids and spheres. That
      series, with IBSI's ``alpha = sqrt(1 - b²/a²)`` and ``beta = sqrt(1 - c²/a²)``, is exact only for
      a sphere (Legendre's exact series takes ``sqrt(1 - c²/a²)`` and ``sqrt(1 - c²/b²)``: 1.30 instead
      of 1.36 on the digital phantom); it is kept as IBSI defines it, since the reference values
      follow it (as MIRP does).
    - Convex hull: the hull of the mesh vertices, taken as the midpoints of the edges between an
      inside and an outside voxel: the mesh's other vertices (Lewiner's cube centres) are means of
      these, so the hull, the diameter and the bounding box are the mesh's. Of the midpoints on one
      line of the grid (along an axis, a face or a body diagonal) only the two outermost can be
      vertices (:func:`gpuimg.kernels.hull.hull_candidates`; the demo cohort's ROIs: 109 points of
      968); their hull is found in exact integer arithmetic on the grid's half-integer indices
      (:func:`gpuimg.kernels.hull.convex_hull`: its volume within 3e-16 of the exact one, its area
      within 6e-16; ``scipy.spatial.ConvexHull``, Qhull, gives them within 2.5e-15, in six times the
      time, and takes ROIs of more than 2000 candidates, for which it is the faster). The maximum 3D
      diameter is searched over the hull's triangles' corners only (the farthest pair of a point set
      lies on its hull): ``O(h^2)`` for ``h`` of them instead of ``O(V^2)`` over all ``V`` mesh
      vertices.
    - Moran's I and Geary's C: every pair of voxels of the intensity mask, weighted by their inverse
      distance [1/mm], exactly (no sampling, no cut-off distance). On a voxel grid the weight depends
      only on the pair's offset, so the pair sums are correlations with the kernel ``1 / |offset|``,
      done by FFT over the intensity mask's bounding box of ``M`` voxels: ``O(M log M)`` instead of
      ``O(N^2)`` for ``N`` voxels (see :func:`gpuimg.features._autocorrelation._inverse_distance_sums`;
      about 320 bytes of memory per voxel of that box). Equal to the pair sums up to FFT rounding
      (1e-14 relative on the IBSI CT phantom). On the CPU, small ROIs (below about 900 voxels, more in
      a sparse box: 2200 in the demo cohort's) take the pairs one by one instead, where that is faster
      (:func:`gpuimg.kernels.autocorrelation.inverse_distance_pairs`; the same sums up to their
      rounding, within 5e-16 of the sum of the terms' magnitudes, as the FFT's).

    References
    ----------
    A. Zwanenburg, S. Leger, M. Vallières, S. Löck, "Image biomarker standardisation initiative",
    reference manual, arXiv:1612.07003, section 3.1 (Morphological features).

    Examples
    --------
    >>> import numpy as np
    >>> z, y, x = np.mgrid[-12:13, -12:13, -12:13]
    >>> ball = x**2 + y**2 + z**2 <= 10**2
    >>> image = 100.0 - (x**2 + y**2 + z**2)  # brighter towards the centre
    >>> f = morphology(image, ball, ball, (1.0, 1.0, 1.0))
    >>> round(f["morph_sphericity"], 2), round(f["morph_moran_i"], 2)
    (0.91, 0.11)
    """
    return morphology_deferred(image, morph_mask, intensity_mask, spacing).result()


def morphology_deferred(image, morph_mask, intensity_mask, spacing: Sequence[float]) -> Deferred:
    """:func:`morphology` with the intensity sums still on the device (a
    :class:`~gpuimg.features._scalars.Deferred`), so that :func:`gpuimg.features.extract` reads them
    with the other families' results.

    The device is read once here: both masks, packed into one byte per voxel, for the counts, the
    boxes, the mesh, the convex hull and the PCA, which run on the host.
    """
    if any(is_dask(x) for x in (image, morph_mask, intensity_mask)):
        import dask

        check_gathered("morphology", image, morph_mask, intensity_mask)
        # In one pass: masks made from the image (image > t) share its reads, which three passes repeat.
        image, morph_mask, intensity_mask = dask.compute(image, morph_mask, intensity_mask)
    image = _check_image(image)
    ns = namespace(image)
    xp = ns.xp
    spacing = _check_inputs(ns, image, morph_mask, intensity_mask, spacing)
    # A mask of numbers holds its non-zero voxels, NaN left out (gpuimg's one rule); NaN as bool is True.
    morph_device, inten_device = (roi_voxels(xp.asarray(m)) for m in (morph_mask, intensity_mask))
    # The ROI's NaN or infinite image voxels in the same byte: extract's rule, in the one device read.
    undefined = morph_device & ~xp.isfinite(image)
    packed = to_numpy(
        morph_device.view(np.uint8) | (inten_device.view(np.uint8) << 1) | (undefined.view(np.uint8) << 2)
    )
    morph, inten = (packed & 1).view(bool), ((packed >> 1) & 1).view(bool)
    n_morph = int(np.count_nonzero(morph))
    if n_morph == 0:
        raise FeatureError(
            f"the morphological mask of shape {morph.shape} is empty (no voxel is True), so there is no "
            "region to measure. Check the mask's label value and that mask and image are aligned."
        )
    check_finite_roi(int(np.count_nonzero(packed & 4)))
    n_int = int(np.count_nonzero(inten))
    if n_int == 0:
        raise FeatureError(
            f"the intensity mask is empty (none of the {n_morph} voxels of the morphological mask is "
            "left): re-segmentation removed every voxel. Widen the re-segmentation range or check the "
            "image's units."
        )
    # Only the bounding box of the two masks matters: the mesh and the sums run on it.
    box = _bounding_box(packed)
    values = xp.asarray(image[box], dtype=xp.float64)
    inside = inten_device[box]  # the device's own mask, not an upload of the host copy
    extremes = xp.where(inside, values, xp.inf).min(), xp.where(inside, values, -xp.inf).max()
    inten_box = _bounding_box(inten[box])
    return _deferred(values, morph[box], inside, inten_box, extremes, n_morph, n_int, spacing)


def roi_morphology_deferred(roi: Roi) -> Deferred:
    """:func:`morphology_deferred` of a prepared :class:`~gpuimg.features.Roi`, what
    :func:`~gpuimg.features.extract` runs.

    On the morphological mask's box, which holds the intensity mask (re-segmentation only takes voxels
    out), with the boxes, the intensity voxels' count and range that :func:`~gpuimg.features.prepare`
    found (it refused NaN or infinite image voxels in the ROI): the masks are not checked, packed,
    counted or searched for their boxes again. The same features, to the bit, as :func:`morphology` on
    the Roi's arrays. The device is read once here, for the morphological mask's box.
    """
    box = tuple(slice(first, last + 1) for first, last in roi.morph_box)
    morph = to_numpy(roi.morph_mask[box])
    inten_box = tuple(
        slice(first - start, last - start + 1)
        for (first, last), (start, _) in zip(roi.intensity_box, roi.morph_box, strict=True)
    )
    n_morph, n_int = int(np.count_nonzero(morph)), int(roi.values.size)
    image, inside = roi.image[box], roi.intensity_mask[box]
    return _deferred(image, morph, inside, inten_box, roi.value_range, n_morph, n_int, roi.spacing)


def _deferred(values, morph, inside, inten_box, extremes, n_morph: int, n_int: int, spacing) -> Deferred:
    """The features of :func:`morphology` on an ROI's box, its intensity sums still on the device.

    ``values`` (float64) and ``inside`` (the intensity mask) on the input's device, ``morph`` (the
    morphological mask) on the host; ``inten_box``, the slices of the intensity mask's bounding box;
    ``extremes``, its least and largest intensity; the voxels of both masks, at least 1 each.
    """
    xp = namespace(values).xp

    # Mesh (host): volume and area of the level-0.5 surface of the padded mask, without building it;
    # its convex hull and extent from the edge midpoints that can be hull vertices, which span every
    # mesh vertex.
    morph = np.ascontiguousarray(morph)
    volume, area = cube_measures(morph, spacing)
    check_bytes(
        hull_candidates_bytes(morph.shape), f"the convex hull's candidates of a {morph.shape} ROI box"
    )
    points, hull_volume, hull_area, corners, extent = convex_hull(morph.view(np.uint8), spacing)
    diameter = largest_distance(points[corners])

    # Morphological voxel centres [mm] (host): geometric centre of mass and PCA, in one pass (the sums
    # of products each pair once, not a BLAS matrix product, whose order can follow the thread count).
    _, com_geom, products = voxel_moments(morph, spacing)
    dof = max(n_morph - 1, 1)
    # In Python's floats, the lists the eigenvalues' rotations take (the same divisions; 14 -> 10 us
    # with them).
    covariance = [[0.0] * 3 for _ in range(3)]
    for (i, j), product in zip(_UPPER, products.tolist(), strict=True):
        covariance[i][j] = covariance[j][i] = product / dof
    eigen = _symmetric_eigenvalues(covariance)  # least, minor, major

    # Intensities (device): sums over the intensity mask, its intensity-weighted centre, and the
    # spatial autocorrelation sums, without a data-sized selection (which reads the device on CUDA).
    # The mean is kept between the extremes, as the exact mean is: the rounded mean of a constant ROI of
    # 0.1 missed its value by an ulp, and its Moran's I came out 1 instead of undefined.
    if xp is np:  # the same numbers, to the bit, from one kernel call: some 0.03 ms of a demo ROI
        found = masked_sums(values, inside, n_int, extremes, spacing)
        g_sum, g_mean, ss_dev, weighted_pos = found[0], found[1], found[2], found[3:]
    else:
        g = xp.where(inside, values, 0.0)
        g_sum = g.sum()
        g_mean = xp.minimum(xp.maximum(g_sum / n_int, extremes[0]), extremes[1])  # clip(), for half its time
        dev = xp.where(inside, values - g_mean, 0.0)
        ss_dev = (dev * dev).sum()
        weighted_pos = xp.stack(
            [
                (g.sum(axis=tuple(a for a in range(3) if a != axis)) * xp.arange(n) * step).sum()
                for axis, (n, step) in enumerate(zip(g.shape, spacing, strict=True))
            ]
        )  # / sum(g): the intensity-weighted centre
    sums = (
        _pair_sums(values[inten_box], inside[inten_box], g_mean, n_int, spacing) if n_int > 1 else xp.zeros(3)
    )
    device = {"g_sum": g_sum, "ss_dev": ss_dev, "weighted_pos": weighted_pos, "sums": sums}

    def finish(host: dict) -> dict[str, float]:
        hull = (hull_volume, hull_area)
        return _features(host, volume, area, extent, hull, diameter, com_geom, eigen, n_morph, n_int, spacing)

    return Deferred(device, finish)


def _features(host, volume, area, extent, hull, diameter, com_geom, eigen, n_morph, n_int, spacing):
    """The features, from the host's mesh, hull (volume, area) and PCA results and the device's
    intensity sums."""
    g_sum, ss_dev = host["g_sum"], host["ss_dev"]
    g_mean = g_sum / n_int
    least, minor, major = (max(float(v), 0.0) for v in eigen)
    sum_w, sum_moran, sum_geary = (float(v) for v in host["sums"])
    weighted_pos = host["weighted_pos"]
    base = 36.0 * math.pi * volume**2 / area**3  # sphericity cubed
    aabb_volume = float(extent[0] * extent[1] * extent[2])  # numpy.prod's products, in its order
    aabb_area = 2.0 * float(extent[0] * extent[1] + extent[0] * extent[2] + extent[1] * extent[2])
    semi = (2.0 * math.sqrt(major), 2.0 * math.sqrt(minor), 2.0 * math.sqrt(least))
    if g_sum != 0.0:
        shift = com_geom - weighted_pos / g_sum
        com_shift = math.sqrt(shift.dot(shift))  # numpy.linalg.norm's own sum, without its checks (4 us)
    else:
        com_shift = math.nan
        report_undefined(["morph_com"], "the intensities sum to 0: no intensity-weighted centre")
    if major > 0.0:
        elongation, flatness = math.sqrt(minor / major), math.sqrt(least / major)
    else:
        elongation = flatness = math.nan
        report_undefined(["morph_pca_elongation", "morph_pca_flatness"], "a single voxel: no PCA axis")
    # A flat ROI (one slice) has a flat ellipsoid: no volume, but the area IBSI's series gives it.
    if semi[2] > 0.0:
        vol_aee = volume / (4.0 / 3.0 * math.pi * semi[0] * semi[1] * semi[2])
    else:
        vol_aee = math.nan
        report_undefined(
            ["morph_vol_dens_aee"], "a flat ROI: its least PCA axis is 0, an ellipsoid of no volume"
        )
    if semi[1] > 0.0:
        area_aee = area / _ellipsoid_area(*semi)
    else:
        area_aee = math.nan
        report_undefined(
            ["morph_area_dens_aee"], "a line of voxels: its minor PCA axis is 0, an ellipsoid of no area"
        )
    if n_int > 1 and ss_dev > 0.0:
        moran = n_int * sum_moran / (sum_w * ss_dev)
        geary = (n_int - 1) * sum_geary / (2.0 * sum_w * ss_dev)
    else:
        moran = geary = math.nan
        why = "a single intensity voxel" if n_int <= 1 else "constant intensities"
        report_undefined(["morph_moran_i", "morph_geary_c"], why)
    return {
        "morph_volume": volume,
        "morph_vol_approx": n_morph * (spacing[0] * spacing[1] * spacing[2]),  # numpy.prod's order
        "morph_area_mesh": area,
        "morph_av": area / volume,
        "morph_comp_1": volume / (math.sqrt(math.pi) * area**1.5),
        "morph_comp_2": base,
        "morph_sph_dispr": base ** (-1.0 / 3.0),
        "morph_sphericity": base ** (1.0 / 3.0),
        "morph_asphericity": base ** (-1.0 / 3.0) - 1.0,
        "morph_com": com_shift,
        "morph_diam": diameter,
        "morph_pca_maj_axis": 4.0 * math.sqrt(major),
        "morph_pca_min_axis": 4.0 * math.sqrt(minor),
        "morph_pca_least_axis": 4.0 * math.sqrt(least),
        "morph_pca_elongation": elongation,
        "morph_pca_flatness": flatness,
        "morph_vol_dens_aabb": volume / aabb_volume,
        "morph_area_dens_aabb": area / aabb_area,
        "morph_vol_dens_aee": vol_aee,
        "morph_area_dens_aee": area_aee,
        "morph_vol_dens_conv_hull": volume / hull[0],
        "morph_area_dens_conv_hull": area / hull[1],
        "morph_integ_int": volume * g_mean,
        "morph_moran_i": moran,
        "morph_geary_c": geary,
    }


def _ellipsoid_area(a: float, b: float, c: float, degree: int = _AEE_DEGREE) -> float:
    """IBSI's Legendre-series area of the ellipsoid of semi-axes ``a >= b > 0``, ``b >= c >= 0`` [mm²].

    ``A = 4 pi a b sum_nu (alpha beta)^nu / (1 - 4 nu^2) P_nu(x)`` with ``alpha = sqrt(1 - b²/a²)``,
    ``beta = sqrt(1 - c²/a²)`` and ``x = (alpha² + beta²) / (2 alpha beta)``. The products
    ``q_nu = (alpha beta)^nu P_nu(x)`` follow from Bonnet's recurrence multiplied through by
    ``(alpha beta)^(nu + 1)``: ``(nu + 1) q_(nu+1) = (2 nu + 1) s q_nu - nu p² q_(nu-1)`` with
    ``s = (alpha² + beta²) / 2`` and ``p = alpha beta``, finite also where ``alpha beta = 0``.
    As IBSI defines it, not the exact area of a non-spherical ellipsoid (see :func:`morphology`).
    """
    alpha2 = max(1.0 - (b / a) ** 2, 0.0)
    beta2 = max(1.0 - (c / a) ** 2, 0.0)
    s = 0.5 * (alpha2 + beta2)
    p2 = alpha2 * beta2
    q_prev, q = 1.0, s
    total = q_prev + q / (1.0 - 4.0)
    for nu in range(1, degree):
        q_prev, q = q, ((2 * nu + 1) * s * q - nu * p2 * q_prev) / (nu + 1)
        total += q / (1.0 - 4.0 * (nu + 1) ** 2)
    return 4.0 * math.pi * a * b * total


def _symmetric_eigenvalues(matrix: Sequence[Sequence[float]]) -> list[float]:
    """The eigenvalues, ascending, of a symmetric 3 x 3 matrix, by cyclic Jacobi rotations.

    Not LAPACK: ``np.linalg.eigvalsh`` can change in its last digits with the BLAS thread count (seen
    with OpenBLAS 0.3.21; MKL documents it), which a Dask worker sets to 1, so the PCA features would
    depend on where a study ran. Jacobi's rotations give the same bits in every process, each
    eigenvalue to a few ulps of the matrix's largest (Rutishauser's formulation, as in Press et al.,
    Numerical Recipes, 11.1).
    """
    a = [[float(v) for v in row] for row in matrix]
    for _ in range(50):  # quadratic convergence: a 3 x 3 matrix takes about 4 sweeps
        if a[0][1] == a[0][2] == a[1][2] == 0.0:
            break
        for p, q in ((0, 1), (0, 2), (1, 2)):
            apq = a[p][q]
            tiny = 100.0 * abs(apq)
            if abs(a[p][p]) + tiny == abs(a[p][p]) and abs(a[q][q]) + tiny == abs(a[q][q]):
                a[p][q] = a[q][p] = 0.0  # below an ulp of both diagonal entries
                continue
            theta = (a[q][q] - a[p][p]) / (2.0 * apq)
            # theta² = inf leaves t = 0: the rotation is below an ulp of the eigenvalues then.
            t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
            c = 1.0 / math.sqrt(t * t + 1.0)
            s, tau = t * c, t * c / (1.0 + c)
            a[p][p] -= t * apq
            a[q][q] += t * apq
            a[p][q] = a[q][p] = 0.0
            r = 3 - p - q  # the third index
            g, h = a[r][p], a[r][q]
            a[r][p] = a[p][r] = g - s * (h + g * tau)
            a[r][q] = a[q][r] = h + s * (g - h * tau)
    return sorted(a[k][k] for k in range(3))


def _check_image(image):
    """``image`` as an array of real numbers (a nested list becomes a NumPy array); a FeatureError for
    a Volume (whose spacing and chain are :func:`~gpuimg.features.extract`'s) or complex values."""
    if isinstance(image, Volume):
        raise FeatureError(
            "morphology takes the arrays of a prepared Roi (roi.image, roi.morph_mask, "
            "roi.intensity_mask, roi.spacing), not a Volume; for a Volume and its mask use "
            "gpuimg.features.extract(volume, mask, families=['morphology'])."
        )
    if not hasattr(image, "dtype"):
        image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise FeatureError(
            f"the image must hold real numbers; got dtype {image.dtype}. Take its .real or abs() first."
        )
    return image


def _check_inputs(ns, image, morph_mask, intensity_mask, spacing) -> tuple[float, float, float]:
    """Raise FeatureError for arrays that do not match or a bad spacing; return the spacing."""
    shapes = {name: np.shape(a) for name, a in (("image", image), ("morph_mask", morph_mask))}
    shapes["intensity_mask"] = np.shape(intensity_mask)
    if len(shapes["image"]) != 3 or len(set(shapes.values())) != 1:
        raise FeatureError(
            "image, morph_mask and intensity_mask must be 3D arrays (z, y, x) of one shape; got "
            + ", ".join(f"{name} {shape}" for name, shape in shapes.items())
            + ". Resample the masks onto the image's grid first."
        )
    for name, mask in (("morph_mask", morph_mask), ("intensity_mask", intensity_mask)):
        if namespace(mask) is not ns:
            raise FeatureError(
                f"{name} lives on another device than the image ({namespace(mask).device} vs {ns.device}); "
                "move both with gpuimg.to_device first."
            )
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise FeatureError(f"spacing={spacing!r} must be 3 positive numbers (z, y, x) in mm.")
    return values


def _bounding_box(mask) -> tuple[slice, ...]:
    """The slices of the smallest box holding every True voxel of a non-empty mask."""
    return tuple(slice(first, last + 1) for first, last in roi_box(mask))
