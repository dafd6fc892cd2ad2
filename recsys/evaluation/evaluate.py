"""Full-ranking offline evaluation of any `Recommender`, overall and per user segment, with bootstrap intervals.

Every test user is ranked against the whole catalog (never sampled negatives) through the model's own batched
`recommend`, with the user's training items filtered out. Per-user metric values are kept so that confidence
intervals (percentile bootstrap over users, vectorised and seeded) and segment breakdowns come from the same numbers.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.evaluation import metrics as M
from recsys.models.base import Recommender

log = logging.getLogger(__name__)

DEFAULT_KS = (1, 5, 10, 20)
USER_METRICS = ("ndcg", "hr", "recall", "mrr", "novelty", "avg_popularity")
"""Metrics that are means over users (so they get bootstrap intervals); `coverage` is a catalog-level number."""
SEGMENT_COLUMNS = ("cold", "history_bucket")
POPULARITY_BINS = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
"""Edges, as shares of the catalog ranked by training popularity, of the popularity-distribution bins."""

Progress = Callable[[int, int], None]


@dataclass
class EvaluationResult:
    """Metrics keyed like ``"ndcg@10"``; ``intervals[key] = [low, high]`` (95 %); `segments` maps a label ("cold",
    "warm", "history 5-9", ...) to its group, n_users, metrics and intervals. `recommended` holds the top-max(K) ids
    per test user."""

    metrics: dict[str, float]
    intervals: dict[str, list[float]]
    segments: dict[str, dict[str, Any]]
    n_users: int
    users: list[str]
    recommended: np.ndarray
    popularity_distribution: dict[str, list[Any]] = field(default_factory=dict)
    per_user: dict[str, np.ndarray] = field(default_factory=dict)
    """Each user-mean metric's value per user (same order as `users`): the input of paired comparisons."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-user recommendations)."""
        return {"metrics": self.metrics, "intervals": self.intervals, "segments": self.segments,
                "n_users": self.n_users, "popularity_distribution": self.popularity_distribution}


def recommend_all(
    model: Recommender,
    users: Sequence[str],
    k: int,
    *,
    histories: Mapping[str, Sequence[str]] | None = None,
    batch_size: int = 512,
    progress: Progress | None = None,
) -> np.ndarray:
    """Top-k item ids ``(len(users), k)`` (object, None-padded) from `model.recommend` in batches, seen items
    filtered. `histories` gives a user's live events (scored from and treated as seen) where the model uses them."""
    out = np.empty((len(users), k), dtype=object)
    for start in range(0, len(users), batch_size):
        batch = list(users[start:start + batch_size])
        hist = None
        if histories is not None:
            hist = [histories.get(u) for u in batch]
            if all(h is None for h in hist):
                hist = None
        ids, _ = model.recommend(batch, k=k, filter_seen=True, histories=hist)
        out[start:start + len(batch)] = ids
        if progress is not None:
            progress(min(start + batch_size, len(users)), len(users))
    return out


