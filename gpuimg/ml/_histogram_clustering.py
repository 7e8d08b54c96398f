"""Clustering of voxel intensities on the image's histogram: 1D k-means (:func:`segment_kmeans`) and a
1D self-organizing map (:func:`segment_som`), with the histogram they run on and the labelling of
the voxels by the clusters' means."""

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from gpuimg._support import check_bins, check_flag
from gpuimg._text import count
from gpuimg.backend import bincount_fixed, namespace, on_device
from gpuimg.errors import ParameterError
from gpuimg.volume import Volume, accepts_volume

from .som import SOM

#: Histogram bins for float images (integer images get one bin per value, up to _MAX_BINS).
_FLOAT_BINS = 4096


_MAX_BINS = 1 << 16


@accepts_volume(new_units=True)
def segment_kmeans(
    image,
    k: int = 4,
    mask=None,
    *,
    bins: int | None = None,
    max_iter: int = 300,
    return_centers: bool = False,
):
    """Cluster voxel intensities with 1D k-means, run on the image's histogram.

    Parameters
    ----------
    image : array (NumPy or CuPy) or Volume
    k : int
        Clusters, at least 2.
    mask : array or Volume, optional
        Voxels to cluster: the non-zero ones, of any dtype (the bool, uint8 or int16 masks gpuimg and
        mask files give); default all.
    bins : int, optional
        Histogram bins. Default: one per integer value for integer images spanning at most 65536
        values (then the result is exact k-means), else 4096.
    max_iter : int
    return_centers : bool
        Also return the cluster centres [image units].

    Returns
    -------
    labels : array of int32, the image's shape, on its device (a Volume for a Volume)
        0 to k - 1 in increasing intensity; -1 outside ``mask``.
    centers : array (k,), if ``return_centers``

    Raises
    ------
    ParameterError
        For an image that holds no numbers, ``k`` below 2, ``max_iter`` below 1, bad ``bins``, a
        mask of another shape or one that selects no voxel, or NaN or infinite values among the
        voxels to cluster.
    GeometryError
        If ``mask`` is a Volume on another grid than the image Volume (spacing, origin or direction).

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        If fewer than ``k`` clusters hold voxels (fewer distinct intensities than ``k``, as
        scikit-learn's KMeans warns): some labels then mark no voxel.

    Notes
    -----
    Lloyd's iterations on the (bin centre, count) pairs: O(bins) per iteration after one pass over
    the voxels for the histogram and one for the labels. In 1D the clusters are intervals, so the
    labels come from the midpoints between sorted centres. Two deterministic starts, the quantiles
    ``(i + 0.5) / k`` of the voxel intensities and of the occupied intensity range (so a small
    class far from the others, such as bone, gets a centre); the result of lower within-cluster sum
    of squares is kept. Equals k-means on the voxels (from that start) up to the binning.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> from gpuimg.ml import segment_kmeans
    >>> ct = gpuimg.Volume(np.repeat([-800, 40, 700], 8).reshape(2, 3, 4).astype(np.int16))
    >>> labels = segment_kmeans(ct, 3)
    >>> labels.data.ravel()[::8].tolist()
    [0, 1, 2]
    """
    data, mask, values, xp = _voxels(image, mask)
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ParameterError(f"k={k!r} must be an integer of at least 2.")
    check_flag(return_centers, "return_centers")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ParameterError(f"max_iter={max_iter!r} must be a whole number of iterations, at least 1.")
    centres, counts = _histogram(values, bins, xp)
    best = None
    # Two deterministic starts: quantiles of the voxels, and of the occupied intensity range (which
    # gives small, distinct classes such as bone a centre); the one of lower within-cluster SSE wins.
    for weights in (counts, (counts > 0).astype(np.float64)):
        means = _lloyd(centres, counts, _quantiles(centres, weights, k, xp), max_iter, xp)
        assigned = xp.searchsorted((means[1:] + means[:-1]) / 2, centres)
        sse = float((counts * (centres - means[assigned]) ** 2).sum())
        if best is None or sse < best[0]:
            best = (sse, means)
    means = best[1]
    _warn_if_fewer_clusters("segment_kmeans", means, centres, counts, xp)
    labels = _label(data, mask, means, xp)
    return (labels, means) if return_centers else labels


