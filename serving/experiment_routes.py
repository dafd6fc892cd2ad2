"""`/experiments` and `/experiments/{name}`: experiment definitions and their reports (HTML or JSON)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from recsys.errors import InputError, RecsysError
from recsys.experiments.definitions import ExperimentStore

router = APIRouter(tags=["experiments"])
FormatQuery = Annotated[Literal["html", "json"], Query(description="html (the report page) or json.")]


@router.get("/experiments", responses={200: {"description": "Every experiment with its status and arms, and the "
                                                          "answers this process gave per arm since it started."}})
async def list_experiments(request: Request) -> JSONResponse:
    """Experiment definitions of the served registry."""
    store = ExperimentStore(request.app.state.settings.registry)
    exps = await run_in_threadpool(store.list)
    online = getattr(request.app.state, "online", None)
    served = online.served if online is not None else {}
    return JSONResponse({"experiments": [
        e.to_dict() | {"served": {arm: n for (name, arm), n in served.items() if name == e.name}} for e in exps]})


@router.get("/experiments/{name}", responses={
    200: {"description": "The experiment report.", "content": {"text/html": {}, "application/json": {}}},
    404: {"description": "No such experiment, or no impressions of it in the lake yet."},
    422: {"description": "Invalid experiment name or format."}})
async def experiment_page(name: str, request: Request, format: FormatQuery = "html") -> Response:
    """The report of experiment `name`, computed from the lake (setting `lake`, else lake/ next to the registry)."""
    from recsys.experiments.render import experiment_json, render_experiment_html
    from recsys.experiments.report import experiment_report

    settings = request.app.state.settings
    try:
        rep = await run_in_threadpool(experiment_report, settings.registry, settings.lake_folder, name)
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    except (InputError, RecsysError) as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    if format == "json":
        return Response(experiment_json(rep), media_type="application/json")
    return HTMLResponse(render_experiment_html(rep))
