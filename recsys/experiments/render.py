"""The experiment report as one self-contained HTML page (the offline report's look) and as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recsys.report.render import write_atomic


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _p(value: Any) -> str:
    """A p-value: 4 decimals, or 2 significant digits below 0.0001."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.2g}" if value < 1e-4 else f"{value:.4f}"


def _ci95(se: Any) -> str:
    return "–" if se is None else f"± {1.96 * se:.4f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:+.1f} %"


def render_experiment_html(report: Mapping[str, Any]) -> str:
    """The HTML page of `report` (from `experiment_report`): no external resources."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters["f"] = _fmt
    env.filters["pct"] = _pct
    env.filters["p"] = _p
    env.filters["ci95"] = _ci95
    return env.get_template("experiment.html.j2").render(r=report)


def experiment_json(report: Mapping[str, Any]) -> str:
    """One line of JSON (NaN written as null)."""
    return json.dumps(_clean(report), sort_keys=True, default=str)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def write_experiment_report(report: Mapping[str, Any], out: Path) -> Path:
    """Write the HTML page atomically; returns its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, render_experiment_html(report))
    return out


def render_running_reports(registry: Path, lake: Path, out_dir: Path, day: str) -> list[str]:
    """Render ``out_dir/<experiment>-<day>.html`` for every running experiment that has impressions in the lake;
    a re-run for the same day rewrites the same files. Returns the paths written."""
    import logging

    from recsys.errors import InputError
    from recsys.experiments.definitions import ExperimentStore
    from recsys.experiments.report import experiment_report

    log = logging.getLogger(__name__)
    written = []
    for exp in ExperimentStore(registry).list():
        if not exp.running:
            continue
        try:
            report = experiment_report(registry, lake, exp.name)
        except InputError as err:
            log.warning("experiment %s: no report yet (%s)", exp.name, err)
            continue
        written.append(str(write_experiment_report(report, Path(out_dir) / f"{exp.name}-{day}.html")))
    return written
