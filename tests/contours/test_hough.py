"""gpuimg.contours.hough against scikit-image's Hough transforms and peaks, and closed forms."""

import warnings

import numpy as np
import pytest
import skimage.draw
import skimage.feature
import skimage.transform
from guarded import run_guarded

import gpuimg
from gpuimg.contours import (
    _host,
    hough_circle,
    hough_circle_peaks,
    hough_circles,
    hough_line,
    hough_line_peaks,
    hough_lines,
)


def random_edges(rng, shape, fraction=0.05):
    return rng.random(shape) < fraction


def ct_edges():
    """Canny edges of pydicom's CT_small slice (128 x 128, HU)."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    edges = skimage.feature.canny(hu, sigma=2.0, low_threshold=50, high_threshold=150)
    assert edges.sum() > 300
    return edges


def assert_all_equal(got, want):
    """Exactly equal: the same votes in the same bins (integer counts, or identical float sums)."""
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for ours, theirs in zip(got, want, strict=True):
            assert_all_equal(ours, theirs)
        return
    got = gpuimg.to_numpy(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(40, 40), (37, 61), (1, 9)])
def test_hough_line_equals_scikit_image(rng, shape):
    edges = random_edges(rng, shape, 0.2)
    assert_all_equal(hough_line(edges), skimage.transform.hough_line(edges))


def test_hough_line_rounds_half_bins_as_scikit_image(rng):
    """Angles whose cosine or sine is 1/2 or 0 put many pixels exactly on half bins."""
    edges = np.ones((12, 17), bool)
    theta = np.array([-np.pi / 2, -np.pi / 3, 0.0, np.pi / 6, np.pi / 3, *rng.uniform(-np.pi, np.pi, 5)])
    assert_all_equal(hough_line(edges, theta), skimage.transform.hough_line(edges, theta))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("full_output", [False, True])
def test_hough_circle_equals_scikit_image(rng, normalize, full_output):
    edges = random_edges(rng, (45, 38))
    radii = np.array([0, 2, 5, 11, 20])
    got = hough_circle(edges, radii, normalize, full_output)
    assert_all_equal(got, skimage.transform.hough_circle(edges, radii, normalize, full_output))


def test_hough_on_real_ct_edges_equals_scikit_image():
    edges = ct_edges()
    lines = skimage.transform.hough_line(edges)
    assert_all_equal(hough_line(edges), lines)
    assert_all_equal(hough_line_peaks(*lines), skimage.transform.hough_line_peaks(*lines))
    radii = np.arange(10, 30, 4)
    circles = skimage.transform.hough_circle(edges, radii)
    assert_all_equal(hough_circle(edges, radii), circles)
    want = skimage.transform.hough_circle_peaks(circles, radii, total_num_peaks=10)
    assert_all_equal(hough_circle_peaks(circles, radii, total_num_peaks=10), want)


def test_peaks_equal_scikit_image_with_options(rng):
    edges = random_edges(rng, (50, 60), 0.02)
    lines = hough_line(edges)
    for kwargs in ({}, {"min_distance": 3, "min_angle": 4, "threshold": 3, "num_peaks": 7}):
        want = skimage.transform.hough_line_peaks(*skimage.transform.hough_line(edges), **kwargs)
        assert_all_equal(hough_line_peaks(*lines, **kwargs), want)
    radii = [4, 6, 9]
    circles = hough_circle(edges, radii, full_output=True)
    kwargs = {"min_xdistance": 5, "min_ydistance": 5, "num_peaks": 3, "normalize": True}
    want = skimage.transform.hough_circle_peaks(
        skimage.transform.hough_circle(edges, radii, full_output=True), radii, **kwargs
    )
    assert_all_equal(hough_circle_peaks(circles, radii, **kwargs), want)


def test_line_peaks_windows_past_the_accumulator_are_scikit_images_at_its_size():
    """A min_distance of 10**9 bins on the accumulator of a 60 x 60 image (171 rows) was passed on to
    scikit-image, whose grid of window offsets grew with it: a 626 GiB MemoryError (10**6: 10 s).
    Any window of the accumulator's rows or more suppresses every row, so the peaks are those
    scikit-image finds with a window of twice its rows; in a child with a memory limit and a timeout."""
    setup = """
