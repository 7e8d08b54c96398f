"""Finding the DICOM series in a folder tree, from their headers alone."""

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from gpuimg._support import caller_level
from gpuimg._text import count
from gpuimg.errors import DicomError, GpuimgError
from gpuimg.io._header import _first, _Header, _listed, _warn_of_excess
from gpuimg.io._scan import _files, _scan
from gpuimg.io._stack import _Stack, _stack
from gpuimg.io._tags import _as_text, _damaged_number, _ran_on, _Tags
from gpuimg.io._unchecked import unchecked_values


@dataclass(frozen=True)
class SeriesInfo:
    """What the headers say about one DICOM series.

    Attributes
    ----------
    series_uid : str
        SeriesInstanceUID; pass it to :func:`gpuimg.read_dicom` as ``series_uid``.
    modality : str
        CT, MR, PT, CR ...
    description : str
        SeriesDescription.
    patient_id, study_uid, study_id : str
        PatientID, StudyInstanceUID and StudyID.
    n_slices : int
        Number of 2D images (frames of multi-frame files count one each), less the localizer images
        (the scout) of a series that holds others too, which read_dicom leaves out.
    shape : tuple of int or None
        (z, y, x) of the volume read_dicom would return; None if it would refuse the series.
    spacing : tuple of float or None [mm]
        (z, y, x) voxel spacing, None if read_dicom would refuse the series.
    orientation : tuple of float or None
        ImageOrientationPatient (row then column direction cosines, LPS) shared by all slices (where
        they differ by rounding only, so that read_dicom reads them as one, that of the first file,
        which read_dicom takes), or None if they differ or are absent.
    files : tuple of Path
        The files of the series.
    problem : str or None
        Why read_dicom would refuse the series (the error message), None if it reads.

    Notes
    -----
    It also keeps the parsed headers of its files and the slice order found from them, so that
    ``read_dicom(info)`` reads only pixels; and the whole bytes of each plain file of at most 16 KiB,
    which ``read_dicom(info)`` takes its pixels from without opening the file again: the pixels as they
    were when :func:`list_series` read the file, as are the headers it places them by. A list of many
    such small files holds up to 16 KiB a file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import gpuimg
    >>> folder = tempfile.mkdtemp()
    >>> ct = gpuimg.Volume(np.zeros((3, 8, 8), np.int16), spacing=(2.5, 0.7, 0.7))
    >>> _ = gpuimg.write_dicom(ct, folder)
    >>> info = gpuimg.list_series(folder)[0]  # a SeriesInfo
    >>> info.modality, info.n_slices, info.shape, info.spacing, info.problem
    ('CT', 3, (3, 8, 8), (2.5, 0.7, 0.7), None)
    >>> gpuimg.read_dicom(info, device="cpu").shape
    (3, 8, 8)
    """

    series_uid: str
    modality: str
    description: str
    patient_id: str
    study_uid: str
    study_id: str
    n_slices: int
    shape: tuple[int, int, int] | None
    spacing: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    files: tuple[Path, ...] = field(repr=False)
    problem: str | None = None
    _headers: tuple[_Header, ...] = field(default=(), repr=False, compare=False)
    # The checked headers' slice order and geometry (None with a problem), which read_dicom then reuses.
    _stack: _Stack | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return (
            f"{self.series_uid} ({self.modality or '?'}, {self.description or 'no description'!r}, "
            f"{count(self.n_slices, 'slice')})"
        )


