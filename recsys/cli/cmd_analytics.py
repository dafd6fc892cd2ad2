"""`recsys analytics`: the user-behaviour report over a date range of the lake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors
from recsys.errors import InputError


def parse_day(value: str | None, option: str) -> date | None:
    """A ``YYYY-MM-DD`` option as a date, or a clear error naming the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise InputError(f"{option} {value!r} is not a date; use YYYY-MM-DD") from err


def parse_duration(value: str, option: str) -> int:
    """``90s``, ``30m``, ``24h``, ``7d`` (or plain seconds) as seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError as err:
        raise InputError(f"{option} {value!r} is not a duration; use e.g. 30m, 24h or 7d") from err
    if seconds <= 0:
        raise InputError(f"{option} must be positive, got {value!r}")
    return int(seconds)


@app.command("analytics")
def analytics(
    lake: Path = typer.Option(..., "--lake", help="Lake directory (holding events/dt=YYYY-MM-DD/)."),
    start: str | None = typer.Option(None, "--from", help="First UTC day, YYYY-MM-DD (default: the lake's first)."),
    end: str | None = typer.Option(
        None, "--to", help="UTC day after the last one, YYYY-MM-DD: exclusive (default: after the lake's last)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the numbers as one JSON object on stdout."),
    steps: str = typer.Option("view,add_to_cart,purchase", "--steps", help="Funnel steps, comma-separated."),
    funnel_window: str = typer.Option("24h", "--funnel-window", help="Conversion window from the first step."),
    session_gap: str = typer.Option("30m", "--session-gap", help="Inactivity that ends a session."),
    top_categories: int = typer.Option(20, "--top-categories", help="Categories in the funnel-by-category table."),
    memory_limit: str = typer.Option("1GB", "--memory-limit", help="DuckDB memory limit; it spills to disk beyond."),
    threads: int | None = typer.Option(None, "--threads", help="DuckDB threads (default: CPU count, at most 8)."),
) -> None:
    """DAU/WAU/MAU, retention cohorts, funnel, sessions, long tail and new vs returning users, as HTML and JSON.

    The range is half-open: `--from 2017-11-25 --to 2017-12-04` covers 2017-11-25 .. 2017-12-03.
    """
    from datetime import timedelta

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from feature_store.analytics import AnalyticsConfig, analytics_report
    from feature_store.analytics.render import write_html
    from feature_store.sql import DuckSettings

    with user_errors():
        if out is None and not as_json:
            raise InputError("nothing to do: give --out report.html and/or --json")
        step_list = tuple(s.strip() for s in steps.split(",") if s.strip())
        config = AnalyticsConfig(
            funnel_steps=step_list,
            funnel_window=timedelta(seconds=parse_duration(funnel_window, "--funnel-window")),
            session_gap=timedelta(seconds=parse_duration(session_gap, "--session-gap")),
            top_categories=top_categories,
            duck=DuckSettings(memory_limit=memory_limit, threads=threads),
        )
        console = stderr_console()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("analytics", total=None)
            report = analytics_report(
                lake, parse_day(start, "--from"), parse_day(end, "--to"), config,
                progress=lambda name: progress.update(task, description=f"analytics: {name}"),
            )
            if out is not None:
                progress.update(task, description="rendering the HTML report")
                write_html(report, out)
        if out is not None:
            console.print(f"report written to {out}", highlight=False)
        if as_json:
            emit_json(report)
