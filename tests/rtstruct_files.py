"""RTSTRUCT files written from known contours, for the tests that read them."""

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from gpuimg import Volume


def write_structure_set(
    path: Path,
    contours: dict[str, list[np.ndarray]],
    frame_of_reference: str | None = None,
    series: str | None = None,
) -> Path:
    """An RTSTRUCT file with the given closed planar contours (points in LPS mm) per ROI name, each ROI
    in the frame of reference ``frame_of_reference`` where one is given, drawn on the series of
    SeriesInstanceUID ``series`` (RTReferencedSeriesSequence) where one is given. Names outside ASCII are
    stored as UTF-8 (SpecificCharacterSet ISO_IR 192), as they are given (composed or decomposed)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    if not all(name.isascii() for name in contours):
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StructureSetROISequence, ds.ROIContourSequence = [], []
    if series is not None:
        drawn_on, study, frame = pydicom.Dataset(), pydicom.Dataset(), pydicom.Dataset()
        drawn_on.SeriesInstanceUID = series
        study.RTReferencedSeriesSequence = [drawn_on]
        frame.RTReferencedStudySequence = [study]
        if frame_of_reference is not None:
            frame.FrameOfReferenceUID = frame_of_reference
        ds.ReferencedFrameOfReferenceSequence = [frame]
    for number, (name, polygons) in enumerate(contours.items(), start=1):
        roi = pydicom.Dataset()
        roi.ROINumber, roi.ROIName = number, name
        if frame_of_reference is not None:
            roi.ReferencedFrameOfReferenceUID = frame_of_reference
        ds.StructureSetROISequence.append(roi)
        item = pydicom.Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for points in polygons:
            contour = pydicom.Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [float(v) for v in np.asarray(points).ravel()]
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)
    return path


def square_contour(volume: Volume, k: int, low: float, high: float) -> np.ndarray:
    """Corners of a square in slice ``k`` between voxel indices ``low`` and ``high`` (y and x), in LPS."""
    corners = [(k, low, low), (k, low, high), (k, high, high), (k, high, low)]
    return np.array([volume.origin + volume.direction @ (np.array(c) * volume.spacing) for c in corners])