import numpy as np, skimage.transform
from gpuimg.contours import hough_line, hough_line_peaks
image = np.zeros((60, 60), bool)
image[:, 20] = image[10, :] = True
image[np.arange(60), np.arange(60)] = True
lines = hough_line(image)
rows = lines[0].shape[0]

def check(min_distance, min_angle, **options):
    got = hough_line_peaks(*lines, min_distance=min_distance, min_angle=min_angle, **options)
    reference = {"min_distance": min(min_distance, 2 * rows), "min_angle": min(min_angle, 2 * 180)}
    want = skimage.transform.hough_line_peaks(*lines, **reference, **options)
    assert len(got[0]) > 0 and all(np.array_equal(g, w) for g, w in zip(got, want)), (got, want)
"""
    cases = {
        "distance": "check(10**9, 10)",
        "both": "check(10**9, 10**9)",
        "options": "check(10**12, 3, threshold=20, num_peaks=2)",
        "angle": "check(9, 10**9)",
    }
    results = run_guarded(cases, setup, memory=3 * 1024**3, timeout=120)
    assert results == dict.fromkeys(cases), results


@pytest.mark.parametrize("min_angle", [0, 4, 10**6])
def test_line_peaks_at_windows_about_the_accumulator_rows_equal_scikit_image(rng, min_angle):
    """Where the window is clamped to the accumulator's rows, each window near that size gives
    scikit-image's peaks: the clamp changes nothing but the work."""
    edges = random_edges(rng, (12, 10), 0.15)
    lines = hough_line(edges)
    rows = lines[0].shape[0]
    for min_distance in range(rows - 3, rows + 4):
        options = {"min_distance": min_distance, "min_angle": min_angle, "threshold": 1}
        want = skimage.transform.hough_line_peaks(*lines, **options)
        assert_all_equal(hough_line_peaks(*lines, **options), want)


def test_circle_peaks_windows_past_the_accumulator_are_scikit_images_at_its_size():
    """min_xdistance / min_ydistance of 10**9 on the accumulator of a 40 x 52 image went to
    scikit-image, whose grid of window offsets grew with them: a bare MemoryError; its wrap of
    columns indexed past them from about twice the columns (104: a bare IndexError). A window of the
    rows (columns) or more suppresses every row (column): the peaks are scikit-image's at the
    accumulator's size, and with both that wide (closed form) one circle is left, the accumulator's
    maximum; in a child with a memory limit and a timeout."""
    setup = """
import numpy as np, skimage.draw, skimage.transform
from gpuimg.contours import hough_circle, hough_circle_peaks, hough_circles
image = np.zeros((40, 52), bool)
image[skimage.draw.circle_perimeter(12, 15, 6)] = True
image[skimage.draw.circle_perimeter(28, 33, 9)] = True
radii = np.arange(5, 11)
circles = hough_circle(image, radii, normalize=False)
rows, cols = circles.shape[1:]

def check(x, y, **options):
    got = hough_circle_peaks(circles, radii, min_xdistance=x, min_ydistance=y, **options)
    capped = {"min_xdistance": min(x, cols), "min_ydistance": min(y, rows)}
    want = skimage.transform.hough_circle_peaks(circles, radii, **capped, **options)
    assert len(got[0]) > 0 and all(np.array_equal(g, w) for g, w in zip(got, want)), (got, want)
    return got

def one_circle(x, y):
    got = [p.tolist() for p in check(x, y)]
    k, row, col = np.unravel_index(np.argmax(circles), circles.shape)
    assert got == [[circles.max()], [col], [row], [radii[k]]]
    assert got[1:] == [[33], [28], [9]]
"""
    cases = {
        "x": "check(10**9, 2)",
        "y": "check(3, 10**9)",
        "x twice the columns": "check(2 * cols, 1)",
        "options": "check(10**12, 4, threshold=10, num_peaks=2, total_num_peaks=3)",
        "both": "one_circle(10**9, 10**12)",
        "both at the size": "one_circle(cols, rows)",
        "detector": "got = hough_circles(image, radii, min_xdistance=10**9, min_ydistance=10**9)\n"
        "assert len(got[0]) == 1",
    }
    results = run_guarded(cases, setup, memory=3 * 1024**3, timeout=120)
    assert results == dict.fromkeys(cases), results