def hits_matrix(recommended: np.ndarray, targets: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """``hits[u, r]`` (item at rank r of user u is one of u's targets) and the number of distinct targets per user."""
    n, k = recommended.shape
    t_rows = np.repeat(np.arange(n), [len(t) for t in targets])
    t_items = np.fromiter((i for t in targets for i in t), dtype=object, count=len(t_rows))
    codes, _ = pd.factorize(np.concatenate([recommended.ravel(), t_items]), use_na_sentinel=True)
    rec_codes, t_codes = codes[: n * k], codes[n * k:]
    width = int(codes.max()) + 2 if len(codes) else 1
    t_keys = np.unique(t_rows * width + t_codes)
    rec_keys = np.arange(n).repeat(k) * width + rec_codes
    hits = np.isin(rec_keys, t_keys) & (rec_codes >= 0)
    n_relevant = np.bincount(t_keys // width, minlength=n)
    return hits.reshape(n, k), n_relevant


def bootstrap_intervals(
    values: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95, chunk: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean of each column of ``values (n_users, n_metrics)``.

    Resamples users with replacement (as multinomial counts, `chunk` replicates at a time, so memory stays
    ``chunk * n_users``); deterministic for a seed.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n == 0 or n_boot <= 0:
        nan = np.full(values.shape[1], np.nan)
        return nan, nan.copy()
    rng = np.random.default_rng(seed)
    means = np.empty((n_boot, values.shape[1]))
    p = np.full(n, 1.0 / n)
    for b in range(0, n_boot, chunk):
        m = min(chunk, n_boot - b)
        counts = rng.multinomial(n, p, size=m).astype(np.float64)
        means[b:b + m] = counts @ values / n
    tail = (1.0 - level) / 2 * 100
    return np.percentile(means, tail, axis=0), np.percentile(means, 100 - tail, axis=0)


def per_user_metrics(
    recommended: np.ndarray,
    targets: Sequence[Sequence[str]],
    ks: Sequence[int],
    rec_counts: np.ndarray,
    n_train_users: int,
) -> dict[str, np.ndarray]:
    """``{"ndcg@10": values per user, ...}`` for every metric of `USER_METRICS` and every k."""
    hits, n_rel = hits_matrix(recommended, targets)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"ndcg@{k}"] = M.ndcg_at_k(hits, n_rel, k)
        out[f"hr@{k}"] = M.hr_at_k(hits, k)
        out[f"recall@{k}"] = M.recall_at_k(hits, n_rel, k)
        out[f"mrr@{k}"] = M.mrr_at_k(hits, k)
        out[f"novelty@{k}"] = M.novelty_at_k(rec_counts, n_train_users, k)
        out[f"avg_popularity@{k}"] = M.avg_popularity_at_k(rec_counts, k)
    return out


def _summarise(
    values: dict[str, np.ndarray], recommended: np.ndarray, ks: Sequence[int], catalog_size: int,
    n_boot: int, seed: int,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    names = list(values)
    matrix = np.column_stack([values[n] for n in names]) if names else np.zeros((0, 0))
    metrics = {n: float(values[n].mean()) if len(values[n]) else float("nan") for n in names}
    low, high = bootstrap_intervals(matrix, n_boot=n_boot, seed=seed)
    intervals = {n: [float(lo), float(hi)] for n, lo, hi in zip(names, low, high, strict=True)}
    for k in ks:
        metrics[f"coverage@{k}"] = M.catalog_coverage(recommended, catalog_size, k) if len(recommended) else 0.0
    return metrics, intervals


def popularity_distribution(
    recommended: np.ndarray, item_counts: pd.Series, k: int = 10
) -> dict[str, list[Any]]:
    """How recommendations spread over popularity bins of the catalog (items ranked by training popularity):
    per bin, its share of catalog items, of training interactions and of top-k recommendation slots."""
    counts = item_counts.sort_values(ascending=False, kind="stable")
    n_items = len(counts)
    if n_items == 0:
        return {}
    rank = pd.Series(np.arange(n_items), index=counts.index)
    edges = np.unique(np.ceil(np.asarray(POPULARITY_BINS) * n_items).astype(np.int64))
    labels = [f"{a / n_items:.0%}-{b / n_items:.0%}" for a, b in itertools.pairwise(edges)]
    item_bin = np.searchsorted(edges, np.arange(n_items), side="right") - 1
    top = recommended[:, :k].ravel()
    top = top[pd.notna(top)]
    rec_rank = rank.reindex(top).to_numpy()
    rec_rank = rec_rank[~np.isnan(rec_rank)].astype(np.int64)
    rec_bin = np.bincount(item_bin[rec_rank], minlength=len(labels)).astype(np.float64)
    inter_bin = np.bincount(item_bin, weights=counts.to_numpy(np.float64), minlength=len(labels))
    item_share = np.bincount(item_bin, minlength=len(labels)) / n_items
    return {
        "bins": labels,
        "catalog_items": item_share.round(6).tolist(),
        "catalog_interactions": (inter_bin / max(inter_bin.sum(), 1.0)).round(6).tolist(),
        "recommendations": (rec_bin / max(rec_bin.sum(), 1.0)).round(6).tolist(),
    }


def evaluate(
    model: Recommender,
    targets: Mapping[str, Sequence[str]],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    histories: Mapping[str, Sequence[str]] | None = None,
    item_counts: pd.Series | None = None,
    n_train_users: int | None = None,
    user_tags: pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 512,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Rank the whole catalog for each user of `targets` ({user: relevant items}) and score the rankings.

    item_counts: distinct training users per item (novelty / popularity metrics); default, the model's own
        training popularity. n_train_users: users behind those counts (default, the model's training users).
    user_tags: one row per user with columns of `SEGMENT_COLUMNS` (from the split) for the per-segment breakdown.
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    if not targets:
        raise ValueError("no test users to evaluate: the split has no targets")
    users = list(targets)
    if item_counts is None:
        item_counts = pd.Series(model.item_popularity_, index=model.items_.to_list())
    if n_train_users is None:
        n_train_users = len(model.users_)
    catalog_size = len(model.items_)

    recommended = recommend_all(model, users, ks[-1], histories=histories, batch_size=batch_size,
                                progress=progress)
    flat = recommended.ravel()
    idx = pd.Index(item_counts.index).get_indexer(pd.Index(flat, dtype=object))
    rec_counts = np.where(idx >= 0, item_counts.to_numpy(np.float64)[idx], 0.0)
    rec_counts[pd.isna(flat)] = np.nan
    rec_counts = rec_counts.reshape(recommended.shape)
    target_lists = [targets[u] for u in users]
    values = per_user_metrics(recommended, target_lists, ks, rec_counts, max(n_train_users, 1))
    metrics, intervals = _summarise(values, recommended, ks, catalog_size, n_boot, seed)

    segments: dict[str, dict[str, Any]] = {}
    if user_tags is not None and len(user_tags):
        tags = user_tags.set_index("user_id").reindex(users)
        for column in SEGMENT_COLUMNS:
            if column not in tags.columns:
                continue
            col = tags[column].astype(str).str.lower().to_numpy()
            for value in sorted(set(col.tolist()), key=_bucket_key):
                mask = col == value
                seg_metrics, seg_int = _summarise({n: v[mask] for n, v in values.items()}, recommended[mask], ks,
                                                  catalog_size, n_boot, seed)
                segments[_segment_label(column, value)] = {"group": column, "value": value, "n_users": int(mask.sum()),
                                                           "metrics": seg_metrics, "intervals": seg_int}
    spread = popularity_distribution(recommended, item_counts, k=min(10, ks[-1]))
    return EvaluationResult(metrics=metrics, intervals=intervals, segments=segments, n_users=len(users),
                            users=users, recommended=recommended, popularity_distribution=spread, per_user=values)


def _segment_label(column: str, value: str) -> str:
    if column == "cold":
        return "cold" if value == "true" else "warm"
    return f"history {value}" if column == "history_bucket" else f"{column}={value}"


def _bucket_key(label: str) -> tuple[int, str]:
    """Order history buckets numerically ("1-4" before "10-19"); other labels alphabetically."""
    head = label.split("-")[0].rstrip("+")
    return (int(head), label) if head.isdigit() else (-1, label)
