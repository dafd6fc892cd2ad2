"""How much each retriever contributes: recall of its candidates and its share of the ranker's final hits, on
held-out label users (what the offline report shows beside the feature importances)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsys.ranking.candidates import Candidates

TOP = 10


def recall_stats(cands: Candidates, targets: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                 rows: np.ndarray, n: int) -> dict[str, object]:
    """``{"users", "candidates_per_user", "recall@N": {retriever..., "union"}, "recall@10": final,
    "hit_share@10": {retriever: share of the final top-10 hits it had proposed}}`` over the label users `rows`."""
    n_targets = hits_union = final_hits = 0
    per_recall = dict.fromkeys(cands.retrievers, 0)
    per_share = dict.fromkeys(cands.retrievers, 0)
    sizes = 0
    for r in rows:
        items, target = cands.items[r], targets[r]
        relevant = np.isin(items, target)
        n_targets += len(target)
        hits_union += int(relevant.sum())
        sizes += len(items)
        top = np.argsort(-scores[r], kind="stable")[:TOP]
        final = relevant[top]
        final_hits += int(final.sum())
        for name in cands.retrievers:
            mask = cands.retrieved_by(int(r), name)
            per_recall[name] += int((mask & relevant).sum())
            per_share[name] += int((mask[top] & final).sum())
    denom = max(n_targets, 1)
    recall = {name: round(v / denom, 4) for name, v in per_recall.items()}
    recall["union"] = round(hits_union / denom, 4)
    return {"users": len(rows), "candidates_per_user": round(sizes / max(len(rows), 1), 1),
            f"recall@{n}": recall, f"recall@{TOP}": round(final_hits / denom, 4),
            f"hit_share@{TOP}": {name: round(v / max(final_hits, 1), 4) for name, v in per_share.items()}}