def _warn_if_fewer_clusters(function: str, means, centres, counts, xp) -> None:
    """Warn, as scikit-learn's KMeans does ("Number of distinct clusters (2) found smaller than
    n_clusters (4)"), where some of the ``k = means.size`` labels mark no voxel: a centre repeated,
    or one no voxel is nearest to. [0, 0, 1, 1] with k=4 gave the centres [0, 0, 1, 1] and the labels
    0 and 2 only, without a word. The histogram's bins (``centres``, ``counts``) are labelled by
    :func:`_label`'s rule (the midpoints below each)."""
    k = int(means.size)
    assigned = xp.searchsorted((means[1:] + means[:-1]) / 2, centres)
    distinct = int(xp.count_nonzero(bincount_fixed(assigned, counts, length=k)))
    if distinct < k:
        occupied = int(xp.count_nonzero(counts))
        fix = f"Pass k={distinct} or less" if distinct > 1 else "Every voxel is in cluster 0"
        warnings.warn(
            f"{function} found {count(distinct, 'distinct cluster')}, fewer than k={k}: the voxels to "
            f"cluster fill {count(occupied, 'histogram bin')} (one per value for an integer image), and no "
            f"voxel gets {k - distinct} of the labels 0 to {k - 1} (empty clusters: a centre repeated, or "
            f"one no voxel is nearest to). {fix}; check the image and the mask.",
            ConvergenceWarning,
            stacklevel=4,  # the caller's line, past this helper and the accepts_volume wrapper
        )


def _quantiles(centres, weights, k, xp):
    """The bin centres at the quantiles ``(i + 0.5) / k`` of the weights."""
    cumulative = xp.cumsum(weights)
    targets = (xp.arange(k) + 0.5) / k * cumulative[-1]
    return centres[xp.minimum(xp.searchsorted(cumulative, targets), centres.size - 1)]


def _lloyd(centres, counts, means, max_iter, xp):
    """Lloyd's iterations of 1D k-means on histogram bins, from sorted ``means``."""
    k = means.size
    for iteration in range(max_iter):
        assigned = xp.searchsorted((means[1:] + means[:-1]) / 2, centres)
        weight = bincount_fixed(assigned, counts, length=k)  # no device read, unlike cupy.bincount
        total = bincount_fixed(assigned, counts * centres, length=k)
        updated = xp.sort(xp.where(weight > 0, total / xp.where(weight > 0, weight, 1), means))
        # Convergence read back every _CHECK_EVERY steps only (each read syncs the device); a
        # converged step changes nothing, so the extra steps leave the same means.
        if (iteration + 1) % _CHECK_EVERY == 0 and bool((updated == means).all()):
            break
        means = updated
    return means


#: Lloyd's iterations between two convergence checks.
_CHECK_EVERY = 8


@accepts_volume(new_units=True)
def segment_som(
    image, k: int = 4, mask=None, *, bins: int | None = None, epochs: int = 30, return_centers=False
):
    """Cluster voxel intensities with a 1D self-organizing map of ``k`` nodes, on the histogram.

    Parameters and Returns as :func:`segment_kmeans`; labels in increasing intensity.

    Raises
    ------
    ParameterError
        As :func:`segment_kmeans`; also for ``epochs`` below 1.
    GeometryError
        If ``mask`` is a Volume on another grid than the image Volume (spacing, origin or direction).

    Notes
    -----
    :class:`gpuimg.ml.SOM` (grid ``(k, 1)``) trained on the histogram's bin centres weighted by
    their counts: O(bins x k) per epoch. The neighbourhood keeps neighbouring nodes close in
    intensity, so the clusters are smoother than k-means' where classes overlap.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import segment_som
    >>> image = np.random.default_rng(0).normal(0.0, 5.0, (8, 8, 8))
    >>> image[:, :, 4:] += 100.0  # two tissues, about 0 and 100
    >>> labels, centres = segment_som(image, k=2, return_centers=True)
    >>> labels.shape, labels.dtype, centres.round(-1)
    ((8, 8, 8), dtype('int32'), array([  0., 100.]))
    >>> bool((labels[:, :, :4] == 0).all() and (labels[:, :, 4:] == 1).all())
    True
    """
    data, mask, values, xp = _voxels(image, mask)
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ParameterError(f"k={k!r} must be an integer of at least 2.")
    check_flag(return_centers, "return_centers")
    centres, counts = _histogram(values, bins, xp)
    som = SOM(grid=(int(k), 1), epochs=epochs).fit(centres[:, None], sample_weight=counts)
    means = xp.sort(som.weights_[:, 0])
    _warn_if_fewer_clusters("segment_som", means, centres, counts, xp)
    labels = _label(data, mask, means, xp)
    return (labels, means) if return_centers else labels


