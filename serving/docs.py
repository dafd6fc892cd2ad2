"""API documentation that works offline, and the error answers every operation documents.

Swagger UI and ReDoc are served from the assets the `fastapi-offline` package ships (no CDN), so an air-gapped
deployment has working `/docs` and `/redoc`. `responses(...)` gives the OpenAPI ``responses`` of the error codes
a route can return, each with its schema and an example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

ASSETS_URL = "/docs-assets"


class ErrorBody(BaseModel):
    """Every error answer: a sentence, or (422) a list of issues with where each one is."""

    detail: str | list[dict[str, Any]] = Field(
        description="What was wrong and what to do; for 422 a list of {type, loc, msg, input} issues.")


_ERRORS: dict[int, tuple[str, Any]] = {
    400: ("The request cannot be served as asked (e.g. a category filter on a model that knows no categories).",
          "model 'als' knows no item categories, so the category filter is unavailable"),
    401: ("Missing or wrong admin bearer token.", "missing or wrong admin bearer token"),
    403: ("Admin routes are disabled: no admin token is configured.",
          "admin routes are disabled: no admin token is configured (set RECSYS_ADMIN_TOKEN)"),
    404: ("Unknown model or item.", "unknown model 'nope'; served models: als, popularity"),
    413: ("The body is over the size limit (RECSYS_MAX_BODY_BYTES), or a batch over its limit.",
          "the request body of 20600000 bytes exceeds the limit of 8388608 bytes"),
    422: ("Malformed request: not JSON, JSON that is not portable (NaN, Infinity, 1e400, lone surrogates), a field "
          "of the wrong type or out of range, or an event ingestion would quarantine.",
          [{"type": "json_invalid", "loc": ["body"], "msg": "NaN is not a JSON number: numbers must be finite",
            "input": None}]),
    503: ("Not available right now: no model is loaded yet, or events could not be made durable. Retry later.",
          "no model is loaded yet"),
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the error `codes` (see `_ERRORS`), each with the ErrorBody schema and an example."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, example = _ERRORS[code]
        out[code] = {"model": ErrorBody, "description": description,
                     "content": {"application/json": {"example": {"detail": example}}}}
    return out


def assets_folder() -> Path:
    """The Swagger UI and ReDoc files shipped by `fastapi-offline`."""
    import fastapi_offline  # type: ignore[import-untyped]

    return Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve `docs_url` (Swagger UI) and `redoc_url` (ReDoc) with every asset from this service.

    The app must be created with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not mounted."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - API",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon.png")

    @app.get(redoc_url, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False)
