"""The cohort report: one self-contained HTML file, its matplotlib figures embedded as base64 PNG.

Sections: summary and metrics, slice montage with mask and edge overlays, intensity histograms before
and after preprocessing, feature distributions by class, feature correlation heat map, ROC curve and
confusion matrix, regression scatter, cluster map, time per stage, and the errors table. The page loads
nothing from anywhere (no script, no font, no link), so it opens offline and can be mailed as it is.
"""

import gc
import html
import math

import numpy as np

from gpuimg._text import count, some

from ._figures import _DPI, _figure, _lay_out, _name_rows_and_columns, _new_figure
from ._rank_statistics import _roc, _spearman
from .labels import feature_matrix

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f2f2f2; text-align: left; } img { max-width: 100%; } .note { color: #666; }
"""
#: Feature columns drawn in the distribution and correlation figures, at most.
_SHOWN, _CORRELATED = 8, 40
#: Rows of the errors table and studies named in a list, at most: the report stays small for any cohort
#: (errors.csv and manifest.json list them all).
_ERRORS_SHOWN, _NAMES_SHOWN = 200, 50


def build_report(
    rows: list[dict],
    errors: list[dict],
    previews: list[dict],
    metrics: dict,
    predictions: dict,
    manifest: dict,
) -> str:
    """The report's HTML text (see the module docstring for its sections).

    ``previews`` are the slices and histograms (:func:`gpuimg.cohort.study.process_study`'s
    ``preview``) of the studies the montage shows.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    # Text as _literal expects it, whatever the user's matplotlibrc says (usetex would run LaTeX on the
    # data's texts). Figures made at the resolution they are written at, so that a figure's layout and
    # its drawing share one renderer and its cache of text sizes (and of mathtext); laid out by
    # _lay_out alone, whatever the matplotlibrc's layout.
    # The objects alive before the report are left out of the garbage collector's passes while it is
    # drawn (gc.freeze), and put back after: matplotlib makes some 10^5 objects a report, which set off a
    # pass over every object of the process (the run's, pandas', Numba's: 0.15-0.2 s of the report's
    # 0.6 s in a 200-study run). The report's own objects are collected as before. Not where the
    # process froze objects itself (gc.unfreeze would thaw them too).
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        with matplotlib.rc_context(
            {
                "text.parse_math": True,
                "text.usetex": False,
                "figure.dpi": _DPI,
                "figure.autolayout": False,
                "figure.constrained_layout.use": False,
                # FreeType's outlines as they are: its autohinter, run on every glyph of every text
                # drawn, took 0.03-0.04 s of the report (the figures' texts look the same at 80 dpi).
                "text.hinting": "no_hinting",
            }
        ):
            return _build(rows, errors, previews, metrics, predictions, manifest)
    finally:
        if freeze:
            gc.unfreeze()


def _literal(text) -> str:
    """``text`` (a class label, a feature name: from the data) as matplotlib draws it as it is: its
    dollar signs escaped, never TeX math, which drew "$50k-$100k" in italics and failed the report on an
    unbalanced "x_$_$" after every study was measured.

    Not ``text.parse_math = False`` for the whole report: matplotlib's own labels are mathtext (a log
    axis' ticks '$\\mathdefault{10^{2}}$', which the histograms showed as such).
    """
    return str(text).replace("$", r"\$")


def _build(rows, errors, previews, metrics, predictions, manifest) -> str:
    sections = [
        f"<h1>gpuimg cohort report</h1><p>{count(manifest['studies'], 'study', 'studies')}: "
        f"{len(rows)} with features, "
        f"{len(errors)} failed; device {html.escape(str(manifest['device']))}; gpuimg {manifest['gpuimg']}. "
        f"{'Patient and study IDs are pseudonyms (HMAC-SHA256).' if manifest['pseudonymised'] else ''}</p>",
        _metrics_table(metrics) if rows else _NOTHING_LEARNED,
    ]
    if previews:
        sections.append(_figure("Slices (ROI outlined in red; gradient magnitude below)", _montage(previews)))
        sections.append(_figure("Intensity histograms before and after preprocessing", _histograms(previews)))
    X, names = feature_matrix(rows)
    if rows and not names:
        sections.append("<h2>Features</h2><p class='note'>No feature has a value in any study (all NaN).</p>")
    elif rows:
        classes = predictions.get("classification", {})
        if "y" in classes:
            # The labelled studies' rows, in the order of their classes (learning sorts the rows).
            place = {row["study"]: i for i, row in enumerate(rows)}
            labelled = X[[place[study] for study in classes["study"]]]
            figure = _distributions(labelled, names, np.asarray(classes["y"]))
            title = "Feature distributions by class (the features that separate the classes most)"
        else:
            title = "Feature distributions (the most variable features)"
            figure = _distributions(X, names, None)
        sections.append(_figure(title, figure))
        varying = np.count_nonzero(np.nanstd(X, axis=0) > 0)
        if varying > 1 and len(rows) > 2:
            sections.append(_figure("Feature correlation (Spearman)", _correlation(X, names)))
        else:  # the figure was left out without a word
            why = (
                f"{count(len(rows), 'study', 'studies')} (a rank correlation needs 3 at least)"
                if len(rows) < 3
                else f"{count(varying, 'feature varies', 'features vary')} between the studies (2 needed)"
            )
            sections.append(f"<h2>Feature correlation</h2><p class='note'>Not drawn: {why}.</p>")
    if "score" in predictions.get("classification", {}) or "y_pred" in predictions.get("classification", {}):
        sections.append(
            _figure(
                "Classification: out-of-fold ROC curve and confusion matrix",
                _classification(predictions["classification"], metrics["classification"]),
            )
        )
    if "y_pred" in predictions.get("regression", {}):
        sections.append(
            _figure("Regression: out-of-fold predictions", _regression(predictions["regression"]))
        )
    if "clustering" in predictions:
        sections.append(
            _figure("Clusters on the first two principal components", _clusters(predictions["clustering"]))
        )
    sections.append(_times(manifest["time_per_stage_s"]))
    if manifest.get("clipped"):
        sections.append(
            "<h2>ROIs clipped by the volume's edge</h2><p>Their shape features describe the visible part "
            f"only: {_names(manifest['clipped'])}.</p>"
        )
    if manifest.get("unlabelled"):
        sections.append(
            "<h2>Studies not learned from</h2><p>The labels file names no row for their patients "
            f"({html.escape(manifest.get('unlabelled_why') or 'check its patient IDs')}): "
            f"{_names(manifest['unlabelled'])}.</p>"
        )
    sections.append(_errors(errors))
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>gpuimg cohort report</title>'
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_shown(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _shown(value) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.3g}"
    return str(value)


#: The metrics' section of a run without a feature row: it said 'No learning task in the spec, or no
#: labelled study.' where the spec had its tasks and every study had failed.
_NOTHING_LEARNED = (
    "<h2>Metrics</h2><p class='note'>No study has a feature row (each failed: see Errors below), so no "
    "learning task was fitted.</p>"
)


def _metrics_table(metrics: dict) -> str:
    rows = [
        [task, name, value]
        for task, scores in metrics.items()
        for name, value in scores.items()
        if (isinstance(value, int | float) and not isinstance(value, bool))
        or name in ("error", "not_cross_validated", "no_silhouette")
    ]
    if not rows:
        return "<h2>Metrics</h2><p class='note'>No learning task in the spec, or no labelled study.</p>"
    return "<h2>Metrics (patient-level cross-validation)</h2>" + _table(["task", "metric", "value"], rows)


def _times(times: dict) -> str:
    return "<h2>Time per stage</h2>" + _table(["stage", "seconds"], [[k, float(v)] for k, v in times.items()])


def _names(studies: list[str]) -> str:
    """The first :data:`_NAMES_SHOWN` studies, escaped, and how many more ``manifest.json`` lists."""
    shown = html.escape(some(studies, limit=_NAMES_SHOWN))
    return shown if len(studies) <= _NAMES_SHOWN else f"{shown} (manifest.json lists them all)"


def _errors(errors: list[dict]) -> str:
    if not errors:
        return "<h2>Errors</h2><p>No study failed.</p>"
    note = (
        f"<p class='note'>The first {_ERRORS_SHOWN} of {len(errors)} failed studies; errors.csv lists "
        "them all.</p>"
        if len(errors) > _ERRORS_SHOWN
        else ""
    )
    rows = [[e["study"], e["patient"], e["error"]] for e in errors[:_ERRORS_SHOWN]]
    return "<h2>Errors</h2>" + note + _table(["study", "patient", "error"], rows)


def _montage(previews: list[dict]):
    """Each study's slice (its gradient magnitude below), the ROI outlined in red, in one axes: each image
    placed by its extent in a square cell of side 1, its pixels square, the cells :data:`_GAP` apart.

    Not an axes per image: their 12 axes took half of the figure's time (60 of 120 ms).
    """
    from matplotlib.collections import LineCollection
    from skimage.measure import find_contours

    figure = _new_figure(2.6 * len(previews), 5.4)
    ax = figure.add_subplot()
    for column, preview in enumerate(previews):
        edges = preview.get("edges", np.zeros_like(preview["image"]))
        # The ROI's outline, the mask's level 0.5 (rows, columns), as matplotlib's contour() drew it:
        # its ContourSet (colour map, norm, limits) took 2.5 ms an image, 40% of the figure's time.
        outline = find_contours(preview["mask"].astype(float), 0.5) if preview["mask"].any() else []
        for row, (image, cmap) in enumerate(((preview["image"], "gray"), (edges, "magma"))):
            rows, columns = image.shape
            side = max(rows, columns)
            left = column * (1 + _GAP) + (side - columns) / (2 * side)
            top = -row * (1 + _GAP) - (side - rows) / (2 * side)
            ax.imshow(image, cmap=cmap, extent=(left, left + columns / side, top - rows / side, top))
            if outline:  # through the pixels' centres
                lines = [np.c_[left + (c[:, 1] + 0.5) / side, top - (c[:, 0] + 0.5) / side] for c in outline]
                ax.add_collection(LineCollection(lines, colors="red", linewidths=0.8), autolim=False)
    ax.set_xlim(0, len(previews) * (1 + _GAP) - _GAP)
    ax.set_ylim(-2 - _GAP, 0)
    ax.set_axis_off()
    _lay_out(figure, [ax])
    return figure


#: The space between the montage's images, in their cells' side.
_GAP = 0.06


def _histograms(previews: list[dict]):
    from matplotlib.ticker import FuncFormatter, NullLocator

    figure = _new_figure(10, 3.2)
    axes = figure.subplots(1, 2)
    for when, ax in zip(("before", "after"), axes, strict=True):
        for preview in previews:
            # The outline that stairs() draws (up from 0 at the first edge, down to 0 at the last), as
            # a line: stairs' patch had its data limits taken segment by segment in Python (12 of them,
            # a fifth of the figure's time). Patches' line width (1), not lines' (1.5).
            counts, edges = preview[f"hist_{when}"], preview[f"edges_{when}"]
            ax.plot(np.repeat(edges, 2), np.r_[0, np.repeat(counts, 2), 0], alpha=0.7, linewidth=1.0)
        ax.set_title(f"{when} preprocessing")
        ax.set_xlabel("intensity")
        ax.set_yscale("log")
        # The decades only: a log axis' minor ticks, 8 a decade, cost a third of the figure's time.
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    axes[0].set_ylabel("voxels")
    _lay_out(figure, list(axes))
    return figure


def _power_of_ten(value: float, _position=None) -> str:
    """A log axis' tick label as text: '10³' for 1000 (matplotlib's label is the mathtext
    '$\\mathdefault{10^{3}}$', which each figure's renderer parsed anew: a third of the histograms'
    time), the value as '%g' writes it where it is not a power of ten."""
    exponent = round(math.log10(value)) if value > 0 else 0
    if value <= 0 or 10.0**exponent != value:
        return f"{value:g}"
    return "10" + str(exponent).translate(_SUPERSCRIPTS)


#: Digits and minus sign written as superscripts (DejaVu Sans, matplotlib's font, has them).
_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _distributions(X: np.ndarray, names: list[str], y: np.ndarray | None):
    """Box plots of the features that best separate the classes ``y`` of the rows of ``X`` (or, without
    classes, the most variable ones)."""
    from matplotlib.ticker import MaxNLocator

    order = _informative(X, y) if y is not None else np.argsort(-np.nanstd(X, axis=0))
    chosen = list(order[:_SHOWN])
    figure = _new_figure(2.2 * len(chosen), 3.2)
    axes = figure.subplots(1, len(chosen), squeeze=False)
    groups = np.unique(y) if y is not None else [None]
    for ax, j in zip(axes[0], chosen, strict=True):
        values = [X[(y == g) if g is not None else slice(None), j] for g in groups]
        ax.boxplot(
            [v[np.isfinite(v)] for v in values],
            tick_labels=[_literal(g) if g is not None else "all" for g in groups],
        )
        ax.set_title(_literal(names[j]), fontsize=7)
        # About 5 values on each axis, not the 6 to 9 a 3-inch axis gets: each tick label is laid out,
        # measured and drawn, and their 60 were a third of the figure's time.
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    _lay_out(figure, list(axes[0]))
    return figure


def _informative(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Feature indices by decreasing separation of the classes (between- over within-class spread)."""
    groups = np.unique(y)
    means = np.array([np.nanmean(X[y == g], axis=0) for g in groups])
    spread = np.nanstd(X, axis=0)
    separation = np.where(spread > 0, np.nanstd(means, axis=0) / np.where(spread > 0, spread, 1), 0.0)
    return np.argsort(-np.nan_to_num(separation))


def _correlation(X: np.ndarray, names: list[str]):
    keep = np.nanstd(X, axis=0) > 0
    X, names = X[:, keep], [n for n, k in zip(names, keep, strict=True) if k]
    order = np.argsort(
        -np.nanstd(X / np.where(np.nanmean(np.abs(X), axis=0) > 0, np.nanmean(np.abs(X), axis=0), 1), axis=0)
    )
    chosen = np.sort(order[:_CORRELATED])
    matrix = _spearman(X[:, chosen])
    size = 3 + 0.18 * len(chosen)
    figure = _new_figure(size + 1, size)
    ax, bar = figure.add_subplot(), figure.add_axes((0, 0, 1, 1))
    image = ax.imshow(matrix, cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    # 5 values, not the 9 (-1.00 to 1.00 by 0.25) of its axis' locator: fewer texts to lay out and draw.
    figure.colorbar(image, cax=bar, ticks=[-1, -0.5, 0, 0.5, 1])
    _name_rows_and_columns(figure, ax, bar, [_literal(_shortened(names[j])) for j in chosen])
    return figure


def _shortened(name: str) -> str:
    """``name`` cut to :data:`_NAME_CHARS` characters, its end shown as an ellipsis: the heat map's
    names lie beside and below it, and longer ones left it no room (a feature column of 300 characters
    made the report fail)."""
    return name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "\u2026"


#: Most characters of a feature's name beside and below the heat map (gpuimg's own are shorter).
_NAME_CHARS = 40


def _classification(predicted: dict, scores: dict):
    figure = _new_figure(9, 4)
    roc, confusion = figure.subplots(1, 2)
    if "score" in predicted:
        y = predicted["y"] == scores["classes"][1]
        fpr, tpr = _roc(y, predicted["score"])
        roc.plot(fpr, tpr, lw=2, label=f"AUC {scores.get('roc_auc', math.nan):.2f}")
        roc.legend(loc="lower right")
    roc.plot([0, 1], [0, 1], "k--", lw=1)
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    matrix = np.array(scores.get("confusion_matrix", [[0]]))
    confusion.imshow(matrix, cmap="Blues")
    for (i, j), studies in np.ndenumerate(matrix):
        colour = "white" if studies > matrix.max() / 2 else "black"
        confusion.text(j, i, str(studies), ha="center", va="center", color=colour)
    labels = [_literal(c) for c in scores.get("classes", [])]
    confusion.set_xticks(range(len(labels)), labels)
    confusion.set_yticks(range(len(labels)), labels)
    confusion.set_xlabel("predicted")
    confusion.set_ylabel("true")
    _lay_out(figure, [roc, confusion])
    return figure


def _regression(predicted: dict):
    figure = _new_figure(4.5, 4.2)
    ax = figure.add_subplot()
    ax.scatter(predicted["y"], predicted["y_pred"], s=14)
    low, high = float(np.min(predicted["y"])), float(np.max(predicted["y"]))
    ax.plot([low, high], [low, high], "k--", lw=1)
    ax.set_xlabel("target")
    ax.set_ylabel("predicted (out of fold)")
    _lay_out(figure, [ax])
    return figure


def _clusters(predicted: dict):
    """The studies on the first two principal components, one colour and one legend entry per cluster,
    named by its label as text (DBSCAN's -1: "noise").

    Not one scatter coloured by the label through a colour map: tab10 spread the labels' range over its
    ten colours, so a SOM's nodes 0 and 3 of 0 to 33 were one blue, and the legend's entries were
    matplotlib's choice of at most nine labels, not necessarily the clusters'.
    """
    figure = _new_figure(4.5, 4.2)
    ax = figure.add_subplot()
    points = np.asarray(predicted["projection"])
    clusters = np.asarray(predicted["clusters"])
    found = np.unique(clusters)
    for colour, cluster in zip(_distinct_colours(found.size), found, strict=True):
        at = clusters == cluster
        label = "noise" if cluster == -1 else str(cluster)
        ax.scatter(points[at, 0], points[at, 1], color=colour, s=16, label=label)
    # Beside the axes, where no point lies under it.
    ax.legend(
        title="cluster",
        fontsize=7,
        ncols=1 + (found.size - 1) // _LEGEND_ROWS,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
    )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    _lay_out(figure, [ax])
    return figure


#: Entries of a legend's column in the cluster map.
_LEGEND_ROWS = 12


def _distinct_colours(n: int) -> np.ndarray:
    """``n`` colours, each unlike the others: matplotlib's qualitative tab10 or tab20 where they suffice,
    else ``n`` evenly spaced along turbo."""
    import matplotlib

    if n <= 20:
        return matplotlib.colormaps["tab10" if n <= 10 else "tab20"](np.arange(n))
    return matplotlib.colormaps["turbo"](np.linspace(0.0, 1.0, n))
