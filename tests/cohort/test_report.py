"""The cohort report: one self-contained HTML file whose every figure loads, checked in headless Chromium."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from cohort_data import report_text

from gpuimg.cohort import run_pipeline

#: Injected at the top of a copy of the report: records console errors and failed resources, then on
#: load writes whether each image decoded (naturalWidth > 0) into the DOM that --dump-dom prints.
_PROBE = """<script>
window.__errors = [];
const original = console.error;
console.error = (...args) => { window.__errors.push(args.join(' ')); original(...args); };
window.addEventListener('error', e => window.__errors.push(String(e.message || e.target.src)), true);
window.addEventListener('load', () => {
  const images = [...document.images].map(i => i.complete && i.naturalWidth > 0);
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({images, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--virtual-time-budget=10000",
    "--dump-dom",
]


@pytest.fixture(scope="module")
def report(cohort, tmp_path_factory):
    spec, folder = cohort
    out = tmp_path_factory.mktemp("report")
    run_pipeline(spec, folder, out / "out", progress=False)
    return (out / "out" / "report.html").read_text()


def test_the_report_is_one_self_contained_file(report):
    assert not re.search(r"<script|<link|<iframe|(src|href)=\"(https?:|//|file:)", report)
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', report)
    titles = [title for title, _ in images]
    for expected in (
        "Slices",
        "Intensity histograms",
        "Feature distributions",
        "correlation",
        "ROC",
        "Regression",
        "Clusters",
    ):
        assert any(expected in t for t in titles), f"no figure {expected!r} in {titles}"
    for _, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h2>Errors</h2><p>No study failed.</p>" in report


def test_every_image_loads_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (CI installs Debian's chromium)")
    page = tmp_path / "report.html"
    page.write_text(report.replace("<head>", "<head>" + _PROBE, 1))
    done = subprocess.run(
        [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout)
    assert found, f"chromium printed no probe result: {done.stderr[-2000:]}"
    probe = json.loads(found[1].replace("&quot;", '"'))
    assert len(probe["images"]) >= 7 and all(probe["images"]), probe
    assert probe["errors"] == []


def test_the_roc_curve_drawn_is_scikit_learns(rng):
    from sklearn.metrics import roc_curve

    from gpuimg.cohort._rank_statistics import _roc

    positive = rng.random(60) < 0.4
    score = np.round(rng.random(60) + positive * 0.3, 1)  # rounded: ties between the classes
    fpr, tpr = _roc(positive, score)
    expected_fpr, expected_tpr, _ = roc_curve(positive, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, expected_fpr, atol=1e-12)  # exact fractions, rounding only
    np.testing.assert_allclose(tpr, expected_tpr, atol=1e-12)


def test_a_report_of_features_that_are_all_nan(tmp_path):
    # Every feature NaN in every study (texture of one-voxel ROIs): matplotlib was asked for a row of
    # 0 box plots and raised ValueError, so the run ended without its report.
    from gpuimg.cohort.report import build_report

    rows = [
        {"study": f"S-{k}", "patient": f"P-{k}", "modality": "CT", "ngt_busyness": np.nan} for k in range(3)
    ]
    manifest = {
        "studies": 3,
        "device": "cpu",
        "gpuimg": "0",
        "pseudonymised": True,
        "time_per_stage_s": {"features (sum over studies)": 0.1},
        "clipped": [],
    }
    page = build_report(rows, [], [], {}, {}, manifest)
    assert "No feature has a value in any study (all NaN)." in page and "<img" not in page
    assert "No feature has a value" not in build_report([], [], [], {}, {}, manifest)


def test_the_report_says_why_a_task_was_not_cross_validated():
    # Three labelled studies, class "b" of one patient: the task was fitted without a score, and the
    # metrics table showed folds 1 without a word of why.

    from gpuimg.cohort.learn import fit_tasks
    from gpuimg.cohort.report import build_report
    from gpuimg.cohort.spec import Learning, Task

    rows = [{"study": f"S-{k}", "patient": f"P-{k}", "modality": "CT", "f": float(k)} for k in range(3)]
    labels = {"P-0": {"y": "a"}, "P-1": {"y": "b"}, "P-2": {"y": "a"}}
    learning = Learning(folds=2, tasks=(Task("classification", "logistic_regression", "y"),))
    _, scores, predictions = fit_tasks(rows, learning, labels)
    manifest = {"studies": 3, "device": "cpu", "gpuimg": "0", "pseudonymised": True, "time_per_stage_s": {}}
    text = report_text(build_report(rows, [], [], scores, predictions, manifest))
    assert (
        "not_cross_validated"
        "class 'b' has one patient, and each fold of a patient-level cross-validation must train on every "
        "class (2 patients of each class at least). The model is fitted on the 3 labelled studies, without "
        "a score: label more patients."
    ) in text


def test_a_report_of_one_study_counts_it_as_one():
    # '1 studies: 1 with features, 0 failed'.
    from gpuimg.cohort.report import build_report

    rows = [{"study": "S-0", "patient": "P-0", "modality": "CT", "stat_mean": 1.0}]
    manifest = {"studies": 1, "device": "cpu", "gpuimg": "0", "pseudonymised": True, "time_per_stage_s": {}}
    assert "<p>1 study: 1 with features, 0 failed;" in build_report(rows, [], [], {}, {}, manifest)


def test_class_labels_are_drawn_as_they_are_not_as_tex(tmp_path):
    # Class labels from the labels file went to matplotlib as mathtext: "$50k-$100k" was drawn as
    # math, and an unbalanced one failed the report with ValueError after every study was measured.
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from gpuimg.cohort.report import build_report

    label = "x_$_$"
    figure, ax = plt.subplots()  # matplotlib's default: parsed as mathtext, which fails
    ax.set_xticks([0], [label])
    with pytest.raises(ValueError):
        figure.savefig(tmp_path / "tex.png")
    plt.close(figure)
    classes = ["$50k-$100k", label]
    y = np.array(classes * 3)
    rows = [{"study": f"S-{k}", "patient": f"P-{k}", "modality": "CT", "f": k, "g": k % 4} for k in range(6)]
    metrics = {"classification": {"classes": classes, "confusion_matrix": [[2, 1], [1, 2]], "n_studies": 6}}
    predictions = {"classification": {"y": y, "y_pred": y[::-1], "study": [row["study"] for row in rows]}}
    manifest = {
        "studies": 6,
        "device": "cpu",
        "gpuimg": "0",
        "pseudonymised": True,
        "time_per_stage_s": {"features (sum over studies)": 0.1},
        "clipped": [],
    }
    page = build_report(rows, [], [], metrics, predictions, manifest)
    assert page.count("<img") == 3  # distributions, correlation, classification
    assert matplotlib.rcParams["text.parse_math"]  # put back after the report


def test_features_are_drawn_by_the_class_of_their_own_study(monkeypatch):
    # The box plots by class paired the report's rows (by study) with the classes in the order the
    # learning step sorts the studies (by the labels file's patients): with the file listing the
    # patients in reverse, the feature that is the class drew class 0's box from class 1's studies.
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.axes import Axes

    from gpuimg.cohort.learn import fit_tasks
    from gpuimg.cohort.report import build_report
    from gpuimg.cohort.spec import Learning, Task

    rows = [
        {
            "study": f"S-{k:02d}",
            "patient": f"P-{k:02d}",
            "modality": "CT",
            "is_one": float(k % 2),
            "k": float(k),
        }
        for k in range(20)
    ]
    labels = {f"P-{k:02d}": {"y": str(k % 2)} for k in reversed(range(20))}
    learning = Learning(folds=2, tasks=(Task("classification", "logistic_regression", "y"),))
    _, scores, predictions = fit_tasks(rows, learning, labels)
    drawn, boxplot = {}, Axes.boxplot

    def recording(ax, data, *args, tick_labels, **kwargs):
        drawn[len(drawn)] = {
            label: sorted(values.tolist()) for label, values in zip(tick_labels, data, strict=True)
        }
        return boxplot(ax, data, *args, tick_labels=tick_labels, **kwargs)

    monkeypatch.setattr(Axes, "boxplot", recording)
    manifest = {"studies": 20, "device": "cpu", "gpuimg": "0", "pseudonymised": True, "time_per_stage_s": {}}
    build_report(rows, [], [], scores, predictions, manifest)
    by_class = {"0": [float(k) for k in range(0, 20, 2)], "1": [float(k) for k in range(1, 20, 2)]}
    assert drawn == {0: {"0": [0.0] * 10, "1": [1.0] * 10}, 1: by_class}


def test_the_correlation_drawn_is_pandas_spearman(rng):
    # Ranks were taken over every row with NaN as 0 and ties broken by row order: 0.43 for pandas'
    # 0.80 with two missing values, -0.49 for -0.5 with ties.
    import pandas as pd

    from gpuimg.cohort._rank_statistics import _spearman

    X = np.round(rng.normal(size=(30, 5)), 1)
    X[:, 1] = np.round(X[:, 0] + rng.normal(scale=0.5, size=30))  # ties
    X[rng.random((30, 5)) < 0.15] = np.nan
    X[:, 4] = np.where(np.arange(30) < 27, np.nan, 2.0)  # one value: no correlation, itself included
    expected = pd.DataFrame(X).corr(method="spearman").to_numpy()
    np.testing.assert_allclose(_spearman(X), expected, atol=1e-12, equal_nan=True)
    small = np.array([[1, 2.0], [2, np.nan], [3, 1], [4, 4], [5, np.nan], [6, 6]])
    assert _spearman(small)[0, 1] == pytest.approx(0.8)


def test_the_correlation_drawn_is_scipys_spearman_over_the_rows_both_columns_have(rng):
    # Columns with values in the same rows are ranked once and correlated together; a pair missing
    # values in different rows is ranked over the rows where both have one. Each entry is SciPy's
    # Spearman correlation of that pair over those rows.
    from scipy.stats import spearmanr

    from gpuimg.cohort._rank_statistics import _spearman

    X = np.round(rng.normal(size=(40, 8)), 1)  # rounded: ties
    X[:, 1] = np.round(2 * X[:, 0] + rng.normal(size=40))  # many ties, correlated with column 0
    X[:, 2] = -X[:, 0]
    X[rng.random(40) < 0.2, 3] = np.nan
    X[:, 4] = np.where(np.isnan(X[:, 3]), np.nan, X[:, 4])  # missing in the rows column 3 misses
    X[rng.random(40) < 0.3, 5] = np.inf  # not finite: missing too
    X[:, 6] = 1.5  # one value: no correlation
    X[:, 7] = np.where(np.arange(40) < 38, np.nan, X[:, 7])  # two values
    expected = np.full((8, 8), np.nan)
    for i in range(8):
        for j in range(8):
            both = np.isfinite(X[:, i]) & np.isfinite(X[:, j])
            a, b = X[both, i], X[both, j]
            if both.sum() > 1 and np.ptp(a) > 0 and np.ptp(b) > 0:
                expected[i, j] = spearmanr(a, b).statistic
    assert np.isfinite(expected[:6, :6]).all() and np.isnan(expected[6]).all()
    # Rounding only: the same ranks, Pearson's r summed in another order.
    np.testing.assert_allclose(_spearman(X), expected, rtol=0, atol=1e-12, equal_nan=True)


def test_the_montage_outlines_each_roi_where_matplotlib_contours_it(rng):
    # The montage draws its images in one axes, each placed by its extent: each image is the study's
    # slice (gray) or gradient magnitude (magma), keeps its shape's aspect and overlaps no other, and the
    # red outline drawn on it, taken back to its pixel indices, is matplotlib's contour of the mask at
    # 0.5 (contourpy's; the report drew it with Axes.contour before it took scikit-image's find_contours).
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from gpuimg.cohort.report import _montage

    previews = []
    for shape in [(16, 16), (12, 20), (20, 10)]:
        mask = (rng.random(shape) < 0.5).astype(np.uint8)  # ragged: many contours, some open at the edge
        previews.append({"image": rng.normal(size=shape), "edges": rng.random(shape), "mask": mask})
    previews.append({"image": rng.normal(size=(8, 8)), "mask": np.zeros((8, 8), np.uint8)})  # no ROI
    figure = _montage(previews)
    (ax,) = figure.axes
    images = ax.get_images()
    assert [image.get_cmap().name for image in images] == ["gray", "magma"] * len(previews)
    extents = [image.get_extent() for image in images]  # left, right, bottom, top
    for k, (image, (left, right, bottom, top)) in enumerate(zip(images, extents, strict=True)):
        preview = previews[k // 2]
        shown = preview["image"] if k % 2 == 0 else preview.get("edges", np.zeros_like(preview["image"]))
        np.testing.assert_array_equal(image.get_array(), shown)
        rows, columns = shown.shape
        assert (right - left) * rows == pytest.approx((top - bottom) * columns, rel=1e-12)
        for other in extents[k + 1 :]:
            assert right <= other[0] or other[1] <= left or top <= other[2] or other[3] <= bottom
    outlines = [collection for collection in ax.collections if collection.get_paths()]
    assert len(outlines) == 6  # two images of each of the three studies with a ROI
    for k, outline in enumerate(outlines):
        mask = previews[k // 2]["mask"]
        left, right, _, top = extents[k]
        side = (right - left) / mask.shape[1]
        xy = np.concatenate([path.vertices for path in outline.get_paths()])
        drawn = np.c_[(top - xy[:, 1]) / side - 0.5, (xy[:, 0] - left) / side - 0.5]  # row, column
        contour = Figure().add_subplot().contour(mask.astype(float), levels=[0.5])
        expected = np.concatenate([path.vertices for path in contour.get_paths()])[:, ::-1]  # row, column
        # The same points (each curve's vertices, some twice where a curve closes), rounding only.
        np.testing.assert_allclose(np.unique(drawn.round(9), axis=0), np.unique(expected.round(9), axis=0))
    plt.close(figure)


@pytest.mark.parametrize("shape", [(0, 3), (1, 2), (7, 1), (40, 6)])
def test_the_ranks_are_scipys_rankdata(shape, rng):
    # _spearman's ranks, without scipy.stats (whose import a run without learning tasks paid for the
    # report alone): ties given the mean of their ranks, as rankdata's default "average" method.
    from scipy.stats import rankdata

    from gpuimg.cohort._rank_statistics import _ranks

    X = rng.integers(0, 4, shape).astype(float)  # few values: runs of ties
    X[:, :1] = np.round(rng.normal(size=(shape[0], 1)), 1)
    expected = rankdata(X, axis=0)
    assert expected.shape == shape
    np.testing.assert_array_equal(_ranks(X), expected)  # exact: whole numbers and halves


def test_the_report_of_a_large_cohort_stays_small():
    # Every failed, clipped and unlabelled study was listed: 5.8 MB of HTML for 20,000 failed studies.
    import html.parser

    from gpuimg.cohort.report import build_report

    class Counter(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows = 0

        def handle_starttag(self, tag, attrs):
            self.rows += tag == "tr"

    studies = [f"S-{k:016x}" for k in range(20_000)]
    errors = [{"study": s, "patient": "", "error": "DicomError: <b>no</b> DICOM & no mask"} for s in studies]
    manifest = {
        "studies": 20_000,
        "device": "cpu",
        "gpuimg": "0",
        "pseudonymised": True,
        "time_per_stage_s": {},
        "clipped": studies,
        "unlabelled": studies,
    }
    page = build_report([], errors, [], {}, {}, manifest)
    parsed = Counter()
    parsed.feed(page)
    text = report_text(page)
    assert parsed.rows == 1 + 200 + 1  # the errors table: header and 200 rows; the empty time table: header
    assert "The first 200 of 20000 failed studies; errors.csv lists them all." in text
    assert text.count("and 19950 more (manifest.json lists them all)") == 2
    assert "DicomError: <b>no</b> DICOM & no mask" in text  # escaped: text, not an element
    assert len(page) < 100_000


@pytest.mark.parametrize(
    ("clusters", "names"),
    [
        ([0, 3, 6, 28, 30, 33, 0, 3], ["0", "3", "6", "28", "30", "33"]),  # a SOM's nodes of a 6 x 6 map
        ([-1, 0, 0, 1, 1, -1], ["noise", "0", "1"]),  # DBSCAN's noise
        (list(range(25)) * 2, [str(k) for k in range(25)]),
    ],
)
def test_the_cluster_map_gives_each_cluster_a_colour_and_its_name(clusters, names, rng):
    # One scatter coloured by the label through tab10 spread a SOM's nodes 0 to 33 over ten colours
    # (nodes 0 and 3 one blue), and its legend read '$\mathdefault{0}$' (matplotlib's mathtext, drawn
    # as such where the report draws text as it is).
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from gpuimg.cohort.report import _clusters

    clusters = np.array(clusters)
    points = rng.normal(size=(clusters.size, 2))
    with matplotlib.rc_context({"text.parse_math": False}):  # as build_report draws
        figure = _clusters({"clusters": clusters, "projection": points})
    ax = figure.axes[0]
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == names
    # Each point's colour, found by its place: one colour per cluster, no two clusters alike, and the
    # legend's entry of that name in it.
    colour_of = {}
    for collection in ax.collections:
        offsets, faces = collection.get_offsets(), collection.get_facecolor()
        faces = np.broadcast_to(faces, (len(offsets), 4))
        for point, face in zip(offsets, faces, strict=True):
            (index,) = np.flatnonzero(np.all(points == point, axis=1))
            colour_of.setdefault(clusters[index], set()).add(tuple(face))
    assert all(len(colours) == 1 for colours in colour_of.values())
    distinct = {next(iter(colours)) for colours in colour_of.values()}
    assert len(distinct) == np.unique(clusters).size
    for name, handle in zip(names, legend.legend_handles, strict=True):
        cluster = -1 if name == "noise" else int(name)
        assert tuple(handle.get_facecolor()[0]) == next(iter(colour_of[cluster]))
    plt.close(figure)


def test_matplotlibs_own_mathtext_is_drawn_and_the_datas_text_as_it_is(monkeypatch, rng):
    # The report drew every text with text.parse_math off, so that class labels such as "$50k-$100k" stay
    # text: matplotlib's own labels, which are mathtext, showed as their source ('$\mathdefault{10^{2}}$'
    # on the histograms' log axis). What each text of each figure shows, as matplotlib's Text decides it
    # when drawing (Text._preprocess_math: the string drawn, and whether as mathtext).
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.text import Text

    from gpuimg.cohort import report

    shown, figure_of = [], report._figure

    def recording(title, figure):
        figure.canvas.draw()
        for text in figure.findobj(Text):
            if text.get_visible() and text.get_text():
                shown.append((title, *text._preprocess_math(text.get_text())))
        return figure_of(title, figure)

    monkeypatch.setattr(report, "_figure", recording)
    classes = ["$50k-$100k", "x_$_$"]
    y = np.array(classes * 3)
    rows = [{"study": f"S-{k}", "patient": f"P-{k}", "modality": "CT", "f": k, "g": k % 4} for k in range(6)]
    metrics = {"classification": {"classes": classes, "confusion_matrix": [[2, 1], [1, 2]], "n_studies": 6}}
    predictions = {"classification": {"y": y, "y_pred": y[::-1], "study": [row["study"] for row in rows]}}
    values = rng.normal(0.0, 100.0, 5000)
    counts, edges = np.histogram(values, 64)
    previews = [
        {
            "image": rng.normal(size=(16, 16)).astype(np.float32),
            "mask": np.pad(np.ones((4, 4), np.uint8), 6),
            **{f"hist_{when}": counts for when in ("before", "after")},
            **{f"edges_{when}": edges for when in ("before", "after")},
        }
    ]
    manifest = {"studies": 6, "device": "cpu", "gpuimg": "0", "pseudonymised": True, "time_per_stage_s": {}}
    with matplotlib.rc_context({"text.parse_math": False}):  # a user's matplotlibrc: the report's own
        report.build_report(rows, [], previews, metrics, predictions, manifest)
    raw = [(title, text) for title, text, math in shown if not math and "mathdefault" in text]
    assert not raw, raw[:3]
    # The log axis' decades are text ('10²'), not matplotlib's mathtext, which each figure's renderer
    # parsed anew: see test_a_log_axis_labels_its_decades_as_matplotlib_does.
    histograms = [text for title, text, math in shown if title.startswith("Intensity") and not math]
    assert "10²" in histograms, histograms
    for label in classes:  # in the box plots and the confusion matrix, as written in the labels file
        assert [title for title, text, math in shown if text == label and not math] == [
            "Feature distributions by class (the features that separate the classes most)",
            "Feature distributions by class (the features that separate the classes most)",
            "Classification: out-of-fold ROC curve and confusion matrix",
            "Classification: out-of-fold ROC curve and confusion matrix",
        ]


@pytest.mark.parametrize(
    ("features", "why"),
    [
        ([[1.0, 5.0], [2.0, 3.0]], "2 studies (a rank correlation needs 3 at least)"),
        ([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]], "1 feature varies between the studies (2 needed)"),
    ],
)
def test_a_correlation_that_cannot_be_drawn_says_why(features, why):
    # Two studies, or one feature that varies: the correlation figure was left out without a word.
    import pandas as pd

    from gpuimg.cohort.report import build_report

    frame = pd.DataFrame(features, columns=["f0", "f1"])
    # pandas: two rows give a Spearman correlation of +-1 only; a constant column none (NaN).
    correlation = frame.corr(method="spearman").to_numpy()
    assert abs(correlation[0, 1]) == 1 if len(frame) == 2 else np.isnan(correlation[0, 1])
    rows = [
        {"study": f"S-{k}", "patient": f"P-{k}", "modality": "CT", "f0": a, "f1": b}
        for k, (a, b) in enumerate(features)
    ]
    manifest = {"studies": len(rows), "device": "cpu", "gpuimg": "0", "pseudonymised": True}
    page = build_report(rows, [], [], {}, {}, manifest | {"time_per_stage_s": {}})
    assert f"<h2>Feature correlation</h2><p class='note'>Not drawn: {why}.</p>" in page
