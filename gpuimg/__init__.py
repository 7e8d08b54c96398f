"""gpuimg: medical volume analysis that stays on the GPU, with the same API on the CPU.

Read a study into a :class:`Volume` (voxels and geometry), then hand it, or any NumPy, CuPy or Dask
array, to the operations: each runs where its input lives and returns the same kind (a Volume for a
Volume). The subpackages, in the order of a pipeline::

    gpuimg.io          read_dicom, list_series, read_image (NIfTI, NRRD), read_rtstruct, read_seg,
                       write_dicom, write_image, open_zarr / write_chunked (larger than memory)
    gpuimg.preprocess  denoising, window / zscore / equalize_hist, resample (IBSI grid), crop_to_mask
    gpuimg.edges       gradients, sobel / prewitt / scharr, log, canny
    gpuimg.morphology  erode / dilate / opening / closing, label, fill_holes, distance_transform, Otsu
    gpuimg.contours    find_contours, marching_cubes, Hough lines and circles
    gpuimg.features    IBSI radiomics: extract(image, mask, settings=Settings(...)), extract_labels
    gpuimg.ml          estimators (scikit-learn's API, cuML on the GPU), segment_kmeans, metrics
    gpuimg.cohort      a pipeline spec (TOML) over a folder of studies: run_pipeline, ``gpuimg run``
    gpuimg.datasets    synthetic CT phantoms and DICOM cohorts to try it all on

A parameter's name says its unit: ``sigma`` is voxels, ``sigma_mm`` mm. Bad input raises a
:class:`GpuimgError` subclass whose message says what to do. ``gpuimg info`` shows the device and
libraries found; ``gpuimg demo`` runs the whole pipeline on a synthetic cohort.

Examples
--------
>>> import gpuimg
>>> from gpuimg.edges import gradient_magnitude
>>> ct = gpuimg.datasets.ct_phantom((16, 32, 32), seed=0)  # a synthetic CT in HU
>>> edges = gradient_magnitude(ct)  # on the CPU here, on the GPU for a Volume there
>>> type(edges).__name__, edges.spacing == ct.spacing
('Volume', True)
"""

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING

from . import backend, io
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

#: Subpackages loaded on first use (``gpuimg.edges.canny`` or ``from gpuimg import edges`` loads it):
#: they import Numba's kernels with its CUDA target (0.6 s), scikit-image and scikit-learn, which a
#: process that only reads images, lists series or prints ``gpuimg --help`` need not pay.
#: ``gpuimg.kernels`` too, which is not public but was reachable as an attribute after ``import gpuimg``.
_LAZY = ("contours", "datasets", "edges", "features", "kernels", "ml", "morphology", "preprocess")

if TYPE_CHECKING:  # for type checkers and editors, which do not run __getattr__
    from . import contours, datasets, edges, features, ml, morphology, preprocess
    from .errors import NotFittedError

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
    # NotFittedError imports scikit-learn (most of a second), as gpuimg.ml does: both load on first
    # use, so that a process which only reads and measures (a Dask worker of the cohort pipeline)
    # never pays it.
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    if name == "NotFittedError":
        from .errors import NotFittedError

        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
