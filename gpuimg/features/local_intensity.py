"""Local intensity features (IBSI 3.2): the mean intensity in a 1 cm^3 sphere around ROI voxels."""

import numpy as np

from gpuimg.backend import namespace

from ._fft import convolve, fft_shape, radial_spectrum
from ._scalars import Deferred
from .chain import PEAK_RADIUS_MM, Roi, check_roi


def local_intensity(roi: Roi) -> dict[str, float]:
    """The local and global intensity peaks (``loc_peak_loc``, ``loc_peak_glob``) [image units].

    Parameters
    ----------
    roi : Roi

    Returns
    -------
    dict of str to float

    Raises
    ------
    MemoryBudgetError
        If the convolution would exceed the memory budget: about 40 bytes per point of a grid of
        the ROI's box grown by the sphere's radius, which a fine spacing makes large (micro-CT).

    Notes
    -----
    The peak at a voxel is the mean intensity of every image voxel (in the ROI or not) whose centre
    lies within ``(3 / 4 pi)^(1/3)`` cm (6.20 mm) of it, in mm with the ROI's spacing. The local
    peak is the highest peak among the intensity mask's voxels of maximum intensity, the global
    peak the highest among all intensity-mask voxels. The mean at every voxel is one spherical
    convolution by FFT on the image's device. Voxels past the image's edge are not counted, so a
    sphere cut by the edge averages what it holds; nor are voxels outside the ROI that are NaN or
    infinite (a field of view padded with NaN), as if past the edge. Where the ROI lies within the
    sphere's radius of the (cut) image's edge, or the image holds such voxels, the number of
    voxels in each sphere is convolved too; elsewhere every sphere holds all of its voxels.

    Examples
    --------
    At 2 mm spacing the sphere of 6.20 mm holds 123 voxel centres, so one voxel of 123 in an image of
    zeros has a peak of 1:

    >>> import numpy as np
    >>> from gpuimg.features import local_intensity, prepare
    >>> image = np.zeros((8, 8, 8))
    >>> image[4, 4, 4] = 123.0
    >>> peaks = local_intensity(prepare(image, image > 0, spacing=2.0))
    >>> round(peaks["loc_peak_loc"], 6), round(peaks["loc_peak_glob"], 6)
    (1.0, 1.0)
    """
    return local_intensity_deferred(check_roi(roi, "local_intensity")).result()


def local_intensity_deferred(roi: Roi) -> Deferred:
    """:func:`local_intensity` with its results still on the device (see :class:`Deferred`)."""
    image = roi.image
    ns = namespace(image)
    xp = ns.xp
    # Offsets past n - 1 join no two voxels of an axis of n: a sphere reaching further (a fine spacing, an
    # image thinner than the sphere) needs no larger grid. Such a sphere is cut by the image's edge.
    reach = [min(int(PEAK_RADIUS_MM // s), n - 1) for s, n in zip(roi.spacing, image.shape, strict=True)]
    grid = fft_shape(
        image.shape,
        reach,
        f"The local intensity peaks over the ROI's box of {tuple(image.shape)} voxels at spacing "
        f"{roi.spacing} mm (the 1 cm³ sphere reaching {tuple(reach)} of them: a coarser new_spacing "
        "needs less; or leave out the local_intensity family)",
    )
    sphere = radial_spectrum(ns, grid, roi.spacing, lambda d2: (d2 <= PEAK_RADIUS_MM**2).astype(xp.float64))
    # A NaN or infinity anywhere in the FFT's input would reach every voxel's sum, not only its sphere's.
    finite = xp.isfinite(image) if roi.nonfinite else None
    total = convolve(ns, image if finite is None else xp.where(finite, image, 0.0), sphere, grid)
    if finite is None and all(
        r <= lo and hi + r < n for (lo, hi), r, n in zip(roi.intensity_box, reach, image.shape, strict=True)
    ):
        count = _sphere_size(roi.spacing, reach)
    else:
        held = xp.ones(image.shape) if finite is None else finite.astype(xp.float64)
        # at least 1 (an ROI voxel counts itself): a NaN outside the ROI may have no finite neighbour
        count = xp.maximum(xp.rint(convolve(ns, held, sphere, grid)), 1.0)
    peaks = total / count
    # The ROI's (and its hottest voxels') peaks by where, not picked out by a mask (CuPy would read
    # the device for their number): the same maxima, a maximum being exact in any order.
    hottest = roi.intensity_mask & (image == roi.value_range[1])
    found = {
        "loc_peak_loc": xp.where(hottest, peaks, -xp.inf).max(),
        "loc_peak_glob": xp.where(roi.intensity_mask, peaks, -xp.inf).max(),
    }
    return Deferred(found, dict)


def _sphere_size(spacing, reach) -> int:
    """The number of voxel centres within the peak radius of a voxel's centre, itself included, at
    offsets of at most ``reach`` voxels per axis: the sphere's (0 along an axis of one voxel, where a
    single slice holds only the sphere's disc)."""
    axes = [np.arange(-r, r + 1) * s for s, r in zip(spacing, reach, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    return int(np.count_nonzero(z * z + y * y + x * x <= PEAK_RADIUS_MM**2))
