"""The IBSI grid interpolation of the processing chain (IBSI 2.4), computed near the ROI only.

:func:`interpolate_box` gives :func:`gpuimg.features.chain.prepare` the image and the morphological
mask on the grid of the new spacing, cut to the ROI's box, with the voxels that interpolating the whole
image would give.
"""

import math

import numpy as np

from gpuimg.preprocess.geometry import ibsi_grid


def interpolate_box(ns, image, roi_in, box, spacing, new_spacing, settings, reach_mm: float):
    """The image and the morphological mask on the IBSI grid of ``new_spacing``, cut to the ROI.

    Only the part of the grid near the ROI is computed: the ROI's box, grown by ``reach_mm`` (the
    local intensity radius) and one old voxel, on the grid that the whole image would get, so the voxels
    equal those of interpolating the whole image (exactly for nearest and linear interpolation;
    for the cubic spline, whose prefilter spans the whole input, the 8 extra voxels read around
    the box bring the difference below 1e-4 of the intensity range). Both keep a region of one
    value at that value exactly, which the rounding of SciPy's sums misses by a few ulps: the
    linear values are kept within their corners' range, the spline is of the image less a level.
    """
    xp = ns.xp
    if settings.new_spacing is None:  # the grid ibsi_grid gives for the same spacing, which is not made
        shape, offset, step = image.shape, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    else:
        shape, offset, step = ibsi_grid(image.shape, spacing, new_spacing)
    pad = 8 if settings.order == 3 else 1
    old_slices, offsets, out_shape = [], [], []
    for axis in range(3):
        reach = reach_mm / spacing[axis] + 1.0  # in old voxels
        first, last = box[axis][0] - reach, box[axis][1] + reach
        j0 = max(0, math.ceil((first - offset[axis]) / step[axis]))
        j1 = min(shape[axis] - 1, math.floor((last - offset[axis]) / step[axis]))
        low = max(0, math.floor(offset[axis] + j0 * step[axis]) - pad)
        high = min(image.shape[axis], math.floor(offset[axis] + j1 * step[axis]) + 2 + pad)
        old_slices.append(slice(low, high))
        offsets.append(offset[axis] + j0 * step[axis] - low)
        out_shape.append(j1 - j0 + 1)
    crop = xp.asarray(image[tuple(old_slices)], dtype=np.float64)
    crop_mask = roi_in(tuple(old_slices))
    if settings.new_spacing is None:
        return crop, crop_mask

    def regrid(array, order, shift=0.0):
        return ns.ndi.affine_transform(
            array,
            xp.asarray(step, dtype=np.float64),  # on the device: cupyx divides the offset by it
            offset=tuple(o + shift for o in offsets),
            output_shape=tuple(out_shape),
            order=order,
            mode="nearest",
            prefilter=order > 1,
        )

    fraction = regrid(crop_mask.astype(np.float64), 1)
    # A new centre exactly halfway between two old slices has fraction 0.5 in exact arithmetic but
    # may get 0.49999999999999994 from its rounded position: 1e-9 of the threshold keeps it in the ROI,
    # as IBSI means. Relative: 1e-9 off a threshold of 1e-12 would take in every voxel (fraction 0).
    in_roi = fraction >= settings.partial_volume * (1.0 - 1e-9)
    if settings.order == 1:
        return _within_corners(ns, regrid(crop, 1), crop, regrid), in_roi
    if settings.order == 3:
        # The spline of (image - level) + level, a level of the ROI: a region of one value stays that
        # value exactly (its spline is zeros), where the prefilter's rounding spread it over a few ulps.
        level = _roi_level(xp, crop, crop_mask)
        return regrid(crop - level, 3) + level, in_roi
    return regrid(crop, 0), in_roi


def _within_corners(ns, linear, crop, regrid):
    """The linearly interpolated ``linear`` kept within the least and largest of each new voxel's
    2 x 2 x 2 old neighbours, as a weighted mean of them is in exact arithmetic.

    The rounding of the weighted sum took a region of one value (2.7) to 2.6999999999999993 ...
    2.700000000000001: a uniform ROI, interpolated, had a variance of 1e-31 and a skewness of 1.3, and
    its 32 fixed bins spread over those ulps (an entropy of 1.3 bits, not 0). Voxels that are NaN stay NaN.
    """
    xp = ns.xp
    # Each old voxel's block (i .. i + 1 along each axis), read at the new centres' lower neighbours
    # (half an old voxel back, to the nearest voxel); at an edge, the edge voxel ('nearest', as regrid).
    low = regrid(ns.ndi.minimum_filter(crop, size=2, mode="nearest", origin=-1), 0, -0.5)
    high = regrid(ns.ndi.maximum_filter(crop, size=2, mode="nearest", origin=-1), 0, -0.5)
    return xp.where(xp.isnan(linear), linear, xp.fmin(xp.fmax(linear, low), high))


def _roi_level(xp, crop, crop_mask):
    """The smallest finite intensity of the ROI in ``crop`` (0 where it has none), on the device."""
    level = xp.where(crop_mask & xp.isfinite(crop), crop, xp.inf).min()
    return xp.where(xp.isfinite(level), level, 0.0)
