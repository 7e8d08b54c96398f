"""Writing a volume as a DICOM CT, MR or PET series, one file per slice."""

import os
import re
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    generate_uid,
)
from pydicom.valuerep import DSfloat, validate_value

from gpuimg._support import check_path
from gpuimg._text import count
from gpuimg.backend import to_numpy
from gpuimg.errors import ParameterError, WriteError
from gpuimg.io import _write_pet
from gpuimg.io._atomic import _atomic_folder
from gpuimg.volume import Volume, as_volume

_SOP_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage, "PT": PositronEmissionTomographyImageStorage}
#: A UID: numbers without leading zeros, joined by dots (64 characters at most).
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
#: Largest Rows or Columns a DICOM image can have (an unsigned 16-bit value).
_MAX_SIDE = 65535
#: Fewest RescaleSlopes in the largest magnitude of a rescaled volume: float32 (read_dicom's type)
#: holds integers exactly up to 2**24, with room for the 32767 stored steps on either side.
_FLOAT32_STEPS = 2.0**23
#: float32 holds every whole number up to this (and read_dicom refuses an intercept of as many slopes
#: where the slope is not a whole number; with whole numbers it reads float64 beyond).
_FLOAT32_EXACT = 2.0**24
#: Type 2 attributes of the modules every CT and MR image has (PS3.3 A.3, A.4: Patient, General Study,
#: Frame of Reference, General Equipment), which write_dicom does not know: written empty, as the
#: standard asks of an unknown type 2 value, so that validators and strict archives accept the files.
_UNKNOWN = (
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PositionReferenceIndicator",
    "Manufacturer",
)
#: Likewise for the CT Image module (C.8.2.1), the MR Image module (C.8.3.1; RepetitionTime is
#: type 2C, needed unless the sequence is echo planar) and the PET modules (A.21).
_UNKNOWN_BY_MODALITY = {
    "CT": ("KVP", "AcquisitionNumber"),
    "MR": ("ScanOptions", "MRAcquisitionType", "RepetitionTime", "EchoTime", "EchoTrainLength"),
    "PT": _write_pet.UNKNOWN,
}


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
    rescale_type: str = "",
    units: str | None = None,
    overwrite: bool = False,
    spacing=None,
    origin=None,
    direction=None,
) -> list[Path]:
    """Write a volume as a DICOM series, one file per z slice.

    Parameters
    ----------
    volume : Volume, or 3D array with ``spacing``
        Voxels in real units (HU for CT); on any device (copied to the host once).
    folder : str or path
        Where the files go (created if needed); named ``slice_0000.dcm``, ``slice_0001.dcm`` ...
    modality : {"CT", "MR", "PT"}, optional
        Default ``volume.meta["modality"]``, else CT. PT writes PET Image Storage files.
    patient_id, study_uid, series_uid, series_description : str, optional
        Default from ``volume.meta`` (``patient_id``, ``study_uid``, ``description``); UIDs not given
        there are generated fresh (pydicom.uid.generate_uid). The series UID is always fresh unless
        given here, so a written copy never collides with its source.
    patient_name : str
        PatientName. Text outside ASCII (here or in the other values) is stored as UTF-8, with
        SpecificCharacterSet ``ISO_IR 192``.
    series_number : int
        SeriesNumber.
    rescale_type : str, optional
        RescaleType, the units of the values; empty (the default): ``"HU"`` for CT, ``"US"``
        (unspecified) for MR.
        Pass another for a CT whose values are no longer Hounsfield units (``"US"`` for z-scores or a
        filtered image; a unit such as ``"MGML"``): DICOM's CT Image module requires it then, and
        viewers apply HU windows otherwise. CT and MR only: a PET series takes ``units``.
    units : str, optional
        PT only, and required there: Units (0054,1001), the units of the values, one of DICOM's terms
        (PS3.3 C.8.9.1.1.3, any case): ``"BQML"`` (Bq/ml), ``"GML"`` (g/ml: SUVbw, SUVlbm), ``"CM2ML"``
        (SUVbsa), ``"CNTS"``, ``"NONE"`` ... Not taken from ``volume.meta["units"]``, where
        :func:`read_dicom` keeps a PET series' own: the values may have been converted since (SUVs taken
        for Bq/ml, or the reverse, are wrong by a factor of thousands), so pass
        ``units=volume.meta["units"]`` where they have not.
    overwrite : bool
        Replace the slice files of an earlier write in ``folder`` (its extra slices are removed), instead
        of refusing to mix two series in one folder.
    spacing, origin, direction : optional
        The geometry of an array (as :class:`~gpuimg.Volume` takes them; ``spacing`` [mm] needed);
        a Volume brings its own.

    Returns
    -------
    list of Path
        The files, in slice (z) order.

    Raises
    ------
    ParameterError
        If the modality is not CT, MR or PT; ``units`` is missing or not one of DICOM's PET units for
        PT, or given for CT or MR, or ``rescale_type`` given for PT; the volume has no slice, more than
        65535 rows or columns, complex values, or NaN or infinite values; a UID, ``patient_id`` or
        ``patient_name`` is not a valid DICOM value (their values are not repeated in the message), nor
        ``rescale_type``, a window's name (a LO: 64 characters at most, no backslash) or
        ``meta["study_id"]`` (a SH: 16 characters at most); or ``folder`` already holds slice files and
        ``overwrite`` is False; an array without ``spacing``.
    WriteError
        If ``folder`` holds files other than an earlier write's slices, or cannot be written.

    Notes
    -----
    Volumes of whole numbers (integer or float: HU, labels) are stored exactly, so :func:`read_dicom`
    gives back the same values: as they are, with RescaleSlope 1 and RescaleIntercept 0, where they fit
    in int16 (or uint16), else, where they span at most 65535 and stay below 2**24 in magnitude, shifted
    by a whole RescaleIntercept (slope 1). Other volumes are
    stored as int16 with a linear rescale spanning their range: the error is at most half a
    RescaleSlope, which is at least 2**-23 of the largest magnitude (float32's resolution, the type
    :func:`read_dicom` returns rescaled voxels in). Positions and cosines are decimal strings of at
    most 16 characters (DICOM's DS), so geometry comes back to about 1e-6 relative. Slice k lies at
    ``origin + k * spacing[0] * direction[:, 0]``; when ``direction[:, 0]`` points against row x
    column, read_dicom returns the slices in the reverse order (same voxels at the same places, origin
    at the other end). The window presets of ``volume.meta["windows"]`` (as :func:`read_dicom` keeps
    them) are written as WindowCenter and WindowWidth, their names as WindowCenterWidthExplanation.
    Every type 1 and type 2 attribute of the CT or MR Image IOD's mandatory modules is present: those
    write_dicom does not know (birth date, study date, manufacturer, KVP, echo time ...) empty, as
    DICOM asks of an unknown type 2 value, and an MR's ScanningSequence and SequenceVariant (type 1)
    as ``RM`` (research mode) and ``NONE``.

    A PET series (PS3.3 A.21) is stored as DICOM asks of PET: RescaleIntercept 0 and a RescaleSlope for
    each slice, that slice's largest magnitude divided by 65535 (uint16 pixels, PixelRepresentation 0)
    or, where any voxel of the volume is negative (some reconstructions give them), by 32767 (int16,
    PixelRepresentation 1, which keeps them with intercept 0 at half the resolution); a slice of zeros
    has the slope of the volume's largest magnitude (1 in a volume of zeros). Each voxel comes back
    within half its slice's slope (as written, in DS) of its value; :func:`read_dicom` gives float32
    voxels, which add float32's rounding of the value. The files say ImageType ``DERIVED\\PRIMARY``,
    SeriesType ``STATIC\\IMAGE``, CountsSource ``EMISSION``, DecayCorrection ``NONE`` (write_dicom
    corrects nothing, and does not know what the source did), FrameReferenceTime 0 ms, ImageIndex the
    slice number, SeriesDate and SeriesTime (type 1 for PET) the time of writing; the tracer
    (RadiopharmaceuticalInformationSequence), CorrectedImage, ActualFrameDuration and the acquisition
    time are unknown, written empty (type 2), so a viewer cannot compute SUVs from Bq/ml files: write
    SUVs themselves (``units="GML"``) where they are needed.

    The series is written into a temporary folder beside ``folder`` which is then renamed into place
    (replacing the earlier series with ``overwrite``), so a reader never sees half a series; a
    temporary left by a killed write is removed by the next write into the same parent folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import gpuimg
    >>> ct = gpuimg.Volume(np.full((4, 8, 8), -1000, np.int16), spacing=(2.5, 0.7, 0.7))  # air, in HU
    >>> files = gpuimg.write_dicom(ct, Path(tempfile.mkdtemp()) / "ct")
    >>> len(files), files[0].name
    (4, 'slice_0000.dcm')
    >>> back = gpuimg.read_dicom(files[0].parent, device="cpu")
    >>> back.shape, back.spacing, int(back.data.min())
    ((4, 8, 8), (2.5, 0.7, 0.7), -1000)

    A PET volume of SUVs (body weight), one slope a slice:

    >>> suv = gpuimg.Volume(np.linspace(0.0, 12.5, 4 * 8 * 8).reshape(4, 8, 8), spacing=(3.0, 4.0, 4.0))
    >>> files = gpuimg.write_dicom(suv, Path(tempfile.mkdtemp()) / "pet", modality="PT", units="GML")
    >>> pet = gpuimg.read_dicom(files[0].parent, device="cpu")
    >>> pet.meta["modality"], len(pet.meta["rescale"]["slope"])
    ('PT', 4)
    >>> bool(np.all(np.abs(pet.data - suv.data) <= np.array(pet.meta["rescale"]["slope"])[:, None, None]))
    True
    """
    volume = as_volume(volume, "write_dicom", spacing=spacing, origin=origin, direction=direction)
    meta = volume.meta
    given = "modality" if modality else "volume.meta['modality']"
    modality = modality or meta.get("modality") or "CT"
    if not isinstance(modality, str) or modality.upper() not in _SOP_CLASSES:
        raise ParameterError(
            f"write_dicom writes CT, MR or PT series; got {given}={modality!r}. Pass modality='CT', 'MR' or "
            "'PT' for a series of that kind, or write the volume with gpuimg.write_image (NIfTI, NRRD), "
            "which keeps the values of any modality."
        )
    modality = modality.upper()
    units = _write_pet.check_units(units, rescale_type, modality)
    folder = check_path(folder, "folder", "the path of the series' folder")
    _check_folder(folder, overwrite)
    if volume.data.ndim != 3 or 0 in volume.shape or max(volume.shape[1:]) > _MAX_SIDE:
        raise ParameterError(
            f"write_dicom: a volume of shape {volume.shape} cannot be a DICOM series; it needs at least "
            f"one slice of 1 to {_MAX_SIDE} rows and columns. Crop or resample it first."
        )
    data = to_numpy(volume.data)
    if data.dtype.kind not in "biuf":
        raise ParameterError(f"write_dicom stores real numbers; the volume holds {data.dtype}.")
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise ParameterError(
            "write_dicom cannot store NaN or infinite values in DICOM pixels; replace them first "
            "(e.g. with the lowest value of the volume)."
        )
    values = {
        "PatientID": ("patient_id", patient_id or meta.get("patient_id") or "ANONYMOUS", False),
        "PatientName": ("patient_name", patient_name, False),
        "StudyInstanceUID": ("study_uid", study_uid or meta.get("study_uid") or generate_uid(), True),
        "SeriesInstanceUID": ("series_uid", series_uid or generate_uid(), True),
        "SeriesDescription": (
            "series_description",
            meta.get("description", "") if series_description is None else series_description,
            True,
        ),
        "SeriesNumber": ("series_number", series_number, True),
        "StudyID": ("meta['study_id']", meta.get("study_id") or "1", True),
        "FrameOfReferenceUID": (
            "meta['frame_of_reference_uid']",
            meta.get("frame_of_reference_uid") or generate_uid(),
            True,
        ),
    }
    if units is None:  # CT, MR: one rescale for the volume, its units in RescaleType
        values["RescaleType"] = ("rescale_type", rescale_type or ("HU" if modality == "CT" else "US"), True)
        stored, slope, intercept = _stored(data)
        slopes = np.full(len(stored), slope)
    else:  # PET: a slope for each slice, intercept 0, the units in Units
        (stored, slopes), intercept = _write_pet.quantise(data), 0.0
    ds = _template(volume, modality, stored.dtype, float(slopes[0]), intercept)
    if units is not None:
        _write_pet.add_attributes(ds, units, len(stored))
    for keyword, (name, value, shown) in values.items():
        _set(ds, keyword, name, value, shown)
    explanations = _window_names(ds, meta.get("windows") or [])
    texts = [value for _, value, _ in values.values()] + explanations
    if any(isinstance(value, str) and not value.isascii() for value in texts):
        ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8; without it pydicom writes such text as '?'
    normal = volume.direction[:, 0] * volume.spacing[0]
    names = [f"slice_{k:04d}.dcm" for k in range(stored.shape[0])]
    try:
        with _atomic_folder(folder) as tmp:
            for k, name in enumerate(names):
                uid = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = uid
                ds.SOPInstanceUID = uid
                ds.InstanceNumber = k + 1
                ds.RescaleSlope = DSfloat(float(slopes[k]), auto_format=True)
                if units is not None:
                    ds.ImageIndex = k + 1  # of a STATIC series: the slice's number (C.8.9.4.1.9)
                ds.ImagePositionPatient = _ds(np.asarray(volume.origin) + k * normal)
                ds.PixelData = (
                    np.ascontiguousarray(stored[k]).astype(stored.dtype.newbyteorder("<")).tobytes()
                )
                ds.save_as(tmp / name, enforce_file_format=True)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(f"{folder}: the series cannot be written ({type(exc).__name__}: {exc}).") from exc
    return [folder / name for name in names]