def _voxels(image, mask):
    """The image's array, the mask as bool (any dtype: non-zero voxels; None for all), the values
    to cluster, and the array module."""
    data = image.data if isinstance(image, Volume) else image
    xp = namespace(data).xp
    data = xp.asarray(data)
    if data.dtype.kind not in "fiu" or data.size == 0:
        raise ParameterError(f"the image must hold numbers; got dtype {data.dtype}, shape {data.shape}.")
    if mask is not None:
        mask = on_device(namespace(data), mask.data if isinstance(mask, Volume) else mask, "mask", bool)
        if mask.shape != data.shape:
            raise ParameterError(f"mask has shape {mask.shape}; the image has {data.shape}.")
    values = data[mask] if mask is not None else data.ravel()
    if values.size == 0:
        raise ParameterError("the mask selects no voxel.")
    if values.dtype.kind == "f" and not bool(xp.isfinite(values).all()):
        raise ParameterError("the image holds NaN or infinite values in the voxels to cluster.")
    return data, mask, values, xp


def _histogram(values, bins, xp):
    """Bin centres and counts (float64) of ``values``; one bin per integer for integer data."""
    if bins is not None and (check_bins(bins, "bins") < 2):
        raise ParameterError(f"bins={bins!r} must be an integer of at least 2.")
    lo, hi = float(values.min()), float(values.max())
    if bins is None:
        integer = values.dtype.kind in "iu" and hi - lo < _MAX_BINS
        bins = int(hi - lo) + 1 if integer else _FLOAT_BINS
        if integer:
            counts = bincount_fixed((values - lo).astype(np.int64).ravel(), length=bins)
            return lo + xp.arange(bins, dtype=np.float64), counts.astype(np.float64)
    # Bins at least 4 units in the last place of the values wide: an image of one value (or of a
    # few ulps' spread, as 1e30 and its neighbour) has no finite-sized bins of its own.
    ulp = float(np.finfo(values.dtype if values.dtype.kind == "f" else np.float64).eps) * max(
        abs(lo), abs(hi), 1.0
    )
    span = max(hi - lo, 4 * int(bins) * ulp)
    if not math.isfinite(span):
        raise ParameterError(f"the voxels span {lo:g} to {hi:g}, beyond float64's range; rescale them first.")
    if values.dtype.kind == "f" and span > float(np.finfo(values.dtype).max) / 2:
        values = values.astype(np.float64)  # NumPy bins in the values' type: float32 would overflow
    counts, edges = xp.histogram(values, bins=int(bins), range=(lo, lo + span))
    edges = edges.astype(np.float64)  # float32 edges near its largest value overflow when summed
    return (edges[1:] + edges[:-1]) / 2, counts.astype(np.float64)


def _label(data, mask, means, xp):
    """The cluster of each voxel: how many midpoints between sorted ``means`` lie below it (what
    ``searchsorted`` gives), counted one midpoint at a time into int32, so that no 64-bit index
    volume is ever made (the device peak stays near the image and the labels)."""
    labels = xp.zeros(data.shape, dtype=np.int32)
    for midpoint in (means[1:] + means[:-1]) / 2:
        labels += data > midpoint
    if mask is not None:
        labels[~mask] = -1
    return labels
