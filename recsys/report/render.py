"""Rendering a report dict as one self-contained HTML page (plots inlined, no script, no external file)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from recsys.report import plots
from recsys.report.data import CATALOG_METRICS, HISTORY_METRICS, RANKING_METRICS, build_report
from recsys.report.titles import load_titles

if TYPE_CHECKING:
    from recsys.registry import Registry

log = logging.getLogger(__name__)

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("recsys.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers as the page prints them: 4 decimals, a dash when absent (the JSON keeps full precision)."""
    if value is None or isinstance(value, bool):
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def fmt_delta(value: Any) -> str:
    return "—" if value is None else f"{float(value):+.4f}"


_ENV.filters["f4"] = fmt
_ENV.filters["delta"] = fmt_delta


def render_html(report: Mapping[str, Any]) -> str:
    """The page of one report (as returned by `build_report`)."""
    names = list(report["models"])
    colors = {name: plots.color_of(i) for i, name in enumerate(report["history"]["models"] or names)}
    for i, name in enumerate(names):
        colors.setdefault(name, plots.color_of(len(colors) + i))
    figures = {
        "metric_vs_k": _metric_vs_k(report, colors),
        "history": _history(report, colors),
        "popularity": _popularity(report, colors),
    }
    template = _ENV.get_template("report.html.j2")
    from recsys.report.headline import GLOSSARY, better, downloads, headline

    return template.render(r=report, names=names, colors=colors, figures=figures, headline=_headline_keys(report),
                           verdict=headline(report), downloads=downloads(report), glossary=GLOSSARY, better=better,
                           segment_keys=_segment_keys(report), popularity_keys=_popularity_keys(report))


def render_report(
    registry: str | Path | Registry,
    out: str | Path,
    *,
    run_id: str | None = None,
    json_out: str | Path | None = None,
    titles: str | Path | Mapping[str, str] | None = None,
) -> Path:
    """Write the HTML report of run `run_id` (the newest when None) to `out`, and its numbers as JSON to
    `json_out` when given. `titles`: a movies.dat / u.item / items.csv path, or ``{item_id: title}``;
    a titles path that does not exist is ignored with a warning. Returns `out`."""
    title_map: Mapping[str, str] | None
    if titles is None or isinstance(titles, Mapping):
        title_map = titles
    elif Path(titles).exists():
        title_map = load_titles(titles)
    else:
        log.warning("titles file %s does not exist; items are shown by id", titles)
        title_map = None
    report = build_report(registry, run_id, titles=title_map)
    out = Path(out)
    write_atomic(out, render_html(report))
    if json_out is not None:
        write_atomic(Path(json_out), to_json(report))
    log.info("report of run %s written to %s", report["run_id"], out)
    return out


def render_all(
    registry: str | Path | Registry,
    out_dir: str | Path,
    *,
    titles: str | Path | Mapping[str, str] | None = None,
) -> list[Path]:
    """One page per recorded run: ``out_dir/<run_id>.html`` and ``<run_id>.json`` (a folder the service can
    serve). Returns the HTML paths, oldest run first."""
    from recsys.report.data import open_registry, sorted_runs

    reg = open_registry(registry)
    title_map = load_titles(titles) if titles is not None and not isinstance(titles, Mapping) else titles
    out = Path(out_dir)
    return [render_report(reg, out / f"{run.run_id}.html", run_id=run.run_id,
                          json_out=out / f"{run.run_id}.json", titles=title_map)
            for run in sorted_runs(reg)]


def to_json(report: Mapping[str, Any]) -> str:
    """The report's numbers as JSON text (full precision)."""
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file and a rename, so a reader (the service) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the page is meant to be read (served, opened)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------- figures
def _headline_keys(report: Mapping[str, Any]) -> list[str]:
    """The columns of the headline table: every metric at K=10 (or the largest K recorded)."""
    ks = report["ks"]
    k = 10 if 10 in ks else ks[-1]
    present = {key for m in report["models"].values() for key in m["metrics"]}
    return [f"{m}@{k}" for m in report["metrics"] if f"{m}@{k}" in present]


def _segment_keys(report: Mapping[str, Any]) -> list[str]:
    present = {key for g in report["segments"] for row in g["rows"] for m in row["models"].values() for key in m}
    keys = [k for k in ("ndcg@10", "hr@10", "mrr@10") if k in present]
    return keys or sorted(present)[:3]


def _popularity_keys(report: Mapping[str, Any]) -> list[str]:
    """Catalogue-level metrics at the headline K (every K is in the per-model tables)."""
    ks = report["ks"]
    k = 10 if 10 in ks else ks[-1]
    present = {key for m in report["models"].values() for key in m["metrics"]}
    return [f"{m}@{k}" for m in CATALOG_METRICS if f"{m}@{k}" in present]


def _metric_vs_k(report: Mapping[str, Any], colors: Mapping[str, str]) -> str | None:
    series: dict[str, dict[str, dict[int, float]]] = {}
    intervals: dict[str, dict[str, dict[int, tuple[float, float]]]] = {}
    for name, model in report["models"].items():
        for key, value in model["metrics"].items():
            metric, _, k = key.partition("@")
            if metric in RANKING_METRICS and k.isdigit():
                series.setdefault(name, {}).setdefault(metric, {})[int(k)] = value
        for key, (lo, hi) in model["ci"].items():
            metric, _, k = key.partition("@")
            if metric in RANKING_METRICS and k.isdigit():
                intervals.setdefault(name, {}).setdefault(metric, {})[int(k)] = (lo, hi)
    metrics = [m for m in RANKING_METRICS if any(m in s for s in series.values())]
    if not metrics:
        return None
    return plots.metric_vs_k(series, intervals, metrics, colors)


def _history(report: Mapping[str, Any], colors: Mapping[str, str]) -> str | None:
    hist = report["history"]
    if not hist["runs"]:
        return None
    labels = [_short_time(p["created_at"]) or p["run_id"][-8:] for p in hist["runs"]]
    values = {metric: {name: [p["models"].get(name, {}).get(metric) for p in hist["runs"]]
                       for name in hist["models"]}
              for metric in HISTORY_METRICS}
    return plots.metric_history(labels, values, list(HISTORY_METRICS), colors, hist["current"])


def _popularity(report: Mapping[str, Any], colors: Mapping[str, str]) -> str | None:
    pop = report["popularity"]
    if not pop["models"] or not pop["bins"]:
        return None
    return plots.popularity_distribution(pop["bins"], pop["reference"], pop["models"], colors)


def _short_time(value: str) -> str:
    """``2026-01-22T03:00:05Z`` -> ``01-22 03:00`` (x labels must stay short)."""
    if len(value) >= 16 and value[4] == "-" and value[10] in "T ":
        return f"{value[5:10]} {value[11:16]}"
    return value
