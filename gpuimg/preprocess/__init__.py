"""Preprocessing on either device: denoising, intensity and contrast (windows, sharpening, histogram
equalisation), geometry (resampling, cropping)."""

from .contrast import WINDOWS, rescale_intensity, window, zscore
from .denoise import (
    anisotropic_diffusion,
    bilateral_filter,
    curvature_flow,
    gaussian_filter,
    mean_filter,
    median_filter,
)
from .equalize import clahe, equalize_hist, match_histogram
from .geometry import crop_to_mask, ibsi_grid, resample, resample_mask
from .sharpen import laplacian_sharpen, unsharp_mask

__all__ = [
    "WINDOWS",
    "anisotropic_diffusion",
    "bilateral_filter",
    "clahe",
    "crop_to_mask",
    "curvature_flow",
    "equalize_hist",
    "gaussian_filter",
    "ibsi_grid",
    "laplacian_sharpen",
    "match_histogram",
    "mean_filter",
    "median_filter",
    "resample",
    "resample_mask",
    "rescale_intensity",
    "unsharp_mask",
    "window",
    "zscore",
]
