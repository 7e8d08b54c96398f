"""Hough transforms of 2D edge images: straight lines and circles, and their peaks.

The accumulators equal scikit-image's ``transform.hough_line`` and ``hough_circle`` exactly (same
angles, distance bins and radii, same votes); the edge pixels vote in :mod:`gpuimg.kernels.hough`
on the image's device (CPU threads over angles or radii, CUDA threads over votes with atomics).
Peak finding (``hough_line_peaks``, ``hough_circle_peaks``) is scikit-image's: on CUDA the
accumulator is copied to the host once (cuCIM has no Hough transform), with a one-time warning, and
the peaks are copied back.
"""

from __future__ import annotations

import math

import numpy as np
import skimage.draw
import skimage.transform
from numpy.typing import ArrayLike

from gpuimg._memory import check_allocation, check_bytes
from gpuimg._support import check_finite, check_flag
from gpuimg.backend import is_dask, namespace, to_numpy
from gpuimg.errors import ParameterError
from gpuimg.kernels import hough as kernel

from ._host import to_host


def hough_line(image: ArrayLike, theta: ArrayLike | None = None) -> tuple:
    """Straight-line Hough transform of an edge image.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask), 2D (rows, columns)
        2D only, so not a Volume (a Volume is 3D): pass one of its slices, ``volume.data[k]``.
        Nonzero pixels are edges (e.g. from ``canny``); a Dask array is computed first.
    theta : 1D array of float [radians], optional
        The angles of the lines' normals; default 180 angles evenly spaced over [-pi/2, pi/2).

    Returns
    -------
    hspace : (distances, angles) uint64 array
        Votes: the number of edge pixels on the line ``col * cos(theta) + row * sin(theta) = d``.
    angles : (angles,) float64 array [radians]
    distances : (distances,) float64 array [pixels]
        ``-D`` to ``D`` in steps of 1, ``D = ceil(hypot(rows, cols))``.

    All three on the image's device.

    Raises
    ------
    ParameterError
        For an image that is not 2D, or angles that are not a non-empty 1D array of finite numbers.
    MemoryBudgetError
        If the accumulator and its tables (angles x distances) would exceed the memory budget.

    Notes
    -----
    Equal to ``skimage.transform.hough_line``. Each edge pixel votes once per angle, in the bin of
    its distance rounded half away from zero: ``edges x angles`` votes.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((20, 30), bool)
    >>> image[7, :] = True
    >>> hspace, angles, distances = hough_line(image)
    >>> d, a = np.unravel_index(np.argmax(hspace), hspace.shape)
    >>> int(hspace[d, a]), round(float(np.degrees(angles[a]))), float(distances[d])
    (30, -90, -7.0)
    """
    image = _edge_image(image)
    ns = namespace(image)
    xp = ns.xp
    if theta is None:
        theta = np.linspace(-np.pi / 2, np.pi / 2, 180, endpoint=False)
    theta = _finite_1d(theta, "theta", "angles in radians")
    n_rows, n_cols = image.shape
    offset = math.ceil(math.sqrt(n_rows * n_rows + n_cols * n_cols))
    distances = np.linspace(-offset, offset, 2 * offset + 1)
    # The products' tables (angles x columns, angles x rows) and the accumulator with its transpose.
    tables = theta.size * (n_cols + n_rows + 2 * distances.size)
    check_bytes(8 * tables, f"hough_line of a {n_rows} x {n_cols} image at {theta.size} angles (theta)")
    rows, cols = (xp.ascontiguousarray(i, dtype=xp.int64) for i in xp.nonzero(image))
    # The products cos * col and sin * row, each rounded on its own as in scikit-image's C.
    cos_cols = xp.asarray(np.cos(theta))[:, None] * xp.arange(n_cols, dtype=xp.float64)
    sin_rows = xp.asarray(np.sin(theta))[:, None] * xp.arange(n_rows, dtype=xp.float64)
    accum_t = xp.zeros((theta.size, distances.size), dtype=xp.uint64)
    if rows.size:
        kernel.hough_lines(rows, cols, cos_cols, sin_rows, offset, accum_t, target=ns.target)
    return xp.ascontiguousarray(accum_t.T), xp.asarray(theta), xp.asarray(distances)


