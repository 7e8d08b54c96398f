"""Reading NIfTI files (.nii, .nii.gz, and .hdr/.img pairs) for :func:`gpuimg.io.read_image`: the
voxels (i, j, k) and their LPS geometry from nibabel's affine in the file's spatial units, the header
checked before any voxel is read, and a gzip-compressed file decompressed whole, its CRC and length
checked.

On disk NIfTI is RAS; in memory every Volume is LPS.
"""

import gzip
import io
import math
from pathlib import Path

import numpy as np

from gpuimg.errors import GeometryError, ImageFileError
from gpuimg.io._image_header import _check_claims, _check_spacing, _largest_cosine, _squared
from gpuimg.io._stack import _COSINE_TOL

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
#: Millimetres in one of a NIfTI file's spatial units (the low 3 bits of xyzt_units: 1 metre, 2 mm,
#: 3 micron), in which its pixdim, qform and sform are; unknown (0) is taken as mm, as ITK takes it.
_NIFTI_MM = {1: 1000.0, 2: 1.0, 3: 0.001}
#: The suffixes of the two files of a NIfTI-1 pair (lower case).
_PAIR_SUFFIXES = (".hdr", ".img", ".hdr.gz", ".img.gz")
#: Bytes read at a time when decompressing.
_CHUNK = 1 << 24