def _check_folder(folder: Path, overwrite: bool) -> None:
    """Refuse a folder holding an earlier series (unless ``overwrite``) or anything else, or one that
    cannot be looked into (Path.exists and is_dir raise where a folder on the way may not be opened)."""
    try:
        is_file = folder.exists() and not folder.is_dir()
        entries = [] if is_file or not folder.is_dir() else list(folder.iterdir())
    except OSError as exc:
        raise WriteError(
            f"{folder}: cannot be looked into ({exc.strerror or type(exc).__name__}); check that you may "
            "open it and the folders on the way to it, or pass another folder."
        ) from None
    if is_file:
        raise WriteError(f"{folder} is a file; write_dicom writes a series into a folder.")
    earlier = [p for p in entries if p.name.startswith("slice_") and p.suffix == ".dcm"]
    others = sorted(p.name for p in entries if p not in earlier)
    if others:
        raise WriteError(
            f"{folder} holds other files than an earlier series ({', '.join(others[:3])}"
            f"{' ...' if len(others) > 3 else ''}); write_dicom writes a series into a folder of its own, "
            "replaced as a whole. Pass an empty or new folder."
        )
    if earlier and not overwrite:
        raise ParameterError(
            f"{folder} already holds {count(len(earlier), 'slice file')} from an earlier write; pass "
            f"overwrite=True to replace {'it' if len(earlier) == 1 else 'them'}, or write to an empty folder."
        )


