"""Nightly training: split the training window, train each configured model in parallel, register every
version, apply the promotion gate, ask the service to reload, render the offline metrics report of the run.

Schedule: `AssetOrTimeSchedule` — a run starts as soon as ``ingest_events`` updates the lake asset (fresh models
the moment a day's data passed its quality gate, and never after a failed ingestion), and the nightly cron is a
backstop that keeps the sliding window moving when data reaches the lake some other way (``recsys ingest``).
Either trigger alone can be configured (``RECSYS_TRAIN_SCHEDULE=''`` or ``RECSYS_TRAIN_ON_ASSET=false``).

The training window is ``[end - train_window_days, end)`` where `end` is, first match wins: the ``end`` param
(manual runs), the end of the data interval (cron runs), the newest ``end`` announced by the triggering asset
events (asset runs), else the run's date. Each model is its own task; models listed in ``gpu_models`` go to
``gpu_queue``/``gpu_pool`` (a Celery worker on the GPU machine serves that queue). Every task is one library call
keyed on the run (its window, its run id), so a retried task gives the same result: registering a run twice
returns the same versions.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

# The DAG folder's shared package: Airflow 3 puts a bundle's folder on sys.path only in its own processes.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from recsys_dags.common import LAKE_EVENTS, dag_defaults, parse_settings, run_settings
from recsys_dags.settings import PipelineSettings

log = logging.getLogger(__name__)
PARSE_SETTINGS = parse_settings()


def _schedule(settings: PipelineSettings) -> Any:
    nightly = (CronTriggerTimetable(settings.train_schedule, timezone="UTC")
               if settings.train_schedule else None)
    if settings.train_on_asset and nightly is not None:
        return AssetOrTimeSchedule(timetable=nightly, assets=LAKE_EVENTS)
    return LAKE_EVENTS if settings.train_on_asset else nightly


def _window_end(context: Any) -> date:
    """End (exclusive) of the training window, from the run itself — never from the wall clock."""
    if context["params"].get("end"):
        return date.fromisoformat(context["params"]["end"])
    if context.get("data_interval_end") is not None:
        return pendulum.instance(context["data_interval_end"]).in_tz("UTC").date()
    announced = [event.extra.get("end") for event in context["triggering_asset_events"].get(LAKE_EVENTS, [])]
    if announced := [a for a in announced if a]:
        return max(date.fromisoformat(str(a)) for a in announced)
    return pendulum.instance(context["dag_run"].run_after).in_tz("UTC").date()


def _routing(settings: PipelineSettings, model: str) -> dict[str, str]:
    """Queue/pool of a model's task; unset ones keep Airflow's defaults."""
    routing = {"queue": settings.queue_for(model), "pool": settings.pool_for(model)}
    return {k: v for k, v in routing.items() if v}


def registry_run_id(airflow_run_id: str) -> str:
    """The registry's run id for a DAG run, so a report line leads back to the Airflow run."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", airflow_run_id).strip("-.")[:64]



@task
def prepare_split() -> dict[str, str]:
    """Split the window's events into train/test once; every model task reads the same split."""
    from recsys.training import prepare_split as split_events

    settings = run_settings()
    start, end = settings.training_window(_window_end(get_current_context()))
    key = f"{start.isoformat()}_{end.isoformat()}"
    split_dir = split_events(settings.lake, settings.work_dir / "splits" / key, split=settings.split,
                             start=start, end=end)
    log.info("training window [%s, %s): split in %s", start, end, split_dir)
    return {"start": start.isoformat(), "end": end.isoformat(), "key": key, "split_dir": str(split_dir)}


@task
def train(split: dict[str, str], model: str) -> str:
    """Fit one model on the split and evaluate it; returns the trained folder (artifact + evaluation)."""
    from pathlib import Path

    from recsys.training import production_artifact, train_model, with_catalog

    settings = run_settings()
    warm = settings.warm_start_on(date.fromisoformat(split["end"]))
    params = with_catalog(model, settings.model_params.get(model), settings.lake)
    return str(train_model(Path(split["split_dir"]), model, settings.work_dir / "trained" / split["key"] / model,
                           params=params, device=settings.device, epochs=settings.epochs.get(model),
                           seed=settings.seed, refit_epochs=settings.refit_epochs,
                           validation_users=settings.validation_users,
                           warm_from=production_artifact(settings.registry, model) if warm else None))


