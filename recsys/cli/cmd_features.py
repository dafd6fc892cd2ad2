"""`recsys features list|materialize|show`: the feature store from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors
from recsys.errors import InputError

features_app = typer.Typer(help="Feature store: definitions, materialization into the online store, lookups.",
                           no_args_is_help=True)
app.add_typer(features_app, name="features")

_STORE = typer.Option(None, "--online-store", help="redis://HOST:PORT/DB or sqlite:///FILE (default: SQLite file).")
_PATH = typer.Option(None, "--path", help="SQLite file when --online-store is not given (default online_store.sqlite).")


def parse_as_of(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO-8601 datetime (naive means UTC)."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise InputError(f"--as-of {value!r} is not a date or ISO-8601 datetime (e.g. 2026-01-15T00:00:00Z)") from err
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@features_app.command("list")
def list_features(as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout.")) -> None:
    """The declared features: name, entity, aggregation, window."""
    from feature_store.definitions import FEATURES

    rows: list[dict[str, Any]] = [{"name": f.name, "entity": f.entity, "aggregation": f.aggregation, "source": f.source,
             "window_days": f.window.total_seconds() / 86400, "event_types": list(f.event_types),
             "description": f.description} for f in FEATURES.values()]
    if as_json:
        emit_json({"features": rows})
        return
    from rich.table import Table

    table = Table()
    table.add_column("name", no_wrap=True)
    for column in ("entity", "aggregation", "window (days)", "description"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["name"]), str(r["entity"]), str(r["aggregation"]), f"{r['window_days']:g}",
                      str(r["description"]))
    stderr_console().print(table)


@features_app.command("materialize")
def materialize_cmd(
    lake: Path = typer.Option(..., "--lake", help="Lake directory."),
    as_of: str = typer.Option(..., "--as-of", help="Features as of this instant (events strictly before it)."),
    online_store: str | None = _STORE,
    path: Path | None = _PATH,
    entity: list[str] = typer.Option(["user", "item"], "--entity", help="Entities to materialize (repeatable)."),
    batch_size: int = typer.Option(1000, "--batch-size", help="Entities per write to the online store."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object on stdout."),
) -> None:
    """Compute the latest feature values from the lake and upsert them into the online store."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from feature_store.materialize import materialize
    from feature_store.online import open_online_store

    with user_errors():
        when = parse_as_of(as_of)
        store = open_online_store(online_store, path=path)
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          console=stderr_console(), transient=True) as bar:
                tasks: dict[str, TaskID] = {}

                def progress(name: str, done: int, total: int) -> None:
                    if name not in tasks:
                        tasks[name] = bar.add_task(f"materializing {name} features", total=total)
                    bar.update(tasks[name], completed=done)

                report = materialize(lake, store, when, entities=entity, batch_size=batch_size, progress=progress)
        finally:
            store.close()
    if as_json:
        emit_json(report.to_dict())
    else:
        stderr_console().print(f"materialized {report.rows} as of {report.as_of} in {report.seconds} s",
                               highlight=False)


@features_app.command("show")
def show(
    entity: str = typer.Option(..., "--entity", help="user or item."),
    key: list[str] = typer.Option(..., "--key", help="Entity id (repeatable)."),
    online_store: str | None = _STORE,
    path: Path | None = _PATH,
    names: str | None = typer.Option(None, "--names", help="Only these features, comma-separated."),
) -> None:
    """Print the online feature values of some entities as one JSON object: {key: {feature: value}}."""
    from feature_store.definitions import features_for
    from feature_store.online import open_online_store

    with user_errors():
        wanted = [n.strip() for n in names.split(",") if n.strip()] if names else None
        features_for(entity, wanted)  # validates the entity and the names before touching the store
        store = open_online_store(online_store, path=path)
        try:
            found = store.get_features(entity, key, wanted)
        finally:
            store.close()
        missing = [k for k in key if k not in found]
        if missing:
            stderr_console().print(f"no features online for {entity} {', '.join(missing)} "
                                   "(materialize first, or the entity had no recent events)", highlight=False)
        emit_json(found)
        if len(missing) == len(key):
            raise typer.Exit(code=1)
