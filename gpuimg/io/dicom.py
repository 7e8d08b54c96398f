"""Reading a DICOM series (or one enhanced multi-frame file) into a :class:`~gpuimg.Volume`."""

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from pydicom.multival import MultiValue

from gpuimg._text import count, some
from gpuimg.backend import to_device
from gpuimg.errors import DicomError, ParameterError
from gpuimg.io._header import (
    _Header,
)
from gpuimg.io._pixels import _decode
from gpuimg.io._scan import _files, _scan, _unlisted
from gpuimg.io._stack import _Stack, _stack
from gpuimg.io._tags import _as_text
from gpuimg.io._unchecked import unchecked_values
from gpuimg.io.image import IMAGE_SUFFIXES
from gpuimg.io.series import (
    SeriesInfo,
    _by_series,
    _check_series,
    _localizers,
    _optional_text,
    _summarise,
    _thickness,
    _without_scout,
)
from gpuimg.volume import Volume


def read_dicom(
    path_or_files: str | os.PathLike | Iterable[str | os.PathLike],
    series_uid: str | None = None,
    *,
    device: str = "auto",
    allow_gaps: bool = False,
) -> Volume:
    """Read one DICOM series as a volume in patient (LPS) coordinates, values in real units (HU for CT).

    Parameters
    ----------
    path_or_files : str, path, iterable of paths or SeriesInfo
        A folder (searched recursively), one file (e.g. an enhanced multi-frame CT/MR), a list of
        files (a file named twice is read once), or a series found by :func:`list_series`, whose
        headers are then not read again.
    series_uid : str, optional
        SeriesInstanceUID of the series to read; needed when the files hold several series
        (:func:`list_series` shows them), not counting series beside the one series of slices that
        are not a volume to read: a segmentation (DICOM SEG, which :func:`read_seg` reads), a scout
        (a series of ImageType LOCALIZER images) and images without a position (secondary captures
        such as a scanner's dose report).
    device : {"auto", "cpu", "cuda"}
        Where the voxels go; uploaded once, after decoding (see :func:`gpuimg.backend.resolve_device`).
    allow_gaps : bool
        Read a series with missing slices anyway: the volume keeps the physical slice grid and the
        missing slices hold the lowest value of the volume; ``meta["missing_slices"]`` lists them.

    Returns
    -------
    Volume
        ``data`` (z, y, x) with z running along the slice normal (row x column cosines): where every
        RescaleSlope/RescaleIntercept is an integer, the smallest type holding the values exactly:
        int16 where they fit, else float32 where all lie below 2**24 in magnitude, else float64 (32-bit
        pixels, or a large intercept: exact to 2**53); float32 for other rescales. ``spacing``
        (z, y, x) [mm] from the median position step (the step fitted to every position where
        rounded positions stray from the median's grid) and PixelSpacing; ``origin`` is
        ImagePositionPatient of the first slice [mm, LPS]; ``direction`` columns are the slice normal,
        the column and the row direction cosines (the orthonormal matrix nearest them, where cosines
        written with few decimals are not quite orthogonal). ``meta`` holds modality, series/study
        UIDs, patient and study IDs, description, ``units`` (Units of a PET or NM series, such as "BQML"
        or "GML"; "" where the header has none), rescale, window presets, ``files`` (the file of each
        filled slice, in slice order, with "(frame k)" after a multi-frame file's name; none for a
        slice listed in ``missing_slices``) and ``missing_slices``.

    Raises
    ------
    DicomError
        Several series and no ``series_uid``; unreadable, truncated or pixel-less files in the series
        (or among the files named one by one); a header whose pixel description is invalid (BitsStored,
        NumberOfFrames, an image larger than its file); a rescale that is 0 or not finite, or whose
        intercept is so many slopes from 0 that the voxels cannot tell stored values apart (2**24; 2**53
        where every rescale is integral); files of one
        series UID that differ in modality, patient, study or frame of reference; a transfer syntax
        without a decoder; a projection image (no position), or images or frames without a position
        among placed ones (a damaged header); real-valued pixels (Float Pixel Data, as
        parametric maps hold); a gated NM reconstruction of several gates (a 4D image).
    MemoryBudgetError
        If the volume would need more memory than the budget (``GPUIMG_MAX_BYTES``; see
        :mod:`gpuimg._memory`), checked before anything is decoded.
    ParameterError
        If ``path_or_files`` is not a path or a list of paths, or is a SeriesInfo of another series
        than ``series_uid``.
    GeometryError
        Positions, orientations or pixel spacings that are not finite, not unit and orthogonal, or not
        positive; mixed orientations, image sizes or pixel spacings (pixel spacings 1e-4 of the
        smallest apart); duplicate positions (closer along the slice normal than 1e-3 of the smaller
        pixel spacing); missing slices (unless ``allow_gaps``); uneven spacing; a sheared
        (gantry-tilted) stack.
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or asks for CUDA where no GPU is usable (the
        message says what is missing and which extra to install).

    Warns
    -----
    UserWarning
        Once a series (not again for a SeriesInfo of list_series, which warned), where the uncompressed
        (or deflated) pixel data of some of its files hold more bytes than their headers claim: how many
        files, and the bytes found and claimed. The claimed bytes are read as the image; padding after
        them is harmless, a sheared or shifted image means a wrong Rows, Columns, BitsAllocated or
        NumberOfFrames.

    Notes
    -----
    Slices are ordered by ImagePositionPatient projected on the slice normal, never by InstanceNumber,
    and the z spacing is measured from positions, never taken from SliceThickness (which is the
    reconstructed slab width and can differ from the spacing); only a single-slice series, which has
    no step, takes its z spacing from SpacingBetweenSlices (its magnitude: NM files may write it
    negative) or SliceThickness (1 mm without either).
    Enhanced multi-frame files take position, orientation, pixel spacing and rescale per frame from
    their functional groups; classic multi-frame files (RT dose) place their frames with
    GridFrameOffsetVector and scale them with DoseGridScaling (Gy); reconstructed NM (SPECT) files
    with their detector's position and orientation (DetectorInformationSequence) and the signed
    SpacingBetweenSlices, as the NM Reconstruction Module defines it. Files in a folder that cannot be
    parsed, and belong to no identifiable series, are skipped with a warning, as are the folders under
    it that may not be listed (permission denied) and its links that lead nowhere (no target, a loop
    of links), each named; a file named in a list that is not a DICOM image is an error. A series
    that holds localizer images (ImageType LOCALIZER: a CT's scout) beside others is read without
    them, with a warning naming them.

    Uncompressed explicit-VR little-endian files (what most scanners and PACS export) have their
    headers read by a small parser of the tags needed here, and their pixels read (by threads, for a
    series over 8 MiB) straight into the volume, rescaled in place; any other file (compressed, implicit
    VR, big endian, enhanced multi-frame, unusual values) is read by pydicom, with the same result and
    the same checks.

    Integral values beyond float32's exact range come back as float64, not int32: float64 holds every
    32-bit stored value (signed or not) under any integral rescale whose results stay below 2**53,
    where int32 overflows on unsigned pixels or a shifted range, and the type stays int16 or a float,
    as for every other series. Non-integral rescales give float32, whose 24 bits are the stored steps'
    resolution up to 2**24 steps of the slope.

    Examples
    --------
    A synthetic study (one DICOM file per slice) written to a new folder, then read:

    >>> import tempfile, gpuimg
    >>> study = gpuimg.datasets.write_cohort(tempfile.mkdtemp(), 1, seed=0, shape=(8, 32, 32))[0]
    >>> ct = gpuimg.read_dicom(study / "ct", device="cpu")
    >>> ct.data.dtype, ct.shape, ct.spacing
    (dtype('int16'), (8, 32, 32), (2.5, 3.0, 3.0))
    >>> ct.meta["modality"], ct.origin  # origin: voxel (0, 0, 0) as an LPS point (x, y, z) [mm]
    ('CT', (-46.5, -46.5, -8.75))
    """
    with unchecked_values():  # a block, not a decorator: a warning's stacklevel points at the caller
        headers = _series_headers(path_or_files, series_uid)
        # A SeriesInfo's headers are without its scout: list_series left it out.
        chosen, scouts = (headers, []) if getattr(path_or_files, "_headers", ()) else _without_scout(headers)
        uid = chosen[0].series_uid
        if scouts:
            warnings.warn(
                f"Series {uid}: left out {count(len(scouts), 'LOCALIZER image')} "
                f"({some([str(h.path) for h in scouts])}): the scout, stored in the series beside its slices "
                f"(ImageType ...\\LOCALIZER); the volume is of the other {count(len(chosen), 'file')}.",
                stacklevel=2,
            )
        stack = getattr(path_or_files, "_stack", None)  # list_series checked and stacked these headers
        if stack is None:
            _check_series(uid, chosen)
            frames = [frame for header in chosen for frame in header.frames]
            stack = _stack(frames, uid, thickness=_thickness(chosen), allow_gaps=allow_gaps)
        data, rescale = _decode(stack, chosen)
        meta = _meta(chosen[0], stack, rescale)
    return Volume(to_device(data, device), stack.spacing, stack.origin, stack.direction, meta)


