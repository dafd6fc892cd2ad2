"""HTTP routes. The recommendation routes are `async def` and score inline: a request costs well under a
millisecond, so a thread-pool hop would cost more than it saves. Blocking I/O (fsync, reload) goes to threads."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from recsys.errors import InputError
from serving.deps import AdminDep, ServiceDep, ServiceState
from serving.docs import responses
from serving.events import EventBatch, EventIn, check_ingestible
from serving.experiments import OnlineDep, OnlineEval
from serving.filtering import EMPTY_VIEW, FILTER_DOCS, candidates_for, finish, parse_filters, with_hidden
from serving.holder import LoadedModel
from serving.limits import check_batch
from serving.resilience import health_body, live_histories, ready_body, store_updated
from serving.rules import Filters, fetch_size
from serving.schemas import (
    MAX_EXCLUDE,
    BatchRequest,
    BatchResponse,
    EventsAccepted,
    HealthResponse,
    ModelsResponse,
    ReadyResponse,
    Recommendations,
    SimilarItems,
    json_response,
)
from serving.users import resolve_records, serving_ids


class DirectRoute(APIRoute):
    """A route documented in OpenAPI from its declaration like any other, whose handler calls the endpoint with
    the request's (string) path parameters and the request itself, skipping FastAPI's per-request dependency
    solving (about 14% of the busiest route's CPU). Only for endpoints that take no dependencies, query models or
    body: they parse their query themselves."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            return await endpoint(request=request, **request.path_params)

        return handle


router = APIRouter()
direct = APIRouter(route_class=DirectRoute)
"""The busiest routes (see `DirectRoute`); the app includes it like `router`."""
MAX_K = 1000
RECS_ERRORS = responses(400, 404, 422, 503)


def _served(svc: ServiceState, name: str | None) -> LoadedModel:
    try:
        return svc.holder.get(name)
    except InputError as err:
        code = status.HTTP_503_SERVICE_UNAVAILABLE if not svc.holder.models else status.HTTP_404_NOT_FOUND
        raise HTTPException(code, str(err)) from None


def _recommend(svc: ServiceState, lm: LoadedModel, users: list[str], k: int, exclude_seen: bool,
               exclude: list[str] | None, filters: Filters) -> list[dict[str, Any]]:
    """Rank for `users` with their live histories, under the catalogue's rules; one dict per user."""
    model = lm.model
    view = svc.catalog.rules.view() if svc.catalog is not None else EMPTY_VIEW
    candidates = candidates_for(view, lm, filters)
    model_users, people = serving_ids(svc, lm, users)  # stitched ids resolved, erased ones masked
    live, degraded = live_histories(svc, people)
    histories = [live.get(u) or None for u in people]
    try:
        ids, scores = result = model.recommend(model_users, fetch_size(k, filters, len(model.items_)),
                                               filter_seen=exclude_seen, exclude=with_hidden(view, exclude),
                                               candidates=candidates,
                                               histories=histories if any(h is not None for h in histories) else None)
    except ValueError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    fallbacks = result.fallback_flags
    n_fallback = sum(fallbacks)
    out = []
    for r, user in enumerate(users):
        items = finish(view, ids[r], scores[r], k, filters)
        if svc.catalog is not None:
            items = svc.catalog.explorer.fill(view, lm, user, histories[r], items, k, filters, exclude, exclude_seen)
        out.append({"user_id": user, "items": items, "model": lm.name, "version": lm.version,
                    "fallback": fallbacks[r], **({"degraded": degraded} if degraded else {})})
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
    *FILTER_DOCS,
]
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _query_error(name: str, msg: str, value: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"type": "value_error", "loc": ["query", name], "msg": msg, "input": value}])


