"""gpuimg: medical volume analysis that stays on the GPU, with the same API on the CPU."""

import importlib
from importlib.metadata import version

from . import backend, contours, datasets, edges, features, io, morphology, preprocess
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
    ParameterError,
    VolumeUsageError,
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
    "VolumeUsageError",
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


def __getattr__(name: str):
    # gpuimg.ml and NotFittedError import scikit-learn (most of a second): they load on first use, so
    # that a process which only reads and measures (a Dask worker of the cohort pipeline) never pays it.
    if name == "ml":
        return importlib.import_module(".ml", __name__)
    if name == "NotFittedError":
        from .errors import NotFittedError

        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
