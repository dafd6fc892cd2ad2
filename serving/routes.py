"""HTTP routes. The recommendation routes are `async def` and score inline: a request costs well under a
millisecond, so a thread-pool hop would cost more than it saves. Blocking I/O (fsync, reload) goes to threads."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from recsys.errors import InputError
from serving.deps import AdminDep, ServiceDep, ServiceState
from serving.events import EventBatch, EventIn
from serving.holder import LoadedModel
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    EventsAccepted,
    ModelsResponse,
    Recommendations,
    SimilarItems,
)
from serving.users import resolve_records, serving_ids

router = APIRouter()
MAX_K = 1000


class JSONBytes(Response):
    media_type = "application/json"


def _json(obj: Any, status_code: int = 200) -> Response:
    return JSONBytes(json.dumps(obj, separators=(",", ":")).encode(), status_code=status_code)


def _served(svc: ServiceState, name: str | None) -> LoadedModel:
    try:
        return svc.holder.get(name)
    except InputError as err:
        code = status.HTTP_503_SERVICE_UNAVAILABLE if not svc.holder.models else status.HTTP_404_NOT_FOUND
        raise HTTPException(code, str(err)) from None


def _recommend(svc: ServiceState, lm: LoadedModel, users: list[str], k: int, exclude_seen: bool,
               exclude: list[str] | None, category: str | None) -> list[dict[str, Any]]:
    """Rank for `users` with their live histories; one dict per user in the response shape."""
    model = lm.model
    candidates = None
    if category is not None:
        if not lm.categories:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"model {lm.name!r} knows no item categories, so the "
                                "category filter is unavailable (load item features with a 'category' into the "
                                "online store)")
        candidates = lm.categories.get(category, [])
    model_users, people = serving_ids(svc, lm, users)  # stitched ids resolved, erased ones masked
    live = svc.store.recent_items(people, svc.settings.history_limit)
    histories = [live.get(u) or None for u in people]
    try:
        ids, scores = model.recommend(model_users, k, filter_seen=exclude_seen, exclude=exclude or None,
                                      candidates=candidates,
                                      histories=histories if any(h is not None for h in histories) else None)
    except ValueError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    known = model.is_known(model_users)
    items_map = model.items_
    out = []
    n_fallback = 0
    for r, user in enumerate(users):
        hist = histories[r]
        usable = model.supports_history and hist is not None and any(i in items_map for i in hist)
        fallback = not bool(known[r]) and not usable
        n_fallback += fallback
        out.append({"user_id": user,
                    "items": [{"item_id": i, "score": float(s)} for i, s in zip(ids[r], scores[r], strict=True)
                              if i is not None],
                    "model": lm.name, "version": lm.version, "fallback": fallback})
    if n_fallback:
        svc.metrics.fallbacks.labels(lm.name).inc(n_fallback)
    return out


_RECS_QUERY_DOCS = [
    {"name": "k", "in": "query", "required": False, "description": f"How many items (1..{MAX_K}).",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}},
    {"name": "model", "in": "query", "required": False,
     "description": "Model name (default: the service's default model).", "schema": {"type": "string"}},
    {"name": "exclude_seen", "in": "query", "required": False,
     "description": "Drop items the user already interacted with (training and live events).",
     "schema": {"type": "boolean", "default": True}},
    {"name": "exclude", "in": "query", "required": False, "description": "Comma-separated item ids never to return.",
     "schema": {"type": "string"}},
    {"name": "category", "in": "query", "required": False, "description": "Only items of this category.",
     "schema": {"type": "string"}},
]
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _query_error(name: str, msg: str, value: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"type": "value_error", "loc": ["query", name], "msg": msg, "input": value}])


def _recs_query(query: QueryParams) -> tuple[int, str | None, bool, list[str] | None, str | None]:
    """k, model, exclude_seen, exclude, category, validated like FastAPI would (422 naming the parameter).

    Parsed by hand because FastAPI's per-parameter validation was about half of this route's CPU time; the
    OpenAPI description is given explicitly in `_RECS_QUERY_DOCS`."""
    raw_k = query.get("k")
    k = 10
    if raw_k is not None:
        try:
            k = int(raw_k)
        except ValueError:
            raise _query_error("k", "Input should be a valid integer", raw_k) from None
        if not 1 <= k <= MAX_K:
            raise _query_error("k", f"k must be between 1 and {MAX_K}", raw_k)
    raw_seen = query.get("exclude_seen")
    exclude_seen = True
    if raw_seen is not None:
        low = raw_seen.lower()
        if low not in _TRUE and low not in _FALSE:
            raise _query_error("exclude_seen", "Input should be a valid boolean", raw_seen)
        exclude_seen = low in _TRUE
    raw_ex = query.get("exclude")
    exclude = [x.strip() for x in raw_ex.split(",") if x.strip()] if raw_ex else None
    return k, query.get("model") or None, exclude_seen, exclude, query.get("category")


@router.get("/users/{user_id}/recommendations", response_model=Recommendations, tags=["recommendations"],
            openapi_extra={"parameters": _RECS_QUERY_DOCS})
async def user_recommendations(user_id: str, request: Request, svc: ServiceDep) -> Response:
    """Top-k items for one user, from the named model's production version (query parameters: see below)."""
    k, model, exclude_seen, exclude, category = _recs_query(request.query_params)
    lm = _served(svc, model)
    return _json(_recommend(svc, lm, [user_id], k, exclude_seen, exclude, category)[0])


