"""The checks of a NIfTI or NRRD header that :mod:`gpuimg.io._nifti` and :mod:`gpuimg.io._nrrd` share,
made before any voxel is read: the image's size against its file and the memory budget, the voxel
spacing, and the voxel steps made orthonormal where they are written with few decimals.
"""

import math
import os
import stat
from pathlib import Path

import numpy as np

from gpuimg._memory import check_bytes
from gpuimg.errors import ImageFileError
from gpuimg.io._stack import _COSINE_TOL, _orthonormalised

#: Largest ratio of decoded to stored bytes that deflate (gzip) can reach: its format limit is 1032:1.
_DEFLATE_RATIO = 1032


def _not_a_file(path: Path) -> str:
    """Why ``path``, named as a header's data file, holds no voxels, and what to do: the end of a
    sentence."""
    named = "Point the header at the file of voxels (NRRD: its 'data file:' field)."
    if path.is_dir():
        return f"is a folder, not a file of voxels. {named}"
    if path.exists():  # a device (/dev/zero), pipe or socket: no stored voxels, maybe endless
        return f"is not a regular file (a device, pipe or socket), so it holds no stored voxels. {named}"
    return "does not exist; keep it beside the header."


def _file_status(path: Path) -> os.stat_result | None:
    """``os.stat`` of ``path`` where it is a regular file (a link to one too), else None: where
    ``path.is_file()`` is False, or raises its error (a folder that may not be searched)."""
    try:  # one stat of a regular file, where is_file and stat took two (3 of a mask's 10 us)
        status = os.stat(path)
    except (OSError, ValueError):
        status = None
    if status is None or not stat.S_ISREG(status.st_mode):  # as before, with its errors
        return path.stat() if path.is_file() else None
    return status


def _check_claims(
    path: Path,
    shape,
    dtype: np.dtype,
    out: np.dtype,
    encoding: str = "",
    status: os.stat_result | None = None,
) -> None:
    """Refuse a header whose image is empty, larger than its file can hold, or over the memory budget.

    ``status``: :func:`_file_status` of ``path``, where the caller has it (read_image, of the file it
    reads), else found here."""
    if not shape or any(n < 1 for n in shape):
        raise ImageFileError(
            f"{path}: the header gives the image size {tuple(shape)}; every axis needs at least 1 voxel. "
            "The header is damaged; write the file again."
        )
    count = math.prod(shape)
    status = status or _file_status(path)
    if status is None:
        raise ImageFileError(f"{path}: the header's data file {_not_a_file(path)}")
    size = status.st_size
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
    check_bytes(count * (dtype.itemsize + out.itemsize), f"{path}: {tuple(shape)} voxels of {_named(dtype)}")


#: The names of NumPy's own dtypes (``str(dtype)``) met so far: its __str__, Python code, took 2.5 us.
_NAMES: dict[np.dtype, str] = {}


def _named(dtype: np.dtype) -> str:
    """``str(dtype)``, looked up for one of NumPy's own dtypes (uint8, <f4: one name for equal dtypes)."""
    if dtype.isbuiltin != 1:  # a structured, user-defined or non-native one
        return str(dtype)
    name = _NAMES.get(dtype)
    if name is None:
        name = _NAMES[dtype] = str(dtype)
    return name


def _check_spacing(path: Path, steps, what: str) -> None:
    # Decided in plain Python (NaN fails too): NumPy's checks took 3.7 us of a mask's read.
    if all(0 < step < math.inf for step in steps):
        return
    steps = np.asarray(steps, dtype=float)
    if not np.all(np.isfinite(steps) & (steps > 0)):
        raise ImageFileError(
            f"{path}: {what} are {steps.tolist()} [mm]; a voxel spacing must be positive and finite. "
            "The header is damaged; set the spacing and write the file again."
        )


def _squared(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` (columns: voxel steps [mm]) with its directions made orthonormal where they are within
    :data:`~gpuimg.io._stack._COSINE_TOL` of it, as read_dicom takes cosines written with few decimals.

    NRRD 'space directions' or a NIfTI sform written with few decimals (a rotation's cosines to 3:
    6.8e-4 from orthogonal) are the nearest orthonormal directions
    (:func:`~gpuimg.io._stack._orthonormalised`), each step keeping its length; a matrix further from
    orthogonal is sheared and left for the Volume to refuse.
    """
    if np.count_nonzero(matrix) == np.count_nonzero(matrix.diagonal()):
        # Axis-aligned, as most files are: orthonormal as it is, and the steps below would give it back
        # bit for bit (each column over its length is +-1 exactly); 0.05 ms of a small mask's 0.3 ms read.
        return matrix
    if _largest_cosine(matrix) > _COSINE_TOL:
        return matrix
    spacing = np.linalg.norm(matrix, axis=0)
    return _orthonormalised(matrix / spacing) * spacing


def _largest_cosine(matrix: np.ndarray) -> float:
    """The largest absolute cosine between two of ``matrix``'s columns (voxel steps): 0 where they are
    at right angles."""
    unit = matrix / np.linalg.norm(matrix, axis=0)
    return float(np.max(np.abs(unit.T @ unit - np.eye(3))))
