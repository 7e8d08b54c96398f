"""Intensity-based statistical features (IBSI 3.3) and intensity histogram features (IBSI 3.4).

Both families describe a distribution of voxel values, the intensities themselves or their bin
numbers, with the same 16 statistics (:func:`_moments`, :func:`_statistics`); the histogram family
adds its mode, entropy, uniformity and histogram gradients. Reductions and sorts run on the values'
device; the few scalars come to the host in one transfer (with the other families' in
:func:`~gpuimg.features.extract`), where the ratios are formed.
"""

import functools
import math

import numpy as np

from gpuimg.backend import bincount_fixed, namespace
from gpuimg.kernels.moments import VALUE_MOMENTS, value_moments

from ._discretisation import bins_bound, discretise
from ._scalars import Deferred, undefined
from .chain import Roi, check_roi

#: Percentiles taken of each distribution [%].
_PERCENTILES = (10.0, 25.0, 50.0, 75.0, 90.0)


def intensity_statistics(roi: Roi) -> dict[str, float]:
    """The 18 intensity-based statistical features (``stat_*``) of the ROI's intensity mask.

    Parameters
    ----------
    roi : Roi
        From :func:`gpuimg.features.prepare`.

    Returns
    -------
    dict of str to float
        ``stat_mean``, ``stat_var``, ``stat_skew``, ``stat_kurt``, ``stat_median``, ``stat_min``,
        ``stat_p10``, ``stat_p90``, ``stat_max``, ``stat_iqr``, ``stat_range``, ``stat_mad``,
        ``stat_rmad``, ``stat_medad``, ``stat_cov``, ``stat_qcod``, ``stat_energy``, ``stat_rms``
        [image units, their squares for the variance and energy].

    Raises
    ------
    ParameterError
        If ``roi`` is not a :class:`Roi` (an array: make one with :func:`prepare`).

    Notes
    -----
    Variance, skewness and kurtosis are the population moments (1/N), kurtosis the excess
    kurtosis; skewness and kurtosis are 0 for a constant ROI, as IBSI defines them. Percentiles
    interpolate linearly between order statistics (NumPy's default). The coefficient of variation
    and the quartile coefficient of dispersion are NaN, with a warning, where their denominator
    is 0, and so is the robust mean absolute deviation where no value lies between P10 and P90
    (an ROI of two distinct values).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import intensity_statistics, prepare
    >>> image = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2).repeat(2, axis=0)  # each value twice
    >>> f = intensity_statistics(prepare(image, image > 0, spacing=1.0))
    >>> f["stat_mean"], f["stat_var"], f["stat_median"], f["stat_range"], f["stat_energy"]
    (2.5, 1.25, 2.5, 3.0, 60.0)
    """
    return intensity_statistics_deferred(check_roi(roi, "intensity_statistics")).result()


def intensity_statistics_deferred(roi: Roi) -> Deferred:
    """:func:`intensity_statistics` with its results still on the device (see :class:`Deferred`)."""
    x = roi.values
    n = x.size

    def finish(s):
        features = _statistics(s, "stat")
        features["stat_energy"] = s["energy"]
        # math.sqrt: numpy.sqrt's root of a float (both correctly rounded), without its 1 us.
        features["stat_rms"] = math.sqrt(s["energy"] / n)
        return features

    return Deferred({**_moments(x), "energy": (x * x).sum()}, finish)


def intensity_histogram(roi: Roi) -> dict[str, float]:
    """The 23 intensity histogram features (``ih_*``) of the discretised intensity mask.

    Parameters
    ----------
    roi : Roi
        Its settings give the discretisation (fixed bin number or size).

    Returns
    -------
    dict of str to float
        The 17 statistics of :func:`intensity_statistics` less energy and RMS, over the bin
        numbers (``ih_mean`` ... ``ih_qcod``), and ``ih_mode``, ``ih_entropy`` [bits],
        ``ih_uniformity``, ``ih_max_grad``, ``ih_max_grad_g``, ``ih_min_grad``, ``ih_min_grad_g``.

    Raises
    ------
    ParameterError
        If ``roi`` is not a :class:`Roi` (an array: make one with :func:`prepare`).
    FeatureError
        If a fixed bin size makes more than 65536 bins over the ROI's intensities (``bin_width``).

    Notes
    -----
    The histogram runs over every bin from 1 to the highest bin present, empty bins included;
    its gradient is the central difference inside and the one-sided difference at both ends
    (IBSI 3.4.20). The mode is the fullest bin, ties going to the bin nearest the mean, then to
    the lower one.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, intensity_histogram, prepare
    >>> image = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2).repeat(2, axis=0)  # 4 levels, 2 each
    >>> settings = Settings(discretisation="fbs", bin_width=1.0)  # bins 1 to 4
    >>> f = intensity_histogram(prepare(image, image > 0, spacing=1.0, settings=settings))
    >>> f["ih_mean"], f["ih_entropy"], f["ih_uniformity"]  # 4 equal bins: 2 bits, 4 x (1/4)**2
    (2.5, 2.0, 0.25)
    """
    return intensity_histogram_deferred(check_roi(roi, "intensity_histogram")).result()