def _window_names(ds: pydicom.Dataset, windows: list) -> list[str]:
    """Set WindowCenterWidthExplanation to the names of ``windows`` (``volume.meta["windows"]``, as
    :func:`read_dicom` keeps them), one per WindowCenter, where any has one; returns the names."""
    names = [str(window.get("name") or "") for window in windows]
    if not any(names):
        return []
    for i, name in enumerate(names):
        _check("WindowCenterWidthExplanation", f"meta['windows'][{i}]['name']", name, True)
    ds.WindowCenterWidthExplanation = names
    return names


def _set(ds: pydicom.Dataset, keyword: str, name: str, value, shown: bool) -> None:
    """Set ``keyword`` after checking ``value`` against its VR; the message shows it only if ``shown``."""
    _check(keyword, name, value, shown)
    setattr(ds, keyword, value)


def _check(keyword: str, name: str, value, shown: bool) -> None:
    """Refuse a ``value`` of ``keyword`` that its VR does not allow (one value: no backslash); the
    message shows it only if ``shown``."""
    vr = pydicom.datadict.dictionary_VR(keyword)
    try:
        if vr == "UI" and not (len(str(value)) <= 64 and _UID.fullmatch(str(value))):
            raise ValueError("a UID is 1 to 64 digits and dots, without leading zeros in a component")
        if isinstance(value, str) and "\\" in value:
            raise ValueError("a backslash separates several values, and one is allowed here")
        if vr == "IS" and not (isinstance(value, int | np.integer) and abs(value) < 2**31):
            raise ValueError("an IS is a whole number between -2**31 and 2**31")
        validate_value(vr, str(value) if vr == "IS" else value, pydicom.config.RAISE)
    except (ValueError, TypeError) as exc:
        given = f"={value!r}" if shown else " (value not shown: it may identify the patient)"
        # A value of the volume's meta (read_dicom keeps the source's, which may break its VR) has no
        # keyword to pass instead: say which entry to change.
        remedy = f"change or delete volume.{name}" if name.startswith("meta[") else f"pass another {name}"
        raise ParameterError(
            f"write_dicom: {name}{given} is not a valid DICOM {vr} value: {str(exc).rstrip('.')}; {remedy}."
        ) from None


