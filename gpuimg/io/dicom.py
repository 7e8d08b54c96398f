"""Reading a DICOM series (or one enhanced multi-frame file) into a :class:`~gpuimg.Volume`."""

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
from pydicom.multival import MultiValue

from gpuimg._memory import check_bytes
from gpuimg._text import count, some
from gpuimg.backend import to_device
from gpuimg.errors import DicomError, ParameterError
from gpuimg.io._header import (
    _NATIVE,
    _Frame,
    _Header,
    _native_bytes,
    _pixel_bytes_fit,
    _raw_dataset,
    _transfer_syntax,
)
from gpuimg.io._scan import _files, _scan, _unlisted
from gpuimg.io._stack import _Stack, _stack
from gpuimg.io.image import IMAGE_SUFFIXES
from gpuimg.io.series import (
    SeriesInfo,
    _by_series,
    _check_series,
    _localizers,
    _summarise,
    _thickness,
    _without_scout,
)
from gpuimg.volume import Volume

_INT16 = np.iinfo(np.int16)

#: Size of the Pixel Data element's header in the uncompressed little-endian syntaxes [bytes].
_PIXEL_ELEMENT_HEADER = {pydicom.uid.ImplicitVRLittleEndian: 8, pydicom.uid.ExplicitVRLittleEndian: 12}
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
#: Stored pixels below which a series is decoded in the calling thread [bytes]: a thread pool's start
#: (a few ms) costs more than copying a few MiB from the page cache.
_THREADED_BYTES = 8 * 2**20


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
        ``data`` (z, y, x) with z running along the slice normal (row x column cosines): int16 when
        every RescaleSlope/RescaleIntercept is an integer and the values fit, else float32. ``spacing``
        (z, y, x) [mm] from the median position step (the step fitted to every position where
        rounded positions stray from the median's grid) and PixelSpacing; ``origin`` is
        ImagePositionPatient of the first slice [mm, LPS]; ``direction`` columns are the slice normal,
        the column and the row direction cosines (the orthonormal matrix nearest them, where cosines
        written with few decimals are not quite orthogonal). ``meta`` holds modality, series/study
        UIDs, patient and study IDs, description, rescale, window presets, ``files`` (the file of each
        filled slice, in slice order, with "(frame k)" after a multi-frame file's name; none for a
        slice listed in ``missing_slices``) and ``missing_slices``.

    Raises
    ------
    DicomError
        Several series and no ``series_uid``; unreadable, truncated or pixel-less files in the series
        (or among the files named one by one); a header whose pixel description is invalid (BitsStored,
        NumberOfFrames, an image larger than its file); a rescale that is 0 or not finite; files of one
        series UID that differ in modality, patient, study or frame of reference; a transfer syntax
        without a decoder; a projection image (no position); real-valued pixels (Float Pixel Data, as
        parametric maps hold); a gated NM reconstruction of several gates (a 4D image).
    MemoryBudgetError
        If the volume would need more memory than the budget (``GPUIMG_MAX_BYTES``; see
        :mod:`gpuimg._memory`), checked before anything is decoded.
    ParameterError
        If ``path_or_files`` is not a path or a list of paths, or is a SeriesInfo of another series
        than ``series_uid``.
    GeometryError
        Positions, orientations or pixel spacings that are not finite, not unit and orthogonal, or not
        positive; mixed orientations, image sizes or pixel spacings; duplicate positions; missing
        slices (unless ``allow_gaps``); uneven spacing; a sheared (gantry-tilted) stack.
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or asks for CUDA where no GPU is usable (the
        message says what is missing and which extra to install).

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
    it that may not be listed (permission denied), each named; a file named in a list that is not a
    DICOM image is an error. A series that holds localizer images (ImageType LOCALIZER: a CT's scout)
    beside others is read without them, with a warning naming them.

    Uncompressed explicit-VR little-endian files (what most scanners and PACS export) have their
    headers read by a small parser of the tags needed here, and their pixels read (by threads, for a
    series over 8 MiB) straight into the volume, rescaled in place; any other file (compressed, implicit
    VR, big endian, enhanced multi-frame, unusual values) is read by pydicom, with the same result and
    the same checks.

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
    chosen, scouts = _without_scout(_series_headers(path_or_files, series_uid))
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
        stack = _stack(frames, uid, thickness=_thickness(chosen[0]), allow_gaps=allow_gaps)
    data, rescale = _decode(stack, chosen)
    meta = _meta(chosen[0].dataset, stack, rescale)
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
    paths, explicit = _files(path_or_files, unlisted)
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
            + (_unlisted(Path(path_or_files), unlisted) if unlisted else "")
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


def _decode_file(path: Path) -> np.ndarray:
    """The stored pixel values of one file, (frames, rows, columns)."""
    try:
        ds = pydicom.dcmread(path, force=_raw_dataset(path))
    except Exception as exc:  # pydicom raises many types on a damaged file
        raise DicomError(
            f"{path}: cannot be read ({type(exc).__name__}: {exc}); the file is damaged."
        ) from exc
    floats = next((k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds), None)
    if "PixelData" not in ds and floats is not None:
        raise DicomError(
            f"{path}: its pixels are {floats} {ds[floats].tag}, real numbers as a parametric map (ADC, "
            "T1, perfusion) stores them, not the integer pixels and rescale read_dicom reads. Read them "
            "with pydicom (pydicom.dcmread(path).pixel_array) and make a gpuimg.Volume of them."
        )
    if "PixelData" not in ds:
        raise DicomError(
            f"{path}: the file has no pixel data (tag 7FE0,0010), only a header. Export the series again "
            "with images, or leave this file out."
        )
    try:
        pixel_data = ds.PixelData  # converted on access: a damaged VR fails here
    except Exception as exc:  # pydicom raises many types on a damaged element
        raise DicomError(
            f"{path}: its Pixel Data element (7FE0,0010) cannot be read ({type(exc).__name__}); the file "
            "is damaged. Export it again."
        ) from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    ds.file_meta.TransferSyntaxUID = _transfer_syntax(ds)
    if ds.file_meta.TransferSyntaxUID in _NATIVE:
        claimed = _native_bytes(ds, frames)
        if not _pixel_bytes_fit(claimed, len(pixel_data)):
            raise DicomError(
                f"{path}: holds {len(pixel_data)} bytes of pixel data but its header claims {claimed} "
                f"({count(frames, 'frame')} of {ds.Rows} x {ds.Columns} at {ds.BitsAllocated} bits). "
                "The file is truncated, or BitsAllocated, Rows, Columns or NumberOfFrames is wrong; "
                "export it again."
            )
    return _pixel_array(ds, path).reshape(frames, int(ds.Rows), int(ds.Columns))


def _pixel_array(ds: pydicom.Dataset, path: Path) -> np.ndarray:
    """``ds.pixel_array``, or a DicomError naming ``path`` where the decoder fails.

    Decoders raise ValueError, RuntimeError ... on a damaged stream, and pylibjpeg-rle's Rust code
    panics with a ``PanicException``, which derives from BaseException, not Exception.
    """
    try:
        return ds.pixel_array
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian)
        raise DicomError(
            f"{path}: the pixel data cannot be decoded ({pydicom.uid.UID(syntax).name}; "
            f"{type(exc).__name__}: {exc}). The file is damaged; export it again."
        ) from exc


def _pixel_offset(header: _Header) -> int | None:
    """Where the stored values of an uncompressed little-endian file start [bytes from the file's start].

    The quick header reader found it already; for a file pydicom read, the Pixel Data element is
    almost always the last one, so its value is the last ``_native_bytes`` bytes of the file and the
    element header just before them is checked (tag, length, VR). None where the file is laid out
    otherwise (compressed, big-endian, trailing elements, odd length): pydicom decodes it.
    """
    if header.pixels is not None:
        return header.pixels[0]
    head = _PIXEL_ELEMENT_HEADER.get(header.transfer_syntax)
    if head is None:
        return None
    nbytes = _native_bytes(header.dataset, header.n_frames)
    offset = header.path.stat().st_size - nbytes
    if offset < head + 128:
        return None
    with open(header.path, "rb") as file:
        file.seek(offset - head)
        element = file.read(head)
    length = int.from_bytes(element[-4:], "little")
    explicit_vr_ok = head == 8 or element[4:6] in (b"OW", b"OB")
    if element[:4] != _PIXEL_DATA_TAG or length != nbytes or not explicit_vr_ok:
        return None
    return offset


def _read_into(file, position: int, target: np.ndarray, path: Path) -> None:
    """Read ``target.nbytes`` bytes of ``file`` from ``position`` straight into ``target``'s memory."""
    view = memoryview(target).cast("B")
    file.seek(position)
    done = 0
    while done < len(view):
        got = file.readinto(view[done:])
        if not got:
            raise DicomError(
                f"{path}: the file ended {len(view) - done} bytes before the end of its pixel data; it was "
                "truncated while being read. Read the series again once it is completely written."
            )
        done += got
    if sys.byteorder != "little":
        target.byteswap(inplace=True)


def _decode(stack: _Stack, headers: list[_Header]) -> tuple[np.ndarray, dict]:
    """Decode every frame into its slice, rescaled to real values; and the rescale used.

    Uncompressed little-endian frames are read by threads straight from their files into their slice
    of one preallocated stack of stored values (other files are decoded by pydicom and copied in);
    each slice is then rescaled in place when the output type has the same size (int16 from 16-bit
    pixels), so a series costs one volume of memory, not two. When the rescale and the stored type
    alone decide the output type (the usual case), a slice is rescaled while it is still in cache,
    and the volume is traversed once.
    """
    by_file: dict[Path, list[tuple[int, _Frame]]] = {}
    for slot, frame in zip(stack.slots, stack.frames, strict=True):
        by_file.setdefault(frame.path, []).append((slot, frame))
    stored = np.result_type(*{_stored_dtype(h.dataset) for h in headers})
    rows, columns = stack.frames[0].shape
    # The stored values and, at worst, a float32 copy of them.
    check_bytes(
        stack.n_slices * rows * columns * (stored.itemsize + 4),
        f"Series {stack.frames[0].path.parent}: {count(stack.n_slices, 'slice')} of {rows} x {columns} "
        "pixels",
    )
    raw = np.empty((stack.n_slices, rows, columns), dtype=stored)
    header_of = {header.path: header for header in headers}
    slope = np.array([f.slope for f in stack.frames])
    intercept = np.array([f.intercept for f in stack.frames])
    rescale_of = dict(zip(stack.slots, zip(slope, intercept, strict=True), strict=True))
    integral = bool(np.all(slope == np.rint(slope)) and np.all(intercept == np.rint(intercept)))
    # The output type, where the stored type's whole range decides it; else the values decide.
    dtype = np.dtype(np.float32) if not integral else None
    if integral and _fits_int16(np.array([np.iinfo(stored).min, np.iinfo(stored).max]), slope, intercept):
        dtype = np.dtype(np.int16)
    # Stored minimum and maximum of each slot, taken while its pixels are in cache, where needed.
    ranged = dtype is None or bool(stack.missing)
    low, high = np.zeros(stack.n_slices), np.zeros(stack.n_slices)
    data = None if dtype is None else _output(raw, dtype)
    scratch = threading.local()

    def rescale_slot(slot: int) -> None:
        s, b = rescale_of[slot]
        if dtype == np.int16:
            out = data[slot]
            _rescale_int16(out if data.base is raw else raw[slot], s, b, out)
            return
        work = getattr(scratch, "work", None)
        if work is None:
            work = scratch.work = np.empty((rows, columns))
        np.multiply(raw[slot], s, out=work)
        np.add(work, b, out=work)
        np.copyto(data[slot], work, casting="same_kind")

    def fill(path: Path) -> None:
        header = header_of[path]
        offset = _pixel_offset(header) if _stored_dtype(header.dataset) == stored else None
        if offset is None:
            _copy_decoded(path, by_file[path], raw, stored)
        else:
            with open(path, "rb", buffering=0) as file:
                for slot, frame in by_file[path]:
                    _read_into(file, offset + (frame.index or 0) * raw[slot].nbytes, raw[slot], path)
            bits = int(header.dataset.get("BitsAllocated", 0))
            unused = bits - int(header.dataset.get("BitsStored", bits))
            if unused > 0:  # unused high bits: cleared (unsigned) or sign-extended, as pydicom does
                for slot, _frame in by_file[path]:
                    np.left_shift(raw[slot], unused, out=raw[slot])
                    np.right_shift(raw[slot], unused, out=raw[slot])
        for slot, _frame in by_file[path]:
            if ranged:
                low[slot], high[slot] = raw[slot].min(), raw[slot].max()
            if dtype is not None:
                rescale_slot(slot)

    workers = min(
        32, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    if raw.nbytes < _THREADED_BYTES:  # a small series: starting threads costs more than its copy
        workers = 1
    files = list(by_file)
    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else contextlib.nullcontext() as pool:
        run = map if pool is None else pool.map
        list(run(lambda chunk: [fill(path) for path in chunk], [files[k::workers] for k in range(workers)]))
        slots = np.array(stack.slots)
        ends = np.stack([low[slots], high[slots]]) * slope + intercept
        if dtype is None:
            dtype = np.dtype(np.int16 if _fits_int16(ends, 1, 0) else np.float32)
            data = _output(raw, dtype)
            list(run(rescale_slot, stack.slots))
    if stack.missing:
        data[stack.missing] = float(ends.min())
    uniform = np.all(slope == slope[0]) and np.all(intercept == intercept[0])
    rescale = (
        {"slope": float(slope[0]), "intercept": float(intercept[0])}
        if uniform
        else {"slope": slope.tolist(), "intercept": intercept.tolist()}
    )
    return data, rescale


def _fits_int16(values: np.ndarray, slope, intercept) -> bool:
    """Whether every ``values * slope + intercept`` (broadcast) lies in the int16 range."""
    ends = values[:, None] * slope + intercept if np.ndim(slope) else values * slope + intercept
    return bool(_INT16.min <= ends.min() and ends.max() <= _INT16.max)


def _output(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The output volume: ``raw``'s own memory where the output type has the same size, else new."""
    return raw.view(dtype) if dtype.itemsize == raw.dtype.itemsize else np.empty(raw.shape, dtype)


def _rescale_int16(source: np.ndarray, slope: float, intercept: float, out: np.ndarray) -> None:
    """``out = source * slope + intercept`` in int16, for integral rescales whose results fit int16.

    Computed modulo 2**16 (NumPy's integer arithmetic wraps): the product may overflow int16, but
    the sum is congruent to the exact result, which fits, so it is the exact result. ``source`` may
    be ``out`` itself (16-bit pixels rescaled in place, uint16 read through an int16 view).
    """
    if source is not out or slope != 1:
        np.multiply(source, _wrap16(slope), out=out, dtype=np.int16, casting="unsafe")
    if intercept != 0:
        np.add(out, _wrap16(intercept), out=out)


def _wrap16(value: float) -> np.int16:
    """An integral value modulo 2**16, as int16."""
    return np.int16((int(value) + 2**15) % 2**16 - 2**15)


def _copy_decoded(path: Path, frames: list[tuple[int, _Frame]], raw: np.ndarray, stored: np.dtype) -> None:
    """Decode a file with pydicom and copy its frames into their slots of ``raw``."""
    pixels = _decode_file(path)
    if not np.can_cast(pixels.dtype, stored):
        raise DicomError(
            f"{path}: pixels decode as {pixels.dtype}, but BitsAllocated and PixelRepresentation "
            f"in the series headers say {stored}; the header is inconsistent with the pixel data."
        )
    for slot, frame in frames:
        raw[slot] = pixels[frame.index or 0]


def _stored_dtype(ds: pydicom.Dataset) -> np.dtype:
    """The dtype pydicom decodes a file's pixels to, from BitsAllocated and PixelRepresentation."""
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    return np.dtype(f"{'i' if signed else 'u'}{max(int(ds.BitsAllocated), 8) // 8}")


def _values(value) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue | list) else [value]


def _meta(ds: pydicom.Dataset, stack: _Stack, rescale: dict) -> dict:
    centers = [float(v) for v in _values(ds.get("WindowCenter"))]
    widths = [float(v) for v in _values(ds.get("WindowWidth"))]
    names = [str(v) for v in _values(ds.get("WindowCenterWidthExplanation"))]
    windows = [
        {"center": c, "width": w, "name": names[i] if i < len(names) else ""}
        for i, (c, w) in enumerate(zip(centers, widths, strict=False))
    ]
    return {
        "modality": str(ds.get("Modality", "")),
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_uid": str(ds.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
        "patient_id": str(ds.get("PatientID", "")),
        "study_id": str(ds.get("StudyID", "")),
        "description": str(ds.get("SeriesDescription", "")),
        "rescale": rescale,
        "windows": windows,
        "files": [frame.name for frame in stack.frames],
        "missing_slices": stack.missing,
    }