def intensity_histogram_deferred(roi: Roi) -> Deferred:
    """:func:`intensity_histogram` with its results still on the device (see :class:`Deferred`)."""
    levels = discretise(roi.values, roi.settings, value_range=roi.value_range)
    # Counted into as many bins as the host knows the discretisation can give, without the reads
    # cupy.bincount makes to size its output; the host trims the empty bins past the highest present.
    counts = bincount_fixed(levels - 1, length=bins_bound(roi.settings, roi.value_range))
    # On the host the levels' sorted order is their counts spelled out: each level as often as it is
    # counted, without a sort (15 us of 800 values).
    ordered = np.repeat(np.arange(1.0, counts.size + 1), counts) if isinstance(counts, np.ndarray) else None
    return Deferred({**_moments(levels, ordered), "counts": counts, "n_voxels": levels.size}, _histogram)


def _histogram(s) -> dict[str, float]:
    """The histogram's features from the host values of :func:`intensity_histogram_deferred`."""
    features = _statistics(s, "ih")
    counts = s["counts"][: np.flatnonzero(s["counts"])[-1] + 1]  # bins 1 to the highest present
    p = counts / s["n_voxels"]
    nonzero = p[p > 0]
    # + 0.0: one bin's -(1 log2 1) is -0.0, which a feature table showed as "-0.0"
    features["ih_entropy"] = float(-(nonzero * np.log2(nonzero)).sum()) + 0.0
    features["ih_uniformity"] = float((p * p).sum())
    features["ih_mode"] = _mode(counts, features["ih_mean"])
    # The extremes of a few dozen bins in Python's floats, first of equals as argmax / argmin (4 -> 1 us).
    gradient = (_gradient(counts) if counts.size > 1 else np.zeros(1)).tolist()
    largest, least = max(gradient), min(gradient)
    features["ih_max_grad"] = largest
    features["ih_max_grad_g"] = float(gradient.index(largest) + 1)
    features["ih_min_grad"] = least
    features["ih_min_grad_g"] = float(gradient.index(least) + 1)
    return features


def _gradient(counts):
    """``numpy.gradient`` of the float64 ``counts`` (2 or more) by its formulas: ``(c[i + 1] - c[i - 1])
    / 2`` inside, ``c[1] - c[0]`` and ``c[-1] - c[-2]`` at the ends (6 -> 1.5 us for 30 bins)."""
    gradient = np.empty(counts.size)
    gradient[1:-1] = (counts[2:] - counts[:-2]) / 2.0
    gradient[0] = counts[1] - counts[0]
    gradient[-1] = counts[-1] - counts[-2]
    return gradient


def _moments(x, ordered=None) -> dict:
    """The device reductions of the 16 statistics that the two families share (:func:`_statistics`);
    ``ordered``, the values sorted as float64 where the caller has them without a sort (NumPy only)."""
    xp = namespace(x).xp
    x = x.astype(np.float64, copy=False)
    n = x.size
    if xp is np:  # the same numbers, to the bit, from one kernel call: about 0.03 ms of each family
        below, weights = _percentile_neighbours(n)
        return dict(
            zip(VALUE_MOMENTS, value_moments(np.ascontiguousarray(x), below, weights, ordered), strict=True)
        )
    low, high = x.min(), x.max()
    # The rounded mean of equal values can miss them by an ulp (0.1 seven times sums to 0.7000000000000001),
    # which gave a constant ROI a variance of 1e-34 and a skewness of -1: the mean, like the exact one,
    # is kept between the extremes, which makes it exact for a constant ROI. (Means as sums / n and
    # clips as minimum(maximum()): the same numbers as mean() and clip(), for a fifth of their overhead.)
    mean = xp.minimum(xp.maximum(x.sum() / n, low), high)
    # The deviations from the mean rounded to the values' ulps (exact where they lie within a factor 2
    # of it), less their own mean, the rounded mean's error: the deviations from the exact mean. Without
    # it, intensities 1e15 + (0, 1, 2, 3, 4, 7) had a variance of 5.1406 for 5.1389 and a skewness of
    # 0.580 for 0.636 (their mean, 1e15 + 2.8333, rounds to 1e15 + 2.875); 0 for a constant ROI.
    deviation = x - mean
    deviation = deviation - deviation.sum() / n
    # Powers as products: ** 3 and ** 4 call pow() per value (100 us of 800 values, half the family's
    # time); the products differ from them by an ulp or two per term.
    square = deviation * deviation
    p10, p25, median, p75, p90 = _percentiles(xp, x)
    # The values from P10 to P90 by where, not picked out (CuPy would read the device for their number).
    central = (x >= p10) & (x <= p90)
    n_central = central.sum()  # 0 for two distinct values: P10 and P90 lie strictly between them
    count = xp.maximum(n_central, 1)
    central_mean = xp.minimum(xp.maximum(xp.where(central, x, 0.0).sum() / count, p10), p90)
    central_deviation = xp.where(central, x - central_mean, 0.0)  # less its mean, as the deviations'
    central_deviation = central_deviation - central_deviation.sum() / count
    return {
        "mean": mean,
        "m2": square.sum() / n,
        "m3": (square * deviation).sum() / n,
        "m4": (square * square).sum() / n,
        "median": median,
        "min": low,
        "max": high,
        "p10": p10,
        "p25": p25,
        "p75": p75,
        "p90": p90,
        "mad": xp.abs(deviation).sum() / n,
        "rmad_sum": xp.where(central, xp.abs(central_deviation), 0.0).sum(),
        "n_central": n_central,
        "medad": xp.abs(x - median).sum() / n,
    }


