"""`recsys demo`: the whole pipeline end to end on generated data, ending with the service running."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from recsys.cli.app import app, stderr_console, user_errors

log = logging.getLogger(__name__)

DEMO_MODELS = "popularity,itemknn,als,bpr,ease,sasrec"


@app.command()
def demo(
    workdir: Path = typer.Option(Path("demo_run"), help="Folder for the landing files, lake, registry and reports."),
    users: int = typer.Option(2000, help="Synthetic users."),
    items: int = typer.Option(800, help="Synthetic items."),
    days: int = typer.Option(21, help="Days of events."),
    seed: int = typer.Option(7, help="Random seed of the generator."),
    models: str = typer.Option(DEMO_MODELS, help="Comma-separated models to train."),
    epochs: int = typer.Option(8, help="Epochs for SASRec (it early-stops on validation NDCG@10)."),
    serve: bool = typer.Option(True, help="End by serving the production models over HTTP."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
) -> None:
    """Generate events, ingest them, train and evaluate every model, register and promote, render the
    reports, then serve recommendations on localhost."""
    from rich.table import Table

    from recsys.cli.progress import stage_bars
    from recsys.generate import generate_events
    from recsys.ingest import ingest
    from recsys.training import run_training

    console = stderr_console()
    landing, lake, registry = workdir / "landing", workdir / "lake", workdir / "registry"
    reports = workdir / "reports"
    with user_errors():
        console.rule("[bold]1. generate synthetic events")
        gen = generate_events(landing, users=users, items=items, days=days, seed=seed, malformed_rate=0.002)
        console.print(gen)
        console.rule("[bold]2. ingest into the Parquet lake")
        sources = sorted(landing.glob("events-*.jsonl"))
        summary = ingest(sources, lake).to_dict()
        console.print({k: summary[k] for k in ("rows_read", "rows_written", "rows_quarantined", "duplicates")})
        console.rule("[bold]3. train, evaluate, register, promote")
        with stage_bars() as progress:
            run = run_training(lake, registry, models=[m.strip() for m in models.split(",") if m.strip()],
                               split="loo", epochs=epochs, promote=True, progress=progress,
                               # Generated sessions are short: a 50-item window keeps the demo's SASRec quick.
                               params={"sasrec": {"max_len": 50}})
        table = Table(title=f"offline metrics, run {run['run_id']} (leave-one-out, full ranking)")
        for col in ("model", "ndcg@10", "hr@10", "coverage@10", "train s", "version", "promoted"):
            table.add_column(col, justify="right" if col != "model" else "left")
        for name, m in run["models"].items():
            table.add_row(name, f"{m['ndcg@10']:.4f}", f"{m['hr@10']:.4f}", f"{m['coverage@10']:.4f}",
                          f"{m['train_seconds']:.1f}", str(m.get("version")), str(m.get("promoted")))
        console.print(table)
        console.rule("[bold]4. reports")
        _render_reports(registry, lake, reports, landing, str(run["run_id"]))
    if serve:
        _serve(registry, workdir, host, port)


def _render_reports(registry: Path, lake: Path, reports: Path, landing: Path, run_id: str) -> None:
    console = stderr_console()
    reports.mkdir(parents=True, exist_ok=True)
    try:
        from recsys.report import render_report
    except ImportError:
        log.warning("offline report renderer not installed; skipping")
    else:
        out = render_report(registry, reports / f"{run_id}.html", run_id=run_id, titles=landing / "items.csv")
        console.print(f"offline metrics report: [link=file://{Path(out).resolve()}]{Path(out).resolve()}[/]")
    try:
        from feature_store.analytics import render_analytics
    except ImportError:
        log.warning("behaviour analytics not installed; skipping")
    else:
        out = render_analytics(lake, reports / "behaviour-analytics.html")
        console.print(f"behaviour analytics report: [link=file://{Path(out).resolve()}]{Path(out).resolve()}[/]")


def _serve(registry: Path, workdir: Path, host: str, port: int) -> None:
    import uvicorn

    from serving.app import create_app
    from serving.settings import Settings

    settings = Settings(registry=registry, online_store_path=workdir / "online.sqlite",
                        landing_dir=workdir / "landing", reports_dir=workdir / "reports")
    base = f"http://{host}:{port}"
    console = stderr_console()
    console.rule("[bold]5. serving")
    console.print(
        "Try:\n"
        f"  curl '{base}/users/u1/recommendations?k=5'\n"
        f"  curl '{base}/users/u1/recommendations?k=5&model=sasrec'\n"
        f"  curl '{base}/users/nobody/recommendations?k=5'        # popularity fallback\n"
        f"  curl '{base}/items/i1/similar?k=5'\n"
        f"  curl -X POST '{base}/events' -H 'content-type: application/json' "
        "-d '[{\"user_id\":\"u1\",\"item_id\":\"i2\",\"event_type\":\"view\",\"ts\":\"2026-01-22T10:00:00Z\"}]'\n"
        f"  curl '{base}/models'   curl '{base}/metrics'   open {base}/docs   open {base}/reports/latest\n"
        "Ctrl-C stops the service.",
        soft_wrap=True,  # commands stay on one line, ready to copy
        highlight=False,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
