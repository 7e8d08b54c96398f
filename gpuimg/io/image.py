"""Reading and writing NIfTI (.nii, .nii.gz) and NRRD (.nrrd, .nhdr) volumes, geometry included.

On disk NIfTI is RAS and NRRD names its space; in memory every Volume is LPS (DICOM patient
coordinates), axes (z, y, x). Both formats store the x index fastest, so their axes (i, j, k) are our
(x, y, z).
"""

import gzip
import math
import os
import zlib
from pathlib import Path

import nrrd
import numpy as np

from gpuimg._memory import check_bytes
from gpuimg._support import check_path
from gpuimg.backend import to_device, to_numpy
from gpuimg.errors import GeometryError, GpuimgError, ImageFileError, ParameterError, WriteError
from gpuimg.io._atomic import _atomic_path
from gpuimg.io._stack import _COSINE_TOL, _orthonormalised
from gpuimg.volume import Volume, as_volume

#: Sign flips taking a named NRRD space to LPS.
_NRRD_SPACES = {
    "left-posterior-superior": (1, 1, 1),
    "right-anterior-superior": (-1, -1, 1),
    "left-anterior-superior": (1, -1, 1),
}
_NRRD_ABBREVIATIONS = {"LPS": "left-posterior-superior", "RAS": "right-anterior-superior"}
_NRRD_ABBREVIATIONS["LAS"] = "left-anterior-superior"
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
#: Millimetres in one of a NIfTI file's spatial units (the low 3 bits of xyzt_units: 1 metre, 2 mm,
#: 3 micron), in which its pixdim, qform and sform are; unknown (0) is taken as mm, as ITK takes it.
_NIFTI_MM = {1: 1000.0, 2: 1.0, 3: 0.001}
#: Largest ratio of decoded to stored bytes that deflate (gzip) can reach: its format limit is 1032:1.
_DEFLATE_RATIO = 1032
#: Bytes read at a time when decompressing.
_CHUNK = 1 << 24


