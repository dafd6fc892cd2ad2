"""DuckDB over the Parquet lake: one memory-bounded connection with an ``events`` view.

Analytics and the offline feature store both read the lake through this module, so the two agree on what an
event is (UTC timestamps, the date window, the category pulled out of ``properties``).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from recsys.catalog.schema import CURRENT_FILE
from recsys.catalog.store import has_catalog, items_dir
from recsys.commits import committed_files
from recsys.errors import InputError
from recsys.events import EVENTS_DIR, PARTITION_KEY
from recsys.identity import link_files, resolution_table

log = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT = "1GB"


@dataclass(frozen=True)
class DuckSettings:
    """How much of the machine a query may use; DuckDB spills to ``temp_directory`` beyond ``memory_limit``."""

    memory_limit: str = DEFAULT_MEMORY_LIMIT
    threads: int | None = None
    temp_directory: str | None = None


_SPILL_ROOT: Path | None = None
_SPILL_IDS = itertools.count()


def _spill_directory() -> str:
    """A spill folder of this connection's own: DuckDB names its temp files alike, so sharing one would clash."""
    global _SPILL_ROOT
    if _SPILL_ROOT is None:
        _SPILL_ROOT = Path(tempfile.mkdtemp(prefix="recsys-duckdb-"))
        atexit.register(shutil.rmtree, _SPILL_ROOT, ignore_errors=True)
    return str(_SPILL_ROOT / f"c{next(_SPILL_IDS)}")


def _parquet_files(lake: Path, files: list[Path] | None) -> str:
    """What ``read_parquet`` reads: every event file, or the committed ones (`files`) while an ingest run is pending."""
    if files is None:
        return _literal(str(lake / EVENTS_DIR / f"{PARTITION_KEY}=*" / "*.parquet"))
    return "[" + ", ".join(_literal(str(f)) for f in files) + "]"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def lake_connection(
    lake: str | Path,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    settings: DuckSettings | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection whose view ``events`` holds the lake's events with ``start <= ts < end`` (``end`` exclusive).

    Bounds are UTC dates or aware datetimes. The view adds ``day`` (UTC date of ``ts``) and ``category`` (from the
    ``properties`` JSON, NULL when absent). Partitions outside the window are pruned before any file is read.
    """
    lake = Path(lake)
    root = lake / EVENTS_DIR
    if not root.is_dir():
        raise InputError(f"no events in lake {lake}: {root} does not exist (run `recsys ingest` first)")
    committed = committed_files(lake)  # None: every file is
    if not (any(root.glob(f"{PARTITION_KEY}=*/*.parquet")) if committed is None else committed):
        raise InputError(f"lake {lake} holds no event files under {root} (run `recsys ingest` first)")
    settings = settings or DuckSettings()
    con = duckdb.connect(config={"memory_limit": settings.memory_limit, "preserve_insertion_order": False})
    con.execute("SET TimeZone = 'UTC'")
    threads = settings.threads or max(1, min(os.cpu_count() or 1, 8))
    con.execute(f"SET threads = {int(threads)}")
    temp = settings.temp_directory or _spill_directory()
    con.execute(f"SET temp_directory = {_literal(temp)}")

    lower, upper = ["TRUE"], ["TRUE"]
    if start is not None:
        lower = [f"{PARTITION_KEY} >= {_literal(_day(start).isoformat())}", f"ts >= {_ts_literal(start)}"]
    if end is not None:
        upper = [f"{PARTITION_KEY} <= {_literal(_day(end).isoformat())}", f"ts < {_ts_literal(end)}"]
    user, join = _identity_join(con, lake)
    category, items = _catalogue_category(lake)
    source = f"""
        SELECT e.event_id, {user}, e.item_id, e.event_type, e.ts, e.value, e.session_id, e.properties,
               CAST(e.ts AS DATE) AS day, {category} AS category
        FROM read_parquet({_parquet_files(lake, committed)}, hive_partitioning = true,
                          hive_types = {{'{PARTITION_KEY}': VARCHAR}}) AS e{join}{items}"""
    cond = " AND ".join(lower + upper)
    con.execute(f"CREATE VIEW events AS {source} WHERE {cond}")
    # `history`: everything before the window's end, for "first seen" questions that look past its start.
    con.execute(f"CREATE VIEW history AS {source} WHERE {' AND '.join(upper)}")
    log.debug("lake view over %s: %s", lake, cond)
    return con


def _catalogue_category(lake: Path) -> tuple[str, str]:
    """The category column (the event's own ``properties.category``, else the item's first catalogue category
    when the lake has a catalogue, `recsys catalog load`) and the join it needs."""
    own = "CASE WHEN json_valid(e.properties) THEN json_extract_string(e.properties, '$.category') END"
    if not has_catalog(lake):
        return own, ""
    current = items_dir(lake) / CURRENT_FILE
    return (f"COALESCE({own}, catalogue.categories[1])",
            f" LEFT JOIN read_parquet({_literal(str(current))}) AS catalogue ON e.item_id = catalogue.item_id")


def _identity_join(con: duckdb.DuckDBPyConnection, lake: Path) -> tuple[str, str]:
    """The user id column and join that resolve ids through the lake's identity map (`recsys.identity`)."""
    mapping = resolution_table(lake) if link_files(lake) else None
    if mapping is None or mapping.num_rows == 0:
        return "e.user_id", ""
    con.register("identity_map", mapping)
    return ("COALESCE(identity_map.user_id, e.user_id) AS user_id",
            " LEFT JOIN identity_map ON e.user_id = identity_map.alias")


def _day(bound: date | datetime) -> date:
    return bound.date() if isinstance(bound, datetime) else bound


def _ts_literal(bound: date | datetime) -> str:
    if isinstance(bound, datetime):
        if bound.tzinfo is None:
            raise InputError(f"timestamp {bound} has no time zone; give an aware UTC datetime")
        return f"TIMESTAMPTZ {_literal(bound.isoformat())}"
    return f"TIMESTAMPTZ {_literal(bound.isoformat() + ' 00:00:00+00')}"


def lake_day_range(lake: str | Path, settings: DuckSettings | None = None) -> tuple[date, date]:
    """The first and the last UTC day holding events (both inclusive), for defaulting a report's range."""
    con = lake_connection(lake, settings=settings)
    try:
        first, last = con.execute("SELECT min(day), max(day) FROM events").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    if first is None:
        raise InputError(f"lake {lake} holds no events")
    return first, last
