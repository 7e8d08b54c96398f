"""Finding DICOM files and reading their headers without pixels, in threads where storage is slow."""

import errno
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from gpuimg._text import count, some
from gpuimg.errors import DicomError, ParameterError
from gpuimg.io._header import (
    _FRAME_VALUES,
    _cause,
    _claims_problem,
    _dcmread,
    _floats,
    _Frame,
    _frames,
    _Header,
    _nm_reconstruction,
    _raw_start,
)
from gpuimg.io._quick_reader import _quick
from gpuimg.io._tags import _damaged_value, _Tags

#: Files one thread reads in a row when scanning headers.
_SCAN_RUN = 32
#: Time a header takes [s] above which a scan waits on its storage and reads in threads (parsing
#: one from the page cache takes about 0.07 ms, from a cold local disk 0.25 ms).
_SLOW_FILE = 1e-3
#: File suffixes that mark DICOM files, so that such a file which does not parse is broken, not "other".
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
#: Why a link leads nowhere (the values of :attr:`gpuimg.io.SeriesList.dangling`).
_NO_TARGET, _LOOP = "its target does not exist", "a loop of links"


def _files(
    path_or_files: str | os.PathLike | Iterable[str | os.PathLike],
    unlisted: list[Path] | None = None,
    dangling: dict[Path, str] | None = None,
) -> tuple[list[Path], bool]:
    """The files to read, and whether the caller named them one by one (not a folder).

    A file named more than once in a list (overlapping globs, a relative and an absolute path) is read
    once, where it is first named. The folders under a folder that may not be listed are appended to
    ``unlisted`` (where given), and its links that lead nowhere to ``dangling`` (see
    :func:`_tree_files`): their files are not among those returned.

    Raises
    ------
    DicomError
        If a path does not exist or cannot be looked at (a folder on the way that the user may not
        open, a name too long), a folder cannot be listed, or it holds no files.
    """
    if path_or_files is None or isinstance(path_or_files, bytes):
        raise ParameterError(
            f"path_or_files={path_or_files!r}: pass a folder, a file, or a list of files (str or Path)."
        )
    if isinstance(path_or_files, str | os.PathLike):
        root = Path(path_or_files)
        if _checked(root.is_dir, root):
            _checked(lambda: os.scandir(root).close(), root)  # listed below, where a refusal is no file
            locked = [] if unlisted is None else unlisted
            nowhere = {} if dangling is None else dangling
            files = _tree_files(root, locked, dangling=nowhere)
            if not files:
                raise DicomError(
                    f"{root}: the folder holds no files{_unlisted(root, locked, nowhere)}. Check the path."
                )
            return files, False
        paths = [root]
    else:
        try:
            paths = [Path(p) for p in path_or_files]
        except TypeError:
            raise ParameterError(
                f"path_or_files={path_or_files!r}: pass a folder, a file, or a list of files (str or Path)."
            ) from None
        if not paths:
            raise DicomError("No DICOM files given: the list of files is empty.")
    missing = [p for p in paths if not _checked(p.is_file, p)]
    folders = [str(p) for p in missing if p.is_dir()]
    if folders:
        raise DicomError(
            f"{some(folders)}: {'a folder' if len(folders) == 1 else 'folders'} in the list of files. Pass "
            "a folder by itself, not in a list (read_dicom searches it), or list the files in it."
        )
    links = {p: why for p in missing if (why := _unfollowable(p)) is not None}
    if len(links) == 1:  # a link to a moved folder or file was 'no such file', and a loop of links too
        ((link, why),) = links.items()
        raise DicomError(
            f"{link}: the link leads nowhere ({why}), so nothing was read. Fix or remove the link."
        )
    if links:
        raise DicomError(
            f"{some([str(p) for p in links])}: links leading nowhere (a target that does not exist, or a "
            "loop of links), so nothing was read. Fix or remove the links."
        )
    if missing:
        raise DicomError(f"{some([str(p) for p in missing])}: no such file. Check the path.")
    # Keyed by the resolved path: each name of a file twice in a series is a duplicate slice, and its
    # message would ask to remove the file itself.
    first: dict[Path, Path] = {}
    for path in paths:
        first.setdefault(path.resolve(), path)
    return list(first.values()), True


