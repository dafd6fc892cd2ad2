"""The offline store: feature values computed from the lake with DuckDB, as of any point in time.

One query serves both uses: `compute_features` (every entity's latest values, for `materialize`) and
`feature_store.training_frame.training_frame` (each row's values as of its own time). A row at time ``t`` only
ever sees events with ``ts < t``, so a training frame cannot leak the future.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from feature_store.catalog_features import catalog_features
from feature_store.definitions import ENTITY_KEYS, SESSION_GAP, Feature, features_for
from feature_store.sql import DuckSettings, lake_connection
from recsys.catalog import has_catalog, read_items
from recsys.errors import InputError

log = logging.getLogger(__name__)


def _seconds(td: timedelta) -> int:
    return int(td.total_seconds())


def _in(column: str, values: Sequence[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f" AND {column} IN ({quoted})" if values else ""


def feature_expression(f: Feature) -> str:
    """The SQL aggregate of one feature over joined rows ``r`` (key, as_of) and their earlier events ``e``."""
    since = f"e.ts >= r.as_of - to_seconds({_seconds(f.window)})"
    where = since + _in("e.event_type", f.event_types)
    match f.aggregation:
        case "count":
            return f"count(*) FILTER (WHERE {where})"
        case "distinct_items":
            return f"count(DISTINCT e.item_id) FILTER (WHERE {where})"
        case "distinct_users":
            return f"count(DISTINCT e.user_id) FILTER (WHERE {where})"
        case "recency_seconds":
            return f"epoch(r.as_of) - epoch(max(e.ts) FILTER (WHERE {where}))"
        case "sessions":
            return f"count(*) FILTER (WHERE {where} AND e.session_start)"
        case "ratio":
            den = since + _in("e.event_type", f.denominator)
            return (f"coalesce(CAST(count(*) FILTER (WHERE {where}) AS DOUBLE)"
                    f" / nullif(count(*) FILTER (WHERE {den}), 0), 0.0)")
        case "trend":
            before = (f"e.ts < r.as_of - to_seconds({_seconds(f.window)})"
                      f" AND e.ts >= r.as_of - to_seconds({_seconds(2 * f.window)})")
            return (f"CAST(count(*) FILTER (WHERE {where}) + 1 AS DOUBLE)"
                    f" / (count(*) FILTER (WHERE {before}{_in('e.event_type', f.event_types)}) + 1)")
        case "latest_category":
            return f"arg_max(e.category, e.ts) FILTER (WHERE {where} AND e.category IS NOT NULL)"
    raise InputError(f"feature {f.name}: unknown aggregation {f.aggregation!r}")


def _point_in_time(con: duckdb.DuckDBPyConnection, entity: str, features: Sequence[Feature]) -> pd.DataFrame:
    """Features for every row of the relation ``rows(_row, key, as_of)`` from the view ``events``."""
    key_col = ENTITY_KEYS[entity]
    lookback = max(_seconds(f.lookback) for f in features)
    exprs = ",\n".join(f'{feature_expression(f)} AS "{f.name}"' for f in features)
    # A session starts where the user's previous event is more than the gap before (or absent); lag only looks
    # back, so the flag of an event never depends on a later one.
    sql = f"""
        WITH ev AS (
            SELECT {key_col} AS key, user_id, item_id, event_type, ts, category,
                   coalesce(ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts)
                            > to_seconds({_seconds(SESSION_GAP)}), TRUE) AS session_start
            FROM events)
        SELECT r._row, {exprs}
        FROM rows r LEFT JOIN ev e
          ON e.key = r.key AND e.ts < r.as_of AND e.ts >= r.as_of - to_seconds({lookback})
        GROUP BY r._row, r.key, r.as_of
        ORDER BY r._row
    """
    frame = con.execute(sql).df().set_index("_row")
    for f in features:
        if f.dtype == "int":
            frame[f.name] = frame[f.name].astype("int64")
        elif f.dtype == "float":
            frame[f.name] = frame[f.name].astype("float64")
    return frame


def _scan_bounds(features: Sequence[Feature], first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """Events a query needs: back to the longest lookback (plus one session gap, to flag session starts)."""
    lookback = max(f.lookback for f in features)
    return first - lookback - SESSION_GAP, last


def as_utc(when: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken to be UTC already."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def point_in_time_features(
    lake: str | Path,
    entity: str,
    keys: Sequence[str],
    times: Sequence[datetime] | pd.Series,
    names: Sequence[str] | None = None,
    settings: DuckSettings | None = None,
) -> pd.DataFrame:
    """Feature values of ``keys[i]`` as of ``times[i]`` (only events strictly before it), one row per input row."""
    features = features_for(entity, names)
    stamps = pd.to_datetime(pd.Series(list(times)), utc=True).astype("datetime64[us, UTC]")
    if len(keys) != len(stamps):
        raise InputError(f"{len(keys)} keys but {len(stamps)} timestamps: give one timestamp per row")
    if stamps.isna().any():
        raise InputError("a training row has no timestamp: every row needs one, to join features as of it")
    if len(stamps) == 0:
        return pd.DataFrame(columns=[f.name for f in features])
    from_events, from_items = _by_source(features)
    parts = []
    if from_events:
        rows = pd.DataFrame({"_row": range(len(stamps)), "key": [str(k) for k in keys], "as_of": stamps})
        start, end = _scan_bounds(from_events, stamps.min().to_pydatetime(), stamps.max().to_pydatetime())
        con = lake_connection(lake, start, end, settings)
        try:
            con.register("rows", rows)
            parts.append(_point_in_time(con, entity, from_events).reset_index(drop=True))
        finally:
            con.close()
    if from_items:
        parts.append(catalog_features(str(lake), from_items, [str(k) for k in keys], stamps))
    return pd.concat(parts, axis=1)[[f.name for f in features]]


def _by_source(features: Sequence[Feature]) -> tuple[list[Feature], list[Feature]]:
    """(features computed from events, features read from the item catalogue)."""
    return [f for f in features if f.source != "items"], [f for f in features if f.source == "items"]


def compute_features(
    lake: str | Path,
    entity: str,
    as_of: datetime,
    names: Sequence[str] | None = None,
    settings: DuckSettings | None = None,
) -> pd.DataFrame:
    """Latest values as of ``as_of`` for every entity with events in the longest lookback, indexed by key."""
    features = features_for(entity, names)
    as_of = as_utc(as_of)
    from_events, from_items = _by_source(features)
    if not from_events:  # catalogue features only: every item of the catalogue as of then
        keys = sorted(read_items(lake, as_of)["item_id"].to_pylist()) if has_catalog(lake) else []
        frame = catalog_features(str(lake), from_items, keys, [as_of] * len(keys))
        frame.index = pd.Index(keys, name=ENTITY_KEYS[entity])
        return frame
    start, end = _scan_bounds(from_events, as_of, as_of)
    lookback = max(_seconds(f.lookback) for f in from_events)
    con = lake_connection(lake, start, end, settings)
    try:
        con.execute(
            f"""CREATE TEMP TABLE rows AS
                SELECT row_number() OVER (ORDER BY key) AS _row, key, $as_of AS as_of
                FROM (SELECT DISTINCT {ENTITY_KEYS[entity]} AS key FROM events
                      WHERE ts >= $as_of - to_seconds({lookback}))""",
            {"as_of": as_of},
        )
        keys = [k for (k,) in con.execute("SELECT key FROM rows ORDER BY _row").fetchall()]
        frame = _point_in_time(con, entity, from_events)
    finally:
        con.close()
    if from_items:
        extra = catalog_features(str(lake), from_items, keys, [as_of] * len(keys))
        frame = pd.concat([frame.reset_index(drop=True), extra], axis=1)[[f.name for f in features]]
    frame.index = pd.Index(keys, name=ENTITY_KEYS[entity])
    log.info("computed %d %s features for %d %ss as of %s", len(features), entity, len(frame), entity, as_of)
    return frame
