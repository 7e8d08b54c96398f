"""Decoding a DICOM series' pixels into one stack of real values: uncompressed little-endian frames
read by threads straight from their files into their slices, other files decoded by pydicom, and the
rescale (slope, intercept) applied, in int16 where the values fit it, else in the float type that holds
integral values exactly (float32 below 2**24 in magnitude, float64 beyond)."""

import contextlib
import functools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom

from gpuimg._memory import check_bytes
from gpuimg._text import count
from gpuimg.errors import DicomError
from gpuimg.io._header import (
    _NATIVE,
    _bits_stored,
    _cause,
    _dcmread,
    _Excess,
    _excess,
    _Frame,
    _Header,
    _native_bytes,
    _pixel_bytes_fit,
    _transfer_syntax,
)
from gpuimg.io._stack import _FLOAT32_EXACT, _integral, _Stack
from gpuimg.io._tags import _Tags

_INT16 = np.iinfo(np.int16)
#: The header values a file's stored type and unused high bits are read from (:func:`_stored_dtype`,
#: :func:`_unused_bits`).
_STORED_VALUES = frozenset({"PixelRepresentation", "BitsAllocated", "BitsStored"})

#: Size of the Pixel Data element's header in the uncompressed little-endian syntaxes [bytes].
_PIXEL_ELEMENT_HEADER = {pydicom.uid.ImplicitVRLittleEndian: 8, pydicom.uid.ExplicitVRLittleEndian: 12}
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
#: Stored pixels below which a series is decoded in the calling thread [bytes]: a thread pool's start
#: (a few ms) costs more than copying a few MiB from the page cache.
_THREADED_BYTES = 8 * 2**20


def _decode_file(path: Path) -> np.ndarray:
    """The stored pixel values of one file, (frames, rows, columns)."""
    try:
        ds = _dcmread(path)
    except Exception as exc:  # pydicom raises many types on a damaged file
        raise DicomError(f"{path}: cannot be read ({_cause(exc)}); the file is damaged.") from exc
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
    # Bytes past the claimed ones: _check_series warned of them once for the series, at the caller's line.
    _keep_claimed(ds, path, frames, len(pixel_data))
    pixels, shape = _pixel_array(ds, path), (frames, int(ds.Rows), int(ds.Columns))
    if pixels.size != frames * shape[1] * shape[2]:  # pydicom counts the frames the pixel data hold
        raise DicomError(
            f"{path}: its pixel data decode to {pixels.size} values {pixels.shape}, not the header's "
            f"{count(frames, 'frame')} of {shape[1]} x {shape[2]}. Rows, Columns or NumberOfFrames is "
            "wrong; export the file again."
        )
    return pixels.reshape(shape)


def _keep_claimed(ds: pydicom.Dataset, path: Path, frames: int, length: int) -> _Excess | None:
    """Refuse uncompressed (or deflated) pixel data of ``length`` bytes that do not hold the header's
    ``frames`` frames (:func:`_check_native_length`); of more, keep the bytes the header claims, which
    pydicom then decodes without its own warning of "excess padding" (once a file, or a frame), and
    return what they held, which the caller warns of once (:func:`gpuimg.io._header._warn_of_excess`).
    None for a compressed syntax (pydicom's checks) and pixel data of the claimed length."""
    if _transfer_syntax(ds) not in _NATIVE:
        return None
    claimed = _check_native_length(ds, path, frames, length)
    if length <= claimed + 1:  # the byte that pads an odd length is no excess
        return None
    ds.PixelData = ds.PixelData[:claimed]
    return _excess(path, ds, frames, claimed, length)


def _check_native_length(ds: pydicom.Dataset, path: Path, frames: int, length: int) -> int:
    """The bytes of uncompressed pixel data the header describes (``frames`` frames' worth); a
    DicomError where ``length`` bytes do not fit them (a truncated file, or a wrong BitsAllocated, Rows,
    Columns or NumberOfFrames)."""
    claimed = _native_bytes(ds, frames)
    if not _pixel_bytes_fit(claimed, length):
        raise DicomError(
            f"{path}: holds {length} bytes of pixel data but its header claims {claimed} "
            f"({count(frames, 'frame')} of {ds.Rows} x {ds.Columns} at {ds.BitsAllocated} bits). "
            "The file is truncated, or BitsAllocated, Rows, Columns or NumberOfFrames is wrong; "
            "export it again."
        )
    return claimed


