"""What the catalogue routes share in one worker: the rules (catalogue view), the exploration policy and the
lake's recent item activity (loaded on first use, re-read when it is older than `activity_ttl_s`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from feature_store.online import OnlineStore
from recsys.catalog.activity import ItemActivity
from recsys.errors import InputError
from serving.explore import Explorer
from serving.rules import CatalogRules

MAX_WINDOW_DAYS = 90.0
ACTIVITY_DAYS = 2 * MAX_WINDOW_DAYS
"""Events kept: trending compares a window with the one before it."""


@dataclass
class CatalogServices:
    rules: CatalogRules
    explorer: Explorer
    lake: Path | None = None
    activity_ttl_s: float = 60.0
    _activity: tuple[float, ItemActivity] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def activity(self) -> ItemActivity:
        """Recent events of the lake (InputError when the service has no lake or the lake no events)."""
        if self.lake is None:
            raise InputError("windowed popularity and trending need the lake's events: start the service with "
                             "--lake LAKE")
        with self._lock:
            if self._activity is None or time.monotonic() - self._activity[0] > self.activity_ttl_s:
                self._activity = (time.monotonic(), ItemActivity.from_lake(self.lake, ACTIVITY_DAYS))
            return self._activity[1]


def catalog_services(store: OnlineStore, lake: Path | None, *, refresh_s: float, explore_share: float,
                     explore_days: float) -> CatalogServices:
    return CatalogServices(CatalogRules(store, lake, refresh_s=refresh_s), Explorer(explore_share, explore_days),
                           lake)
