"""Reading the Parquet lake: ``LAKE/events/dt=YYYY-MM-DD/part-*.parquet``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from recsys.errors import InputError
from recsys.events import EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY
from recsys.identity import resolve_users


def events_dataset(lake: str | Path) -> ds.Dataset:
    """The lake's events as a hive-partitioned pyarrow dataset (column `dt` is the UTC date string)."""
    root = Path(lake) / EVENTS_DIR
    if not root.is_dir():
        raise InputError(f"no events in lake {lake}: {root} does not exist (run `recsys ingest` first)")
    partitioning = ds.partitioning(pa.schema([(PARTITION_KEY, pa.string())]), flavor="hive")
    return ds.dataset(root, format="parquet", partitioning=partitioning, schema=EVENT_SCHEMA.append(
        pa.field(PARTITION_KEY, pa.string())), exclude_invalid_files=False,
        ignore_prefixes=[".", "_"])


def read_events(
    lake: str | Path,
    start: date | None = None,
    end: date | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """Events with ``start <= dt < end`` (UTC dates; either bound optional), in the canonical schema; user ids
    resolved through the lake's identity map (`recsys.identity`)."""
    dataset = events_dataset(lake)
    expr = None
    if start is not None:
        expr = ds.field(PARTITION_KEY) >= start.isoformat()
    if end is not None:
        upper = ds.field(PARTITION_KEY) < end.isoformat()
        expr = upper if expr is None else expr & upper
    cols = columns or EVENT_SCHEMA.names
    return resolve_users(dataset.to_table(columns=cols, filter=expr), lake)
