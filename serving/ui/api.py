"""The dashboard reads the service through its own public HTTP API, in process (no socket): what a page shows is
exactly what a client of the API gets, with the same experiments, filters, fallbacks and errors."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import httpx
from fastapi import Request
from prometheus_client.parser import text_string_to_metric_families


class ServiceClient:
    """Calls the app's own routes; admin calls carry the service's admin token."""

    def __init__(self, request: Request) -> None:
        self._app = request.app
        token = request.app.state.settings.admin_token
        self._admin = {"authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self._app), base_url="http://service",
                                 headers={"x-recsys-client": "dashboard"}, timeout=60)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        async with self._client() as client:
            return await client.get(path, params={k: v for k, v in params.items() if v is not None})

    async def json(self, path: str, **params: Any) -> Any | None:
        """The JSON body of a 200 answer, else None (a missing route or object shows as absent, not as an error)."""
        answer = await self.get(path, **params)
        return answer.json() if answer.status_code == 200 else None

    async def send(self, method: str, path: str, body: Any, *, admin: bool = False) -> httpx.Response:
        async with self._client() as client:
            return await client.request(method, path, json=body, headers=self._admin if admin else None)


def error_text(answer: httpx.Response) -> str:
    """The API's readable message of a failed call."""
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = answer.text
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d)) for d in detail)
    return f"{answer.status_code}: {detail}"


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
