"""Learning on voxels: intensity clustering, DBSCAN on voxel positions, a scribble-trained classifier."""

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from gpuimg._support import check_allocation, check_bins, check_flag, check_gaussian, roi_voxels
from gpuimg._text import count
from gpuimg._units import voxels
from gpuimg.backend import bincount_fixed, namespace, on_device
from gpuimg.edges import gradient_magnitude
from gpuimg.errors import ParameterError
from gpuimg.volume import Volume, accepts_volume, check_same_grid

from ._validation import CheckedParams, check_fitted
from .estimators import make_estimator
from .som import SOM

#: Histogram bins for float images (integer images get one bin per value, up to _MAX_BINS).
_FLOAT_BINS = 4096
_MAX_BINS = 1 << 16


@accepts_volume
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
    labels = _label(data, mask, means, xp)
    return (labels, means) if return_centers else labels


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


@accepts_volume
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
    labels = _label(data, mask, means, xp)
    return (labels, means) if return_centers else labels


@accepts_volume
def dbscan_candidates(
    mask_or_points,
    eps: float | None = None,
    min_samples: int = 5,
    *,
    eps_mm: float | None = None,
    spacing=None,
):
    """Group voxels (or points) closer than ``eps`` [voxels] or ``eps_mm`` [mm] into clusters with DBSCAN.

    Parameters
    ----------
    mask_or_points : mask (array or Volume), or array (points, ndim) [voxel coordinates]
        A mask is a Volume, a 3D array of any dtype (non-zero voxels: the bool, uint8 or int16 masks
        gpuimg makes; a float mask's NaN voxels are outside) or a 2D bool array; any other 2D array
        is a table of points.
    eps : float [voxels]
        Neighbourhood radius, in voxel steps. Give this or ``eps_mm``.
    min_samples : int
        Neighbours (itself included) that make a core point.
    eps_mm : float [mm]
        Neighbourhood radius in mm: the voxel coordinates are scaled by the spacing first.
    spacing : float or sequence of float [mm], optional
        Voxel spacing per axis, for ``eps_mm``; a Volume brings its own.

    Returns
    -------
    array of int32 (a Volume for a Volume)
        For a mask, a label image: 1, 2, ... per cluster, 0 for background and noise. For points,
        one label per point: 0, 1, ... per cluster, -1 for noise. On the input's device.

    Raises
    ------
    ParameterError
        For input that is neither a mask nor a 2D table of points, or not real numbers; neither or both
        of ``eps`` and ``eps_mm``; a radius that is not a positive number; ``eps_mm`` without a spacing,
        or a spacing that is not positive or not one per axis; a ``min_samples`` that DBSCAN refuses
        (not an integer of at least 1).

    Notes
    -----
    Runs :func:`make_estimator` ``("dbscan", "clustering")``: cuML on CuPy input where installed.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import dbscan_candidates
    >>> mask = np.zeros((6, 6, 12), np.uint8); mask[1:3, 1:3, 1:3] = mask[1:3, 1:3, 8:10] = 1
    >>> int(dbscan_candidates(mask, eps=1.5, min_samples=3).max())  # two clusters
    2
    >>> int(dbscan_candidates(mask, eps_mm=12.0, min_samples=3, spacing=2.0).max())  # one
    1
    """
    xp = namespace(mask_or_points).xp
    data = xp.asarray(mask_or_points)
    is_mask = data.dtype == bool or data.ndim == 3
    # A mask's voxels by gpuimg's one rule: a float mask's NaN voxels are outside (NaN != 0 made them
    # a candidate of their own).
    inside = roi_voxels(data) if is_mask else None
    points = xp.argwhere(inside).astype(np.float64) if is_mask else data.astype(np.float64)
    if points.ndim != 2:
        raise ParameterError(
            f"points must be (points, ndim); got shape {points.shape}. Pass a 3D mask (or a 2D bool "
            "mask) for an image."
        )
    if (eps is None) == (eps_mm is None):
        raise ParameterError(f"give one of eps (voxels) and eps_mm (mm); got eps={eps!r}, eps_mm={eps_mm!r}.")
    radius = eps if eps_mm is None else eps_mm
    # A bool is refused, as elsewhere in gpuimg: eps=True ran as a radius of 1 voxel.
    if (
        not isinstance(radius, (int, float, np.integer, np.floating))
        or isinstance(radius, bool)
        or not radius > 0
    ):
        name = "eps" if eps_mm is None else "eps_mm"
        raise ParameterError(f"{name}={radius!r} must be a positive distance.")
    if isinstance(min_samples, bool | np.bool_):  # DBSCAN took True as 1
        raise ParameterError(f"min_samples={min_samples!r} must be an integer of at least 1 (neighbours).")
    # eps_mm: DBSCAN on positions in mm (each axis scaled by its spacing), else on voxel indices.
    if eps_mm is None:
        scale = (1.0,) * points.shape[1]
    elif spacing is None:
        raise ParameterError(
            f"eps_mm={eps_mm!r} needs the voxel spacing: pass spacing= (mm per axis), a Volume, "
            "or eps in voxels."
        )
    else:
        scale = voxels("spacing", spacing, None, None, points.shape[1])
    if points.shape[0] == 0:
        return xp.zeros(data.shape, np.int32) if is_mask else xp.zeros(0, np.int32)
    labels = make_estimator("dbscan", "clustering", eps=float(radius), min_samples=min_samples)
    found = xp.asarray(labels.fit(points * xp.asarray(scale)).labels_, dtype=np.int32)
    if not is_mask:
        return found
    out = xp.zeros(data.shape, np.int32)
    out[inside] = found + 1
    return out


