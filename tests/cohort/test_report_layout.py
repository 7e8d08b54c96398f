"""The report's figures laid out without tight_layout: every text in the figure and off its neighbours."""

import base64
import gc
import io
import itertools
import re
import unicodedata

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg", force=False)

from matplotlib.transforms import Bbox  # noqa: E402

from gpuimg.cohort import _figures, report  # noqa: E402


def _texts(ax) -> list:
    """Every text of ``ax`` that its drawing shows: tick labels, axis labels, offset texts, title, texts."""
    texts = [*_shown(ax.get_xticklabels(), ax.get_xlim(), 0), *_shown(ax.get_yticklabels(), ax.get_ylim(), 1)]
    texts += ax.texts
    texts += [ax.title, ax.xaxis.label, ax.yaxis.label, ax.xaxis.offsetText, ax.yaxis.offsetText]
    legend = ax.get_legend()
    return [t for t in texts if t.get_visible() and t.get_text()] + ([legend] if legend else [])


def _shown(labels, limits, axis: int) -> list:
    """The tick labels of ticks in the view limits (matplotlib draws those only)."""
    low, high = sorted(limits)
    return [label for label in labels if low <= label.get_position()[axis] <= high]


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


def _check(figure) -> None:
    """Each text and image inside the figure, and what the figure draws reaching to tight_layout's
    padding of its edges (1.08 font sizes, up to twice that) on every side; no text of an axes over
    another axes or its texts."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    frame = figure.bbox
    boxes = {}
    for ax in figure.axes:
        boxes[ax] = [t.get_window_extent(renderer) for t in _texts(ax)]
        for box in boxes[ax]:
            assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, (box, frame)
            assert frame.y0 - 0.5 <= box.y0 and box.y1 <= frame.y1 + 0.5, (box, frame)
    images = [Bbox.from_bounds(i.ox, i.oy, *i.get_array().shape[1::-1]) for i in figure.images]
    for box in images:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    drawn = Bbox.union(
        [ax.get_window_extent(renderer) for ax in figure.axes] + [*itertools.chain(*boxes.values())] + images
    )
    pad = 1.08 * matplotlib.rcParams["font.size"] * figure.dpi / 72
    margins = np.array([drawn.x0, drawn.y0, frame.x1 - drawn.x1, frame.y1 - drawn.y1])
    # A title placed above an offset text where the layout measured it may come down beside it once
    # the panels are narrowed: margins of up to two pads.
    assert np.all(margins >= pad - 1) and np.all(margins <= 2 * pad), (margins, pad)
    for ax in figure.axes:
        for other in figure.axes:
            if other is not ax:
                inner = other.get_window_extent(renderer)
                for box in boxes[ax]:
                    assert not _overlap(box, inner), (box, inner)
                    assert not any(_overlap(box, theirs) for theirs in boxes[other]), box


@pytest.fixture
def at_80_dpi():
    with matplotlib.rc_context({"figure.dpi": 80}):
        yield


def test_box_plots_of_awkward_features_keep_their_texts_apart(rng, at_80_dpi):
    # Tick labels of every width: an offset text (1e7), long negative decimals, a long title (the
    # titles' widths are left out of the layout, as tight_layout leaves them out: it fits on its panel).
    X = np.c_[
        rng.normal(5e7, 1e7, 60),
        rng.normal(-0.000123, 1e-5, 60),
        rng.normal(-123456, 1000, 60),
        rng.normal(0, 1, 60),
        rng.normal(0, 1, 60),
    ]
    names = ["stat_energy", "ngl_dependence_count_norm", "a", "morph_vol_dens_aabb", "b"]
    y = np.array(["benign", "malignant"] * 30)
    for classes in (y, None):
        _check(report._distributions(X, names, classes))


def test_the_histograms_keep_their_texts_apart(rng, at_80_dpi):
    counts, edges = np.histogram(rng.normal(0, 300, 100_000), 64)
    previews = [
        {
            f"{kind}_{when}": v
            for when in ("before", "after")
            for kind, v in (("hist", counts), ("edges", edges))
        }
    ]
    _check(report._histograms(previews))


def test_the_heat_maps_names_lie_beside_their_rows_and_below_their_columns(rng, at_80_dpi):
    # Each name's ink, in the drawn figure: centred on its row (on its column), ending a tick label's
    # distance (7 points) from the map, as wide (as tall) as matplotlib measures the name; the names
    # below are those beside turned a quarter anticlockwise.
    from matplotlib.font_manager import FontProperties

    names = [f"feature_{'x' * (k % 17)}{k}" for k in range(30)]
    X = rng.normal(size=(50, 30)) * rng.uniform(0.1, 10, 30)
    figure = report._correlation(X, names)
    _check(figure)
    ax, bar = figure.axes
    renderer = figure.canvas.get_renderer()
    pixels = np.asarray(figure.canvas.buffer_rgba())[::-1, :, :3]  # rows from the bottom
    ink = pixels.min(axis=2) < 160
    box = ax.get_window_extent(renderer)
    away, pitch = 7 * figure.dpi / 72, box.height / 30
    # A name's ink ends within its last glyph's side bearing of its text box, which matplotlib's
    # versions place differently (2.9 pixels off the box in 3.9, at most 2 in 3.11).
    bearing = 4
    beside, below = figure.images
    np.testing.assert_array_equal(below.get_array(), np.rot90(beside.get_array()))
    for k, name in enumerate(names):
        (x, _), (_, y) = ax.transData.transform([(k, 0), (0, k)])  # the k-th column's and row's centres
        width = renderer.get_text_width_height_descent(name, FontProperties(size=6), False)[0]
        band = ink[round(y - pitch / 2) : round(y + pitch / 2), : round(box.x0) - 1]
        rows, columns = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
        assert rows.size and (rows[0] + rows[-1]) / 2 + round(y - pitch / 2) == pytest.approx(y, abs=3)
        assert columns[-1] == pytest.approx(box.x0 - away, abs=bearing)
        assert columns[-1] - columns[0] == pytest.approx(width, abs=3)
        band = ink[: round(box.y0) - 1, round(x - pitch / 2) : round(x + pitch / 2)]
        rows, columns = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
        assert columns.size and (columns[0] + columns[-1]) / 2 + round(x - pitch / 2) == pytest.approx(
            x, abs=3
        )
        assert rows[-1] == pytest.approx(box.y0 - away, abs=bearing)
        assert rows[-1] - rows[0] == pytest.approx(width, abs=3)
    # The colour bar as colorbar(shrink=0.7) draws it: 0.7 of the map's height, centred, 1/20 as wide.
    side = bar.get_window_extent(renderer)
    assert side.height == pytest.approx(0.7 * box.height, abs=1)
    assert (side.y0 + side.y1) / 2 == pytest.approx((box.y0 + box.y1) / 2, abs=1)
    assert side.width == pytest.approx(side.height / 20, abs=1) and side.x0 > box.x1


def test_a_log_axis_labels_its_decades_as_matplotlib_does():
    # Text such as '10³', not matplotlib's mathtext '$\mathdefault{10^{3}}$' (parsed anew by each
    # figure's renderer): the same power, read back by Unicode's compatibility mapping of superscripts.
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatterSciNotation

    ax = Figure().add_subplot()
    ax.set_yscale("log")
    ax.set_ylim(1e-13, 1e23)
    formatter = LogFormatterSciNotation()
    formatter.set_axis(ax.yaxis)
    for exponent in range(-12, 23):
        value = 10.0**exponent
        (power,) = re.fullmatch(r"\$\\mathdefault\{10\^\{(.+)\}\}\$", formatter(value)).groups()
        label = report._power_of_ten(value)
        read = unicodedata.normalize("NFKC", label).replace("\N{MINUS SIGN}", "-")
        assert read == "10" + power.replace("\N{MINUS SIGN}", "-")
    assert [report._power_of_ten(v) for v in (2.0, 0.0, 300.0)] == ["2", "0", "300"]


def test_the_report_leaves_the_garbage_collector_as_it_found_it(monkeypatch):
    # Objects alive before the report are frozen while it is drawn, and thawed after; a process that
    # froze objects itself keeps them frozen: the report then neither freezes nor thaws. Told by the
    # calls, not by the count of frozen objects alone, which falls where one of them is freed (a thread
    # left by another test, a pool's worker, frees its own).
    calls = []
    freeze, unfreeze = gc.freeze, gc.unfreeze
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze") or freeze())
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze") or unfreeze())
    during = []
    monkeypatch.setattr(report, "_build", lambda *args: during.append(gc.get_freeze_count()) or "page")
    manifest = {"studies": 0}
    assert gc.get_freeze_count() == 0
    assert report.build_report([], [], [], {}, {}, manifest) == "page"
    assert during[0] > 0 and gc.get_freeze_count() == 0 and calls == ["freeze", "unfreeze"]
    freeze()
    try:
        calls.clear()
        report.build_report([], [], [], {}, {}, manifest)
        assert calls == [] and during[1] > 0 and gc.get_freeze_count() > 0
    finally:
        unfreeze()


def test_each_histogram_is_drawn_as_stairs_draws_it(rng, at_80_dpi):
    # A line along the outline of matplotlib's StepPatch (what Axes.stairs draws), from 0 at the first
    # edge to 0 at the last, each study's in its own colour of the cycle, on both panels.
    from matplotlib.patches import StepPatch

    previews = []
    for _ in range(3):
        counts, edges = np.histogram(rng.normal(0, rng.uniform(1, 300), 2000), int(rng.integers(5, 70)))
        previews.append(
            {
                f"{k}_{when}": v
                for when in ("before", "after")
                for k, v in (("hist", counts), ("edges", edges))
            }
        )
    figure = report._histograms(previews)
    for ax in figure.axes:
        assert len(ax.lines) == len(previews)
        for line, preview in zip(ax.lines, previews, strict=True):
            outline = StepPatch(preview["hist_before"], preview["edges_before"]).get_path().vertices
            np.testing.assert_array_equal(line.get_xydata(), outline)
        assert len({line.get_color() for line in ax.lines}) == len(previews)


def test_a_figure_is_cut_to_its_drawing_and_a_tenth_of_an_inch(at_80_dpi):
    # The drawn pixels are those unlike the corner's in any of their 4 bytes (a colour differing in one
    # channel only, alpha included, is drawing): the crop as NumPy finds it over the colour axis.
    from matplotlib.image import imread

    figure = _figures._new_figure(3, 2)
    ax = figure.add_axes((0.3, 0.25, 0.2, 0.3))
    ax.set_axis_off()
    ax.imshow([[0.0, 1.0]], cmap="gray", extent=(0, 1, 0, 1))
    figure.text(0.8, 0.8, ".", color=(1.0, 1.0, 254 / 255))  # white but for one blue level
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba()).copy()
    drawn = np.any(pixels != pixels[0, 0], axis=2)
    rows, columns = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    expected = pixels[rows[0] - 8 : rows[-1] + 9, columns[0] - 8 : columns[-1] + 9]
    (data,) = re.findall(r'src="data:image/png;base64,([^"]+)"', _figures._figure("t", figure))
    written = imread(io.BytesIO(base64.b64decode(data)))
    np.testing.assert_array_equal(np.round(written * 255).astype(np.uint8), expected)


def test_each_title_lies_where_matplotlib_places_it(rng, at_80_dpi):
    # A title whose axis has no offset text is placed once, at y = 1; one with an offset ('1e7') is
    # placed by matplotlib at each drawing, above it where they meet: each where matplotlib's own
    # placement puts it, drawn again with every title placed automatically. Box plots and histograms.
    names = ["ngl_dependence_count_nonuniformity_normalised_3D", "ngl_dependence_count_nonuniformity_2", "c"]
    X = np.c_[rng.normal(5e7, 1e7, 40), rng.normal(0, 1, 40), rng.normal(3, 1, 40)]
    counts, edges = np.histogram(rng.normal(0, 300, 10_000), 64)
    previews = [
        {f"{k}_{when}": v for when in ("before", "after") for k, v in (("hist", counts), ("edges", edges))}
    ]
    boxes, histograms = report._distributions(X, names, None), report._histograms(previews)
    for figure in (boxes, histograms):
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        placed = [ax.title.get_window_extent(renderer).bounds for ax in figure.axes]
        for ax in figure.axes:  # over the axes, off its offset text
            title, offset = ax.title.get_window_extent(renderer), ax.yaxis.get_offset_text()
            assert title.y0 > ax.get_window_extent(renderer).y1
            assert not offset.get_text() or not _overlap(title, offset.get_window_extent(renderer))
            ax._autotitlepos = None  # matplotlib's automatic placement (set_title(y=None) keeps it off)
        figure.canvas.draw()
        np.testing.assert_allclose(
            placed, [ax.title.get_window_extent(renderer).bounds for ax in figure.axes]
        )
    offsets = [bool(ax.yaxis.get_offset_text().get_text()) for ax in boxes.axes]
    assert any(offsets) and not all(offsets)


@pytest.mark.parametrize("length", [41, 103, 300])
def test_the_heat_map_keeps_its_room_beside_long_names(rng, at_80_dpi, length):
    # Regression: names of 150-300 characters made the report fail (NumPy's 'zero-size array to
    # reduction operation minimum'), 5 of 103 gave the map a negative size. Names past 40 characters
    # are cut to 39 and an ellipsis; the map stays square, in the figure, a quarter of its height or more.
    names = [f"{k}_" + "long_feature_name_" * (length // 18 + 1) for k in range(3)]
    names = [name[:length] for name in names]
    figure = report._correlation(rng.normal(size=(20, 3)) * [1, 2, 3], names)
    figure.canvas.draw()
    ax = figure.axes[0]
    box, frame = ax.get_window_extent(figure.canvas.get_renderer()), figure.bbox
    assert box.width == pytest.approx(box.height, abs=1) and box.height > 0.25 * frame.height
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    drawn = report._figure("heat map", figure)
    assert drawn.startswith("<h2>heat map</h2>")
