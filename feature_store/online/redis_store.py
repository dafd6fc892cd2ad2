"""The shared online store: Redis, for several service replicas reading the same live state."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from feature_store.online.base import MAX_HISTORY, OnlineStore, check_entity, check_limit, dumps, event_triples

_SEP = "\x1f"


class RedisOnlineStore(OnlineStore):
    """Histories as one sorted set per user (score = event time in microseconds, member = ``ts<US>item``);
    features as one hash per entity key, values JSON-encoded. Every key starts with `prefix`."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "recsys",
                 max_history: int = MAX_HISTORY, client: Any = None) -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.max_history = max_history
        self._r = client if client is not None else redis.Redis.from_url(url, socket_timeout=5,
                                                                         socket_connect_timeout=2)
        self.transient_errors = (redis.ConnectionError, redis.TimeoutError, OSError)

    def _hist_key(self, user: str) -> str:
        return f"{self.prefix}:hist:{user}"

    def _feat_key(self, entity: str, key: str) -> str:
        return f"{self.prefix}:feat:{entity}:{key}"

    def ping(self) -> bool:
        return bool(self._r.ping())

    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        rows = event_triples(events)
        if not rows:
            return
        pipe = self._r.pipeline(transaction=True)
        touched = set()
        for user, item, ts in rows:
            pipe.zadd(self._hist_key(user), {f"{ts:020d}{_SEP}{item}": ts})
            touched.add(user)
        for user in touched:
            pipe.zremrangebyrank(self._hist_key(user), 0, -(self.max_history + 1))
        pipe.execute()

    def recent_items(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[str]]:
        return {u: [item for item, _ in events] for u, events in self.recent_events(user_ids, limit).items()}

    def recent_events(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[tuple[str, int]]]:
        check_limit(limit)
        users = [str(u) for u in user_ids]
        pipe = self._r.pipeline(transaction=False)
        for u in users:
            pipe.zrange(self._hist_key(u), -limit, -1)
        out = {}
        for u, members in zip(users, pipe.execute(), strict=True):
            pairs = [m.decode().split(_SEP, 1) for m in members]
            out[u] = [(item, int(ts)) for ts, item in pairs]
        return out

    def put_features(self, entity: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        check_entity(entity)
        pipe = self._r.pipeline(transaction=True)
        for key, feats in rows.items():
            if feats:
                pipe.hset(self._feat_key(entity, str(key)), mapping={str(n): dumps(v) for n, v in feats.items()})
        pipe.execute()

    def get_features(self, entity: str, keys: Sequence[str], names: Sequence[str] | None = None
                     ) -> dict[str, dict[str, Any]]:
        check_entity(entity)
        keys = [str(k) for k in keys]
        pipe = self._r.pipeline(transaction=False)
        for key in keys:
            if names is None:
                pipe.hgetall(self._feat_key(entity, key))
            else:
                pipe.hmget(self._feat_key(entity, key), [str(n) for n in names])
        out: dict[str, dict[str, Any]] = {}
        for key, got in zip(keys, pipe.execute(), strict=True):
            if names is None:
                feats = {k.decode(): json.loads(v) for k, v in got.items()}
            else:
                feats = {n: json.loads(v) for n, v in zip(names, got, strict=True) if v is not None}
            if feats:
                out[key] = feats
        return out

    def forget_users(self, user_ids: Sequence[str]) -> int:
        keys = [self._hist_key(u) for u in user_ids] + [self._feat_key("user", u) for u in user_ids]
        return int(self._r.delete(*keys)) if keys else 0

    def clear(self) -> int:
        """Delete every key under this store's prefix (tests and resets); returns how many were removed."""
        n = 0
        for key in self._r.scan_iter(match=f"{self.prefix}:*", count=1000):
            n += self._r.delete(key)
        return n

    def close(self) -> None:
        self._r.close()

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self.url!r}, prefix={self.prefix!r})"