def read_image(path: str | os.PathLike, *, device: str = "auto") -> Volume:
    """Read a NIfTI or NRRD file as a :class:`~gpuimg.Volume` in LPS coordinates.

    Parameters
    ----------
    path : str or path
        ``.nii``, ``.nii.gz``, ``.nrrd`` or ``.nhdr``.
    device : {"auto", "cpu", "cuda"}
        Where the voxels go (uploaded once).

    Returns
    -------
    Volume
        ``data`` (z, y, x) in the file's own dtype, in the machine's byte order (a mask stays an
        integer volume; NIfTI data with a scl_slope/scl_inter rescale become float64, as nibabel
        scales them); ``spacing`` [mm], ``origin`` and ``direction`` in LPS; ``meta["format"]`` and
        ``meta["path"]``.

    Raises
    ------
    ParameterError
        If ``path`` is not a path, or its suffix is not a NIfTI or NRRD one (a NIfTI suffix in mixed
        case, ``.Nii.gz``, is none, as for niftilib).
    ImageFileError
        If the file is missing, cannot be parsed, is truncated or corrupted (the gzip CRC is checked),
        or its header is invalid: an axis of length 0 or less, more voxels than the file can hold, a
        voxel spacing (pixdim, ``spacings``, ``space directions``) that is 0, negative or not finite.
    MemoryBudgetError
        If the voxels would need more memory than the budget (``GPUIMG_MAX_BYTES``; see
        :mod:`gpuimg._support`), checked from the header before any voxel is read.
    GeometryError
        If the image is not 3D (trailing axes of length 1 are dropped) or holds colour (RGB) voxels,
        its affine has shear, or a NRRD file names a space other than LPS, RAS or LAS.
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or asks for CUDA where no GPU is usable (the
        message says what is missing and which extra to install).

    Notes
    -----
    NIfTI geometry comes from nibabel's ``affine`` (the sform where its code is set, else the qform),
    its first two rows negated to go from RAS to LPS, and converted to mm from the file's spatial
    units (``xyzt_units``: metres and microns, as preclinical scanners write them; unknown is mm).
    NRRD geometry comes from ``space directions`` and ``space origin``, converted from the named
    ``space``; a NRRD without a space has axis-aligned geometry from ``spacings`` (else ``axis mins``
    to ``axis maxs``), its first voxel centre at ``axis mins`` (half a voxel past them for cell
    centering, the format's default), as ITK reads it. NRRD ``space directions`` and NIfTI affines
    written with few decimals, whose unit vectors are within 0.01 of orthogonal (dot products), are
    read as the nearest orthonormal directions, each step keeping its length (as read_dicom reads such
    cosines).
    A 2D NRRD image is one slice, whose third axis is the normal of its plane (row x column in LPS)
    with a spacing of 1 mm; in a 2D space (``space dimension: 2``, no ``space``, as SimpleITK writes a
    2D image) its vectors are x and y of LPS, and the slice lies at z = 0.

    Examples
    --------
    A phantom written as NIfTI (RAS on disk) and read back in LPS, with its voxels and geometry:

    >>> import tempfile, numpy as np, gpuimg
    >>> ct = gpuimg.datasets.ct_phantom((8, 32, 32), seed=0)
    >>> path = gpuimg.write_image(ct, f"{tempfile.mkdtemp()}/ct.nii.gz")
    >>> back = gpuimg.read_image(path, device="cpu")
    >>> back.data.dtype, back.spacing, back.origin
    (dtype('int16'), (2.5, 2.5, 2.5), (-38.75, -38.75, -8.75))
    >>> bool((back.data == ct.data).all()), bool(np.allclose(back.direction, ct.direction))
    (True, True)
    """
    path = check_path(path)
    kind = _kind(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: no such file. Check the path.")
    try:
        if kind == "nifti":
            data, lps = _read_nifti(path)
        else:
            data, lps = _read_nrrd(path)
    except GpuimgError:
        raise
    except Exception as exc:  # nibabel, pynrrd, gzip and zlib raise many types on a damaged file
        raise ImageFileError(
            f"{path}: cannot be read as {kind.upper()} ({type(exc).__name__}: {exc}). The file is truncated, "
            "corrupted or not in this format; write it again."
        ) from exc
    data = _three_d(data, path)
    matrix, offset = lps
    spacing = np.linalg.norm(matrix, axis=0)
    # nibabel gives a big-endian NIfTI file's voxels in its byte order; CuPy takes the machine's only
    # (it uploads the bytes unswapped: cupy#3652), as Numba does, so they are put in the machine's.
    native = data.dtype.newbyteorder("=")
    try:
        return Volume(
            to_device(np.ascontiguousarray(data.transpose(2, 1, 0), dtype=native), device),
            spacing[::-1],
            offset,
            (matrix / spacing)[:, ::-1],
            {"format": kind, "path": str(path)},
        )
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc} Resample the image onto an orthogonal grid first.") from exc


