"""Most-popular items: the baseline every model must beat, and the cold-start fallback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from recsys.data import Interactions
from recsys.models.base import Recommender

US_PER_DAY = 86_400 * 1_000_000


class Popularity(Recommender):
    """Ranks items by how many users interacted with them.

    window_days: count only events in the last `window_days` before the newest training event
        (a recent-popularity baseline); None counts the whole training window.
    weighted: sum event weights instead of counting distinct users.
    """

    name = "popularity"

    def __init__(self, *, window_days: float | None = None, weighted: bool = False) -> None:
        self.window_days = window_days
        self.weighted = weighted

    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        if self.window_days is not None and self.window_days <= 0:
            raise ValueError(f"window_days must be positive, got {self.window_days}")
        if self.window_days is None or not data.timestamps:
            m = data.matrix if self.weighted else self.seen_
            counts = np.asarray(m.sum(axis=0), dtype=np.float64).ravel()
        else:
            newest = max(int(t.max()) for t in data.timestamps if len(t))
            start = newest - int(self.window_days * US_PER_DAY)
            counts = np.zeros(data.n_items, np.float64)
            for seq, ts in zip(data.sequences, data.timestamps, strict=True):
                recent = np.unique(seq[ts >= start])
                np.add.at(counts, recent, 1.0)
        # Ties broken by overall popularity so the ranking is total and deterministic.
        tiebreak = self.item_popularity_ / (self.item_popularity_.max() + 1.0)
        self.scores_ = (counts + 1e-3 * tiebreak).astype(np.float32)

    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(users), len(self.scores_))).copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores_}

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.scores_ = state["scores"]
