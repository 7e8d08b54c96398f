"""Preprocessing on either device: contrast and intensity, and geometry (resampling, cropping)."""

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
from .geometry import crop_to_mask, ibsi_grid, resample, resample_mask

__all__ = [
    "WINDOWS",
    "clahe",
    "crop_to_mask",
    "equalize_hist",
    "ibsi_grid",
    "laplacian_sharpen",
    "match_histogram",
    "resample",
    "resample_mask",
    "rescale_intensity",
    "unsharp_mask",
    "window",
    "zscore",
]
