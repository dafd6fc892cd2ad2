"""Candidate generation: every retriever's top-N per user, merged into one candidate set with each retriever's
score and rank as features (an item a retriever did not return gets score NaN and rank N + 1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recsys.models.base import Histories, Recommender


@dataclass
class Candidates:
    """Per user row: candidate dense item indices (sorted) and their ``(len, 2 * n_retrievers)`` score/rank block."""

    items: list[np.ndarray]
    block: list[np.ndarray]
    retrievers: list[str]

    def stacked_block(self) -> np.ndarray:
        width = 2 * len(self.retrievers)
        return np.vstack(self.block) if self.block else np.zeros((0, width), np.float32)

    def retrieved_by(self, row: int, retriever: str) -> np.ndarray:
        """Boolean mask over ``items[row]``: which candidates `retriever` returned."""
        col = 2 * self.retrievers.index(retriever)
        return np.isfinite(self.block[row][:, col])


def retrieve(
    retrievers: Mapping[str, Recommender],
    users: Sequence[str],
    n: int,
    *,
    histories: Histories | None = None,
) -> Candidates:
    """Top-`n` unseen items of each retriever for each user (all retrievers share the ranker's id maps)."""
    names = list(retrievers)
    per: list[tuple[np.ndarray, np.ndarray]] = []
    for name in names:
        model = retrievers[name]
        ids, scores = model.recommend(list(users), n, filter_seen=True, histories=histories)
        ids = np.asarray(ids, dtype=object).reshape(len(users), -1)
        scores = np.asarray(scores, np.float32).reshape(len(users), -1)
        ok = np.isfinite(scores)
        flat = np.where(ok, ids, "").ravel().tolist()
        idx = model.items_.index(flat).reshape(ids.shape)
        per.append((np.where(ok, idx, -1), scores))
    items_out, blocks = [], []
    for r in range(len(users)):
        rows = [idx[r][idx[r] >= 0] for idx, _ in per]
        union = np.unique(np.concatenate(rows)) if rows else np.zeros(0, np.int64)
        block = np.full((len(union), 2 * len(names)), np.nan, np.float32)
        block[:, 1::2] = n + 1
        for k, (idx, scores) in enumerate(per):
            got = idx[r] >= 0
            pos = np.searchsorted(union, idx[r][got])
            block[pos, 2 * k] = scores[r][got]
            block[pos, 2 * k + 1] = np.flatnonzero(got) + 1
        items_out.append(union.astype(np.int64))
        blocks.append(block)
    return Candidates(items_out, blocks, names)
