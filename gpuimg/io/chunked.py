"""Volumes larger than memory: Zarr stores opened as Dask arrays, and Dask results written to Zarr or
NIfTI chunk by chunk, never gathered whole.

A chain of gpuimg operations on a Dask array (``gaussian_filter``, ``median_filter``,
``gradient_magnitude``, ``canny``, ``label``, ...) stays lazy; :func:`write_chunked` computes it a
run of rows of chunks along z at a time into the file (a chunk per thread of Dask's scheduler, within
the memory budget), so memory holds a run (and its halos), not the volume.
"""

from __future__ import annotations

import gzip
import importlib
import os
from pathlib import Path

import numpy as np

from gpuimg._arrays import check_known_shape
from gpuimg._support import check_path, shown
from gpuimg.backend import is_dask, to_device, to_numpy
from gpuimg.backend.chunks import row_slices
from gpuimg.errors import GpuimgError, ParameterError, WriteError
from gpuimg.io._atomic import _atomic_folder, _atomic_path
from gpuimg.io.image import _check_nifti_case, _check_nifti_shape, _check_voxels
from gpuimg.volume import Volume, as_volume

#: The Zarr attribute holding a Volume's geometry.
GEOMETRY_ATTRIBUTE = "gpuimg_geometry"

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
#: A single-file NIfTI-1 header (348 bytes) and its empty extension flag: the data start here.
_NIFTI_DATA_OFFSET = 352


def open_zarr(path: str | os.PathLike, component: str | None = None):
    """A Zarr array as a Dask array of its own chunks (nothing is read until computed).

    Parameters
    ----------
    path : str or path
        The Zarr store (a folder).
    component : str, optional
        The array's path inside a group.

    Returns
    -------
    Volume or dask.array.Array
        A Volume (with Dask data) where the store holds the geometry :func:`write_chunked` writes,
        else the Dask array.

    Raises
    ------
    ImageFileError
        Where ``path`` holds no Zarr array, or a geometry attribute that is not the one
        :func:`write_chunked` writes (a damaged or hand-edited store).
    GpuimgError
        Without Dask or zarr installed (the ``dask`` extra: ``pip install -e '.[dask]'`` in the
        gpuimg checkout).

    Examples
    --------
    >>> import tempfile, numpy as np, dask.array as da
    >>> folder = tempfile.mkdtemp()
    >>> image = da.from_array(np.arange(64, dtype=np.float32).reshape(4, 4, 4), chunks=2)
    >>> _ = write_chunked(image, f"{folder}/ct.zarr", spacing=(2.0, 1.0, 1.0))
    >>> ct = open_zarr(f"{folder}/ct.zarr")
    >>> ct.spacing, ct.data.chunksize
    ((2.0, 1.0, 1.0), (2, 2, 2))
    """
    from gpuimg.errors import ImageFileError

    da = _optional("dask.array", "open_zarr")
    zarr = _optional("zarr", "open_zarr")
    try:
        array = zarr.open_array(str(path), mode="r", path=component)
    except Exception as exc:  # zarr's errors differ by version: a missing store, a group, bad metadata
        raise ImageFileError(
            f"{path}: no Zarr array there ({type(exc).__name__}: {exc}); pass the folder of a Zarr "
            "array (and component= for one inside a group)."
        ) from exc
    data = da.from_zarr(array)
    geometry = array.attrs.get(GEOMETRY_ATTRIBUTE)
    if geometry is None or data.ndim != 3:
        return data
    try:
        return Volume(data, **{k: tuple(np.asarray(v, dtype=float).tolist()) for k, v in geometry.items()})
    except (TypeError, ValueError, AttributeError) as exc:  # a GeometryError is a ValueError
        raise ImageFileError(
            f"{path}: its {GEOMETRY_ATTRIBUTE!r} attribute, {shown(geometry)}, is not the spacing, origin "
            f"and direction write_chunked stores ({exc}). Correct or delete the attribute "
            "(zarr.open_array(path, mode='r+').attrs), or read the array with dask.array.from_zarr and "
            "give its geometry to gpuimg.Volume."
        ) from exc


