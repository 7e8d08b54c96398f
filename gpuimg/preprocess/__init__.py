"""Preprocessing: denoising filters, array to array on the same device."""

from .denoise import (
    anisotropic_diffusion,
    bilateral_filter,
    curvature_flow,
    gaussian_filter,
    mean_filter,
    median_filter,
)

__all__ = [
    "anisotropic_diffusion",
    "bilateral_filter",
    "curvature_flow",
    "gaussian_filter",
    "mean_filter",
    "median_filter",
]
