"""Reading and writing NIfTI (.nii, .nii.gz) and NRRD (.nrrd, .nhdr) volumes, geometry included.

On disk NIfTI is RAS and NRRD names its space; in memory every Volume is LPS (DICOM patient
coordinates), axes (z, y, x). Both formats store the x index fastest, so their axes (i, j, k) are our
(x, y, z).
"""

import os
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np

from gpuimg.backend import to_device, to_numpy
from gpuimg.errors import GeometryError, ParameterError
from gpuimg.io._atomic import _atomic_path
from gpuimg.volume import Volume

#: Sign flips taking a named NRRD space to LPS.
_NRRD_SPACES = {
    "left-posterior-superior": (1, 1, 1),
    "right-anterior-superior": (-1, -1, 1),
    "left-anterior-superior": (1, -1, 1),
}
_NRRD_ABBREVIATIONS = {"LPS": "left-posterior-superior", "RAS": "right-anterior-superior"}
_NRRD_ABBREVIATIONS["LAS"] = "left-anterior-superior"
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


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
        ``data`` (z, y, x) in the file's own dtype (a mask stays an integer volume; NIfTI data with a
        scl_slope/scl_inter rescale become float64, as nibabel scales them); ``spacing`` [mm],
        ``origin`` and ``direction`` in LPS; ``meta["format"]`` and ``meta["path"]``.

    Raises
    ------
    ParameterError
        If the suffix is not a NIfTI or NRRD one.
    GeometryError
        If the image is not 3D (trailing axes of length 1 are dropped), its affine has shear, or a
        NRRD file names a space other than LPS, RAS or LAS.

    Notes
    -----
    NIfTI geometry comes from nibabel's ``affine`` (the sform where its code is set, else the qform),
    its first two rows negated to go from RAS to LPS. NRRD geometry comes from ``space directions``
    and ``space origin``, converted from the named ``space``; a NRRD without a space has axis-aligned
    geometry from ``spacings``.
    """
    path = Path(path)
    kind = _kind(path)
    if kind == "nifti":
        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
        ras = image.affine
        lps = _RAS_TO_LPS @ ras[:3, :3], _RAS_TO_LPS @ ras[:3, 3]
    else:
        data, header = nrrd.read(str(path))  # Fortran order: axes (i, j, k) = (x, y, z)
        lps = _nrrd_geometry(header, data.ndim, path)
    data = _three_d(data, path)
    matrix, offset = lps
    spacing = np.linalg.norm(matrix, axis=0)
    try:
        return Volume(
            to_device(np.ascontiguousarray(data.transpose(2, 1, 0)), device),
            spacing[::-1],
            offset,
            (matrix / spacing)[:, ::-1],
            {"format": kind, "path": str(path)},
        )
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc} Resample the image onto an orthogonal grid first.") from exc


def write_image(volume: Volume, path: str | os.PathLike) -> Path:
    """Write a volume as NIfTI (RAS on disk) or NRRD (LPS space), chosen by the suffix of ``path``.

    Parameters
    ----------
    volume : Volume
        Any device; copied to the host once. Boolean masks are written as uint8.
    path : str or path
        ``.nii``, ``.nii.gz``, ``.nrrd`` (gzip-compressed) or ``.nhdr``.

    Returns
    -------
    Path
        The file written; it appears whole or not at all (temporary file, then os.replace).

    Raises
    ------
    ParameterError
        If the suffix is not a NIfTI or NRRD one.

    Notes
    -----
    Voxel values round-trip exactly. NIfTI stores its affine as float32, so geometry comes back to
    about 1e-7 relative; NRRD keeps full double precision.
    """
    path = Path(path)
    kind = _kind(path)
    data = to_numpy(volume.data)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    data = data.transpose(2, 1, 0)  # (x, y, z)
    matrix = (volume.direction * np.array(volume.spacing))[:, ::-1]  # columns x, y, z in LPS
    with _atomic_path(path) as tmp:
        if kind == "nifti":
            affine = np.eye(4)
            affine[:3, :3] = _RAS_TO_LPS @ matrix
            affine[:3, 3] = _RAS_TO_LPS @ np.asarray(volume.origin)
            image = nib.Nifti1Image(data, affine)
            image.set_qform(affine, code=1)
            image.set_sform(affine, code=1)
            nib.save(image, tmp)
        else:
            header = {
                "space": "left-posterior-superior",
                "space directions": matrix.T,
                "space origin": np.asarray(volume.origin),
                "kinds": ["domain"] * 3,
                "encoding": "gzip",
            }
            nrrd.write(str(tmp), np.asfortranarray(data), header)
    return path


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    raise ParameterError(
        f"{path}: unknown image format; use a .nii, .nii.gz, .nrrd or .nhdr file (read_dicom reads DICOM)."
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


def _nrrd_geometry(header: dict, ndim: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The LPS matrix (columns: steps along i, j, k [mm]) and origin of a NRRD header."""
    n = min(ndim, 3)
    if "space directions" not in header:
        spacings = np.asarray(header.get("spacings", np.ones(n)), dtype=float)[:n]
        spacings = np.where(np.isfinite(spacings), spacings, 1.0)
        matrix = np.diag(np.concatenate([spacings, np.ones(3 - n)]))
        return matrix, np.zeros(3)
    space = str(header.get("space", "left-posterior-superior")).lower()
    space = _NRRD_ABBREVIATIONS.get(space.upper(), space)
    if space not in _NRRD_SPACES:
        raise GeometryError(
            f"{path}: NRRD space {header.get('space')!r} is not a patient space gpuimg knows; "
            "expected left-posterior-superior, right-anterior-superior or left-anterior-superior."
        )
    signs = np.array(_NRRD_SPACES[space], dtype=float)
    rows = [np.asarray(r, dtype=float) for r in header["space directions"]]
    rows = [r for r in rows if np.all(np.isfinite(r))][:3]
    matrix = np.column_stack(rows) if len(rows) == 3 else np.eye(3)
    if len(rows) == 2:
        matrix[:, :2] = np.column_stack(rows)
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    return signs[:, None] * matrix, signs * origin
