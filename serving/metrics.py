"""Prometheus metrics of one app instance (its own CollectorRegistry, so several apps can live in one process)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram("recsys_http_request_duration_seconds", "Request latency by route template.",
                                 ["method", "route", "status"], buckets=_BUCKETS, registry=self.registry)
        self.fallbacks = Counter("recsys_fallback_total", "Answers served by the popularity fallback.", ["model"],
                                 registry=self.registry)
        self.events = Counter("recsys_events_accepted_total", "Events accepted by POST /events.",
                              registry=self.registry)
        self.model_version = Gauge("recsys_model_version", "Version of each served model.", ["model"],
                                   registry=self.registry)
        self.degraded = Counter("recsys_degraded_total", "Answers given without a component (users answered "
                                "without live history while the online store is down, writes kept for replay).",
                                ["component"], registry=self.registry)
        self.component_up = Gauge("recsys_component_up", "1 while a component works, 0 while it is down.",
                                  ["component"], registry=self.registry)
        self.store_backlog = Gauge("recsys_online_store_backlog", "Writes kept for replay to the online store.",
                                   registry=self.registry)
        self.reloads = Counter("recsys_model_reloads_total", "Model reload attempts by outcome.", ["outcome"],
                               registry=self.registry)

    def set_versions(self, versions: dict[str, int]) -> None:
        for name, version in versions.items():
            self.model_version.labels(name).set(version)


class MetricsMiddleware:
    """Times every HTTP request by its route template (``/users/{user_id}/recommendations``, not the raw path,
    to keep label cardinality bounded). Plain ASGI: cheaper than BaseHTTPMiddleware on the hot path."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            key = (scope["method"], getattr(route, "path", "<unmatched>"), f"{status // 100}xx")
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.metrics.latency.labels(*key)
            child.observe(time.perf_counter() - start)


def route_stats(metrics_text: str, routes: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Per route: requests, share of 5xx, and p50/p99 latency estimated from the histogram's buckets."""
    buckets: dict[str, dict[float, float]] = {}
    counts: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "recsys_http_request_duration_seconds":
            continue
        for sample in family.samples:
            route = sample.labels.get("route", "")
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                per = buckets.setdefault(route, {})
                per[le] = per.get(le, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                per_status = counts.setdefault(route, {})
                per_status[sample.labels["status"]] = per_status.get(sample.labels["status"], 0.0) + sample.value
    wanted = set(routes) if routes is not None else None
    out = []
    for route, per_status in sorted(counts.items()):
        total = sum(per_status.values())
        if (wanted is not None and route not in wanted) or total == 0:
            continue
        cumulative = sorted(buckets.get(route, {}).items())
        out.append({"route": route, "requests": int(total), "errors_5xx": per_status.get("5xx", 0.0) / total,
                    "p50_ms": _quantile_ms(cumulative, 0.5), "p99_ms": _quantile_ms(cumulative, 0.99)})
    return out


def _quantile_ms(cumulative: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile `q` (what Prometheus' histogram_quantile would bracket)."""
    if not cumulative or cumulative[-1][1] == 0:
        return None
    target = q * cumulative[-1][1]
    for le, count in cumulative:
        if count >= target:
            return None if math.isinf(le) else le * 1000
    return None


def counter_total(metrics_text: str, name: str) -> float:
    """Sum of a counter over its labels (0 when absent)."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name == name.removesuffix("_total"):
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total
