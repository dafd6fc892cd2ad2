"""Catalogue routes: the item's public fields, admin writes (PUT/PATCH/DELETE, bearer token), and the
non-personal lists (popular, latest, trending), each with the catalogue filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from recsys.catalog import Rejected
from recsys.errors import InputError
from serving.catalog_state import MAX_WINDOW_DAYS, CatalogServices
from serving.deps import AdminDep, ServiceDep, ServiceState
from serving.filtering import EMPTY_VIEW, FILTER_DOCS, candidates_for, finish, parse_filters, with_hidden
from serving.rules import CatalogView, Filters, fetch_size
from serving.schemas import ItemIn, ItemList, ItemOut, ItemPatch, json_response

router = APIRouter(tags=["catalogue"])
NOBODY = "\x00popular"
"""A user id no model is trained on (it starts with a NUL byte), so its ranking is the model's popularity one."""
MAX_K = 1000
_ERR = {"description": "Error", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"detail": {}}}}}}
_LIST_RESPONSES: dict[int | str, dict[str, Any]] = {400: _ERR, 404: _ERR, 422: _ERR}
_POPULAR_RESPONSES: dict[int | str, dict[str, Any]] = {400: _ERR, 404: _ERR, 422: _ERR, 503: _ERR}
_ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {400: _ERR, 401: _ERR, 403: _ERR, 404: _ERR, 422: _ERR,
                                                      503: _ERR}
_LIST_DOCS = {"parameters": FILTER_DOCS}
WindowQuery = Annotated[str | None, Query(pattern=r"^[0-9]+(\.[0-9]+)?[dhw]?$", max_length=12,
                                          description="A recent window: 7d, 24h, 2w (days without a unit); at most "
                                                      "90 days.")]


def _services(svc: ServiceState) -> CatalogServices:
    cat = getattr(svc, "catalog", None)
    if cat is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the catalogue is not set up in this service")
    return cat


def _view(svc: ServiceState) -> CatalogView:
    cat = getattr(svc, "catalog", None)
    return cat.rules.view() if cat is not None else EMPTY_VIEW


def _window_days(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    unit = {"d": 1.0, "h": 1 / 24, "w": 7.0}.get(text[-1].lower())
    try:
        days = float(text[:-1]) * unit if unit else float(text)
    except ValueError:
        days = -1.0
    if not 0 < days <= MAX_WINDOW_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [{"type": "value_error", "loc": ["query", "window"], "input": text,
                              "msg": f"window must be like 7d, 24h or 2w, at most {MAX_WINDOW_DAYS:g} days"}])
    return days


def _ranked(view: CatalogView, items: list[str], scores: list[float], k: int, filters: Filters
            ) -> list[dict[str, Any]]:
    """An event-ranked list under the filters; those need the catalogue (400 without one)."""
    if not view.known and filters.restricts:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "category and price filters on event-ranked lists need "
                            "the item catalogue: start the service with --lake LAKE after `recsys catalog load`")
    return finish(view, items, scores, k, filters)


@router.get("/items/popular", response_model=ItemList, responses=_POPULAR_RESPONSES, openapi_extra=_LIST_DOCS)
async def popular_items(request: Request, svc: ServiceDep, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
                        window: WindowQuery = None, model: str | None = None) -> Response:
    """Most popular served items: the ranking `model` (default: popularity) gives a user it does not know (its
    training popularity), or by events in the last `window` (7d, 24h, ...) of the lake."""
    filters = parse_filters(request.query_params)
    view = _view(svc)
    days = _window_days(window)
    if days is not None:
        counts = await run_in_threadpool(_activity_or_404, svc, "counts", days)
        order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        items = _ranked(view, [i for i, _ in order], [s for _, s in order], k, filters)
        return json_response({"items": items, "model": "events", "version": None, "window": window})
    models = svc.holder.models
    name = model or ("popularity" if "popularity" in models else None)
    try:
        lm = svc.holder.get(name)
    except InputError as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE if not models else status.HTTP_404_NOT_FOUND,
                            str(err)) from None
    ids, scores = lm.model.recommend(NOBODY, fetch_size(k, filters, len(lm.model.items_)), filter_seen=False,
                                     exclude=with_hidden(view, None), candidates=candidates_for(view, lm, filters))
    items = finish(view, ids, scores, k, filters)
    return json_response({"items": items, "model": lm.name, "version": lm.version, "window": None})


