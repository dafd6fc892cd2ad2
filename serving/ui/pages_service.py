"""The service view (``/ui``), sign-in and sign-out: models and versions served, readiness, reload, and latency,
error and fallback rates read from ``/metrics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.metrics import counter_total, route_stats
from serving.ui.access import COOKIE, AdminUiDep, ViewerDep, role_of, safe_next
from serving.ui.api import ServiceClient, error_text
from serving.ui.render import fragment, page

router = APIRouter(prefix="/ui", tags=["dashboard"], include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def service_view(request: Request, role: ViewerDep) -> Response:
    api = ServiceClient(request)
    ready = (await api.get("/ready")).json()
    models = await api.json("/models") or {"models": [], "default": None, "errors": {}}
    metrics_text = (await api.get("/metrics")).text
    routes = route_stats(metrics_text)
    recs = sum(r["requests"] for r in routes if "recommendations" in r["route"])
    fallbacks = counter_total(metrics_text, "recsys_fallback_total")
    return page("service.html.j2", title="Service", active="service", role=role, ready=ready, models=models,
                routes=routes, fallback_rate=fallbacks / recs if recs else None,
                events=counter_total(metrics_text, "recsys_events_accepted_total"))


@router.post("/reload", response_class=HTMLResponse)
async def reload_models(request: Request, _: AdminUiDep, force: Annotated[str | None, Form()] = None) -> Response:
    answer = await ServiceClient(request).send("POST", "/admin/reload" + ("?force=true" if force else ""), None,
                                               admin=True)
    if answer.status_code != 200:
        return HTMLResponse(f'<span class="error">{_escape(error_text(answer))}</span>')
    result = answer.json()
    changed = ", ".join(f"{name} {c['from']} -> {c['to']}" for name, c in (result.get("changed") or {}).items())
    changed = changed or "nothing changed"
    return HTMLResponse(f'<span class="muted">reloaded: {_escape(changed)}</span>')


@router.get("/login", response_class=HTMLResponse)
async def login_form(next: Annotated[str | None, Query()] = None) -> Response:
    return fragment("login.html.j2", next=safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, token: Annotated[str, Form()] = "",
                next: Annotated[str | None, Form()] = None) -> Response:
    if role_of(request, token) is None:
        return HTMLResponse(fragment("login.html.j2", next=safe_next(next), error="wrong token").body,
                            status_code=401)
    answer = RedirectResponse(safe_next(next), status_code=303)
    answer.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/ui")
    return answer


@router.post("/logout")
async def logout() -> Response:
    answer = RedirectResponse("/ui/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/ui")
    return answer


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
