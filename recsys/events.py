"""The canonical event schema: every source is mapped onto it, and the lake stores exactly it."""

from __future__ import annotations

import pyarrow as pa

EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("value", pa.float64(), nullable=True),
        pa.field("session_id", pa.string(), nullable=True),
        pa.field("properties", pa.string(), nullable=True),
        pa.field("request_id", pa.string(), nullable=True),
        pa.field("position", pa.int32(), nullable=True),
    ]
)
"""Columns of one event. `properties` is a JSON object as text (e.g. ``{"category": "c12"}``). `request_id` names
the recommendation answer the event responds to and `position` the item's place in it (1 = top): both optional,
they let online evaluation attribute a click exactly (lake partitions written before they existed read as null)."""

REQUIRED_FIELDS = ("user_id", "item_id", "event_type", "ts")

EVENTS_DIR = "events"
QUARANTINE_DIR = "quarantine"
MANIFESTS_DIR = "_manifests"
PARTITION_KEY = "dt"
"""Lake layout: ``LAKE/events/dt=YYYY-MM-DD/part-*.parquet`` (hive partitioning by UTC event date)."""
