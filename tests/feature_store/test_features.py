"""Feature definitions, offline values (hand-computed), point-in-time training frames, materialization online."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.lakes import TINY_EVENTS, Event, ts, write_lake
from typer.testing import CliRunner

from feature_store.definitions import FEATURES, features_for
from feature_store.materialize import materialize
from feature_store.offline import compute_features
from feature_store.online import open_online_store
from feature_store.training_frame import training_frame
from recsys.cli import _load_commands, app
from recsys.errors import InputError

AS_OF = ts("2024-01-10 10:06")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("features") / "lake", TINY_EVENTS)


def test_definitions_are_unique_and_split_by_entity() -> None:
    assert len(FEATURES) == len({f.name for f in FEATURES.values()})
    assert all(f.name.startswith(f.entity + "_") for f in FEATURES.values())
    assert [f.name for f in features_for("item", ["item_trend_7d"])] == ["item_trend_7d"]
    with pytest.raises(InputError, match="not user features"):
        features_for("user", ["item_trend_7d"])
    with pytest.raises(InputError, match="unknown feature"):
        features_for("user", ["user_bogus"])
    with pytest.raises(InputError, match="unknown entity"):
        features_for("shop")


def test_user_features_hand_computed(lake: Path) -> None:
    users = compute_features(lake, "user", AS_OF)
    assert sorted(users.index) == ["r", "u1", "u2", "u3", "u4"]  # u5's event is after AS_OF
    u4 = users.loc["u4"]  # purchase 10:00, view 10:05; the add_to_cart at 10:06 is not before AS_OF
    assert (u4.user_view_count_1d, u4.user_purchase_count_1d, u4.user_add_to_cart_count_30d) == (1, 1, 0)
    assert (u4.user_event_count_30d, u4.user_recency_seconds, u4.user_sessions_30d) == (2, 60.0, 1)
    assert u4.user_conversion_30d == 1.0
    u1 = users.loc["u1"]  # five events: 3 on Jan 1 (one session), Jan 2, Jan 9
    assert (u1.user_view_count_30d, u1.user_view_count_7d, u1.user_view_count_1d) == (3, 1, 1)
    assert (u1.user_distinct_items_30d, u1.user_sessions_30d, u1.user_sessions_7d) == (2, 3, 1)
    assert u1.user_recency_seconds == pytest.approx((AS_OF - ts("2024-01-09 12:00")).total_seconds())
    assert u1.user_conversion_30d == pytest.approx(1 / 3)
    u3 = users.loc["u3"]  # two events 31 minutes apart: two sessions
    assert (u3.user_sessions_7d, u3.user_favorite_count_30d) == (2, 0)


def test_item_features_hand_computed(lake: Path) -> None:
    items = compute_features(lake, "item", AS_OF)
    i1 = items.loc["i1"]
    assert (i1.item_event_count_30d, i1.item_event_count_7d, i1.item_distinct_users_30d) == (9, 3, 3)
    assert (i1.item_purchase_count_30d, i1.item_category) == (2, "c1")
    assert i1.item_conversion_30d == pytest.approx(2 / 5)
    assert i1.item_trend_7d == pytest.approx((3 + 1) / (6 + 1))  # 3 events in the last week, 6 in the one before
    i3 = items.loc["i3"]
    assert (i3.item_event_count_7d, i3.item_conversion_30d, i3.item_trend_7d) == (2, 0.0, 3.0)


def test_training_frame_excludes_the_row_event_and_later(lake: Path) -> None:
    rows = pd.DataFrame({"user_id": ["u1", "u1", "u2", "nobody"],
                         "ts": [ts("2024-01-01 10:20"), ts("2024-01-01 10:21"), ts("2024-01-03 12:29"),
                                ts("2024-01-03 12:29")],
                         "label": [1, 0, 1, 0]})
    frame = training_frame(lake, rows, features=["user_purchase_count_1d", "user_recency_seconds",
                                                 "user_sessions_30d"])
    assert list(frame.columns) == ["user_id", "ts", "label", "user_purchase_count_1d", "user_recency_seconds",
                                   "user_sessions_30d"]
    assert frame.user_purchase_count_1d.tolist() == [0, 1, 0, 0]  # the 10:20 purchase is the first row's label
    assert frame.user_recency_seconds.tolist()[:3] == [600.0, 60.0, 1740.0]
    assert np.isnan(frame.user_recency_seconds.iloc[3])
    assert frame.user_sessions_30d.tolist() == [1, 1, 2, 0]
    assert frame.label.tolist() == [1, 0, 1, 0]


def _random_events(rng: np.random.Generator, n: int) -> list[Event]:
    base = ts("2024-03-01 00:00")
    types = ["view", "view", "view", "add_to_cart", "favorite", "purchase"]
    out = []
    for _ in range(n):
        when = base + timedelta(seconds=int(rng.integers(0, 40 * 86400)))
        out.append((f"u{rng.integers(0, 4)}", f"i{rng.integers(0, 6)}", str(rng.choice(types)),
                    when.strftime("%Y-%m-%d %H:%M:%S"), f"c{rng.integers(0, 3)}"))
    return out


@pytest.mark.parametrize("entity", ["user", "item"])
def test_training_frame_never_leaks_the_future(tmp_path: Path, entity: str) -> None:
    """Each row's features equal those computed from a lake holding only the events before the row's time."""
    rng = np.random.default_rng(7)
    events = _random_events(rng, 400)
    full = write_lake(tmp_path / "full", events)
    key = "user_id" if entity == "user" else "item_id"
    row_events = [events[int(i)] for i in rng.choice(len(events), size=5, replace=False)]
    rows = pd.DataFrame({key: [e[0] if entity == "user" else e[1] for e in row_events],
                         "ts": [ts(e[3]) for e in row_events]})
    frame = training_frame(full, rows, entity=entity)
    for i, row in rows.iterrows():
        past = [e for e in events if ts(e[3]) < row.ts]
        expected = compute_features(write_lake(tmp_path / f"past-{i}", past), entity, row.ts)
        got = frame.loc[i, expected.columns]
        pd.testing.assert_series_equal(got, expected.loc[row[key]], check_names=False, check_dtype=False)
    # Later events, even a flood of them, change nothing.
    future = [(e[0], e[1], e[2], (ts(e[3]) + timedelta(days=60)).strftime("%Y-%m-%d %H:%M:%S"), e[4])
              for e in events]
    write_lake(full, future, part="part-future")
    pd.testing.assert_frame_equal(training_frame(full, rows, entity=entity), frame)


def test_training_frame_rejects_bad_rows(lake: Path) -> None:
    with pytest.raises(InputError, match="lack column"):
        training_frame(lake, pd.DataFrame({"user_id": ["u1"]}))
    with pytest.raises(InputError, match="no timestamp"):
        training_frame(lake, pd.DataFrame({"user_id": ["u1"], "ts": [pd.NaT]}))


def _expected_online(lake: Path, entity: str) -> dict[str, dict]:
    frame = compute_features(lake, entity, AS_OF)
    return json.loads(frame.to_json(orient="index"))


def _check_store(store, lake: Path) -> None:  # type: ignore[no-untyped-def]
    report = materialize(lake, store, AS_OF, batch_size=2)
    assert report.rows == {"user": 5, "item": 3}
    assert report.batches == {"user": 3, "item": 2}
    for entity, keys in (("user", ["r", "u1", "u2", "u3", "u4"]), ("item", ["i1", "i2", "i3"])):
        expected = _expected_online(lake, entity)
        got = store.get_features(entity, keys)
        assert got.keys() == expected.keys()
        for k in keys:
            assert got[k] == pytest.approx(expected[k]), k
    assert store.get_features("user", ["u4"], ["user_view_count_1d"]) == {"u4": {"user_view_count_1d": 1}}
    materialize(lake, store, AS_OF, batch_size=1000)  # idempotent re-run
    assert store.get_features("item", ["i1"])["i1"]["item_category"] == "c1"


def test_materialize_into_sqlite(lake: Path, tmp_path: Path) -> None:
    with open_online_store(path=tmp_path / "online.sqlite") as store:
        _check_store(store, lake)


def test_materialize_into_redis(lake: Path) -> None:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as err:
        pytest.skip(f"no Redis at 127.0.0.1:6379 ({err}); start one to test the Redis online store")
    prefix = f"test-fs-{uuid.uuid4().hex[:8]}"
    try:
        with open_online_store("redis://127.0.0.1:6379/0", prefix=prefix) as store:
            _check_store(store, lake)
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)


def test_cli_materialize_and_show(lake: Path, tmp_path: Path) -> None:
    _load_commands()
    runner = CliRunner()
    db = str(tmp_path / "cli.sqlite")
    result = runner.invoke(app, ["features", "materialize", "--lake", str(lake), "--as-of", "2024-01-10T10:06:00Z",
                                 "--path", db, "--json", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["rows"] == {"user": 5, "item": 3}
    result = runner.invoke(app, ["features", "show", "--entity", "user", "--key", "u4", "--path", db,
                                 "--names", "user_view_count_1d,user_recency_seconds"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "u4": {"user_view_count_1d": 1, "user_recency_seconds": 60.0}}
    bad = runner.invoke(app, ["features", "materialize", "--lake", str(lake), "--as-of", "yesterday", "--path", db])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output
