"""The service's own alert: the share of answers served by the popularity fallback jumped (a broken model
version, an online-store outage, a wave of unknown users). Checked every ``alert_interval_s`` over the answers of
that interval, posted to ``alert_webhook`` with `recsys.alerts`."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import generate_latest
from starlette.concurrency import run_in_threadpool

from recsys.alerts import rate_jump, send_alert
from serving.metrics import ServiceMetrics, counter_total, route_stats

log = logging.getLogger(__name__)
MIN_ANSWERS = 50
"""Intervals with fewer recommendation answers are too small to judge a rate on."""


def answered(metrics: ServiceMetrics) -> tuple[float, float]:
    """(recommendation requests answered, answers that fell back) since the process started."""
    text = generate_latest(metrics.registry).decode()
    requests = sum(r["requests"] for r in route_stats(text) if "recommendations" in r["route"])
    return float(requests), counter_total(text, "recsys_fallback_total")


async def watch_fallbacks(metrics: ServiceMetrics, url: str, interval_s: float) -> None:
    """Alert when an interval's fallback share is at least twice the previous interval's (and at least 2%)."""
    seen_requests, seen_fallbacks = answered(metrics)
    previous: float | None = None
    while True:
        await asyncio.sleep(interval_s)
        requests, fallbacks = answered(metrics)
        n, f = requests - seen_requests, fallbacks - seen_fallbacks
        seen_requests, seen_fallbacks = requests, fallbacks
        if n < MIN_ANSWERS:
            continue
        rate = f / n
        alert = rate_jump("fallback", rate, previous)
        previous = rate
        if alert is not None:
            log.warning("%s", alert.title)
            await run_in_threadpool(send_alert, url, alert)
