"""`ingest`: sources -> validated, deduplicated, day-partitioned Parquet lake, with a quarantine and a manifest.

Conservation holds for every run: rows_read = rows_written + rows_quarantined + duplicates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from recsys.commits import manifest_path, part_name
from recsys.errors import DamagedSourceError, InputError
from recsys.events import EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY
from recsys.identity import add_links
from recsys.ingest.commit import pending_run
from recsys.ingest.counts import RowCounts
from recsys.ingest.mapping import MapSpec, chunk_records, event_keys
from recsys.ingest.readers import BLOCK_BYTES, Chunk
from recsys.ingest.sources import Source, expand_sources, resolve
from recsys.ingest.transform import SourceReader, prepare
from recsys.ingest.validate import TS_UNITS, Rules, derive_event_ids, validate
from recsys.ingest.writer import (
    PartitionBuffer,
    QuarantineWriter,
    atomic_write_table,
    dedupe,
    dt_string,
    existing_ids,
    lake_lock,
    remove_leftovers,
)

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 512 << 20


@dataclass
class SourceStats:
    path: str
    format: str
    quarantine_file: str | None = None
    rows_read: int = 0
    records_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    identity_links: int = 0
    error: str | None = None  # the source is damaged: rows before the damage were ingested, the rest was not read


@dataclass(kw_only=True)
class IngestReport(RowCounts):
    """Summary of one run (also saved as the run's manifest)."""

    run_id: str
    lake: str
    records_read: int = 0  # source records the rows_read events came from
    sources: list[SourceStats] = field(default_factory=list)
    synthetic_ts: bool = False
    notes: list[str] = field(default_factory=list)
    identity_links: int = 0
    impressions: dict | None = None
    """Counts of the impression logs among the sources (recsys.ingest.impressions), None when there were none."""
    errors: list[str] = field(default_factory=list)  # one line per damaged source
    started: str = ""
    seconds: float = 0.0
    manifest: str = ""

    @property
    def conserved(self) -> bool:
        """Events and impressions alike: no row lost."""
        return super().conserved and (self.impressions is None or bool(self.impressions["conserved"]))

    def to_dict(self) -> dict:
        return super().to_dict() | {"events_produced": self.rows_read}  # made from the records_read records


def source_key(path: Path) -> str:
    """Name + content fingerprint (size, first and last MiB): names the source's quarantine file across re-runs."""
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{path.name}\x00{size}\x00".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(size - (1 << 20))
            h.update(f.read(1 << 20))
    return h.hexdigest()


def ingest(
    sources: Sequence[Path],
    lake: Path,
    *,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    ts_unit: str | None = None,
    now: datetime | None = None,
    min_ts: datetime = datetime(1990, 1, 1, tzinfo=UTC),
    max_future: timedelta = timedelta(days=1),
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    block_bytes: int = BLOCK_BYTES,
    fast: bool = True,
    on_rows: Callable[[str, int], None] | None = None,
    spec: MapSpec | None = None,
) -> IngestReport:
    """Ingest `sources` into `lake`; see the module doc. Every source is checked before anything is written.

    `mapping` maps canonical field -> source column (``{"user_id": "userId"}``); `ts_unit` is the unit of
    numeric timestamps (s, ms, us, ns; guessed per value from its magnitude when None); `now` anchors the
    "not in the future" rule (default: the wall clock). `fast=False` forces the per-line path (for tests).
    `on_rows(source, rows)` is called as rows are read (progress bars). `spec` (`recsys.ingest.mapping`) adds
    nested paths, exploded arrays, constants and event names.
    """
    spec = MapSpec.combine(mapping, spec)
    mapping = spec.flat_mapping()
    if ts_unit is not None and ts_unit not in TS_UNITS:
        raise InputError(f"--ts-unit must be one of {', '.join(TS_UNITS)}, got {ts_unit!r}")
    now, min_ts = _utc(now or datetime.now(UTC)), _utc(min_ts)
    from recsys.ingest.impressions import ingest_impressions, split_impressions

    sources, impression_logs = split_impressions(expand_sources(sources))
    resolved = resolve(sources, fmt, mapping, ts_unit)
    for s in resolved:
        s.fast, s.block_bytes = fast, block_bytes
        prepare(s, spec)
    lake = Path(lake)
    t0 = time.perf_counter()
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    report = IngestReport(run_id=run_id, lake=str(lake), started=now.isoformat())
    with lake_lock(lake):
        remove_leftovers(lake)
        staging = lake / "_staging" / run_id
        buffer = PartitionBuffer(staging, memory_budget)
        links: set[tuple[str, str]] = set()
        with pending_run(lake, run_id):  # the run's files become visible together, with its manifest
            try:
                for src in resolved:
                    rules = Rules(now=now, min_ts=min_ts, max_future=max_future, ts_unit=src.ts_unit)
                    reader = SourceReader(src, spec)
                    report.sources.append(_ingest_source(src, reader, lake, rules, buffer, now, on_rows))
                    links |= reader.links
                _write_partitions(lake, buffer, run_id, report)
                report.identity_links = add_links(lake, links, source="ingest") if links else 0
                if impression_logs:
                    report.impressions = ingest_impressions(impression_logs, lake, run_id, now, min_ts,
                                                            max_future).to_dict()
            finally:
                _remove_staging(lake, staging)
            _add_up(report, resolved)
            report.seconds = round(time.perf_counter() - t0, 3)
            report.manifest = str(_write_manifest(lake, report))
    if not report.conserved:  # a bug, not bad input: say so loudly
        raise RuntimeError(f"ingest run {run_id} lost rows: {report.to_dict()}")
    log.info("ingested %d rows: %d written, %d quarantined, %d duplicates (%s s)", report.rows_read,
             report.rows_written, report.rows_quarantined, report.duplicates, report.seconds)
    return report


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _add_up(report: IngestReport, sources: list[Source]) -> None:
    for st in report.sources:
        report.rows_read += st.rows_read
        report.records_read += st.records_read
        report.rows_quarantined += st.rows_quarantined
        _count(report.reasons, [c for c, k in st.reasons.items() for _ in range(k)])
        report.notes += [f"{Path(st.path).name}: {n}" for n in st.notes]
        report.errors += [st.error] if st.error else []
    report.synthetic_ts = any(s.synthetic_ts for s in sources)


def _remove_staging(lake: Path, staging: Path) -> None:
    if staging.exists():
        for p in staging.iterdir():
            p.unlink()
        staging.rmdir()
    parent = lake / "_staging"
    if parent.exists() and not any(parent.iterdir()):
        parent.rmdir()


def _ingest_source(src: Source, reader: SourceReader, lake: Path, rules: Rules, buffer: PartitionBuffer,
                   now: datetime, on_rows: Callable[[str, int], None] | None) -> SourceStats:
    stats = SourceStats(str(src.path), src.fmt)
    name = src.path.name
    quarantine = QuarantineWriter(lake, now.date().isoformat(), source_key(src.path))
    try:
        for chunk in _prefetch(reader.chunks()):
            _ingest_chunk(chunk, name, rules, buffer, quarantine, stats)
            if on_rows is not None:
                on_rows(str(src.path), stats.rows_read)
    except DamagedSourceError as err:  # what was read before the damage is kept (and accounted for)
        stats.error = str(err)
        log.warning("%s", err)
    except BaseException:
        quarantine.abort()
        raise
    path = quarantine.commit()
    stats.quarantine_file = str(path) if path else None
    stats.notes = list(src.notes)
    stats.identity_links = len(reader.links)
    return stats


def _ingest_chunk(chunk: Chunk, name: str, rules: Rules, buffer: PartitionBuffer, quarantine: QuarantineWriter,
                  stats: SourceStats) -> None:
    stats.rows_read += chunk.n + len(chunk.rejects)
    stats.records_read += chunk_records(chunk)
    if chunk.rejects:
        quarantine.write(name, [r.row for r in chunk.rejects], [r.reason for r in chunk.rejects],
                         [r.raw for r in chunk.rejects])
        _count(stats.reasons, [r.reason for r in chunk.rejects])
        stats.rows_quarantined += len(chunk.rejects)
    if chunk.n == 0:
        return
    result = validate(chunk.columns, chunk.n, rules, ascii_only=chunk.ascii_only)
    if len(result.bad_pos):
        quarantine.write(name, chunk.rows[result.bad_pos].tolist(), result.bad_reasons,
                         chunk.raw(result.bad_pos.tolist()))
        _count(stats.reasons, result.bad_reasons)
        stats.rows_quarantined += len(result.bad_pos)
    good = derive_event_ids(result.good, name, event_keys(chunk)[result.good_pos])
    stats.rows_accepted += good.num_rows
    buffer.add(good)


def _count(into: dict[str, int], codes: list[str]) -> None:
    for c in codes:
        into[c] = into.get(c, 0) + 1


def _prefetch(chunks: Iterator[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Read (parse) the next blocks in a thread while this one is validated: pyarrow releases the GIL."""
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        q.put(("chunk", chunk), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", None))
        except BaseException as err:  # handed to the consumer, re-raised there
            q.put(("error", err))

    thread = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(item, BaseException)
                raise item
            assert isinstance(item, Chunk)
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _write_partitions(lake: Path, buffer: PartitionBuffer, run_id: str, report: IngestReport) -> None:
    """Dedupe and write each day's partition; days are independent, so a few are written at once."""

    def write(day: int) -> tuple[str, int, int, Path | None]:
        table = buffer.pop(day)
        dt = dt_string(day)
        part_dir = lake / EVENTS_DIR / f"{PARTITION_KEY}={dt}"
        fresh = dedupe(table, existing_ids(part_dir))
        fresh = pa.Table.from_arrays(fresh.columns, schema=EVENT_SCHEMA)  # the schema's not-null flags
        if fresh.num_rows == 0:
            return dt, table.num_rows, 0, None
        part_dir.mkdir(parents=True, exist_ok=True)
        path = part_dir / part_name(run_id)
        atomic_write_table(fresh, path)
        return dt, table.num_rows, fresh.num_rows, path

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(write, buffer.days()))
    for dt, accepted, written, path in results:
        report.duplicates += accepted - written
        if path is not None:
            report.rows_written += written
            report.partitions.append(dt)
            report.files.append(str(path))


def _write_manifest(lake: Path, report: IngestReport) -> Path:
    path = manifest_path(lake, report.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    report.manifest = str(path)
    tmp.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
