"""`recsys serve`: the HTTP recommendation service on the registry's production models."""

from __future__ import annotations

import os
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
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes sharing the port and the online store; "
                                                            "each polls the aliases, so all reload within "
                                                            "--reload-interval of a promotion."),
) -> None:
    """Serve recommendations over HTTP until interrupted (see /docs for the API)."""
    import uvicorn

    from serving.app import create_app
    from serving.settings import Settings

    with user_errors():
        if not registry.is_dir():
            raise FileNotFoundError(f"registry {registry} does not exist (run `recsys train --registry` first)")
        given = {"online_store_url": online_store, "admin_token": admin_token, "ui_token": ui_token,
                 "default_model": default_model, "landing_dir": landing, "lake": lake}
        overrides: dict[str, Any] = {"registry": registry, "reload_interval_s": reload_interval,
                                     **{k: v for k, v in given.items() if v}}
        if workers > 1 and reload_interval <= 0:
            raise ValueError("--workers above 1 needs --reload-interval > 0: each worker learns of a promotion "
                             "by polling the aliases (an /admin/reload reaches only the worker that answers it)")
        settings = Settings(**overrides)
        if workers > 1:  # each worker process builds its app from these settings, passed through the environment
            os.environ.update({f"RECSYS_{key.upper()}": str(value) for key, value in overrides.items()})
            uvicorn.run("serving.app:create_app", factory=True, workers=workers, host=host, port=port,
                        access_log=access_log, log_level="warning")
            return
        application = create_app(settings)
    uvicorn.run(application, host=host, port=port, access_log=access_log, log_level="warning")
