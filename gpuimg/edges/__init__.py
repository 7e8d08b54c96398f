"""Edge detection: image gradients and their magnitude."""

from .gradient import gradient_magnitude, prewitt, scharr, sobel

__all__ = ["gradient_magnitude", "prewitt", "scharr", "sobel"]
