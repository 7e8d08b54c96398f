"""Checks of the arrays every public function takes: dtypes, numbers of axes, shapes, masks.

The companion of :mod:`gpuimg._support` (the argument checks): one place that says how an image or a
mask given to gpuimg is read (a list as an array, float16 as float32, big-endian values in the
machine's order, a masked array refused where it hides voxels) and what is refused, with the same
:class:`~gpuimg.errors.ParameterError` wherever it is given.

Examples
--------
>>> from gpuimg._arrays import as_image
>>> as_image([[1, 2], [3, 4]]).dtype.kind
'i'
"""

import math
import os
from collections.abc import Sequence

import numpy as np

from gpuimg._memory import check_bytes
from gpuimg.errors import GpuimgError, ParameterError


def roi_voxels(mask):
    """The ROI of a mask as bool, on its device: its non-zero voxels, NaN left out.

    A float mask (a probability map, a resampled label image) may hold NaN where it has no value;
    ``NaN != 0`` would count those voxels in.

    Examples
    --------
    >>> roi_voxels(np.array([0.0, 1.0, np.nan, -2.0])).tolist()
    [False, True, False, True]
    """
    kind = np.dtype(mask.dtype).kind
    if kind == "b":  # a copy, as below: `!= 0` compares bools as integers, some ten times slower
        return mask.astype(bool)
    inside = mask != 0
    if kind == "f":
        inside &= mask == mask
    return inside


