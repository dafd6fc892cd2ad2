"""Impression logs (``impressions-*.jsonl``, written by the service) -> ``LAKE/impressions/dt=YYYY-MM-DD/``.

The same rules as events: every row is validated, bad rows go to the quarantine with a reason code, rows are
deduplicated by `request_id` (within the run and against the partition), files are written atomically, and
rows_read = rows_written + rows_quarantined + duplicates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.errors import InputError
from recsys.events import PARTITION_KEY
from recsys.impressions import IMPRESSION_SCHEMA, IMPRESSIONS_DIR, SURFACES
from recsys.ingest.readers import iter_lines, raw_text
from recsys.ingest.validate import MAX_ID_LENGTH
from recsys.ingest.writer import QuarantineWriter, atomic_write_table

log = logging.getLogger(__name__)

PREFIX = "impressions-"
MAX_ITEMS = 10_000
REASONS = {
    "malformed_json": "the line is not valid JSON", "not_an_object": "the line is not a JSON object",
    "non_utf8": "the line is not valid UTF-8", "line_too_long": "the line is longer than the maximum",
    "missing_<field>": "request_id, ts, model or items is absent", "bad_<field>": "the field has a wrong type or value",
    "ts_too_old": "before the lower bound", "ts_in_future": "after the run time plus the allowed skew",
}


@dataclass
class ImpressionReport:
    """One run's impression counts (part of the ingest report)."""

    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    duplicates: int = 0
    partitions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def conserved(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_quarantined + self.duplicates

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"conserved": self.conserved}


def is_impression_log(path: Path) -> bool:
    return path.name.startswith(PREFIX) and path.name.endswith((".jsonl", ".jsonl.gz"))


