"""The canonical item schema: every catalogue source is mapped onto it, and ``LAKE/items/`` stores exactly it.

Layout::

    LAKE/items/items.parquet              the current catalogue (ITEM_SCHEMA, one row per item, sorted by id)
    LAKE/items/_history/history.parquet   every version of every item (HISTORY_SCHEMA: valid_from / valid_to)
    LAKE/items/_quarantine/part-*.parquet rejected source rows with their reason
    LAKE/items/_manifests/*.json          one summary per load

A history row is valid on ``[valid_from, valid_to)``; a null ``valid_from`` (an item's first version) means
"as far back as the item exists", a null ``valid_to`` means "still current".
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

ITEM_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=True),
        pa.field("categories", pa.list_(pa.string()), nullable=False),
        pa.field("price", pa.float64(), nullable=True),
        pa.field("available", pa.bool_(), nullable=False),
        pa.field("created_at", TS, nullable=True),
        pa.field("properties", pa.string(), nullable=False),
    ]
)
"""Columns of one item. `properties` is a JSON object as text (``{}`` when there is nothing)."""

HISTORY_SCHEMA = ITEM_SCHEMA.append(pa.field("valid_from", TS, nullable=True)).append(
    pa.field("valid_to", TS, nullable=True))

FIELDS = tuple(ITEM_SCHEMA.names)
ITEMS_DIR = "items"
CURRENT_FILE = "items.parquet"
HISTORY_FILE = "_history/history.parquet"
QUARANTINE_DIR = "_quarantine"
MANIFESTS_DIR = "_manifests"

REASONS: dict[str, str] = {
    "missing_item_id": "no item id (or an empty one)",
    "bad_item_id": "the item id is not text or a number, or longer than 256 characters",
    "bad_title": "the title is not text",
    "bad_categories": "categories are not a list of text values or one text value",
    "bad_price": "the price is not a finite number >= 0",
    "bad_available": "available is not a boolean (true/false, 1/0, yes/no)",
    "bad_created_at": "created_at is not an ISO-8601 date/time or epoch seconds (or out of range)",
    "bad_properties": "properties is not a JSON object",
    "unparseable": "the line could not be parsed in the source's format",
}
"""Quarantine reason codes of catalogue loads."""
