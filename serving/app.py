"""The service factory: `create_app(settings)`; heavy state is loaded by the lifespan, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from feature_store.online import OnlineStore, open_online_store
from recsys.errors import RecsysError
from recsys.models.base import Recommender
from recsys.registry import Registry
from serving.alerting import watch_fallbacks
from serving.analytics import router as analytics_router
from serving.catalog_state import catalog_services
from serving.deps import ServiceState
from serving.docs import install_docs
from serving.events import EventSink
from serving.experiment_routes import router as experiments_router
from serving.experiments import ExperimentRouter, OnlineEval
from serving.holder import LoadedModel, ModelHolder
from serving.impressions import ImpressionLog
from serving.items import router as items_router
from serving.limits import BodyGuard, validation_error_handler
from serving.metrics import MetricsMiddleware, ServiceMetrics
from serving.ranking import bind_live_events
from serving.reports import router as reports_router
from serving.resilience import resilient, watch_store
from serving.routes import direct, router
from serving.settings import Settings, get_settings
from serving.ui import install_ui
from serving.users import router as users_router
from serving.users import start_identities

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving every model's alias (``production``) from the registry in `settings`."""
    settings = settings or get_settings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = resilient(open_online_store(settings.online_store_url, path=settings.online_store_file,
                                            prefix=settings.redis_prefix), metrics, settings.store_backlog)
        holder = ModelHolder(Registry(settings.registry), settings.alias, default_model=settings.default_model,
                             categories=lambda model: item_categories(store, model))
        def on_change(models: dict[str, LoadedModel]) -> None:
            _publish_versions(metrics, models)
            bind_live_events(models, store, settings.history_limit)
            prepare_top_k(models, settings.max_batch_users, settings.compute_threads)

        holder.on_change = on_change
        result = await run_in_threadpool(holder.refresh)
        limit_threads(settings.compute_threads)
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()  # long-lived objects (libraries, models) leave the GC's generations: cheaper collections
        log.info("serving %s from %s", result["models"] or "no model yet", settings.registry)
        catalog = catalog_services(store, settings.lake, refresh_s=settings.catalog_refresh_s,
                                   explore_share=settings.explore_share, explore_days=settings.explore_days)
        await run_in_threadpool(catalog.rules.refresh)
        identities = await run_in_threadpool(start_identities, settings)
        app.state.service = ServiceState(settings, holder, store, EventSink(settings.landing_folder), metrics,
                                         catalog, identities)
        app.state.online = OnlineEval(ExperimentRouter(settings.registry, holder, settings.experiments_poll_s),
                                      ImpressionLog(settings.landing_folder, settings.impression_flush_s)
                                      if settings.log_impressions else None)
        tasks = [asyncio.create_task(watch_store(store, settings.store_retry_s))]
        if settings.reload_interval_s > 0:
            tasks.append(asyncio.create_task(_poll(holder, metrics, settings.reload_interval_s)))
        if settings.alert_webhook:
            tasks.append(asyncio.create_task(watch_fallbacks(metrics, settings.alert_webhook,
                                                             settings.alert_interval_s)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            store.close()
            app.state.online.close()

    app = FastAPI(
        title="recsys",
        summary="Recommendations from the model registry's production versions, with live user histories.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_docs(app)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.include_router(direct)
    app.include_router(router)
    app.include_router(items_router)
    app.include_router(reports_router)
    app.include_router(experiments_router)
    app.include_router(analytics_router)
    app.include_router(users_router)
    install_ui(app)

    @app.exception_handler(RecsysError)
    async def _project_error(request: Request, err: RecsysError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=status.HTTP_400_BAD_REQUEST)

    return app


def limit_threads(n: int) -> None:
    """Cap the math libraries' thread pools for this process (per-request scoring is a small product)."""
    if n <= 0:
        return
    import sys

    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    threadpool_limits(limits=n)
    if "torch" in sys.modules:  # loaded by a torch model: cap it too, without importing it otherwise
        sys.modules["torch"].set_num_threads(n)


def prepare_top_k(models: dict[str, LoadedModel], max_batch_users: int, threads: int) -> None:
    """Import torch when a model is loaded whose largest batch ranks blocks big enough for torch's top-k
    (`recsys.models.topk`), so that the first such batch does not pay the import (seconds, holding the GIL), then
    cap its threads with the others' (`limit_threads`)."""
    import sys

    from recsys.models.topk import TORCH_MIN_SCORES

    if "torch" in sys.modules or all(len(lm.model.items_) * max_batch_users < TORCH_MIN_SCORES
                                     for lm in models.values()):
        return
    import torch  # noqa: F401

    log.info("imported torch for the top-k of large batches")
    limit_threads(threads)


async def _poll(holder: ModelHolder, metrics: ServiceMetrics, interval: float) -> None:
    """Notice alias changes made by `recsys registry promote` (or any process) and swap models in."""
    while True:
        await asyncio.sleep(interval)
        try:
            result = await run_in_threadpool(holder.refresh)
        except Exception:  # a poll must never kill the service; the next one retries
            log.exception("model refresh failed")
            metrics.reloads.labels("error").inc()
            continue
        if result["changed"] or result["errors"]:
            metrics.reloads.labels("error" if result["errors"] else "ok").inc()


def _publish_versions(metrics: ServiceMetrics, models: dict[str, LoadedModel]) -> None:
    metrics.model_version.clear()
    metrics.set_versions({n: m.version for n, m in models.items()})


CATEGORY_FEATURES = ("category", "item_category")
"""Item feature names read as the category (``item_category`` is what feature_store materialises)."""


def item_categories(store: OnlineStore, model: Recommender) -> dict[str, list[str]]:
    """category -> item ids of the model's catalogue: from the model when it recorded categories at training
    (`item_categories_`), else from the online store's item features (`CATEGORY_FEATURES`)."""
    items = model.items_.to_list()
    own = getattr(model, "item_categories_", None)
    if own is not None and len(own) == len(items):
        pairs = list(zip(items, (str(c) for c in own), strict=True))
    else:
        feats = store.get_features("item", items, CATEGORY_FEATURES)
        pairs = []
        for item, values in feats.items():
            cat = next((values[n] for n in CATEGORY_FEATURES if values.get(n) is not None), None)
            if cat is not None:
                pairs.append((item, str(cat)))
    out: dict[str, list[str]] = {}
    for item, cat in pairs:
        if cat:
            out.setdefault(cat, []).append(item)
    return out
