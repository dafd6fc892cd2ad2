"""The ranker's training protocol without leakage: a cut-off divides the training events; the retrievers are fitted
on the events before it, the ranker learns to put the items each user touched after it (its labels) on top, with
features as of the user's latest event before the cut-off.

Two cut-offs: ``"time"``, one global time (the last `fraction` of the events' time span; nothing after it reaches
retrievers or features: no leakage at all), and ``"last"``, each user's last `n_last` events (the leave-one-out
shape; features are still point-in-time per user, but the retrievers see other users' events up to their own last
ones, as leave-one-out evaluation does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.data import Interactions
from recsys.errors import InputError
from recsys.ranking.events import US

log = logging.getLogger(__name__)

LABEL_SPLITS = ("time", "last")


@dataclass
class LabelSplit:
    """`before`: the events before the cut-off (same id maps as the full data); for each label user (dense index in
    `users`), `as_of` (seconds: their latest event before the cut-off) and `targets` (items first touched after it)."""

    before: Interactions
    users: np.ndarray
    as_of: np.ndarray
    targets: list[np.ndarray]
    cutoff: str


def _flat(data: Interactions, seconds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in data.sequences], np.int64)
    users = np.repeat(np.arange(data.n_users), lengths)
    items = np.concatenate(data.sequences).astype(np.int64) if len(users) else np.zeros(0, np.int64)
    ts = np.concatenate(seconds) if len(users) else np.zeros(0, np.int64)
    pos = np.concatenate([np.arange(n) for n in lengths]) if len(users) else np.zeros(0, np.int64)
    return users, items, ts, pos


def _subset(data: Interactions, seconds: list[np.ndarray], keep: list[np.ndarray]) -> Interactions:
    """`data` restricted to the events flagged in `keep` (per user), each event weighing its pair's mean weight."""
    counts = sp.csr_matrix((np.ones(sum(len(s) for s in data.sequences), np.float32),
                            _flat(data, seconds)[:2]), shape=data.matrix.shape)
    counts.sum_duplicates()
    mean = data.matrix.tocsr().multiply(counts.power(-1.0)).tocsr()
    seqs = [s[k] for s, k in zip(data.sequences, keep, strict=True)]
    stamps = [t[k] * US for t, k in zip(seconds, keep, strict=True)]
    users = np.repeat(np.arange(data.n_users), [len(s) for s in seqs])
    items = np.concatenate(seqs).astype(np.int64) if len(users) else np.zeros(0, np.int64)
    weights = np.asarray(mean[users, items]).ravel().astype(np.float32) if len(users) else np.zeros(0, np.float32)
    matrix = sp.csr_matrix((weights, (users, items)), shape=data.matrix.shape, dtype=np.float32)
    matrix.sum_duplicates()
    return Interactions(users=data.users, items=data.items, matrix=matrix, sequences=seqs, timestamps=stamps,
                        item_features=data.item_features)


def label_split(data: Interactions, seconds: list[np.ndarray], *, cutoff: str = "time", fraction: float = 0.1,
                n_last: int = 1) -> LabelSplit:
    """Cut `data` (event times `seconds`, aligned with its sequences) for the ranker (see the module docstring)."""
    if cutoff not in LABEL_SPLITS:
        raise InputError(f"label cut-off must be one of {LABEL_SPLITS}, got {cutoff!r}")
    if not 0 < fraction < 1:
        raise InputError(f"label fraction must be in (0, 1), got {fraction}")
    if n_last < 1:
        raise InputError(f"label events per user must be at least 1, got {n_last}")
    if cutoff == "time":
        all_ts = np.concatenate(seconds)
        lo, hi = int(all_ts.min()), int(all_ts.max())
        t_cut = hi - int(fraction * (hi - lo))
        keep = [t < t_cut for t in seconds]
    else:
        keep = [np.arange(len(t)) < len(t) - n_last for t in seconds]
    before = _subset(data, seconds, keep)
    users, as_of, targets = [], [], []
    for u, (seq, t, k) in enumerate(zip(data.sequences, seconds, keep, strict=True)):
        if not k.any() or k.all():
            continue
        new = np.setdiff1d(seq[~k], seq[k])
        if len(new):
            users.append(u)
            as_of.append(int(t[k].max()))
            targets.append(new.astype(np.int64))
    if before.matrix.nnz == 0 or not users:
        raise InputError(f"the ranker's {cutoff!r} cut-off leaves no events before it or no user with new items "
                         "after it: too little training data for a ranker (try the other label cut-off)")
    log.info("ranker cut-off %r: %d events before, %d label users", cutoff, before.matrix.nnz, len(users))
    return LabelSplit(before, np.asarray(users, np.int64), np.asarray(as_of, np.int64), targets, cutoff)
