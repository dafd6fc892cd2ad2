"""Daily ingestion: the landing folder's raw files of the run's data interval go into the Parquet lake.

Each run covers its data interval (by default the previous UTC day, ``events-YYYY-MM-DD.jsonl``) and calls
`recsys.ingest.ingest`, which is idempotent: a retry or a backfill of the same interval leaves the lake as it
was. A quality gate (`recsys.ingest.quarantine_gate`) fails the run, without retrying, when a source is damaged
(a cut gzip) or the share of quarantined rows exceeds ``max_quarantine_rate``; only a run that passes it updates
the ``recsys_lake_events`` asset, which in turn triggers ``train_recommenders``.

Configuration: `recsys_dags.settings.PipelineSettings` (env ``RECSYS_*``, Airflow Variable ``recsys_settings``).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

# The DAG folder's shared package: Airflow 3 puts a bundle's folder on sys.path only in its own processes.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from recsys_dags.common import LAKE_EVENTS, dag_defaults, parse_settings, run_settings
from recsys_dags.settings import VARIABLE_NAME

log = logging.getLogger(__name__)
PARSE_SETTINGS = parse_settings()


def _interval_days(start: datetime | None, end: datetime | None) -> list[date]:
    """UTC days ``start <= day < end`` of a data interval (a one-day interval gives one day)."""
    if start is None or end is None:
        raise AirflowFailException(
            "this run has no data interval; trigger ingest_events with a logical date (the run ingests the "
            "schedule interval before it) or backfill it: `airflow backfill create --dag-id ingest_events ...`")
    first, last = pendulum.instance(start).in_tz("UTC").date(), pendulum.instance(end).in_tz("UTC").date()
    days = [first + timedelta(days=i) for i in range((last - first).days)]
    return days or [first]


@task
def landing_files(data_interval_start: datetime | None = None, data_interval_end: datetime | None = None) -> list[str]:
    """Raw files of the interval's days. A missing file fails the try, so retries wait for late data."""
    settings = run_settings()
    days = _interval_days(data_interval_start, data_interval_end)
    files = [settings.landing_file(day) for day in days]
    missing = [str(f) for f in files if not f.is_file()]
    if missing and settings.require_landing_files:
        raise AirflowException(f"raw files not landed yet for {len(missing)} day(s): {missing}")
    present = [str(f) for f in files if f.is_file()]
    log.info("days %s..%s: %d raw file(s) in %s", days[0], days[-1], len(present), settings.landing)
    return present


@task
def ingest(sources: list[str], data_interval_end: datetime | None = None) -> dict[str, Any]:
    """Write the files into the lake; returns the ingestion counts (a small summary, not the data).
    Timestamps are judged against the interval's end, not the wall clock, so a re-run decides the same."""
    from pathlib import Path

    from recsys.ingest import ingest as ingest_sources

    settings = run_settings()
    if not sources:
        return {"rows_read": 0, "rows_written": 0, "rows_quarantined": 0, "duplicates": 0, "sources": []}
    # a stdlib datetime: pendulum's DateTime breaks timedelta arithmetic in the validator
    now = datetime.fromtimestamp(data_interval_end.timestamp(), tz=UTC) if data_interval_end else None
    report = ingest_sources([Path(s) for s in sources], settings.lake, now=now).to_dict()
    summary = {k: v for k, v in report.items() if isinstance(v, int | float | str | bool) or v is None}
    summary.update(sources=sources, partitions=report.get("partitions", []), reasons=report.get("reasons", {}),
                   errors=report.get("errors", []))
    log.info("ingested %s", summary)
    return summary


@task(outlets=[LAKE_EVENTS], retries=0)
def quality_gate(report: dict[str, Any], data_interval_start: datetime | None = None,
                 data_interval_end: datetime | None = None) -> dict[str, Any]:
    """Fail loudly above the quarantine threshold; otherwise announce the new lake data downstream."""
    from recsys.ingest import quarantine_gate

    settings = run_settings()
    verdict = quarantine_gate(report, settings.max_quarantine_rate)
    from recsys.alerts import rate_jump, send_alert

    send_alert(settings.alert_webhook, rate_jump("quarantine", verdict.rate, None))
    if not verdict.passed:
        raise AirflowFailException(
            f"{verdict.reason()}; inspect {settings.lake / 'quarantine'} and fix the source "
            f"(or raise max_quarantine_rate in the Variable {VARIABLE_NAME!r}) before re-running")
    days = _interval_days(data_interval_start, data_interval_end)
    extra = {"start": days[0].isoformat(), "end": (days[-1] + timedelta(days=1)).isoformat(),
             "rows_written": verdict.rows_written, "quarantine_rate": round(verdict.rate, 6)}
    get_current_context()["outlet_events"][LAKE_EVENTS].extra = extra
    log.info("%s: lake updated for %s", verdict.reason(), extra)
    return extra


@dag(
    dag_id="ingest_events",
    description="Landing files of the data interval -> Parquet lake, with a quarantine-rate gate.",
    schedule=CronDataIntervalTimetable(PARSE_SETTINGS.ingest_schedule, timezone="UTC"),
    **dag_defaults(PARSE_SETTINGS, "ingestion", __doc__),
)
def ingest_events() -> None:
    quality_gate(ingest(landing_files()))


ingest_events()
