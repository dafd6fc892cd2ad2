"""Online store: live user histories and entity features read at serving time (SQLite by default, Redis when
configured)."""

from __future__ import annotations

from pathlib import Path

from feature_store.online.base import OnlineStore
from feature_store.online.resilient import ResilientStore, StoreUnavailable
from feature_store.online.sqlite_store import SQLiteOnlineStore

DEFAULT_PATH = Path("online_store.sqlite")


def open_online_store(url: str | None = None, *, path: Path | None = None, prefix: str = "recsys") -> OnlineStore:
    """``redis://``/``rediss://``/``unix://`` URLs open Redis (keys under `prefix`); ``sqlite:///FILE`` or no URL
    opens the SQLite file (`path`, default ``online_store.sqlite``)."""
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        from feature_store.online.redis_store import RedisOnlineStore

        return RedisOnlineStore(url, prefix=prefix)
    if url and url.startswith("sqlite:///"):
        return SQLiteOnlineStore(Path(url.removeprefix("sqlite:///")))
    if url:
        raise ValueError(f"unsupported online store URL {url!r}: use redis://HOST:PORT/DB or sqlite:///PATH")
    return SQLiteOnlineStore(path or DEFAULT_PATH)


__all__ = ["OnlineStore", "ResilientStore", "SQLiteOnlineStore", "StoreUnavailable", "open_online_store"]
