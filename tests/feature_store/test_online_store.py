"""Both online store backends honour one contract: SQLite always, Redis on 127.0.0.1:6379 when reachable."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from feature_store.online import SQLiteOnlineStore, open_online_store

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_store():
    try:
        import redis
    except ImportError:
        pytest.skip("the redis client library is not installed")
    from feature_store.online.redis_store import RedisOnlineStore

    store = RedisOnlineStore(REDIS_URL, prefix=f"test-{uuid.uuid4().hex[:12]}", max_history=5)
    try:
        store.ping()
    except redis.exceptions.ConnectionError as err:
        pytest.skip(f"no Redis server reachable at {REDIS_URL} ({err}); start redis-server to run this test")
    return store


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SQLiteOnlineStore(tmp_path / "online.sqlite", max_history=5)
        yield s
        s.close()
    else:
        s = _redis_store()
        yield s
        s.clear()
        s.close()


def ev(user, item, minute, **extra):
    return {"user_id": user, "item_id": item, "event_type": "view", "ts": f"2026-01-01T10:{minute:02d}:00Z", **extra}


def test_recent_items_are_ordered_by_time_and_limited(store):
    store.append_events([ev("u1", "b", 2), ev("u1", "a", 1), ev("u2", "z", 1)])
    store.append_events([ev("u1", "c", 3)])
    assert store.recent_items(["u1", "u2", "nobody"]) == {"u1": ["a", "b", "c"], "u2": ["z"], "nobody": []}
    assert store.recent_items(["u1"], limit=2) == {"u1": ["b", "c"]}
    with pytest.raises(ValueError):
        store.recent_items(["u1"], limit=0)


def test_recent_events_carry_their_times(store):
    store.append_events([ev("u1", "b", 2), ev("u1", "a", 1)])
    t1 = int(datetime(2026, 1, 1, 10, 1, tzinfo=UTC).timestamp()) * 1_000_000
    assert store.recent_events(["u1", "nobody"]) == {"u1": [("a", t1), ("b", t1 + 60_000_000)], "nobody": []}
    assert store.recent_events(["u1"], limit=1) == {"u1": [("b", t1 + 60_000_000)]}


def test_replayed_events_are_stored_once_and_histories_are_trimmed(store):
    batch = [ev("u", f"i{m}", m) for m in range(8)]
    store.append_events(batch)
    store.append_events(batch[-2:])  # replay
    assert store.recent_items(["u"], limit=50)["u"] == ["i3", "i4", "i5", "i6", "i7"]  # max_history=5


def test_event_times_in_several_forms(store):
    t = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    store.append_events([{"user_id": "u", "item_id": "late", "ts": "2026-01-01T11:00:00+00:00"},
                         {"user_id": "u", "item_id": "early", "ts": t},
                         {"user_id": "u", "item_id": "mid", "ts": int(t.timestamp() * 1e6) + 3_600_000_000}])
    assert store.recent_items(["u"])["u"] == ["early", "mid", "late"]
    with pytest.raises(ValueError, match="ISO-8601"):
        store.append_events([{"user_id": "u", "item_id": "x", "ts": "yesterday"}])
    with pytest.raises(ValueError, match="lacks"):
        store.append_events([{"item_id": "x", "ts": t}])


def test_features_upsert_and_read(store):
    store.put_features("item", {"i1": {"category": "c1", "price": 9.5}, "i2": {"category": "c2"}})
    store.put_features("item", {"i1": {"price": 7.0, "tags": ["a", "b"]}})
    store.put_features("user", {"i1": {"segment": "new"}})  # entities are separate namespaces
    assert store.get_features("item", ["i1", "i2", "i3"]) == {
        "i1": {"category": "c1", "price": 7.0, "tags": ["a", "b"]}, "i2": {"category": "c2"}}
    assert store.get_features("item", ["i1", "i2"], ["category"]) == {"i1": {"category": "c1"},
                                                                      "i2": {"category": "c2"}}
    assert store.get_features("user", ["i1"]) == {"i1": {"segment": "new"}}
    with pytest.raises(ValueError, match="entity"):
        store.put_features("shop", {"x": {"a": 1}})


def test_many_keys_in_one_read(store):
    store.put_features("item", {f"i{n}": {"category": f"c{n % 7}"} for n in range(1200)})
    got = store.get_features("item", [f"i{n}" for n in range(1300)], ["category"])
    assert len(got) == 1200 and got["i701"] == {"category": "c1"}


def test_concurrent_writers(store):
    def work(n: int) -> None:
        store.append_events([ev(f"w{n}", f"i{m}", m) for m in range(5)])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = store.recent_items([f"w{n}" for n in range(8)])
    assert all(v == [f"i{m}" for m in range(5)] for v in got.values())


def test_open_online_store_picks_the_backend(tmp_path):
    s = open_online_store(path=tmp_path / "a.sqlite")
    assert isinstance(s, SQLiteOnlineStore) and s.path == tmp_path / "a.sqlite"
    s.close()
    s = open_online_store(f"sqlite:///{tmp_path}/b.sqlite")
    assert isinstance(s, SQLiteOnlineStore) and s.path == tmp_path / "b.sqlite"
    s.append_events([ev("u", "i", 1)])
    s.close()
    with open_online_store(f"sqlite:///{tmp_path}/b.sqlite") as again:  # data survives a reopen
        assert again.recent_items(["u"]) == {"u": ["i"]}
    with pytest.raises(ValueError, match="unsupported"):
        open_online_store("mysql://x")
    from feature_store.online.redis_store import RedisOnlineStore

    r = open_online_store(REDIS_URL, prefix="p")
    assert isinstance(r, RedisOnlineStore) and r.prefix == "p"
    r.close()
