"""Ranking metrics as pure functions.

Two layers: per-list functions over one ranked list and its relevant set (readable, used in tests and docs), and
vectorised per-user versions over a boolean ``hits`` matrix ``(n_users, K)`` (``hits[u, r]``: the item at rank
``r`` of user ``u`` is relevant) plus the number of relevant items per user. Relevance is binary; a user with no
relevant item scores 0 everywhere.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

# ---------------------------------------------------------------------- one ranked list


def _hit_row(ranked: Sequence[Any], relevant: Collection[Any], k: int) -> np.ndarray:
    _check_k(k)
    rel = set(relevant)
    return np.array([item in rel for item in list(ranked)[:k]], dtype=bool)


def hit_rate(ranked: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    """1 if any of the first `k` items is relevant, else 0 (HR@K)."""
    return float(_hit_row(ranked, relevant, k).any())


def recall(ranked: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    """Share of the relevant items found in the first `k` (Recall@K; 0 when nothing is relevant)."""
    n_rel = len(set(relevant))
    return float(_hit_row(ranked, relevant, k).sum() / n_rel) if n_rel else 0.0


def ndcg(ranked: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    """Binary-relevance NDCG@K: DCG of the list over the DCG of an ideal list with min(|relevant|, k) hits."""
    hits = _hit_row(ranked, relevant, k)
    return float(ndcg_at_k(hits[None, :], np.array([len(set(relevant))]), k)[0]) if len(hits) else 0.0


def reciprocal_rank(ranked: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    """1 / rank of the first relevant item within the first `k`, else 0 (MRR@K for one list)."""
    hits = _hit_row(ranked, relevant, k)
    return float(1.0 / (np.argmax(hits) + 1)) if hits.any() else 0.0


# ---------------------------------------------------------------------- vectorised, per user


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def hr_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Per-user HR@K from a hits matrix."""
    _check_k(k)
    return np.asarray(hits[:, :k].any(axis=1), dtype=np.float64)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user Recall@K = hits in the top k / number of relevant items."""
    _check_k(k)
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    found = hits[:, :k].sum(axis=1)
    return np.divide(found, n_rel, out=np.zeros(len(n_rel)), where=n_rel > 0)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user binary NDCG@K."""
    _check_k(k)
    top = hits[:, :k]
    discounts = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    dcg = top @ discounts
    ideal_cum = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    idcg = ideal_cum[np.minimum(np.asarray(n_relevant, dtype=np.int64), k)]
    return np.divide(dcg, idcg, out=np.zeros(len(idcg)), where=idcg > 0)


def mrr_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Per-user reciprocal rank of the first hit within the top k (0 without a hit)."""
    _check_k(k)
    top = hits[:, :k]
    first = np.argmax(top, axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)


# ---------------------------------------------------------------------- beyond accuracy


def catalog_coverage(recommended: np.ndarray, catalog_size: int, k: int) -> float:
    """Share of the catalog that appears in at least one user's top k (None entries are padding)."""
    _check_k(k)
    if catalog_size <= 0:
        raise ValueError(f"catalog_size must be positive, got {catalog_size}")
    top = np.asarray(recommended, dtype=object)[:, :k].ravel()
    distinct = {x for x in top.tolist() if x is not None}
    return len(distinct) / catalog_size


def self_information(item_counts: np.ndarray, n_users: int) -> np.ndarray:
    """-log2 p(i) with p(i) = share of training users who interacted with item i (a count of 0 is taken as 1, so an
    item nobody had counts as the rarest possible, not as infinitely novel)."""
    if n_users <= 0:
        raise ValueError(f"n_users must be positive, got {n_users}")
    counts = np.maximum(np.asarray(item_counts, dtype=np.float64), 1.0)
    return -np.log2(np.minimum(counts / n_users, 1.0))


def novelty_at_k(rec_counts: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """Per-user mean self-information of the top k, from the training counts of the recommended items
    (``rec_counts[u, r]``; NaN marks padding and is ignored)."""
    _check_k(k)
    top = np.asarray(rec_counts, dtype=np.float64)[:, :k]
    info = np.where(np.isnan(top), np.nan, self_information(np.nan_to_num(top, nan=1.0), n_users))
    return _row_nanmean(info)


def avg_popularity_at_k(rec_counts: np.ndarray, k: int) -> np.ndarray:
    """Per-user average recommendation popularity (ARP): mean training count of the top k (NaN = padding)."""
    _check_k(k)
    return _row_nanmean(np.asarray(rec_counts, dtype=np.float64)[:, :k])


def _row_nanmean(x: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(x)
    n = valid.sum(axis=1)
    return np.divide(np.where(valid, x, 0.0).sum(axis=1), n, out=np.zeros(len(x)), where=n > 0)


def novelty(recommended: Sequence[Sequence[Any]], item_counts: dict[Any, int], n_users: int, k: int) -> float:
    """Mean self-information of the top-k recommendations over users (per-list form of `novelty_at_k`; None entries
    are padding)."""
    rows = [[np.nan if i is None else float(item_counts.get(i, 0)) for i in row[:k]] for row in recommended]
    return float(novelty_at_k(np.array(rows), n_users, k).mean()) if rows else 0.0


def average_popularity(recommended: Sequence[Sequence[Any]], item_counts: dict[Any, int], k: int) -> float:
    """Mean over users of the mean training count of their top-k items (per-list form of `avg_popularity_at_k`)."""
    rows = [[np.nan if i is None else float(item_counts.get(i, 0)) for i in row[:k]] for row in recommended]
    return float(avg_popularity_at_k(np.array(rows), k).mean()) if rows else 0.0
