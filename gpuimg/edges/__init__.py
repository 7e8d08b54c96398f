"""Edge detection: image gradients, their direction, Gaussian derivatives, the Laplacian and Canny."""

from .canny import canny
from .derivatives import gaussian_gradient_magnitude, gradient_direction, laplace, log
from .gradient import gradient_magnitude, prewitt, scharr, sobel

__all__ = [
    "canny",
    "gaussian_gradient_magnitude",
    "gradient_direction",
    "gradient_magnitude",
    "laplace",
    "log",
    "prewitt",
    "scharr",
    "sobel",
]
