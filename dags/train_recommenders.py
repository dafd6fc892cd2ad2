"""Nightly training: split the training window, train each configured model in parallel, register every
version, apply the promotion gate, ask the service to reload, render the offline metrics report.

Schedule: `AssetOrTimeSchedule` — a run starts as soon as ``ingest_events`` updates the lake asset (fresh models
the moment a day's data passed its quality gate, and never after a failed ingestion), and the nightly cron is a
backstop that keeps the sliding window moving when data reaches the lake some other way (``recsys ingest``).
Either trigger alone can be configured (``RECSYS_TRAIN_SCHEDULE=''`` or ``RECSYS_TRAIN_ON_ASSET=false``).

The training window is ``[end - train_window_days, end)`` where `end` is, first match wins: the ``end`` param
(manual runs), the end of the data interval (cron runs), the newest ``end`` announced by the triggering asset
events (asset runs), else the run's date. Each model is its own task; models listed in ``gpu_models`` go to
``gpu_queue``/``gpu_pool`` (a Celery worker on the GPU machine serves that queue).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from typing import Any

import pendulum
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    Variable,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from recsys.pipeline_settings import (
    LAKE_EVENTS_ASSET_NAME,
    LAKE_EVENTS_ASSET_URI,
    VARIABLE_NAME,
    PipelineSettings,
    load_settings,
)

log = logging.getLogger(__name__)

PARSE_SETTINGS = PipelineSettings()  # environment only: parsing a DAG file must not hit the metadata DB
LAKE_EVENTS = Asset(name=LAKE_EVENTS_ASSET_NAME, uri=LAKE_EVENTS_ASSET_URI)


def _settings() -> PipelineSettings:
    """Run-time settings: the environment with the Airflow Variable's overrides on top."""
    return load_settings(Variable.get(VARIABLE_NAME, default=None))


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


@dag(
    dag_id="train_recommenders",
    description="Split -> train each model -> register -> gate -> reload the service -> offline report.",
    schedule=_schedule(PARSE_SETTINGS),
    start_date=pendulum.datetime(*PARSE_SETTINGS.start_date.timetuple()[:3], tz="UTC"),
    catchup=PARSE_SETTINGS.catchup,
    max_active_runs=1,
    default_args=PARSE_SETTINGS.default_args(),
    params={
        "end": Param(None, type=["null", "string"], format="date",
                     description="Train on events before this UTC date (YYYY-MM-DD); empty = from the run."),
    },
    tags=["recsys", "training"],
    doc_md=__doc__,
)
def train_recommenders() -> None:
    @task
    def prepare_split() -> dict[str, str]:
        """Split the window's events into train/test once; every model task reads the same split."""
        from recsys.training import prepare_split as split_events

        settings = _settings()
        start, end = settings.training_window(_window_end(get_current_context()))
        key = f"{start.isoformat()}_{end.isoformat()}"
        split_dir = split_events(settings.lake, settings.work_dir / "splits" / key, split=settings.split,
                                 start=start, end=end)
        log.info("training window [%s, %s): split in %s", start, end, split_dir)
        return {"start": start.isoformat(), "end": end.isoformat(), "key": key, "split_dir": str(split_dir)}

    @task
    def train(split: dict[str, str], model: str) -> str:
        """Fit one model on the split and evaluate it; returns the trained artifact's folder."""
        from pathlib import Path

        from recsys.training import train_model

        settings = _settings()
        out = train_model(Path(split["split_dir"]), model, settings.work_dir / "trained" / split["key"] / model,
                          params=settings.model_params.get(model), device=settings.device,
                          epochs=settings.epochs.get(model), seed=settings.seed)
        log.info("%s trained: %s", model, out)
        return str(out)

    @task
    def register(trained: list[str]) -> dict[str, Any]:
        """Register every trained model as a new registry version and record the run (no promotion yet)."""
        from pathlib import Path

        from recsys.training import register_models

        settings = _settings()
        run = register_models([Path(p) for p in trained], settings.registry, promote=False,
                              metric=settings.gate_metric, tolerance=settings.gate_tolerance,
                              run_id=_registry_run_id(get_current_context()["run_id"]))
        summary = _summary(run, settings.gate_metric)
        log.info("registered %s", summary)
        return summary

    @task
    def promote(registered: dict[str, Any]) -> list[dict[str, Any]]:
        """Apply the promotion gate to each new version: production moves only when the metric holds up.
        The decisions are added to the run record, so the offline report shows them."""
        from recsys.training import promote_run

        settings = _settings()
        decisions = promote_run(settings.registry, registered["run_id"], metric=settings.gate_metric,
                                tolerance=settings.gate_tolerance)
        return [_jsonable(d) for d in decisions]

    @task
    def reload_service(decisions: list[dict[str, Any]]) -> dict[str, Any]:
        """Ask the running service to load the new production models (skipped when there is nothing to do)."""
        settings = _settings()
        if not settings.service_url:
            raise AirflowSkipException("no service_url configured: nothing to reload")
        if not any(d.get("promoted") for d in decisions):
            raise AirflowSkipException("no model was promoted: the service keeps its models")
        import httpx

        headers = {}
        if settings.admin_token is not None:
            headers["Authorization"] = f"Bearer {settings.admin_token.get_secret_value()}"
        url = settings.service_url.rstrip("/") + "/admin/reload"
        response = httpx.post(url, headers=headers, timeout=settings.reload_timeout_s)
        if response.status_code in (401, 403):
            raise AirflowFailException(f"{url} refused the admin token ({response.status_code}); "
                                       "set admin_token to the service's admin token")
        response.raise_for_status()  # other errors are retried with backoff
        log.info("service reloaded: %s", response.text[:500])
        return {"url": url, "status": response.status_code}

    @task
    def render_report(registered: dict[str, Any], decisions: list[dict[str, Any]]) -> str | None:
        """Render the offline metrics report of the registry's runs (when the report module is installed)."""
        settings = _settings()
        try:
            from recsys.report import render_report as render
        except ImportError:
            log.warning("recsys.report is not installed: offline metrics report skipped")
            return None
        out = settings.reports_dir / "offline-metrics.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        items = settings.landing / settings.items_file
        path = render(settings.registry, out, titles=items if items.is_file() else None)
        log.info("offline metrics report of run %s: %s", registered.get("run_id"), path)
        return str(path)

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


def _routing(settings: PipelineSettings, model: str) -> dict[str, str]:
    """Queue/pool of a model's task; unset ones keep Airflow's defaults."""
    routing = {"queue": settings.queue_for(model), "pool": settings.pool_for(model)}
    return {k: v for k, v in routing.items() if v}


def _registry_run_id(airflow_run_id: str) -> str:
    """The registry's run id for this DAG run, so a report line leads back to the Airflow run."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", airflow_run_id).strip("-.")[:64]


def _summary(run: dict[str, Any], metric: str) -> dict[str, Any]:
    """The small part of a training run record that travels through XCom."""
    keep = ("version", "ndcg@10", "hr@10", "coverage@10", "train_seconds", metric)
    models = {name: {k: _jsonable(v) for k, v in entry.items() if k in keep}
              for name, entry in run.get("models", {}).items()}
    return {"run_id": run.get("run_id"), "models": models}


def _jsonable(value: Any) -> Any:
    """Plain JSON values for XCom (numpy scalars, paths and dates become floats/strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


train_recommenders()
