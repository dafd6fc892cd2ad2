"""`recsys generate`: write a synthetic event log (daily JSON Lines files plus items.csv)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Folder for events-YYYY-MM-DD.jsonl files and items.csv."),
    users: int = typer.Option(1000, "--users", min=1, help="Number of users."),
    items: int = typer.Option(500, "--items", min=1, help="Number of items."),
    days: int = typer.Option(14, "--days", min=1, help="Number of days (one file per UTC day)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same files."),
    start: str = typer.Option("2026-01-01", "--start", help="First day, YYYY-MM-DD."),
    categories: int = typer.Option(20, "--categories", min=1, help="Number of item categories."),
    malformed_rate: float = typer.Option(0.0, "--malformed-rate", min=0.0, max=0.99,
                                         help="Share of extra malformed rows mixed in (quarantine demos)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Generate synthetic e-commerce events: tastes, long-tail popularity, sessions, a purchase funnel."""
    from recsys.errors import InputError
    from recsys.generate import generate_events

    with user_errors():
        try:
            first = date.fromisoformat(start)
        except ValueError as err:
            raise InputError(f"--start must be a date YYYY-MM-DD, got {start!r}") from err
        t0 = datetime.now()
        with stderr_console().status(f"generating {days} days of events for {users} users ..."):
            report = generate_events(out, users=users, items=items, days=days, seed=seed, start=first,
                                     malformed_rate=malformed_rate, categories=categories)
        summary = report.to_dict() | {"seconds": round((datetime.now() - t0).total_seconds(), 3)}
        if as_json:
            emit_json(summary)
        else:
            stderr_console().print(
                f"wrote {report.events:,} events ({report.malformed:,} malformed rows) in {len(report.files)} files "
                f"and items.csv to {out}", highlight=False)
