"""gpuimg.kernels.moments: the voxels' centre and second moments against NumPy's and exact integer sums."""

import numpy as np
import pytest

from gpuimg.kernels.moments import (
    VALUE_MOMENTS,
    mask_box,
    masked_sums,
    roi_summary,
    value_moments,
    voxel_moments,
)


# 130 x 130 x 130: over SERIAL_WORK voxels, its planes on every thread.
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (9, 10, 11), (1, 7, 6), (5, 1, 1), (40, 41, 42), (130, 130, 130)]
)
def test_voxel_moments_are_numpy_s(rng, shape):
    """The count and centre of the voxels equal, to the bit, what NumPy gives from numpy.nonzero (the
    centre as mean(axis=0)); the sums of products of their deviations equal NumPy's .sum() of each
    contiguous row (pairwise, which the kernel follows; the large boxes take its halves past 128 values)
    to a few ulps (NumPy 2.0 splits large sums otherwise than 2.4, whose bits they are), and the scatter
    matrix is the closed-form one of exact integer sums to a few ulps."""
    mask = rng.random(shape) < rng.uniform(0.05, 0.95)
    mask[tuple(n // 2 for n in shape)] = True  # not empty
    spacing = rng.uniform(0.3, 3.0, 3)
    count, centre, products = voxel_moments(np.ascontiguousarray(mask).view(np.uint8), spacing)
    positions = np.stack(np.nonzero(mask), axis=1) * spacing
    assert count == len(positions)
    mean = positions.mean(axis=0)
    np.testing.assert_array_equal(centre, mean)
    rows = np.ascontiguousarray((positions - mean).T)
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    np.testing.assert_allclose(products, [(rows[i] * rows[j]).sum() for i, j in pairs], rtol=1e-13, atol=0)
    indices = np.argwhere(mask).astype(object)  # exact integers: n S_ij - S_i S_j, over n
    sums, n = indices.sum(axis=0), len(indices)
    exact = [float(((indices[:, i] * indices[:, j]).sum() * n - sums[i] * sums[j]) / n) for i, j in pairs]
    scale = [spacing[i] * spacing[j] for i, j in pairs]
    largest = max(abs(e * s) for e, s in zip(exact, scale, strict=True))
    np.testing.assert_allclose(products, np.multiply(exact, scale), rtol=0, atol=1e-13 * max(largest, 1e-300))


def _value_moments_in_numpy(x):
    """The IBSI statistics' sums as NumPy's array expressions give them: the mean kept between the
    extremes, the deviations less their own mean, numpy.percentile's linear percentiles, the values
    from P10 to P90 by ``where``."""
    low, high = x.min(), x.max()
    n = x.size
    mean = np.clip(x.sum() / n, low, high)
    deviation = x - mean
    deviation = deviation - deviation.sum() / n
    p10, p25, median, p75, p90 = np.percentile(x, [10.0, 25.0, 50.0, 75.0, 90.0])
    central = (x >= p10) & (x <= p90)
    count = max(central.sum(), 1)
    central_mean = np.clip(np.where(central, x, 0.0).sum() / count, p10, p90)
    central_deviation = np.where(central, x - central_mean, 0.0)
    central_deviation = central_deviation - central_deviation.sum() / count
    square = deviation * deviation
    return [
        mean,
        square.sum() / n,
        (square * deviation).sum() / n,
        (square * square).sum() / n,
        low,
        high,
        p10,
        p25,
        median,
        p75,
        p90,
        np.abs(deviation).sum() / n,
        np.where(central, np.abs(central_deviation), 0.0).sum(),
        central.sum(),
        np.abs(x - median).sum() / n,
    ]


# 2**21 + 5 values: over SERIAL_WORK, the element-wise passes on every thread.
@pytest.mark.parametrize("n", [1, 2, 7, 129, 800, 3001, 2**21 + 5])
def test_value_moments_are_numpy_s(rng, n):
    """Each of the 15 sums equals, to the bit, NumPy's array expressions of its definition (pairwise
    sums of contiguous arrays, numpy.percentile): values of many scales, whole numbers with ties (HU,
    bin numbers), values near 1e15 (the deviations less their own mean) and a constant ROI. From 2**16
    values, to 1e-13 of each sum's scale: NumPy 2.0 splits large sums otherwise than 2.4, whose bits
    they are."""
    from gpuimg.features.intensity import _percentile_neighbours

    for x in (
        rng.normal(0.0, 10.0 ** rng.uniform(-3, 6), n),
        rng.integers(-5, 5, n) * 1.0,
        1e15 + rng.integers(0, 8, n),
        np.full(n, 0.1),
    ):
        got = value_moments(x, *_percentile_neighbours(n))
        assert len(got) == len(VALUE_MOMENTS)
        expected = _value_moments_in_numpy(x)
        if n < 2**16:
            np.testing.assert_array_equal(got, expected)
            continue
        # Each sum's scale: the values' largest size for their location, the deviations' for the
        # moments about the mean (the sums over the central values and the count are n of them).
        size, spread = np.abs(x).max(), max(np.abs(x - expected[0]).max(), 1e-300)
        powers = [size, spread**2, spread**3, spread**4, *[size] * 7, spread, spread * n, n, spread]
        assert np.all(np.abs(np.subtract(got, expected)) <= 1e-13 * np.array(powers)), (got, expected)


@pytest.mark.parametrize("n", [1, 2, 7, 800, 3001])
def test_value_moments_of_levels_sorted_from_their_counts(rng, n):
    """Bin numbers sorted from their counts (numpy.repeat, as the intensity histogram gives them)
    take the same 15 sums, to the bit, as NumPy's expressions of the levels (which sort them)."""
    from gpuimg.features.intensity import _percentile_neighbours

    levels = rng.integers(1, 40, n) * 1.0
    counts = np.bincount(levels.astype(np.int64) - 1, minlength=45)  # empty bins past the highest too
    ordered = np.repeat(np.arange(1.0, counts.size + 1), counts)
    got = value_moments(levels, *_percentile_neighbours(n), ordered)
    np.testing.assert_array_equal(got, _value_moments_in_numpy(levels))


# 130 x 130 x 130: over SERIAL_WORK voxels, the planes' passes on every thread.
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (2, 3, 1), (9, 10, 11), (1, 7, 6), (40, 41, 42), (130, 130, 130)]
)
def test_masked_sums_are_numpy_s(rng, shape):
    """The sum and mean of the intensities of a mask, their squared deviations' sum and the weighted
    position sums equal, to the bit, NumPy's array expressions of their definitions (as morphology
    wrote them), for a box that is a view of a larger image and for a contiguous one; from 2**16 voxels
    to 1e-13 of each sum's scale (NumPy 2.0 splits large sums otherwise than 2.4)."""
    spacing = rng.uniform(0.3, 3.0, 3)
    image = rng.normal(40.0, 10.0 ** rng.uniform(-3, 6), (shape[0] + 2, shape[1] + 1, shape[2] + 3))
    for values in (image[1:-1, 1:, 2:-1], np.ascontiguousarray(image[1:-1, 1:, 2:-1])):
        inside = rng.random(shape) < rng.uniform(0.05, 0.95)
        inside[tuple(n // 2 for n in shape)] = True  # not empty
        count, extremes = int(inside.sum()), (values[inside].min(), values[inside].max())
        got = masked_sums(values, inside, count, extremes, spacing)
        g = np.where(inside, values, 0.0)
        mean = np.clip(g.sum() / count, *extremes)
        dev = np.where(inside, values - mean, 0.0)
        expected = [g.sum(), mean, (dev * dev).sum()] + [
            (g.sum(axis=tuple(a for a in range(3) if a != axis)) * np.arange(n) * step).sum()
            for axis, (n, step) in enumerate(zip(shape, spacing, strict=True))
        ]
        if g.size < 2**16:
            np.testing.assert_array_equal(got, expected)
            continue
        size = np.abs(values).max() * g.size
        scales = [size, size / count, dev.size * np.abs(dev).max() ** 2] + [
            size * n * s for n, s in zip(shape, spacing, strict=True)
        ]
        assert np.all(np.abs(np.subtract(got, expected)) <= 1e-13 * np.array(scales)), (got, expected)


def _roi_summary_in_numpy(image, morph, inten):
    """prepare's NumPy expressions: counts, the extremes of image[inten], each mask's projections."""
    nonfinite = ~np.isfinite(image)
    values = image[inten]
    head = [np.count_nonzero(morph), np.count_nonzero(morph & nonfinite), np.count_nonzero(nonfinite)]
    head += [values.min(), values.max()] if values.size else [0.0, 0.0]
    masks = [morph] if inten is morph else [morph, inten]
    axes = [(1, 2), (0, 2), (0, 1)]
    return np.concatenate([head] + [m.any(axis=a) for m in masks for a in axes], dtype=np.float64)


@pytest.mark.parametrize("shape", [(1, 1, 1), (9, 10, 11), (1, 7, 6), (5, 1, 1)])
@pytest.mark.parametrize("separate", [False, True])
@pytest.mark.parametrize("defects", ["none", "nan", "inf", "empty"])
def test_roi_summary_is_numpy_s(rng, shape, separate, defects):
    """To the bit, NaN and infinite voxels inside and outside the masks, an empty intensity mask, the
    intensity mask the morphological one itself or another array."""
    image = rng.normal(0.0, 100.0, shape).round()
    morph = rng.random(shape) < 0.6
    morph[0, 0, 0] = True
    if defects == "nan":
        image[rng.random(shape) < 0.2] = np.nan
        image[0, 0, 0] = np.nan
    elif defects == "inf":
        image[rng.random(shape) < 0.2] = -np.inf
        image[-1, -1, -1] = np.inf
    inten = morph & (rng.random(shape) < 0.7) if separate else morph
    if defects == "empty":
        inten = np.zeros(shape, bool)
    got = roi_summary(image, morph, inten)
    np.testing.assert_array_equal(got, _roi_summary_in_numpy(image, morph, inten))


def test_roi_summary_takes_a_view_of_the_image(rng):
    """prepare's box of a float64 image is a view of it (no copy)."""
    image = rng.normal(0.0, 1.0, (8, 9, 10))[1:7, ::2, 2:9]
    morph = np.ascontiguousarray(rng.random(image.shape) < 0.5)
    np.testing.assert_array_equal(
        roi_summary(image, morph, morph), _roi_summary_in_numpy(image, morph, morph)
    )


@pytest.mark.parametrize("shape", [(1, 1, 1), (9, 10, 11), (1, 7, 6), (32, 48, 48)])
@pytest.mark.parametrize("dtype", [bool, np.uint8, np.float32])
@pytest.mark.parametrize("density", [0.0, 0.001, 0.3])
def test_mask_box_is_the_first_and_last_index_of_the_voxels(rng, shape, dtype, density):
    """Against numpy.nonzero: bool, uint8 and float masks (NaN is a voxel, as numpy.any reads it),
    sparse ones, an empty one (None), a view that is not contiguous."""
    mask = (rng.random(shape) < density).astype(dtype)
    if dtype == np.float32 and mask.any():
        mask[mask != 0] = rng.choice([np.nan, 2.5, -1.0], int((mask != 0).sum()))
    for array in (mask, mask[::-1, :, ::2]):
        where = np.nonzero(array)
        want = [(int(w.min()), int(w.max())) for w in where] if where[0].size else None
        assert mask_box(array) == want
