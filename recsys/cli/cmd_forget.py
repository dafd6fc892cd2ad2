"""`recsys forget`: erase one person's data (events, impressions, identity links, live state)."""

from __future__ import annotations

from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors


@app.command("forget")
def forget(
    user: str = typer.Option(..., "--user", help="The user id to erase (ids stitched to it go too)."),
    lake: Path = typer.Option(..., "--lake", help="Lake root."),
    registry: Path | None = typer.Option(None, "--registry", "-r", help="Registry: its models stop using the "
                                         "user's learned state (an erasure marker in REGISTRY/_erasures/)."),
    online_store: str | None = typer.Option(None, "--online-store", envvar="REDIS_URL",
                                            help="redis://HOST:PORT/DB or sqlite:///FILE (default: the SQLite "
                                                 "file online.sqlite next to the registry, when it exists)."),
    landing: Path | None = typer.Option(None, "--landing", help="The service's landing folder (default: landing/ "
                                                                "next to the registry, when it exists)."),
    as_json: bool = typer.Option(False, "--json", help="Print the erasure summary as one JSON object."),
) -> None:
    """Remove a user's events and impressions from LAKE (atomic partition rewrites, a manifest in
    LAKE/_manifests/), their identity links and live state; running it again is harmless."""
    from feature_store.online import open_online_store
    from feature_store.online.erasure import forget_everywhere
    from recsys.errors import InputError

    with user_errors():
        if not lake.is_dir():
            raise InputError(f"lake {lake} does not exist")
        store = None
        default_sqlite = registry.resolve().parent / "online.sqlite" if registry is not None else None
        if online_store or (default_sqlite is not None and default_sqlite.exists()):
            store = open_online_store(online_store, path=default_sqlite)
        if landing is None and registry is not None:
            landing = registry.resolve().parent / "landing"
        try:
            report = forget_everywhere(user, lake, registry, store, landing)
        finally:
            if store is not None:
                store.close()
        if as_json:
            emit_json(report.to_dict())
            return
        parts = ", ".join(f"{name} {d.rows_removed:,} of {d.rows_before:,} rows" for name, d in report.datasets.items())
        stderr_console().print(f"erased {len(report.subjects)} id(s): {parts or 'no datasets'}; "
                               f"{report.identity_links_removed} identity link(s), {report.landing_rows_removed} "
                               f"landing event(s); manifest {report.manifest}", highlight=False)
