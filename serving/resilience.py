"""The service under partial failure: answer without the online store, and report each component's state.

Recommendations need the models; the online store only adds live histories. While the store is down the routes
answer from the models' training-time state and say so (``"degraded": ["online_store"]``), a watcher probes
the store and replays the writes it missed once it is back, and `/health` and `/ready` tell an orchestrator
which component is down, so degraded can be told from down.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from feature_store.online import OnlineStore, ResilientStore, StoreUnavailable
from serving.deps import ServiceState
from serving.metrics import ServiceMetrics

log = logging.getLogger(__name__)

ONLINE_STORE = "online_store"
COMPONENTS = ("models", ONLINE_STORE, "landing")


def resilient(store: OnlineStore, metrics: ServiceMetrics, backlog: int) -> ResilientStore:
    """`store` wrapped to fail fast and catch up (see ResilientStore), its state exported to /metrics."""
    wrapped = store if isinstance(store, ResilientStore) else ResilientStore(store, backlog=backlog)
    metrics.component_up.labels(ONLINE_STORE).set_function(lambda: float(wrapped.available))
    metrics.store_backlog.set_function(lambda: float(wrapped.backlog))
    return wrapped


def live_histories(svc: ServiceState, users: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Live histories of `users` and the degraded components: ({}, ["online_store"]) while the store is down."""
    try:
        return svc.store.recent_items(users, svc.settings.history_limit), []
    except StoreUnavailable:
        svc.metrics.degraded.labels(ONLINE_STORE).inc(len(users))
        return {}, [ONLINE_STORE]


def store_updated(svc: ServiceState, records: list[dict[str, Any]]) -> list[str]:
    """Add accepted events (and the item categories they carry) to the online store; [] or ["online_store"]
    when it is down (each write is then kept for replay)."""
    cats = {r["item_id"]: {"item_category": str(r["properties"]["category"])}
            for r in records if isinstance(r["properties"].get("category"), str | int)}
    writes: list[tuple[Any, tuple[Any, ...]]] = [(svc.store.append_events, (records,))]
    if cats:
        writes.append((svc.store.put_features, ("item", cats)))
    degraded: list[str] = []
    for write, args in writes:
        try:
            write(*args)
        except StoreUnavailable:
            degraded = [ONLINE_STORE]
    if degraded:
        svc.metrics.degraded.labels(ONLINE_STORE).inc()
    return degraded


async def watch_store(store: OnlineStore, interval: float) -> None:
    """Probe a store that is down every `interval` seconds; the probe replays what it missed."""
    if not isinstance(store, ResilientStore):
        return
    while True:
        await asyncio.sleep(interval)
        if not store.available:
            await run_in_threadpool(store.probe)


def components(svc: ServiceState) -> dict[str, dict[str, Any]]:
    """State of each component: ``status`` is up, degraded or down, with what an operator needs to act."""
    holder = svc.holder
    served = {n: m.version for n, m in holder.models.items()}
    fallbacks = getattr(holder, "fallbacks", {})
    models_status = "down" if not served else ("degraded" if holder.errors or fallbacks else "up")
    store = svc.store
    if isinstance(store, ResilientStore):
        store_state = store.status()
    else:
        store_state = {"status": "up", "backend": repr(store)}
    sink = svc.sink
    landing_error = getattr(sink, "last_error", None)
    writable = sink.folder.is_dir() and os.access(sink.folder, os.W_OK)
    landing = {"status": "up" if writable and landing_error is None else "down", "folder": str(sink.folder),
               "last_error": landing_error if writable else f"{sink.folder} is not a writable folder"}
    return {"models": {"status": models_status, "served": served, "errors": holder.errors, "fallbacks": fallbacks},
            ONLINE_STORE: store_state, "landing": landing}


def degraded(parts: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name in COMPONENTS if parts[name]["status"] != "up"]


def health_body(svc: ServiceState) -> dict[str, Any]:
    parts = components(svc)
    bad = degraded(parts)
    return {"status": "ok" if not bad else "degraded", "degraded": bad, "components": parts}


def ready_body(svc: ServiceState) -> tuple[dict[str, Any], bool]:
    """The /ready answer and whether the service can answer recommendations (at least one model loaded)."""
    parts = components(svc)
    models = parts["models"]["served"]
    body = {"ready": bool(models), "degraded": degraded(parts), "models": models, "components": parts}
    if not models:
        body["errors"] = svc.holder.errors
    return body, bool(models)
