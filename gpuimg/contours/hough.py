"""The Hough transform of 2D edge images for straight lines, and its peaks: :func:`hough_line`,
:func:`hough_line_peaks`, and :func:`hough_lines` for both in one call.

The accumulator equals scikit-image's ``transform.hough_line`` exactly (same angles and distance bins,
same votes); the edge pixels vote in :mod:`gpuimg.kernels.hough` on the image's device (CPU threads over
angles, CUDA threads over votes with atomics). Peak finding (``hough_line_peaks``) is scikit-image's: on
CUDA the accumulator is copied to the host once (cuCIM has no Hough transform), with a one-time warning,
and the peaks are copied back. Circles are in :mod:`gpuimg.contours._hough_circles`, the checks of the
inputs both share in :mod:`gpuimg.contours._hough_inputs`.
"""

from __future__ import annotations

import math

import numpy as np
import skimage.transform
from numpy.typing import ArrayLike

from gpuimg._memory import check_bytes
from gpuimg.backend import namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import hough as kernel

from ._host import to_host
from ._hough_inputs import _check_peak_options, _edge_image, _finite_1d


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
        For an image that is not 2D or not of real numbers (or a masked array with masked pixels),
        or angles that are not a non-empty 1D array of finite numbers.
    MemoryBudgetError
        If the accumulator and its tables (angles x distances) would exceed the memory budget, or a
        Dask image, computed whole, would (checked before it is read).

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
    first call warns). A ``min_distance`` beyond the accumulator's rows suppresses no more than one
    of that many rows and is taken as such, as scikit-image takes a ``min_angle`` beyond its columns:
    the same peaks, in time and memory bounded by the accumulator's size.

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
    # A window of the accumulator's rows or more suppresses every row (scikit-image clamps min_angle
    # to the columns alike): wider ones give the same peaks, but its grid of window offsets grew with
    # the window (10**9 rows: a 626 GiB MemoryError; 10**6: 10 s for a 171-row accumulator).
    min_distance = min(min_distance, hspace.shape[0])
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
        As :func:`hough_line` and :func:`hough_line_peaks`: an image that is not 2D or not of real
        numbers, angles that are not a non-empty 1D array of finite numbers, or a bad peak option.
    MemoryBudgetError
        If the accumulator and its tables (angles x distances) would exceed the memory budget, or a
        Dask image, computed whole, would (checked before it is read).

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