def test_circle_peaks_at_windows_about_the_accumulator_size_equal_scikit_image():
    """Where a window is clamped to the accumulator's rows or columns, each window near that size
    gives scikit-image's peaks (centres away from the right edge, where its wrap of columns stays
    inside them): the clamp changes nothing but the work."""
    image = np.zeros((30, 36), bool)
    image[skimage.draw.circle_perimeter(10, 12, 5)] = True
    image[skimage.draw.circle_perimeter(19, 20, 7)] = True
    radii = np.arange(4, 9)
    circles = hough_circle(image, radii, normalize=False)
    rows, cols = circles.shape[1:]
    for size, name in ((rows, "min_ydistance"), (cols, "min_xdistance")):
        for window in range(size - 3, size + 4):
            options = {name: window, "threshold": 3}
            want = skimage.transform.hough_circle_peaks(circles, radii, **options)
            assert len(want[0]) > 1
            assert_all_equal(hough_circle_peaks(circles, radii, **options), want)


@pytest.mark.parametrize("normalize", ["False", 1, np.ones(2), None])
def test_circle_peaks_normalize_that_is_not_true_or_false_is_refused(rng, normalize):
    """normalize went to scikit-image unchecked, which took it by its truth value: "False" (a string,
    as a config file may give it) and normalize=1 ranked the peaks by votes over radius; an array was
    NumPy's 'truth value of an array ... is ambiguous'. Refused, as hough_circle's normalize is."""
    radii = [4, 6, 9]
    circles = hough_circle(random_edges(rng, (50, 60), 0.02), radii)
    with pytest.raises(gpuimg.ParameterError, match=r"^normalize=.* must be True or False\.$"):
        hough_circle_peaks(circles, radii, normalize=normalize)
    for flag in (np.True_, np.False_):
        want = skimage.transform.hough_circle_peaks(circles, radii, num_peaks=3, normalize=bool(flag))
        assert_all_equal(hough_circle_peaks(circles, radii, num_peaks=3, normalize=flag), want)


def test_detectors_equal_scikit_image_transform_then_peaks():
    """hough_lines and hough_circles: scikit-image's transform and peak finder, on real CT edges."""
    edges = ct_edges()
    want = skimage.transform.hough_line_peaks(*skimage.transform.hough_line(edges), num_peaks=5)
    assert_all_equal(hough_lines(edges, num_peaks=5), want)
    radii = np.arange(5, 20)
    hspaces = skimage.transform.hough_circle(edges, radii)
    want = skimage.transform.hough_circle_peaks(hspaces, radii, total_num_peaks=4)
    assert_all_equal(hough_circles(edges, radii, total_num_peaks=4), want)


@pytest.mark.parametrize("radius", [12, np.int64(12), 12.0])
def test_hough_circles_takes_one_radius_as_hough_circle_does(radius):
    # hough_circle takes a single radius (as scikit-image's, np.atleast_1d); hough_circles passed it
    # on to the peak finder as a 0-d array: "hspaces and radii must be ... got shapes (1, 80, 80)
    # and ()", naming an accumulator the caller never gave.
    edges = np.zeros((80, 80), bool)
    edges[skimage.draw.circle_perimeter(30, 45, 12)] = True
    radii = np.atleast_1d(radius)
    want = skimage.transform.hough_circle_peaks(
        skimage.transform.hough_circle(edges, radius), radii, total_num_peaks=1
    )
    assert_all_equal(hough_circles(edges, radius, total_num_peaks=1), want)
    assert int(want[1][0]) == 45 and int(want[2][0]) == 30 and int(want[3][0]) == 12


def test_a_drawn_circle_is_found_at_its_centre_and_radius(rng):
    """Closed form: the strongest circle of a drawn circle is that circle, within 1 pixel."""
    edges = np.zeros((120, 140), bool)
    radius = int(rng.integers(12, 35))
    row, col = (int(v) for v in rng.integers(40, 80, 2))
    edges[skimage.draw.circle_perimeter(row, col, radius)] = True
    edges |= random_edges(rng, edges.shape, 0.005)
    radii = np.arange(10, 40)
    _, cx, cy, found = hough_circles(edges, radii, total_num_peaks=1)
    assert abs(int(cy[0]) - row) <= 1 and abs(int(cx[0]) - col) <= 1
    assert abs(int(found[0]) - radius) <= 1


