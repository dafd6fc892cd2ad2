"""Writing the lake: per-day partition buffers (spilled to disk past a memory budget), dedupe against what the lake
already holds, atomic file writes (temp name + rename), the quarantine and the run lock.

A partition file is written under a dot-prefixed temporary name, which lake readers ignore, and renamed into
place only once complete: a killed run leaves either a whole part file or none.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from recsys.errors import InputError
from recsys.events import EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY, QUARANTINE_DIR
from recsys.ingest.arrowutil import arrow_to_bool, arrow_to_int, int_to_arrow
from recsys.ingest.commit import recover_pending

log = logging.getLogger(__name__)

_DAY_US = 86_400 * 1_000_000
_LOOSE = pa.schema([f.with_nullable(True) for f in EVENT_SCHEMA])  # staging files: the types, not the flags
_STATS_COLUMNS = ("ts", "value")
QUARANTINE_SCHEMA = pa.schema([("source", pa.string()), ("row", pa.int64()), ("reason", pa.string()),
                               ("raw", pa.string())])


def day_of(us: np.ndarray) -> np.ndarray:
    return us // _DAY_US


def dt_string(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


@contextmanager
def lake_lock(lake: Path) -> Iterator[None]:
    """One ingest run per lake at a time (a second one waits), so dedupe sees a consistent lake."""
    lake.mkdir(parents=True, exist_ok=True)
    with open(lake / ".ingest.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_leftovers(lake: Path) -> int:
    """Temp files and staging folders of runs that were killed; safe under the lake lock."""
    removed = 0
    for pattern in (f"{EVENTS_DIR}/{PARTITION_KEY}=*/.*.tmp", f"{QUARANTINE_DIR}/{PARTITION_KEY}=*/.*.tmp",
                    f"impressions/{PARTITION_KEY}=*/.*.tmp",
                    "_manifests/.*.tmp"):
        for p in lake.glob(pattern):
            p.unlink(missing_ok=True)
            removed += 1
    staging = lake / "_staging"
    if staging.exists():
        shutil.rmtree(staging, ignore_errors=True)
        removed += 1
    removed += recover_pending(lake)
    if removed:
        log.warning("removed %d leftovers of an interrupted ingest run in %s", removed, lake)
    return removed


def atomic_write_table(table: pa.Table, path: Path) -> None:
    """Write Parquet under a hidden temp name, fsync, then rename into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    # event ids are unique: a dictionary would be built and thrown away; the other columns repeat a lot.
    # Min/max statistics only where they can prune reads (time, value): on ids they span every row group anyway,
    # and computing them on strings was a quarter of the write time.
    pq.write_table(table, tmp, use_dictionary=[c for c in table.column_names if c != "event_id"],
                   write_statistics=[c for c in _STATS_COLUMNS if c in table.column_names])
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


class PartitionBuffer:
    """Accepted rows grouped by UTC day; past `budget_bytes` in memory they are spilled to Arrow IPC files (one per
    day and spill). Each block is put in day order once (a stable sort of small day numbers and one `take`), so a
    day's rows are zero-copy slices of it, in arrival order."""

    def __init__(self, staging: Path, budget_bytes: int) -> None:
        self.staging = staging
        self.budget = budget_bytes
        self.mem: list[tuple[pa.Table, dict[int, tuple[int, int]]]] = []
        self.spilled: dict[int, list[Path]] = {}
        self.mem_bytes = 0
        self._n_spills = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        days = day_of(arrow_to_int(table["ts"]))
        low = int(days.min())
        span = int(days.max()) - low + 1
        counts = np.bincount(days - low, minlength=span)
        uniq = np.flatnonzero(counts)
        if len(uniq) > 1:
            small = (days - low).astype(np.uint16 if span < 1 << 16 else np.int64)  # uint16: a radix sort
            order = int_to_arrow(np.argsort(small, kind="stable"))
            table = pa.Table.from_arrays([col if col.null_count == len(col) else col.take(order)
                                          for col in table.columns], schema=table.schema)  # all-null: as is
        ends = np.cumsum(counts[uniq])
        self.mem.append((table, {int(d) + low: (int(e) - int(c), int(c))
                                 for d, e, c in zip(uniq, ends, counts[uniq], strict=True)}))
        self.mem_bytes += table.nbytes
        if self.mem_bytes > self.budget:
            self.spill()

    @staticmethod
    def _slice(table: pa.Table, ranges: dict[int, tuple[int, int]], day: int) -> pa.Table | None:
        where = ranges.get(day)
        return None if where is None else table.slice(*where)

    def spill(self) -> None:
        """Move every in-memory block to staging files, one per day (memory stays bounded by the budget)."""
        for day in sorted({d for _, ranges in self.mem for d in ranges}):
            path = self.staging / f"{day}-{self._n_spills}.arrow"
            path.parent.mkdir(parents=True, exist_ok=True)
            with ipc.new_file(path, _LOOSE) as w:
                for table, ranges in self.mem:
                    part = self._slice(table, ranges, day)
                    if part is not None:
                        w.write_table(pa.Table.from_arrays(part.columns, schema=_LOOSE))
            self.spilled.setdefault(day, []).append(path)
        self._n_spills += 1
        log.debug("spilled %.1f MiB of partitions to %s", self.mem_bytes / 2**20, self.staging)
        self.mem.clear()
        self.mem_bytes = 0

    def days(self) -> list[int]:
        return sorted({d for _, ranges in self.mem for d in ranges} | set(self.spilled))

    def pop(self, day: int) -> pa.Table:
        """All rows of `day` (safe to call from several threads for different days)."""
        tables = []
        for path in self.spilled.pop(day, []):
            with ipc.open_file(path) as r:
                tables.append(r.read_all())
            path.unlink()
        for table, ranges in self.mem:
            part = self._slice(table, ranges, day)
            if part is not None:
                tables.append(part)
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def existing_ids(part_dir: Path) -> pa.Array | None:
    """Event ids the lake already holds in one partition (None when it holds none)."""
    files = sorted(p for p in part_dir.glob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        return None
    arrays = []
    for p in files:
        try:
            arrays.append(pq.read_table(p, columns=["event_id"])["event_id"].combine_chunks())
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"lake file {p} is unreadable ({err}); move it away and re-run") from err
    return pa.concat_arrays(arrays) if len(arrays) > 1 else arrays[0]


