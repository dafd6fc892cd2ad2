"""Exploration: a share of each personal answer goes to fresh items (created within `fresh_days`) that fit the
user's categories, marked ``"reason": "new"``, so new arrivals gather the feedback the collaborative models need
at their next training. Off when the share is 0."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from recsys.models.history import training_items
from serving.holder import LoadedModel
from serving.rules import CatalogView, Filters

REASON_NEW = "new"


class Explorer:
    """share: fraction of the k slots given to fresh items (at least one when > 0 and k > 1)."""

    def __init__(self, share: float = 0.0, fresh_days: float = 14.0) -> None:
        self.share = share
        self.fresh_days = fresh_days
        self._fresh: tuple[int, int, list[str]] | None = None

    def slots(self, k: int) -> int:
        if self.share <= 0 or k < 2:
            return 0
        return min(k - 1, max(1, math.floor(k * self.share)))

    def fresh(self, view: CatalogView, now: datetime) -> list[str]:
        """Available items created within `fresh_days` of `now`, newest first (cached per view and minute)."""
        minute = int(now.timestamp() // 60)
        if self._fresh is not None and self._fresh[:2] == (id(view), minute):
            return self._fresh[2]
        since = now - timedelta(days=self.fresh_days)
        rows = [(x.created_at, i) for i, x in view.items.items()
                if x.available and x.created_at is not None and since <= x.created_at <= now]
        fresh = [i for _, i in sorted(rows, reverse=True)]
        self._fresh = (id(view), minute, fresh)
        return fresh

    def fill(self, view: CatalogView, lm: LoadedModel, user: str, live: Sequence[str] | None,
             items: list[dict[str, Any]], k: int, filters: Filters, exclude: Sequence[str] | None,
             exclude_seen: bool) -> list[dict[str, Any]]:
        """`items` with its last slots given to fresh items of the user's categories (any fresh item when the
        user has no history)."""
        n = self.slots(k)
        if n == 0 or not view.known:
            return items
        history = _history(lm, user, live)
        cats = {c for i in history if (x := view.items.get(i)) is not None for c in x.categories}
        taken = {it["item_id"] for it in items} | set(exclude or ()) | (set(history) if exclude_seen else set())
        picks = []
        for item in self.fresh(view, datetime.now(UTC)):
            info = view.items[item]
            if item in taken or not info.passes(filters) or (cats and not cats.intersection(info.categories)):
                continue
            picks.append(item)
            if len(picks) == n:
                break
        if not picks:
            return items
        kept = [it for it in items if it["item_id"] not in picks][:k - len(picks)]
        floor = min((it["score"] for it in kept), default=0.0)
        return kept + [{"item_id": i, "score": floor, "reason": REASON_NEW} for i in picks]


def _history(lm: LoadedModel, user: str, live: Sequence[str] | None) -> list[str]:
    return training_items(lm.model, user) + list(live or ())
