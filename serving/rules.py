"""Business rules from the catalogue: which items may be served (available, in a category, in a price range) and
the diversity cap, for every model and every fallback.

Each worker process keeps an immutable `CatalogView`: the lake's catalogue (``LAKE/items``) with the admin changes
on top. Admin changes travel through the online store (SQLite or Redis, so every worker sees them): one features
row ``item/_catalog`` holds each changed item under ``i:<id>`` and a version token under ``v``. A worker re-reads
the token at most every ``catalog_refresh_s`` and rebuilds its view when the token or the lake's file moved.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feature_store.online import OnlineStore
from recsys.catalog import apply_changes, has_catalog, normalize, read_history
from recsys.catalog.schema import CURRENT_FILE, ITEMS_DIR
from recsys.errors import RecsysError

log = logging.getLogger(__name__)

OVERRIDES_KEY = "_catalog"
VERSION_NAME = "v"


@dataclass(frozen=True)
class Filters:
    """Request filters every model and fallback honours."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    max_per_category: int | None = None

    @property
    def restricts(self) -> bool:
        return self.category is not None or self.min_price is not None or self.max_price is not None


@dataclass(frozen=True)
class ItemInfo:
    item_id: str
    title: str | None
    categories: tuple[str, ...]
    price: float | None
    available: bool
    created_at: datetime | None
    properties: str
    changed_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "title": self.title, "categories": list(self.categories),
                "price": self.price, "available": self.available,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "properties": json.loads(self.properties or "{}")}

    def passes(self, f: Filters) -> bool:
        if not self.available:
            return False
        if f.category is not None and f.category not in self.categories:
            return False
        if f.min_price is not None and (self.price is None or self.price < f.min_price):
            return False
        return not (f.max_price is not None and (self.price is None or self.price > f.max_price))


def _info(row: Mapping[str, Any], changed_at: datetime | None = None) -> ItemInfo:
    return ItemInfo(str(row["item_id"]), row.get("title"), tuple(row.get("categories") or ()), row.get("price"),
                    bool(row.get("available", True)), row.get("created_at"), row.get("properties") or "{}",
                    changed_at)