def _read_nifti(path: Path) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Voxels (i, j, k) and LPS geometry of a NIfTI file, or of a NIfTI-1 pair (``.hdr`` and ``.img``,
    either named); the header is checked before any voxel is read."""
    import nibabel as nib  # here, not at the top: 30-50 ms that `import gpuimg` need not pay

    path, voxels = _pair(path) if path.name.lower().endswith(_PAIR_SUFFIXES) else (path, path)
    _check_compression(path)
    if voxels != path:
        _check_compression(voxels, pair=True)
    try:
        image = nib.load(path, mmap=False)  # read, not mapped: a file written over later is not the volume
    except ValueError:  # nibabel's refusal of a qform quaternion that is no rotation, among others
        _check_quaternion(path)
        raise
    if voxels != path and not isinstance(image, nib.Nifti1Pair):  # Nifti2Pair extends it
        raise GeometryError(
            f"{path}: an Analyze 7.5 header (no NIfTI magic), which does not record the image's orientation "
            "(left and right may be swapped); convert it to NIfTI with the orientation you know it has "
            "(or read it with nibabel, which assumes one)."
        )
    header = image.header
    shape = tuple(int(n) for n in image.shape)
    dtype = np.dtype(header.get_data_dtype())
    if dtype.names is not None:
        raise GeometryError(
            f"{path}: a colour image ({len(dtype.names)} channels a voxel: {', '.join(dtype.names)}); gpuimg "
            "reads grey-level 3D volumes. Split the channels into separate 3D files first."
        )
    # The loaded header's scl_slope and scl_inter are reset (NaN): nibabel keeps them in the dataobj,
    # whose array is float64 where they scale (1 and 0: none).
    scaled = (image.dataobj.slope, image.dataobj.inter) != (1.0, 0.0)
    _check_claims(voxels, shape, dtype, np.dtype(np.float64) if scaled else dtype)
    lps = _geometry(image, path)
    offset = int(image.dataobj.offset)  # the file's vox_offset (the loaded header's is reset to 0)
    least = type(header).single_vox_offset  # where a single file's voxels may start: its header's end
    if voxels == path and offset < least:
        # nibabel takes 0 for 'not set' and reads the voxels from the file's first byte, the header's.
        raise ImageFileError(
            f"{path}: its vox_offset is {offset}, inside its header of {least} bytes, so where its voxels "
            "start is not known (nibabel reads them from byte 0, the header's own bytes; ITK from the "
            f"header's end; the standard from {least}). The file was written wrongly; write it again "
            "(nibabel and ITK write a valid vox_offset)."
        )
    if voxels.name.lower().endswith(".gz"):
        # Decompressed whole, so that gzip checks the CRC and length at the end of the stream.
        raw = _gunzip(voxels, offset + math.prod(shape) * dtype.itemsize)
        if voxels == path:
            image = type(image).from_bytes(raw)
        else:
            opener = gzip.open if path.name.lower().endswith(".gz") else open
            with opener(path, "rb") as file:
                files = {"header": file.read(), "image": raw}
            holders = {k: nib.fileholders.FileHolder(fileobj=io.BytesIO(v)) for k, v in files.items()}
            image = type(image).from_file_map(holders)
    elif voxels.stat().st_size < offset + math.prod(shape) * dtype.itemsize:
        raise ImageFileError(
            f"{voxels}: the header claims {shape} voxels of {dtype} from byte {offset}, but the file is only "
            f"{voxels.stat().st_size} bytes. The file is truncated; write it again."
        )
    return np.asanyarray(image.dataobj), lps


def _geometry(image, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The LPS matrix (columns: steps along i, j, k [mm]) and origin of a NIfTI image, from its sform
    where sform_code is set, else from its qform and pixdim, as nibabel's affine gives them.

    A file with neither code set records no orientation: nibabel places it as Analyze 7.5 (x flipped,
    centred), ITK on the identity at 0; it is refused, as an Analyze header is. A 2D image (dim[0] 2)
    has no third axis in the file: its pixdim[3] may be 0, and where its affine has no third step,
    the step is the unit normal of its plane, as a 2D NRRD's (ITK reads the first two axes only).
    """
    header = image.header
    sform, qform = int(header["sform_code"]), int(header["qform_code"])
    if sform == 0 and qform == 0:
        raise GeometryError(
            f"{path}: its sform_code and qform_code are both 0, so the file does not record the image's "
            "orientation or position (nibabel places it as Analyze 7.5, x flipped and centred; ITK on the "
            "identity at 0: left and right may be swapped); set its qform or sform to the orientation you "
            "know it has (nibabel: set_qform(affine, code=1)) and write it again."
        )
    planar = int(header["dim"][0]) == 2
    if sform == 0:  # the qform places the voxels: pixdim is the spacing
        stored = _stored_header(path, type(header))  # as stored: nibabel's load sets a 0 pixdim to 1
        axes = 2 if planar else 3
        _check_spacing(path, stored["pixdim"][1 : 1 + axes], f"pixdim[1:{1 + axes}]")
    form = f"the sform (sform_code {sform})" if sform else f"the qform (qform_code {qform}) and pixdim"
    ras = image.affine * _NIFTI_MM.get(int(header["xyzt_units"]) & 0x07, 1.0)  # in the file's units
    flips = np.diag(_RAS_TO_LPS)  # by element: a NaN stays in its own place
    matrix, origin = flips[:, None] * ras[:3, :3], flips * ras[:3, 3]
    if not np.all(np.isfinite(origin)):
        fields = (
            f"sform's origin (srow_x[3], srow_y[3], srow_z[3]; sform_code {sform})"
            if sform
            else f"qform's origin (qoffset_x, qoffset_y, qoffset_z; qform_code {qform})"
        )
        raise ImageFileError(
            f"{path}: the {fields} is {origin.tolist()} [mm, LPS]; it must be 3 finite numbers. The "
            "header is damaged; set the origin and write the file again."
        )
    if planar and not np.any(matrix[:, 2]):  # no third step: the plane's unit normal (0: refused below)
        normal = np.cross(matrix[:, 0], matrix[:, 1])
        length = np.linalg.norm(normal)
        matrix[:, 2] = normal / length if length > 0 else normal
    _check_spacing(path, np.linalg.norm(matrix, axis=0), f"the voxel steps of {form}")
    cosine = _largest_cosine(matrix)
    if cosine > _COSINE_TOL:
        way_out = "Resample the image onto an orthogonal grid first"
        if sform and qform:
            way_out += f", or, where its qform (qform_code {qform}) is its geometry, set sform_code to 0"
        raise GeometryError(
            f"{path}: {form} gives voxel axes that are not at right angles (the cosine between two is "
            f"{cosine:.3g}; cosines written with few decimals are within {_COSINE_TOL}), so its "
            f"directions are not orthonormal; gpuimg reads volumes on orthogonal grids. {way_out}."
        )
    return _squared(matrix), origin


