"""The catalogue in the lake: the current items, their versioned history, and changes applied under a lock.

A change that leaves an item as it was writes nothing, so re-loading a file (or repeating an admin call) is
harmless. Fields a change does not carry keep their current values (``replace=True`` resets them instead).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.catalog.schema import CURRENT_FILE, HISTORY_FILE, HISTORY_SCHEMA, ITEM_SCHEMA, ITEMS_DIR
from recsys.catalog.validate import Item
from recsys.errors import InputError
from recsys.ingest.writer import atomic_write_table

DEFAULTS: dict[str, Any] = {"title": None, "categories": [], "price": None, "available": True, "created_at": None,
                            "properties": "{}"}


@dataclass
class ChangeStats:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def items_dir(lake: str | Path) -> Path:
    return Path(lake) / ITEMS_DIR


def has_catalog(lake: str | Path) -> bool:
    return (items_dir(lake) / CURRENT_FILE).is_file()


def read_items(lake: str | Path, as_of: datetime | None = None) -> pa.Table:
    """The catalogue (ITEM_SCHEMA): the current one, or the one valid at `as_of` (an aware datetime): the item
    versions valid then, of items created by then (items without a creation time count as always there)."""
    root = items_dir(lake)
    if not has_catalog(lake):
        raise InputError(f"no catalogue in lake {lake}: {root / CURRENT_FILE} does not exist "
                         "(run `recsys catalog load FILE --lake LAKE` first)")
    if as_of is None:
        return pq.read_table(root / CURRENT_FILE, schema=ITEM_SCHEMA)
    if as_of.tzinfo is None:
        raise InputError(f"as_of {as_of} has no time zone; give an aware UTC datetime")
    hist = read_history(lake)
    when = pa.scalar(as_of, HISTORY_SCHEMA.field("valid_from").type)
    keep = pc.and_kleene(
        pc.and_kleene(pc.or_kleene(pc.is_null(hist["valid_from"]), pc.less_equal(hist["valid_from"], when)),
                pc.or_kleene(pc.is_null(hist["valid_to"]), pc.greater(hist["valid_to"], when))),
        pc.or_kleene(pc.is_null(hist["created_at"]), pc.less_equal(hist["created_at"], when)))
    return hist.filter(pc.fill_null(keep, False)).select(ITEM_SCHEMA.names).cast(ITEM_SCHEMA)


def read_history(lake: str | Path) -> pa.Table:
    """Every version of every item (HISTORY_SCHEMA); empty when nothing was loaded yet."""
    path = items_dir(lake) / HISTORY_FILE
    if not path.is_file():
        return HISTORY_SCHEMA.empty_table()
    return pq.read_table(path, schema=HISTORY_SCHEMA)


@contextmanager
def catalog_lock(lake: str | Path) -> Iterator[None]:
    """One writer of a lake's catalogue at a time (loads and service changes alike); others wait."""
    root = items_dir(lake)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def merge(current: dict[str, Any] | None, change: Item, *, replace: bool = False) -> dict[str, Any]:
    """The item after `change` (a `recsys.catalog.validate.normalize` result) on top of `current`."""
    base: dict[str, Any] = {"item_id": change["item_id"], **DEFAULTS}
    if current is not None and not replace:
        base.update({k: current[k] for k in ITEM_SCHEMA.names})
    for key, value in change.items():
        if key == "properties":
            props = {} if replace else json.loads(base["properties"] or "{}")
            base[key] = json.dumps({**props, **value}, sort_keys=True, separators=(",", ":"), default=str)
        elif key == "categories":
            base[key] = list(value)
        else:
            base[key] = value
    return base


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[k] == b[k] for k in ITEM_SCHEMA.names)


def apply_changes(lake: str | Path, changes: Iterable[Item], as_of: datetime, *, replace: bool = False
                  ) -> tuple[ChangeStats, list[dict[str, Any]]]:
    """Apply `changes` (one per item) at time `as_of`; returns the counts and the items as they now are.

    Changed items get a new history version from `as_of` (their previous one is closed there); new items get a
    first version valid since always. Both files are rewritten atomically; nothing is written when nothing
    changed."""
    stats = ChangeStats()
    with catalog_lock(lake):
        history = read_history(lake).to_pylist()
        open_rows = {r["item_id"]: r for r in history if r["valid_to"] is None}
        touched: list[dict[str, Any]] = []
        for change in changes:
            old = open_rows.get(change["item_id"])
            new = merge(old, change, replace=replace)
            touched.append(new)
            if old is not None and _same(old, new):
                stats.unchanged += 1
                continue
            if old is None:
                stats.inserted += 1
            else:
                stats.updated += 1
                old["valid_to"] = as_of
            row = {**new, "valid_from": None if old is None else as_of, "valid_to": None}
            history.append(row)
            open_rows[new["item_id"]] = row
        if stats.inserted or stats.updated:
            _write(lake, history, open_rows)
    return stats, touched


def _write(lake: str | Path, history: list[dict[str, Any]], current: dict[str, dict[str, Any]]) -> None:
    root = items_dir(lake)
    (root / HISTORY_FILE).parent.mkdir(parents=True, exist_ok=True)
    history.sort(key=lambda r: (r["item_id"], r["valid_from"] is not None, r["valid_from"] or 0))
    atomic_write_table(pa.Table.from_pylist(history, schema=HISTORY_SCHEMA), root / HISTORY_FILE)
    rows = [{k: current[i][k] for k in ITEM_SCHEMA.names} for i in sorted(current)]
    atomic_write_table(pa.Table.from_pylist(rows, schema=ITEM_SCHEMA), root / CURRENT_FILE)
