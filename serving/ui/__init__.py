"""The dashboard under ``/ui``: server-rendered Jinja2 pages with htmx for in-place updates.

Why this stack: the pages are views of the service's own API, so rendering them on the server keeps one source of
truth and no build step; htmx (one 50 KB file, vendored under ``static/`` and served by us, never from a CDN) adds
in-place updates (post a test event, hide an item, reload models) without a JavaScript application to maintain.
Views: service (`pages_service`), users and items (`pages_users`), runs, experiments, behaviour (`pages_runs`).
``install_ui(app)`` adds the routes, the static files and the sign-in redirect.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from serving.ui.access import SignInRequired, sign_in_url

STATIC = Path(__file__).with_name("static")
HTMX_SHA256 = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"
"""htmx 2.0.4 (dist/htmx.min.js of the npm package htmx.org, BSD-0 licence); a test checks the vendored file."""


def install_ui(app: FastAPI) -> None:
    """Add the dashboard to `app`."""
    from serving.ui import pages_runs, pages_service, pages_users

    for module in (pages_service, pages_users, pages_runs):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, err: SignInRequired) -> RedirectResponse:
        return RedirectResponse(sign_in_url(err.next_url), status_code=303)
