"""`recsys report`: render the offline metrics report of a training run from the registry."""

from __future__ import annotations

from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors


@app.command()
def report(
    registry: Path = typer.Option(..., "--registry", help="Model registry folder (holds _runs/<run_id>.json)."),
    run: str | None = typer.Option(None, "--run", help="Run id to report on; default: the latest run."),
    out: Path | None = typer.Option(None, "--out", help="HTML file to write (self-contained: open it anywhere)."),
    json_out: Path | None = typer.Option(None, "--json-out", help="Also write the report's numbers as JSON."),
    out_dir: Path | None = typer.Option(None, "--out-dir",
                                        help="Render every recorded run to DIR/<run_id>.html and .json instead."),
    titles: Path | None = typer.Option(None, "--titles",
                                       help="Item titles: MovieLens movies.dat or u.item, or items.csv."),
    list_runs: bool = typer.Option(False, "--list", help="List the recorded runs instead of rendering."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Offline metrics report of one training run: metrics with bootstrap intervals, the promotion gate,
    segments, metric history, popularity bias and sample users with each model's top-10."""
    from recsys.errors import InputError
    from recsys.report import load_titles, render_all, render_report, summarize_runs

    console = stderr_console()
    with user_errors():
        if list_runs:
            runs = summarize_runs(registry)
            if as_json:
                emit_json({"runs": runs})
            for r in runs:
                scores = ", ".join(f"{n} {m['ndcg@10']:.4f}" for n, m in r["models"].items()
                                   if m.get("ndcg@10") is not None)
                console.print(f"{r['run_id']}  {r['created_at']}  ndcg@10: {scores}", highlight=False)
            return
        title_map = load_titles(titles) if titles is not None else None
        if out_dir is not None:
            with console.status("rendering one report per recorded run ..."):
                pages = render_all(registry, out_dir, titles=title_map)
            if as_json:
                emit_json({"out_dir": str(out_dir), "pages": [str(p) for p in pages]})
            console.print(f"{len(pages)} offline metrics reports in {out_dir.resolve()}", highlight=False)
            return
        if out is None:
            raise InputError("--out is required: the HTML file to write (or --out-dir, or --list)")
        with console.status("rendering the offline metrics report ..."):
            path = render_report(registry, out, run_id=run, json_out=json_out, titles=title_map)
        if as_json:
            emit_json({"html": str(path), "json": str(json_out) if json_out else None,
                       "run_id": _run_id_of(path)})
        console.print(f"offline metrics report: {path.resolve()}"
                      + (f" (numbers in {json_out})" if json_out else ""), highlight=False)


def _run_id_of(html: Path) -> str | None:
    from recsys.report.files import report_meta

    meta = report_meta(html)
    return meta["run_id"] if meta else None
