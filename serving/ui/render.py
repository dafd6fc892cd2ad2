"""The dashboard's template environment and the formatting helpers every page uses."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from recsys.errors import RecsysError
from serving.ui.access import Role

log = logging.getLogger(__name__)

NAV = (("/ui", "service"), ("/ui/users", "users"), ("/ui/items", "items"), ("/ui/runs", "runs"),
       ("/ui/experiments", "experiments"), ("/ui/behaviour", "behaviour"))

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                          autoescape=True, undefined=jinja2.ChainableUndefined)


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):,.4f}" if abs(float(x)) < 10 else f"{float(x):,.1f}"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):.1%}"


def _signed(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):+.4f}"


def _signed_pct(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):+.1%}"


def _ms(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):g} ms"


def _ci(pair: Any) -> str:
    return "n/a" if not pair else f"{float(pair[0]):.4f} - {float(pair[1]):.4f}"


_ENV.globals.update(num=_num, pct=_pct, signed=_signed, signed_pct=_signed_pct, ms=_ms, ci=_ci, nav=NAV)


def page(template: str, *, title: str, active: str, role: Role | None, **context: Any) -> HTMLResponse:
    """A whole dashboard page (header, navigation, the signed-in role) as an HTML response."""
    return HTMLResponse(_ENV.get_template(template).render(title=title, active=active, role=role, **context))


def fragment(template: str, **context: Any) -> HTMLResponse:
    """A partial page for htmx to swap in."""
    return HTMLResponse(_ENV.get_template(template).render(**context))


def titles_of(request: Request) -> dict[str, str]:
    """Item titles for labels: the report source's titles file when the service has one (cached per process)."""
    cached = getattr(request.app.state, "ui_titles", None)
    if cached is not None:
        return cached
    titles: dict[str, str] = {}
    try:
        from recsys.report import load_titles
        from serving.reports import ReportSource

        source = ReportSource.from_settings(request.app.state.settings)
        if source.titles is not None and source.titles.is_file():
            titles = dict(load_titles(str(source.titles)))
    except (RecsysError, OSError, ValueError) as err:  # titles only label items: never take a page down
        log.warning("dashboard without item titles: %s", err)
        titles = {}
    request.app.state.ui_titles = titles
    return titles
