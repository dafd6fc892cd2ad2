"""Cold-item evaluation: hold a share of items out of training entirely, then rank each test interaction with a
held-out item among all held-out items.

`cold_item_split` removes every event of the cold items from training; `evaluate_cold` scores every test user
over the cold items with each scorer and reports HR@K and NDCG@K per test interaction (the target ranked among
the cold items the user did not interact with; ties count half). Scorers: any fitted `Recommender` (through
`recommender_scorer`, i.e. its public `recommend` with the cold items as candidates), popularity-in-category,
random, and a blend of two scorers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data import Interactions
from recsys.models.base import Recommender

Scorer = Callable[[list[str]], np.ndarray]
"""users -> scores ``(len(users), n_cold)`` over `ColdSplit.cold_items` in that order; higher is better."""


@dataclass
class ColdSplit:
    train: Interactions
    cold_items: list[str]
    targets: dict[str, list[str]]
    """Per test user (one with training events), the cold items they interacted with."""


def cold_item_split(events: pd.DataFrame, *, share: float = 0.2, seed: int = 0) -> ColdSplit:
    """Split events (columns user_id, item_id, ts) by item: a random `share` of the items becomes cold."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    items = np.sort(events["item_id"].astype(str).unique())
    rng = np.random.default_rng(seed)
    cold = set(rng.choice(items, size=max(1, round(share * len(items))), replace=False).tolist())
    frame = events.assign(user_id=events["user_id"].astype(str), item_id=events["item_id"].astype(str))
    is_cold = frame["item_id"].isin(cold).to_numpy()
    warm = frame[~is_cold].sort_values(["user_id", "ts"], kind="stable")
    sequences = {u: g.tolist() for u, g in warm.groupby("user_id", sort=True)["item_id"]}
    train = Interactions.from_sequences(sequences)
    test = frame[is_cold & frame["user_id"].isin(sequences).to_numpy()]
    targets = {u: list(dict.fromkeys(g.tolist())) for u, g in test.groupby("user_id", sort=True)["item_id"]}
    return ColdSplit(train, sorted(cold), targets)


def rank_metrics(scores: np.ndarray, positives: Sequence[int], k: int) -> tuple[float, float, int]:
    """Sum of HR@k and NDCG@k over the `positives` (column indices) of one user's `scores`, and their count."""
    mask = np.ones(len(scores), dtype=bool)
    mask[list(positives)] = False
    others = np.sort(scores[mask])
    target = scores[list(positives)]
    above = len(others) - np.searchsorted(others, target, side="right")
    ties = np.searchsorted(others, target, side="right") - np.searchsorted(others, target, side="left")
    rank = above + ties / 2.0  # 0-based; ties count half
    hit = rank < k
    return float(hit.sum()), float((hit / np.log2(rank + 2.0)).sum()), len(positives)


def evaluate_cold(split: ColdSplit, scorers: Mapping[str, Scorer], *, k: int = 10, batch: int = 256
                  ) -> dict[str, dict[str, float]]:
    """{scorer: {"hr@k", "ndcg@k", "interactions", "users"}} on the split's test interactions."""
    index = {item: j for j, item in enumerate(split.cold_items)}
    users = sorted(split.targets)
    out: dict[str, dict[str, float]] = {}
    for name, scorer in scorers.items():
        hr = nd = 0.0
        n = 0
        for start in range(0, len(users), batch):
            chunk = users[start:start + batch]
            scores = np.asarray(scorer(chunk), dtype=np.float64)
            for r, user in enumerate(chunk):
                h, g, c = rank_metrics(scores[r], [index[i] for i in split.targets[user]], k)
                hr, nd, n = hr + h, nd + g, n + c
        out[name] = {f"hr@{k}": hr / max(n, 1), f"ndcg@{k}": nd / max(n, 1), "interactions": n,
                     "users": len(users)}
    return out


def recommender_scorer(model: Recommender, cold_items: Sequence[str]) -> Scorer:
    """Scores of a fitted model over the cold items, through its `recommend` (cold items as the candidates)."""
    index = {item: j for j, item in enumerate(cold_items)}

    def score(users: list[str]) -> np.ndarray:
        ids, scores = model.recommend(users, len(cold_items), candidates=list(cold_items), filter_seen=False)
        out = np.full((len(users), len(cold_items)), -np.inf)
        for r in range(len(users)):
            for item, s in zip(ids[r], scores[r], strict=True):
                if item is not None:
                    out[r, index[item]] = s
        return out

    return score


def category_scorer(train: Interactions, categories: Mapping[str, Sequence[str]], cold_items: Sequence[str], *,
                    relative: bool = False) -> Scorer:
    """Popularity-in-category: a cold item scores the sum, over its categories, of the user's share of training
    events in that category (the user's own popularity of the category). `relative` divides each share by the
    category's share of all training events (a lift: the categories the user favours more than others do)."""
    cats = sorted({c for i in [*train.items.to_list(), *cold_items] for c in categories.get(i, ())})
    col = {c: j for j, c in enumerate(cats)}

    def onehot(items: Sequence[str], spread: bool) -> np.ndarray:
        m = np.zeros((len(items), len(cats)), np.float64)
        for r, item in enumerate(items):
            own = [col[c] for c in categories.get(item, ())]
            if own:
                m[r, own] = 1.0 / len(own) if spread else 1.0
        return m

    item_cats = onehot(train.items.to_list(), True)  # (n_train_items, C): an event splits over the categories
    user_cats = np.asarray(train.matrix.astype(bool).astype(np.float64) @ item_cats)  # (n_users, C)
    totals = user_cats.sum(axis=1, keepdims=True)
    shares = user_cats / np.where(totals > 0, totals, 1.0)
    if relative:
        overall = user_cats.sum(axis=0) / max(user_cats.sum(), 1.0)
        shares = shares / np.where(overall > 0, overall, 1.0)
    cold = onehot(cold_items, False).T  # (C, n_cold)

    def score(users: list[str]) -> np.ndarray:
        rows = train.users.index(users)
        s = np.where(rows[:, None] >= 0, shares[np.maximum(rows, 0)], 0.0)
        return s @ cold

    return score


def random_scorer(n_cold: int, seed: int = 0) -> Scorer:
    rng = np.random.default_rng(seed)
    return lambda users: rng.random((len(users), n_cold))


def blend_scorer(a: Scorer, b: Scorer, weight: float = 0.5) -> Scorer:
    """`weight` x a + (1 - weight) x b after scaling each user's scores to [0, 1]."""
    def scaled(s: np.ndarray) -> np.ndarray:
        s = np.where(np.isfinite(s), s, np.nan)
        lo, hi = np.nanmin(s, axis=1, keepdims=True), np.nanmax(s, axis=1, keepdims=True)
        return np.nan_to_num((s - lo) / np.where(hi > lo, hi - lo, 1.0), nan=0.0)

    return lambda users: weight * scaled(a(users)) + (1 - weight) * scaled(b(users))
