"""The report's plots, drawn with matplotlib and embedded as ``data:image/svg+xml`` URIs.

SVG keeps the lines sharp at any zoom and stays small; text is drawn as paths, so the page needs no font and
no file next to it. Figures are built with the object API (no pyplot state), so rendering is safe in a server
thread and never touches the global backend.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

_RC: Any = {"svg.fonttype": "path", "svg.hashsalt": "recsys-report", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "path.simplify": True}
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def color_of(index: int) -> str:
    """A stable colour per model, the same in every plot of a report."""
    return _COLORS[index % len(_COLORS)]


def to_data_uri(fig: Figure) -> str:
    """Serialise `fig` as an SVG data URI; no metadata block (no date: equal inputs give equal bytes)."""
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight",
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def metric_vs_k(
    series: Mapping[str, Mapping[str, Mapping[int, float]]],
    intervals: Mapping[str, Mapping[str, Mapping[int, tuple[float, float]]]],
    metrics: Sequence[str],
    colors: Mapping[str, str],
) -> str:
    """One panel per metric: its value at each cut-off K, per model, with 95% bootstrap intervals as bars.

    series: ``{model: {metric: {k: value}}}``; intervals: the same with ``(low, high)``.
    """
    with matplotlib.rc_context(_RC):
        fig = _figure(3.0 * len(metrics), 2.8)
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        for ax, metric in zip(axes, metrics, strict=True):
            for model, per_metric in series.items():
                points = sorted(per_metric.get(metric, {}).items())
                if not points:
                    continue
                ks = [k for k, _ in points]
                ys = [v for _, v in points]
                ci = intervals.get(model, {}).get(metric, {})
                err = None
                if all(k in ci for k in ks):
                    err = [[max(y - ci[k][0], 0.0) for k, y in points], [max(ci[k][1] - y, 0.0) for k, y in points]]
                ax.errorbar(ks, ys, yerr=err, marker="o", ms=4, capsize=3, lw=1.5, color=colors[model], label=model)
                ax.set_xticks(ks)
            ax.set_title(metric.upper() + "@K")
            ax.set_xlabel("K (list length)")
            ax.set_ylim(bottom=0)
        axes[0].legend(fontsize=8, frameon=False)
        return to_data_uri(fig)


def metric_history(
    runs: Sequence[str],
    values: Mapping[str, Mapping[str, Sequence[float | None]]],
    metrics: Sequence[str],
    colors: Mapping[str, str],
    current: int,
) -> str:
    """One panel per metric: its value in every recorded run, per model; the reported run is marked.

    runs: x labels (one per run, oldest first); values: ``{metric: {model: [value or None per run]}}``.
    """
    with matplotlib.rc_context(_RC):
        fig = _figure(max(3.2 * len(metrics), 6.0), 3.0)
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        xs = list(range(len(runs)))
        for ax, metric in zip(axes, metrics, strict=True):
            for model, ys in values.get(metric, {}).items():
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=4, lw=1.5,
                            color=colors.get(model, "#555555"), label=model)
            ax.axvline(current, color="#999999", lw=1, ls="--")
            ax.set_title(metric)
            step = max(1, len(runs) // 8)
            ax.set_xticks(xs[::step], [runs[i] for i in xs[::step]], rotation=30, ha="right", fontsize=7)
            ax.set_xlim(-0.5, len(runs) - 0.5)
        axes[0].legend(fontsize=8, frameon=False)
        return to_data_uri(fig)


def popularity_distribution(
    bins: Sequence[str],
    reference: Mapping[str, Sequence[float]],
    recommended: Mapping[str, Sequence[float]],
    colors: Mapping[str, str],
) -> str:
    """Grouped bars per popularity bin of the catalogue (most popular first): the catalogue's own shares (grey)
    next to each model's share of recommended slots. A model whose bars pile up on the head bins more than the
    catalogue's interactions do amplifies popularity bias."""
    greys = ["#d0d0d0", "#8c8c8c", "#5a5a5a"]
    series = [(label, values, greys[i % len(greys)]) for i, (label, values) in enumerate(reference.items())]
    series += [(model, values, colors.get(model, "#555555")) for model, values in recommended.items()]
    with matplotlib.rc_context(_RC):
        fig = _figure(max(6.0, 0.9 * len(bins) + 3.0), 3.0)
        ax = fig.subplots()
        width = 0.8 / max(len(series), 1)
        xs = list(range(len(bins)))
        for i, (label, values, color) in enumerate(series):
            ax.bar([x - 0.4 + width * (i + 0.5) for x in xs], values, width, color=color, label=label)
        ax.set_xticks(xs, list(bins), fontsize=8)
        ax.set_xlabel("items ranked by training popularity (share of catalogue, most popular first)")
        ax.set_ylabel("share")
        ax.legend(fontsize=8, frameon=False)
        return to_data_uri(fig)
