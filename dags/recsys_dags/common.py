"""The preamble of every DAG file: parse-time settings, run-time settings, the lake asset, the DAG defaults."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, Variable

from recsys_dags.settings import LAKE_EVENTS_ASSET_NAME, LAKE_EVENTS_ASSET_URI, VARIABLE_NAME, PipelineSettings
from recsys_dags.settings import load_settings as _load

LAKE_EVENTS = Asset(name=LAKE_EVENTS_ASSET_NAME, uri=LAKE_EVENTS_ASSET_URI)


def parse_settings() -> PipelineSettings:
    """Parse-time settings (the DAG's shape: schedules, models, routing): the environment only, since parsing a
    DAG file must not hit the metadata DB. Each DAG file calls it when it is parsed."""
    return PipelineSettings()


def run_settings() -> PipelineSettings:
    """Run-time settings (inside a task): the environment with the Airflow Variable's overrides on top."""
    return _load(Variable.get(VARIABLE_NAME, default=None))


def dag_defaults(settings: PipelineSettings, tag: str, doc: str | None) -> dict[str, Any]:
    """The `@dag` arguments every DAG shares: start date, catch-up, one active run, task retries and timeout,
    the tags (``recsys`` and `tag`) and the documentation (the DAG file's docstring, `doc`)."""
    return {
        "tags": ["recsys", tag],
        "doc_md": doc,
        "start_date": pendulum.datetime(*settings.start_date.timetuple()[:3], tz="UTC"),
        "catchup": settings.catchup,
        "max_active_runs": 1,
        "default_args": {**settings.default_args(), "on_failure_callback": alert_on_failure},
    }


def alert_on_failure(context: Any) -> None:
    """A task failed for good (after its retries): tell the team's webhook, when one is configured."""
    from recsys.alerts import send_alert, task_failed

    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or str(context.get("dag_id", "?"))
    task_id = getattr(ti, "task_id", None) or "?"
    send_alert(run_settings().alert_webhook,
               task_failed(dag_id, task_id, context.get("exception"), run_id=context.get("run_id"),
                           try_number=getattr(ti, "try_number", None)))
