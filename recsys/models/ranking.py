"""How `Recommender.recommend` ranks: the items each user must not get (seen, live, excluded), then the top-k by
the ANN index where one serves the model (rows it cannot answer exactly fall back) or by scoring every item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from recsys.models.topk import top_positions

if TYPE_CHECKING:
    from recsys.models.base import Recommender


def banned_items(model: Recommender, uidx: np.ndarray, hist: list[np.ndarray], filter_seen: bool, live: bool,
            exclude: Sequence[str] | Sequence[Sequence[str]] | None) -> list[np.ndarray]:
    """Per user, the dense item indices never to return: seen items (training and live), then `exclude`."""
    n = len(uidx)
    parts: list[list[np.ndarray]] = [[] for _ in range(n)]
    if filter_seen:
        for r, u in enumerate(uidx):
            if u >= 0:
                parts[r].append(model.seen_.indices[model.seen_.indptr[u]:model.seen_.indptr[u + 1]])
            if live and len(hist[r]):
                parts[r].append(hist[r])
    if exclude is not None and len(exclude):
        if isinstance(exclude[0], str):
            ex = model.items_.index(list(exclude))  # type: ignore[arg-type]
            for p in parts:
                p.append(ex[ex >= 0])
        else:
            if len(exclude) != n:
                raise ValueError(f"exclude has {len(exclude)} lists for {n} users")
            for p, row in zip(parts, exclude, strict=True):
                ex = model.items_.index(list(row))
                p.append(ex[ex >= 0])
    return [np.concatenate(p).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts]

def ranked(model: Recommender, uidx: np.ndarray, hist: list[np.ndarray], k: int, banned: list[np.ndarray],
            cand: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-`k` ids and scores per user, and the users the popularity ranking answered (unknown at training,
    without a usable history): through the ANN index where one serves this model (rows it cannot answer
    exactly fall back), by scoring every item otherwise."""
    n = len(uidx)
    can_score = (uidx >= 0) | (np.array([len(h) > 0 for h in hist], dtype=bool) & model.supports_history)
    if k <= 0:
        return np.empty((n, 0), dtype=object), np.empty((n, 0), dtype=np.float32), ~can_score
    ann = getattr(model, "ann_", None)
    idx = np.full((n, k), -1, dtype=np.int64)
    top = np.full((n, k), -np.inf, dtype=np.float32)
    exact = np.ones(n, dtype=bool)
    if ann is not None and len(model.items_) >= ann.config.min_items:
        from recsys.models.ann import rank_vectors

        rows = np.flatnonzero(can_score & np.array([len(h) > 0 for h in hist], dtype=bool))
        if len(rows):
            queries = model._query_vectors(uidx[rows], [hist[r] for r in rows])
            got, got_top, ok = rank_vectors(ann, model._item_vectors(), queries, k, [banned[r] for r in rows],
                                            cand)
            idx[rows[ok]], top[rows[ok]] = got[ok], got_top[ok]
            exact[rows[ok]] = False
    rows = np.flatnonzero(exact)
    if len(rows):
        idx[rows], top[rows] = exact_ranked(model, uidx[rows], [hist[r] for r in rows], k,
                                                  [banned[r] for r in rows], cand, can_score[rows])
    ids = model.items_.external(np.maximum(idx, 0)).astype(object)
    ids[~np.isfinite(top)] = None
    return ids, top, ~can_score

def exact_ranked(model: Recommender, uidx: np.ndarray, hist: list[np.ndarray], k: int, banned: list[np.ndarray],
                  cand: np.ndarray | None, can_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score every item for each user (popularity for users the model cannot score), filter, take top-`k`."""
    scores = np.empty((len(uidx), len(model.items_)), dtype=np.float32)
    if can_score.any():
        rows = np.flatnonzero(can_score)
        scores[rows] = model._score(uidx[rows], [hist[r] for r in rows])
    if (~can_score).any():
        scores[~can_score] = model.item_popularity_
    for r, b in enumerate(banned):
        scores[r, b] = -np.inf
    if cand is not None:
        mask = np.ones(len(model.items_), dtype=bool)
        mask[cand] = False
        scores[:, mask] = -np.inf
    pos, top = top_positions(scores, k)
    return pos, top.astype(np.float32)
