"""Item features from the catalogue: category, price bucket and age, point-in-time correct over its history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from feature_store.definitions import FEATURES, PRICE_BUCKETS
from feature_store.materialize import materialize
from feature_store.offline import compute_features, point_in_time_features
from feature_store.online import SQLiteOnlineStore
from recsys.catalog import load_catalog

NAMES = ["item_catalog_category", "item_price_bucket", "item_age_days"]
T1, T2 = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)


def catalogue(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    v1 = [{"item_id": "a", "categories": ["lamps", "home"], "price": 9.0, "created_at": "2026-02-01"},
          {"item_id": "b", "categories": [], "created_at": "2026-03-05"}]
    (tmp_path / "v1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in v1))
    load_catalog(tmp_path / "v1.jsonl", lake, as_of=T1)
    (tmp_path / "v2.jsonl").write_text(json.dumps({"item_id": "a", "price": 120.0}) + "\n")
    load_catalog(tmp_path / "v2.jsonl", lake, as_of=T2)
    return lake


def test_declared_once_with_the_others() -> None:
    for name in NAMES:
        assert FEATURES[name].entity == "item" and FEATURES[name].source == "items"
    assert PRICE_BUCKETS == tuple(sorted(PRICE_BUCKETS))


def test_point_in_time_values_follow_the_catalogue_history(tmp_path: Path) -> None:
    lake = catalogue(tmp_path)
    times = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC),
             datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC)]
    frame = point_in_time_features(lake, "item", ["a", "a", "a", "b", "zz"], times, NAMES)
    assert list(frame.columns) == NAMES
    assert frame["item_catalog_category"].tolist()[1:3] == ["lamps", "lamps"]
    assert pd.isna(frame.loc[0, "item_catalog_category"])  # not created yet on 1 January
    assert frame["item_price_bucket"].tolist()[1:3] == [0, 4]  # 9.0 before the change, 120.0 after
    assert frame.loc[1, "item_age_days"] == 30.0
    assert pd.isna(frame.loc[3, "item_price_bucket"]) and frame.loc[3, "item_age_days"] == 1.0
    assert frame.iloc[4].isna().all()  # an item the catalogue does not know


def test_materialised_online_under_the_same_names(tmp_path: Path) -> None:
    lake = catalogue(tmp_path)
    frame = compute_features(lake, "item", T2, NAMES)
    assert frame.index.tolist() == ["a", "b"]
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    report = materialize(lake, store, T2, entities=["item"], names={"item": NAMES})
    assert report.rows == {"item": 2}
    got = store.get_features("item", ["a", "b"])
    assert got["a"] == {"item_catalog_category": "lamps", "item_price_bucket": 4, "item_age_days": 37.0}
    assert got["b"]["item_price_bucket"] is None and got["b"]["item_catalog_category"] is None
    store.close()


def test_a_lake_without_a_catalogue_gives_nulls(tmp_path: Path) -> None:
    frame = point_in_time_features(tmp_path / "empty", "item", ["a"], [T1], NAMES)
    assert frame.iloc[0].isna().all()
