"""Recent item activity from the lake's events: counts over a window and growth between two windows, for the
non-personal lists (popular in the last N days, trending). Windows end at the newest event, not the wall clock,
so the answer depends on the data only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from recsys.errors import InputError
from recsys.lake import read_events

log = logging.getLogger(__name__)
US_PER_DAY = 86_400 * 1_000_000


@dataclass
class ItemActivity:
    """Events' (item, time) of the last `days` days of a lake, as arrays sorted by time."""

    codes: np.ndarray  # (n,) int64 index into `items_index`
    ts: np.ndarray  # (n,) int64 microseconds, ascending
    items_index: np.ndarray  # distinct item ids
    days: float

    @classmethod
    def from_lake(cls, lake: str | Path, days: float = 90.0) -> ItemActivity:
        """Read the events of the last `days` days before the lake's newest event partition."""
        root = Path(lake) / "events"
        parts = sorted(p.name.split("=", 1)[1] for p in root.glob("dt=*")) if root.is_dir() else []
        if not parts:
            raise InputError(f"no events in lake {lake}: item activity needs `recsys ingest` first")
        newest = date.fromisoformat(parts[-1])
        table = read_events(lake, start=newest - timedelta(days=int(days) + 1), columns=["item_id", "ts"])
        ts = pc.cast(table["ts"], "int64").to_numpy()
        order = np.argsort(ts, kind="stable")
        encoded = pc.dictionary_encode(table["item_id"]).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)[order]
        log.info("item activity: %d events of the last %g days from %s", len(ts), days, lake)
        return cls(codes, ts[order], np.asarray(encoded.dictionary.to_pylist(), dtype=object), days)

    def _window(self, days: float, back: float = 0.0) -> np.ndarray:
        if days <= 0 or days + back > self.days:
            raise InputError(f"window of {days:g} days (+{back:g} before) exceeds the {self.days:g} days of "
                             "activity kept")
        if not len(self.ts):
            return np.zeros(len(self.items_index), np.float64)
        end = int(self.ts[-1]) + 1 - int(back * US_PER_DAY)
        lo = np.searchsorted(self.ts, end - int(days * US_PER_DAY), side="left")
        hi = np.searchsorted(self.ts, end, side="left")
        return np.bincount(self.codes[lo:hi], minlength=len(self.items_index)).astype(np.float64)

    def counts(self, days: float) -> dict[str, float]:
        """Events per item in the last `days` days (items without any omitted)."""
        c = self._window(days)
        nz = np.flatnonzero(c)
        return dict(zip(self.items_index[nz].tolist(), c[nz].tolist(), strict=True))

    def growth(self, days: float) -> dict[str, float]:
        """(events in the last `days` + 1) / (events in the `days` before + 1), for items active in the last."""
        now, before = self._window(days), self._window(days, back=days)
        nz = np.flatnonzero(now)
        return dict(zip(self.items_index[nz].tolist(), ((now[nz] + 1) / (before[nz] + 1)).tolist(), strict=True))