def _read_nifti(path: Path) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Voxels (i, j, k) and LPS geometry of a NIfTI file; the header is checked before any voxel is read."""
    import nibabel as nib  # here, not at the top: 30-50 ms that `import gpuimg` need not pay

    _check_compression(path)
    image = nib.load(path)
    header = image.header
    shape = tuple(int(n) for n in image.shape)
    dtype = np.dtype(header.get_data_dtype())
    if dtype.names is not None:
        raise GeometryError(
            f"{path}: a colour image ({len(dtype.names)} channels a voxel: {', '.join(dtype.names)}); gpuimg "
            "reads grey-level 3D volumes. Split the channels into separate 3D files first."
        )
    scaled = any(np.isfinite(v) and v not in (0, 1) for v in header.get_slope_inter() if v is not None)
    _check_claims(path, shape, dtype, np.float64 if scaled else dtype)
    if header["sform_code"] == 0:  # the qform (or nothing) places the voxels: pixdim is the spacing
        with nib.openers.ImageOpener(path) as file:  # as stored: nibabel's load sets a 0 pixdim to 1
            stored = type(header).from_fileobj(file, check=False)
        _check_spacing(path, stored["pixdim"][1:4], "pixdim[1:4]")
    ras = image.affine * _NIFTI_MM.get(int(header["xyzt_units"]) & 0x07, 1.0)  # in the file's units
    lps = _RAS_TO_LPS @ ras[:3, :3], _RAS_TO_LPS @ ras[:3, 3]
    _check_spacing(path, np.linalg.norm(lps[0], axis=0), "the affine's voxel steps")
    lps = _squared(lps[0]), lps[1]
    offset = int(header.get_data_offset())
    if path.name.lower().endswith(".gz"):
        # Decompressed whole, so that gzip checks the CRC and length at the end of the stream.
        raw = _gunzip(path, offset + math.prod(shape) * dtype.itemsize)
        image = type(image).from_bytes(raw)
    elif path.stat().st_size < offset + math.prod(shape) * dtype.itemsize:
        raise ImageFileError(
            f"{path}: the header claims {shape} voxels of {dtype} from byte {offset}, but the file is only "
            f"{path.stat().st_size} bytes. The file is truncated; write it again."
        )
    return np.asanyarray(image.dataobj), lps


def _check_compression(path: Path) -> None:
    """Refuse a NIfTI file whose name and content disagree on gzip (nibabel goes by the name)."""
    with open(path, "rb") as file:
        head = file.read(348)
    gzipped = head[:2] == b"\x1f\x8b"
    plain = head[344:348] == b"n+1\0" or head[4:8] == b"n+2\0"  # NIfTI-1 and NIfTI-2 magic
    named = path.name.lower().endswith(".gz")
    if named and plain:
        raise ImageFileError(
            f"{path}: the file is an uncompressed NIfTI, but its name ends in .gz; rename it to "
            f"{path.name[: -len('.gz')]}."
        )
    if gzipped and not named:
        right = path.name + (".GZ" if path.name.isupper() else ".gz")
        raise ImageFileError(
            f"{path}: the file is gzip-compressed, but its name does not end in .gz; rename it to {right}."
        )


def _read_nrrd(path: Path) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Voxels (i, j, k) and LPS geometry of a NRRD file; the header is checked before any voxel is read."""
    with open(path, "rb") as file:
        header = nrrd.read_header(file)  # leaves the file at the voxels, where they are attached
        sizes = tuple(int(n) for n in np.atleast_1d(header.get("sizes", ())))
        dtype = np.dtype(nrrd.reader._determine_datatype(header))
        data_file = header.get("data file") or header.get("datafile")
        source = path if data_file is None else path.parent / str(data_file)
        encoding = header.get("encoding", "raw")
        _check_claims(source, sizes, dtype, dtype, encoding)
        lps = _nrrd_geometry(header, len(sizes), path)
        skips = [header.get(key, 0) for key in ("line skip", "lineskip", "byte skip", "byteskip")]
        if data_file is None and encoding in ("gzip", "gz") and dtype.isnative and not any(skips):
            data = _gunzip_voxels(file, path, sizes, dtype)
        else:
            data = nrrd.read_data(header, file, str(path))  # Fortran order: axes (i, j, k) = (x, y, z)
    # A non-spatial axis ("none" in space directions) of one entry, as a leading list axis of one
    # component ("kinds: list domain domain domain"), is not an axis of the volume (as SimpleITK reads it).
    directions = header.get("space directions")
    if directions is not None and len(directions) == data.ndim:
        single = [k for k, row in enumerate(directions) if np.all(np.isnan(np.asarray(row, dtype=float)))]
        data = data.squeeze(axis=tuple(k for k in single if data.shape[k] == 1))
    return data, lps


