"""The offline metrics report: one self-contained HTML page (and a JSON of the same numbers) per training run.

Built from the typed run records (`recsys.registry.TrainingRun`, ``REGISTRY/_runs/<run_id>.json``) so that what
people read is exactly what training measured: `data` turns a record into the report's numbers, `plots` draws the
SVG figures, `render` fills the template, `titles` reads item catalogues, `files` finds rendered pages.
`render_report` is what the CLI, the nightly DAG and the demo call.
"""

from recsys.report.data import build_report, summarize_runs
from recsys.report.render import render_all, render_html, render_report, to_json
from recsys.report.titles import load_titles

__all__ = ["build_report", "load_titles", "render_all", "render_html", "render_report", "summarize_runs", "to_json"]