def write_chunked(image, path: str | os.PathLike, *, spacing=None, origin=None, direction=None) -> Path:
    """Write a Dask array (or a Volume of one) to Zarr or NIfTI chunk by chunk, never whole in memory.

    Parameters
    ----------
    image : dask.array.Array, NumPy array or Volume
        A lazy result (a chain of gpuimg operations on a Dask array) is computed here, a run of
        rows of chunks along z at a time.
    path : str or path
        ``.zarr`` (a folder; Zarr's default compression, the image's chunks) or ``.nii`` /
        ``.nii.gz`` (RAS on disk, as :func:`gpuimg.io.write_image` writes it).
    spacing, origin, direction : optional
        The geometry of an array ([mm], as :class:`~gpuimg.Volume` takes them); a Volume brings its
        own. ``spacing`` is needed for NIfTI, and with ``origin`` or ``direction``; stored as
        attributes in Zarr where given.

    Returns
    -------
    Path
        The file or folder written; it appears whole or not at all.

    Raises
    ------
    ParameterError
        An unknown suffix (a NIfTI one in mixed case, ``.Nii.gz``, too), NIfTI without a spacing or of
        an image without voxels, an origin or direction without a spacing, or an image that is not 3D.
    WriteError
        Where the file cannot be written or the format cannot store the dtype, or the shape (NIfTI-1:
        at most 32767 voxels along an axis); or where computing
        the image fails other than with a GpuimgError (a function of one's own in the chain), saying so
        and with that exception as the cause: then nothing is written.

    Notes
    -----
    Peak memory is that of one run of rows of chunks along z (a chunk per thread of Dask's scheduler,
    fewer where the memory budget is less, never less than a row), computed in parallel, with the
    halos its operations need (see :func:`gpuimg.backend.chunks.row_slices`), plus whatever a chain's
    reductions keep (``label`` keeps a few integers per component), whatever the volume's length.

    Examples
    --------
    >>> import tempfile, numpy as np, dask.array as da, gpuimg
    >>> image = da.from_array(np.random.default_rng(0).normal(size=(8, 8, 8)), chunks=4)
    >>> path = write_chunked(gpuimg.preprocess.gaussian_filter(image, 1.0), f"{tempfile.mkdtemp()}/s.nii.gz",
    ...                      spacing=(1.0, 1.0, 1.0))
    >>> bool(np.allclose(gpuimg.io.read_image(path).data,
    ...                  gpuimg.preprocess.gaussian_filter(image.compute(), 1.0)))
    True
    """
    path = check_path(path)
    name = path.name.lower()
    geometry = {"spacing": spacing, "origin": origin, "direction": direction}
    # An origin or direction without a spacing is refused as for NIfTI, not left out of the Zarr attributes.
    if (
        isinstance(image, Volume)
        or name.endswith((".nii", ".nii.gz"))
        or any(v is not None for v in geometry.values())
    ):
        volume = as_volume(image, "write_chunked", **geometry)
        data = volume.data
        geometry = {"spacing": volume.spacing, "origin": volume.origin, "direction": volume.direction}
    else:
        data = image
    if not is_dask(data):
        data = _optional("dask.array", "write_chunked").from_array(to_numpy(data))
    check_known_shape(data)
    if data.ndim != 3:
        raise ParameterError(f"write_chunked writes 3D volumes (z, y, x); got shape {data.shape}.")
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti_case(path)
        _check_voxels(data.shape, "write_chunked")
        _check_nifti_shape(data.shape, path, "write_chunked")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if data.dtype == np.float16:
        data = data.astype(np.float32)
    try:
        if name.endswith(".zarr"):
            _write_zarr(data, path, geometry)
        elif name.endswith((".nii", ".nii.gz")):
            _write_nifti(data, path, geometry)
        else:
            raise ParameterError(f"{path}: write_chunked writes .zarr, .nii or .nii.gz; pass one of those.")
    except GpuimgError:
        raise
    except _ComputeFailed as failed:
        exc = failed.__cause__
        raise WriteError(
            f"{path}: nothing written: computing the image failed ({type(exc).__name__}: {exc}). The "
            "error is in the chain of operations or the data it reads, not in writing the file; compute "
            "a small part (image[:1].compute()) to find it."
        ) from exc
    except Exception as exc:  # OSError, nibabel's and zarr's refusals of a dtype
        raise WriteError(
            f"{path}: cannot be written ({type(exc).__name__}: {exc}). Check that the folder is writable "
            "and the dtype is one the format stores (bool, integers, float32/64)."
        ) from exc
    return path


