"""`recsys serve`: the HTTP recommendation service on the registry's production models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from recsys.cli.app import app, user_errors


@app.command("serve")
def serve(
    registry: Path = typer.Option(..., "--registry", "-r", envvar="RECSYS_REGISTRY", help="Registry folder."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    online_store: str | None = typer.Option(None, "--online-store", envvar="REDIS_URL",
                                            help="redis://HOST:PORT/DB or sqlite:///FILE (default: SQLite file "
                                                 "online.sqlite next to the registry)."),
    admin_token: str | None = typer.Option(None, "--admin-token", envvar="RECSYS_ADMIN_TOKEN",
                                           help="Bearer token for /admin routes (unset: admin routes refused)."),
    ui_token: str | None = typer.Option(None, "--ui-token", envvar="RECSYS_UI_TOKEN",
                                        help="Read-only token of the dashboard at /ui (the admin token opens it too)."),
    default_model: str | None = typer.Option(None, "--default-model", help="Model when a request names none."),
    landing: Path | None = typer.Option(None, "--landing", help="Folder for accepted events (default: landing/ "
                                                                "next to the registry)."),
    lake: Path | None = typer.Option(None, "--lake", envvar="RECSYS_LAKE",
                                     help="Lake whose catalogue (LAKE/items) and events the catalogue routes use."),
    reload_interval: float = typer.Option(5.0, "--reload-interval", help="Seconds between alias polls (0: off)."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Log every request."),
) -> None:
    """Serve recommendations over HTTP until interrupted (see /docs for the API)."""
    import uvicorn

    from serving.app import create_app
    from serving.settings import Settings

    with user_errors():
        if not registry.is_dir():
            raise FileNotFoundError(f"registry {registry} does not exist (run `recsys train --registry` first)")
        overrides: dict[str, Any] = {"registry": registry, "reload_interval_s": reload_interval}
        if online_store:
            overrides["online_store_url"] = online_store
        if admin_token:
            overrides["admin_token"] = admin_token
        if ui_token:
            overrides["ui_token"] = ui_token
        if default_model:
            overrides["default_model"] = default_model
        if landing:
            overrides["landing_dir"] = landing
        if lake:
            overrides["lake"] = lake
        settings = Settings(**overrides)
        application = create_app(settings)
    uvicorn.run(application, host=host, port=port, access_log=access_log, log_level="warning")
