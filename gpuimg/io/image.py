"""Reading and writing NIfTI (.nii, .nii.gz; NIfTI-1 pairs .hdr/.img are read) and NRRD (.nrrd, .nhdr)
volumes, geometry included: :func:`read_image` and :func:`write_image`.

On disk NIfTI is RAS and NRRD names its space; in memory every Volume is LPS (DICOM patient
coordinates), axes (z, y, x). Both formats store the x index fastest, so their axes (i, j, k) are our
(x, y, z). The readers of each format are in :mod:`gpuimg.io._nifti` and :mod:`gpuimg.io._nrrd`, the
checks of a header both share in :mod:`gpuimg.io._image_header`.
"""

import math
import os
from pathlib import Path

import nrrd
import numpy as np

from gpuimg._support import check_path
from gpuimg.backend import to_device, to_numpy
from gpuimg.errors import GeometryError, GpuimgError, ImageFileError, ParameterError, WriteError
from gpuimg.io._atomic import _atomic_path
from gpuimg.io._header import _cause
from gpuimg.io._image_header import _file_status
from gpuimg.io._nifti import _PAIR_SUFFIXES, _RAS_TO_LPS, _read_nifti
from gpuimg.io._nrrd import _read_nrrd
from gpuimg.volume import Volume, as_volume

#: The suffixes of the files :func:`read_image` reads (lower case): NIfTI, NIfTI-1 pairs and NRRD.
IMAGE_SUFFIXES = (".nii", ".nii.gz", *_PAIR_SUFFIXES, ".nrrd", ".nhdr")


