"""Reading the Parquet lake: ``LAKE/events/dt=YYYY-MM-DD/part-*.parquet``.

An ingest run's files become part of the lake together, when its manifest is written: the run first leaves a
marker ``LAKE/_pending/<run id>``, and readers skip the files of marked runs that have no manifest. So a run that
is still writing, or was killed, is never half visible; the next ingest removes a killed run's files.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from recsys.errors import InputError
from recsys.events import EVENT_SCHEMA, EVENTS_DIR, MANIFESTS_DIR, PARTITION_KEY

PENDING_DIR = "_pending"


def events_dataset(lake: str | Path) -> ds.Dataset:
    """The lake's events as a hive-partitioned pyarrow dataset (column `dt` is the UTC date string).

    Files of an ingest run that has no manifest yet (still running, or killed) are not part of it.
    """
    root = Path(lake) / EVENTS_DIR
    if not root.is_dir():
        raise InputError(f"no events in lake {lake}: {root} does not exist (run `recsys ingest` first)")
    partitioning = ds.partitioning(pa.schema([(PARTITION_KEY, pa.string())]), flavor="hive")
    schema = EVENT_SCHEMA.append(pa.field(PARTITION_KEY, pa.string()))
    files = committed_files(lake)
    if files is not None:
        return ds.dataset([str(f) for f in files], format="parquet", partitioning=partitioning,
                          partition_base_dir=str(root), schema=schema, exclude_invalid_files=False)
    return ds.dataset(root, format="parquet", partitioning=partitioning, schema=schema, exclude_invalid_files=False,
                      ignore_prefixes=[".", "_"])


def part_name(run_id: str) -> str:
    """The name of an ingest run's file in each partition it writes."""
    return f"part-{run_id}.parquet"


def manifest_path(lake: str | Path, run_id: str) -> Path:
    """Where an ingest run's manifest goes; writing it is what makes the run's files part of the lake."""
    return Path(lake) / MANIFESTS_DIR / f"ingest-{run_id}.json"


def pending_runs(lake: str | Path) -> set[str]:
    """Ingest runs that started but have no manifest (still running, or killed): their files are not read."""
    folder = Path(lake) / PENDING_DIR
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if not p.name.startswith(".") and not manifest_path(lake, p.name).exists()}


def committed_files(lake: str | Path) -> list[Path] | None:
    """The event files readers may read, or None when that is every file (no run is pending, the common case)."""
    pending = pending_runs(lake)
    if not pending:
        return None
    hidden = {part_name(r) for r in pending}
    root = Path(lake) / EVENTS_DIR
    return sorted(p for p in root.glob(f"{PARTITION_KEY}=*/*.parquet")
                  if not p.name.startswith((".", "_")) and p.name not in hidden)


def read_events(
    lake: str | Path,
    start: date | None = None,
    end: date | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """Events with ``start <= dt < end`` (UTC dates; either bound optional), in the canonical schema."""
    dataset = events_dataset(lake)
    expr = None
    if start is not None:
        expr = ds.field(PARTITION_KEY) >= start.isoformat()
    if end is not None:
        upper = ds.field(PARTITION_KEY) < end.isoformat()
        expr = upper if expr is None else expr & upper
    cols = columns or EVENT_SCHEMA.names
    return dataset.to_table(columns=cols, filter=expr)
