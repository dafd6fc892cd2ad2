"""`load_catalog`: a catalogue file -> validated items merged into ``LAKE/items/``, with a quarantine and a manifest.

Conservation holds for every load: rows_read = rows_accepted + rows_quarantined + duplicates, and
rows_accepted = inserted + updated + unchanged. A later row of the same item is merged over an earlier one (its
fields win; counted as a duplicate), as the newer line of a catalogue export is the correction.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recsys.catalog.adapters import detect_format, read_records
from recsys.catalog.schema import MANIFESTS_DIR, QUARANTINE_DIR
from recsys.catalog.store import apply_changes, items_dir
from recsys.catalog.validate import Item, Rejected, normalize
from recsys.ingest.counts import RowCounts
from recsys.ingest.pipeline import source_key
from recsys.ingest.writer import QUARANTINE_SCHEMA, atomic_write_table

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class CatalogReport(RowCounts):
    """Summary of one load (also saved as its manifest)."""

    run_id: str
    lake: str
    source: str
    format: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    """How the accepted rows changed the catalogue: rows_accepted = inserted + updated + unchanged."""
    quarantine_file: str | None = None
    as_of: str = ""
    seconds: float = 0.0
    manifest: str = ""

    @property
    def rows_accepted(self) -> int:
        """Rows merged into the catalogue (the `RowCounts` rows_written of a catalogue load)."""
        return self.rows_written

    @property
    def conserved(self) -> bool:
        return super().conserved and self.rows_written == self.inserted + self.updated + self.unchanged

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"rows_accepted": self.rows_accepted}


def load_catalog(path: str | Path, lake: str | Path, *, fmt: str = "auto", mapping: dict[str, str] | None = None,
                 as_of: datetime | None = None) -> CatalogReport:
    """Load catalogue file `path` into `lake` (see the module doc). `mapping` is canonical field -> source column;
    `as_of` is when the changed items' new versions start (default: now)."""
    started = time.perf_counter()
    path, lake = Path(path), Path(lake)
    when = (as_of or datetime.now(UTC)).astimezone(UTC)
    report = CatalogReport(run_id=uuid.uuid4().hex[:12], lake=str(lake), source=str(path),
                           format=detect_format(path) if fmt == "auto" else fmt, as_of=when.isoformat())
    items: dict[str, Item] = {}
    rejected: list[dict[str, Any]] = []
    for n, record, raw in read_records(path, report.format, mapping):
        report.rows_read += 1
        try:
            if record is None:
                raise Rejected("unparseable", "the line could not be parsed")
            item = normalize(record)
        except Rejected as err:
            rejected.append({"source": str(path), "row": n, "reason": err.reason, "raw": raw[:2000]})
            report.reasons[err.reason] = report.reasons.get(err.reason, 0) + 1
            continue
        earlier = items.pop(item["item_id"], None)
        if earlier is not None:  # the later row's fields win; the item takes the later row's position
            report.duplicates += 1
            item = {**earlier, **item}
        items[item["item_id"]] = item
    report.rows_quarantined = len(rejected)
    report.rows_written = len(items)
    stats, _ = apply_changes(lake, items.values(), when)
    report.inserted, report.updated, report.unchanged = stats.inserted, stats.updated, stats.unchanged
    report.quarantine_file = _write_quarantine(lake, path, rejected)
    report.seconds = round(time.perf_counter() - started, 3)
    report.manifest = str(_write_manifest(lake, report))
    log.info("catalogue %s: %d rows, %d new, %d changed, %d unchanged, %d quarantined, %d duplicates", path,
             report.rows_read, report.inserted, report.updated, report.unchanged, report.rows_quarantined,
             report.duplicates)
    return report


def _write_quarantine(lake: Path, source: Path, rows: list[dict[str, Any]]) -> str | None:
    """Rejected rows under a name fixed by the source's content, so a re-load replaces its own quarantine."""
    target = items_dir(lake) / QUARANTINE_DIR / f"part-{source_key(source)}.parquet"
    if not rows:
        target.unlink(missing_ok=True)
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_table(pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA), target)
    return str(target)


def _write_manifest(lake: Path, report: CatalogReport) -> Path:
    folder = items_dir(lake) / MANIFESTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report.as_of.replace(":", "").replace("-", "").split(".")[0].split("+")[0]
    target = folder / f"load-{stamp}-{report.run_id}.json"
    target.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    return target


def read_quarantine(lake: str | Path) -> pa.Table:
    """Every quarantined catalogue row (source, row, reason, raw)."""
    files = sorted((items_dir(lake) / QUARANTINE_DIR).glob("part-*.parquet"))
    if not files:
        return QUARANTINE_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=QUARANTINE_SCHEMA) for f in files])