def hough_circle(image: ArrayLike, radius: ArrayLike, normalize: bool = True, full_output: bool = False):
    """Circle Hough transform of an edge image, one accumulator plane per radius.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask), 2D (rows, columns)
        2D only, so not a Volume (a Volume is 3D): pass one of its slices, ``volume.data[k]``.
        Nonzero pixels are edges; a Dask array is computed first.
    radius : int or 1D array of int [pixels]
        The radii to look for, 0 or more (cast to integers, as scikit-image does).
    normalize : bool
        Divide each vote by the number of pixels of the radius's circle, so that a full circle
        scores about 1 whatever its radius.
    full_output : bool
        Extend the accumulator by the largest radius on every side, to find centres outside the
        image.

    Returns
    -------
    (radii, rows + 2R, cols + 2R) float64 array
        Votes for a centre at each pixel, ``R`` the largest radius with ``full_output`` (else 0);
        on the image's device.

    Raises
    ------
    ParameterError
        For an image that is not 2D, radii that are not finite numbers >= 0, or a ``normalize`` or
        ``full_output`` that is not True or False.
    MemoryBudgetError
        If the circles' perimeters or the accumulator (radii x rows x columns) would exceed the memory
        budget.

    Notes
    -----
    Equal to ``skimage.transform.hough_circle``: each edge pixel votes at the points of
    ``skimage.draw.circle_perimeter`` around it. ``edges x perimeter pixels`` votes per radius.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import circle_perimeter
    >>> image = np.zeros((40, 40), bool)
    >>> image[circle_perimeter(20, 15, 9)] = True
    >>> hspace = hough_circle(image, [8, 9, 10])
    >>> np.unravel_index(np.argmax(hspace), hspace.shape)
    (np.int64(1), np.int64(20), np.int64(15))
    """
    image = _edge_image(image)
    ns = namespace(image)
    xp = ns.xp
    radii = _radii(radius).astype(np.intp)
    check_flag(normalize, "normalize")
    check_flag(full_output, "full_output")
    offset = int(radii.max()) if full_output else 0
    # Each circle's perimeter, up to 8 (r + 1) pixels, as row and column offsets (int64): scikit-image's
    # lists and our table of them padded to the longest (radii x 8 (largest + 1)), bounded by twice
    # the table; and the accumulator, before either is built.
    what = f"radius={radius!r}"
    longest = 8 * (float(radii.max()) + 1.0)
    check_bytes(2 * 2 * 8 * radii.size * longest, f"{what}: the circles' perimeters")
    check_allocation(
        (radii.size, image.shape[0] + 2 * offset, image.shape[1] + 2 * offset),
        np.float64,
        f"{what}: the accumulator",
    )
    perimeters = [skimage.draw.circle_perimeter(0, 0, int(r)) for r in radii]
    counts = np.array([p[0].size for p in perimeters], dtype=np.int64)
    d_rows = np.zeros((radii.size, counts.max()), dtype=np.int64)
    d_cols = np.zeros_like(d_rows)
    for k, (dr, dc) in enumerate(perimeters):
        d_rows[k, : dr.size] = dr
        d_cols[k, : dc.size] = dc
    weights = 1.0 / counts if normalize else np.ones(radii.size)
    n_rows, n_cols = image.shape
    accum = xp.zeros((radii.size, n_rows + 2 * offset, n_cols + 2 * offset), dtype=xp.float64)
    rows, cols = (xp.asarray(i, dtype=xp.int64) + offset for i in xp.nonzero(image))
    if rows.size:
        kernel.hough_circles(
            rows,
            cols,
            xp.asarray(d_rows),
            xp.asarray(d_cols),
            xp.asarray(counts),
            xp.asarray(weights, dtype=xp.float64),
            accum,
            target=ns.target,
        )
    return accum


