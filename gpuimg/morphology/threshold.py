"""Otsu's threshold and its multi-class form, equal to scikit-image's."""

from __future__ import annotations

import numpy as np

from gpuimg._arrays import check_mask_shape
from gpuimg._memory import check_bytes
from gpuimg.backend import is_dask, namespace, on_device, to_numpy
from gpuimg.errors import ParameterError
from gpuimg.volume import accepts_volume

from .binary import Image

#: Most combinations of thresholds a multi-Otsu search may try (about 6 s on one 2026 CPU core).
_MULTIOTSU_SEARCH = 2**33


@accepts_volume
def otsu_threshold(image: Image, nbins: int = 256, mask: Image | None = None) -> float:
    """Otsu's threshold of ``image`` (of the voxels inside ``mask`` when given).

    Parameters
    ----------
    image : array (NumPy or CuPy) or Volume, any shape
    nbins : int
        Histogram bins.
    mask : bool array or Volume of the image's shape, optional

    Returns
    -------
    float
        In the image's units. Equal to ``skimage.filters.threshold_otsu(image[mask], nbins)``
        (cuCIM's on CuPy).

    Raises
    ------
    ParameterError
        For ``nbins`` below 2, a Dask array, a mask of another shape, no voxel to threshold (an empty
        image or mask), NaN or infinite values among them (leave them out with ``mask``), or values
        whose range ``nbins`` bins of their float type cannot cover.
    GeometryError
        If ``mask`` is a Volume on another grid than the image Volume (spacing, origin or direction).
    MemoryBudgetError
        If an integer image's histogram, one bin per integer value, would exceed the memory budget.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.morphology import otsu_threshold
    >>> image = np.zeros((4, 4, 4)); image[2:] = 100.0
    >>> 0 < otsu_threshold(image) < 100
    True
    """
    values = _values(image, mask, nbins)
    bins = _integer_bins(values)
    if bins is not None:  # its histogram, cumulative sums and between-class variances, before them
        check_bytes(
            _OTSU_BYTES_PER_BIN * bins,
            f"Otsu's histogram of {bins} bins (one per integer value: {_AS_FLOAT})",
        )
    try:
        return float(namespace(values).ski.filters.threshold_otsu(values, nbins=int(nbins)))
    # NumPy's: no nbins finite-sized bins fit the values' float range (IndexError up to NumPy 2.0).
    except (ValueError, IndexError) as exc:
        raise ParameterError(
            f"Otsu cannot bin the values ({exc}): their range is too narrow or too wide for {nbins} "
            "bins of their float type; rescale them, or use fewer nbins."
        ) from exc


@accepts_volume
def multiotsu(image: Image, classes: int = 3, nbins: int = 256, mask: Image | None = None) -> np.ndarray:
    """The ``classes - 1`` thresholds of multi-Otsu, equal to ``skimage.filters.threshold_multiotsu``.

    Parameters
    ----------
    image : array (NumPy or CuPy) or Volume
    classes : int
        Number of classes (2 to 5; the search grows as ``nbins ** (classes - 1)``).
    nbins : int
    mask : bool array or Volume of the image's shape, optional

    Returns
    -------
    NumPy float64 array of ``classes - 1`` thresholds, increasing, in the image's units.

    Raises
    ------
    ParameterError
        As :func:`otsu_threshold`; also for ``classes`` outside 2 to 5, fewer distinct values than
        classes, or a search of more than 2**33 combinations of thresholds.
    GeometryError
        If ``mask`` is a Volume on another grid than the image Volume (spacing, origin or direction).
    MemoryBudgetError
        If the search's table of ``bins x bins`` float64 would exceed the memory budget.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.morphology import multiotsu
    >>> image = np.repeat([0.0, 50.0, 100.0], 8).reshape(2, 3, 4)
    >>> t = multiotsu(image)
    >>> bool(0 <= t[0] < 50 <= t[1] < 100)
    True
    """
    values = _values(image, mask, nbins)
    if not (isinstance(classes, (int, np.integer)) and 2 <= classes <= 5):
        raise ParameterError(f"classes={classes!r} must be an integer from 2 to 5.")
    _check_search(values, int(classes), int(nbins))
    filters = namespace(values).ski.filters
    try:
        thresholds = filters.threshold_multiotsu(values, classes=int(classes), nbins=int(nbins))
    except ValueError as exc:  # fewer distinct values (after binning) than classes
        raise ParameterError(f"classes={classes}: {exc}") from exc
    return np.asarray(thresholds.get() if hasattr(thresholds, "get") else thresholds, dtype=np.float64)


#: The fix where an integer image's one bin per value (scikit-image's rule) is too many.
_AS_FLOAT = "pass image.astype(np.float32) so that nbins applies"

#: Bytes per bin of scikit-image's Otsu: the counts, the bin centres, the class weights and means
#: (cumulative sums both ways) and the between-class variance, with their temporaries, all 8-byte.
_OTSU_BYTES_PER_BIN = 96


def _integer_bins(values) -> int | None:
    """The bins scikit-image gives integer ``values`` whatever ``nbins``: one per integer from their
    minimum to their maximum, counted in the values' own dtype (no int64 wrap of uint64); None for
    floats."""
    if np.dtype(values.dtype).kind not in "biu":
        return None
    low, high = (int(v) for v in to_numpy(namespace(values).xp.stack([values.min(), values.max()])))
    return high - low + 1


def _check_search(values, classes: int, nbins: int) -> None:
    """Refuse a multi-Otsu search that would run for minutes or take more memory than the budget.

    scikit-image (and cuCIM) search ``bins ** (classes - 1)`` combinations of thresholds with a table
    of ``bins x bins`` float64; an integer image gets one bin per integer between its minimum and
    maximum, whatever ``nbins`` (a uint16 MR image: up to 65536 bins, a 32 GiB table).
    """
    integer_bins = _integer_bins(values)
    integer = integer_bins is not None
    bins = integer_bins if integer else nbins
    if bins ** (classes - 1) > _MULTIOTSU_SEARCH:
        fix = _AS_FLOAT if integer else "use fewer nbins"
        raise ParameterError(
            f"multiotsu would search {bins}^{classes - 1} combinations of thresholds over {bins} bins"
            + (" (one per integer value: nbins does not apply to integer images)" if integer else "")
            + f"; {fix}, or fewer classes."
        )
    hint = f" (one per integer value: {_AS_FLOAT})" if integer else ""
    check_bytes(8 * bins**2, f"multiotsu's table of {bins} x {bins} bins{hint}")


def _values(image, mask, nbins):
    """The finite values to threshold: the image's, or those of its mask, as one flat array."""
    if not (isinstance(nbins, (int, np.integer)) and nbins >= 2):
        raise ParameterError(f"nbins={nbins!r} must be an integer >= 2.")
    if is_dask(image):
        raise ParameterError("Otsu needs the whole histogram; pass image.compute() (or a NumPy/CuPy array).")
    ns = namespace(image)
    xp = ns.xp
    image = xp.asarray(image)
    if mask is not None:
        mask = on_device(ns, mask, "mask", bool)
        check_mask_shape(mask, image)
        image = image[mask]
    image = image.ravel()  # values, not an image: scikit-image would take a (..., 3) volume for RGB
    if image.size == 0 or np.dtype(image.dtype).kind not in "biuf":
        raise ParameterError(
            f"Otsu needs a non-empty real image; got {image.size} values of dtype {image.dtype}."
        )
    if image.dtype.kind == "f" and not bool(xp.isfinite(image).all()):
        raise ParameterError(
            "Otsu needs finite values; the image holds NaN or infinite ones. Leave them out with mask=."
        )
    return image