def _series_headers(path_or_files, series_uid: str | None) -> list[_Header]:
    """The headers of the series to read: those a :class:`SeriesInfo` holds, or read from the files."""
    if isinstance(path_or_files, SeriesInfo):
        if series_uid is not None and series_uid != path_or_files.series_uid:
            raise ParameterError(
                f"series_uid={series_uid!r} differs from the SeriesInfo's {path_or_files.series_uid}; "
                "pass one of them."
            )
        if path_or_files._headers:  # list_series parsed them: only the pixels are left to read
            return list(path_or_files._headers)
        path_or_files = path_or_files.files
    unlisted: list[Path] = []
    dangling: dict[Path, str] = {}
    paths, explicit = _files(path_or_files, unlisted, dangling)
    headers, broken, skipped = _scan(paths)
    if broken and (explicit or not headers):
        raise DicomError(
            f"Cannot read {count(len(broken), 'file')} as DICOM: "
            + "; ".join(f"{path}: {why}" for path, why in list(broken.items())[:5])
            + (". The file is" if len(broken) == 1 else ". The files are")
            + " truncated or corrupt; export again, or leave out."
        )
    if skipped and explicit and headers:
        raise DicomError(
            f"{some([str(p) for p in skipped])}: not DICOM images (another format, DICOMDIR, report or "
            "structure set); leave them out of the list of files."
        )
    if not headers:
        images = [p for p in skipped if p.name.lower().endswith(IMAGE_SUFFIXES)]
        raise DicomError(
            f"No DICOM images among {count(len(paths), 'file')} ({some([str(p) for p in skipped])}): "
            + ("it is" if len(paths) == 1 else "they are")
            + " not DICOM, or DICOM without an image (DICOMDIR, report, structure set)"
            + (f"; read NIfTI and NRRD with gpuimg.read_image({str(images[0])!r})" if images else "")
            + (_unlisted(Path(path_or_files), unlisted, dangling) if unlisted or dangling else "")
            + "."
        )
    chosen = _choose(_by_series(headers), series_uid)
    for path, why in broken.items():
        warnings.warn(f"Skipped {path}: it cannot be read as DICOM ({why}).", stacklevel=3)
    for folder in unlisted:
        warnings.warn(
            f"Skipped {folder}: the folder may not be listed (permission denied), so its files were not "
            "read; where they belong to this series, the volume lacks their slices. Ask for read access "
            "to it.",
            stacklevel=3,
        )
    for link, why in dangling.items():
        warnings.warn(
            f"Skipped {link}: the link leads nowhere ({why}), so what it linked to was not read; where "
            "that was part of this series, the volume lacks its slices. Fix or remove the link.",
            stacklevel=3,
        )
    return chosen


