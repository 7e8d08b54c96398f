"""Writing a volume as a DICOM CT or MR series, one file per slice."""

import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import DSfloat

from gpuimg.backend import to_numpy
from gpuimg.errors import ParameterError
from gpuimg.io._atomic import _atomic_path
from gpuimg.volume import Volume

_SOP_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage}


def write_dicom(
    volume: Volume,
    folder: str | os.PathLike,
    *,
    modality: str | None = None,
    patient_id: str | None = None,
    patient_name: str = "ANONYMOUS",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_description: str | None = None,
    series_number: int = 1,
    overwrite: bool = False,
) -> list[Path]:
    """Write a volume as a DICOM series, one file per z slice.

    Parameters
    ----------
    volume : Volume
        Voxels in real units (HU for CT); on any device (copied to the host once).
    folder : str or path
        Where the files go (created if needed); named ``slice_0000.dcm``, ``slice_0001.dcm`` ...
    modality : {"CT", "MR"}, optional
        Default ``volume.meta["modality"]``, else CT.
    patient_id, study_uid, series_uid, series_description : str, optional
        Default from ``volume.meta`` (``patient_id``, ``study_uid``, ``description``); UIDs not given
        there are generated fresh (pydicom.uid.generate_uid). The series UID is always fresh unless
        given here, so a written copy never collides with its source.
    patient_name : str
        PatientName.
    series_number : int
        SeriesNumber.
    overwrite : bool
        Replace the slice files of an earlier write in ``folder`` (its extra slices are removed), instead
        of refusing to mix two series in one folder.

    Returns
    -------
    list of Path
        The files, in slice (z) order.

    Raises
    ------
    ParameterError
        If the modality is not CT or MR, the volume holds NaN or infinite values, or ``folder``
        already holds slice files and ``overwrite`` is False.

    Notes
    -----
    Integer volumes whose values fit in int16 (or uint16) are stored as they are, with RescaleSlope 1
    and RescaleIntercept 0, so :func:`read_dicom` gives back the same voxels. Other volumes are
    stored as int16 with a linear rescale spanning their range: the error is at most half a
    RescaleSlope. Positions and cosines are decimal strings of at most 16 characters (DICOM's DS), so
    geometry comes back to about 1e-6 relative. Slice k lies at ``origin + k * spacing[0] *
    direction[:, 0]``; when ``direction[:, 0]`` points against row x column, read_dicom returns the
    slices in the reverse order (same voxels at the same places, origin at the other end).
    Each file is written to a temporary name and moved into place, so a crash never leaves a partial
    file.
    """
    meta = volume.meta
    modality = (modality or meta.get("modality") or "CT").upper()
    if modality not in _SOP_CLASSES:
        raise ParameterError(f"write_dicom writes CT or MR series; got modality={modality!r}.")
    folder = Path(folder)
    earlier = sorted(folder.glob("slice_*.dcm"))
    if earlier and not overwrite:
        raise ParameterError(
            f"{folder} already holds {len(earlier)} slice file(s) from an earlier write; pass "
            "overwrite=True to replace them, or write to an empty folder."
        )
    data = to_numpy(volume.data)
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise ParameterError(
            "write_dicom cannot store NaN or infinite values in DICOM pixels; replace them first "
            "(e.g. with the lowest value of the volume)."
        )
    stored, slope, intercept = _stored(data)
    ds = _template(volume, modality, stored.dtype, slope, intercept)
    ds.PatientID = patient_id or meta.get("patient_id") or "ANONYMOUS"
    ds.PatientName = patient_name
    ds.StudyInstanceUID = study_uid or meta.get("study_uid") or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesDescription = meta.get("description", "") if series_description is None else series_description
    ds.SeriesNumber = series_number
    normal = volume.direction[:, 0] * volume.spacing[0]
    paths = []
    for k in range(stored.shape[0]):
        uid = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SOPInstanceUID = uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = _ds(np.asarray(volume.origin) + k * normal)
        ds.PixelData = np.ascontiguousarray(stored[k]).astype(stored.dtype.newbyteorder("<")).tobytes()
        path = folder / f"slice_{k:04d}.dcm"
        with _atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        paths.append(path)
    for path in set(earlier) - set(paths):
        path.unlink()
    return paths


def _stored(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The values to store, and the RescaleSlope and RescaleIntercept that map them back."""
    if np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.bool_):
        low, high = (int(data.min()), int(data.max())) if data.size else (0, 0)
        for dtype in (np.int16, np.uint16):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return data.astype(dtype, copy=False), 1.0, 0.0
    low, high = float(np.nanmin(data)), float(np.nanmax(data))
    slope = (high - low) / 65534 if high > low else 1.0
    slope, intercept = (
        float(DSfloat(slope, auto_format=True)),
        float(DSfloat(low + 32767 * slope, auto_format=True)),
    )
    stored = np.clip(np.rint((data - intercept) / slope), -32768, 32767).astype(np.int16)
    return stored, slope, intercept


def _ds(values) -> list[DSfloat]:
    return [DSfloat(float(v), auto_format=True) for v in values]


def _template(volume: Volume, modality: str, dtype: np.dtype, slope: float, intercept: float) -> FileDataset:
    """A dataset holding everything the slices share."""
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = _SOP_CLASSES[modality]
    file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    file_meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=file_meta, preamble=b"\0" * 128)
    ds.SOPClassUID = _SOP_CLASSES[modality]
    ds.Modality = modality
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.FrameOfReferenceUID = volume.meta.get("frame_of_reference_uid") or generate_uid()
    ds.StudyID = volume.meta.get("study_id") or "1"
    ds.ImageOrientationPatient = _ds(np.concatenate([volume.direction[:, 2], volume.direction[:, 1]]))
    ds.PixelSpacing = _ds(volume.spacing[1:])
    ds.SliceThickness = DSfloat(volume.spacing[0], auto_format=True)
    if modality == "MR":
        ds.SpacingBetweenSlices = DSfloat(volume.spacing[0], auto_format=True)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = volume.shape[1:]
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = int(dtype == np.int16)
    ds.RescaleSlope = DSfloat(slope, auto_format=True)
    ds.RescaleIntercept = DSfloat(intercept, auto_format=True)
    ds.RescaleType = "HU" if modality == "CT" else "US"
    windows = volume.meta.get("windows") or []
    if windows:
        ds.WindowCenter = _ds(w["center"] for w in windows)
        ds.WindowWidth = _ds(w["width"] for w in windows)
    return ds