def float_dtype(dtype) -> np.dtype:
    """The float dtype to compute in: float64 for float64, longdouble and 32/64-bit integers, float32
    otherwise.

    As scikit-image's ``_supported_float_type`` (float16 computes in float32, longdouble in float64:
    neither SciPy's filters nor Numba nor CuPy have a longdouble path); complex, object and string
    dtypes raise a ParameterError.

    Examples
    --------
    >>> float_dtype(np.float16), float_dtype(np.int32), float_dtype(np.longdouble)
    (dtype('float32'), dtype('float64'), dtype('float64'))
    """
    dtype = real_dtype(dtype)
    if (dtype.kind == "f" and dtype.itemsize >= 8) or (dtype.kind in "iu" and dtype.itemsize > 2):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def real_dtype(dtype, name: str = "image", *, error: type[GpuimgError] = ParameterError) -> np.dtype:
    """``dtype`` if it holds real numbers (bool, integer, float), else a ParameterError.

    Examples
    --------
    >>> real_dtype(np.uint8)
    dtype('uint8')
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        hints = {"c": "; take its .real or abs() first", "U": "; convert text of numbers with .astype(float)"}
        hint = hints.get("U" if dtype.kind == "S" else dtype.kind, "")
        raise error(f"the {name} must hold real numbers; got dtype {dtype}{hint}.")
    return dtype


def check_known_shape(image, name: str = "image") -> None:
    """ParameterError for a Dask array whose chunk sizes are unknown (NaN, as boolean indexing by a
    Dask array leaves them): a chunked operation needs to know where each chunk lies."""
    if any(isinstance(n, float) and math.isnan(n) for n in image.shape):
        raise ParameterError(
            f"the {name} is a Dask array of unknown chunk sizes (shape {tuple(image.shape)}, as boolean "
            "indexing by a Dask array leaves it); call its .compute_chunk_sizes() first."
        )


def check_gathered(operation: str, *arrays) -> None:
    """MemoryBudgetError before ``operation``, which has no chunked path, computes the Dask arrays among
    ``arrays`` whole in memory, where together they exceed the memory budget (:mod:`gpuimg._memory`).

    A Dask array may stand for a store larger than memory (:func:`gpuimg.io.open_zarr`): computed
    whole, it takes all its bytes at once, which the budget bounds as it bounds a file's voxels. Arrays
    already in memory (NumPy, CuPy) and None take nothing more and are not counted; nor is a Dask array
    of unknown chunk sizes (NaN), whose bytes are known only once it is computed; one given twice
    counts once.

    Parameters
    ----------
    operation : str
        What computes them, for the message (the public function's name where there is one).
    *arrays : array or None
        The inputs it computes whole.

    Raises
    ------
    MemoryBudgetError
        If the Dask arrays among ``arrays`` hold more bytes than the budget.

    Examples
    --------
    >>> import dask.array as da
    >>> check_gathered("resample", da.zeros((4, 4), chunks=2), None)  # 128 bytes: within any budget
    """
    from gpuimg.backend import is_dask  # here: gpuimg.backend imports this module

    # One array given twice (a mask for both roles) is computed once: its key counts once.
    lazy = list({a.name: a for a in arrays if is_dask(a) and not math.isnan(a.size)}.values())
    if lazy:
        inputs = "inputs of shapes" if len(lazy) > 1 else "input of shape"
        shapes = " and ".join(f"{tuple(a.shape)} {a.dtype}" for a in lazy)
        check_bytes(
            sum(a.size * a.dtype.itemsize for a in lazy),
            f"{operation} computes its Dask {inputs} {shapes} whole in memory (it has no chunked path), "
            "which",
        )


def check_not_a_file(value, name: str = "image", *, error: type[GpuimgError] = ParameterError) -> None:
    """Refuse a file name (str, bytes or path) given where an array is expected, saying how to read it.

    NumPy would make it an array of one string, refused for its dtype without a word about reading.

    Examples
    --------
    >>> check_not_a_file(np.zeros(3))
    """
    if isinstance(value, str | bytes | os.PathLike):
        raise error(
            f"the {name} is a file name ({os.fsdecode(value)!r}), not an array; read it first: "
            "gpuimg.read_image(path) for NIfTI or NRRD, gpuimg.read_dicom(folder) for a DICOM series."
        )


def check_ndim(
    image, ndims: Sequence[int], name: str = "image", *, error: type[GpuimgError] = ParameterError
) -> int:
    """The number of axes of ``image`` if it is one of ``ndims``, else an error saying what to do.

    A 2D image given to a 3D operation is one slice (``image[np.newaxis]``); an extra axis of length 1
    (a NIfTI's 4th axis of one time point, a batch axis) is dropped with ``np.squeeze``; a last axis
    of 3 or 4 is taken for colour channels; any other extra axis is a series, one volume at a time.
    Such an array is refused, not squeezed, as scikit-image's 2D/3D functions refuse it.

    Examples
    --------
    >>> check_ndim(np.zeros((2, 3, 4)), (2, 3))
    3
    """
    shape = tuple(np.shape(image))
    ndim = len(shape)
    if ndim in ndims:
        return ndim
    low, high = min(ndims), max(ndims)
    if ndim < low:
        hint = (
            f"a 2D image is one slice: pass {name}[np.newaxis] (a volume of one slice)"
            if ndim == 2
            else f"give an array of {low} axes"
        )
    else:
        ones = [axis for axis, size in enumerate(shape) if size == 1][: ndim - high]
        if len(ones) == ndim - high:
            axes = ones[0] if len(ones) == 1 else tuple(ones)
            hint = f"drop the extra axis of length 1 with np.squeeze({name}, axis={axes})"
        elif ndim == high + 1 and shape[-1] in (3, 4):
            hint = (
                f"if its last axis holds {shape[-1]} colour channels, make one intensity first "
                f"(skimage.color.rgb2gray, or {name}.mean(axis=-1)); a series of volumes (time, echoes) "
                f"goes one volume at a time, {name}[t]"
            )
        else:
            hint = f"a series of volumes (time, echoes, channels) goes one volume at a time, {name}[t]"
    names = [f"{n}D" for n in sorted(ndims)]
    axes = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    if ndims == (3,):
        axes += " (z, y, x)"
    raise error(f"the {name} must be {axes}; got {ndim}D, shape {shape}: {hint}.")


def check_mask_shape(mask, image, name: str = "mask", *, error: type[GpuimgError] = ParameterError) -> None:
    """Refuse a mask whose shape differs from the image's; one whose axes are the image's reversed
    (x, y, z), as nibabel's ``get_fdata()`` gives a NIfTI's, is told to read it as the image was.

    Examples
    --------
    >>> check_mask_shape(np.zeros((2, 3)), np.ones((2, 3)))
    """
    mask_shape, shape = tuple(np.shape(mask)), tuple(np.shape(image))
    if mask_shape == shape:
        return
    if mask_shape == shape[::-1]:
        hint = (
            "its axes are the image's in reverse order, (x, y, z) as nibabel's get_fdata() gives a "
            f"NIfTI's: read the {name} with gpuimg.read_image, as the image, or pass {name}.T"
        )
    elif sorted(mask_shape) == sorted(shape):
        hint = (
            f"its axes are the image's in another order: put them in the image's (z, y, x) order "
            f"with np.transpose, or read the {name} with gpuimg.read_image, as the image"
        )
    else:
        hint = f"give the {name} drawn on this image (resample it onto the image's grid first)"
    raise error(f"the {name}'s shape {mask_shape} differs from the image's {shape}; {hint}.")


def as_image(image, name: str = "image", *, ndims: Sequence[int] | None = None, empty: bool = True):
    """An array-like image checked for its number of axes, its size and its dtype.

    A list or tuple becomes a NumPy array; float16 becomes float32 and longdouble (float128 on x86)
    float64 (SciPy's filters and our kernels have no float16 path, and no longdouble path: SciPy
    refuses it, "array type not supported"), and values in the other byte order (big-endian, from a
    file) are put in the machine's; a NumPy masked array with no masked voxel becomes its plain
    array; other arrays (NumPy, CuPy, Dask) are returned as they are. A 0-d array, complex, object
    or string dtypes, and a masked array with masked voxels (the kernels read every voxel, as
    ``scipy.ndimage`` does, while a range or histogram taken with NumPy would leave them out) raise
    a ParameterError.

    Parameters
    ----------
    image : array_like
        The input.
    name : str
        The parameter's name, for the message.
    ndims : sequence of int, optional
        The numbers of axes accepted; default any number from 1.
    empty : bool
        Whether an image with no voxel is accepted.

    Examples
    --------
    >>> as_image([[1, 2], [3, 4]]).shape
    (2, 2)
    """
    check_not_a_file(image, name)
    image = unmasked(image, name)
    if not hasattr(image, "dtype") or not hasattr(image, "shape"):
        try:
            image = np.asarray(image)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"the {name} must be an array of numbers; {exc}.") from None
    real_dtype(image.dtype, name)
    if len(image.shape) == 0:
        raise ParameterError(f"the {name} must be an array of 1 or more axes; got one number (0-d).")
    if ndims is not None:
        check_ndim(image, ndims, name)
    if not empty and math.prod(image.shape) == 0:
        raise ParameterError(f"the {name} of shape {tuple(image.shape)} has no voxel.")
    if image.dtype.kind == "f" and image.dtype.itemsize not in (4, 8):  # of either byte order
        return image.astype(np.float32 if image.dtype.itemsize == 2 else np.float64)
    if not image.dtype.isnative:  # big-endian values read from a file: Numba takes native ones only
        return image.astype(image.dtype.newbyteorder("="))
    return image


def unmasked(
    image, name: str = "image", *, error: type[GpuimgError] = ParameterError, hint: str | None = None
):
    """``image`` itself, or the plain array of a NumPy masked array without masked voxels; an
    ``error`` for a masked array with some, saying to give them a value or ``hint``.

    NumPy's reductions skip masked voxels but the kernels (and ``scipy.ndimage``) read every one: an
    operation taking a range or histogram from the one and values from the other would mix both.

    Parameters
    ----------
    image : array_like
    name : str
        The parameter's name, for the message.
    error : GpuimgError subclass
        Raised for masked voxels.
    hint : str, optional
        What else to do with them, after "Give them a value with {name}.filled(value)"; default
        ``or pass {name}.data and mask=~{name}.mask where the operation takes a mask``.

    Examples
    --------
    >>> unmasked(np.ma.masked_array([1.0, 2.0], mask=False))
    array([1., 2.])
    """
    if not isinstance(image, np.ma.MaskedArray):
        return image
    hidden = int(np.ma.count_masked(image))
    if hidden:
        if hint is None:
            hint = f"or pass {name}.data and mask=~{name}.mask where the operation takes a mask"
        raise error(
            f"the {name} is a NumPy masked array with {hidden} masked voxel(s) of {image.size}; gpuimg reads "
            f"every voxel, masked or not. Give them a value with {name}.filled(value){', ' if hint else ''}"
            f"{hint}."
        )
    return np.ma.getdata(image)
