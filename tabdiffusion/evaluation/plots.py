"""Matplotlib figures of the report as base64 PNGs; uses Figure + Agg directly, so pyplot's global state is untouched."""

from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np

from .records import Bars, ColumnShape, DistanceHistogram, Histogram
from .thresholds import FIDELITY

REAL_COLOUR = "#4c72b0"
SYNTHETIC_COLOUR = "#dd8452"
HOLDOUT_COLOUR = "#55a868"
_STYLE = {"font.size": 8, "axes.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False}


def _figure_class():
    """matplotlib's Figure, or an ImportError that says how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "The HTML report draws its plots with matplotlib, which is not installed. "
            "Install it with: pip install tabdiffusion[report]"
        ) from error
    return Figure, FigureCanvasAgg


def _new_figure(width: float, height: float):
    """A Figure on its own Agg canvas, with the report's style."""
    import matplotlib

    Figure, Canvas = _figure_class()
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    Canvas(figure)
    return figure


def _png(figure) -> str:
    """The figure as a base64-encoded PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _date_axis(axis) -> None:
    """Show seconds since 1970 as dates."""
    import pandas as pd
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(4))
    axis.set_major_formatter(FuncFormatter(lambda x, _: pd.Timestamp(x, unit="s").strftime("%Y-%m-%d")))


def _short(text: str, width: int = 18) -> str:
    """`text` cut to `width` characters with an ellipsis, for axis labels."""
    return text if len(text) <= width else text[: width - 1] + "…"


def column_plot(name: str, column: ColumnShape) -> str:
    """Real vs synthetic distribution of one column: overlaid histograms or grouped horizontal bars."""
    import matplotlib

    plot = column.plot
    with matplotlib.rc_context(_STYLE):
        figure = _new_figure(3.3, 2.4)
        ax = figure.add_subplot()
        title = f"{_short(name, 28)}  ({column.kind}, score {column.score:.2f})"
        if isinstance(plot, Histogram) and plot.edges:
            edges = np.asarray(plot.edges)
            ax.stairs(plot.real, edges, fill=True, alpha=0.45, color=REAL_COLOUR, label="real")
            ax.stairs(plot.synthetic, edges, fill=False, linewidth=1.4, color=SYNTHETIC_COLOUR, label="synthetic")
            ax.set_ylabel("share of rows")
            if column.kind == "datetime":
                _date_axis(ax.xaxis)
        elif isinstance(plot, Bars) and plot.categories:
            positions = np.arange(len(plot.categories))[::-1]
            ax.barh(positions + 0.2, plot.real, height=0.4, color=REAL_COLOUR, label="real")
            ax.barh(positions - 0.2, plot.synthetic, height=0.4, color=SYNTHETIC_COLOUR, label="synthetic")
            ax.set_yticks(positions, [_short(c) for c in plot.categories], fontsize=7 if len(positions) > 8 else 8)
            ax.set_xlabel("share of rows")
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, loc="left")
    return _png(figure)


def shape_bars(names: Sequence[str], scores: Sequence[float]) -> str:
    """Horizontal bars of the shape score of each column, worst at the top."""
    import matplotlib

    order = np.argsort(scores)[::-1]
    with matplotlib.rc_context(_STYLE):
        figure = _new_figure(6.5, max(1.6, 0.18 * len(names) + 0.8))
        ax = figure.add_subplot()
        values = np.asarray(scores)[order]
        colours = [SYNTHETIC_COLOUR if v < FIDELITY.fair else REAL_COLOUR for v in values]  # the fidelity verdict's lines
        ax.barh(np.arange(len(order)), values, color=colours)
        ax.set_yticks(np.arange(len(order)), [_short(names[i], 30) for i in order], fontsize=7)
        ax.set_xlim(0, 1)
        ax.axvline(FIDELITY.good, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel(f"column shape score (1 - KS or 1 - TVD); dotted line at {FIDELITY.good:g}")
    return _png(figure)


def heatmaps(columns: Sequence[str], real: np.ndarray, synthetic: np.ndarray) -> str:
    """Association matrices of the real and synthetic tables and their difference, side by side."""
    import matplotlib

    n = len(columns)
    size = min(5.2, max(2.6, 0.22 * n + 1.4))
    with matplotlib.rc_context(_STYLE):
        figure = _new_figure(3 * size, size + 0.5)
        axes = figure.subplots(1, 3)
        panels = (("real", real, "RdBu_r"), ("synthetic", synthetic, "RdBu_r"), ("synthetic − real", synthetic - real, "RdBu_r"))
        labels = [_short(c, 14) for c in columns]
        for ax, (title, matrix, cmap) in zip(axes, panels):
            image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
            ax.set_title(title)
            fontsize = 7 if n <= 15 else 5
            ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize)
            ax.set_yticks(range(n), labels if ax is axes[0] else [""] * n, fontsize=fontsize)
            ax.tick_params(length=0)
            ax.spines[:].set_visible(False)
        figure.colorbar(image, ax=list(axes), shrink=0.8, label="Pearson r, Cramér's V, or their difference")
    return _png(figure)


def dcr_histogram(hist: DistanceHistogram) -> str:
    """Distances to the closest training row: synthetic rows vs holdout rows."""
    import matplotlib

    edges = np.asarray(hist.edges)
    with matplotlib.rc_context(_STYLE):
        figure = _new_figure(6.0, 2.6)
        ax = figure.add_subplot()
        if hist.holdout is not None:
            ax.stairs(hist.holdout, edges, fill=True, alpha=0.45, color=HOLDOUT_COLOUR, label="holdout → closest training row")
        ax.stairs(hist.synthetic, edges, fill=False, linewidth=1.5, color=SYNTHETIC_COLOUR, label="synthetic → closest training row")
        ax.set_xlabel("distance to closest record (TabDDPM embedding, L2); the last bin holds everything beyond")
        ax.set_ylabel("share of rows")
        ax.legend(frameon=False)
    return _png(figure)
