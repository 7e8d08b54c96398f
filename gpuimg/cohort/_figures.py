"""The cohort report's figures as images: each matplotlib figure on its own Agg canvas, laid out once
from its texts' sizes and written as a PNG cut to its drawing (see :mod:`gpuimg.cohort.report`)."""

import base64
import html
import io
import itertools
import math

import numpy as np

#: The figures' resolution [dots per inch] and PNG compression (zlib level; 3 writes them in 0.7 of
#: level 6's time, 1.1 times as large).
_DPI, _PNG_LEVEL = 80, 3


def _figure(title: str, figure) -> str:
    """The section of ``figure`` (:func:`_new_figure`, laid out), as a PNG image of what it draws and a
    margin of 0.1 inch (as ``savefig(bbox_inches="tight")`` wrote it).

    Drawn once, and cut to its drawing in pixels: ``savefig`` drew a figure with a layout engine (the
    placeholder that ``tight_layout`` leaves) once before drawing it, and ``bbox_inches="tight"`` laid it
    out once more (the report took 1.5 s, two thirds of it in ``savefig``).
    """
    import matplotlib.image

    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    # Each pixel's 4 bytes as one number, compared with the corner's (in the layout's margin): np.any
    # over the colour axis of the pixels took 30 ms of the report.
    packed = pixels.view(np.uint32)[..., 0]
    drawn = packed != packed[0, 0]
    rows, columns = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    if rows.size:
        pad = round(0.1 * figure.dpi)
        pixels = pixels[
            max(rows[0] - pad, 0) : rows[-1] + pad + 1, max(columns[0] - pad, 0) : columns[-1] + pad + 1
        ]
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, pixels, format="png", pil_kwargs={"compress_level": _PNG_LEVEL})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    title = html.escape(title)
    return f'<h2>{title}</h2>\n<img alt="{title}" src="data:image/png;base64,{encoded}">'


