"""Daily behaviour analytics: funnels, retention and sessions over the lake, rendered as an HTML report.

One run per UTC day (its data interval); the report for day D is ``reports/analytics/behaviour-D.html`` and is
rewritten, not appended to, when the day is re-run. The renderer is `feature_store.analytics.render_analytics`;
where that module is not installed the task is skipped with a log line, so the DAG always imports.
"""

from __future__ import annotations

import inspect
import logging
from datetime import datetime, timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Variable, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from recsys.pipeline_settings import VARIABLE_NAME, PipelineSettings, load_settings

log = logging.getLogger(__name__)

PARSE_SETTINGS = PipelineSettings()  # environment only: parsing a DAG file must not hit the metadata DB


@dag(
    dag_id="behaviour_analytics",
    description="Daily behaviour analytics report over the lake.",
    schedule=CronDataIntervalTimetable(PARSE_SETTINGS.analytics_schedule, timezone="UTC"),
    start_date=pendulum.datetime(*PARSE_SETTINGS.start_date.timetuple()[:3], tz="UTC"),
    catchup=PARSE_SETTINGS.catchup,
    max_active_runs=1,
    default_args=PARSE_SETTINGS.default_args(),
    tags=["recsys", "analytics"],
    doc_md=__doc__,
)
def behaviour_analytics() -> None:
    @task
    def render_analytics(data_interval_start: datetime | None = None,
                         data_interval_end: datetime | None = None) -> str:
        """Render the report of the interval's last day over the lake's history up to it."""
        settings = load_settings(Variable.get(VARIABLE_NAME, default=None))
        if data_interval_end is None:
            raise AirflowFailException("this run has no data interval; trigger it with a logical date")
        try:
            from feature_store.analytics import render_analytics as render
        except ImportError:
            raise AirflowSkipException("feature_store.analytics is not installed: analytics report skipped") from None
        end = pendulum.instance(data_interval_end).in_tz("UTC").date()
        day = end - timedelta(days=1)
        out = settings.reports_dir / "analytics" / f"behaviour-{day.isoformat()}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        window = {"end": end} if "end" in inspect.signature(render).parameters else {}
        path = render(settings.lake, out, **window)
        log.info("behaviour analytics for %s: %s", day, path)
        return str(path)

    render_analytics()


behaviour_analytics()
