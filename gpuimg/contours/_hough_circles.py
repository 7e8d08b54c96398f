"""The Hough transform of 2D edge images for circles, and its peaks: :func:`hough_circle`,
:func:`hough_circle_peaks`, and :func:`hough_circles` for both in one call.

The accumulator equals scikit-image's ``transform.hough_circle`` exactly (same radii, same votes); the
edge pixels vote in :mod:`gpuimg.kernels.hough` on the image's device (CPU threads over radii, CUDA
threads over votes with atomics). Peak finding (``hough_circle_peaks``) is scikit-image's: on CUDA the
accumulator is copied to the host once (cuCIM has no Hough transform), with a one-time warning, and the
peaks are copied back.
"""

from __future__ import annotations

import numpy as np
import skimage.draw
import skimage.transform
from numpy.typing import ArrayLike

from gpuimg._memory import check_allocation, check_bytes
from gpuimg._support import check_flag
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import ParameterError
from gpuimg.kernels import hough as kernel

from ._host import to_host
from ._hough_inputs import _check_peak_options, _edge_image, _radii


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
        For an image that is not 2D or not of real numbers (or a masked array with masked pixels),
        radii that are not finite numbers >= 0, or a ``normalize`` or ``full_output`` that is not
        True or False.
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
    radii = _radii(radius)
    check_flag(normalize, "normalize")
    check_flag(full_output, "full_output")
    largest = int(radii.max())  # a Python int: whole pixels, toward 0, as the cast below
    offset = largest if full_output else 0
    # Each circle's perimeter, up to 8 (r + 1) pixels, as row and column offsets (int64): scikit-image's
    # lists and our table of them padded to the longest (radii x 8 (largest + 1)), bounded by twice
    # the table; and the accumulator, before either is built. From the float radii: cast first, one of
    # 2**63 pixels or more wrapped to a negative integer and passed both checks.
    what = f"radius={radius!r}"
    longest = 8 * (float(largest) + 1.0)
    check_bytes(2 * 2 * 8 * radii.size * longest, f"{what}: the circles' perimeters")
    check_allocation(
        (radii.size, image.shape[0] + 2 * offset, image.shape[1] + 2 * offset),
        np.float64,
        f"{what}: the accumulator",
    )
    radii = radii.astype(np.intp)
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
    (the first call warns). A ``min_ydistance`` (``min_xdistance``) beyond the accumulator's rows
    (columns) suppresses no more than one of that many and is taken as such: the same peaks, in time
    and memory bounded by the accumulator's size (scikit-image runs out of memory, or indexes past
    the columns from twice their number).

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
    # A window of the accumulator's rows (columns) or more suppresses every row (column), so wider
    # ones give the same peaks; but scikit-image's grid of window offsets grew with the window
    # (10**9: a bare MemoryError) and its wrap of columns indexes past them from twice the columns
    # (a bare IndexError for 80 on a 40-column accumulator), as min_distance for lines.
    min_ydistance = min(min_ydistance, hspaces.shape[1])
    min_xdistance = min(min_xdistance, hspaces.shape[2])
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
        As :func:`hough_circle` and :func:`hough_circle_peaks`: an image that is not 2D or not of real
        numbers, radii that are not finite numbers >= 0, a ``normalize`` that is not True or False,
        or a bad peak option.
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