@dataclass
class CatalogView:
    """One worker's snapshot of the catalogue; never mutated after construction (the cache aside)."""

    items: dict[str, ItemInfo] = field(default_factory=dict)
    token: tuple[Any, ...] = ()
    _cache: dict[Filters, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.unavailable: frozenset[str] = frozenset(i for i, x in self.items.items() if not x.available)

    @property
    def known(self) -> bool:
        return bool(self.items)

    def eligible(self, filters: Filters) -> list[str]:
        """Available items passing `filters` (cached per filter set)."""
        key = Filters(filters.category, filters.min_price, filters.max_price)
        got = self._cache.get(key)
        if got is None:
            got = [i for i, x in self.items.items() if x.passes(key)]
            self._cache[key] = got
        return got

    def primary_category(self, item: str) -> str | None:
        info = self.items.get(item)
        return info.categories[0] if info is not None and info.categories else None

    def keep(self, item: str, filters: Filters) -> bool:
        """May `item` be served under `filters`? Items unknown to the catalogue pass when nothing restricts."""
        info = self.items.get(item)
        if info is None:
            return not filters.restricts
        return info.passes(filters)


def cap_per_category(view: CatalogView, ranked: Iterable[tuple[str, float]], k: int,
                     cap: int | None) -> list[tuple[str, float]]:
    """The first `k` of `ranked` with at most `cap` items per primary category (the first one listed)."""
    out: list[tuple[str, float]] = []
    counts: dict[str | None, int] = {}
    for item, score in ranked:
        if cap is not None:
            cat = view.primary_category(item)
            if cat is not None:
                if counts.get(cat, 0) >= cap:
                    continue
                counts[cat] = counts.get(cat, 0) + 1
        out.append((item, score))
        if len(out) >= k:
            break
    return out


def fetch_size(k: int, filters: Filters, n_items: int) -> int:
    """How many ranked items to ask a model for, so that the diversity cap can still fill `k` slots."""
    if filters.max_per_category is None:
        return k
    return min(max(n_items, 1), max(k * 5, k + 100, math.ceil(k / filters.max_per_category) * 10))


class CatalogRules:
    """The worker's catalogue: `view()` for reads (refreshed at most every `refresh_s`), `change()` for writes."""

    def __init__(self, store: OnlineStore, lake: Path | None, *, refresh_s: float = 0.25) -> None:
        self.store = store
        self.lake = lake
        self.refresh_s = refresh_s
        self._view = CatalogView()
        self._checked = -math.inf
        self._lock = threading.Lock()
        self._base: dict[str, ItemInfo] = {}
        self._base_stamp: tuple[int, int] | None = None

    def view(self) -> CatalogView:
        """The current view; when the store or the lake cannot be read, the last good one keeps serving."""
        if time.monotonic() - self._checked >= self.refresh_s:
            try:
                self.refresh()
            except Exception as err:  # an unreachable store must not fail requests: serve the last view
                self._checked = time.monotonic()
                log.warning("catalogue refresh failed, serving the last view: %s", err)
        return self._view

    def refresh(self) -> CatalogView:
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._lake_stamp()
            try:
                version = self.store.get_features("item", [OVERRIDES_KEY], [VERSION_NAME]).get(OVERRIDES_KEY, {})
                overrides = None
            except RecsysError as err:  # store down: the lake's catalogue still applies; overrides come back later
                log.warning("catalogue overrides unreadable, using the lake's catalogue alone: %s", err)
                version, overrides = {}, {}
            token = (stamp, version.get(VERSION_NAME))
            if token == self._view.token:
                return self._view
            if stamp != self._base_stamp:
                self._base = self._read_lake()
                self._base_stamp = stamp
            items = dict(self._base)
            if overrides is None:
                overrides = self.store.get_features("item", [OVERRIDES_KEY]).get(OVERRIDES_KEY, {})
            for name, record in overrides.items():
                if not name.startswith("i:") or not isinstance(record, dict):
                    continue
                info = _override(record)
                base = items.get(info.item_id)
                if base is None or base.changed_at is None or info.changed_at is None or \
                        info.changed_at >= base.changed_at:
                    items[info.item_id] = info
            self._view = CatalogView(items, token)
            return self._view

    def _lake_stamp(self) -> tuple[int, int] | None:
        if self.lake is None or not has_catalog(self.lake):
            return None
        st = (self.lake / ITEMS_DIR / CURRENT_FILE).stat()
        return (st.st_mtime_ns, st.st_size)

    def _read_lake(self) -> dict[str, ItemInfo]:
        if self.lake is None or not has_catalog(self.lake):
            return {}
        rows = read_history(self.lake).to_pylist()
        out = {r["item_id"]: _info(r, r["valid_from"]) for r in rows if r["valid_to"] is None}
        log.info("catalogue of %d items from %s", len(out), self.lake)
        return out

    def change(self, item_id: str, fields: Mapping[str, Any], *, replace: bool = False) -> ItemInfo:
        """Apply one admin change: durably to the lake first, then to the online store for every worker.
        Raises `recsys.catalog.Rejected` on a bad field."""
        if self.lake is None:
            raise LookupError("the service has no catalogue lake: start it with --lake LAKE (RECSYS_LAKE)")
        change = normalize({**fields, "item_id": item_id})
        now = datetime.now(UTC)
        _, (row,) = apply_changes(self.lake, [change], now, replace=replace)
        info = _info(row, now)
        self.store.put_features("item", {OVERRIDES_KEY: {f"i:{item_id}": _record(info),
                                                         VERSION_NAME: uuid.uuid4().hex}})
        self._checked = -math.inf  # this worker sees its own change on the next read
        return info

    def get(self, item_id: str) -> ItemInfo | None:
        return self.view().items.get(item_id)


def _record(info: ItemInfo) -> dict[str, Any]:
    return {"item_id": info.item_id, "title": info.title, "categories": list(info.categories), "price": info.price,
            "available": info.available, "created_at": info.created_at.isoformat() if info.created_at else None,
            "properties": info.properties, "changed_at": info.changed_at.isoformat() if info.changed_at else None}


def _override(record: Mapping[str, Any]) -> ItemInfo:
    def when(text: Any) -> datetime | None:
        return datetime.fromisoformat(text) if isinstance(text, str) else None

    return ItemInfo(str(record["item_id"]), record.get("title"), tuple(record.get("categories") or ()),
                    record.get("price"), bool(record.get("available", True)), when(record.get("created_at")),
                    record.get("properties") or "{}", when(record.get("changed_at")))


def hidden_in(view: CatalogView, items: Sequence[str]) -> list[str]:
    """The unavailable ones among `items` (to exclude from a model's ranking)."""
    return [i for i in items if i in view.unavailable]