@task
def register(trained: list[str], run_id: str | None = None) -> dict[str, Any]:
    """Register every trained model as a registry version and record the run (no promotion yet). Keyed on the
    Airflow run: a retry returns the versions the first try registered."""
    from pathlib import Path

    from recsys.jsonutil import to_jsonable
    from recsys.training import register_models

    settings = run_settings()
    return to_jsonable(register_models([Path(p) for p in trained], settings.registry, promote=False,
                                       metric=settings.gate_metric, tolerance=settings.gate_tolerance,
                                       run_id=registry_run_id(run_id or "manual")))


@task
def promote(registered: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply the promotion gate to each new version: production moves only when the metric holds up.
    The decisions are added to the run record, so the offline report shows them."""
    from recsys.alerts import notify, run_alerts
    from recsys.jsonutil import to_jsonable
    from recsys.training import promote_run

    settings = run_settings()
    decisions = promote_run(settings.registry, registered["run_id"], metric=settings.gate_metric,
                            tolerance=settings.gate_tolerance)
    notify(settings.alert_webhook, run_alerts(settings.registry, registered["run_id"], metric=settings.gate_metric,
                                              drop=settings.alert_metric_drop))
    return to_jsonable(decisions)


@task
def reload_service(decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """Ask the running service to load the new production models (skipped when there is nothing to do)."""
    from recsys.service_client import ServiceAuthError, reload_models

    settings = run_settings()
    if not settings.service_url:
        raise AirflowSkipException("no service_url configured: nothing to reload")
    if not any(d.get("promoted") for d in decisions):
        raise AirflowSkipException("no model was promoted: the service keeps its models")
    token = settings.admin_token.get_secret_value() if settings.admin_token is not None else None
    try:
        return reload_models(settings.service_url, admin_token=token, timeout_s=settings.reload_timeout_s)
    except ServiceAuthError as err:  # other errors are retried with backoff
        raise AirflowFailException(str(err)) from err


@task
def render_report(registered: dict[str, Any], decisions: list[dict[str, Any]]) -> str:
    """Render the offline metrics report of this run as ``reports/<run_id>.html``."""
    from recsys.report import render_report as render

    settings = run_settings()
    run_id = registered["run_id"]
    items = settings.landing / settings.items_file
    return str(render(settings.registry, settings.reports_dir / f"{run_id}.html", run_id=run_id,
                      titles=items if items.is_file() else None))


@dag(
    dag_id="train_recommenders",
    description="Split -> train each model -> register -> gate -> reload the service -> offline report.",
    schedule=_schedule(PARSE_SETTINGS),
    params={
        "end": Param(None, type=["null", "string"], format="date",
                     description="Train on events before this UTC date (YYYY-MM-DD); empty = from the run."),
    },
    **dag_defaults(PARSE_SETTINGS, "training", __doc__),
)
def train_recommenders() -> None:
    split = prepare_split()
    tasks = {model: train.override(task_id=f"train_{model}", **_routing(PARSE_SETTINGS, model))(split, model)
             for model in PARSE_SETTINGS.models}
    for model, retrievers in _retrievers(PARSE_SETTINGS).items():
        for retriever in retrievers:
            tasks[retriever] >> tasks[model]  # the ranker trains after its retrievers (it refits them itself)
    registered = register(list(tasks.values()))
    decisions = promote(registered)
    reload_service(decisions)
    render_report(registered, decisions)


def _retrievers(settings: PipelineSettings) -> dict[str, list[str]]:
    """For a configured ``ranker``, the configured models among its retrievers (its task runs after theirs)."""
    from recsys.ranking import DEFAULT_RETRIEVERS

    if "ranker" not in settings.models:
        return {}
    raw = (settings.model_params.get("ranker") or {}).get("retrievers", DEFAULT_RETRIEVERS)
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    return {"ranker": [n.strip() for n in names if n.strip() in settings.models and n.strip() != "ranker"]}


train_recommenders()
