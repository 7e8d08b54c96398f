"""DICOM objects that are not images (RTSTRUCT, SEG): reading one, and what a damaged one raises."""

import contextlib
import re
import struct
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom

from gpuimg._memory import check_allocation
from gpuimg.backend import to_device
from gpuimg.errors import DicomError, GeometryError, GpuimgError, ParameterError
from gpuimg.io._header import _cause, _dcmread
from gpuimg.io._tags import _as_text, _ran_on
from gpuimg.io._unchecked import unchecked_values
from gpuimg.volume import Volume

#: What reading an object's elements raises where one is missing or damaged: a missing element or
#: item (AttributeError, KeyError, IndexError), a value that does not convert as pydicom reads it
#: (ValueError, TypeError, NotImplementedError for an unknown VR; BytesLengthException for a number
#: of an odd length; OverflowError for an IS of 'inf'), a nested sequence that runs past the end of
#: the file (OSError, EOFError, struct.error: pydicom reads a sequence's items on access).
_DAMAGE = (
    pydicom.errors.BytesLengthException,
    AttributeError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    OverflowError,
    NotImplementedError,
    OSError,
    EOFError,
    struct.error,
)


def _read_object(path: Path, modality: str, sequence: str) -> pydicom.Dataset:
    """The dataset of the ``modality`` file ``path``, which must hold ``sequence``.

    Raises
    ------
    DicomError
        If the file cannot be read as DICOM, is another kind of object, or lacks ``sequence``.
    """
    try:
        ds = _dcmread(path)
    except Exception as exc:  # pydicom raises many types (InvalidDicomError, OSError, EOFError ...)
        raise DicomError(f"cannot read {path} as DICOM ({_cause(exc)}); pass the {modality} file.") from exc
    with _damage_named(path, modality):
        found = ds.get("Modality", "") or ""
    if _ran_on(found):  # the patient's name may follow: not shown
        raise DicomError(f"{path}: its Modality (0008,0060) is damaged; export the {modality} file again.")
    if found != modality:
        shown = _as_text(found) or "missing"
        raise DicomError(f"{path}: its Modality is {shown}, not {modality}; pass the {modality} file.")
    if sequence not in ds:
        raise DicomError(f"{path}: this {modality} file has no {sequence}; it is damaged. Export it again.")
    return ds


@contextlib.contextmanager
def _damage_named(path: Path, modality: str) -> Iterator[None]:
    """Raise what a missing or damaged element raises, while the ``modality`` file ``path`` is read,
    as a DicomError naming the file and the missing element.

    The original message is left out: pydicom's can hold the raw bytes of a damaged element, which a
    damaged length lets run into the patient's name.
    """
    try:
        yield
    except GpuimgError:
        raise
    except _DAMAGE as exc:
        missing = f"; {exc.name} is missing" if isinstance(exc, AttributeError) and exc.name else ""
        raise DicomError(
            f"{path}: an element of this {modality} file is damaged or missing ({type(exc).__name__}"
            f"{missing}); export it again."
        ) from exc


def _mask_volume(
    path: Path,
    modality: str,
    sequence: str,
    reference: Volume,
    device: str | None,
    place: Callable[[pydicom.Dataset], tuple[np.ndarray, str]],
) -> Volume:
    """The uint8 mask that ``place`` draws from the ``modality`` file ``path`` (which must hold
    ``sequence``) on the reference's grid, with the ROI's name ``place`` gives, as a Volume on
    ``device`` (default the reference's).

    Raises
    ------
    MemoryBudgetError
        If the mask (a byte a voxel of the reference) exceeds the memory budget, before it is drawn.
    """
    if not isinstance(reference, Volume):
        raise ParameterError(
            f"reference={type(reference).__name__}: pass the image the {modality} was drawn on as a Volume "
            "(gpuimg.read_dicom of its series), whose geometry places the mask."
        )
    shape = reference.shape
    with unchecked_values():  # a block, not a decorator: a warning's stacklevel points at the caller
        ds = _read_object(path, modality, sequence)
        check_allocation(
            shape,
            np.uint8,
            f"{path}: the {modality}'s mask on the image's {' x '.join(map(str, shape))} voxels",
        )
        with _damage_named(path, modality):
            mask, name = place(ds)
    data = to_device(mask, device or reference.device)
    meta = {"roi": name, "modality": modality}
    return Volume(data, reference.spacing, reference.origin, reference.direction, meta)


def _check_frame_of_reference(path: Path, what: str, uid, reference: Volume) -> None:
    """Refuse ``what`` (of the file ``path``) drawn in another frame of reference than the reference
    image's, where both name one: its patient coordinates mean nothing on this image.

    Raises
    ------
    GeometryError
        If the FrameOfReferenceUID ``uid`` differs from the reference's ``meta["frame_of_reference_uid"]``.
    DicomError
        If ``uid`` ran into the next elements (:func:`_ran_on`): it may hold the patient's name.
    """
    _refuse_run_on(uid or "", path, f"the FrameOfReferenceUID of {what}")
    uid = _as_text(uid or "").strip()
    image_uid = str(reference.meta.get("frame_of_reference_uid") or "").strip()
    if uid and image_uid and uid != image_uid:
        raise GeometryError(
            f"{path}: {what} lies in the frame of reference {uid}, the image in {image_uid}, so its "
            "coordinates do not place it on this image. Pass the image it was drawn on (a series of that "
            "FrameOfReferenceUID); for another image, read the mask on that one and resample it with the "
            "registration between the two."
        )


