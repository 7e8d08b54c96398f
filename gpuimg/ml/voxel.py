"""Learning on voxels from scribbles: multi-scale features of each voxel (:func:`voxel_features`) and
the random forest trained on them (:class:`VoxelClassifier`).

The clustering of voxel intensities (:func:`~gpuimg.ml.segment_kmeans`, :func:`~gpuimg.ml.segment_som`)
is in ``_histogram_clustering``, DBSCAN on voxel positions (:func:`~gpuimg.ml.dbscan_candidates`) in
``_dbscan``.
"""

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from gpuimg._memory import check_allocation
from gpuimg._support import check_gaussian, check_sampled_gaussian, check_spacing
from gpuimg._text import count
from gpuimg._units import voxels
from gpuimg.backend import namespace
from gpuimg.edges import gradient_magnitude, log
from gpuimg.errors import ParameterError
from gpuimg.volume import Volume, accepts_volume, check_same_grid

from ._validation import CheckedParams, check_fitted
from .estimators import make_estimator

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
    Gaussian, and the Hessian eigenvalues (one per axis, largest first). With a spacing (a Volume
    brings its own) the derivatives are in intensity per mm (the gradient) and per mm² (the
    Laplacian and the Hessian), as :mod:`gpuimg.edges` gives them: each derivative along axis ``a``
    divided by ``spacing[a]`` once per order; without one, per voxel and per voxel².

    Parameters
    ----------
    image : array, 2D or 3D, or Volume
    sigmas : sequence of float [voxels], optional
        Scales (each one number or one per axis); default (1, 2, 4) voxels. Give this or
        ``sigmas_mm``.
    sigmas_mm : sequence of float [mm], optional
        Scales in mm, divided by the spacing per axis; needs ``spacing`` or a Volume.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``sigmas_mm`` and the derivatives' unit (per mm and mm² where given); a
        Volume brings its own.

    Returns
    -------
    array (voxels, 1 + len(sigmas) * (3 + ndim)), float32
        A table with one row per voxel, not an image: a plain array for a Volume too.

    Raises
    ------
    ParameterError
        For an image that is not 2D or 3D, has no voxel, holds NaN or infinite values or values
        beyond float32's range (magnitudes above 3.4e38); both
        ``sigmas`` and ``sigmas_mm``, or no scale (``sigmas=()``); ``sigmas_mm`` without a spacing; a
        scale that is not positive, not one per axis, so large that its kernel exceeds 2**20 taps, or
        so narrow along an axis (below about 0.73 voxel: ``sigmas_mm`` below 0.73 times the spacing)
        that SciPy's sampled second derivative of a Gaussian, the Laplacian of Gaussian's, is no
        derivative (as :func:`gpuimg.edges.log` refuses it; see its Notes); a spacing that is not
        positive, or differs from the Volume's own.
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
    given = xp.asarray(image)
    if given.ndim not in (2, 3) or given.size == 0:
        raise ParameterError(f"voxel features need a 2D or 3D image with voxels; got shape {given.shape}.")
    if not bool(xp.isfinite(given).all()):
        raise ParameterError(
            "voxel features need finite voxels, and the image holds NaN or inf; replace them first "
            "(e.g. numpy.nan_to_num, or the image's lowest value)."
        )
    with np.errstate(over="ignore"):  # a voxel beyond float32's range is refused below
        data = given.astype(np.float32)
    # Checked after the cast, not before only: a float64 voxel of 1e39 was called NaN or inf.
    if not bool(xp.isfinite(data).all()):
        largest = float(xp.abs(given).max())
        raise ParameterError(
            f"voxel features are float32, and the image holds values beyond float32's range (up to "
            f"{largest:.3g} in magnitude; float32 holds at most 3.4e38); rescale the image first (e.g. "
            "divide it by a power of ten), or clip it."
        )
    if sigmas is not None and sigmas_mm is not None:
        raise ParameterError(
            f"give sigmas (voxels) or sigmas_mm (mm), not both; got {sigmas!r}, {sigmas_mm!r}."
        )
    in_mm = sigmas_mm is not None
    scales = sigmas_mm if in_mm else (1.0, 2.0, 4.0) if sigmas is None else sigmas
    # A list or tuple as it is: np.ndim raised a bare ValueError on scales of one number and one per axis.
    scales = list(scales) if isinstance(scales, Sequence) or np.ndim(scales) > 0 else [scales]
    if not scales:
        raise ParameterError(f"sigmas={sigmas!r}, sigmas_mm={sigmas_mm!r}: give at least one scale.")
    steps = None if spacing is None else check_spacing(spacing, data.ndim)
    per_axis = [
        voxels("sigmas", None, s, steps, data.ndim) if in_mm else voxels("sigmas", s, None, None, data.ndim)
        for s in scales
    ]
    for scale, sigma_voxels in zip(scales, per_axis, strict=True):
        check_gaussian(sigma_voxels, "sigmas")
        mm = scale if in_mm else None
        check_sampled_gaussian(sigma_voxels, 2, mm, steps, tuple(data.shape), "sigmas")
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
        put(gradient_magnitude(smooth, spacing=steps))
        del smooth
        put(log(data, sigma_voxels, spacing=steps))
        for values in _hessian_eigenvalues(ns, data, sigma_voxels, steps):
            put(values)
    return features


def _hessian_eigenvalues(ns, data, sigma_voxels, steps):
    """The eigenvalues of the Hessian of the Gaussian-smoothed image (scikit-image's
    ``hessian_matrix`` without Gaussian derivatives: finite differences), one image per axis,
    largest first; with ``steps`` (the spacing [mm] per axis) each component ``H_ab`` divided by
    ``steps[a] * steps[b]`` first (per mm², else per voxel²).

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
        if steps is not None:  # the components in scikit-image's order: (0, 0), (0, 1), ..., (1, 1), ...
            pairs = itertools.combinations_with_replacement(live, 2)
            for component, (a, b) in zip(hessian, pairs, strict=True):
                component /= steps[a] * steps[b]
        values = list(ns.ski.feature.hessian_matrix_eigvals(hessian))
    elif live:  # one axis: the second difference of the smoothed profile
        values = [xp.gradient(xp.gradient(ns.ndi.gaussian_filter(image, sigma, mode="reflect")))]
        if steps is not None:
            values[0] /= steps[live[0]] ** 2
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
            Scribbles of another shape (of the same number of voxels too), fewer than two labelled
            classes, or labels that are not whole numbers.
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
        # The scribbles checked before the features are computed, in their own words: one class, or
        # fractional labels, were the forest's 'y holds one class only' or 'y holds continuous values'.
        xp = namespace(image.data if isinstance(image, Volume) else image).xp
        labels = xp.asarray(marks).ravel()
        marked = labels > 0
        classes = xp.unique(labels[marked])
        if classes.size < 2:
            marked_what = "no voxel" if classes.size == 0 else f"one class only ({classes.tolist()})"
            raise ParameterError(
                f"scribbles mark {marked_what}: label voxels of at least two classes with positive "
                "integers (0 and below are unlabelled)."
            )
        if classes.dtype.kind == "f" and not bool((classes == xp.floor(classes)).all()):
            fractional = classes[classes != xp.floor(classes)].tolist()
            raise ParameterError(
                f"scribbles hold labels that are not whole numbers ({fractional[:5]}); label the classes "
                "with positive integers (1, 2, ...)."
            )
        features, xp = self._features(image, spacing)
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