def read_image(path: str | os.PathLike, *, device: str = "auto") -> Volume:
    """Read a NIfTI or NRRD file as a :class:`~gpuimg.Volume` in LPS coordinates.

    Parameters
    ----------
    path : str or path
        ``.nii``, ``.nii.gz``, ``.nrrd`` or ``.nhdr``; or either file of a NIfTI-1 pair (``.hdr`` and
        ``.img``, both with ``.gz`` or neither, as SPM writes them).
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
        voxel spacing (pixdim, ``spacings``, ``space directions``) that is 0, negative or not finite,
        a single-file NIfTI's vox_offset inside its header.
    MemoryBudgetError
        If the voxels would need more memory than the budget (``GPUIMG_MAX_BYTES``; see
        :mod:`gpuimg._memory`), checked from the header before any voxel is read.
    GeometryError
        If the image is not 3D (trailing axes of length 1 are dropped) or holds colour (RGB) voxels,
        its affine has shear (the message names the NIfTI sform or qform), a NRRD file names a space
        other than LPS, RAS or LAS or units that are no length, or the file records no orientation:
        a ``.hdr`` in Analyze 7.5 (no NIfTI magic), a NIfTI file whose sform_code and qform_code are
        both 0, or whose qform alone places it and whose quaternion is not a rotation
        (quatern_b² + quatern_c² + quatern_d² above 1 beyond rounding).
    DeviceError
        If ``device`` is not "auto", "cpu" or "cuda", or asks for CUDA where no GPU is usable (the
        message says what is missing and which extra to install).

    Notes
    -----
    NIfTI geometry comes from nibabel's ``affine`` (the sform where its code is set, else the qform),
    its first two rows negated to go from RAS to LPS, and converted to mm from the file's spatial
    units (``xyzt_units``: metres and microns, as preclinical scanners write them; unknown is mm).
    A qform whose quatern_b² + quatern_c² + quatern_d² exceeds 1 by more than nibabel's allowance for
    rounding (3 epsilons of the fields' type: float32 in NIfTI-1, float64 in NIfTI-2; within it the
    quaternion is a half turn, as nibabel reads it) is refused, where ITK (niftilib) scales (b, c, d)
    to a unit vector and reads a half turn about it: such a header is damaged, any rotation may have
    been meant, and a guessed orientation is what gpuimg refuses elsewhere (no qform or sform, shear).
    NRRD geometry comes from ``space directions`` and ``space origin``, converted from the named
    ``space`` and to mm from its ``space units`` (``units`` for the per-axis fields; m, cm, mm, um;
    none is mm), which ITK leaves as written; a NRRD without a space has axis-aligned geometry from
    ``spacings`` (else ``axis mins`` to ``axis maxs``), its first voxel centre at ``axis mins`` (half a
    voxel past them for cell centering, the format's default), as ITK reads it. A ``.nhdr`` header
    may split its voxels among several data files (``data file: <format> <min> <max> <step>
    [<subdim>]``, or ``LIST`` and their names on its last lines), each an equal piece in order, as
    teem (SimpleITK) reads them.
    NRRD ``space directions`` and NIfTI affines written with few decimals, whose unit vectors are
    within 0.01 of orthogonal (dot products), are read as the nearest orthonormal directions, each
    step keeping its length (as read_dicom reads such cosines).
    A 2D NRRD image is one slice, whose third axis is the normal of its plane (row x column in LPS)
    with a spacing of 1 mm, as is a 2D NIfTI image's where its file gives none (pixdim[3] or the sform's
    third column 0); in a 2D space (``space dimension: 2``, no ``space``, as SimpleITK writes a
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
    status = _file_status(path)  # as path.is_file(), kept for the NRRD reader's check of its size
    if status is None:
        raise ImageFileError(f"{path}: no such file. Check the path.")
    try:
        if kind == "nifti":
            data, lps = _read_nifti(path)
        else:
            data, lps = _read_nrrd(path, status)
    except GpuimgError:
        raise
    except Exception as exc:  # nibabel, pynrrd, gzip and zlib raise many types on a damaged file
        raise ImageFileError(
            f"{path}: cannot be read as {kind.upper()} ({_cause(exc)}). The file is truncated, "
            "corrupted or not in this format; write it again."
        ) from exc
    data = _three_d(data, path)
    matrix, offset = lps
    spacing, direction = _steps(matrix)
    # nibabel gives a big-endian NIfTI file's voxels in its byte order; CuPy takes the machine's only
    # (it uploads the bytes unswapped: cupy#3652), as Numba does, so they are put in the machine's.
    native = data.dtype.newbyteorder("=")
    try:
        return Volume(
            to_device(np.ascontiguousarray(data.transpose(2, 1, 0), dtype=native), device),
            spacing,
            offset,
            direction,
            {"format": kind, "path": str(path)},
        )
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc} Resample the image onto an orthogonal grid first.") from exc


def _steps(matrix: np.ndarray) -> tuple[tuple[float, float, float] | np.ndarray, np.ndarray]:
    """The spacing (z, y, x) [mm] and direction (columns z, y, x) of a reader's LPS ``matrix`` (columns:
    the steps along i, j, k [mm]): the steps' lengths as np.linalg.norm computes them (the square root
    of each column's sum of squares, the rows summed in order), and each column over its length.

    A float64 3x3 matrix of positive finite lengths is worked out on Python floats, the same IEEE
    operations in the same order as NumPy's below (bit for bit), without its calls on tiny arrays (4 of a
    mask's read's us); any other (a length 0, overflowing or NaN, with NumPy's warnings) by NumPy. The
    spacing is a tuple of 3 floats on the first path, a NumPy array on the second: a Volume takes either.
    """
    if matrix.dtype == np.float64 and matrix.shape == (3, 3):
        (a, b, c), (d, e, f), (g, h, i) = matrix.tolist()
        x, y, z = (
            math.sqrt(a * a + d * d + g * g),
            math.sqrt(b * b + e * e + h * h),
            math.sqrt(c * c + f * f + i * i),
        )
        if 0.0 < x < math.inf and 0.0 < y < math.inf and 0.0 < z < math.inf:
            return (z, y, x), np.array([[c / z, b / y, a / x], [f / z, e / y, d / x], [i / z, h / y, g / x]])
    spacing = np.sqrt(np.add.reduce(matrix * matrix, axis=0))
    return spacing[::-1], (matrix / spacing)[:, ::-1]


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
        If the suffix is not a NIfTI or NRRD one (``.Nii.gz``, in mixed case, is none; a pair's
        ``.hdr`` or ``.img`` is not written), the volume has no voxel (an axis of length 0), or an array
        comes without ``spacing``.
    WriteError
        If ``path`` is a folder, cannot be written, or the format cannot store the volume's dtype, or
        its shape (NIfTI-1: at most 32767 voxels along an axis).

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
    if kind == "nifti":
        _check_nifti_shape(volume.shape, path, "write_image")
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


#: The most voxels a NIfTI-1 file holds along an axis: its dim fields are 16-bit signed integers.
_NIFTI1_MAX_DIM = 2**15 - 1


def _check_nifti_shape(shape: tuple[int, ...], path: Path, caller: str) -> None:
    """Refuse a volume with an axis longer than NIfTI-1 can describe, naming the axis and the way out."""
    long = [f"{axis} ({n})" for axis, n in zip("zyx", shape, strict=True) if n > _NIFTI1_MAX_DIM]
    if long:
        other = ".nrrd" if caller == "write_image" else ".zarr"
        raise WriteError(
            f"{path}: {caller} cannot store a volume of shape {tuple(shape)} as NIfTI-1, which holds at "
            f"most {_NIFTI1_MAX_DIM} voxels along an axis (its dim fields are 16-bit); along "
            f"{', '.join(long)} it has more. Write it as {other}, or crop or split it first."
        )


def _kind(path: Path, does: str = "read_image reads") -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")) or (does.startswith("read") and name.endswith(_PAIR_SUFFIXES)):
        _check_nifti_case(path)
        return "nifti"
    if name.endswith(_PAIR_SUFFIXES):
        raise ParameterError(
            f"{path}: {does} single-file NIfTI, not a NIfTI-1 pair (.hdr and .img); name the file .nii "
            "or .nii.gz (read_image reads pairs too)."
        )
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    dicom = "write_dicom writes" if does.startswith("write") else "read_dicom reads"
    pairs = "" if does.startswith("write") else ", or a NIfTI-1 pair's .hdr or .img,"
    raise ParameterError(
        f"{path}: unknown image format; {does} NIfTI and NRRD, so use a .nii, .nii.gz, .nrrd or .nhdr "
        f"file{pairs} ({dicom} DICOM)."
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
