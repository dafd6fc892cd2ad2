"""Optional item attributes for the ranker: a lake's catalogue (``LAKE/items/items.parquet``: item_id, categories,
price, available, created_at) laid out on the model's item index. Without one, those features stay NaN."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.catalog import has_catalog, read_items
from recsys.data import IdMap
from recsys.errors import InputError
from recsys.ranking.events import US

log = logging.getLogger(__name__)

def read_catalogue(lake: str | Path, items: IdMap) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """``(category codes, {price, available, created_at})`` aligned with `items` (-1 / NaN where an item is not
    in the catalogue; an item's category is its first one), or None when the lake has no catalogue."""
    if not has_catalog(lake):
        log.info("no catalogue in %s: catalogue features stay empty", lake)
        return None
    try:
        table = read_items(lake).select(["item_id", "categories", "price", "available", "created_at"])
    except (OSError, pa.ArrowInvalid, KeyError) as err:
        raise InputError(f"cannot read the catalogue of {lake}: {err}") from err
    idx = items.index(table.column("item_id").to_pylist())
    ok = idx >= 0
    first = pc.list_element(pc.fill_null(table.column("categories"), pa.scalar([], pa.list_(pa.string()))), 0) \
        if table.num_rows else pa.array([], pa.string())
    names = np.asarray(first.to_pylist() if table.num_rows else [], dtype=object)
    codes = np.full(len(items), -1, np.int64)
    has = ok & np.array([c is not None for c in names], bool)
    _, inverse = np.unique(names[has].astype(str), return_inverse=True)
    codes[idx[has]] = inverse
    columns = {}
    for name in ("price", "available"):
        values = np.full(len(items), np.nan)
        col = np.array([np.nan if v is None else float(v) for v in table.column(name).to_pylist()])
        values[idx[ok]] = col[ok]
        columns[name] = values
    created = pc.cast(pc.cast(table.column("created_at"), pa.timestamp("us", tz="UTC")), pa.int64()).to_pylist()
    values = np.full(len(items), np.nan)
    values[idx[ok]] = np.array([np.nan if v is None else v // US for v in created], np.float64)[ok]
    columns["created_at"] = values
    log.info("catalogue of %s: %d of %d items", lake, int(ok.sum()), len(items))
    return codes, columns


def event_categories(lake: str | Path, items: IdMap) -> np.ndarray | None:
    """Category codes from the events' ``properties.category`` (each item's latest one), aligned with `items`;
    None when the lake's events carry no category. Used when the lake has no catalogue."""
    from feature_store.sql import lake_connection

    con = lake_connection(lake)
    try:
        rows = con.execute("SELECT item_id, arg_max(category, ts) FROM events WHERE category IS NOT NULL "
                           "GROUP BY item_id").fetchall()
    finally:
        con.close()
    if not rows:
        return None
    idx = items.index([r[0] for r in rows])
    names = np.asarray([str(r[1]) for r in rows], dtype=object)
    _, inverse = np.unique(names.astype(str), return_inverse=True)
    codes = np.full(len(items), -1, np.int64)
    codes[idx[idx >= 0]] = inverse[idx >= 0]
    log.info("event categories: %d of %d items", int((codes >= 0).sum()), len(items))
    return codes
