"""ResilientStore over a real private redis-server: fails fast while it is down, keeps writes, replays them on
its return, and bounds what it keeps."""

from __future__ import annotations

import pytest
from support.redis_server import PrivateRedis, needs_redis

from feature_store.online import ResilientStore, StoreUnavailable
from feature_store.online.redis_store import RedisOnlineStore

pytestmark = needs_redis


def _ev(user: str, item: str, second: int) -> dict[str, str]:
    return {"user_id": user, "item_id": item, "ts": f"2026-01-01T00:00:{second:02d}Z"}


@pytest.fixture
def redis_server():
    with PrivateRedis() as server:
        yield server.start()


def test_down_then_back_with_replay(redis_server):
    store = ResilientStore(RedisOnlineStore(redis_server.url, prefix="t"))
    store.append_events([_ev("a", "i1", 1)])
    assert store.recent_items(["a"]) == {"a": ["i1"]} and store.available

    redis_server.kill()
    with pytest.raises(StoreUnavailable, match="unavailable"):
        store.recent_items(["a"])
    assert not store.available and store.status()["status"] == "down"
    with pytest.raises(StoreUnavailable):
        store.append_events([_ev("a", "i2", 2), _ev("b", "i3", 3)])  # kept for replay
    with pytest.raises(StoreUnavailable):
        store.put_features("item", {"i3": {"category": "c"}})
    assert store.backlog == 3 and store.probe() is False

    redis_server.start()  # empty: no persistence
    assert store.probe() is True and store.available and store.backlog == 0 and store.replayed == 3
    assert store.recent_items(["a", "b"]) == {"a": ["i2"], "b": ["i3"]}
    assert store.get_features("item", ["i3"]) == {"i3": {"category": "c"}}
    store.close()


def test_the_backlog_is_bounded_oldest_dropped(redis_server):
    store = ResilientStore(RedisOnlineStore(redis_server.url, prefix="t"), backlog=3)
    redis_server.kill()
    for n in range(5):
        with pytest.raises(StoreUnavailable):
            store.append_events([_ev("a", f"i{n}", n)])
    assert store.backlog == 3 and store.dropped == 2
    redis_server.start()
    assert store.probe()
    assert store.recent_items(["a"]) == {"a": ["i2", "i3", "i4"]}
    store.close()
