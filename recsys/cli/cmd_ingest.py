"""`recsys ingest`: raw event logs and public data sets -> the Parquet lake."""

from __future__ import annotations

from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors
from recsys.cli.ingest_outcome import exit_on_bad_sources


def _parse_map(pairs: list[str], option: str = "--map", form: str = "FIELD=COLUMN", example: str = "user_id=userId"
               ) -> dict[str, str]:
    from recsys.errors import InputError

    mapping = {}
    for pair in pairs:
        dst, sep, src = pair.partition("=")
        if not sep or not dst.strip() or not src.strip():
            raise InputError(f"{option} takes {form} (e.g. {example}), got {pair!r}")
        mapping[dst.strip()] = src.strip()
    return mapping


@app.command()
def ingest(
    sources: list[Path] = typer.Argument(..., help="Event files (or folders of *.jsonl / *.parquet files)."),
    lake: Path = typer.Option(..., "--lake", help="Lake root: writes events/, quarantine/ and _manifests/."),
    fmt: str = typer.Option("auto", "--format", help="auto|jsonl|csv|parquet|movielens|taobao|amazon-seq|"
                            "segment|mixpanel|amplitude|ga4."),
    mapping: list[str] = typer.Option([], "--map", help="FIELD=PATH, e.g. --map user_id=userId or "
                                      "item_id=properties.product_id; a|b takes the first present (repeatable)."),
    explode: str | None = typer.Option(None, "--explode", help="Array whose elements are one event each; its "
                                       "element fields are PATHs under its name (events.aid)."),
    constants: list[str] = typer.Option([], "--set", help="FIELD=VALUE for every event, e.g. event_type=rating."),
    event_map: list[str] = typer.Option([], "--event-map", help="SRC=DST event name, e.g. clicks=click "
                                        "(case-insensitive; unmapped names are kept lower-cased)."),
    ts_unit: str | None = typer.Option(None, "--ts-unit", help="Unit of numeric timestamps: s|ms|us|ns."),
    max_future_days: float = typer.Option(1.0, "--max-future-days", help="Reject events later than now + this."),
    min_date: str = typer.Option("1990-01-01", "--min-date", help="Reject events before this UTC date."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as one JSON object on stdout."),
) -> None:
    """Validate, deduplicate and write events to LAKE/events/dt=YYYY-MM-DD/ (bad rows to LAKE/quarantine/)."""
    from datetime import UTC, datetime, timedelta

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from recsys.errors import InputError
    from recsys.ingest import ingest as run_ingest
    from recsys.ingest.arrowutil import prefer_jemalloc
    from recsys.ingest.mapping import MapSpec

    prefer_jemalloc()
    with user_errors():
        try:
            min_ts = datetime.fromisoformat(min_date).replace(tzinfo=UTC)
        except ValueError as err:
            raise InputError(f"--min-date must be YYYY-MM-DD, got {min_date!r}") from err
        console = stderr_console()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                      transient=True) as progress:
            task = progress.add_task("ingesting", total=None)

            def on_rows(source: str, rows: int) -> None:
                progress.update(task, description=f"{Path(source).name}: {rows:,} rows read")

            spec = MapSpec(_parse_map(mapping), explode,
                           _parse_map(constants, "--set", "FIELD=VALUE", "event_type=rating"),
                           _parse_map(event_map, "--event-map", "SRC=DST", "clicks=click"))
            report = run_ingest(sources, lake, fmt=fmt, ts_unit=ts_unit, spec=spec,
                                min_ts=min_ts, max_future=timedelta(days=max_future_days), on_rows=on_rows)
        if as_json:
            emit_json(report.to_dict())
        else:
            if report.records_read != report.rows_read:
                console.print(f"{report.records_read:,} source records gave {report.rows_read:,} events",
                              highlight=False)
            console.print(f"read {report.rows_read:,} rows: {report.rows_written:,} written to "
                          f"{len(report.partitions)} partitions, {report.rows_quarantined:,} quarantined, "
                          f"{report.duplicates:,} duplicates ({report.seconds:.2f} s); manifest {report.manifest}",
                          highlight=False)
            if report.impressions:
                imp = report.impressions
                console.print(f"impressions: read {imp['rows_read']:,}, {imp['rows_written']:,} written, "
                              f"{imp['rows_quarantined']:,} quarantined, {imp['duplicates']:,} duplicates",
                              highlight=False)
            for note in report.notes:
                console.print(f"note: {note}", highlight=False)
            for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1]):
                console.print(f"  quarantined {count:,} x {reason}", highlight=False)
        exit_on_bad_sources(report)