def _check_every_slice(
    path: Path, what: str, parts: str, drawn_on: set[str], reference: Volume, planes: list[int]
) -> None:
    """Refuse ``what`` (of the file ``path``) drawn on a series whose slices are several of the image's
    apart: its ``parts`` (contours, frames) fall on the slices ``planes`` of the image, every m-th, and
    the slices between them would stay empty.

    Only where the file names the series it was drawn on (``drawn_on``, SeriesInstanceUIDs) and the
    image is not that series as read: another series (``meta["series_uid"]``), or that series on a new
    grid along z (:func:`gpuimg.preprocess.resample` drops ``meta["files"]`` there). On the series'
    own slices an ROI may skip slices.

    Raises
    ------
    GeometryError
        If the slice indices ``planes`` (sorted, distinct) are two or more, all a step m >= 2 apart.
    DicomError
        If a UID of ``drawn_on`` ran into the next elements (:func:`_ran_on`): it may hold the patient's
        name.
    """
    for uid in drawn_on:
        _refuse_run_on(uid, path, f"the SeriesInstanceUID of the series {what} was drawn on")
    image_series = str(reference.meta.get("series_uid") or "").strip()
    regridded = image_series in drawn_on
    if not image_series or not drawn_on or (regridded and "files" in reference.meta) or len(planes) < 2:
        return
    step = int(np.gcd.reduce(np.diff(planes)))
    if step > 1:
        shown = ", ".join(map(str, planes[:4])) + (", ..." if len(planes) > 4 else "")
        which = "; this image is that series resampled along z" if regridded else ", not on this image's"
        raise GeometryError(
            f"{path}: {what} was drawn on the series {', '.join(sorted(drawn_on))}{which}: its {parts} "
            f"lie on one slice in {step} of this image (slices {shown}), so the slices between them would be "
            f"left empty (that series' slices are {step} times as far apart). Read it on the image it was "
            "drawn on; to measure it on a finer grid, resample that image and its mask together "
            "(gpuimg.preprocess.resample, resample_mask)."
        )


def _label(value, path: Path, keyword: str) -> str:
    """A name as the file ``path`` holds it (its ``keyword``, ROIName or SegmentLabel: a LO) as the name it
    means: without the leading and trailing spaces DICOM ignores, in Unicode's NFC form; several values
    (a backslash in the name) joined as written.

    One name can be stored in two canonically equivalent spellings, composed (NFC: ``"L\\u00e4sion"``)
    or decomposed (NFD: ``"La\\u0308sion"``, as macOS writes accented text), which look alike; in NFC
    form they are equal, so that a name typed on any system finds the ROI, and two ROIs of one name
    are told as such.

    Raises
    ------
    DicomError
        Where the name ran into the next elements (:func:`_ran_on`): it may hold the patient's name, and
        is not shown.
    """
    _refuse_run_on(value, path, f"a {keyword} of this file")
    return unicodedata.normalize("NFC", _as_text(value).strip())


def _refuse_run_on(value, path: Path, element: str) -> None:
    """Refuse ``value``, the file's ``element`` (in words), where it ran into the next elements
    (:func:`_ran_on`): it may hold the patient's name, so the DicomError does not show it."""
    if _ran_on(value):
        raise DicomError(
            f"{path}: {element} runs into the next elements (its length is damaged), so it is not shown; "
            "export the file again."
        )


def _caseless(name: str) -> str:
    """``name`` for comparing ignoring case (Unicode's case folding: "Große" as "GROSSE"), in NFC form."""
    return unicodedata.normalize("NFC", name.casefold())


def _named(names: list[str], wanted: str, parameter: str) -> list[str]:
    """The names (as :func:`_label` gives them) equal to ``wanted``, else equal to it ignoring case,
    else those in which it is found as a regular expression (ignoring case); ``wanted`` is compared in
    NFC form, as the names are.

    Raises
    ------
    ParameterError
        Where ``wanted`` is not a string, or is needed as a regular expression and is not a valid one.
    """
    if not isinstance(wanted, str):
        raise ParameterError(f"{parameter}={wanted!r} must be a name (str).")
    given, wanted = wanted, unicodedata.normalize("NFC", wanted)
    matches = [n for n in names if n == wanted] or [n for n in names if _caseless(n) == _caseless(wanted)]
    if matches:
        return matches
    try:
        pattern = re.compile(wanted, flags=re.IGNORECASE)
    except re.error as exc:
        raise ParameterError(
            f"{parameter}={given!r} is no name in the file and not a valid regular expression ({exc}); "
            f"pass a name exactly, or re.escape({given!r}) to search for it as text."
        ) from None
    return [n for n in names if pattern.search(n)]
