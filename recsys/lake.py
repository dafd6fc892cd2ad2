"""Reading the Parquet lake: ``LAKE/events/dt=YYYY-MM-DD/part-*.parquet``.

Files of an ingest run without a manifest (still writing, or killed) are skipped: see `recsys.commits`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from recsys.commits import committed_files
from recsys.errors import InputError
from recsys.events import EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY
from recsys.identity import resolve_users


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
