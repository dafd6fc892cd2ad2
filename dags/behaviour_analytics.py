"""Daily behaviour analytics: funnels, retention and sessions over the lake, rendered as an HTML report.

One run per UTC day (its data interval): the report for day D covers the ``analytics_window_days`` up to and
including D, is written to ``reports/analytics/behaviour-D.html``, and is rewritten, not appended
to, when the day is re-run. It is rendered by `feature_store.analytics.render_analytics` (DuckDB over the
lake); where that package is not installed the task is skipped with a log line, so the DAG always imports.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

# The DAG folder's shared package: Airflow 3 puts a bundle's folder on sys.path only in its own processes.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from recsys_dags.common import dag_defaults, parse_settings, run_settings

log = logging.getLogger(__name__)
PARSE_SETTINGS = parse_settings()


@task
def render_analytics(data_interval_end: datetime | None = None) -> str:
    """Report over the trailing window that ends with the run's data interval; returns the HTML's path."""
    settings = run_settings()
    if data_interval_end is None:
        raise AirflowFailException("this run has no data interval; trigger it with a logical date")
    try:
        from feature_store.analytics import render_analytics as render
    except ImportError:
        raise AirflowSkipException("feature_store.analytics is not installed: analytics report skipped") from None
    end = pendulum.instance(data_interval_end).in_tz("UTC").date()
    start = end - timedelta(days=settings.analytics_window_days)
    day = (end - timedelta(days=1)).isoformat()
    out = settings.reports_dir / "analytics" / f"behaviour-{day}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    path = render(settings.lake, out, start=start, end=end)
    log.info("behaviour analytics [%s, %s): %s", start, end, path)
    return str(path)


@dag(
    dag_id="behaviour_analytics",
    description="Daily behaviour analytics report over the lake.",
    schedule=CronDataIntervalTimetable(PARSE_SETTINGS.analytics_schedule, timezone="UTC"),
    **dag_defaults(PARSE_SETTINGS, "analytics", __doc__),
)
def behaviour_analytics() -> None:
    render_analytics()


behaviour_analytics()