def _new_figure(width: float, height: float):
    """A figure of ``width`` x ``height`` inches on its own Agg canvas: not pyplot's, which keeps every
    figure it made until closed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _lay_out(figure, axes: list, widths: list[float] | None = None) -> None:
    """Place ``axes`` side by side in ``figure``, as ``tight_layout`` places a row of subplots: each text
    that reaches out of an axes (tick labels, axis labels, titles, a legend) kept in the figure and off
    its neighbours, :data:`_PAD` apart; the axes share the width left in the proportions ``widths``.

    Measured once, from those texts only: ``tight_layout`` also took the extent of every artist drawn
    in the axes (box plots, histograms), which lie inside them, and was 0.17 s of the report's 0.65 s.
    The texts' sizes are cached for the drawing that follows (the same renderer).
    """
    renderer = figure.canvas.get_renderer()
    pad = _padding(renderer)
    for ax in axes:
        _unlabelled(ax)
    reach = [_reach(ax, renderer) for ax in axes]
    width, height = figure.bbox.width, figure.bbox.height
    gaps = [pad + before[1] + after[0] for before, after in itertools.pairwise(reach)]
    left, bottom = pad + reach[0][0], pad + max(r[2] for r in reach)
    top = height - pad - max(r[3] for r in reach)
    widths = widths or [1.0] * len(axes)
    scale = (width - left - pad - reach[-1][1] - sum(gaps)) / sum(widths)
    for ax, share, gap in zip(axes, widths, [*gaps, 0.0], strict=True):
        ax.set_position((left / width, bottom / height, share * scale / width, (top - bottom) / height))
        left += share * scale + gap
        _title_placed(ax)


def _title_placed(ax) -> None:
    """Fix the title of ``ax`` at the top of the axes where nothing there makes matplotlib raise it (an
    offset text such as '1e6' of the y axis, tick labels on top): at each drawing and layout it found
    that place by laying out the y axis' tick labels once more. Decided from the tick labels that the
    layout measured (:func:`_reach`)."""
    title = ax.title.get_text()
    if (
        title
        and not ax.yaxis.get_major_formatter().get_offset()
        and ax.xaxis.get_ticks_position() == "bottom"
    ):
        ax.set_title(title, fontsize=ax.title.get_fontsize(), y=1.0)


def _unlabelled(ax) -> None:
    """Spare matplotlib the passes that place an axis label without text of ``ax`` beside its tick
    labels: two a drawing and two a layout, each laying out every tick label of the axis."""
    for axis in (ax.xaxis, ax.yaxis):
        if not axis.label.get_text():
            axis.set_label_coords(0.5, 0.5)  # inside the axes, where it draws nothing


def _reach(ax, renderer) -> tuple[float, float, float, float]:
    """How far the texts of ``ax`` (its axes' tick labels and labels, its title, its legend, the texts
    placed in it) reach out of it to the left, right, bottom and top [pixels]."""
    legend = ax.get_legend()
    texts = [*ax.texts, legend] if legend else ax.texts
    outer = ax.get_tightbbox(renderer, for_layout_only=True, bbox_extra_artists=texts)
    inner = ax.get_window_extent(renderer)
    return inner.x0 - outer.x0, outer.x1 - inner.x1, inner.y0 - outer.y0, outer.y1 - inner.y1


def _padding(renderer) -> float:
    """:data:`_PAD` in pixels."""
    import matplotlib

    return _PAD * renderer.points_to_pixels(matplotlib.rcParams["font.size"])


#: Space between a figure's texts and its neighbours, in font sizes (``tight_layout``'s default pad).
_PAD = 1.08


def _name_rows_and_columns(figure, ax, bar, names: list[str]) -> None:
    """Lay the heat map ``ax`` and its colour bar out (:func:`_beside`), each name of ``names`` beside
    its row and below its column, where tick labels lie (:data:`_TICK_PAD` from the map).

    The names are drawn once, level, as the rows' labels, and their pixels turned a quarter for the
    columns'. Not tick labels, which matplotlib lays out three times a drawing (a third of the report's
    time), nor texts drawn twice: matplotlib draws a text glyph by glyph, 1.3 ms a name.
    """
    names_figure = _new_figure(*figure.get_size_inches())
    names_figure.patch.set_alpha(0.0)
    texts = [names_figure.text(0, 0, name, ha="right", va="center", fontsize=6) for name in names]
    renderer = names_figure.canvas.get_renderer()  # the drawing's: the sizes are measured once
    away = renderer.points_to_pixels(_TICK_PAD)
    reach = away + max(text.get_window_extent(renderer).width for text in texts)
    _beside(figure, ax, bar, left=reach, bottom=reach)
    box = ax.get_window_extent(figure.canvas.get_renderer())
    pitch = box.height / len(names)
    for k, text in enumerate(texts):
        text.set_transform(names_figure.dpi_scale_trans)
        text.set_position(((box.x0 - away) / figure.dpi, (box.y1 - (k + 0.5) * pitch) / figure.dpi))
    names_figure.canvas.draw()
    pixels = np.asarray(names_figure.canvas.buffer_rgba())
    top, bottom = round(figure.bbox.height - box.y1), round(figure.bbox.height - box.y0)  # rows, from the top
    right = math.ceil(box.x0 - away)
    left = int(np.argmax(pixels[top:bottom, :right, 3].any(axis=0)))  # the first column drawn on
    rows = pixels[top:bottom, left:right]
    figure.figimage(rows, left, round(box.y0), origin="upper")
    # Turned a quarter anticlockwise: the names read upwards and end at the map, the first at the left.
    below = round(box.y0 - away) - (right - left)
    figure.figimage(np.rot90(rows).copy(), round(box.x0), below, origin="upper")


def _beside(figure, ax, bar, left: float, bottom: float) -> None:
    """Place the square heat map ``ax`` and its colour bar ``bar`` as ``figure.colorbar(image, ax=ax,
    shrink=0.7)`` and ``tight_layout`` placed them: the bar beside the map, 0.7 of its height and 1/20
    of that wide, their texts kept in the figure (:func:`_lay_out`), and ``left`` and ``bottom`` pixels
    beside and below the map for its names."""
    renderer = figure.canvas.get_renderer()
    pad = _padding(renderer)
    top, right = _reach(ax, renderer)[3], _reach(bar, renderer)[1]
    width, height = figure.bbox.width, figure.bbox.height
    side = min(height - bottom - top - 2 * pad, (width - left - right - 2 * pad) / (1 + _BAR_GAP + 0.7 / 20))
    x, y = pad + left, pad + bottom
    ax.set_position((x / width, y / height, side / width, side / height))
    x += side * (1 + _BAR_GAP)
    bar.set_position((x / width, (y + 0.15 * side) / height, 0.7 * side / 20 / width, 0.7 * side / height))


#: The space between a tick label and its axis [points]: the tick's length and pad (matplotlib's 3.5 + 3.5).
_TICK_PAD = 7.0


#: The space between the heat map and its colour bar, in the map's side (``colorbar``'s default pad).
_BAR_GAP = 0.05
