"""Routes serving the offline metrics reports: ``/reports`` (list), ``/reports/latest`` and ``/reports/{run_id}``.

Pages come from the reports folder when a rendered page of that run is there (the nightly DAG writes them), and are
otherwise rendered on demand from the registry's run records (cached per run record). ``?format=json`` gives the
same numbers as JSON. Include `router` in the app; the routes find the registry and the reports folder through
`get_report_source`: ``app.state.report_source`` when set (see `configure_reports`), else ``app.state.settings``
(its ``registry`` and ``reports_dir``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from recsys.errors import RecsysError
from serving.docs import responses

log = logging.getLogger(__name__)

router = APIRouter(prefix="/reports", tags=["reports"])

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RENDER_LOCK = threading.Lock()
"""matplotlib's rc settings are process-global: one page (offline report or behaviour report) renders at a time."""


@dataclass(frozen=True)
class ReportSource:
    """Where reports come from: a registry to render from and/or a folder of rendered pages."""

    registry: Path | None = None
    reports_dir: Path | None = None
    titles: Path | None = None
    """Item titles for pages rendered on demand (movies.dat, u.item or items.csv)."""

    @classmethod
    def from_settings(cls, settings: Any) -> ReportSource:
        """From the service's settings: ``registry``, ``reports_dir`` and, for titles, the generator's items.csv
        in the landing folder when there is one."""
        registry = getattr(settings, "registry", None)
        reports_dir = getattr(settings, "reports_dir", None)
        titles = getattr(settings, "report_titles", None)
        if titles is None:
            landing = getattr(settings, "landing_dir", None)
            if landing is None and registry is not None:
                landing = Path(registry).resolve().parent / "landing"
            if landing is not None and (Path(landing) / "items.csv").is_file():
                titles = Path(landing) / "items.csv"
        return cls(registry=Path(registry) if registry else None,
                   reports_dir=Path(reports_dir) if reports_dir else None,
                   titles=Path(titles) if titles else None)


def configure_reports(app: FastAPI, *, registry: Path | None = None, reports_dir: Path | None = None,
                      titles: Path | None = None) -> None:
    """Point the report routes of `app` at a registry and/or a folder of rendered reports."""
    app.state.report_source = ReportSource(registry=registry, reports_dir=reports_dir, titles=titles)


def get_report_source(request: Request) -> ReportSource:
    """The report source of the app (see the module docstring)."""
    source = getattr(request.app.state, "report_source", None)
    if isinstance(source, ReportSource):
        return source
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "reports are not configured: set a registry or a reports folder (RECSYS_REPORTS_DIR)")
    return ReportSource.from_settings(settings)


SourceDep = Annotated[ReportSource, Depends(get_report_source)]
FormatQuery = Annotated[Literal["html", "json"], Query(description="html (the page) or json (its numbers)")]


class ReportEntry(BaseModel):
    run_id: str
    created_at: str
    models: dict[str, dict[str, Any]]
    html_url: str
    json_url: str
    file: str | None = None
    """The rendered page in the reports folder, when there is one."""


class ReportList(BaseModel):
    latest: str | None
    reports: list[ReportEntry]


@router.get("", response_model=ReportList, summary="List the offline metrics reports, newest first",
            responses=responses(503))
def list_reports(source: SourceDep, request: Request) -> ReportList:
    from recsys.report import summarize_runs
    from recsys.report.files import find_reports

    files = {m["run_id"]: m for m in find_reports(source.reports_dir)} if source.reports_dir else {}
    runs: list[dict[str, Any]] = []
    if _has_registry(source):
        try:
            runs = summarize_runs(source.registry)  # type: ignore[arg-type]
        except RecsysError as err:
            log.warning("cannot list the registry's runs: %s", err)
    known = {r["run_id"] for r in runs}
    runs += [{"run_id": rid, "created_at": m["created_at"], "models": {}} for rid, m in files.items()
             if rid not in known]
    runs.sort(key=lambda r: r["created_at"], reverse=True)
    base = str(request.url_for("report_page", run_id="RUN")).rsplit("/", 1)[0]
    entries = [ReportEntry(run_id=r["run_id"], created_at=r["created_at"], models=r["models"],
                           html_url=f"{base}/{r['run_id']}", json_url=f"{base}/{r['run_id']}?format=json",
                           file=str(files[r["run_id"]]["path"]) if r["run_id"] in files else None)
               for r in runs]
    latest = _latest_run_id(source)
    return ReportList(latest=latest, reports=entries)