def _write_zarr(data, path: Path, geometry: dict) -> None:
    zarr = _optional("zarr", "write_chunked")
    regular = tuple(max(*c, 1) for c in data.chunks)  # Zarr v3: a chunk length of at least 1 (as zarr's own)
    if any(len(set(c[:-1])) > 1 or c[-1] > c[0] for c in data.chunks):
        data = data.rechunk(regular)  # Zarr's chunks are all of one shape
    with _atomic_folder(path) as tmp:
        store = zarr.open_array(str(tmp), mode="w", shape=data.shape, dtype=data.dtype, chunks=regular)
        if geometry["spacing"] is not None:
            volume = as_volume(data, "write_chunked", **geometry)
            store.attrs[GEOMETRY_ATTRIBUTE] = {
                "spacing": list(volume.spacing),
                "origin": list(volume.origin),
                "direction": np.asarray(volume.direction).tolist(),
            }
        # Zarr takes host buffers: chunks on a GPU are copied to the host one by one as they are stored
        # (NumPy's implicit conversion, which CuPy refuses, failed), in the device's runs of rows.
        host = to_device(data, "cpu")
        target = _Target(store)
        for rows in row_slices(data):
            try:  # Dask computes and stores each chunk in one task: a failure is told by where it arose
                host[rows].store(target, regions=(rows, slice(None), slice(None)), lock=False)
            except _StoreFailed as failed:
                raise failed.args[0] from None
            except GpuimgError:
                raise
            except Exception as exc:
                raise _ComputeFailed from exc


def _write_nifti(data, path: Path, geometry: dict) -> None:
    import nibabel as nib

    volume = Volume(data, **geometry)
    matrix = (np.asarray(volume.direction) * np.array(volume.spacing))[:, ::-1]  # columns x, y, z in LPS
    affine = np.eye(4)
    affine[:3, :3] = _RAS_TO_LPS @ matrix
    affine[:3, 3] = _RAS_TO_LPS @ np.asarray(volume.origin)
    header = nib.Nifti1Header()
    header.set_data_dtype(data.dtype)
    header.set_data_shape(data.shape[::-1])  # (x, y, z)
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    header.set_data_offset(_NIFTI_DATA_OFFSET)
    dtype = header.get_data_dtype()
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with _atomic_path(path) as tmp, opener(tmp, "wb") as file:
        file.write(header.binaryblock)
        file.write(b"\0" * (_NIFTI_DATA_OFFSET - len(header.binaryblock)))
        for rows in row_slices(data):
            # (z, y, x) in C order is NIfTI's (x, y, z) in Fortran order: a z slab is contiguous.
            try:
                slab = to_numpy(data[rows].compute())
            except GpuimgError:
                raise
            except Exception as exc:
                raise _ComputeFailed from exc
            file.write(np.ascontiguousarray(slab, dtype=dtype).tobytes())


class _ComputeFailed(Exception):
    """Computing the image (its Dask graph) failed, with the exception as the cause: nothing is written."""


class _StoreFailed(Exception):
    """Storing a computed chunk into the Zarr array failed; its argument is the exception."""


class _Target:
    """A Zarr array whose refusals of a chunk are raised as :class:`_StoreFailed`, so that they are
    told from failures of computing the chunk, which Dask's storing task raises too."""

    def __init__(self, array) -> None:
        self.array = array
        self.shape, self.dtype = array.shape, array.dtype

    def __setitem__(self, index, chunk) -> None:
        try:
            self.array[index] = chunk
        except Exception as exc:
            raise _StoreFailed(exc) from exc  # an argument: it survives pickling (a cluster's)


def _optional(module: str, caller: str):
    """``module`` of the ``dask`` extra (Dask, zarr), or a GpuimgError that says how to install it:
    gpuimg installs from its checkout (it is not on the package index)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise GpuimgError(
            f"{caller} needs {module.split('.')[0]}, which is not installed ({exc}); install gpuimg's dask "
            "extra: in the gpuimg checkout, pip install -e '.[dask]'."
        ) from None
