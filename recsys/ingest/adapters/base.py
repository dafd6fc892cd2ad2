"""What every analytics-tool adapter shares: the parsed shape of one record, the e-commerce names, the reader.

An adapter is a function ``record -> Parsed``: the canonical events the record holds (a vendor's product array
gives one event per product), the identity links it states (an anonymous id that belongs to a user id), and
whether it is an identity call only. `AdapterReader` streams a file's records through it in bounded blocks; the
events go to `validate` like any reader's, so quarantine reasons are the same as everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.errors import InputError
from recsys.ingest.mapping import EventChunk, EventRows, json_object, open_parquet
from recsys.ingest.readers import BLOCK_BYTES, iter_lines, raw_text
from recsys.ingest.readers.blocks import long_line_text

ECOMMERCE_EVENTS: dict[str, str] = {
    # Segment / RudderStack / PostHog e-commerce spec (v2)
    "product clicked": "click", "product viewed": "view", "product added": "add_to_cart",
    "product removed": "remove_from_cart", "product added to wishlist": "favorite",
    "checkout started": "begin_checkout",
    "order completed": "purchase", "order refunded": "refund", "product reviewed": "review", "product shared": "share",
    # GA4 recommended e-commerce events
    "select_item": "click", "view_item": "view", "add_to_cart": "add_to_cart", "remove_from_cart": "remove_from_cart",
    "add_to_wishlist": "favorite", "begin_checkout": "begin_checkout", "purchase": "purchase", "refund": "refund",
    # names common in Mixpanel and Amplitude projects (neither has a fixed e-commerce spec)
    "view item": "view", "item viewed": "view", "add to cart": "add_to_cart", "added to cart": "add_to_cart",
    "remove from cart": "remove_from_cart", "add to wishlist": "favorite", "checkout": "begin_checkout",
    "order placed": "purchase", "purchased": "purchase", "revenue": "purchase", "$revenue": "purchase",
    "revenue_amount": "purchase",  # Amplitude's revenue events
}
"""Vendor event name (lower-cased) -> ours. Names not here are kept, lower-cased, with the vendor's spelling."""


def our_event(name: Any) -> Any:
    """The canonical name of a vendor event name (unknown names pass through; validate lower-cases them)."""
    if not isinstance(name, str):
        return name
    return ECOMMERCE_EVENTS.get(name.strip().lower(), name)


@dataclass
class Parsed:
    """What one vendor record holds: events (canonical fields, `properties` as a dict), each event's position in
    the vendor's product array (-1 when none), identity links (alias, user id), and whether it is only an
    identity call (no events expected)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    identity_only: bool = False

    def add(self, event: dict[str, Any], index: int = -1) -> None:
        self.events.append(event)
        self.index.append(index)


def text_id(value: Any) -> str | None:
    """An id as text (vendors send numbers too); None for absent, empty or non-scalar ids."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def link(parsed: Parsed, alias: Any, user: Any) -> None:
    a, u = text_id(alias), text_id(user)
    if a is not None and u is not None and a != u:
        parsed.links.append((a, u))


@dataclass(frozen=True)
class Adapter:
    """A named vendor format: its parse function, its timestamp unit (None: guessed per value) and a note."""

    name: str
    parse: Callable[[dict[str, Any]], Parsed]
    ts_unit: str | None
    note: str
    parquet: bool = False


class AdapterReader:
    """Vendor records (JSON Lines, or Parquet where the adapter allows) -> event chunks, plus identity links."""

    def __init__(self, adapter: Adapter, block_bytes: int = BLOCK_BYTES) -> None:
        self.adapter = adapter
        self.block_bytes = block_bytes
        self.links: set[tuple[str, str]] = set()
        self.identity_records = 0

    def read(self, path: Path) -> Iterator[EventChunk]:
        if path.name.lower().removesuffix(".gz").endswith((".parquet", ".pq")):
            if not self.adapter.parquet:
                raise InputError(f"{path}: the {self.adapter.name} adapter reads JSON Lines exports, not Parquet")
            yield from self._parquet(path)
            return
        row = 0
        for lines, long in iter_lines(path, self.block_bytes):
            rows = EventRows()
            for k, (pos, long_line) in enumerate(long):
                rows.reject(row + 1 + pos + k, long_line.reason, long_line_text(long_line))
            rows.records += len(long)
            longpos = {pos + k for k, (pos, _) in enumerate(long)}
            numbers = [r for r in range(row + 1, row + 1 + len(lines) + len(long)) if r - row - 1 not in longpos]
            row += len(lines) + len(long)
            for number, line in zip(numbers, lines, strict=True):
                rows.records += 1
                obj = json_object(rows, number, line)
                if obj is not None:
                    self._record(rows, obj, number, lambda line=line: raw_text(line))
            yield rows.chunk()

    def _parquet(self, path: Path) -> Iterator[EventChunk]:
        pf = open_parquet(path)
        row = 0
        for batch in pf.iter_batches(batch_size=16_384):
            rows = EventRows()
            for obj in batch.to_pylist():
                row += 1
                rows.records += 1
                self._record(rows, obj, row, lambda obj=obj: raw_text(json.dumps(obj, default=str).encode()))
            yield rows.chunk()

    def _record(self, rows: EventRows, obj: dict[str, Any], number: int, raw: Callable[[], str]) -> None:
        parsed = self.adapter.parse(obj)
        self.links.update(parsed.links)
        if parsed.identity_only and not parsed.events:
            self.identity_records += 1
            return
        if not parsed.events:  # e.g. an order without products: quarantined, not dropped
            rows.reject(number, "no_events", raw())
            return
        for event, index in zip(parsed.events, parsed.index, strict=True):
            rows.add(event, number, index, _indexed(raw, index))


def _indexed(raw: Callable[[], str], index: int) -> Callable[[], str]:
    if index < 0:
        return raw
    return lambda: f"[item {index}] {raw()}"
