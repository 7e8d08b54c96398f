"""Reading NIfTI files (.nii, .nii.gz) for :func:`gpuimg.io.read_image`: the voxels (i, j, k) and
their LPS geometry from nibabel's affine in the file's spatial units, the header checked before any
voxel is read, and a gzip-compressed file decompressed whole, its CRC and length checked.

On disk NIfTI is RAS; in memory every Volume is LPS.
"""

import gzip
import math
from pathlib import Path

import numpy as np

from gpuimg.errors import GeometryError, ImageFileError
from gpuimg.io._image_header import _check_claims, _check_spacing, _squared

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
#: Millimetres in one of a NIfTI file's spatial units (the low 3 bits of xyzt_units: 1 metre, 2 mm,
#: 3 micron), in which its pixdim, qform and sform are; unknown (0) is taken as mm, as ITK takes it.
_NIFTI_MM = {1: 1000.0, 2: 1.0, 3: 0.001}
#: Bytes read at a time when decompressing.
_CHUNK = 1 << 24


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