def _stored_header(path: Path, kind=None):
    """The NIfTI header of ``path`` as stored, unchecked (nibabel's load sets a 0 pixdim to 1), of class
    ``kind`` (a nibabel header class), else of the NIfTI version its magic names; None where the file
    has no NIfTI header."""
    import nibabel as nib

    with nib.openers.ImageOpener(path) as file:
        if kind is None:
            block = file.read(nib.Nifti2Header.template_dtype.itemsize)
            versions = [k for k in (nib.Nifti2Header, nib.Nifti1Header) if k.may_contain_header(block)]
            if not versions:
                return None
            kind = versions[0]
            file.seek(0)
        return kind.from_fileobj(file, check=False)


def _check_quaternion(path: Path) -> None:
    """Refuse, naming its fields, a qform-only NIfTI header whose quatern_b, quatern_c and quatern_d
    are no rotation (b² + c² + d² above 1 beyond nibabel's rounding allowance), which nibabel's load
    refuses as 'w2 should be positive'; return for any other header (the caller re-raises)."""
    try:
        header = _stored_header(path)
    except Exception:  # not a header this can check: nibabel's own error is the one to show
        return
    if header is None or int(header["sform_code"]) != 0 or int(header["qform_code"]) == 0:
        return
    try:
        header.get_qform_quaternion()  # nibabel's check and allowance (NIfTI-1: 3 float32 epsilons)
    except ValueError:
        bcd = np.array([header[f"quatern_{k}"] for k in "bcd"], dtype=np.float64)
        raise GeometryError(
            f"{path}: its qform (qform_code {int(header['qform_code'])}; sform_code 0, so the qform places "
            f"the voxels) has quatern_b, quatern_c, quatern_d = ({', '.join(f'{v:.7g}' for v in bcd)}), "
            f"whose squares sum to {float(bcd @ bcd):.7g} > 1, so the quaternion is not a rotation and "
            "the image's orientation is unknown. The header is damaged: set quatern_b/c/d to the image's "
            "rotation, or give the file an sform (nibabel: img.set_qform(affine, code=1) or "
            "img.set_sform(affine, code=1) with the affine you know it has) and write it again."
        ) from None


def _pair(path: Path) -> tuple[Path, Path]:
    """The header (``.hdr``) and voxel (``.img``) files of a NIfTI-1 pair named by either: the other has
    the same stem, case and compression (``.gz`` or not), as nibabel looks for it; ImageFileError naming
    it where it is missing."""
    partner = _partner(path)
    header_given = path.name.lower().removesuffix(".gz").endswith(".hdr")
    if not partner.is_file():
        raise ImageFileError(
            f"{path}: one file of a NIfTI-1 pair, whose {'voxel' if header_given else 'header'} "
            f"file {partner.name} does not exist beside it; keep the .hdr and .img files together."
        )
    return (path, partner) if header_given else (partner, path)


def _partner(path: Path) -> Path | None:
    """The other file of the NIfTI-1 pair that ``path`` (``.hdr`` or ``.img``, ``.gz`` or not) names, of
    the same stem, case and compression (whether it exists or not); None for a suffix of mixed case
    (``.Hdr``), which :func:`gpuimg.io.read_image` refuses."""
    cut = len(".hdr.gz") if path.name.lower().endswith(".gz") else len(".hdr")
    stem, suffix = path.name[:-cut], path.name[-cut:]
    other = {"hdr": "img", "HDR": "IMG", "img": "hdr", "IMG": "HDR"}.get(suffix[1:4])
    return None if other is None else path.with_name(f"{stem}.{other}{suffix[4:]}")


def _check_compression(path: Path, *, pair: bool = False) -> None:
    """Refuse a NIfTI file whose name and content disagree on gzip (nibabel goes by the name); ``pair``:
    the voxel file of a pair, which has no magic of its own."""
    with open(path, "rb") as file:
        head = file.read(348)
    gzipped = head[:2] == b"\x1f\x8b"
    plain = not pair and (head[344:348] in (b"n+1\0", b"ni1\0") or head[4:8] in (b"n+2\0", b"ni2\0"))
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