def hough_line_peaks(
    hspace: ArrayLike,
    angles: ArrayLike,
    dists: ArrayLike,
    min_distance: int = 9,
    min_angle: int = 10,
    threshold: float | None = None,
    num_peaks: float = np.inf,
) -> tuple:
    """The most prominent lines of a :func:`hough_line` accumulator.

    Parameters
    ----------
    hspace, angles, dists : arrays
        As returned by :func:`hough_line`.
    min_distance : int [distance bins]
        Minimum separation of two peaks along the distance axis.
    min_angle : int [angle bins]
        Minimum separation of two peaks along the angle axis.
    threshold : float [votes], optional
        Minimum votes of a peak; default half the maximum.
    num_peaks : int
        At most this many peaks, the strongest.

    Returns
    -------
    accum, angles [radians], dists [pixels] : 1D arrays
        Votes, angle and distance of each peak, strongest first, on the accumulator's device.

    Raises
    ------
    ParameterError
        If ``hspace`` is not 2D or ``angles`` and ``dists`` are not its axes; for a separation that is
        not a whole number of at least 0, a ``num_peaks`` that is not a whole number of at least 1 (or
        inf), or a ``threshold`` that is not a finite number.

    Notes
    -----
    ``skimage.transform.hough_line_peaks``; on CUDA the accumulator goes to the host and back (the
    first call warns).

    Examples
    --------
    A horizontal line on row 7 (30 pixels) and a vertical one on column 12 (20 pixels):

    >>> import numpy as np
    >>> from gpuimg.contours import hough_line, hough_line_peaks
    >>> image = np.zeros((20, 30), bool)
    >>> image[7, :] = image[:, 12] = True
    >>> votes, angles, dists = hough_line_peaks(*hough_line(image))
    >>> votes.tolist(), [round(float(np.degrees(a))) for a in angles], dists.tolist()
    ([30, 20], [-90, 0], [-7.0, 12.0])
    """
    ns = namespace(hspace)
    hspace, angles, dists = to_host(ns, "hough_line_peaks", hspace, angles, dists)
    if hspace.ndim != 2 or np.shape(angles) != hspace.shape[1:] or np.shape(dists) != hspace.shape[:1]:
        raise ParameterError(
            f"hspace, angles and dists must be hough_line's (distances, angles) accumulator and its 1D "
            f"axes; got shapes {np.shape(hspace)}, {np.shape(angles)} and {np.shape(dists)}."
        )
    _check_peak_options(
        min_distance=min_distance, min_angle=min_angle, threshold=threshold, num_peaks=num_peaks
    )
    peaks = skimage.transform.hough_line_peaks(
        hspace,
        angles,
        dists,
        min_distance=min_distance,
        min_angle=min_angle,
        threshold=threshold,
        num_peaks=num_peaks,
    )
    return tuple(ns.xp.asarray(p) for p in peaks)


