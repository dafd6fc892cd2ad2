"""Nightly experiment reports: every running experiment's report, from the lake's impressions and events.

One run per UTC day (its data interval, on the analytics schedule): for day D it writes
``reports/experiments/<name>-D.html`` for each running experiment with impressions, rewriting the same files when
the day is re-run. The report covers everything the lake holds for the experiment, so a look every night is
expected: its always-valid p-values stay valid under daily looks.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Variable, dag, task
from airflow.sdk.exceptions import AirflowFailException

from recsys.pipeline_settings import VARIABLE_NAME, PipelineSettings, load_settings

log = logging.getLogger(__name__)

PARSE_SETTINGS = PipelineSettings()  # environment only: parsing a DAG file must not hit the metadata DB


@dag(
    dag_id="experiment_reports",
    description="Nightly reports of the running online experiments.",
    schedule=CronDataIntervalTimetable(PARSE_SETTINGS.analytics_schedule, timezone="UTC"),
    start_date=pendulum.datetime(*PARSE_SETTINGS.start_date.timetuple()[:3], tz="UTC"),
    catchup=PARSE_SETTINGS.catchup,
    max_active_runs=1,
    default_args=PARSE_SETTINGS.default_args(),
    tags=["recsys", "experiments"],
    doc_md=__doc__,
)
def experiment_reports() -> None:
    @task
    def render_experiments(data_interval_end: datetime | None = None) -> list[str]:
        """One HTML report per running experiment for the run's day; returns their paths."""
        from recsys.experiments.render import render_running_reports

        settings = load_settings(Variable.get(VARIABLE_NAME, default=None))
        if data_interval_end is None:
            raise AirflowFailException("this run has no data interval; trigger it with a logical date")
        day = (pendulum.instance(data_interval_end).in_tz("UTC").date() - timedelta(days=1)).isoformat()
        paths = render_running_reports(settings.registry, settings.lake, settings.reports_dir / "experiments", day)
        log.info("experiment reports for %s: %s", day, paths or "no running experiment with impressions")
        return paths

    render_experiments()


experiment_reports()