class SeriesList(list):
    """A list of :class:`SeriesInfo`, with the files that were not DICOM images in ``skipped``.

    Attributes
    ----------
    skipped : list of Path
        Files that are not DICOM images (other formats, DICOMDIR, reports).
    broken : dict of Path to str
        Files that look like DICOM but cannot be parsed, with the reason.
    unlisted : list of Path
        Folders under the one searched that may not be listed (permission denied), and links into
        folders that may not be searched: their files were not looked at.
    dangling : dict of Path to str
        Links under the folder searched that lead nowhere, with the reason: a target that does not
        exist, or a loop of links. What they linked to was not looked at.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import gpuimg
    >>> folder = Path(tempfile.mkdtemp())
    >>> ct = gpuimg.Volume(np.zeros((3, 8, 8), np.int16), spacing=(2.5, 0.7, 0.7))
    >>> _ = gpuimg.write_dicom(ct, folder / "ct")
    >>> _ = (folder / "notes.txt").write_text("not an image")
    >>> _ = (folder / "cut.dcm").write_bytes(bytes(128) + b"DICM")  # a DICOM preamble, then nothing
    >>> found = gpuimg.list_series(folder)  # a SeriesList
    >>> len(found), found[0].n_slices, [path.name for path in found.skipped]
    (1, 3, ['notes.txt'])
    >>> {path.name: why for path, why in found.broken.items()}
    {'cut.dcm': 'it is cut short (132 bytes): its file meta header holds no dataset'}
    """

    def __init__(self, series, skipped, broken, unlisted=(), dangling=None):
        super().__init__(series)
        self.skipped: list[Path] = list(skipped)
        self.broken: dict[Path, str] = dict(broken)
        self.unlisted: list[Path] = list(unlisted)
        self.dangling: dict[Path, str] = dict(dangling or {})


def list_series(path: str | os.PathLike, *, workers: int | None = None) -> SeriesList:
    """Every DICOM image series under a folder, from the file headers only.

    Parameters
    ----------
    path : str or path
        A folder, searched recursively, or a single file.
    workers : int, optional
        Threads that read headers at once. Default: this thread alone, unless its first 32 files
        take more than 1 ms each (slow storage, such as a network share): the rest are then read by
        one thread per CPU core, at most 16.

    Returns
    -------
    SeriesList
        One :class:`SeriesInfo` per SeriesInstanceUID, sorted by patient, study and series UID. Its
        attribute ``skipped`` lists the files that are not DICOM images (other formats, DICOMDIR,
        reports), ``broken`` maps files that look like DICOM but cannot be parsed to the reason,
        ``unlisted`` lists the folders under ``path`` that may not be listed (permission denied), and
        ``dangling`` maps its links that lead nowhere (no target, a loop) to the reason.

    Raises
    ------
    DicomError
        If ``path`` does not exist, may not be listed, or holds no files (the message counts its
        folders that may not be listed and its links that lead nowhere). Unreadable files and folders,
        and links that lead nowhere, under it are never fatal.

    Warns
    -----
    UserWarning
        Once a series, where the uncompressed (or deflated) pixel data of some of its files hold
        more bytes than their headers claim: how many files, and the bytes found and claimed. The
        claimed bytes are read as the image; padding after them is harmless, a sheared or shifted image
        means a wrong Rows, Columns, BitsAllocated or NumberOfFrames.

    Examples
    --------
    >>> import tempfile, gpuimg
    >>> folder = tempfile.mkdtemp()
    >>> _ = gpuimg.datasets.write_cohort(folder, 2, seed=0, shape=(8, 32, 32))  # 2 synthetic CTs
    >>> for series in gpuimg.list_series(folder):  # headers only
    ...     print(series.patient_id, series.modality, series.shape, series.spacing, series.problem)
    PATIENT-000 CT (8, 32, 32) (2.5, 3.0, 3.0) None
    PATIENT-001 CT (8, 32, 32) (2.5, 3.0, 3.0) None
    """
    unlisted: list[Path] = []
    dangling: dict[Path, str] = {}
    with unchecked_values():  # a block, not a decorator: a warning's stacklevel points at the caller
        paths, _ = _files(path, unlisted, dangling)
        headers, broken, skipped = _scan(paths, workers)
        series = [_summarise(uid, group) for uid, group in _by_series(headers).items()]
    series.sort(key=lambda s: (s.patient_id, s.study_uid, s.series_uid))
    return SeriesList(series, skipped, broken, unlisted, dangling)


def _by_series(headers: list[_Header]) -> dict[str, list[_Header]]:
    groups: dict[str, list[_Header]] = {}
    for header in headers:
        groups.setdefault(header.series_uid, []).append(header)
    return groups