#: Series named in the error of a folder holding several, at most (a cohort's root holds thousands).
_LISTED = 10


def _choose(series: dict[str, list[_Header]], series_uid: str | None) -> list[_Header]:
    """The headers of the series to read: ``series_uid``'s, else the only one, or the only one of
    slices beside series that are not the volume asked for (a DICOM SEG, which read_seg reads; a CT's
    scout, a series of LOCALIZER images; a secondary capture or other image without a position, such
    as a scanner's dose report or protocol page); else a DicomError listing them."""
    if series_uid is None and len(series) == 1:
        return next(iter(series.values()))
    if series_uid is None:
        slices = [group for group in series.values() if _slices(group)]
        if len(slices) == 1:
            return slices[0]
    if series_uid is not None and series_uid in series:
        return series[series_uid]
    shown = list(series.items())[:_LISTED]
    listing = "\n".join(f"  {_summarise(uid, group)}" for uid, group in shown)
    if len(series) > _LISTED:
        listing += f"\n  ... and {len(series) - _LISTED} more (gpuimg.list_series lists them all)"
    if series_uid is not None:
        raise DicomError(f"No series {series_uid} among the files; they hold:\n{listing}")
    raise DicomError(
        f"The files hold {len(series)} series; pass series_uid= to choose one "
        f"(gpuimg.list_series shows them with their shapes):\n{listing}"
    )


