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
        (cuCIM's on CuPy); for integer values beyond ±2**31, to its threshold of the values less
        their minimum, plus the minimum (scikit-image counts an integer histogram from 0, 8 bytes for
        each integer up to the maximum).

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
    span = _integer_span(values)
    if span is not None:  # its histogram, cumulative sums and between-class variances, before them
        bins = span[1] - span[0] + 1
        check_bytes(
            _OTSU_BYTES_PER_BIN * bins,
            f"Otsu's histogram of {bins} bins (one per integer value: {_AS_FLOAT})",
        )
        if span[0] == span[1]:  # one value: scikit-image returns it
            return float(span[0])
    hist = _integer_histogram(values, span)
    try:
        filters = namespace(values).ski.filters
        if hist is not None:
            counts, centers, shift = hist
            return float(shift + int(filters.threshold_otsu(nbins=int(nbins), hist=(counts, centers))))
        return float(filters.threshold_otsu(values, nbins=int(nbins)))
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
    NumPy float64 array of ``classes - 1`` thresholds, increasing, in the image's units; for integer
    values beyond ±2**31, scikit-image's of the values less their minimum, plus the minimum, as
    :func:`otsu_threshold`.

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
    span = _integer_span(values)
    _check_search(span, int(classes), int(nbins))
    filters = namespace(values).ski.filters
    hist = _integer_histogram(values, span)
    try:
        if hist is None:
            thresholds = filters.threshold_multiotsu(values, classes=int(classes), nbins=int(nbins))
        else:  # scikit-image's multi-Otsu takes the image's histogram normalised
            counts, centers, shift = hist
            found = filters.threshold_multiotsu(
                classes=int(classes), nbins=int(nbins), hist=(counts / counts.sum(), centers)
            )
            thresholds = [shift + int(t) for t in to_numpy(found).tolist()]
    except ValueError as exc:  # fewer distinct values (after binning) than classes
        raise ParameterError(f"classes={classes}: {exc}") from exc
    return np.asarray(thresholds.get() if hasattr(thresholds, "get") else thresholds, dtype=np.float64)


#: The fix where an integer image's one bin per value (scikit-image's rule) is too many.
_AS_FLOAT = "pass image.astype(np.float32) so that nbins applies"

#: Bytes per bin of scikit-image's Otsu: the counts, the bin centres, the class weights and means
#: (cumulative sums both ways) and the between-class variance, with their temporaries, all 8-byte.
_OTSU_BYTES_PER_BIN = 96


def _integer_span(values) -> tuple[int, int] | None:
    """The minimum and maximum of integer or bool ``values``, in their own dtype (no int64 wrap of
    uint64): scikit-image gives integers one bin per integer between them, whatever ``nbins``; None
    for floats."""
    if np.dtype(values.dtype).kind not in "biu":
        return None
    low, high = (int(v) for v in to_numpy(namespace(values).xp.stack([values.min(), values.max()])))
    return low, high


def _integer_histogram(values, span):
    """scikit-image's histogram of integer (not bool) ``values`` of :func:`_integer_span` ``span``:
    one bin per integer from their minimum to their maximum, centred on it, as ``(counts, centres,
    shift)``, the values being ``centres + shift``; None for bool or float values. Counted from the
    minimum: scikit-image counts from 0 (``np.bincount`` of the values up to their maximum, 8 bytes
    for each integer below their minimum too: 32 GiB for uint32 values near 2**32, a MemoryError for
    int64 values from 2**40) and takes the minimum through int64 (uint64 values from 2**63 wrapped to
    a negative threshold).

    The centres are scikit-image's own (int64, ``shift`` 0) for values within ±2**31, so that the
    thresholds are its own to the last bit; beyond, they count from the minimum (its ``shift``):
    Otsu's threshold moves with the values, and float64 means of values near 2**63 keep no digit
    below 2048, too few to tell the thresholds apart."""
    kind = np.dtype(values.dtype).kind
    if kind not in "iu":
        return None
    xp = namespace(values).xp
    low, high = span
    # The least dtype that holds the values and their range (int16 HU: int16; the whole int16 range:
    # int32), as scikit-image offsets them; int64 where that would be float64 (int64 values, whose
    # range within the memory budget int64 holds).
    wide = np.promote_types(values.dtype, np.min_scalar_type(high - low))
    wide = np.dtype(np.int64) if wide.kind == "f" else wide
    offsets = values.astype(wide, copy=False) - wide.type(low)
    if wide == np.uint64:  # bincount takes no uint64 (no safe cast to intp)
        offsets = offsets.astype(np.int64)
    counts = xp.bincount(offsets, minlength=high - low + 1)
    shift = 0 if -(2**31) <= low and high < 2**31 else low
    return counts, xp.arange(low - shift, high - shift + 1, dtype=np.int64), shift


def _check_search(span, classes: int, nbins: int) -> None:
    """Refuse a multi-Otsu search that would run for minutes or take more memory than the budget.

    scikit-image (and cuCIM) search ``bins ** (classes - 1)`` combinations of thresholds with a table
    of ``bins x bins`` float64; an integer image gets one bin per integer between its minimum and
    maximum, whatever ``nbins`` (a uint16 MR image: up to 65536 bins, a 32 GiB table); ``span`` is
    their :func:`_integer_span`, None for floats.
    """
    integer = span is not None
    bins = span[1] - span[0] + 1 if integer else nbins
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
