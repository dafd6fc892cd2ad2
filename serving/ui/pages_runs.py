"""The runs view (list, and any two runs compared with intervals and gate decisions), the experiments view and the
behaviour view (the analytics KPIs for a chosen range)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from recsys.report.headline import better
from serving.ui.access import ViewerDep
from serving.ui.api import ServiceClient, error_text
from serving.ui.render import page

router = APIRouter(prefix="/ui", tags=["dashboard"], include_in_schema=False)


@router.get("/runs", response_class=HTMLResponse)
async def runs_view(request: Request, role: ViewerDep) -> Response:
    listing = await ServiceClient(request).json("/reports") or {"reports": []}
    return page("runs.html.j2", title="Runs", active="runs", role=role, runs=listing["reports"])


@router.get("/runs/compare", response_class=HTMLResponse)
async def compare_view(request: Request, role: ViewerDep, a: str, b: str) -> Response:
    api = ServiceClient(request)
    reports = []
    for run_id in (a, b):
        answer = await api.get(f"/reports/{run_id}", format="json")
        if answer.status_code != 200:
            return page("runs.html.j2", title="Runs", active="runs", role=role, runs=[],
                        error=f"run {run_id}: {error_text(answer)}")
        reports.append(answer.json())
    return page("compare.html.j2", title=f"{a} vs {b}", active="runs", role=role, a=reports[0], b=reports[1],
                rows=compare_rows(reports[0], reports[1]), gate_text=gate_text)


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model and headline metric: both values, their intervals, the difference and whether it is significant
    (the intervals do not overlap) and in which direction it goes for the reader."""
    rows = []
    for model in sorted(set(a["models"]) | set(b["models"])):
        ma, mb = a["models"].get(model, {}), b["models"].get(model, {})
        metrics = sorted({k for k in (ma.get("metrics") or {}) | (mb.get("metrics") or {}) if k.endswith("@10")})
        for metric in metrics:
            va, vb = (ma.get("metrics") or {}).get(metric), (mb.get("metrics") or {}).get(metric)
            ca, cb = (ma.get("ci") or {}).get(metric), (mb.get("ci") or {}).get(metric)
            delta = vb - va if va is not None and vb is not None else None
            significant = bool(ca and cb and (cb[0] > ca[1] or cb[1] < ca[0]))
            good = better(metric, delta)  # the offline report's reading: lower average popularity is better
            rows.append({"model": model, "metric": metric, "a": va, "b": vb, "a_ci": ca, "b_ci": cb, "delta": delta,
                         "significant": significant,
                         "direction": "" if not significant or good is None else "better" if good else "worse"})
    return rows


def gate_text(report: dict[str, Any], model: str) -> str:
    """The gate's recorded decision for `model` in plain words."""
    decision = next((g for g in report.get("gate") or [] if isinstance(g, dict) and g.get("model") == model), None)
    if decision is None:
        return "no gate decision recorded"
    reason = decision.get("reason") or ""
    return f"{'promoted' if decision.get('promoted') else 'not promoted'}{': ' + str(reason) if reason else ''}"


@router.get("/experiments", response_class=HTMLResponse)
async def experiments_view(request: Request, role: ViewerDep) -> Response:
    listing = await ServiceClient(request).json("/experiments", format="json")
    experiments = listing.get("experiments", listing) if isinstance(listing, dict) else listing
    return page("experiments.html.j2", title="Experiments", active="experiments", role=role,
                experiments=experiments)


@router.get("/behaviour", response_class=HTMLResponse)
async def behaviour_view(
    request: Request,
    role: ViewerDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    params = {k: v for k, v in (("from", start or None), ("to", end or None)) if v}
    answer = await ServiceClient(request).get("/analytics/range", format="json", **params)
    report = answer.json() if answer.status_code == 200 else None
    mean_dau = sum(report["dau"].values()) / len(report["dau"]) if report and report["dau"] else None
    return page("behaviour.html.j2", title="Behaviour", active="behaviour", role=role, r=report,
                error=None if report else error_text(answer), start=start, end=end, mean_dau=mean_dau,
                query="?" + urlencode(params) if params else "")
