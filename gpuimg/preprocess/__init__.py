"""Preprocessing on either device: denoising (filters and diffusion), intensity and contrast (windows,
sharpening, histogram equalisation), geometry (resampling, cropping)."""

from ._clahe import clahe
from .contrast import WINDOWS, rescale_intensity, window, zscore
from .denoise import bilateral_filter, gaussian_filter, mean_filter, median_filter
from .diffusion import anisotropic_diffusion, curvature_flow
from .equalize import equalize_hist, match_histogram
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
