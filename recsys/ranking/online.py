"""A served user's live events for the ranker: from the online store (with their times) when one is bound, else
from the live histories a request passes (times unknown: one second apart after the user's last event)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from recsys.data import IdMap
from recsys.ranking.events import US, ItemLog

log = logging.getLogger(__name__)

LiveEvents = Callable[[Sequence[str]], Mapping[str, Sequence[tuple[str, int]]]]
"""``users -> {user: [(item_id, ts_microseconds), ...]}`` oldest first: the online store's live events."""


def live_events(
    reader: LiveEvents | None,
    users: list[str],
    uidx: np.ndarray,
    histories: list[np.ndarray],
    sequences: Sequence[np.ndarray],
    seconds: Sequence[np.ndarray],
    items: IdMap,
    log_: ItemLog,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row, the live (item indices, seconds) after the user's training events. Events the model trained on
    (at or before the user's last training second) are not counted twice; unknown items are dropped."""
    got: Mapping[str, Sequence[tuple[str, int]]] | None = None
    if reader is not None:
        try:
            got = reader(users)
        except Exception as err:  # an online-store outage must not fail a recommendation
            log.debug("live events unavailable, ranking from the request's histories: %s", err)
    end = log_.t0 + log_.stride - 2
    out = []
    for r, u in enumerate(uidx):
        last = int(seconds[u][-1]) if u >= 0 and len(seconds[u]) else end
        if got is not None:
            pairs = [(i, int(t) // US) for i, t in got.get(users[r], ())]
            pairs = [(i, t) for i, t in pairs if u < 0 or t > last]
            idx = items.index([i for i, _ in pairs])
            ts = np.array([t for _, t in pairs], np.int64)
            out.append((idx[idx >= 0], ts[idx >= 0]))
        else:
            live = histories[r][len(sequences[u]):] if u >= 0 else histories[r]
            out.append((np.asarray(live, np.int64), last + 1 + np.arange(len(live), dtype=np.int64)))
    return out