def _recs_query(query: QueryParams) -> tuple[int, str | None, bool, list[str] | None, Filters]:
    """k, model, exclude_seen, exclude and the catalogue filters, validated like FastAPI would (422 naming the
    parameter).

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
    if exclude is not None and len(exclude) > MAX_EXCLUDE:
        raise _query_error("exclude", f"at most {MAX_EXCLUDE} item ids may be excluded", (raw_ex or "")[:100])
    return k, query.get("model") or None, exclude_seen, exclude, parse_filters(query)


@direct.get("/users/{user_id}/recommendations", response_model=Recommendations, tags=["recommendations"],
            openapi_extra={"parameters": _RECS_QUERY_DOCS}, responses=RECS_ERRORS)
async def user_recommendations(user_id: str, request: Request) -> Response:
    """Top-k items for one user, from the named model's production version (query parameters: see below). With no
    model named, a running experiment answers from the user's arm. Every answer has a `request_id` and is logged
    as an impression."""
    # The busiest route: a `DirectRoute`, so the service state is read from app.state, not through Depends.
    svc: ServiceState = request.app.state.service
    online: OnlineEval = request.app.state.online
    k, model, exclude_seen, exclude, filters = _recs_query(request.query_params)

    def rank(lm: LoadedModel) -> dict[str, Any]:
        return _recommend(svc, lm, [user_id], k, exclude_seen, exclude, filters)[0]

    answer = online.in_experiment(user_id, k, rank) if model is None else None
    return json_response(answer or online.logged(rank(_served(svc, model)), "user"))


@router.post("/recommendations", response_model=BatchResponse, tags=["recommendations"],
             responses={**RECS_ERRORS, **responses(413)})
async def batch_recommendations(body: BatchRequest, svc: ServiceDep, online: OnlineDep) -> Response:
    """Top-k items for a batch of users (one model, one version for the whole batch, so batches bypass
    experiments); each user's list has its own `request_id` and is logged as an impression. Large batches are
    scored in a worker thread, so they do not stall other requests."""
    check_batch(svc.settings, body)
    lm = _served(svc, body.model)
    args = (svc, lm, body.user_ids, body.k, body.exclude_seen, body.exclude, body.filters())
    if len(body.user_ids) >= svc.settings.offload_batch_users:
        results = await run_in_threadpool(_recommend, *args)
    else:
        results = _recommend(*args)
    results = [online.logged(r, "batch") for r in results]
    degraded = results[0].get("degraded") if results else None
    return json_response({"model": lm.name, "version": lm.version, "results": results,
                  **({"degraded": degraded} if degraded else {})})


@router.get("/items/{item_id}/similar", response_model=SimilarItems, tags=["recommendations"],
            openapi_extra={"parameters": FILTER_DOCS}, responses=RECS_ERRORS)
async def similar_items(
    item_id: str,
    request: Request,
    svc: ServiceDep,
    online: OnlineDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    model: str | None = None,
) -> Response:
    """Items most similar to `item_id` according to the model (with a `request_id`, logged as an impression)."""
    lm = _served(svc, model)
    if item_id not in lm.model.items_:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id!r} is unknown to model {lm.name!r}")
    filters = parse_filters(request.query_params)
    view = svc.catalog.rules.view() if svc.catalog is not None else EMPTY_VIEW
    wide = view.known and (filters.restricts or filters.max_per_category is not None)
    ids, scores = lm.model.similar_items(item_id, len(lm.model.items_) if wide else k + len(view.unavailable))
    items = finish(view, ids, scores, k, filters)
    return json_response(online.logged({"item_id": item_id, "items": items, "model": lm.name, "version": lm.version},
                               "similar", item_id=item_id))


@router.post("/events", response_model=EventsAccepted, status_code=status.HTTP_202_ACCEPTED, tags=["events"],
             responses=responses(413, 422, 503))
async def post_events(
    svc: ServiceDep,
    payload: Annotated[list[EventIn] | EventBatch, Body(description="A JSON list of events or {\"events\": [...]}")],
) -> EventsAccepted:
    """Accept fresh events: checked by ingestion's own rules (what is accepted here, ingestion keeps), appended
    durably (fsync) to the landing folder for the next ingestion, then added to the users' live histories, so
    history-aware models answer from them at once. 202 once durable, even if the online store is down (the
    events are replayed to it when it returns); 503 when they could not be made durable."""
    events = payload if isinstance(payload, list) else payload.events
    if len(events) > svc.settings.max_events:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(events)} events exceed the limit of {svc.settings.max_events} per request")
    records = [e.canonical() for e in events]
    if not records:
        return EventsAccepted(accepted=0, landing_file=None)
    issues = await run_in_threadpool(check_ingestible, records)
    if issues:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, issues)
    try:
        path = await run_in_threadpool(svc.sink.append, records)  # durable first: nothing accepted is lost
    except OSError as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the events could not be stored durably ({err}); nothing was accepted: retry") from None
    degraded = await run_in_threadpool(lambda: store_updated(svc, resolve_records(svc, records)))
    svc.metrics.events.inc(len(records))
    return EventsAccepted(accepted=len(records), landing_file=str(path), degraded=degraded or None)


@router.get("/health", tags=["operations"], response_model=HealthResponse)
async def health(svc: ServiceDep) -> Response:
    """The process is up (always 200); `status` is degraded and `degraded` names the components that are down."""
    return json_response(health_body(svc))


@router.get("/ready", tags=["operations"], response_model=ReadyResponse,
            responses={503: {"model": ReadyResponse, "description": "No model is loaded yet."}})
async def ready(svc: ServiceDep) -> Response:
    """200 once at least one model is loaded (with `degraded` naming components that are down: answers still
    come), 503 before."""
    body, ok = ready_body(svc)
    return json_response(body, status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get("/models", response_model=ModelsResponse, tags=["operations"])
async def list_models(svc: ServiceDep) -> ModelsResponse:
    """Served models and versions, and load errors of the last reload."""
    models = svc.holder.models
    return ModelsResponse(default=svc.holder.default_name, alias=svc.holder.alias,
                          models=[m.describe() for _, m in sorted(models.items())], errors=svc.holder.errors,
                          fallbacks=svc.holder.fallbacks)


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
async def metrics(svc: ServiceDep) -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/admin/reload", tags=["admin"], responses=responses(401, 403, 422))
async def admin_reload(svc: ServiceDep, _: AdminDep, force: bool = False) -> dict[str, Any]:
    """Reload models whose alias moved (all with `force`); needs the admin bearer token."""
    result = await run_in_threadpool(svc.holder.refresh, force=force)
    svc.metrics.reloads.labels("error" if result["errors"] else "ok").inc()
    return result