def _gunzip_voxels(file, path: Path, sizes: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The gzip-compressed voxels attached to a NRRD header, axes (i, j, k) as pynrrd returns them.

    pynrrd decompresses into a growing buffer and copies it once more to skip its byte skip: a third
    of the time here, where the stream is decompressed once, bounded by the header's size and checked
    (CRC and length) by zlib at its end.
    """
    expected = math.prod(sizes) * dtype.itemsize
    stream = zlib.decompressobj(zlib.MAX_WBITS | 16)  # gzip framing
    raw = stream.decompress(file.read(), expected + 1)
    if len(raw) != expected or not stream.eof:
        raise ImageFileError(
            f"{path}: its gzip-compressed voxels {'end early' if len(raw) < expected else 'run on'} "
            f"({len(raw) if len(raw) <= expected else 'more than ' + str(expected)} of the {expected} "
            "bytes the header describes). The file is truncated or corrupted; write it again."
        )
    # A copy, so that the volume is writable like every other read (bytes are immutable).
    return np.frombuffer(raw, dtype).reshape(sizes, order="F").copy(order="F")


def _check_claims(path: Path, shape, dtype: np.dtype, out: np.dtype, encoding: str = "") -> None:
    """Refuse a header whose image is empty, larger than its file can hold, or over the memory budget."""
    if not shape or any(n < 1 for n in shape):
        raise ImageFileError(
            f"{path}: the header gives the image size {tuple(shape)}; every axis needs at least 1 voxel. "
            "The header is damaged; write the file again."
        )
    count = math.prod(shape)
    if not path.is_file():
        raise ImageFileError(f"{path}: the header's data file does not exist; keep it beside the header.")
    size = path.stat().st_size
    compressed = path.name.lower().endswith(".gz") or encoding in ("gzip", "gz")
    if encoding in ("bzip2", "bz2"):
        limit = math.inf  # bzip2's ratio has no useful bound: the memory budget decides
    else:
        limit = size * (_DEFLATE_RATIO if compressed else 1)
    if encoding in ("ascii", "text", "txt"):
        limit = size  # one value takes at least one character
    per_voxel = 1 if encoding in ("ascii", "text", "txt") else dtype.itemsize
    if count * per_voxel > limit:
        raise ImageFileError(
            f"{path}: the header claims {tuple(shape)} voxels of {dtype} ({count * dtype.itemsize} bytes), "
            f"more than a file of {size} bytes can hold{' compressed' if compressed else ''}. The file "
            "is truncated or its header is wrong; write it again."
        )
    check_bytes(count * (dtype.itemsize + out.itemsize), f"{path}: {tuple(shape)} voxels of {dtype}")


def _check_spacing(path: Path, steps, what: str) -> None:
    steps = np.asarray(steps, dtype=float)
    if not np.all(np.isfinite(steps) & (steps > 0)):
        raise ImageFileError(
            f"{path}: {what} are {steps.tolist()} [mm]; a voxel spacing must be positive and finite. "
            "The header is damaged; set the spacing and write the file again."
        )


def _gunzip(path: Path, expected: int) -> bytes:
    """The decompressed bytes of a gzip file, at most ``expected`` plus one chunk; CRC checked."""
    parts, total = [], 0
    with gzip.open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            total += len(chunk)
            if total > expected + _CHUNK:
                raise ImageFileError(
                    f"{path}: decompresses to more than the {expected} bytes its header describes; the "
                    "file is damaged or not one image. Write it again."
                )
            parts.append(chunk)
    return b"".join(parts)


def write_image(
    volume: Volume,
    path: str | os.PathLike,
    *,
    spacing=None,
    origin=None,
    direction=None,
) -> Path:
    """Write a volume as NIfTI (RAS on disk) or NRRD (LPS space), chosen by the suffix of ``path``.

    Parameters
    ----------
    volume : Volume, or 3D array with ``spacing``
        Any device; copied to the host once. Boolean masks are written as uint8.
    path : str or path
        ``.nii``, ``.nii.gz``, ``.nrrd`` (gzip-compressed) or ``.nhdr``.
    spacing, origin, direction : optional
        The geometry of an array (as :class:`~gpuimg.Volume` takes them; ``spacing`` [mm] needed);
        a Volume brings its own.

    Returns
    -------
    Path
        The file written; it appears whole or not at all (temporary file, then os.replace).

    Raises
    ------
    ParameterError
        If the suffix is not a NIfTI or NRRD one (``.Nii.gz``, in mixed case, is none), the volume has
        no voxel (an axis of length 0), or an array comes without ``spacing``.
    WriteError
        If ``path`` is a folder, cannot be written, or the format cannot store the volume's dtype.

    Notes
    -----
    A ``.nhdr`` header keeps its voxels beside it, gzip-compressed, in ``<name>.raw.gz`` (``a.nhdr``:
    ``a.raw.gz``), replaced with it.
    Voxel values round-trip exactly (float16 is written as float32: neither format stores float16).
    NIfTI stores its affine as float32, so geometry comes back to about 1e-7 relative; NRRD keeps
    full double precision.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import gpuimg
    >>> mask = np.zeros((4, 8, 8), bool)
    >>> mask[1:3, 2:6, 2:6] = True  # 2 x 4 x 4 voxels
    >>> path = gpuimg.write_image(mask, Path(tempfile.mkdtemp()) / "mask.nrrd", spacing=(2.5, 0.7, 0.7))
    >>> path.name
    'mask.nrrd'
    >>> back = gpuimg.read_image(path, device="cpu")
    >>> back.shape, back.spacing, back.data.dtype, int(back.data.sum())
    ((4, 8, 8), (2.5, 0.7, 0.7), dtype('uint8'), 32)
    """
    volume = as_volume(volume, "write_image", spacing=spacing, origin=origin, direction=direction)
    path = check_path(path)
    kind = _kind(path, "write_image writes")
    _check_voxels(volume.shape, "write_image")
    data = to_numpy(volume.data)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if data.dtype == np.float16:
        data = data.astype(np.float32)
    data = data.transpose(2, 1, 0)  # (x, y, z)
    matrix = (volume.direction * np.array(volume.spacing))[:, ::-1]  # columns x, y, z in LPS
    try:
        _write(kind, data, matrix, volume.origin, path)
    except GpuimgError:
        raise
    except Exception as exc:  # OSError, and nibabel's / pynrrd's refusals of a dtype
        raise WriteError(
            f"{path}: cannot be written as {kind.upper()} ({type(exc).__name__}: {exc}). Check that the "
            "folder is writable and the volume's dtype is one the format stores (bool, integers, float32/64)."
        ) from exc
    return path


def _check_voxels(shape: tuple[int, ...], caller: str) -> None:
    """Refuse a volume without voxels: the file would have an axis of length 0, which readers refuse
    as damaged (gpuimg's) or read as 1 (SimpleITK)."""
    if 0 in shape:
        raise ParameterError(
            f"{caller}: a volume of shape {tuple(shape)} has no voxel; NIfTI and NRRD files need at least "
            "one along each axis. Check the crop or mask that emptied it."
        )


def _write(kind: str, data: np.ndarray, matrix: np.ndarray, origin, path: Path) -> None:
    import nibabel as nib

    with _atomic_path(path) as tmp:
        if kind == "nifti":
            affine = np.eye(4)
            affine[:3, :3] = _RAS_TO_LPS @ matrix
            affine[:3, 3] = _RAS_TO_LPS @ np.asarray(origin)
            # dtype given: nibabel refuses int64 and uint64 data unless told that they are meant
            image = nib.Nifti1Image(data, affine, dtype=data.dtype)
            image.set_qform(affine, code=1)
            image.set_sform(affine, code=1)
            nib.save(image, tmp)
        else:
            header = {
                "space": "left-posterior-superior",
                "space directions": matrix.T,
                "space origin": np.asarray(origin),
                "kinds": ["domain"] * 3,
                "encoding": "gzip",
            }
            if path.name.endswith(".nhdr"):  # pynrrd's rule: detached only for this (lower case) suffix
                _write_detached(tmp, path, np.asfortranarray(data), header)
            else:
                nrrd.write(str(tmp), np.asfortranarray(data), header)


def _write_detached(tmp: Path, path: Path, data: np.ndarray, header: dict) -> None:
    """A NRRD header ``path`` (written as ``tmp``) and its voxels beside it in ``<name>.raw.gz``.

    The voxels are written under a temporary name too, renamed into place before the header is; the
    header names the voxel file's final name (pynrrd would name the temporary, which the next write in
    the folder removes once this process has ended).
    """
    voxels = path.with_name(f"{path.name[: -len(path.suffix)]}.raw.gz")
    with _atomic_path(voxels) as tmp_voxels:
        nrrd.write(str(tmp), data, header, detached_header=str(tmp_voxels))
        named = f"data file: {tmp_voxels.name}\n".encode()
        tmp.write_bytes(tmp.read_bytes().replace(named, f"data file: {voxels.name}\n".encode()))


def _kind(path: Path, does: str = "read_image reads") -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti_case(path)
        return "nifti"
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    dicom = "write_dicom writes" if does.startswith("write") else "read_dicom reads"
    raise ParameterError(
        f"{path}: unknown image format; {does} NIfTI and NRRD, so use a .nii, .nii.gz, .nrrd or .nhdr "
        f"file ({dicom} DICOM)."
    )


def _check_nifti_case(path: Path) -> None:
    """Refuse a NIfTI suffix in mixed case (``a.Nii.gz``), which niftilib refuses and nibabel looks past."""
    suffix = path.name[-len(".nii.gz") if path.name.lower().endswith(".gz") else -len(".nii") :]
    if suffix not in (suffix.lower(), suffix.upper()):
        raise ParameterError(
            f"{path}: the suffix {suffix!r} mixes upper and lower case, which NIfTI readers refuse "
            f"(niftilib, so SimpleITK) or look past (nibabel opens {suffix.lower()!r} instead); name "
            f"the file with {suffix.lower()!r} or {suffix.upper()!r}."
        )


def _three_d(data: np.ndarray, path: Path) -> np.ndarray:
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., np.newaxis]
    if data.ndim != 3:
        raise GeometryError(
            f"{path}: a {data.ndim}D image of shape {data.shape}; gpuimg reads 3D volumes. Split the "
            "time points or channels into separate 3D files first."
        )
    return data


def _axis_geometry(header: dict, n: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The axis-aligned LPS matrix and origin of a NRRD header without a space, from its per-axis fields.

    Each axis's step is its ``spacings`` entry, else ``(max - min) / size`` (cell centering) or
    ``/ (size - 1)`` (node centering) of its ``axis mins`` and ``axis maxs`` (negative where the max is
    the lower: the axis runs against its world axis), else 1 mm. Its first
    sample lies at its ``axis mins`` entry (node centering) or half a step past it (cell centering, the
    format's default where ``centerings`` says none), as teem and ITK place it; at 0 without one.
    """
    sizes = np.atleast_1d(np.asarray(header.get("sizes", ()), dtype=float))[:n]
    mins = _per_axis(header, ("axis mins", "axismins"), n)
    maxs = _per_axis(header, ("axis maxs", "axismaxs"), n)
    centerings = header.get("centerings", header.get("centers", ()))
    if isinstance(centerings, str):
        centerings = centerings.split()
    centerings = [str(c).lower() for c in centerings][:n]
    node = np.array(centerings + ["???"] * (n - len(centerings))) == "node"
    if "spacings" in header:
        spacings = np.asarray(header["spacings"], dtype=float)[:n]
        _check_spacing(path, spacings, "spacings")
    else:
        cells = np.where(node, sizes - 1, sizes)
        ranged = np.isfinite(mins) & np.isfinite(maxs) & (cells > 0)
        spacings = np.where(ranged, (maxs - mins) / np.maximum(cells, 1), 1.0)  # < 0: the axis runs back
        _check_spacing(path, np.abs(spacings), "the steps of 'axis mins' to 'axis maxs'")
    origin = np.where(np.isfinite(mins), mins + np.where(node, 0.0, spacings / 2), 0.0)
    matrix = np.diag(np.concatenate([spacings, np.ones(3 - n)]))
    return matrix, np.concatenate([origin, np.zeros(3 - n)])


def _per_axis(header: dict, keys: tuple[str, ...], n: int) -> np.ndarray:
    """The first ``n`` values of the per-axis field named by one of ``keys``, NaN where it is absent."""
    values = next((header[key] for key in keys if key in header), None)
    values = np.full(n, np.nan) if values is None else np.asarray(values, dtype=float)[:n]
    return np.concatenate([values, np.full(n - values.size, np.nan)])


def _nrrd_geometry(header: dict, ndim: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The LPS matrix (columns: steps along i, j, k [mm]) and origin of a NRRD header."""
    n = min(ndim, 3)
    if "space directions" not in header:
        return _axis_geometry(header, n, path)
    space = str(header.get("space", "left-posterior-superior")).lower()
    space = _NRRD_ABBREVIATIONS.get(space.upper(), space)
    if space not in _NRRD_SPACES:
        raise GeometryError(
            f"{path}: NRRD space {header.get('space')!r} is not a patient space gpuimg knows; "
            "expected left-posterior-superior, right-anterior-superior or left-anterior-superior."
        )
    signs = np.array(_NRRD_SPACES[space], dtype=float)
    rows = [np.asarray(r, dtype=float) for r in header["space directions"]]
    rows = [r for r in rows if not np.all(np.isnan(r))]  # "none": a non-spatial axis
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    if "space" not in header and header.get("space dimension") == 2:
        # An unnamed 2D space, as SimpleITK writes a 2D image: its axes are x and y of the patient's
        # (LPS, as SimpleITK reads it), the image lies in the plane z = 0.
        rows = [np.append(r, 0.0) if r.shape == (2,) else r for r in rows]
        origin = np.append(origin, 0.0) if origin.shape == (2,) else origin
    if len(rows) not in (2, 3) or any(r.shape != (3,) for r in rows):
        raise ImageFileError(
            f"{path}: 'space directions' gives {len(rows)} spatial axes; a 3D (or 2D) image needs one "
            "3-vector per spatial axis. The header is damaged; write the file again."
        )
    _check_spacing(path, [np.linalg.norm(r) for r in rows], "the lengths of 'space directions'")
    matrix = signs[:, None] * np.column_stack(rows)
    if len(rows) == 2:  # one slice placed in 3D space: its third axis is the plane's normal, 1 mm
        normal = np.cross(matrix[:, 0], matrix[:, 1])
        matrix = np.column_stack([matrix, normal / np.linalg.norm(normal)])
    if origin.shape != (3,) or not np.all(np.isfinite(origin)):
        raise ImageFileError(
            f"{path}: 'space origin' is {origin.tolist()}; it must be 3 finite numbers [mm]. The header "
            "is damaged; write the file again."
        )
    return _squared(matrix), signs * origin


def _squared(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` (columns: voxel steps [mm]) with its directions made orthonormal where they are within
    :data:`~gpuimg.io._stack._COSINE_TOL` of it, as read_dicom takes cosines written with few decimals.

    NRRD 'space directions' or a NIfTI sform written with few decimals (a rotation's cosines to 3:
    6.8e-4 from orthogonal) are the nearest orthonormal directions
    (:func:`~gpuimg.io._stack._orthonormalised`), each step keeping its length; a matrix further from
    orthogonal is sheared and left for the Volume to refuse.
    """
    spacing = np.linalg.norm(matrix, axis=0)
    unit = matrix / spacing
    if np.max(np.abs(unit.T @ unit - np.eye(3))) > _COSINE_TOL:
        return matrix
    return _orthonormalised(unit) * spacing
