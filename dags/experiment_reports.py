"""Nightly experiment reports: every running experiment's report, from the lake's impressions and events.

One run per UTC day (its data interval, on the analytics schedule): for day D it writes
``reports/experiments/<name>-D.html`` for each running experiment with impressions, rewriting the same files when
the day is re-run. The report covers everything the lake holds for the experiment, so a look every night is
expected: its always-valid p-values stay valid under daily looks.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from airflow.sdk.exceptions import AirflowFailException

# The DAG folder's shared package: Airflow 3 puts a bundle's folder on sys.path only in its own processes.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from recsys_dags.common import dag_defaults, parse_settings, run_settings

log = logging.getLogger(__name__)
PARSE_SETTINGS = parse_settings()


@task
def render_experiments(data_interval_end: datetime | None = None) -> list[str]:
    """One HTML report per running experiment for the run's day; returns their paths."""
    from recsys.experiments.render import render_running_reports

    settings = run_settings()
    if data_interval_end is None:
        raise AirflowFailException("this run has no data interval; trigger it with a logical date")
    day = (pendulum.instance(data_interval_end).in_tz("UTC").date() - timedelta(days=1)).isoformat()
    paths = render_running_reports(settings.registry, settings.lake, settings.reports_dir / "experiments", day)
    log.info("experiment reports for %s: %s", day, paths or "no running experiment with impressions")
    return paths


@dag(
    dag_id="experiment_reports",
    description="Nightly reports of the running online experiments.",
    schedule=CronDataIntervalTimetable(PARSE_SETTINGS.analytics_schedule, timezone="UTC"),
    **dag_defaults(PARSE_SETTINGS, "experiments", __doc__),
)
def experiment_reports() -> None:
    render_experiments()


experiment_reports()