#: Attributes every file of one series shares; a series mixing them is not one volume.
_SHARED = {
    "Modality": "modalities",
    "PatientID": "patient IDs",
    "StudyInstanceUID": "studies",
    "FrameOfReferenceUID": "frames of reference",
}


def _check_series(uid: str, headers: list[_Header]) -> None:
    """Refuse a series whose files cannot form one volume, from their headers alone.

    Raises
    ------
    DicomError
        If a file's header says its pixels cannot be read (:meth:`_Header.check_pixels`) or are not
        grey levels (colour, palette indices, 1 or 64 bits), or the files differ in modality,
        patient, study or frame of reference (the values of identifiers are not shown, as they may
        identify the patient), or a file is a gated NM reconstruction of several gates.

    Warns
    -----
    UserWarning
        Once for the series, where the pixel data of some of its files hold more bytes than their
        headers claim (:func:`gpuimg.io._header._warn_of_excess`), pointed at the call to read_dicom
        or list_series; not where the series is refused.
    """
    datasets = [header.dataset for header in headers]
    for keyword, what in _SHARED.items():
        held = [ds.get(keyword, "") for ds in datasets]
        if held.count(held[0]) == len(held):
            continue  # equal values are one text: the usual series, whose files repeat them
        values = {_as_text(value) for value in held}
        if len(values) > 1:
            # A damaged length may have run a Modality over the patient's elements.
            modalities = sorted({"a damaged one" if _ran_on(value) else value for value in values})
            shown = f" ({', '.join(modalities)})" if keyword == "Modality" else ""
            raise DicomError(
                f"Series {uid}: its {len(headers)} files hold {len(values)} different {what}{shown} "
                f"under one SeriesInstanceUID, so they are not one volume. Pass the files of one "
                "acquisition to read_dicom as a list of paths, or fix the UIDs when exporting."
            )
    excesses = []
    passed = set()  # the values of the quick reader's headers that passed (see _checked_as)
    for header in headers:
        values = _checked_as(header)
        if values is not None and values in passed:
            continue  # the files of a series repeat these values: the same values pass again
        excess = header.check_pixels()
        if excess is not None:
            excesses.append(excess)
        _check_grey(header)
        _check_gates(header)
        if excess is None and values is not None:
            passed.add(values)
    if excesses:
        _warn_of_excess(excesses, [header.path for header in headers], uid)


#: The header values that :meth:`_Header.check_pixels`, :func:`_check_grey` and :func:`_check_gates` read,
#: besides the file's problem, frames and pixel data's length.
_CHECKED = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "PhotometricInterpretation",
    "ImageType",
    "TimeSlotVector",
    "NumberOfTimeSlots",
    "SliceVector",
)
#: The same, as a set: a template's differing values are told apart from them in 25 ns, not 85.
_CHECKED_SET = frozenset(_CHECKED)


def _checked_as(header: _Header) -> tuple | None:
    """All that :func:`_check_series`' checks of one file depend on, where the quick reader read it
    (the length of its pixel data known, its values plain: text, numbers, lists of them); None for a
    file pydicom read, which is checked whatever the others held.

    A file whose values equal those of one that passed passes too, without being checked again. A file
    matched to its series' template (:class:`gpuimg.io._quick_reader._Template`) in none of whose differing
    values the checks look holds the values of the template's file: the template stands for them.
    """
    ds = header.dataset
    if not isinstance(ds, _Tags) or header.pixels is None:
        return None
    template = ds.template
    if template is not None and template.varying.isdisjoint(_CHECKED_SET):
        return (header.problem, header.pixels[1], header.n_frames, template)
    values = tuple([tuple(v) if type(v) is list else v for v in map(ds.get, _CHECKED)])
    return (header.problem, ds.file_meta["TransferSyntaxUID"], header.pixels[1], header.n_frames, values)


