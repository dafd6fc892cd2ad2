"""The embedded online store: one SQLite file (WAL mode, safe across threads and processes)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from feature_store.online.base import MAX_HISTORY, OnlineStore, check_entity, check_limit, dumps, event_triples

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, ts, item_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS features (
    entity TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (entity, key, name)
) WITHOUT ROWID;
"""


class SQLiteOnlineStore(OnlineStore):
    """Online store in a SQLite file; one connection guarded by a lock (reads take microseconds)."""

    transient_errors = (sqlite3.OperationalError, OSError)  # locked, disk full or gone

    def __init__(self, path: str | Path, *, max_history: int = MAX_HISTORY) -> None:
        self.path = Path(path)
        self.max_history = max_history
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        rows = event_triples(events)
        if not rows:
            return
        users = sorted({u for u, _, _ in rows})
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO events (user_id, item_id, ts) VALUES (?, ?, ?)", rows)
                for u in users:  # trim to the newest max_history events of each touched user
                    self._db.execute(
                        "DELETE FROM events WHERE user_id = ?1 AND (ts, item_id) NOT IN (SELECT ts, item_id FROM "
                        "events WHERE user_id = ?1 ORDER BY ts DESC, item_id DESC LIMIT ?2)", (u, self.max_history))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def recent_items(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[str]]:
        check_limit(limit)
        out: dict[str, list[str]] = {}
        with self._lock:
            for u in user_ids:
                rows = self._db.execute(
                    "SELECT item_id FROM events WHERE user_id = ? ORDER BY ts DESC, item_id DESC LIMIT ?",
                    (str(u), limit)).fetchall()
                out[str(u)] = [r[0] for r in reversed(rows)]
        return out

    def recent_events(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[tuple[str, int]]]:
        check_limit(limit)
        out: dict[str, list[tuple[str, int]]] = {}
        with self._lock:
            for u in user_ids:
                rows = self._db.execute(
                    "SELECT item_id, ts FROM events WHERE user_id = ? ORDER BY ts DESC, item_id DESC LIMIT ?",
                    (str(u), limit)).fetchall()
                out[str(u)] = [(r[0], int(r[1])) for r in reversed(rows)]
        return out

    def put_features(self, entity: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        check_entity(entity)
        data = [(entity, str(k), str(n), dumps(v)) for k, feats in rows.items() for n, v in feats.items()]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO features (entity, key, name, value) VALUES (?, ?, ?, ?)",
                                     data)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get_features(self, entity: str, keys: Sequence[str], names: Sequence[str] | None = None
                     ) -> dict[str, dict[str, Any]]:
        check_entity(entity)
        keys = [str(k) for k in keys]
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, name, value FROM features WHERE entity = ? AND key IN ({marks})"
                params: list[str] = [entity, *chunk]
                if names is not None:
                    sql += f" AND name IN ({','.join('?' * len(names))})"
                    params += [str(n) for n in names]
                for key, name, value in self._db.execute(sql, params):
                    out.setdefault(key, {})[name] = json.loads(value)
        return out

    def forget_users(self, user_ids: Sequence[str]) -> int:
        ids = [str(u) for u in user_ids]
        n = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    n += self._db.execute(f"DELETE FROM events WHERE user_id IN ({marks})", chunk).rowcount
                    n += self._db.execute(f"DELETE FROM features WHERE entity = 'user' AND key IN ({marks})",
                                          chunk).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteOnlineStore({str(self.path)!r})"