def _percentiles(xp, x):
    """The percentiles :data:`_PERCENTILES` of the float64 values ``x``, as ``numpy.percentile`` gives
    them (linear interpolation between order statistics, by its formulas), from one sort: ``percentile``
    took 30 us for 800 values (its checks, a partition at 10 indices), this 10 us."""
    below, weights = _percentile_neighbours(x.size)
    order = [below, np.minimum(below + 1, x.size - 1)]  # the neighbours
    low, high = xp.sort(x)[xp.asarray(order, dtype=np.intp)]
    step = high - low
    weight = xp.asarray(weights)
    return xp.where(weight >= 0.5, high - step * (1 - weight), low + step * weight)


@functools.lru_cache(maxsize=256)
def _percentile_neighbours(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The index of the lower neighbour of each percentile of :data:`_PERCENTILES` among ``n`` sorted
    values and the percentile's position past it, in Python's floats: the same operations as NumPy's
    on arrays of 5. Read-only; kept for the last sizes (a cohort's ROIs come back to them)."""
    positions = [(n - 1) * (q / 100) for q in _PERCENTILES]
    below = np.array([math.floor(p) for p in positions], dtype=np.int64)
    weights = np.array([p - b for p, b in zip(positions, below.tolist(), strict=True)], dtype=np.float64)
    below.setflags(write=False)
    weights.setflags(write=False)
    return below, weights


def _power(value: float, exponent: float) -> float:
    """``value ** exponent``, infinite where it overflows: a Python float's power raises OverflowError
    there (a variance of 1e300, of intensities near 1e150), where NumPy's float64 gives inf."""
    try:
        return value**exponent
    except OverflowError:
        return math.inf


def _statistics(s, prefix: str) -> dict[str, float]:
    """The 16 shared statistics, keyed ``{prefix}_{name}``, from the host values of :func:`_moments`."""
    var = s["m2"]
    out = {
        "mean": s["mean"],
        "var": var,
        "skew": s["m3"] / _power(var, 1.5) if var > 0 else 0.0,
        "kurt": s["m4"] / _power(var, 2) - 3.0 if var > 0 else 0.0,
        "median": s["median"],
        "min": s["min"],
        "p10": s["p10"],
        "p90": s["p90"],
        "max": s["max"],
        "iqr": s["p75"] - s["p25"],
        "range": s["max"] - s["min"],
        "mad": s["mad"],
        "rmad": _ratio(s["rmad_sum"], s["n_central"], f"{prefix}_rmad", "no value lies between P10 and P90"),
        "medad": s["medad"],
        "cov": _ratio(math.sqrt(var), s["mean"], f"{prefix}_cov", "the mean is 0"),
        "qcod": _ratio(s["p75"] - s["p25"], s["p75"] + s["p25"], f"{prefix}_qcod", "P75 + P25 is 0"),
    }
    return {f"{prefix}_{name}": float(value) for name, value in out.items()}


def _ratio(numerator, denominator, name, why):
    if denominator == 0:
        return undefined(name, why)
    return numerator / denominator


def _mode(counts, mean) -> float:
    """The fullest bin (1-based); among equally full bins the one nearest ``mean``, then the lower."""
    # In Python's numbers (a few dozen bins): 7 -> 2 us. The same distances, |bin - mean| in float64.
    counts = counts.tolist()
    fullest = max(counts)
    return float(min((abs(k - mean), k) for k, c in enumerate(counts, start=1) if c == fullest)[1])
