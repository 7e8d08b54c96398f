"""The PET parts of :func:`gpuimg.write_dicom`: the attributes of the PET Image IOD (DICOM PS3.3 A.21)
and its rescale, one RescaleSlope a slice and RescaleIntercept 0 (C.8.9.4)."""

import datetime

import numpy as np
import pydicom
from pydicom.valuerep import DSfloat

from gpuimg.errors import ParameterError

#: Units (0054,1001) of the PET Series module, its defined terms (PS3.3 C.8.9.1.1.3).
UNITS = {
    "CNTS": "counts",
    "NONE": "unitless",
    "CM2": "centimetres**2",
    "CM2ML": "cm**2/ml (SUVbsa)",
    "PCNT": "percent",
    "CPS": "counts/s",
    "BQML": "Bq/ml",
    "MGMINML": "mg/min/ml",
    "UMOLMINML": "umol/min/ml",
    "MLMING": "ml/min/g",
    "MLG": "ml/g",
    "1CM": "1/cm",
    "UMOLML": "umol/ml",
    "PROPCNTS": "proportional to counts",
    "PROPCPS": "proportional to counts/s",
    "MLMINML": "ml/min/ml",
    "MLML": "ml/ml",
    "GML": "g/ml (SUVbw, SUVlbm)",
    "STDDEV": "standard deviations",
}
#: Type 2 attributes of the PET Series, PET Image and NM/PET Patient Orientation modules (C.8.9.1,
#: C.8.9.4, C.8.4.6) that write_dicom does not know: written empty (sequences without an item).
UNKNOWN = ("CollimatorType", "CorrectedImage", "AcquisitionDate", "AcquisitionTime", "ActualFrameDuration")
_EMPTY_SEQUENCES = (
    "RadiopharmaceuticalInformationSequence",  # PET Isotope module (C.8.9.2): the tracer is unknown
    "PatientOrientationCodeSequence",
    "PatientGantryRelationshipCodeSequence",
)


def check_units(units, rescale_type: str, modality: str) -> str | None:
    """The Units to write: ``units`` in upper case for a PT series (required), None for CT and MR
    (which take ``rescale_type`` instead, and refuse ``units``)."""
    if modality != "PT":
        if units is not None:
            raise ParameterError(
                f"write_dicom: units={units!r} is the Units of a PET series; a {modality} series says "
                "its units in rescale_type. Pass rescale_type=, or modality='PT' for a PET series."
            )
        return None
    if rescale_type:
        raise ParameterError(
            f"write_dicom: rescale_type={rescale_type!r} is for CT and MR; a PET series says its units in "
            "Units. Pass units= instead (e.g. units='BQML' for Bq/ml, 'GML' for SUVbw)."
        )
    known = ", ".join(f"{term} ({meaning})" for term, meaning in UNITS.items())
    if units is None:
        raise ParameterError(
            "write_dicom: a PET series needs units=, the Units of its values (DICOM requires them; "
            "read_dicom keeps a PET series' own in meta['units']): e.g. units='BQML' for activity "
            f"concentration in Bq/ml, 'GML' for SUVbw. DICOM's terms: {known}."
        )
    if not isinstance(units, str) or units.strip().upper() not in UNITS:
        raise ParameterError(f"write_dicom: units={units!r} is not one of DICOM's PET units: {known}.")
    return units.strip().upper()


def quantise(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For finite ``data`` of at least one voxel: the stored values (uint16, or int16 where any value
    is negative) and the RescaleSlope of each slice, as DS rounds it, which stores the slice's largest
    magnitude at the end of the range (65535 or 32767)."""
    dtype = np.int16 if data.min() < 0 else np.uint16
    top = np.iinfo(dtype).max
    values = data.astype(np.float64)
    peaks = np.abs(values).max(axis=(1, 2))
    # A slope of 0 (an all-zero slice, or a peak below top * 5e-324) cannot rescale: such a slice takes
    # the volume's (1 for a volume of zeros). Not 1 for a zero slice of a volume of other values: readers
    # such as ITK's take the first file's rescale for the whole series' type, and 1 with intercept 0
    # makes it an integer image, which would truncate every other slice's values.
    ratios = peaks / top
    fallback = ratios.max() if ratios.max() > 0 else 1.0
    slopes = np.array([float(DSfloat(r if r > 0 else fallback, auto_format=True)) for r in ratios])
    # DS keeps at least 10 significant digits, so peak / slope exceeds top by 1e-5 at most: clipping
    # never moves a value by more than half a slope.
    info = np.iinfo(dtype)
    stored = np.clip(np.rint(values / slopes[:, None, None]), info.min, info.max).astype(dtype)
    return stored, slopes


def add_attributes(ds: pydicom.Dataset, units: str, n_slices: int) -> None:
    """Set the attributes of the PET Series, PET Isotope and PET Image modules that every slice shares."""
    now = datetime.datetime.now()  # Series Date and Time are type 1 for PET: the write's, local time
    ds.SeriesDate, ds.SeriesTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "PRIMARY"]  # C.8.9.4.1.1: value 2 is PRIMARY for PET
    ds.Units = units
    ds.SeriesType = ["STATIC", "IMAGE"]  # one frame of parallel slices
    ds.CountsSource = "EMISSION"
    ds.DecayCorrection = "NONE"  # write_dicom applies none; the source's is not known
    ds.NumberOfSlices = n_slices
    ds.FrameReferenceTime = 0  # [ms] from the series' reference time: unknown, one frame
    for keyword in UNKNOWN:
        setattr(ds, keyword, None)
    for keyword in _EMPTY_SEQUENCES:
        setattr(ds, keyword, pydicom.Sequence())
