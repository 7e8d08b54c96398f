"""Preprocessing on either device: denoising, contrast and intensity, geometry (resampling, cropping)."""

from .contrast import (
    WINDOWS,
    clahe,
    equalize_hist,
    laplacian_sharpen,
    match_histogram,
    rescale_intensity,
    unsharp_mask,
    window,
    zscore,
)
from .denoise import (
    anisotropic_diffusion,
    bilateral_filter,
    curvature_flow,
    gaussian_filter,
    mean_filter,
    median_filter,
)
from .geometry import crop_to_mask, ibsi_grid, resample, resample_mask

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