def _check_gates(header: _Header) -> None:
    """Refuse a gated NM reconstruction of several gates: a 4D image, not one volume.

    A file of ImageType RECON GATED TOMO holds each slice once per time slot (gate) of the cardiac
    cycle (NM Multi-frame Module: frames by SliceVector and TimeSlotVector), so several frames lie at
    each position.
    """
    ds = header.dataset
    image_type = _listed(ds.get("ImageType"))
    if len(image_type) < 3 or str(image_type[2]).upper() != "RECON GATED TOMO":
        return
    slots = {int(n) for n in _listed(ds.get("TimeSlotVector"))}
    n_gates = len(slots) if slots else int(ds.get("NumberOfTimeSlots") or 1)
    if n_gates > 1:
        n_slices = len({int(n) for n in _listed(ds.get("SliceVector"))}) or header.n_frames // n_gates
        raise DicomError(
            f"{header.path}: a gated NM reconstruction (ImageType RECON GATED TOMO): each of its "
            f"{n_slices} slices once per gate, {n_gates} gates (time slots of the cardiac cycle); "
            "read_dicom reads one 3D volume. Read one gate with pydicom (pydicom.dcmread(path).pixel_array, "
            "the frames whose TimeSlotVector entry is that gate's number, in SliceVector order) and make "
            "a gpuimg.Volume of it, or export the ungated (summed) reconstruction and read that."
        )


