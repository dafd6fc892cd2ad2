"""`recsys simulate`: simulated users (from `recsys generate`'s ground truth) against the running service."""

from __future__ import annotations

from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors


@app.command()
def simulate(
    service: str = typer.Option(..., "--service", help="Base URL of the service (loopback only)."),
    truth: Path = typer.Option(..., "--truth", help="The folder `recsys generate --out` wrote (truth.npz)."),
    users: int = typer.Option(100, "--users", min=1, help="Simulated users (u0 .. u{N-1})."),
    requests: int = typer.Option(1000, "--requests", min=1, help="Recommendation requests to play."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same actions."),
    k: int = typer.Option(10, "--k", min=1, max=100, help="List length asked for."),
    max_seconds: float = typer.Option(600.0, "--max-seconds", min=1.0, help="Stop after this long."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as one JSON object on stdout."),
) -> None:
    """Ask for recommendations, examine lists with a position bias, click and buy by true tastes, post events."""
    import logging

    from recsys.simulate.client import simulate as run

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per simulated request otherwise
    with user_errors():
        report = run(service, truth, users=users, requests=requests, seed=seed, k=k, max_seconds=max_seconds)
        if as_json:
            emit_json(report.to_dict())
            return
        stderr_console().print(f"{report.requests} requests, {report.clicks} clicks, {report.purchases} purchases "
                               f"in {report.seconds:.1f} s; by arm {report.by_arm}", highlight=False)