def _activity_or_404(svc: ServiceState, kind: str, days: float) -> dict[str, float]:
    try:
        activity = _services(svc).activity()
        return activity.counts(days) if kind == "counts" else activity.growth(days)
    except InputError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None


@router.get("/items/trending", response_model=ItemList, responses=_LIST_RESPONSES, openapi_extra=_LIST_DOCS)
async def trending_items(request: Request, svc: ServiceDep, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
                         window: WindowQuery = "7d") -> Response:
    """Items whose events grew most: (events in the last `window` + 1) / (events in the window before + 1)."""
    filters = parse_filters(request.query_params)
    days = _window_days(window) or 7.0
    growth = await run_in_threadpool(_activity_or_404, svc, "growth", days)
    order = sorted(growth.items(), key=lambda kv: (-kv[1], kv[0]))
    items = _ranked(_view(svc), [i for i, _ in order], [s for _, s in order], k, filters)
    return json_response({"items": items, "model": "events", "version": None, "window": window})


@router.get("/items/latest", response_model=ItemList, responses=_LIST_RESPONSES, openapi_extra=_LIST_DOCS)
async def latest_items(request: Request, svc: ServiceDep, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10
                       ) -> Response:
    """The newest available catalogue items (by created_at; score = its epoch seconds)."""
    filters = parse_filters(request.query_params)
    view = _view(svc)
    if not view.known:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no item catalogue: load one with `recsys catalog "
                            "load` and start the service with --lake LAKE")
    dated = sorted(((x.created_at, i) for i, x in view.items.items() if x.created_at is not None), reverse=True)
    items = finish(view, [i for _, i in dated], [t.timestamp() for t, _ in dated], k, filters)
    return json_response({"items": items, "model": "catalog", "version": None, "window": None})


@router.get("/items/{item_id}", response_model=ItemOut, responses={404: _ERR})
async def get_item(item_id: str, svc: ServiceDep) -> Response:
    """The item's catalogue fields (hidden and unavailable items too, with ``available: false``)."""
    info = _view(svc).items.get(item_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id!r} is not in the catalogue")
    return json_response(info.public())


async def _change(svc: ServiceState, item_id: str, fields: dict[str, Any], replace: bool) -> dict[str, Any]:
    services = _services(svc)
    try:
        info = await run_in_threadpool(services.rules.change, item_id, fields, replace=replace)
    except Rejected as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{err.reason}: {err}") from None
    except LookupError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    return info.public()


def _fields(body: ItemIn | ItemPatch) -> dict[str, Any]:
    out = body.model_dump(exclude_unset=True)
    if isinstance(out.get("created_at"), datetime):
        out["created_at"] = out["created_at"].isoformat()
    return {k: v for k, v in out.items() if v is not None}


@router.put("/items/{item_id}", response_model=ItemOut, responses=_ADMIN_RESPONSES)
async def put_item(item_id: str, body: ItemIn, svc: ServiceDep, _: AdminDep) -> Response:
    """Create or replace an item's catalogue fields (fields left out take their defaults); admin token."""
    return json_response(await _change(svc, item_id, _fields(body), replace=True))


@router.patch("/items/{item_id}", response_model=ItemOut, responses=_ADMIN_RESPONSES)
async def patch_item(item_id: str, body: ItemPatch, svc: ServiceDep, _: AdminDep) -> Response:
    """Change some fields of a known item, e.g. ``{"available": false}``; admin token. Every worker serves the
    change within `catalog_refresh_s`; the lake's catalogue records it for the next load and training."""
    if _view(svc).items.get(item_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id!r} is not in the catalogue (PUT creates it)")
    return json_response(await _change(svc, item_id, _fields(body), replace=False))


@router.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ADMIN_RESPONSES)
async def delete_item(item_id: str, svc: ServiceDep, _: AdminDep) -> Response:
    """Hide an item (``available: false``; its history stays); admin token. PATCH ``available: true`` restores."""
    if _view(svc).items.get(item_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id!r} is not in the catalogue")
    await _change(svc, item_id, {"available": False}, replace=False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
