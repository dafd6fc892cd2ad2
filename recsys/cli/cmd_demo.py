"""`recsys demo`: the whole pipeline end to end on generated data, ending with the service running."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from recsys.cli.app import app, stderr_console, user_errors

log = logging.getLogger(__name__)

DEMO_MODELS = "popularity,itemknn,als,bpr,ease,sasrec,ranker"


@app.command()
def demo(
    workdir: Path = typer.Option(Path("demo_run"), help="Folder for the landing files, lake, registry and reports."),
    users: int = typer.Option(2000, help="Synthetic users."),
    items: int = typer.Option(800, help="Synthetic items."),
    days: int = typer.Option(21, help="Days of events."),
    seed: int = typer.Option(7, help="Random seed of the generator."),
    models: str = typer.Option(DEMO_MODELS, help="Comma-separated models to train."),
    epochs: int = typer.Option(8, help="Epochs for SASRec (it early-stops on validation NDCG@10)."),
    experiment: bool = typer.Option(True, help="Run a short simulated A/B experiment, popularity vs SASRec."),
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
        from recsys.catalog import load_catalog

        catalog = load_catalog(landing / "items.csv", lake)  # titles, categories, prices: filters and /items
        console.print(f"catalogue: {catalog.rows_accepted} items into {lake / 'items'}", highlight=False)
        console.rule("[bold]3. train, evaluate, register, promote")
        names = [m.strip() for m in models.split(",") if m.strip()]
        # Generated sessions are short: a 50-item window keeps the demo's SASRec quick. The ranker takes its
        # item categories from the lake's events.
        params = {"sasrec": {"max_len": 50}, "ranker": {"catalog": str(lake)}}
        with stage_bars() as progress:
            run = run_training(lake, registry, models=names, split="loo", epochs=epochs, promote=True,
                               progress=progress, params={k: v for k, v in params.items() if k in names})
        table = Table(title=f"offline metrics, run {run['run_id']} (leave-one-out, full ranking)")
        for col in ("model", "ndcg@10", "hr@10", "coverage@10", "train s", "version", "promoted"):
            table.add_column(col, justify="right" if col != "model" else "left")
        for name, m in run["models"].items():
            table.add_row(name, f"{m['ndcg@10']:.4f}", f"{m['hr@10']:.4f}", f"{m['coverage@10']:.4f}",
                          f"{m['train_seconds']:.1f}", str(m.get("version")), str(m.get("promoted")))
        console.print(table)
        console.rule("[bold]4. reports")
        _render_reports(registry, lake, reports, landing, str(run["run_id"]))
        if experiment and {"popularity", "sasrec"} <= set(run["models"]):
            console.rule("[bold]5. online experiment: popularity vs SASRec, simulated users")
            _experiment(registry, workdir, landing, min(users, 500))
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


def _experiment(registry: Path, workdir: Path, truth: Path, users: int) -> None:
    """Start an A/B experiment, play simulated users against the service on a free loopback port, ingest what it
    logged and print the report."""
    import socket
    import threading
    import time

    import uvicorn

    from recsys.experiments import Arm, Experiment, ExperimentStore
    from recsys.experiments.render import write_experiment_report
    from recsys.experiments.report import experiment_report
    from recsys.ingest import ingest
    from recsys.simulate.client import simulate
    from serving.app import create_app
    from serving.settings import Settings

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per simulated request otherwise
    name = "demo-popularity-vs-sasrec"
    store = ExperimentStore(registry)
    if any(e.name == name and e.running for e in store.list()):
        store.stop(name)
    store.start(Experiment(name, {"control": Arm("popularity"), "treatment": Arm("sasrec")},
                           {"control": 50, "treatment": 50}))
    served = workdir / "experiment-landing"
    settings = Settings(registry=registry, online_store_path=workdir / "experiment-online.sqlite",
                        landing_dir=served, reload_interval_s=0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        sim = simulate(f"http://127.0.0.1:{port}", truth, users=users, requests=3000, seed=1)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    store.stop(name)
    ingest([served], workdir / "lake")
    report = experiment_report(registry, workdir / "lake", name)
    out = write_experiment_report(report, workdir / "reports" / f"experiment-{name}.html")
    console = stderr_console()
    console.print(f"{sim.requests} simulated requests, {sim.clicks} clicks, {sim.purchases} purchases")
    for arm, s in report["arms"].items():
        console.print(f"  {arm:>9} ({s['offline']['model']}): users {s['users']}, CTR {s['ctr']:.4f}, "
                      f"conversion {s['conversion_rate']:.4f}, revenue/user {s['revenue_per_user']:.2f}",
                      highlight=False)
    lift = report["lift"]
    console.print(f"  CTR lift {lift['relative']:+.1%} (95% CI {lift['ci'][0]:+.1%} .. {lift['ci'][1]:+.1%}), "
                  f"p = {lift['p_value']:.2g}, always-valid p = {lift['always_valid_p_value']:.2g}, "
                  f"sample ratio ok: {report['srm']['ok']}", highlight=False)
    console.print(f"experiment report: [link=file://{out.resolve()}]{out.resolve()}[/]")


def _serve(registry: Path, workdir: Path, host: str, port: int) -> None:
    import secrets

    import uvicorn

    from serving.app import create_app
    from serving.settings import Settings

    token = secrets.token_urlsafe(9)
    settings = Settings(registry=registry, online_store_path=workdir / "online.sqlite", lake=workdir / "lake",
                        landing_dir=workdir / "landing", reports_dir=workdir / "reports", admin_token=token)
    base = f"http://{host}:{port}"
    console = stderr_console()
    console.rule("[bold]6. serving")
    console.print(
        "Try:\n"
        f"  curl '{base}/users/u1/recommendations?k=5'\n"
        f"  curl '{base}/users/u1/recommendations?k=5&model=sasrec'\n"
        f"  curl '{base}/users/u1/recommendations?k=5&model=ranker'  # two-stage: candidates re-ranked\n"
        f"  curl '{base}/users/nobody/recommendations?k=5'        # popularity fallback\n"
        f"  curl '{base}/items/i1/similar?k=5'\n"
        f"  curl -X POST '{base}/events' -H 'content-type: application/json' "
        "-d '[{\"user_id\":\"u1\",\"item_id\":\"i2\",\"event_type\":\"view\",\"ts\":\"2026-01-22T10:00:00Z\"}]'\n"
        f"  curl '{base}/models'   curl '{base}/metrics'   open {base}/docs   open {base}/reports/latest\n"
        f"  curl '{base}/experiments'   open {base}/experiments/demo-popularity-vs-sasrec\n"
        f"  open {base}/analytics/latest                            # behaviour report\n"
        f"Dashboard: {base}/ui  (sign in with the admin token {token})\n"
        "Ctrl-C stops the service.",
        soft_wrap=True,  # commands stay on one line, ready to copy
        highlight=False,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
