"""The one sample-user picker: a few test users shown in the report with their history, targets and top-10."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.splits import Split

SAMPLE_USERS = 8
TOP_N = 10


def pick_users(users: list[str], seed: int, n: int = SAMPLE_USERS) -> list[str]:
    """`n` of `users`, the same for every model of a split and seed (drawn from the sorted ids)."""
    ranked = sorted(users)
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(ranked), size=min(n, len(ranked)), replace=False).tolist())
    return [ranked[p] for p in picks]


def sample_rows(split: Split, users: list[str], recommended: np.ndarray, seed: int) -> list[dict[str, Any]]:
    """Per picked test user: segment, recent training history, test targets and the model's top-10 (`recommended`
    holds one row of item ids per user of `users`)."""
    row_of = {u: r for r, u in enumerate(users)}
    train = split.train
    tags = split.users.set_index("user_id")
    out = []
    for user in pick_users(users, seed):
        u = train.users.index([user])[0]
        history = train.items.external(train.sequences[u][-TOP_N:]).tolist() if u >= 0 else []
        top = [i for i in recommended[row_of[user], :TOP_N].tolist() if i is not None]
        tag = tags.loc[user]
        out.append({"user_id": user, "segment": "cold" if bool(tag["cold"]) else f"history {tag['history_bucket']}",
                    "history": history, "targets": list(split.test[user]), "top": top})
    return out
