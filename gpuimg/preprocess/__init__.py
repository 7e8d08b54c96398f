"""Preprocessing: denoising filters, array to array on the same device."""

from .denoise import gaussian_filter, mean_filter, median_filter

__all__ = ["gaussian_filter", "mean_filter", "median_filter"]
