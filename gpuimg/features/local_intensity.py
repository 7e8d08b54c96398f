"""Local intensity features (IBSI 3.2): the mean intensity in a 1 cm^3 sphere around ROI voxels."""

from gpuimg.backend import namespace

from ._fft import convolve, fft_shape, radial_spectrum
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
    reach = [int(PEAK_RADIUS_MM // s) for s in roi.spacing]
    grid = fft_shape(image.shape, reach)
    sphere = radial_spectrum(xp, grid, roi.spacing, lambda d2: (d2 <= PEAK_RADIUS_MM**2).astype(xp.float64))
    total = convolve(xp, image, sphere, grid)
    count = convolve(xp, xp.ones(image.shape), sphere, grid)
    peaks = (total / xp.rint(count))[roi.intensity_mask]
    values = roi.values
    hottest = peaks[values == values.max()]
    found = host_scalars({"local": hottest.max(), "global": peaks.max()})
    return {"loc_peak_loc": found["local"], "loc_peak_glob": found["global"]}