def _checked(look, path: Path):
    """``look()`` (``path.is_dir``, ``path.is_file``, a listing), with the OSError it raises where the
    path cannot be looked at as a DicomError naming the path: a folder on the way that the user may not
    open (``is_dir`` and ``is_file`` answer False only for a missing path or a broken link), a folder
    that may not be listed, a name too long."""
    try:
        return look()
    except OSError as exc:
        raise DicomError(
            f"{path}: cannot be read ({exc.strerror or type(exc).__name__}). Check the path, and that you "
            "may open it and the folders on the way to it."
        ) from None


def _unfollowable(path: Path) -> str | None:
    """Why the link ``path`` leads nowhere (:data:`_NO_TARGET`, :data:`_LOOP`); None where ``path`` is
    there, is no link, or may not be looked at."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return _NO_TARGET if os.path.islink(path) else None
    except OSError as exc:
        return _LOOP if exc.errno == errno.ELOOP else None
    return None


def _unlisted(root: Path, unlisted: list[Path], dangling: dict[Path, str] | None = None) -> str:
    """Where folders under ``root`` may not be listed, or its links lead nowhere: a clause saying how
    many, and how to find them. Counted, not named (a folder may be named by its patient)."""
    clause = ""
    if unlisted:
        clause += (
            f"; {count(len(unlisted), 'folder')} under it may not be listed (permission denied), so their "
            f"files were not looked at (find {root} -type d ! -readable lists them)"
        )
    if dangling:
        clause += (
            f"; {count(len(dangling), 'link')} under it leading nowhere (a target that does not exist, or "
            f"a loop of links) could not be followed (find -L {root} -type l lists them)"
        )
    return clause


def _tree_files(
    folder: Path,
    unlisted: list[Path] | None = None,
    _seen: set | None = None,
    *,
    dangling: dict[Path, str] | None = None,
) -> list[Path]:
    """The files under ``folder``, at any depth, in sorted order.

    Symbolic links are followed, as ``gpuimg run`` follows a cohort's links to its study folders: a
    link to a file counts as a file, a link to a folder is listed as a folder (a cohort of links to the
    studies' folders), but each folder once: a link leading back to a folder on the way to it or
    above ``folder`` (a loop), or to one listed already, is left out. Hidden files count. A folder
    that cannot be listed, and an entry that may not be looked at (a link into a folder the user may
    not search), is left out and appended to ``unlisted``, where given; a link to a target that does
    not exist, or one of a loop of links, is no file, and goes to ``dangling`` (where given) with the
    reason. Each folder's entries are taken in name order with the files of a subfolder at its name's
    place, which is the order of sorted paths (part by part).
    """
    # (device, inode) of each folder listed, and of those above the first: a link to one is a loop. Those
    # above are looked at once the first folder is found to hold a folder (a study's files seldom do).
    above = _seen is None
    seen = set() if _seen is None else _seen
    try:
        stat = folder.stat()
        seen.add((stat.st_dev, stat.st_ino))
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except PermissionError:
        if unlisted is not None:
            unlisted.append(folder)
        return []
    files = []
    for entry in entries:
        path = folder / entry.name  # as Path(entry.path), without parsing the whole path again
        try:
            is_dir = entry.is_dir()
            folder_id = (entry.stat().st_dev, entry.stat().st_ino) if is_dir else None
        except PermissionError:  # a link into a folder that may not be searched, or an entry of one
            if unlisted is not None:
                unlisted.append(path)
            continue
        except OSError as exc:  # a loop of links, or an entry removed while walking (no error)
            if exc.errno == errno.ELOOP and dangling is not None:
                dangling[path] = _LOOP
            continue
        if is_dir and above:
            seen.update((s.st_dev, s.st_ino) for s in map(os.stat, folder.resolve().parents))
            above = False
        if is_dir and folder_id not in seen:
            files += _tree_files(path, unlisted, seen, dangling=dangling)
        elif is_dir:  # a folder listed already, or one on the way to it: each folder once
            continue
        elif not entry.is_symlink():
            if entry.is_file():
                files.append(path)
        elif path.is_file():  # a link is checked as Path.is_file checks it
            files.append(path)
        elif dangling is not None and not path.exists():
            dangling[path] = _NO_TARGET
    return files


def _read_header(path: Path) -> _Header | str | None:
    """The header of ``path``; None if it is not a DICOM file; the reason if it is a broken one.

    The quick reader (:mod:`gpuimg.io._quick_reader`) takes plain explicit-VR little-endian files; pydicom
    reads the others.
    """
    quick = _quick(path)
    # A file without ImagePositionPatient of its own (a reconstructed NM image keeps it in its
    # DetectorInformationSequence, which the quick reader skips) is read by pydicom.
    if type(quick) is tuple and "ImagePositionPatient" in quick[0]:
        return _header(path, *quick)
    if type(quick) is not tuple:
        try:
            start = _start(path) if quick is None else quick  # the first bytes, read by _quick
        except OSError:  # pydicom's read below says why
            start = None
        # Neither 'DICM' at byte 128 nor a dataset without preamble: pydicom refuses the file unforced
        # (InvalidDicomError) before reading anything else, so it is not opened again to hear that.
        if start is not None and start[128:132] != b"DICM" and not _raw_start(start):
            return _not_dicom(path, start)
    try:
        ds = _dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return _not_dicom(path)
    except Exception as exc:  # pydicom raises many types (EOFError, ValueError, struct.error ...)
        return f"it cannot be read as DICOM ({_cause(exc)}); the file is damaged"
    if "Rows" not in ds or "SOPInstanceUID" not in ds:
        try:
            sop_class = getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", ds.get("SOPClassUID"))
            kind = "" if sop_class is None else pydicom.uid.UID(str(sop_class)).name
        except Exception as exc:  # a damaged element fails when it is read
            return f"its SOP class UID cannot be read ({type(exc).__name__}); the header is damaged"
        if "Image Storage" in kind:
            return f"the header of this {kind} file ends before Rows/Columns"
        if len(ds) == 0:
            return f"it is cut short ({path.stat().st_size} bytes): its file meta header holds no dataset"
        return None  # a DICOMDIR, a report, a structure set: DICOM, but not an image
    return _header(path, ds)


def _header(
    path: Path, ds: pydicom.Dataset | _Tags, pixels: tuple[int, int] | None = None, size: int | None = None
) -> _Header | str:
    """The header of an image file of ``size`` bytes, or why its header cannot be read.

    A damaged text value (which may be the series UID) makes the file unreadable; a damaged number
    or an impossible pixel description is the header's ``problem``, so the file still stands in its
    series, which then cannot be read.

    A file the quick reader matched to its series' template (:class:`gpuimg.io._quick_reader._Template`) holds
    the bytes of the template's file but for its differing values (``template.varying``): where none of
    these but the position makes the frame or the verdict on the pixel description
    (:data:`_FRAME_VALUES`), and the file's size passes that verdict, its single frame is that of the
    first such file (``template.derived``: that frame and the file's size, which passed), at its own
    position.
    """
    template = ds.template if isinstance(ds, _Tags) else None
    if template is not None and template.derived is not None:
        first, first_size = template.derived
        # The verdict on the pixel description is that on the first file's values, which a file of its size
        # passed: only a file of another size is judged.
        if size == first_size or _claims_problem(path, ds, size) is None:
            position = ds["ImagePositionPatient"]
            # The quick reader's list holds floats already (a DS list): as _floats gives them.
            position = tuple(position) if type(position) is list else _floats(position)
            frame = _Frame(
                path,
                None,
                position,
                first.orientation,
                first.pixel_spacing,
                first.shape,
                first.slope,
                first.intercept,
            )
            return _Header(path, ds, (frame,), pixels=pixels)
    damaged = _damaged_value(ds, numbers=False)
    if damaged is not None:
        return damaged
    # The quick reader's values all convert (see _damaged_value): no number to look at, nor whether
    # the file is an NM reconstruction, whose slice spacings are then looked at too.
    numbers = None if isinstance(ds, _Tags) else _damaged_value(ds, True, spacings=_nm_reconstruction(ds))
    problem = numbers or _claims_problem(path, ds, size := path.stat().st_size if size is None else size)
    if problem is not None:
        return _Header(path, ds, (), problem)
    try:
        header = _Header(path, ds, _frames(path, ds), pixels=pixels)
    except Exception as exc:  # a malformed value (a letter in an IS, a short DS list) shows on access
        return f"a header value cannot be read ({_cause(exc)}); the header is damaged"
    if (
        template is not None
        and template.derived is None
        and header.n_frames == 1
        and "GridFrameOffsetVector" not in ds  # the position of a frame it places is NumPy's sum
        and not template.varying & _FRAME_VALUES
    ):
        template.derived = (header.frames[0], size)
    return header


def _start(path: Path) -> bytes:
    """The first 132 bytes of ``path`` (a preamble and the 'DICM' after it), fewer where the file is
    shorter."""
    with open(path, "rb") as file:
        return file.read(132)


def _not_dicom(path: Path, start: bytes | None = None) -> str | None:
    """Why ``path``, which pydicom refuses as no DICOM file, is a broken one (see
    :func:`_looks_like_dicom`); None where it is another kind of file. ``start``: its first 132 bytes,
    where read already."""
    if _looks_like_dicom(path, _start(path) if start is None else start):
        return f"it is cut short ({path.stat().st_size} bytes) or has no DICOM header"
    return None


def _looks_like_dicom(path: Path, start: bytes) -> bool:
    """Whether a file that does not parse was meant as DICOM: a DICOM suffix, or a cut-short preamble
    (zeros only, or nothing) in a file named as DICOM files without a DICOM suffix are: no suffix
    (``IM0001``) or a number (a UID's last component), not a marker such as ``export_done.flag``.
    ``start`` is the file's first 132 bytes (:func:`_start`).

    Not macOS's AppleDouble file ``._name`` beside each file copied to a disk without its attributes
    (a USB stick, a network share), which keeps the DICOM file's suffix.
    """
    if start.startswith(_APPLE_DOUBLE):
        return False
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return True
    suffix = path.suffix[1:]
    return len(start) < 132 and not start.strip(b"\0") and (suffix == "" or suffix.isdigit())


#: The magic number that opens an AppleDouble file.
_APPLE_DOUBLE = b"\x00\x05\x16\x07"


def _read_headers(paths: Sequence[Path]) -> list[_Header | str | None]:
    return [_read_header(path) for path in paths]


def _scan(
    paths: Sequence[Path], workers: int | None = None
) -> tuple[list[_Header], dict[Path, str], list[Path]]:
    """Read the headers of ``paths``: in this thread, or in a thread pool where storage is slow.

    Parameters
    ----------
    paths : sequence of Path
    workers : int, optional
        Threads reading at once. Default: the first run of :data:`_SCAN_RUN` files is read in this
        thread, and only if it took more than :data:`_SLOW_FILE` seconds a file (waiting on the
        storage, as on a network share) the rest go to one thread per core, at most 16.

    Returns
    -------
    headers : list of _Header
        The DICOM images, in the order of ``paths``.
    broken : dict
        File -> why it could not be read, for files that look like DICOM but fail to parse.
    skipped : list of Path
        Files that are not DICOM images (other formats, DICOMDIR, reports).

    Notes
    -----
    Headers are parsed in Python, under the GIL. From the page cache or a local disk, threads only
    contend for it: two threads read a 96-file series in 10.9 ms where one takes 6.4 ms (2 cores,
    warm), and they gain nothing from a cold local disk either (22.6 against 22.8 ms). They pay where
    each file waits for its storage, which then reads ``workers`` files at once. Each thread takes a
    run of files at once, since handing over one file a task costs as much as parsing its header.
    """
    runs = [paths[start : start + _SCAN_RUN] for start in range(0, len(paths), _SCAN_RUN)]
    results: list = []
    if workers is None and runs:
        start = time.perf_counter()
        results = _read_headers(runs[0])
        slow = time.perf_counter() - start > _SLOW_FILE * len(runs[0])
        runs = runs[1:]
        workers = min(16, os.cpu_count() or 1) if slow else 1
    if workers == 1 or len(runs) <= 1:  # starting threads would cost more than one run of headers
        results += [result for run in runs for result in _read_headers(run)]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results += [result for run in pool.map(_read_headers, runs) for result in run]
    headers, broken, skipped = [], {}, []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, _Header):
            headers.append(result)
        elif isinstance(result, str):
            broken[path] = result
        else:
            skipped.append(path)
    return headers, broken, skipped
