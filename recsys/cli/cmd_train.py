"""`recsys train`: split the lake, train and evaluate models, register them (optionally promote), print a table."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors

DEFAULT_MODELS = "popularity,itemknn,als,bpr,ease,sasrec"


@app.command()
def train(
    lake: Path = typer.Option(..., "--lake", help="The Parquet lake written by `recsys ingest`."),
    registry: Path = typer.Option(..., "--registry", help="Model registry folder (created if missing)."),
    models: str = typer.Option(DEFAULT_MODELS, "--models", help="Comma-separated model names."),
    split: str = typer.Option("loo", "--split", help="loo (leave-one-out) or temporal (global cut-off time)."),
    cutoff: str | None = typer.Option(None, "--cutoff",
                                      help="Temporal split: train on events before this UTC time (ISO-8601); "
                                           "default: 80% of the events before it."),
    start: str | None = typer.Option(None, "--from", help="First day of the data window (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--to", help="Day after the data window (YYYY-MM-DD, exclusive)."),
    promote: bool = typer.Option(False, "--promote", help="Gate each new version into the production alias."),
    metric: str = typer.Option("ndcg@10", "--metric", help="Metric of the promotion gate."),
    tolerance: float = typer.Option(0.0, "--tolerance", min=0.0, help="Allowed drop of the gate metric."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (models that can use a GPU)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1,
                                      help="Epochs of the epoch-trained models (SASRec); implicit's models take "
                                           "--param als.iterations=N."),
    param: list[str] = typer.Option([], "--param", help="Hyper-parameter MODEL.KEY=VALUE (repeatable); VALUE is "
                                                        "read as JSON when it parses, else as text."),
    weight: list[str] = typer.Option([], "--weight", help="Event-type weight TYPE=W (repeatable), e.g. purchase=5."),
    rating_threshold: float | None = typer.Option(None, "--rating-threshold",
                                                  help="Drop rating events below this value."),
    seed: int = typer.Option(0, "--seed", help="Random seed of every model and of the bootstrap."),
    refit: bool = typer.Option(True, "--refit/--no-refit", help="Refit early-stopping models (SASRec) on the whole "
                               "training period for their best epoch count (about twice the training time)."),
    refit_epochs: int | None = typer.Option(None, "--refit-epochs", min=1,
                                            help="Refit by continuing the early-stopped model this many epochs on "
                                                 "the whole period (instead of training again from scratch)."),
    validation_users: float | None = typer.Option(
        None, "--validation-users", min=0.0, max=1.0,
        help="Early-stop on this share of the users only and train on everyone else's validation events, with no "
             "refit (e.g. 0.1: under half of today's SASRec time; see bench/results/refit.md)."),
    warm_start: bool = typer.Option(False, "--warm-start/--cold-start",
                                    help="Start each model that can (SASRec, ALS) from the version holding "
                                         "production: known items keep their embeddings, new items start fresh."),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="Keep the split and trained models here "
                                         "(default: REGISTRY/_work/train-*, removed after the run, or by the next "
                                         "run or `registry gc` if it was killed)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout (the table goes to stderr)."),
) -> None:
    """Train and evaluate recommenders on the lake (full-ranking evaluation), then register them."""
    from rich.console import Console

    from recsys.cli.progress import stage_bars
    from recsys.errors import InputError
    from recsys.training import run_training

    with user_errors(), stage_bars() as progress:
        if device not in ("auto", "cpu", "cuda"):
            raise InputError(f"--device must be auto, cpu or cuda, got {device!r}")
        names = [m.strip() for m in models.split(",") if m.strip()]
        result = run_training(
            lake, registry, models=names, split=split, start=_date(start, "--from"), end=_date(end, "--to"),
            cutoff=_datetime(cutoff, "--cutoff"), weights=_weights(weight), rating_threshold=rating_threshold,
            params=_params(param), device=device, epochs=epochs, seed=seed, refit=refit, refit_epochs=refit_epochs,
            validation_users=validation_users, warm_start=warm_start, promote=promote, metric=metric,
            tolerance=tolerance, work_dir=work_dir,
            progress=progress,
        )
    console = stderr_console() if as_json else Console()
    if not console.is_terminal:
        console.width = max(console.width, 130)  # a piped table keeps its columns readable
    console.print(_table(result, split))
    if as_json:
        emit_json(result)


def _table(result: dict[str, Any], split: str) -> Any:
    from rich.table import Table

    table = Table(title=f"run {result['run_id']}: {split} split, full ranking over the catalog")
    for col in ("model", "ndcg@10", "95% CI", "hr@10", "mrr@10", "coverage@10", "train s", "version", "promoted"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in result["models"].items():
        ci = m.get("ndcg@10_ci95")
        table.add_row(name, f"{m['ndcg@10']:.4f}", f"{ci[0]:.4f}-{ci[1]:.4f}" if ci else "",
                      f"{m['hr@10']:.4f}", f"{m.get('mrr@10', float('nan')):.4f}", f"{m['coverage@10']:.3f}",
                      f"{m['train_seconds']:.2f}", str(m.get("version")),
                      "" if m.get("promoted") is None else str(m["promoted"]).lower())
    return table


def _date(text: str | None, option: str) -> date | None:
    from recsys.errors import InputError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise InputError(f"{option} must be a date YYYY-MM-DD, got {text!r}") from err


def _datetime(text: str | None, option: str) -> datetime | None:
    from recsys.errors import InputError

    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise InputError(f"{option} must be an ISO-8601 time (e.g. 2026-01-10T00:00:00Z), got {text!r}") from err


def _params(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["sasrec.hidden=64"]`` -> ``{"sasrec": {"hidden": 64}}``."""
    from recsys.errors import InputError

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        model, dot, name = key.strip().partition(".")
        if not sep or not dot or not model or not name:
            raise InputError(f"--param must look like MODEL.KEY=VALUE (e.g. als.factors=64), got {item!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(model, {})[name] = value
    return out


def _weights(items: list[str]) -> dict[str, float] | None:
    from recsys.errors import InputError

    out = {}
    for item in items:
        kind, sep, raw = item.partition("=")
        try:
            out[kind.strip().lower()] = float(raw)
        except ValueError:
            sep = ""
        if not sep or not kind.strip():
            raise InputError(f"--weight must look like TYPE=NUMBER (e.g. purchase=5), got {item!r}")
    return out or None