def _stored(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The values to store, and the RescaleSlope and RescaleIntercept that map them back."""
    exact = _exact(data)
    if exact is not None:
        return exact
    low, high = float(np.nanmin(data)), float(np.nanmax(data))
    # At least 2**-23 of the largest magnitude, so that the intercept stays below 2**24 slopes: beyond,
    # read_dicom's float32 voxels could not tell stored steps apart and it refuses the series.
    slope = max((high - low) / 65534 if high > low else 1.0, max(abs(low), abs(high)) / _FLOAT32_STEPS)
    slope, intercept = (
        float(DSfloat(slope, auto_format=True)),
        float(DSfloat(low + 32767 * slope, auto_format=True)),
    )
    # in float64, so that each stored value is within half a slope of the voxel (float16 and float32
    # arithmetic would add their own rounding, a float16 one of many slopes)
    stored = np.clip(np.rint((data.astype(np.float64) - intercept) / slope), -32768, 32767).astype(np.int16)
    return stored, slope, intercept


def _exact(data: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Whole numbers (of any type) spanning at most 65535, stored exactly: as they are where they fit
    int16 or uint16, else shifted by a whole RescaleIntercept (below 2**24, so that read_dicom's float32
    voxels hold them exactly); None for other values."""
    if data.dtype.kind == "f" and not np.array_equal(data, np.rint(data)):
        return None
    low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    for dtype in (np.int16, np.uint16):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return data.astype(dtype, copy=False), 1.0, 0.0
    intercept = low + 32768  # low is stored as -32768
    if high - low > 65535 or max(abs(low), abs(high), abs(intercept)) >= _FLOAT32_EXACT:
        return None
    return (data.astype(np.float64) - intercept).astype(np.int16), 1.0, intercept


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
    for keyword in _UNKNOWN + _UNKNOWN_BY_MODALITY[modality]:  # type 2: present, empty when unknown
        setattr(ds, keyword, None)
    if modality == "MR":  # type 1; what the scanner ran is unknown: research mode, no variant
        ds.ScanningSequence, ds.SequenceVariant = "RM", "NONE"
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
    windows = volume.meta.get("windows") or []
    if windows:
        ds.WindowCenter = _ds(w["center"] for w in windows)
        ds.WindowWidth = _ds(w["width"] for w in windows)
    return ds