def test_a_drawn_line_is_found_at_its_angle_and_distance(rng):
    """Closed form: a line col cos(t) + row sin(t) = d drawn pixel by pixel peaks at (t, d): the
    angle within one step of the grid, and the peak's line within 1.5 pixels of the drawn segment's
    centre (distance bins are 1 pixel wide and the drawn pixels are rounded to whole rows, up to half
    a pixel off the line; the true distance alone is the wrong reference when the peak takes the
    neighbouring angle)."""
    theta = np.linspace(-np.pi / 2, np.pi / 2, 180, endpoint=False)
    angle = float(rng.choice(theta[20:70]))  # -70 to -20 degrees: one pixel per column
    # The line enters at column 0 above row 40 and climbs at most 2.75 rows per column (at -20
    # degrees), so more than 20 of its pixels lie inside the 100 x 100 image.
    distance = -float(rng.uniform(5.0, 40.0 * abs(np.sin(angle))))
    cols = np.arange(100)
    rows = np.round((distance - cols * np.cos(angle)) / np.sin(angle)).astype(int)
    inside = (rows >= 0) & (rows < 100)
    edges = np.zeros((100, 100), bool)
    edges[rows[inside], cols[inside]] = True
    assert inside.sum() > 20
    _, angles, distances = hough_lines(edges, num_peaks=1)
    assert abs(float(angles[0]) - angle) <= np.pi / 180 + 1e-12
    centre_col, centre_row = cols[inside].mean(), rows[inside].mean()
    found = centre_col * np.cos(float(angles[0])) + centre_row * np.sin(float(angles[0]))
    assert abs(found - float(distances[0])) <= 1.5


def test_empty_edge_image_gives_zero_accumulators():
    edges = np.zeros((8, 9), bool)
    assert_all_equal(hough_line(edges), skimage.transform.hough_line(edges))
    assert_all_equal(hough_circle(edges, [3]), skimage.transform.hough_circle(edges, [3]))


def test_dask_edge_image_is_computed(rng):
    da = pytest.importorskip("dask.array")
    edges = random_edges(rng, (30, 40))
    lazy = da.from_array(edges, chunks=(7, 11))
    assert_all_equal(hough_line(lazy), skimage.transform.hough_line(edges))
    assert_all_equal(hough_circle(lazy, [3, 5]), skimage.transform.hough_circle(edges, [3, 5]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: hough_line(e[None]), "must be 2D (rows, columns)"),
        (lambda e: hough_line(e, theta=[]), "theta=[] must be a non-empty 1D array"),
        (lambda e: hough_line(e, theta=[0.0, np.nan]), "must be a non-empty 1D array of finite angles"),
        (lambda e: hough_circle(e[0], 3), "must be 2D (rows, columns)"),
        (lambda e: hough_circle(e, [3, -1]), "must be 0 or more pixels"),
        (lambda e: hough_circle(e, np.ones((2, 2))), "must be a non-empty 1D array of finite radii"),
    ],
)
def test_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(random_edges(rng, (10, 12)))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "transform",
    [
        lambda e: hough_line(e),
        lambda e: hough_lines(e),
        lambda e: hough_circle(e, [3, 4]),
        lambda e: hough_circles(e, [3, 4]),
    ],
)
def test_complex_images_and_masked_pixels_are_refused_as_by_every_operation(rng, transform):
    """A masked array's masked pixels voted as edges (NumPy reads through the mask), and a complex
    image's non-zero pixels voted, where every other operation refuses both (as_image). A masked
    array without masked pixels gives scikit-image's accumulator of its data."""
    edges = random_edges(rng, (16, 18), 0.2)
    hidden = np.zeros(edges.shape, bool)
    hidden[3:6, 4:8] = True
    with pytest.raises(gpuimg.ParameterError, match=r"masked array with 12 masked voxel\(s\) of 288"):
        transform(np.ma.masked_array(edges, mask=hidden))
    with pytest.raises(gpuimg.ParameterError, match=r"must hold real numbers; got dtype complex128"):
        transform(edges * (1 + 1j))
    assert_all_equal(hough_line(np.ma.masked_array(edges)), skimage.transform.hough_line(edges))