def _check_grey(header: _Header) -> None:
    """Refuse colour images (several samples a pixel, or palette indices) and 1-bit (binary
    segmentation) pixels: read_dicom reads grey levels."""
    samples = int(header.dataset.get("SamplesPerPixel", 1))
    if str(header.dataset.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR":
        raise DicomError(
            f"{header.path}: PALETTE COLOR pixels, indices into a colour table, not grey levels; read_dicom "
            "reads grey-level CT/MR/PET series, not colour images."
        )
    if samples != 1:
        raise DicomError(
            f"{header.path}: {samples} samples per pixel "
            f"({header.dataset.get('PhotometricInterpretation')}); read_dicom reads grey-level "
            "CT/MR/PET series, not colour images."
        )
    bits = int(header.dataset.get("BitsAllocated", 16))
    if bits not in (8, 16, 32):
        kind = (
            "a 64-bit image holds Double Float Pixel Data, real values as parametric maps hold them: read "
            "it with pydicom (pydicom.dcmread(path).pixel_array) and make a gpuimg.Volume of them"
            if bits == 64
            else "a 1-bit image is a segmentation: read it as one"
        )
        raise DicomError(
            f"{header.path}: BitsAllocated is {header.dataset.get('BitsAllocated')}; read_dicom reads "
            f"grey-level images of 8, 16 or 32 bits ({kind})."
        )


def _localizer(header: _Header) -> bool:
    """Whether an image is a localizer: ImageType's third value LOCALIZER, as a CT's scout or topogram
    is written."""
    image_type = header.dataset.get("ImageType")
    if type(image_type) is not list:  # a quick reader's list as it is, not copied by _listed
        image_type = _listed(image_type)
    return len(image_type) > 2 and str(image_type[2]).strip().upper() == "LOCALIZER"


def _localizers(headers) -> bool:
    """Whether every image of a series is a localizer (:func:`_localizer`): no volume to measure, though
    it has slices' positions."""
    return bool(headers) and all(map(_localizer, headers))


def _without_scout(headers: list[_Header]) -> tuple[list[_Header], list[_Header]]:
    """The headers of a series less its localizer images where it holds others too (a CT's scout
    stored in the series of its axial slices), and those left out; a series of localizers only is
    left as it is."""
    scouts = [header for header in headers if _localizer(header)]
    if not scouts or len(scouts) == len(headers):
        return headers, []
    return [header for header in headers if header not in scouts], scouts


def _thickness(headers: list[_Header]) -> float | None:
    """The slice spacing of a series of one slice [mm]: SpacingBetweenSlices, else SliceThickness; None
    for a series of several slices, whose spacing is measured from their positions.

    SpacingBetweenSlices may be negative (NM Reconstruction Module: its sign says which way the slices
    stack); its magnitude is the spacing. An enhanced multi-frame file gives both in its functional
    groups (Pixel Measures, per frame, else shared), which come first. A value that is not finite
    ('inf', 'nan') is no spacing, as an absent one.

    Raises
    ------
    DicomError
        A series of one slice whose value used is damaged (not one number, or unreadable), naming the file.
    """
    frames = 0
    for header in headers:  # stops at the second frame, where a series has many
        frames += header.n_frames
        if frames > 1:
            return None
    if frames != 1:
        return None
    header = headers[0]
    ds = header.dataset
    groups = [
        _first(ds.get("PerFrameFunctionalGroupsSequence")),
        _first(ds.get("SharedFunctionalGroupsSequence")),
    ]
    groups = [group for group in groups if group is not None]
    spacing = _slice_spacing(header, groups, "SpacingBetweenSlices")
    if spacing:
        return abs(spacing)
    return _slice_spacing(header, groups, "SliceThickness")


def _slice_spacing(header: _Header, groups: list, keyword: str) -> float | None:
    """``keyword`` of a series of one slice (:func:`_thickness`) [mm], None where it is absent, empty or
    not finite (no spacing: 'inf' or 'nan' written); DicomError naming the file where the header's value
    is damaged."""
    # The first Pixel Measures item (per frame, then shared) that has it, else the top level.
    items = [_first(group.get("PixelMeasuresSequence")) for group in groups]
    source = next((item for item in items if item is not None and keyword in item), header.dataset)
    damaged = _damaged_number(source, keyword)
    if damaged is not None:
        raise DicomError(
            f"{header.path}: a series of one slice takes its slice spacing from SpacingBetweenSlices, else "
            f"SliceThickness, and {damaged}"
        )
    value = source.get(keyword)
    return float(value) if value not in (None, "") and math.isfinite(float(value)) else None


def _optional_text(header: _Header, keyword: str, without: str) -> str:
    """The text value ``keyword`` of a header (SeriesDescription, Units, Modality); "" where it is
    absent, or with a warning naming the file and saying ``without`` where it cannot be read or holds
    control characters (a damaged element: no voxel depends on it). Called by read_dicom's and
    list_series' helpers at several depths: the warning points at the first frame outside gpuimg.io."""
    try:
        value = header.dataset.get(keyword, "") or ""
    except Exception as exc:  # pydicom raises many types on a damaged element
        # Only the exception's type: a damaged length may take in the bytes of other elements.
        damage = f"cannot be read ({type(exc).__name__})"
    else:
        if not _ran_on(value):
            return _as_text(value)
        damage = "is damaged (its length runs into the next elements)"
    warnings.warn(
        f"{header.path}: its {keyword} {damage}; {without}. The voxels do not depend on it.",
        stacklevel=caller_level(__file__),
    )
    return ""


def _summarise(uid: str, headers: list[_Header]) -> SeriesInfo:
    files = tuple(header.path for header in headers)
    headers, _ = _without_scout(headers)  # as read_dicom reads the series
    ds = headers[0].dataset
    frames = [frame for header in headers for frame in header.frames]
    shape = spacing = problem = stack = None
    try:
        _check_series(uid, headers)
        stack = _stack(frames, uid, thickness=_thickness(headers))
        shape = (stack.n_slices, *frames[0].shape)
        spacing = stack.spacing
    except GpuimgError as exc:
        problem, stack = str(exc), None
    # The frames' orientations looked at only where the series was refused: stacked, they are one to
    # rounding, and the first file's is the volume's.
    orientation = frames[0].orientation if stack is not None else None
    if stack is None and len({frame.orientation for frame in frames}) == 1:
        orientation = frames[0].orientation
    return SeriesInfo(
        series_uid=uid,
        modality=_optional_text(headers[0], "Modality", "the series' modality is not known"),
        description=_optional_text(headers[0], "SeriesDescription", "the series has no description"),
        patient_id=_as_text(ds.get("PatientID", "")),
        study_uid=_as_text(ds.get("StudyInstanceUID", "")),
        study_id=_as_text(ds.get("StudyID", "")),
        n_slices=len(frames),
        shape=shape,
        spacing=spacing,
        orientation=orientation,
        files=files,
        problem=problem,
        _headers=tuple(headers),
        _stack=stack,
    )
