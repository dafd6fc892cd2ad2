"""An online store that survives its backend going away: fail fast while it is down, catch up when it is back.

`ResilientStore` wraps any `OnlineStore`. The first call that fails with one of the backend's transient errors
(`OnlineStore.transient_errors`: a refused or reset connection, a timeout) marks the store down; from then on
every call raises `StoreUnavailable` at once instead of waiting on a dead socket, and writes are kept in a bounded
backlog. `probe()` (called by the owner on a timer) pings the backend and, once it answers, replays the backlog in
order and marks the store up again. Histories are keyed on event time, so a replay lands where it belongs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from feature_store.online.base import OnlineStore
from recsys.errors import RecsysError

log = logging.getLogger(__name__)

DEFAULT_BACKLOG = 100_000
"""Events (and feature rows) kept for replay while the backend is down; older ones are dropped past it."""


class StoreUnavailable(RecsysError):
    """The online store's backend cannot be reached right now; writes were kept for replay."""


class ResilientStore(OnlineStore):
    """`inner`, failing fast with `StoreUnavailable` while its backend is down and replaying writes on return."""

    def __init__(self, inner: OnlineStore, *, backlog: int = DEFAULT_BACKLOG) -> None:
        self.inner = inner
        self.max_history = inner.max_history
        self.backlog_limit = backlog
        self._transient = inner.transient_errors
        self._lock = threading.Lock()
        self._pending: deque[tuple[str, Any, int]] = deque()
        self._pending_rows = 0
        self._up = True
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.dropped = 0
        self.replayed = 0

    # ---------------------------------------------------------------- state
    @property
    def available(self) -> bool:
        return self._up

    @property
    def backlog(self) -> int:
        """Rows waiting for replay."""
        return self._pending_rows

    def status(self) -> dict[str, Any]:
        return {"status": "up" if self._up else "down", "backend": repr(self.inner),
                "down_since": self.down_since, "last_error": self.last_error, "backlog": self._pending_rows,
                "dropped": self.dropped, "replayed": self.replayed, "failures": self.failures}

    def _down_error(self) -> StoreUnavailable:
        return StoreUnavailable(f"the online store {self.inner!r} is unavailable: {self.last_error}")

    def _mark_down(self, err: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(err).__name__}: {err}"
        if self._up:
            self._up = False
            self.down_since = time.time()
            log.warning("online store %r is down (%s): answering without live state until it returns",
                        self.inner, self.last_error)

    # ---------------------------------------------------------------- reads: fail fast while down
    def recent_items(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[str]]:
        if not self._up:
            raise self._down_error()
        try:
            return self.inner.recent_items(user_ids, limit)
        except self._transient as err:
            self._mark_down(err)
            raise self._down_error() from err

    def recent_events(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[tuple[str, int]]]:
        return self._read(self.inner.recent_events, user_ids, limit)

    def _read(self, read: Callable[..., Any], *args: Any) -> Any:
        if not self._up:
            raise self._down_error()
        try:
            return read(*args)
        except self._transient as err:
            self._mark_down(err)
            raise self._down_error() from err

    def get_features(self, entity: str, keys: Sequence[str], names: Sequence[str] | None = None
                     ) -> dict[str, dict[str, Any]]:
        if not self._up:
            raise self._down_error()
        try:
            return self.inner.get_features(entity, keys, names)
        except self._transient as err:
            self._mark_down(err)
            raise self._down_error() from err

    # ---------------------------------------------------------------- writes: kept while down
    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        self._write(("events", list(events), len(events)))

    def put_features(self, entity: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        self._write(("features", (entity, dict(rows)), len(rows)))

    def forget_users(self, user_ids: Sequence[str]) -> int:
        """Erase users: their writes waiting for replay are dropped first (they must not come back), then the
        backend is erased; StoreUnavailable while it is down (the erasure must be run again)."""
        ids = {str(u) for u in user_ids}
        with self._lock:
            kept: deque[tuple[str, Any, int]] = deque()
            for kind, payload, _ in self._pending:
                if kind == "events":
                    payload = [e for e in payload if str(e.get("user_id")) not in ids]
                elif payload[0] == "user":
                    payload = (payload[0], {k: v for k, v in payload[1].items() if k not in ids})
                n = len(payload) if kind == "events" else len(payload[1])
                if n:
                    kept.append((kind, payload, n))
            self._pending = kept
            self._pending_rows = sum(op[2] for op in kept)
            if not self._up:
                raise self._down_error()
        try:
            return self.inner.forget_users(user_ids)
        except self._transient as err:
            self._mark_down(err)
            raise self._down_error() from err

    def _write(self, op: tuple[str, Any, int]) -> None:
        with self._lock:
            if not self._up:
                self._keep(op)
                raise self._down_error()
        try:
            self._apply(op)
        except self._transient as err:
            with self._lock:
                self._mark_down(err)
                self._keep(op)
            raise self._down_error() from err

    def _apply(self, op: tuple[str, Any, int]) -> None:
        kind, payload, _ = op
        if kind == "events":
            self.inner.append_events(payload)
        else:
            self.inner.put_features(*payload)

    def _keep(self, op: tuple[str, Any, int]) -> None:
        self._pending.append(op)
        self._pending_rows += op[2]
        while self._pending_rows > self.backlog_limit and len(self._pending) > 1:
            old = self._pending.popleft()
            self._pending_rows -= old[2]
            self.dropped += old[2]
            log.warning("online store backlog over %d rows: %d older rows dropped from replay",
                        self.backlog_limit, old[2])

    # ---------------------------------------------------------------- recovery
    def probe(self) -> bool:
        """True when the backend answers; a store that was down replays its backlog first and is then up."""
        if self._up:
            return True
        try:
            self.inner.ping()
        except self._transient as err:
            self.last_error = f"{type(err).__name__}: {err}"
            return False
        replayed = 0
        while True:
            with self._lock:
                if not self._pending:
                    self._up = True
                    break
                op = self._pending.popleft()
                self._pending_rows -= op[2]
            try:
                self._apply(op)
            except self._transient as err:
                with self._lock:
                    self._pending.appendleft(op)
                    self._pending_rows += op[2]
                    self.last_error = f"{type(err).__name__}: {err}"
                return False
            replayed += op[2]
        self.replayed += replayed
        log.info("online store %r is back after %.1f s; %d kept rows replayed", self.inner,
                 time.time() - (self.down_since or time.time()), replayed)
        self.down_since = None
        return True

    def ping(self) -> bool:
        return self.probe()

    def close(self) -> None:
        try:
            self.inner.close()
        except self._transient as err:
            log.warning("closing the online store: %s", err)

    def __repr__(self) -> str:
        return f"ResilientStore({self.inner!r})"