@pytest.mark.parametrize("radius", [1e19, 1e300, [3, 1e19]])
@pytest.mark.parametrize("full_output", [False, True])
def test_a_radius_past_the_integers_is_over_the_budget_not_an_empty_accumulator(radius, full_output):
    """A radius of 2**63 pixels or more was cast to a negative integer before the budget was checked:
    no perimeter, an accumulator of zeros, returned with only NumPy's 'invalid value encountered in
    cast'. Its perimeter, about 8 r offsets of 8 bytes, is beyond any memory."""
    with pytest.raises(gpuimg.MemoryBudgetError, match=r"the circles' perimeters needs"):
        hough_circle(np.eye(9, dtype=bool), radius, full_output=full_output)


@pytest.mark.cudasim
def test_cuda_target_line_votes_equal_scikit_image(rng, on_cuda_target):
    edges = random_edges(rng, (14, 11), 0.15)
    theta = np.concatenate([[-np.pi / 3, 0.0, np.pi / 3], rng.uniform(-np.pi / 2, np.pi / 2, 9)])
    got = hough_line(on_cuda_target(edges), theta)
    assert_all_equal(got, skimage.transform.hough_line(edges, theta))


@pytest.mark.cudasim
@pytest.mark.parametrize("full_output", [False, True])
def test_cuda_target_circle_votes_equal_scikit_image(rng, on_cuda_target, full_output):
    edges = random_edges(rng, (12, 13), 0.1)
    radii = [1, 3, 4]
    got = hough_circle(on_cuda_target(edges), radii, full_output=full_output)
    assert_all_equal(got, skimage.transform.hough_circle(edges, radii, full_output=full_output))


def test_cuda_namespace_peaks_take_one_explicit_host_round_trip(rng, on_cuda_target, monkeypatch):
    monkeypatch.setattr(_host, "_WARNED", set())
    lines = skimage.transform.hough_line(random_edges(rng, (30, 30), 0.05))
    with pytest.warns(UserWarning, match="hough_line_peaks has no GPU implementation"):
        got = hough_line_peaks(*(on_cuda_target(a) for a in lines))
    assert_all_equal(got, skimage.transform.hough_line_peaks(*lines))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hough_line_peaks(*(on_cuda_target(a) for a in lines))


@pytest.mark.gpu
def test_cupy_accumulators_stay_on_the_gpu(rng):
    import cupy

    edges = random_edges(rng, (200, 240), 0.03)
    lines = hough_line(cupy.asarray(edges))
    assert all(isinstance(a, cupy.ndarray) for a in lines)
    assert_all_equal(lines, skimage.transform.hough_line(edges))
    circles = hough_circle(cupy.asarray(edges), [5, 10, 20], full_output=True)
    assert isinstance(circles, cupy.ndarray)
    assert_all_equal(circles, skimage.transform.hough_circle(edges, [5, 10, 20], full_output=True))


@pytest.mark.parametrize(
    ("radius", "tested"),
    [(12.9, [12]), (np.arange(10.0, 14.5, 0.5), [10, 11, 12, 13, 14]), ([12, 12.5, 11], [12, 11])],
)
def test_hough_circles_reports_the_whole_radii_it_tested(radius, tested):
    # hough_circle casts the radii to whole pixels toward 0 (as scikit-image's), but hough_circles
    # reported the circles at the radii given: 12.9 for the drawn circle of radius 12 that was
    # tested, and with radii 12 and 12.5 (one plane each, both of radius 12) the circle twice.
    # Reference: scikit-image's transform and peaks with the whole radii, each once.
    edges = np.zeros((80, 80), bool)
    edges[skimage.draw.circle_perimeter(30, 45, 12)] = True
    radii = np.array(tested, dtype=np.float64)
    want = skimage.transform.hough_circle_peaks(
        skimage.transform.hough_circle(edges, radii), radii, total_num_peaks=2
    )
    assert_all_equal(hough_circles(edges, radius, total_num_peaks=2), want)
    assert want[3][0] == 12 and (want[1][0], want[2][0]) == (45, 30)
