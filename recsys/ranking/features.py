"""The ranker's feature matrix for (user, candidate) pairs: `feature_store.definitions.PAIR_FEATURES`, computed
from the same inputs offline (training frames, evaluation) and online (a served user's training events plus the
live events that ``POST /events`` appended to the online store), so both give the same value for the same
(user, item, time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from feature_store.definitions import PAIR_FEATURES
from recsys.ranking.events import DAY, ItemLog, UserEvents
from recsys.ranking.segments import Segments

_USER = [n for n, f in PAIR_FEATURES.items() if f.group == "user"]
_ITEM = [n for n, f in PAIR_FEATURES.items() if f.group == "item"]
_CATALOGUE = [n for n, f in PAIR_FEATURES.items() if f.group == "catalogue"]
_CROSS = [n for n, f in PAIR_FEATURES.items() if f.group == "cross"]
_CONTEXT = [n for n, f in PAIR_FEATURES.items() if f.group == "context"]
_SEGMENT = [n for n, f in PAIR_FEATURES.items() if f.group == "segment"]


def _window_s(name: str) -> int | None:
    w = PAIR_FEATURES[name].window
    return None if w is None else int(w.total_seconds())


@dataclass
class ItemSide:
    """What the ranker knows about items: their event log, category codes (-1: none), catalogue columns
    (price, available, created_at in seconds; NaN where unknown) and their events by user segment. Categories,
    catalogue and segments are optional."""

    log: ItemLog
    categories: np.ndarray | None = None
    catalogue: dict[str, np.ndarray] | None = None
    segments: Segments | None = None


def user_values(user: UserEvents) -> np.ndarray:
    """The ``user`` group of `PAIR_FEATURES` for one user as of ``user.as_of``."""
    keep = user.ts <= user.as_of
    ts, items = user.ts[keep], user.items[keep]
    out = []
    for name in _USER:
        w = _window_s(name)
        if name == "user_distinct_items":
            out.append(float(len(np.unique(items))))
        elif name == "user_tenure_days":
            out.append((user.as_of - ts.min()) / DAY if len(ts) else np.nan)
        else:
            out.append(float(len(ts) if w is None else np.count_nonzero(ts >= user.as_of - w)))
    return np.asarray(out, np.float64)


def cross_values(user: UserEvents, categories: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The ``cross`` group for one user and their candidates: ``(len(candidates), len(cross))``."""
    out = np.full((len(candidates), len(_CROSS)), np.nan)
    keep = user.ts <= user.as_of
    ts, cats = user.ts[keep], categories[user.items[keep]]
    cand_cat = categories[candidates]
    known = cand_cat >= 0
    if not known.any():
        return out
    has = cats >= 0
    ts, cats = ts[has], cats[has]
    n_cat = int(max(cand_cat.max(), cats.max() if len(cats) else -1)) + 1
    for c, name in enumerate(_CROSS):
        w = _window_s(name)
        if name == "user_category_share":
            counts = np.bincount(cats, minlength=n_cat).astype(np.float64)
            out[known, c] = counts[cand_cat[known]] / max(len(cats), 1)
        elif name == "user_category_idle_days":
            last = np.full(n_cat, np.nan)
            if len(cats):
                order = np.argsort(ts, kind="stable")
                last[cats[order]] = ts[order]  # later writes win: the latest event per category
            out[known, c] = (user.as_of - last[cand_cat[known]]) / DAY
        else:
            recent = cats[ts >= user.as_of - w] if w is not None else cats
            out[known, c] = np.bincount(recent, minlength=n_cat)[cand_cat[known]]
    return out


def item_values(side: ItemSide, items: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    """The ``item`` and ``catalogue`` groups per pair: ``(len(items), len(item) + len(catalogue))``."""
    first, last = side.log.first_last(items, as_of)
    cols = []
    for name in _ITEM:
        w = _window_s(name)
        if name == "item_age_days":
            cols.append((as_of - first) / DAY)
        elif name == "item_idle_days":
            cols.append((as_of - last) / DAY)
        else:
            cols.append(side.log.count(items, None if w is None else as_of - w, as_of).astype(np.float64))
    cat = side.catalogue
    for name in _CATALOGUE:
        if cat is None:
            cols.append(np.full(len(items), np.nan))
        elif name == "item_listed_days":
            created = cat["created_at"][items]
            cols.append(np.where(created <= as_of, (as_of - created) / DAY, np.nan))
        else:
            cols.append(cat[name.removeprefix("item_")][items].astype(np.float64))
    return np.column_stack(cols)


def segment_values(side: ItemSide, users: Sequence[UserEvents], items: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The ``segment`` group per pair (popularity among similar users): ``(len(items), len(segment))``."""
    out = np.full((len(items), len(_SEGMENT)), np.nan)
    seg = side.segments
    if seg is None or not len(items):
        return out
    of_user = seg.assign([u.items[u.ts <= u.as_of] for u in users])
    as_of_u = np.array([u.as_of for u in users], np.int64)
    k = len(seg.centroids)
    per_segment = seg.totals.count(np.tile(np.arange(k), len(users)), None, np.repeat(as_of_u, k)).reshape(-1, k)
    seg_total = per_segment[np.arange(len(users)), np.maximum(of_user, 0)].astype(np.float64)
    all_total = per_segment.sum(axis=1).astype(np.float64)
    member, as_of = np.repeat(of_user, sizes), np.repeat(as_of_u, sizes)
    known = member >= 0
    keys = member[known] * seg.n_items + items[known]
    t = as_of[known]
    item_all = side.log.count(items[known], None, t).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for c, name in enumerate(_SEGMENT):
            w = _window_s(name)
            here = seg.log.count(keys, None if w is None else t - w, t).astype(np.float64)
            if name == "segment_item_lift":
                share = here / np.repeat(seg_total, sizes)[known]
                overall = item_all / np.repeat(all_total, sizes)[known]
                out[known, c] = np.where(overall > 0, share / overall, np.nan)
            else:
                out[known, c] = here
    return out


def context_values(as_of: int) -> np.ndarray:
    """hour (UTC) and day of week (0 = Monday) of a time in seconds."""
    days = as_of // DAY
    return np.array([(as_of % DAY) // 3600, (days + 3) % 7], np.float64)  # 1970-01-01 was a Thursday


def pair_matrix(
    side: ItemSide,
    users: Sequence[UserEvents],
    candidates: Sequence[np.ndarray],
    retriever_block: np.ndarray,
) -> np.ndarray:
    """Features of every (users[r], candidates[r][j]) pair, rows in that order, columns as
    `feature_store.definitions.ranking_feature_names` (retriever block first). float32, NaN where unknown."""
    sizes = np.array([len(c) for c in candidates], np.int64)
    n = int(sizes.sum())
    if n == 0:
        return np.zeros((0, retriever_block.shape[1] + len(PAIR_FEATURES)), np.float32)
    items = np.concatenate(candidates).astype(np.int64)
    as_of = np.repeat(np.array([u.as_of for u in users], np.int64), sizes)
    user_block = np.repeat(np.vstack([user_values(u) for u in users]), sizes, axis=0)
    if side.categories is not None:
        cross = np.vstack([cross_values(u, side.categories, c) for u, c in zip(users, candidates, strict=True)])
    else:
        cross = np.full((n, len(_CROSS)), np.nan)
    context = np.repeat(np.vstack([context_values(u.as_of) for u in users]), sizes, axis=0)
    blocks = [retriever_block, user_block, item_values(side, items, as_of), cross, context,
              segment_values(side, users, items, sizes)]
    return np.hstack(blocks).astype(np.float32)
