"""Build small lakes for the feature-store and analytics tests: Parquet in the canonical schema, hive-partitioned."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.events import EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY

Event = tuple[str, str, str, str, str | None]
"""(user_id, item_id, event_type, ISO time in UTC, category or None)."""


def ts(text: str) -> datetime:
    """``"2024-01-01 10:00"`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_lake(lake: Path, events: Iterable[Event], *, part: str = "part-0") -> Path:
    """Write events under ``lake/events/dt=YYYY-MM-DD/<part>.parquet``, one file per UTC day."""
    rows = []
    for i, (user, item, etype, when, category) in enumerate(events):
        rows.append({
            "event_id": f"{part}-{i}", "user_id": user, "item_id": item, "event_type": etype, "ts": ts(when),
            "value": 10.0 if etype == "purchase" else None, "session_id": None,
            "properties": json.dumps({"category": category}) if category is not None else None,
        })
    write_frame(lake, pd.DataFrame(rows), part=part)
    return lake


def write_frame(lake: Path, df: pd.DataFrame, *, part: str = "part-0") -> None:
    """Write a frame holding EVENT_SCHEMA's columns, partitioned by the UTC day of ``ts``."""
    df = df.assign(**{c: None for c in EVENT_SCHEMA.names if c not in df.columns})  # optional columns
    df["ts"] = pd.to_datetime(df["ts"], utc=True).astype("datetime64[us, UTC]")
    days = df["ts"].dt.strftime("%Y-%m-%d")
    for day, group in df.groupby(days):
        out = lake / EVENTS_DIR / f"{PARTITION_KEY}={day}"
        out.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(group[EVENT_SCHEMA.names], schema=EVENT_SCHEMA, preserve_index=False)
        pq.write_table(table, out / f"{part}.parquet")


# The hand-computed fixture of test_analytics.py: two weeks starting Monday 2024-01-01, plus one event before
# (user r, to be "returning") and one on the exclusive end day (user u5, to be ignored).
TINY_EVENTS: Sequence[Event] = (
    ("r", "i1", "view", "2023-12-31 23:00", "c1"),
    ("u1", "i1", "view", "2024-01-01 10:00", "c1"),
    ("u1", "i1", "add_to_cart", "2024-01-01 10:10", "c1"),
    ("u1", "i1", "purchase", "2024-01-01 10:20", "c1"),
    ("u2", "i1", "view", "2024-01-01 12:00", "c1"),
    ("u1", "i2", "view", "2024-01-02 09:00", "c2"),
    ("r", "i1", "view", "2024-01-02 10:00", "c1"),
    ("u2", "i1", "add_to_cart", "2024-01-03 12:00", "c1"),
    ("u2", "i1", "purchase", "2024-01-03 12:29", "c1"),
    ("u3", "i3", "view", "2024-01-08 08:00", "c2"),
    ("u3", "i3", "add_to_cart", "2024-01-08 08:31", "c2"),
    ("u1", "i1", "view", "2024-01-09 12:00", "c1"),
    ("u4", "i2", "purchase", "2024-01-10 10:00", "c2"),
    ("u4", "i2", "view", "2024-01-10 10:05", "c2"),
    ("u4", "i2", "add_to_cart", "2024-01-10 10:06", "c2"),
    ("u5", "i3", "view", "2024-01-15 00:00", "c2"),
)

TAOBAO_TYPES = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}


def read_taobao_csv(csv: Path) -> pd.DataFrame:
    """The raw UserBehavior CSV as the tests' independent reference (columns u, i, c, b, ts, time, d)."""
    raw = pd.read_csv(csv, header=None, names=["u", "i", "c", "b", "ts"])
    raw["time"] = pd.to_datetime(raw.ts, unit="s", utc=True)
    raw["d"] = raw.time.dt.strftime("%Y-%m-%d")
    return raw


def build_taobao_lake(csv: Path, lake: Path) -> Path:
    """The Taobao slice as a lake, through the project's own `recsys ingest --format taobao`."""
    from recsys.ingest import ingest

    ingest([csv], lake, fmt="taobao")
    return lake