def _pixel_array(ds: pydicom.Dataset, path: Path, index: int | None = None) -> np.ndarray:
    """``ds.pixel_array``, or its frame ``index`` alone (decoding no other frame), or a DicomError
    naming ``path`` where the decoder fails.

    Decoders raise ValueError, RuntimeError ... on a damaged stream, and pylibjpeg-rle's Rust code
    panics with a ``PanicException``, which derives from BaseException, not Exception.
    """
    try:
        return ds.pixel_array if index is None else pydicom.pixels.pixel_array(ds, index=index)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian)
        raise DicomError(
            f"{path}: the pixel data cannot be decoded ({pydicom.uid.UID(syntax).name}; "
            f"{_cause(exc)}). The file is damaged; export it again."
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
    and the volume is traversed once; a series read in this thread (below :data:`_THREADED_BYTES`,
    which stays in cache whole) of one rescale into int16 is rescaled whole once read, in one call.
    """
    # Each file with the slots of its frames and its stored type. The stack's frames are its headers'
    # frame objects, found by identity: a Path's or a frame's hash and equality are Python calls, which
    # several look-ups a file made 0.2 of a demo series' decoding.
    slot_of = {id(frame): slot for slot, frame in zip(stack.slots, stack.frames, strict=True)}
    # Each file with its stored type and unused high bits (None: found where needed): a file matched to
    # its series' template in none of whose differing values they are read (_STORED_VALUES) holds the
    # values of the template's file, whose type and bits are found once for all of them.
    files, of_template = [], {}
    for header in headers:
        frames = [(slot, frame) for frame in header.frames if (slot := slot_of.get(id(frame))) is not None]
        if not frames:
            continue
        ds = header.dataset
        template = ds.template if isinstance(ds, _Tags) else None
        if template is not None and template.varying.isdisjoint(_STORED_VALUES):
            kind = of_template.get(template)
            if kind is None:
                kind = of_template[template] = (_stored_dtype(ds), _unused_bits(ds))
        else:
            kind = (_stored_dtype(ds), None)
        files.append((header, frames, *kind))
    stored = np.result_type(*{own for _header, _frames, own, _unused in files})
    rows, columns = stack.frames[0].shape
    slope = np.array([f.slope for f in stack.frames])
    intercept = np.array([f.intercept for f in stack.frames])
    integral = _integral(slope, intercept)
    stored_ends = np.array(_integer_range(stored), dtype=float)
    # The output type, where the stored type's whole range decides it; else the values decide.
    dtype = np.dtype(np.float32) if not integral else None
    if integral and _fits_int16(stored_ends, slope, intercept):
        dtype = np.dtype(np.int16)
    # The stored values and, at worst, a copy of them in the widest type they may need: float64 where
    # integral rescaled values may reach 2**24, else float32.
    widest = 4 if dtype is not None or _float32_exact(_rescaled(stored_ends, slope, intercept)) else 8
    check_bytes(
        stack.n_slices * rows * columns * (stored.itemsize + widest),
        f"Series {stack.frames[0].path.parent}: {count(stack.n_slices, 'slice')} of {rows} x {columns} "
        "pixels",
    )
    raw = np.empty((stack.n_slices, rows, columns), dtype=stored)
    # Python's floats, as NumPy takes them in the same arithmetic (not 64 NumPy scalars made a series).
    slopes, intercepts = slope.tolist(), intercept.tolist()
    rescale_of = dict(zip(stack.slots, zip(slopes, intercepts, strict=True), strict=True))
    # Stored minimum and maximum of each slot, taken while its pixels are in cache, where needed.
    missing = stack.missing
    ranged = dtype is None or bool(missing)
    if raw.nbytes < _THREADED_BYTES:  # a small series: starting threads costs more than its copy
        workers = 1
    else:
        workers = min(
            32, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        )
    # Python's == of the same floats, as NumPy's (none is nan: _stack refuses a rescale that is not finite).
    uniform = slopes.count(slopes[0]) == len(slopes) and intercepts.count(intercepts[0]) == len(intercepts)
    # A small series (read in this thread, and in cache whole) of one rescale into int16
    # is rescaled whole once read, not slice by slice: a NumPy call a slice cost 30 times the arithmetic
    # of a demo CT's 48 x 48 slice.
    whole = raw.nbytes < _THREADED_BYTES and uniform and not missing
    # Each slot rescaled once read (the output type known, and the volume not rescaled whole).
    slotwise = dtype is not None and not (whole and dtype == np.int16)
    low, high = (np.zeros(stack.n_slices), np.zeros(stack.n_slices)) if ranged else (None, None)
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

    slot_bytes, whole_bytes = raw[0].nbytes, memoryview(raw).cast("B")

    def fill(header: _Header, frames: list[tuple[int, _Frame]], own: np.dtype, unused: int | None) -> None:
        path = header.path
        offset = _pixel_offset(header) if own == stored else None
        kept = header.dataset.data if isinstance(header.dataset, _Tags) else None
        if offset is None:
            _copy_decoded(path, frames, raw, stored)
        else:
            if kept is not None:  # a small file, read whole with its header: not opened again
                kept = memoryview(kept)
                for slot, frame in frames:
                    start = offset + (frame.index or 0) * slot_bytes
                    whole_bytes[slot * slot_bytes : (slot + 1) * slot_bytes] = kept[
                        start : start + slot_bytes
                    ]
                    if sys.byteorder != "little":  # stored little-endian, as _read_into reads them
                        raw[slot].byteswap(inplace=True)
            else:
                with open(path, "rb", buffering=0) as file:
                    for slot, frame in frames:
                        _read_into(file, offset + (frame.index or 0) * slot_bytes, raw[slot], path)
            if unused is None:
                unused = _unused_bits(header.dataset)
            if unused > 0:  # unused high bits: cleared (unsigned) or sign-extended, as pydicom does
                for slot, _frame in frames:
                    np.left_shift(raw[slot], unused, out=raw[slot])
                    np.right_shift(raw[slot], unused, out=raw[slot])
        if ranged or slotwise:
            for slot, _frame in frames:
                if ranged:
                    low[slot], high[slot] = raw[slot].min(), raw[slot].max()
                if slotwise:
                    rescale_slot(slot)

    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else contextlib.nullcontext() as pool:
        run = map if pool is None else pool.map
        list(run(lambda chunk: [fill(*file) for file in chunk], [files[k::workers] for k in range(workers)]))
        if ranged:  # the rescaled values' extremes, which decide the type or fill the missing slices
            slots = np.array(stack.slots)
            ends = np.stack([low[slots], high[slots]]) * slope + intercept
        if dtype is None:
            dtype = np.dtype(_integral_dtype(ends))
            data = _output(raw, dtype)
            if not (whole and dtype == np.int16):
                list(run(rescale_slot, stack.slots))
        if whole and dtype == np.int16:
            _rescale_int16(data if data.base is raw else raw, slope[0], intercept[0], data)
    if missing:
        data[missing] = float(ends.min())
    rescale = (
        {"slope": float(slope[0]), "intercept": float(intercept[0])}
        if uniform
        else {"slope": slope.tolist(), "intercept": intercept.tolist()}
    )
    return data, rescale


def _rescaled(values: np.ndarray, slope, intercept) -> np.ndarray:
    """Every ``values * slope + intercept``: each value with each frame's rescale where they are arrays."""
    return values[:, None] * slope + intercept if np.ndim(slope) else values * slope + intercept


def _fits_int16(values: np.ndarray, slope, intercept) -> bool:
    """Whether every ``values * slope + intercept`` (broadcast) lies in the int16 range."""
    ends = _rescaled(values, slope, intercept)
    return bool(_INT16.min <= ends.min() and ends.max() <= _INT16.max)


def _float32_exact(values: np.ndarray) -> bool:
    """Whether float32 holds every integer among ``values`` exactly (all below 2**24 in magnitude)."""
    return bool(np.abs(values).max() < _FLOAT32_EXACT)


def _integral_dtype(ends: np.ndarray) -> type:
    """The smallest type holding integral rescaled values between ``ends``' extremes exactly: int16,
    else float32 (below 2**24 in magnitude), else float64 (exact to 2**53)."""
    if _fits_int16(ends, 1, 0):
        return np.int16
    return np.float32 if _float32_exact(ends) else np.float64


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
    # Not ds.BitsAllocated: a _Tags' attribute look-up fails before its __getattr__ finds the value. Every
    # header decoded has one (_check_series refuses a file without).
    representation, bits = ds.get("PixelRepresentation", 0), ds.get("BitsAllocated")
    if type(representation) is int and type(bits) is int:  # a series' files repeat them: looked up
        return _dtype_of(representation, bits)
    return _dtype_of.__wrapped__(representation, bits)


def _unused_bits(ds: pydicom.Dataset | _Tags) -> int:
    """The high bits of each stored value that hold no part of it: BitsAllocated less BitsStored (none
    where BitsStored is absent or empty)."""
    bits, stored = ds.get("BitsAllocated", 0), ds.get("BitsStored")
    if type(bits) is int and type(stored) is int:  # as a series' files hold them: no conversion
        return bits - stored
    bits = int(bits)
    return bits - _bits_stored(ds, bits)


@functools.lru_cache(maxsize=64)
def _dtype_of(representation, bits) -> np.dtype:
    """The dtype of pixels of a PixelRepresentation and BitsAllocated (:func:`_stored_dtype`)."""
    return _integer_dtype(int(representation) == 1, max(int(bits), 8) // 8)


@functools.cache
def _integer_range(dtype: np.dtype) -> tuple[int, int]:
    """The least and greatest value of an integer dtype, looked up once a type (np.iinfo takes 2 µs)."""
    info = np.iinfo(dtype)
    return info.min, info.max


@functools.cache
def _integer_dtype(signed: bool, size: int) -> np.dtype:
    """The integer dtype of ``size`` bytes, signed or not, made once (np.dtype of a name takes 1 µs)."""
    return np.dtype(f"{'i' if signed else 'u'}{size}")
