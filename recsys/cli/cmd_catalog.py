"""`recsys catalog load|show`: item metadata -> ``LAKE/items/`` (validated, versioned), and reading it back."""

from __future__ import annotations

from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors
from recsys.cli.cmd_ingest import _parse_map

catalog_app = typer.Typer(help="Load the item catalogue into the lake and inspect it.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("load")
def load(
    source: Path = typer.Argument(..., help="Catalogue file (csv, jsonl, parquet, u.item, movies.dat, ...)."),
    lake: Path = typer.Option(..., "--lake", help="Lake root: writes items/ (current, _history, _quarantine)."),
    fmt: str = typer.Option("auto", "--format", help="auto|csv|jsonl|parquet|movielens-items|taobao."),
    mapping: list[str] = typer.Option([], "--map", help="FIELD=COLUMN, e.g. --map item_id=sku (repeatable)."),
    as_of: str | None = typer.Option(None, "--as-of", help="When changed items' new versions start (ISO time; "
                                                            "default: now)."),
    as_json: bool = typer.Option(False, "--json", help="Print the load summary as one JSON object on stdout."),
) -> None:
    """Validate items and merge them into LAKE/items/ (bad rows to LAKE/items/_quarantine/); re-loading the same
    file changes nothing; changed items get a new version in the history."""
    from recsys.catalog import load_catalog
    from recsys.catalog.validate import Rejected, parse_time

    with user_errors():
        try:
            when = parse_time(as_of) if as_of else None
        except Rejected as err:
            raise ValueError(f"--as-of must be an ISO-8601 time, got {as_of!r}") from err
        report = load_catalog(source, lake, fmt=fmt, mapping=_parse_map(mapping), as_of=when)
        if as_json:
            emit_json(report.to_dict())
            return
        console = stderr_console()
        console.print(f"read {report.rows_read:,} rows: {report.inserted:,} new items, {report.updated:,} changed, "
                      f"{report.unchanged:,} unchanged, {report.rows_quarantined:,} quarantined, "
                      f"{report.duplicates:,} duplicates ({report.seconds:.2f} s); manifest {report.manifest}",
                      highlight=False)
        for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  quarantined {count:,} x {reason}", highlight=False)


@catalog_app.command("show")
def show(
    lake: Path = typer.Option(..., "--lake", help="Lake root."),
    item: list[str] = typer.Option([], "--item", help="Only these item ids (repeatable)."),
    as_of: str | None = typer.Option(None, "--as-of", help="The catalogue as it was at this ISO time."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many items."),
) -> None:
    """Print catalogue items as JSON Lines on stdout (the current catalogue, or as of a time)."""
    import pyarrow.compute as pc

    from recsys.catalog import read_items
    from recsys.catalog.validate import Rejected, parse_time

    with user_errors():
        try:
            when = parse_time(as_of) if as_of else None
        except Rejected as err:
            raise ValueError(f"--as-of must be an ISO-8601 time, got {as_of!r}") from err
        table = read_items(lake, when)
        if item:
            table = table.filter(pc.is_in(table["item_id"], value_set=pc.cast(item, "string")))
        for row in table.slice(0, limit).to_pylist():
            emit_json(row)
