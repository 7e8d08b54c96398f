"""gpuimg: medical volume analysis that stays on the GPU, with the same API on the CPU."""

from importlib.metadata import version

from . import backend, edges
from .backend import to_device, to_numpy
from .errors import (
    ConfigError,
    DeviceError,
    DicomError,
    FeatureError,
    GeometryError,
    GpuimgError,
    ParameterError,
)
from .volume import Volume

__version__ = version("gpuimg")

__all__ = [
    "ConfigError",
    "DeviceError",
    "DicomError",
    "FeatureError",
    "GeometryError",
    "GpuimgError",
    "ParameterError",
    "Volume",
    "__version__",
    "backend",
    "edges",
    "to_device",
    "to_numpy",
]
