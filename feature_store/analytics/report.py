"""One call that computes every behaviour metric over a date range of the lake."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from feature_store.analytics import metrics, quality
from feature_store.sql import DuckSettings, lake_connection
from recsys.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_FUNNEL = ("view", "add_to_cart", "purchase")


@dataclass(frozen=True)
class AnalyticsConfig:
    """What the report measures; the defaults suit e-commerce events (Taobao included)."""

    funnel_steps: tuple[str, ...] = DEFAULT_FUNNEL
    funnel_window: timedelta = timedelta(hours=24)
    session_gap: timedelta = timedelta(minutes=30)
    top_categories: int = 20
    duck: DuckSettings = field(default_factory=DuckSettings)


def resolve_range(lake: str | Path, start: date | None, end: date | None,
                  duck: DuckSettings | None = None) -> tuple[date, date, dict | None]:
    """Fill missing bounds from the lake's dense stretch (`quality.trim_range`): ``start`` defaults to its first
    day, ``end`` (exclusive) to after its last. The third value says what the defaults left out (None when both
    bounds were given)."""
    left_out = None
    if start is None or end is None:
        first, stop, left_out = quality.trim_range(quality.daily_event_counts(lake, duck))
        if start is not None or end is not None:  # one bound given: count only what the other default dropped
            left_out = None
        start = start or first
        end = end or stop
    if end <= start:
        raise InputError(f"empty date range: --from {start} must be before --to {end} (--to is exclusive)")
    return start, end, left_out


def analytics_report(
    lake: str | Path,
    start: date | None = None,
    end: date | None = None,
    config: AnalyticsConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Every metric for events with ``start <= day < end`` (UTC days; ``end`` exclusive), as one JSON-ready dict."""
    config = config or AnalyticsConfig()
    start, end, left_out = resolve_range(lake, start, end, config.duck)
    con = lake_connection(lake, start, end, config.duck)
    timings: dict[str, float] = {}

    def step(name: str, fn: Callable[[], dict]) -> dict:
        if progress:
            progress(name)
        t = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - t, 3)
        log.debug("%s took %.2f s", name, timings[name])
        return out

    try:
        totals = step("summary", lambda: metrics.summary(con))
        if totals["events"] == 0:
            raise InputError(f"no events in {lake} from {start} to {end} (exclusive); check --from/--to")
        quality.check_steps(con, config.funnel_steps)
        active = step("active users", lambda: metrics.active_users(con, start, end))
        report = {
            "range": {"from": start.isoformat(), "to": end.isoformat(), "to_exclusive": True,
                      **({"left_out": left_out} if left_out else {})},
            "summary": totals,
            **active,
            "new_vs_returning": step("new vs returning", lambda: metrics.new_vs_returning(con, start, end)),
            "retention": step("retention", lambda: metrics.retention(con, start, end)),
            "funnel": step("funnel", lambda: metrics.funnel(
                con, config.funnel_steps, int(config.funnel_window.total_seconds()),
                top_categories=config.top_categories)),
            "sessions": step("sessions", lambda: metrics.sessions(con, int(config.session_gap.total_seconds()))),
            "long_tail": step("long tail", lambda: metrics.long_tail(con)),
        }
    finally:
        con.close()
    report["previous_period"] = step("previous period", lambda: quality.compare(
        report, quality.previous_period(lake, start, end, config.duck)))
    report["warnings"] = quality.range_warnings(report)
    report["timings_seconds"] = timings
    return report


def render_analytics(
    lake: str | Path,
    out: str | Path,
    *,
    start: date | None = None,
    end: date | None = None,
    config: AnalyticsConfig | None = None,
) -> Path:
    """Compute the report for ``start <= day < end`` and write it as HTML at ``out`` (the Airflow task's one call)."""
    from feature_store.analytics.render import write_html

    return write_html(analytics_report(lake, start, end, config), out)
