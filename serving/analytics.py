"""Routes serving the behaviour analytics report: ``/analytics`` (list), ``/analytics/latest`` and
``/analytics/range``.

Pages come from ``REPORTS_DIR/analytics/behaviour-YYYY-MM-DD.html`` (the nightly DAG writes them) and, for
``/analytics/range`` and when no page has been rendered yet, from the lake on demand (cached per lake state and
range). ``?format=json`` gives the numbers. The lake is the service's ``lake`` setting (``recsys serve --lake``).
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from recsys.errors import RecsysError
from serving.reports import RENDER_LOCK

router = APIRouter(prefix="/analytics", tags=["analytics"])

_PAGE = re.compile(r"^behaviour-(\d{4}-\d{2}-\d{2})\.html$")
FormatQuery = Annotated[Literal["html", "json"], Query(description="html (the page) or json (its numbers)")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad range or funnel (e.g. an unknown step; the known ones are listed)"},
    404: {"description": "No lake configured and no rendered page"},
}


class AnalyticsPage(BaseModel):
    day: str
    html_url: str


class AnalyticsList(BaseModel):
    latest: str | None
    pages: list[AnalyticsPage]
    range_url: str
    """On-demand report over the lake (``?from=YYYY-MM-DD&to=YYYY-MM-DD``; the default range when omitted)."""


def _settings(request: Request) -> Any:
    return getattr(request.app.state, "settings", None)


def _pages(request: Request) -> list[tuple[str, Path]]:
    """(day, path) of rendered pages, newest first."""
    reports = getattr(_settings(request), "reports_dir", None)
    folder = Path(reports) / "analytics" if reports else None
    if folder is None or not folder.is_dir():
        return []
    found = [(m.group(1), p) for p in folder.iterdir() if (m := _PAGE.match(p.name)) and p.is_file()]
    return sorted(found, reverse=True)


def _lake(request: Request) -> Path:
    lake = getattr(_settings(request), "lake", None)
    if lake is None or not Path(lake).is_dir():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no behaviour report: the service has no lake (start it with "
                                                       "`recsys serve --lake LAKE`) and no page was rendered yet")
    return Path(lake)


@router.get("", response_model=AnalyticsList, summary="List the rendered behaviour reports, newest first")
def list_analytics(request: Request) -> AnalyticsList:
    base = str(request.url_for("analytics_latest")).rsplit("/", 1)[0]
    pages = [AnalyticsPage(day=d, html_url=f"{base}/day/{d}") for d, _ in _pages(request)]
    return AnalyticsList(latest=pages[0].day if pages else None, pages=pages, range_url=f"{base}/range")


@router.get("/latest", response_class=HTMLResponse, name="analytics_latest", responses=_ERRORS,
            summary="The newest rendered behaviour report (else the lake's default range, rendered now)")
def latest(request: Request, format: FormatQuery = "html") -> Response:
    pages = _pages(request)
    if pages and format == "html":
        return HTMLResponse(pages[0][1].read_text(encoding="utf-8"))
    return _live(_lake(request), None, None, format)


@router.get("/day/{day}", response_class=HTMLResponse, responses=_ERRORS, summary="The page rendered for one day")
def page(day: str, request: Request) -> Response:
    found = dict(_pages(request)).get(day)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no behaviour report rendered for {day!r}")
    return HTMLResponse(found.read_text(encoding="utf-8"))


@router.get("/range", response_class=HTMLResponse, responses=_ERRORS,
            summary="The behaviour report over a range of the lake, rendered on demand")
def by_range(
    request: Request,
    start: Annotated[date | None, Query(alias="from", description="First UTC day (default: the data's)")] = None,
    end: Annotated[date | None, Query(alias="to", description="UTC day after the last (exclusive)")] = None,
    format: FormatQuery = "html",
) -> Response:
    return _live(_lake(request), start, end, format)


def _live(lake: Path, start: date | None, end: date | None, fmt: str) -> Response:
    stamp = _lake_stamp(lake)
    try:
        html, numbers = _render(str(lake), start, end, stamp)
    except RecsysError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    return JSONResponse(json.loads(numbers)) if fmt == "json" else HTMLResponse(html)


def _lake_stamp(lake: Path) -> int:
    """Changes when ingestion adds or rewrites a partition (their folders' mtimes move)."""
    events = lake / "events"
    if not events.is_dir():
        return 0
    return max([events.stat().st_mtime_ns] + [p.stat().st_mtime_ns for p in events.iterdir()])


@lru_cache(maxsize=8)
def _render(lake: str, start: date | None, end: date | None, stamp: int) -> tuple[str, str]:
    from feature_store.analytics import analytics_report
    from feature_store.analytics.render import render_html

    with RENDER_LOCK:
        report = analytics_report(lake, start, end)
        return render_html(report), json.dumps(report, default=str)