def hough_circle_peaks(
    hspaces: ArrayLike,
    radii: ArrayLike,
    min_xdistance: int = 1,
    min_ydistance: int = 1,
    threshold: float | None = None,
    num_peaks: float = np.inf,
    total_num_peaks: float = np.inf,
    normalize: bool = False,
) -> tuple:
    """The most prominent circles of a :func:`hough_circle` accumulator.

    Parameters
    ----------
    hspaces : (radii, rows, cols) array
        As returned by :func:`hough_circle`.
    radii : 1D array [pixels]
        The radius of each plane.
    min_xdistance, min_ydistance : int [pixels]
        Minimum separation of two centres along columns (x) and rows (y).
    threshold : float, optional
        Minimum accumulator value of a peak in each plane; default half the plane's maximum.
    num_peaks : int
        At most this many peaks per radius.
    total_num_peaks : int
        At most this many peaks in all.
    normalize : bool
        Rank the peaks by accumulator value divided by radius.

    Returns
    -------
    accum, cx, cy, radii : 1D arrays
        Value, centre column, centre row [pixels] and radius [pixels] of each circle, strongest
        first, on the accumulator's device. With ``full_output`` accumulators the centres are in
        the extended frame (subtract the largest radius), as in scikit-image.

    Raises
    ------
    ParameterError
        If ``hspaces`` is not 3D or ``radii`` is not one radius per plane; for a separation that is not a
        whole number of at least 0, a peak count that is not a whole number of at least 1 (or inf), a
        ``threshold`` that is not a finite number, or a ``normalize`` that is not True or False.

    Notes
    -----
    ``skimage.transform.hough_circle_peaks``; on CUDA the accumulator goes to the host and back
    (the first call warns).

    Examples
    --------
    Two circles, of radius 6 about (row 12, column 15) and of radius 9 about (row 28, column 25):

    >>> import numpy as np
    >>> import skimage.draw
    >>> from gpuimg.contours import hough_circle, hough_circle_peaks
    >>> image = np.zeros((40, 40), bool)
    >>> image[skimage.draw.circle_perimeter(12, 15, 6)] = True
    >>> image[skimage.draw.circle_perimeter(28, 25, 9)] = True
    >>> radii = np.arange(5, 11)
    >>> accum, cx, cy, r = hough_circle_peaks(hough_circle(image, radii), radii, total_num_peaks=2)
    >>> cx.tolist(), cy.tolist(), r.tolist(), accum.round(2).tolist()  # every pixel of each circle voted
    ([25, 15], [28, 12], [9, 6], [1.0, 1.0])
    """
    ns = namespace(hspaces)
    hspaces, radii = to_host(ns, "hough_circle_peaks", hspaces, radii)
    if hspaces.ndim != 3 or np.shape(radii) != hspaces.shape[:1]:
        raise ParameterError(
            f"hspaces and radii must be hough_circle's (radii, rows, columns) accumulator and its 1D "
            f"radii; got shapes {np.shape(hspaces)} and {np.shape(radii)}."
        )
    _check_peak_options(
        min_xdistance=min_xdistance,
        min_ydistance=min_ydistance,
        threshold=threshold,
        num_peaks=num_peaks,
        total_num_peaks=total_num_peaks,
    )
    normalize = check_flag(normalize, "normalize")
    peaks = skimage.transform.hough_circle_peaks(
        hspaces,
        radii,
        min_xdistance=min_xdistance,
        min_ydistance=min_ydistance,
        threshold=threshold,
        num_peaks=num_peaks,
        total_num_peaks=total_num_peaks,
        normalize=normalize,
    )
    return tuple(ns.xp.asarray(p) for p in peaks)


def hough_lines(
    image: ArrayLike,
    theta: ArrayLike | None = None,
    *,
    min_distance: int = 9,
    min_angle: int = 10,
    threshold: float | None = None,
    num_peaks: float = np.inf,
) -> tuple:
    """The straight lines of an edge image: :func:`hough_line` then :func:`hough_line_peaks`.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask), 2D (rows, columns)
        2D only, so not a Volume (a Volume is 3D): pass one of its slices, ``volume.data[k]``.
        Non-zero pixels are edges (for instance :func:`gpuimg.edges.canny` of a slice).
    theta : 1D array [radians], optional
        The angles tested; default 180 angles over [-pi/2, pi/2), as scikit-image.
    min_distance, min_angle, threshold, num_peaks
        As :func:`hough_line_peaks`.

    Returns
    -------
    votes, angles [radians], dists [pixels] : 1D arrays
        One entry per line, strongest first, on the image's device; the line is the set of points
        with ``x cos(angle) + y sin(angle) = dist`` (x columns, y rows).

    Raises
    ------
    ParameterError
        As :func:`hough_line` and :func:`hough_line_peaks`: an image that is not 2D, angles that are not
        a non-empty 1D array of finite numbers, or a bad peak option.
    MemoryBudgetError
        If the accumulator and its tables (angles x distances) would exceed the memory budget.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((60, 60), dtype=bool)
    >>> image[:, 20] = True  # a vertical line at column 20
    >>> votes, angles, dists = hough_lines(image, num_peaks=1)
    >>> float(angles[0]), float(dists[0])
    (0.0, 20.0)
    """
    hspace, angles, dists = hough_line(image, theta)
    return hough_line_peaks(
        hspace,
        angles,
        dists,
        min_distance=min_distance,
        min_angle=min_angle,
        threshold=threshold,
        num_peaks=num_peaks,
    )