#: Image-sized float32 arrays alive beside the table at once, per number of axes: the image, the
#: smoothed image, the Hessian's components and its eigenvalues.
_INTERMEDIATES = {2: 2 + 3 + 2, 3: 2 + 6 + 3}


@accepts_volume
def voxel_features(
    image,
    sigmas: Sequence[float] | None = None,
    *,
    sigmas_mm: Sequence[float] | None = None,
    spacing=None,
):
    """Multi-scale features of each voxel, (voxels, features) in C order, on the image's device.

    Intensity, then per scale: Gaussian smoothing, its gradient magnitude (Sobel), Laplacian of
    Gaussian, and the Hessian eigenvalues (one per axis, largest first).

    Parameters
    ----------
    image : array, 2D or 3D, or Volume
    sigmas : sequence of float [voxels], optional
        Scales (each one number or one per axis); default (1, 2, 4) voxels. Give this or
        ``sigmas_mm``.
    sigmas_mm : sequence of float [mm], optional
        Scales in mm, divided by the spacing per axis; needs ``spacing`` or a Volume.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``sigmas_mm`` and the gradient (per mm where given); a Volume brings its
        own.

    Returns
    -------
    array (voxels, 1 + len(sigmas) * (3 + ndim)), float32
        A table with one row per voxel, not an image: a plain array for a Volume too.

    Raises
    ------
    ParameterError
        For an image that is not 2D or 3D, has no voxel, or holds NaN or infinite values; both
        ``sigmas`` and ``sigmas_mm``, or no scale (``sigmas=()``); ``sigmas_mm`` without a spacing; a
        scale that is not positive, not one per axis, or so large that its kernel exceeds 2**20 taps;
        a spacing that is not positive, or differs from the Volume's own.
    MemoryBudgetError
        If the feature table and one scale's intermediate images would exceed the memory budget.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import voxel_features
    >>> voxel_features(np.zeros((4, 5, 6)), sigmas=(1.0,)).shape
    (120, 7)
    """
    ns = namespace(image)
    xp = ns.xp
    data = xp.asarray(image, dtype=np.float32)
    if data.ndim not in (2, 3) or data.size == 0:
        raise ParameterError(f"voxel features need a 2D or 3D image with voxels; got shape {data.shape}.")
    if not bool(xp.isfinite(data).all()):
        raise ParameterError(
            "voxel features need finite voxels, and the image holds NaN or inf; replace them first "
            "(e.g. numpy.nan_to_num, or the image's lowest value)."
        )
    if sigmas is not None and sigmas_mm is not None:
        raise ParameterError(
            f"give sigmas (voxels) or sigmas_mm (mm), not both; got {sigmas!r}, {sigmas_mm!r}."
        )
    in_mm = sigmas_mm is not None
    scales = sigmas_mm if in_mm else (1.0, 2.0, 4.0) if sigmas is None else sigmas
    scales = [scales] if np.ndim(scales) == 0 else list(scales)
    if not scales:
        raise ParameterError(f"sigmas={sigmas!r}, sigmas_mm={sigmas_mm!r}: give at least one scale.")
    per_axis = [
        voxels("sigmas", None, s, spacing, data.ndim) if in_mm else voxels("sigmas", s, None, None, data.ndim)
        for s in scales
    ]
    for sigma_voxels in per_axis:
        check_gaussian(sigma_voxels, "sigmas")
    # Each feature is written into the result as soon as it exists and then freed, so that the
    # device holds the result and one scale's intermediates, not every feature twice.
    n_features = 1 + len(per_axis) * (3 + data.ndim)
    check_allocation(
        (data.size, n_features + _INTERMEDIATES[data.ndim]),
        np.float32,
        f"voxel_features of an image of shape {tuple(data.shape)} at {count(len(per_axis), 'scale')} "
        f"(a table of {n_features} float32 features a voxel, and one scale's intermediate images)",
    )
    features = xp.empty((data.size, n_features), dtype=np.float32)
    columns = iter(range(features.shape[1]))

    def put(values):
        features[:, next(columns)] = values.ravel()

    put(data)
    for sigma_voxels in per_axis:
        smooth = ns.ndi.gaussian_filter(data, sigma_voxels)
        put(smooth)
        put(gradient_magnitude(smooth, spacing=spacing))
        del smooth
        put(ns.ndi.gaussian_laplace(data, sigma_voxels))
        for values in _hessian_eigenvalues(ns, data, sigma_voxels):
            put(values)
    return features