@router.get("/latest", response_class=HTMLResponse, summary="The report of the newest training run",
            responses=responses(404, 503))
def latest_report(source: SourceDep, format: FormatQuery = "html") -> Response:
    run_id = _latest_run_id(source)
    if run_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "no offline report yet: no training run in the registry and no rendered report in the "
                            "reports folder (run `recsys train`, then `recsys report`)")
    return _respond(source, run_id, format)


@router.get("/{run_id}", response_class=HTMLResponse, name="report_page", summary="The report of one training run",
            responses=responses(404, 503))
def report_page(run_id: str, source: SourceDep, format: FormatQuery = "html") -> Response:
    if not _RUN_ID.match(run_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report for run {run_id!r}")
    return _respond(source, run_id, format)


# ---------------------------------------------------------------------------------------------- helpers
def _has_registry(source: ReportSource) -> bool:
    return source.registry is not None and source.registry.is_dir()


def _latest_run_id(source: ReportSource) -> str | None:
    """The registry's newest run; without runs there, the newest rendered page in the reports folder."""
    from recsys.report.files import find_reports

    if _has_registry(source):
        from recsys.registry import RunStore

        latest = RunStore(source.registry).latest()  # type: ignore[arg-type]
        if latest is not None:
            return latest.run_id
    pages = find_reports(source.reports_dir) if source.reports_dir else []
    return pages[0]["run_id"] if pages else None


def _runs_dir(source: ReportSource) -> Path:
    from recsys.registry.runs import RUNS_DIR

    return source.registry / RUNS_DIR  # type: ignore[operator]


def _respond(source: ReportSource, run_id: str, fmt: str) -> Response:
    from recsys.report.files import find_reports

    page = next((m for m in find_reports(source.reports_dir) if m["run_id"] == run_id), None) \
        if source.reports_dir else None
    if fmt == "html" and page is not None:
        return HTMLResponse(page["path"].read_text(encoding="utf-8"), headers={"X-Report-Run": run_id})
    if fmt == "json" and page is not None and not _has_registry(source):
        sidecar = page["path"].with_suffix(".json")
        if sidecar.is_file():
            return JSONResponse(json.loads(sidecar.read_text(encoding="utf-8")), headers={"X-Report-Run": run_id})
    record = _runs_dir(source) / f"{run_id}.json" if _has_registry(source) else None
    if record is None or not record.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report for run {run_id!r}: it is not in the registry "
                                                       "and no rendered page of it is in the reports folder")
    stamp = (record.stat().st_mtime_ns, _runs_dir(source).stat().st_mtime_ns)
    try:
        html, numbers = _render(str(source.registry), run_id, str(source.titles) if source.titles else None, stamp)
    except RecsysError as err:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"cannot render run {run_id!r}: {err}") from err
    if fmt == "json":
        return JSONResponse(json.loads(numbers), headers={"X-Report-Run": run_id})
    return HTMLResponse(html, headers={"X-Report-Run": run_id})


@lru_cache(maxsize=8)
def _render(registry: str, run_id: str, titles: str | None, stamp: tuple[int, int]) -> tuple[str, str]:
    """HTML and JSON text of one run's report; `stamp` (record and runs-folder mtimes) keys the cache, so a
    re-recorded run or a new run (the history plot) renders again."""
    from recsys.report import build_report, load_titles, render_html, to_json

    title_map = load_titles(titles) if titles and Path(titles).is_file() else None
    with RENDER_LOCK:
        report = build_report(registry, run_id, titles=title_map)
        return render_html(report), to_json(report)
