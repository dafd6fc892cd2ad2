"""The user view (history and every served model's list side by side, with a test event that changes them) and
the item view (catalogue fields, similar items per model, where it ranks, hide and unhide)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from serving.ui.access import AdminUiDep, ViewerDep
from serving.ui.api import ServiceClient, error_text
from serving.ui.render import fragment, page, titles_of

router = APIRouter(prefix="/ui", tags=["dashboard"], include_in_schema=False)
KQuery = Annotated[int, Query(ge=1, le=100)]
NEVER_SEEN = "__dashboard_never_seen__"
"""A user id no model knows: its answer is each model's non-personal ranking."""


async def _model_names(api: ServiceClient) -> list[str]:
    models = await api.json("/models") or {"models": []}
    return [m["name"] for m in models["models"]]


async def _columns(api: ServiceClient, user_id: str, k: int) -> list[dict[str, Any]]:
    names = await _model_names(api)
    answers = await asyncio.gather(*(api.get(f"/users/{quote(user_id, safe='')}/recommendations", k=k, model=n)
                                     for n in names))
    return [{"model": n, "answer": a.json() if a.status_code == 200 else None,
             "error": None if a.status_code == 200 else error_text(a)} for n, a in zip(names, answers, strict=True)]


def _history(request: Request, user_id: str) -> list[str]:
    svc = request.app.state.service
    try:
        return list(svc.store.recent_items([user_id], svc.settings.history_limit).get(user_id) or [])
    except Exception:  # the online store may be down: the page still shows the models' answers
        return []


@router.get("/users", response_class=HTMLResponse)
async def user_view(request: Request, role: ViewerDep, user_id: str | None = None, k: KQuery = 10) -> Response:
    api = ServiceClient(request)
    columns = await _columns(api, user_id, k) if user_id else []
    return page("user.html.j2", title=f"User {user_id or ''}", active="users", role=role, user_id=user_id, k=k,
                history=_history(request, user_id) if user_id else [], columns=columns, titles=titles_of(request),
                notice=None)


@router.post("/users/{user_id}/events", response_class=HTMLResponse)
async def post_test_event(request: Request, user_id: str, _: AdminUiDep, item_id: Annotated[str, Form()],
                          event_type: Annotated[str, Form()] = "view", k: Annotated[int, Form(ge=1, le=100)] = 10,
                          ) -> Response:
    api = ServiceClient(request)
    event = {"user_id": user_id, "item_id": item_id, "event_type": event_type,
             "ts": datetime.now(UTC).isoformat(timespec="seconds")}
    answer = await api.send("POST", "/events", [event])
    notice = ({"kind": "muted", "text": f"posted {event_type} of {item_id}: the lists below are fresh"}
              if answer.status_code == 202 else {"kind": "error", "text": error_text(answer)})
    return fragment("user_lists.html.j2", columns=await _columns(api, user_id, k), titles=titles_of(request),
                    notice=notice)


@router.get("/items", response_class=HTMLResponse)
async def item_search(request: Request, role: ViewerDep, item_id: str | None = None) -> Response:
    return await _item_page(request, role, item_id)


@router.get("/items/{item_id}", response_class=HTMLResponse)
async def item_view(request: Request, role: ViewerDep, item_id: str) -> Response:
    return await _item_page(request, role, item_id)


async def _item_page(request: Request, role: str, item_id: str | None) -> Response:
    api = ServiceClient(request)
    names = await _model_names(api)
    similar, ranks, catalogue = [], [], None
    if item_id:
        quoted = quote(item_id, safe="")
        answers = await asyncio.gather(*(api.get(f"/items/{quoted}/similar", k=10, model=n) for n in names))
        similar = [{"model": n, "answer": a.json() if a.status_code == 200 else None,
                    "error": None if a.status_code == 200 else error_text(a)}
                   for n, a in zip(names, answers, strict=True)]
        ranks = await asyncio.gather(*(_rank(api, n, item_id) for n in names))
        item = await api.get(f"/items/{quoted}")
        catalogue = item.json() if item.status_code == 200 else None
    return page("item.html.j2", title=f"Item {item_id or ''}", active="items", role=role, item_id=item_id,
                similar=similar, ranks=ranks, catalogue=catalogue,
                titles=titles_of(request), notice=None)


async def _rank(api: ServiceClient, model: str, item_id: str) -> dict[str, Any]:
    answer = await api.json(f"/users/{NEVER_SEEN}/recommendations", k=1000, model=model, exclude_seen="false")
    ids = [i["item_id"] for i in answer["items"]] if answer else []
    known = bool(await api.json(f"/items/{quote(item_id, safe='')}/similar", k=1, model=model))
    return {"model": model, "known": known, "rank": ids.index(item_id) + 1 if item_id in ids else None}


@router.post("/items/{item_id}/availability", response_class=HTMLResponse)
async def set_availability(request: Request, item_id: str, _: AdminUiDep,
                           available: Annotated[str, Form()] = "0") -> Response:
    api = ServiceClient(request)
    quoted = quote(item_id, safe="")
    answer = await api.send("PATCH", f"/items/{quoted}", {"available": available == "1"}, admin=True)
    ok = 200 <= answer.status_code < 300
    notice = ({"kind": "muted", "text": "made available again" if available == "1" else
               "hidden: gone from every model's answers within a second"} if ok
              else {"kind": "error", "text": error_text(answer)})
    current = await api.json(f"/items/{quoted}") or {}
    return fragment("item_availability.html.j2", item_id=item_id, catalogue=current, notice=notice)