def _hessian_eigenvalues(ns, data, sigma_voxels):
    """The eigenvalues of the Hessian of the Gaussian-smoothed image (scikit-image's
    ``hessian_matrix`` without Gaussian derivatives: finite differences), one image per axis,
    largest first.

    The finite differences need two voxels along an axis: along an axis of one voxel (a single
    slice), where the image does not change, the eigenvalue is 0.
    """
    xp = ns.xp
    live = [axis for axis, n in enumerate(data.shape) if n > 1]
    image = data.reshape([data.shape[axis] for axis in live])
    sigma = [sigma_voxels[axis] for axis in live]
    if len(live) >= 2:
        hessian = ns.ski.feature.hessian_matrix(
            image, sigma=sigma, mode="reflect", order="rc", use_gaussian_derivatives=False
        )
        values = list(ns.ski.feature.hessian_matrix_eigvals(hessian))
    elif live:  # one axis: the second difference of the smoothed profile
        values = [xp.gradient(xp.gradient(ns.ndi.gaussian_filter(image, sigma, mode="reflect")))]
    else:
        values = []
    if len(live) == data.ndim:
        return values
    flat = [xp.zeros(image.shape, data.dtype)] * (data.ndim - len(live))
    ordered = xp.sort(xp.stack([*values, *flat]), axis=0)[::-1]
    return ordered.reshape((data.ndim, *data.shape))


