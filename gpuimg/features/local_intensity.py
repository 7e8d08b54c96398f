"""Local intensity features (IBSI 3.2): the mean intensity in a 1 cm^3 sphere around ROI voxels."""

import numpy as np

from gpuimg.backend import namespace

from ._scalars import host_scalars
from .chain import PEAK_RADIUS_MM, Roi


def local_intensity(roi: Roi) -> dict[str, float]:
    """The local and global intensity peaks (``loc_peak_loc``, ``loc_peak_glob``) [image units].

    Parameters
    ----------
    roi : Roi

    Returns
    -------
    dict of str to float

    Notes
    -----
    The peak at a voxel is the mean intensity of every image voxel (in the ROI or not) whose centre
    lies within ``(3 / 4 pi)^(1/3)`` cm (6.20 mm) of it, in mm with the ROI's spacing. The local
    peak is the highest peak among the intensity mask's voxels of maximum intensity, the global
    peak the highest among all intensity-mask voxels. The mean at every voxel is one spherical
    convolution by FFT on the image's device; voxels past the image's edge are not counted
    (sum and count are convolved alike), so a sphere cut by the edge averages what it holds.
    """
    image = roi.image
    xp = namespace(image).xp
    sphere = _sphere(roi.spacing)
    total = _convolve_same(xp, image, sphere)
    count = _convolve_same(xp, xp.ones(image.shape), sphere)
    peaks = (total / xp.rint(count))[roi.intensity_mask]
    values = roi.values
    hottest = peaks[values == values.max()]
    found = host_scalars({"local": hottest.max(), "global": peaks.max()})
    return {"loc_peak_loc": found["local"], "loc_peak_glob": found["global"]}


def _sphere(spacing) -> np.ndarray:
    """0/1 weights of the voxels whose centres lie within the peak radius of the centre voxel."""
    half = [int(PEAK_RADIUS_MM // s) for s in spacing]
    axes = [np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return (z * z + y * y + x * x <= PEAK_RADIUS_MM**2).astype(np.float64)


def _convolve_same(xp, image, kernel):
    """``image`` convolved with the symmetric ``kernel``, zero outside the image, same shape (by FFT)."""
    full = tuple(n + k - 1 for n, k in zip(image.shape, kernel.shape, strict=True))
    axes = tuple(range(image.ndim))
    spectrum = xp.fft.rfftn(image, full, axes) * xp.fft.rfftn(xp.asarray(kernel), full, axes)
    result = xp.fft.irfftn(spectrum, full, axes)
    start = [k // 2 for k in kernel.shape]
    return result[tuple(slice(s, s + n) for s, n in zip(start, image.shape, strict=True))]
