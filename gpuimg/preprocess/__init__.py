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

__all__ = [
    "WINDOWS",
    "clahe",
    "equalize_hist",
    "laplacian_sharpen",
    "match_histogram",
    "rescale_intensity",
    "unsharp_mask",
    "window",
    "zscore",
]
