"""The ranker's extras for bench/quality.py: the Taobao slice reader, item catalogues written to a scratch lake
(MovieLens genres, Taobao categories) for the ranker's category features, and the test recall of its candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TAOBAO_TYPES = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}


def read_taobao(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, names=["user", "item", "category", "behavior", "ts"])
    return pd.DataFrame({
        "event_id": np.arange(len(raw)).astype(str),
        "user_id": raw["user"].astype(str), "item_id": raw["item"].astype(str),
        "event_type": raw["behavior"].map(TAOBAO_TYPES).fillna("view"),
        "ts": pd.to_datetime(raw["ts"], unit="s", utc=True).astype("datetime64[us, UTC]"),
        "value": np.nan, "category": raw["category"].astype(str),
    })


def movielens_genres(path: Path) -> dict[str, list[str]]:
    out = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = line.split("::")
        if len(parts) == 3:
            out[parts[0]] = parts[2].split("|")
    return out


def write_catalogue(lake: Path, categories: dict[str, list[str]]) -> Path:
    """A minimal ``LAKE/items/items.parquet`` (the catalogue schema's columns the ranker reads)."""
    ids = sorted(categories)
    table = pa.table({"item_id": ids, "categories": [categories[i] for i in ids],
                      "price": pa.array([None] * len(ids), pa.float64()), "available": [True] * len(ids),
                      "created_at": pa.array([None] * len(ids), pa.timestamp("us", tz="UTC"))})
    (lake / "items").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, lake / "items" / "items.parquet")
    return lake


def candidate_recall(artifact: Path, test: dict[str, list[str]], n_users: int = 3000, seed: int = 0
                     ) -> dict[str, Any]:
    """Recall of each retriever's candidates and of their union on the test targets (a seeded sample of users)."""
    from recsys.models import load_model
    from recsys.ranking.candidates import retrieve

    model = load_model(artifact)
    users = sorted(test)
    rng = np.random.default_rng(seed)
    users = [users[i] for i in sorted(rng.permutation(len(users))[:n_users])]
    cands = retrieve(model.retrievers_, users, int(model.n_candidates))
    hits = dict.fromkeys([*cands.retrievers, "union"], 0)
    total = 0
    for r, user in enumerate(users):
        target = model.items_.index(test[user])
        relevant = np.isin(cands.items[r], target)
        total += len(test[user])
        hits["union"] += int(relevant.sum())
        for name in cands.retrievers:
            hits[name] += int((relevant & cands.retrieved_by(r, name)).sum())
    return {"users": len(users), "n_candidates": int(model.n_candidates),
            "candidates_per_user": round(float(np.mean([len(c) for c in cands.items])), 1),
            "recall": {k: round(v / max(total, 1), 4) for k, v in hits.items()}}