def split_impressions(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(event files, impression logs) of the expanded source list."""
    return [p for p in paths if not is_impression_log(p)], [p for p in paths if is_impression_log(p)]


def _id(v: Any, name: str, required: bool) -> tuple[str | None, str | None]:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None, f"missing_{name}" if required else None
    if not isinstance(v, str):
        return None, f"bad_{name}"
    if len(v.encode()) > MAX_ID_LENGTH:
        return None, f"bad_{name}"
    return v.strip(), None


def _ts(v: Any, lo: datetime, hi: datetime) -> tuple[datetime | None, str | None]:
    if v is None:
        return None, "missing_ts"
    try:
        ts = datetime.fromisoformat(v) if isinstance(v, str) else None
    except ValueError:
        ts = None
    if ts is None:
        return None, "bad_ts"
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if ts < lo:
        return None, "ts_too_old"
    if ts > hi:
        return None, "ts_in_future"
    return ts, None


def _strings(v: Any, name: str, n: int | None) -> tuple[list[str] | None, str | None]:
    if not isinstance(v, list) or len(v) > MAX_ITEMS or (n is not None and len(v) != n):
        return None, f"bad_{name}"
    if not all(isinstance(x, str) and x and len(x.encode()) <= MAX_ID_LENGTH for x in v):
        return None, f"bad_{name}"
    return v, None


def parse_impression(obj: dict[str, Any], lo: datetime, hi: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """One impression in `IMPRESSION_SCHEMA`'s terms, or the reason it is rejected."""
    row: dict[str, Any] = {}
    for name, required in (("request_id", True), ("user_id", False), ("model", True), ("experiment", False),
                           ("arm", False), ("item_id", False)):
        row[name], reason = _id(obj.get(name), name, required)
        if reason:
            return None, reason
    row["ts"], reason = _ts(obj.get("ts"), lo, hi)
    if reason:
        return None, reason
    surface = obj.get("surface", "user")
    if surface not in SURFACES:
        return None, "bad_surface"
    row["surface"] = surface
    version = obj.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        return None, "bad_version"
    row["version"] = version
    if "items" not in obj:
        return None, "missing_items"
    row["items"], reason = _strings(obj["items"], "items", None)
    if reason:
        return None, reason
    credit = obj.get("credit")
    row["credit"], reason = (None, None) if credit is None else _strings(credit, "credit", len(row["items"]))
    return (None, reason) if reason else (row, None)


def ingest_impressions(paths: Sequence[Path], lake: Path, run_id: str, now: datetime, min_ts: datetime,
                       max_future: timedelta) -> ImpressionReport:
    """Validate, quarantine, dedupe and write impression logs; called by `recsys.ingest.ingest` under its lock."""
    from recsys.ingest.pipeline import source_key

    report = ImpressionReport()
    rows: list[dict[str, Any]] = []
    hi = now + max_future
    for path in paths:
        quarantine = QuarantineWriter(lake, now.date().isoformat(), source_key(path))
        try:
            _read_log(path, min_ts, hi, rows, quarantine, report)
        except BaseException:
            quarantine.abort()
            raise
        quarantine.commit()
    _write(lake, rows, run_id, report)
    log.info("impressions: %d read, %d written, %d quarantined, %d duplicates", report.rows_read,
             report.rows_written, report.rows_quarantined, report.duplicates)
    return report


def _read_log(path: Path, lo: datetime, hi: datetime, rows: list[dict[str, Any]], quarantine: QuarantineWriter,
              report: ImpressionReport) -> None:
    bad_rows: list[int] = []
    bad_reasons: list[str] = []
    bad_raw: list[str] = []

    def reject(reason: str, raw: bytes) -> None:
        bad_rows.append(row_no)
        bad_reasons.append(reason)
        bad_raw.append(raw_text(raw))

    row_no = 0
    for lines, long in iter_lines(path):
        for _, head, _ in long:
            row_no += 1
            reject("line_too_long", head)
        for line in lines:
            if not line.strip():
                continue
            row_no += 1
            reason = None
            try:
                obj = json.loads(line)
            except UnicodeDecodeError:
                reason = "non_utf8"
            except ValueError:
                reason = "malformed_json"
            else:
                if not isinstance(obj, dict):
                    reason = "not_an_object"
                else:
                    row, reason = parse_impression(obj, lo, hi)
                    if row is not None:
                        rows.append(row)
            if reason:
                reject(reason, line)
    report.rows_read += row_no
    report.rows_quarantined += len(bad_rows)
    for r in bad_reasons:
        report.reasons[r] = report.reasons.get(r, 0) + 1
    quarantine.write(path.name, bad_rows, bad_reasons, bad_raw)


def _write(lake: Path, rows: list[dict[str, Any]], run_id: str, report: ImpressionReport) -> None:
    by_day: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for row in rows:
        if row["request_id"] in seen:
            report.duplicates += 1
            continue
        seen.add(row["request_id"])
        by_day.setdefault(row["ts"].date().isoformat(), []).append(row)
    for dt, day_rows in sorted(by_day.items()):
        part_dir = lake / IMPRESSIONS_DIR / f"{PARTITION_KEY}={dt}"
        table = pa.Table.from_pylist(day_rows, schema=IMPRESSION_SCHEMA)
        existing = _existing_ids(part_dir)
        if existing is not None:
            fresh = table.filter(pc.invert(pc.is_in(table["request_id"], value_set=existing)))
            report.duplicates += table.num_rows - fresh.num_rows
            table = fresh
        if table.num_rows == 0:
            continue
        part_dir.mkdir(parents=True, exist_ok=True)
        path = part_dir / f"part-{run_id}.parquet"
        atomic_write_table(table, path)
        report.rows_written += table.num_rows
        report.partitions.append(dt)
        report.files.append(str(path))


def _existing_ids(part_dir: Path) -> pa.Array | None:
    files = sorted(p for p in part_dir.glob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        return None
    try:
        return pa.concat_arrays([pq.read_table(p, columns=["request_id"])["request_id"].combine_chunks()
                                 for p in files])
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"lake file in {part_dir} is unreadable ({err}); move it away and re-run") from err
