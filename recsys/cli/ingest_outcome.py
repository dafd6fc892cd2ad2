"""How `recsys ingest` ends when the run completed but a source did not: damaged, or every row quarantined."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from recsys.cli.failures import EXIT_ALL_QUARANTINED, EXIT_DAMAGED_SOURCE, print_error

if TYPE_CHECKING:
    from recsys.ingest import IngestReport


def exit_on_bad_sources(report: IngestReport) -> None:
    """After the summary: one error line per bad source and a distinct exit code, so that scripts notice.

    A damaged source (its rows before the damage were kept) exits 3; a source whose every row was quarantined
    exits 4. Either way the run's manifest has been written.
    """
    emptied = [s for s in report.sources if s.rows_read and not s.rows_accepted and not s.error]
    for s in emptied:
        top = max(s.reasons.items(), key=lambda kv: kv[1])[0] if s.reasons else "unknown"
        print_error(f"every row of {s.path} was quarantined ({s.rows_read:,} rows, most as {top}): nothing of it "
                    f"was written; is --format {s.format} right for it, or is a --map missing? "
                    f"(manifest {report.manifest})")
    for line in report.errors:
        print_error(line)
    if report.errors:
        raise typer.Exit(code=EXIT_DAMAGED_SOURCE)
    if emptied:
        raise typer.Exit(code=EXIT_ALL_QUARANTINED)