def dedupe(table: pa.Table, existing: pa.Array | None) -> pa.Table:
    """First occurrence of each event_id, minus ids the partition already holds (arrival order kept)."""
    ids = table["event_id"].combine_chunks()
    n = len(ids)
    if n > 1 and not _strictly_increasing(ids):
        # a stable sort puts equal ids next to each other, earliest first (cheaper than hashing unique ids)
        order = pc.sort_indices(ids)
        ranked = ids.take(order)
        same = pc.equal(ranked.slice(1), ranked.slice(0, n - 1))
        if same.true_count:
            repeat = np.concatenate([[False], arrow_to_bool(same)])
            keep = np.sort(arrow_to_int(order)[~repeat])
            table = table.take(int_to_arrow(keep))
    if existing is not None and len(existing):
        table = table.filter(pc.invert(pc.is_in(table["event_id"], value_set=existing)))
    return table


def _strictly_increasing(ids: pa.Array) -> bool:
    """Whether ids strictly increase by (length in bytes, then bytes), which rules out repeats in one linear pass.

    Logs with sequential or time-ordered ids (e1, e2, ..., e10; ULIDs) pass, so they skip the sort; others fall
    back to it. Null ids never pass.
    """
    n = len(ids)
    if ids.null_count:
        return False
    lengths = arrow_to_int(pc.binary_length(ids))
    shorter = lengths[:-1] < lengths[1:]
    same = lengths[:-1] == lengths[1:]
    if not (shorter | same).all():
        return False
    less = arrow_to_bool(pc.less(ids.slice(0, n - 1), ids.slice(1)))
    return bool((shorter | (same & less)).all())


class QuarantineWriter:
    """Rejected rows of one source, written to ``quarantine/dt=<run date>/part-<source key>.parquet``.

    The name depends only on the source's content key, so re-ingesting a file replaces its earlier quarantine
    instead of adding to it (idempotent runs).
    """

    def __init__(self, lake: Path, run_day: str, key: str) -> None:
        self.dir = lake / QUARANTINE_DIR / f"{PARTITION_KEY}={run_day}"
        self.lake = lake
        self.name = f"part-{key}.parquet"
        self.tmp = self.dir / f".{self.name}.tmp"
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, source: str, rows: list[int], reasons: list[str], raws: list[str]) -> None:
        if not rows:
            return
        if self.writer is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, QUARANTINE_SCHEMA)
        self.writer.write_table(pa.table({"source": pa.array([source] * len(rows), pa.string()),
                                          "row": pa.array(rows, pa.int64()), "reason": pa.array(reasons, pa.string()),
                                          "raw": pa.array(raws, pa.string())}, schema=QUARANTINE_SCHEMA))
        self.rows += len(rows)

    def commit(self) -> Path | None:
        for old in self.lake.glob(f"{QUARANTINE_DIR}/{PARTITION_KEY}=*/{self.name}"):
            old.unlink()
        if self.writer is None:
            return None
        self.writer.close()
        os.replace(self.tmp, self.dir / self.name)
        return self.dir / self.name

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.tmp.unlink(missing_ok=True)