def _slices(headers: list[_Header]) -> bool:
    """Whether a series may be the slices to read: not a segmentation (Modality SEG, a mask), not
    localizers only (ImageType's third value LOCALIZER: a CT's scout, its own series), and a position
    and orientation for some frame (a secondary capture has none)."""
    if str(headers[0].dataset.get("Modality", "")).strip().upper() == "SEG":
        return False
    if _localizers(headers):
        return False
    # A damaged header lists no frames: its series may be slices, and stays a choice.
    return any(h.problem is not None for h in headers) or any(
        f.position is not None and f.orientation is not None for h in headers for f in h.frames
    )


def _values(value) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue | list) else [value]


def _windows(header: _Header) -> list[dict]:
    """The display presets of a header whose center and width are both numbers.

    A preset is not needed to read the voxels, so a damaged one (an empty value, as pydicom reads the
    trailing backslash of ``40\\``, or text that is not a number) is left out, the others are kept
    in their place, and a warning names the file when the left-out value was not empty. Damaged names
    (WindowCenterWidthExplanation: unreadable, or run into the next elements, the patient's name among
    them) leave the presets unnamed, with a warning (:func:`_optional_text`).
    """
    ds = header.dataset
    try:
        centers, widths = _values(ds.get("WindowCenter")), _values(ds.get("WindowWidth"))
    except Exception as exc:  # pydicom raises many types on a damaged element
        # Only the exception's type: a damaged length may take in the bytes of other elements.
        warnings.warn(
            f"{header.path}: its window presets (WindowCenter, WindowWidth) cannot be read "
            f"({type(exc).__name__}); the volume has none. The voxels do not depend on them.",
            stacklevel=4,
        )
        return []
    without = "the window presets have no names"
    names = _optional_text(header, "WindowCenterWidthExplanation", without).split("\\")  # as written
    windows, damaged = [], []
    for i, (center, width) in enumerate(zip(centers, widths, strict=False)):
        pair = [_number(center), _number(width)]
        if None not in pair:
            windows.append({"center": pair[0], "width": pair[1], "name": names[i] if i < len(names) else ""})
        elif any(str(v).strip() for v, n in zip((center, width), pair, strict=True) if n is None):
            damaged.append(i + 1)
    if damaged:
        warnings.warn(
            f"{header.path}: left out window preset {', '.join(map(str, damaged))} of {len(centers)}: its "
            "WindowCenter or WindowWidth is not a number (the header is damaged there); the "
            "voxels do not depend on it.",
            stacklevel=4,
        )
    return windows


def _number(value) -> float | None:
    """A preset value as a float, or None where it is empty or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _meta(header: _Header, stack: _Stack, rescale: dict) -> dict:
    ds = header.dataset
    windows = _windows(header)
    return {
        "modality": _optional_text(header, "Modality", "the volume's modality is not known"),
        "series_uid": _as_text(ds.get("SeriesInstanceUID", "")),
        "study_uid": _as_text(ds.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": _as_text(ds.get("FrameOfReferenceUID", "")),
        "patient_id": _as_text(ds.get("PatientID", "")),
        "study_id": _as_text(ds.get("StudyID", "")),
        "description": _optional_text(header, "SeriesDescription", "the series has no description"),
        "units": _optional_text(header, "Units", "the volume's units are not known").strip(),
        "rescale": rescale,
        "windows": windows,
        "files": [frame.name for frame in stack.frames],
        "missing_slices": stack.missing,
    }
