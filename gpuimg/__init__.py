"""gpuimg: medical volume analysis that stays on the GPU, with the same API on the CPU."""

from importlib.metadata import version

from . import backend, contours, datasets, edges, features, io, ml, morphology, preprocess
from .backend import to_device, to_numpy
from .errors import (
    ConfigError,
    DeviceError,
    DicomError,
    FeatureError,
    FeatureWarning,
    GeometryError,
    GpuimgError,
    ImageFileError,
    MemoryBudgetError,
    NotFittedError,
    ParameterError,
    WriteError,
)
from .io import SeriesInfo, list_series, read_dicom, read_image, stitch, write_dicom, write_image
from .volume import Volume

__version__ = version("gpuimg")

__all__ = [
    "ConfigError",
    "DeviceError",
    "DicomError",
    "FeatureError",
    "FeatureWarning",
    "GeometryError",
    "GpuimgError",
    "ImageFileError",
    "MemoryBudgetError",
    "NotFittedError",
    "ParameterError",
    "SeriesInfo",
    "Volume",
    "WriteError",
    "__version__",
    "backend",
    "contours",
    "datasets",
    "edges",
    "features",
    "io",
    "list_series",
    "ml",
    "morphology",
    "preprocess",
    "read_dicom",
    "read_image",
    "stitch",
    "to_device",
    "to_numpy",
    "write_dicom",
    "write_image",
]