class VoxelClassifier(CheckedParams, ClassifierMixin, BaseEstimator):
    """A random forest on multi-scale voxel features, trained from sparse scribbles.

    Parameters
    ----------
    sigmas : sequence of float [voxels], optional
        Feature scales (see :func:`voxel_features`); default (1, 2, 4) voxels.
    sigmas_mm : sequence of float [mm], optional
        The scales in mm instead (the image's spacing: a Volume's, or ``spacing=`` to ``fit`` and
        ``predict``).
    n_estimators, max_depth : int
        Of the random forest (:func:`make_estimator` ``("random_forest")``: cuML on CuPy input).
    random_state : int, optional

    Attributes
    ----------
    forest_ : DeviceClassifier
    classes_ : array
        The scribble labels (positive integers).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import VoxelClassifier
    >>> image = np.random.default_rng(0).normal(0.0, 5.0, (8, 16, 16))
    >>> image[:, :, 8:] += 100.0  # two tissues, left and right
    >>> scribbles = np.zeros(image.shape, np.uint8)  # 0: not labelled
    >>> scribbles[:, 4:12, 3] = 1  # a stroke in each tissue
    >>> scribbles[:, 4:12, 12] = 2
    >>> model = VoxelClassifier(sigmas=(1.0,), n_estimators=10, random_state=0).fit(image, scribbles)
    >>> classes = model.predict(image)
    >>> model.classes_, classes.shape
    (array([1, 2], dtype=uint8), (8, 16, 16))
    >>> bool((classes[:, :, :8] == 1).all() and (classes[:, :, 8:] == 2).all())  # every voxel right
    True
    """

    def __init__(
        self, sigmas=None, n_estimators: int = 50, max_depth=None, random_state=None, *, sigmas_mm=None
    ):
        self.sigmas = sigmas
        self.sigmas_mm = sigmas_mm
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.random_state = random_state

    def fit(self, image, scribbles, *, spacing=None):
        """Train on the voxels where ``scribbles`` (the image's shape) is positive; returns self.

        Raises
        ------
        ParameterError
            Scribbles of another shape (of the same number of voxels too), or fewer than two
            labelled classes.
        GeometryError
            If ``scribbles`` is a Volume on another grid than the image Volume (spacing, origin or
            direction).
        """
        if isinstance(image, Volume) and isinstance(scribbles, Volume):
            check_same_grid(image, scribbles, "VoxelClassifier.fit")
        marks = scribbles.data if isinstance(scribbles, Volume) else scribbles
        shape = np.shape(image.data if isinstance(image, Volume) else image)
        # The shape, not the number of voxels: a (z, x, y) label map has the image's number of voxels.
        if np.shape(marks) != shape:
            raise ParameterError(
                f"scribbles must have the image's shape {shape}; got {np.shape(marks)}. Draw them on this "
                "image (resample them onto its grid first)."
            )
        features, xp = self._features(image, spacing)
        labels = xp.asarray(marks).ravel()
        marked = labels > 0
        if not bool(marked.any()):
            raise ParameterError(
                "scribbles mark no voxel: label voxels of at least two classes with positive integers "
                "(0 and below are unlabelled)."
            )
        self.forest_ = make_estimator(
            "random_forest",
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            random_state=self.random_state,
        ).fit(features[marked], labels[marked])
        self.classes_ = self.forest_.classes_
        return self

    def predict(self, image, *, spacing=None):
        """The class of every voxel, an array of the image's shape on its device (a Volume for a
        Volume).

        Raises
        ------
        NotFittedError
            Before ``fit`` (scikit-learn's ``NotFittedError`` too).
        """
        check_fitted(self, "forest_", "fit(image, scribbles)")
        features, xp = self._features(image, spacing)
        data = image.data if isinstance(image, Volume) else image
        labels = xp.asarray(self.forest_.predict(features)).reshape(data.shape)
        return dataclasses.replace(image, data=labels) if isinstance(image, Volume) else labels

    def _features(self, image, spacing):
        features = voxel_features(image, self.sigmas, sigmas_mm=self.sigmas_mm, spacing=spacing)
        return features, namespace(features).xp


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