def hough_circles(
    image: ArrayLike,
    radius: ArrayLike,
    *,
    min_xdistance: int = 1,
    min_ydistance: int = 1,
    threshold: float | None = None,
    num_peaks: float = np.inf,
    total_num_peaks: float = np.inf,
    normalize: bool = True,
) -> tuple:
    """The circles of an edge image: :func:`hough_circle` then :func:`hough_circle_peaks`.

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask), 2D (rows, columns)
        2D only, so not a Volume (a Volume is 3D): pass one of its slices, ``volume.data[k]``.
        Non-zero pixels are edges.
    radius : int or 1D array of int [pixels]
        The radius or radii tested. Fractions are cast toward 0, as :func:`hough_circle` casts them
        (12.9 tests 12), and each whole radius is tested once.
    min_xdistance, min_ydistance, threshold, num_peaks, total_num_peaks
        As :func:`hough_circle_peaks`.
    normalize : bool
        Votes divided by the number of pixels on each circle (:func:`hough_circle`), so circles of
        different radii compare fairly.

    Returns
    -------
    votes, cx, cy, radii : 1D arrays
        Centre column, centre row and radius [pixels] of each circle, strongest first, on the
        image's device; the radius is the whole radius tested, in the dtype of ``radius``.

    Raises
    ------
    ParameterError
        As :func:`hough_circle` and :func:`hough_circle_peaks`: an image that is not 2D, radii that are
        not finite numbers >= 0, a ``normalize`` that is not True or False, or a bad peak option.
    MemoryBudgetError
        If the circles' perimeters or the accumulator (radii x rows x columns) would exceed the memory
        budget.

    Examples
    --------
    >>> import numpy as np
    >>> import skimage.draw
    >>> image = np.zeros((80, 80), dtype=bool)
    >>> image[skimage.draw.circle_perimeter(30, 45, 12)] = True
    >>> votes, cx, cy, radii = hough_circles(image, [10, 11, 12, 13, 14], total_num_peaks=1)
    >>> int(cx[0]), int(cy[0]), int(radii[0])
    (45, 30, 12)
    """
    given = np.atleast_1d(to_numpy(radius))  # one radius too, as hough_circle takes it
    # The radii hough_circle tests, whole pixels, each once: the circles were reported at the radii
    # given, 12.9 for the circle of radius 12 that was tested, and radii 12 and 12.5 found it twice.
    whole = np.trunc(_radii(radius))
    whole = whole[np.sort(np.unique(whole, return_index=True)[1])]
    radii = whole.astype(given.dtype) if given.dtype.kind in "iuf" else whole
    hspaces = hough_circle(image, radii, normalize=normalize)
    return hough_circle_peaks(
        hspaces,
        radii,
        min_xdistance=min_xdistance,
        min_ydistance=min_ydistance,
        threshold=threshold,
        num_peaks=num_peaks,
        total_num_peaks=total_num_peaks,
    )


def _edge_image(image):
    """The edge image as a NumPy or CuPy array (a Dask array computed), checked to be 2D."""
    if is_dask(image):
        image = image.compute()
    xp = namespace(image).xp
    image = xp.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"the edge image must be 2D (rows, columns); got shape {image.shape}.")
    return image


def _radii(radius) -> np.ndarray:
    """The radii as a 1D float64 array, checked to be finite and 0 or more [pixels]; scikit-image's
    ``hough_circle`` casts them to integers (toward 0)."""
    radii = _finite_1d(radius, "radius", "radii in pixels")
    if (radii < 0).any():
        raise ParameterError(f"radius={radius!r} must be 0 or more pixels.")
    return radii


def _finite_1d(values, name, what):
    """``values`` (scalar, list or array on any device) as a non-empty 1D float64 NumPy array."""
    try:
        array = np.atleast_1d(np.asarray(to_numpy(values), dtype=np.float64))
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise ParameterError(f"{name}={values!r} must be a non-empty 1D array of finite {what}.")
    return array


def _check_peak_options(*, threshold, **options) -> None:
    """Peak separations are whole numbers of at least 0, peak counts whole numbers of at least 1 or
    ``inf`` (no limit), and a threshold is None or a finite number."""
    for name, value in options.items():
        count = name.endswith("num_peaks")
        whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
        unlimited = count and isinstance(value, float) and value == math.inf
        if not (unlimited or (whole and value >= int(count))):
            what = "a whole number of at least 1, or inf" if count else "a whole number of at least 0"
            raise ParameterError(f"{name}={value!r} must be {what}.")
    if threshold is not None:
        check_finite(threshold, "threshold")
