"""Event times for point-in-time features: every item's events, searchable as of any time, and a user's own events.

Times are whole seconds since the epoch (int64). A value "as of t" counts only events with ``ts <= t``; the ranker
sets t to the user's latest known event, so a label (always later) never leaks into its own features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.data import Interactions

US = 1_000_000
DAY = 86_400
SYNTHETIC_START = 1_577_836_800
"""2020-01-01: the clock of data without timestamps (each user's events then lie one second apart)."""


def event_seconds(data: Interactions) -> list[np.ndarray]:
    """Per user, the event times in seconds aligned with ``data.sequences`` (synthetic one-second steps when the
    data carries no timestamps)."""
    if data.timestamps:
        return [np.asarray(t, np.int64) // US for t in data.timestamps]
    return [SYNTHETIC_START + np.arange(len(s), dtype=np.int64) for s in data.sequences]


@dataclass
class UserEvents:
    """One user's events (dense item indices, seconds), oldest first, and the time the features are taken at."""

    items: np.ndarray
    ts: np.ndarray
    as_of: int


class ItemLog:
    """Every item's event times, sorted, packed as ``item * stride + (t - t0)`` so that one `searchsorted` answers
    "how many events of item j in [a, b]" for many (j, a, b) at once."""

    def __init__(self, keys: np.ndarray, t0: int, stride: int, n_items: int) -> None:
        self.keys = keys
        self.t0 = int(t0)
        self.stride = int(stride)
        self.n_items = int(n_items)

    @classmethod
    def build(cls, items: np.ndarray, ts: np.ndarray, n_items: int) -> ItemLog:
        items = np.asarray(items, np.int64)
        ts = np.asarray(ts, np.int64)
        t0 = int(ts.min()) if len(ts) else 0
        stride = (int(ts.max()) - t0 + 2) if len(ts) else 2
        return cls(np.sort(items * stride + (ts - t0)), t0, stride, n_items)

    @classmethod
    def from_users(cls, sequences: Sequence[np.ndarray], seconds: Sequence[np.ndarray], n_items: int) -> ItemLog:
        if not sequences:
            return cls.build(np.zeros(0, np.int64), np.zeros(0, np.int64), n_items)
        return cls.build(np.concatenate(sequences), np.concatenate(seconds), n_items)

    def _key(self, items: np.ndarray, t: np.ndarray) -> np.ndarray:
        rel = np.clip(np.asarray(t, np.int64) - self.t0, -1, self.stride - 1)
        return np.asarray(items, np.int64) * self.stride + rel

    def count(self, items: np.ndarray, start: np.ndarray | None, end: np.ndarray) -> np.ndarray:
        """Events of ``items[p]`` with ``start[p] <= ts <= end[p]`` (no lower bound where start is None)."""
        hi = np.searchsorted(self.keys, self._key(items, end), side="right")
        lo_t = np.full(len(items), self.t0 - 1) if start is None else start
        lo = np.searchsorted(self.keys, self._key(items, lo_t), side="left")
        return np.maximum(hi - lo, 0)

    def first_last(self, items: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Times of the first and of the latest event of ``items[p]`` at or before ``end[p]`` (NaN when none)."""
        items = np.asarray(items, np.int64)
        start = np.searchsorted(self.keys, items * self.stride, side="left")
        hi = np.searchsorted(self.keys, self._key(items, end), side="right")
        has = hi > start
        first = np.full(len(items), np.nan)
        last = np.full(len(items), np.nan)
        first[has] = (self.keys[start[has]] - items[has] * self.stride + self.t0).astype(np.float64)
        last[has] = (self.keys[hi[has] - 1] - items[has] * self.stride + self.t0).astype(np.float64)
        return first, last

    def state(self) -> dict[str, np.ndarray]:
        return {"log_keys": self.keys, "log_meta": np.array([self.t0, self.stride, self.n_items], np.int64)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> ItemLog:
        t0, stride, n_items = (int(v) for v in state["log_meta"])
        return cls(state["log_keys"], t0, stride, n_items)
