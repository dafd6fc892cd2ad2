"""Lake events -> weighted, deduplicated, chronological interactions."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.dataset import DatasetConfig, build_dataset, build_interactions, events_to_frame, read_interactions
from recsys.errors import InputError
from recsys.events import EVENT_SCHEMA

T0 = datetime(2026, 1, 1, 8, tzinfo=UTC)


def events(rows):
    """Canonical events from (event_id, user, item, type, minutes after T0, value)."""
    return pd.DataFrame({
        "event_id": [r[0] for r in rows], "user_id": [r[1] for r in rows], "item_id": [r[2] for r in rows],
        "event_type": [r[3] for r in rows],
        "ts": pd.to_datetime([T0 + timedelta(minutes=r[4]) for r in rows]).astype("datetime64[us, UTC]"),
        "value": [r[5] for r in rows], "session_id": None, "properties": None, "request_id": None, "position": None,
    })


def write_lake(root, frame):
    """Write canonical events as the ingestion does: LAKE/events/dt=YYYY-MM-DD/part-0.parquet."""
    for day, part in frame.groupby(frame["ts"].dt.strftime("%Y-%m-%d")):
        folder = root / "events" / f"dt={day}"
        folder.mkdir(parents=True)
        table = pa.Table.from_pandas(part[EVENT_SCHEMA.names], schema=EVENT_SCHEMA, preserve_index=False)
        pq.write_table(table, folder / "part-0.parquet")
    return root


ROWS = [
    ("e1", "u1", "a", "view", 0, None),
    ("e2", "u1", "b", "view", 5, None),
    ("e3", "u1", "b", "add_to_cart", 6, None),
    ("e4", "u1", "b", "purchase", 7, 19.9),
    ("e4", "u1", "b", "purchase", 7, 19.9),  # the same event twice (same event_id)
    ("e5", "u2", "c", "view", 1, None),
    ("e6", "u2", "a", "view", 1, None),  # same time as e5: the input order decides
    ("e7", "u2", "c", "favorite", 60 * 30, None),  # the next day
]


def test_weights_dedupe_and_chronological_sequences():
    frame = events_to_frame(events(ROWS))
    assert len(frame) == 7
    data = build_interactions(frame)
    assert data.users.to_list() == ["u1", "u2"] and data.items.to_list() == ["a", "b", "c"]
    m = data.matrix.toarray()
    assert m[0].tolist() == [1.0, 1 + 3 + 5, 0.0]  # view + add_to_cart + purchase of b
    assert m[1].tolist() == [1.0, 0.0, 1 + 2]
    assert [data.items.external(s).tolist() for s in data.sequences] == [["a", "b", "b", "b"], ["c", "a", "c"]]
    assert all(np.all(np.diff(t) >= 0) for t in data.timestamps)
    assert data.timestamps[1][0] == int(T0.timestamp() * 1e6) + 60_000_000


def test_custom_weights_drop_types_and_rating_threshold():
    rows = [("r1", "u1", "a", "rating", 0, 4.0), ("r2", "u1", "b", "rating", 1, 2.0),
            ("r3", "u1", "c", "view", 2, None), ("r4", "u1", "d", "click", 3, None)]
    frame = events_to_frame(events(rows), DatasetConfig(weights={"view": 0, "click": 2}, rating_threshold=3))
    assert frame["item_id"].tolist() == ["a", "d"]
    assert frame["weight"].tolist() == [4.0, 2.0]  # a rating weighs its value


def test_unknown_event_types_get_the_default_weight():
    frame = events_to_frame(events([("x", "u", "a", "Share", 0, None)]), DatasetConfig(default_weight=0.5))
    assert frame["event_type"].tolist() == ["share"] and frame["weight"].tolist() == [0.5]


def test_read_interactions_from_a_lake_window(tmp_path):
    lake = write_lake(tmp_path / "lake", events(ROWS))
    assert len(read_interactions(lake)) == 7
    first_day = read_interactions(lake, start=date(2026, 1, 1), end=date(2026, 1, 2))
    assert "favorite" not in set(first_day["event_type"])
    data = build_dataset(lake)
    assert data.n_users == 2 and data.matrix.nnz == 4
    with pytest.raises(InputError, match="no usable events"):
        read_interactions(lake, start=date(2027, 1, 1))
    with pytest.raises(InputError, match="does not exist"):
        read_interactions(tmp_path / "missing")


def test_fixed_id_maps_drop_unknown_rows():
    frame = events_to_frame(events(ROWS))
    full = build_interactions(frame)
    only_u1 = build_interactions(frame[frame["user_id"] == "u1"], users=full.users, items=full.items)
    assert only_u1.n_users == 2 and only_u1.matrix[1].nnz == 0 and len(only_u1.sequences[1]) == 0


def test_movielens_scale_builds(shared_data):
    """The real MovieLens-100K ratings (as rating events) build into the known shape."""
    raw = pd.read_csv(shared_data("movielens-100k/u.data"), sep="\t", names=["u", "i", "r", "t"])
    table = pa.table({"user_id": raw["u"].astype(str), "item_id": raw["i"].astype(str),
                      "event_type": ["rating"] * len(raw),
                      "ts": pa.array(raw["t"].to_numpy() * 1_000_000, pa.timestamp("us", tz="UTC")),
                      "value": raw["r"].astype(float)})
    data = build_interactions(events_to_frame(table))
    assert (data.n_users, data.n_items, data.matrix.nnz) == (943, 1682, 100_000)
    assert data.matrix.sum() == pytest.approx(raw["r"].sum())
