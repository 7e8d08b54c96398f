"""Reading and writing volumes: DICOM series, NIfTI and NRRD files, stitching stations."""

from .chunked import open_zarr, write_chunked
from .dicom import read_dicom
from .image import read_image, write_image
from .rtstruct import read_rtstruct, rtstruct_roi_names
from .seg import read_seg
from .series import SeriesInfo, SeriesList, list_series
from .stitch import stitch
from .write import write_dicom

__all__ = [
    "SeriesInfo",
    "SeriesList",
    "list_series",
    "open_zarr",
    "read_dicom",
    "read_image",
    "read_rtstruct",
    "read_seg",
    "rtstruct_roi_names",
    "stitch",
    "write_chunked",
    "write_dicom",
    "write_image",
]