@router.post("/recommendations", response_model=BatchResponse, tags=["recommendations"])
async def batch_recommendations(body: BatchRequest, svc: ServiceDep) -> Response:
    """Top-k items for a batch of users (one model, one version for the whole batch)."""
    if len(body.user_ids) > svc.settings.max_batch_users:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(body.user_ids)} users exceed the batch limit of {svc.settings.max_batch_users}")
    lm = _served(svc, body.model)
    results = _recommend(svc, lm, body.user_ids, body.k, body.exclude_seen, body.exclude, body.category)
    return _json({"model": lm.name, "version": lm.version, "results": results})


@router.get("/items/{item_id}/similar", response_model=SimilarItems, tags=["recommendations"])
async def similar_items(
    item_id: str,
    svc: ServiceDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    model: str | None = None,
) -> Response:
    """Items most similar to `item_id` according to the model."""
    lm = _served(svc, model)
    if item_id not in lm.model.items_:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id!r} is unknown to model {lm.name!r}")
    ids, scores = lm.model.similar_items(item_id, k)
    items = [{"item_id": i, "score": float(s)} for i, s in zip(ids, scores, strict=True) if i is not None]
    return _json({"item_id": item_id, "items": items, "model": lm.name, "version": lm.version})


@router.post("/events", response_model=EventsAccepted, status_code=status.HTTP_202_ACCEPTED, tags=["events"])
async def post_events(
    svc: ServiceDep,
    payload: Annotated[list[EventIn] | EventBatch, Body(description="A JSON list of events or {\"events\": [...]}")],
) -> EventsAccepted:
    """Accept fresh events: appended durably (fsync) to the landing folder for the next ingestion, then added to
    the users' live histories, so history-aware models answer from them at once."""
    events = payload if isinstance(payload, list) else payload.events
    if len(events) > svc.settings.max_events:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(events)} events exceed the limit of {svc.settings.max_events} per request")
    records = [e.canonical() for e in events]
    if not records:
        return EventsAccepted(accepted=0, landing_file=None)
    path = await run_in_threadpool(svc.sink.append, records)  # durable first: nothing accepted is lost
    await run_in_threadpool(_update_store, svc, records)
    svc.metrics.events.inc(len(records))
    return EventsAccepted(accepted=len(records), landing_file=str(path))


def _update_store(svc: ServiceState, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    svc.store.append_events(resolve_records(svc, records))
    cats = {r["item_id"]: {"item_category": str(r["properties"]["category"])}
            for r in records if isinstance(r["properties"].get("category"), str | int)}
    if cats:
        svc.store.put_features("item", cats)


@router.get("/health", tags=["operations"])
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", tags=["operations"])
async def ready(svc: ServiceDep) -> Response:
    """200 once at least one model is loaded, 503 before."""
    models = svc.holder.models
    if not models:
        return _json({"ready": False, "errors": svc.holder.errors}, status.HTTP_503_SERVICE_UNAVAILABLE)
    return _json({"ready": True, "models": {n: m.version for n, m in models.items()}})


@router.get("/models", response_model=ModelsResponse, tags=["operations"])
async def list_models(svc: ServiceDep) -> ModelsResponse:
    """Served models and versions, and load errors of the last reload."""
    models = svc.holder.models
    return ModelsResponse(default=svc.holder.default_name, alias=svc.holder.alias,
                          models=[m.describe() for _, m in sorted(models.items())], errors=svc.holder.errors)


@router.get("/metrics", tags=["operations"])
async def metrics(svc: ServiceDep) -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/admin/reload", tags=["admin"])
async def admin_reload(svc: ServiceDep, _: AdminDep, force: bool = False) -> dict[str, Any]:
    """Reload models whose alias moved (all with `force`); needs the admin bearer token."""
    result = await run_in_threadpool(svc.holder.refresh, force=force)
    svc.metrics.reloads.labels("error" if result["errors"] else "ok").inc()
    return result
