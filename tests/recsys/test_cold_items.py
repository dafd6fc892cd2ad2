"""Cold-item split and evaluation: held-out items never reach training; metrics against hand-computed ranks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys.catalog import load_catalog
from recsys.evaluation.cold_items import (
    ColdSplit,
    blend_scorer,
    category_scorer,
    cold_item_split,
    evaluate_cold,
    random_scorer,
    rank_metrics,
    recommender_scorer,
)
from recsys.models import create_model


def events(n_users: int = 40, seed: int = 0) -> pd.DataFrame:
    """Users of shelf a touch a-items, users of shelf b touch b-items; 12 items per shelf."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        shelf = "ab"[u % 2]
        for t, i in enumerate(rng.choice(12, size=8, replace=False)):
            rows.append((f"u{u}", f"{shelf}{i}", t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])


def test_cold_items_never_reach_training() -> None:
    split = cold_item_split(events(), share=0.25, seed=3)
    assert len(split.cold_items) == 6
    assert not set(split.cold_items) & set(split.train.items.to_list())
    assert set(split.targets) <= set(split.train.users.to_list())
    assert {i for t in split.targets.values() for i in t} <= set(split.cold_items)
    with pytest.raises(ValueError, match="share"):
        cold_item_split(events(), share=1.0)


def test_rank_metrics_by_hand() -> None:
    scores = np.array([0.9, 0.1, 0.5, 0.5, 0.2])
    # positives 2 and 4: item 2 ranks after 0 and ties with 3 (rank 1.5); item 4 after 0, 3 (rank 2)
    hr, ndcg, n = rank_metrics(scores, [2, 4], k=2)
    assert n == 2 and hr == 1.0 and ndcg == pytest.approx(1 / math.log2(3.5))
    hr, ndcg, _ = rank_metrics(scores, [0], k=1)
    assert hr == 1.0 and ndcg == 1.0


def test_evaluate_an_oracle_random_and_a_blend() -> None:
    split = cold_item_split(events(), share=0.25, seed=3)
    index = {i: j for j, i in enumerate(split.cold_items)}

    def oracle(users: list[str]) -> np.ndarray:
        out = np.zeros((len(users), len(split.cold_items)))
        for r, u in enumerate(users):
            out[r, [index[i] for i in split.targets[u]]] = 1.0
        return out

    result = evaluate_cold(split, {"oracle": oracle, "random": random_scorer(len(split.cold_items)),
                                   "blend": blend_scorer(oracle, random_scorer(len(split.cold_items)), 0.9)}, k=3)
    assert result["oracle"]["hr@3"] == 1.0 and result["oracle"]["ndcg@3"] == 1.0
    assert result["blend"]["hr@3"] == 1.0
    assert result["random"]["hr@3"] < 1.0
    assert result["oracle"]["interactions"] == sum(len(t) for t in split.targets.values())


def test_content_and_category_scorers_find_the_users_shelf(tmp_path) -> None:
    split: ColdSplit = cold_item_split(events(), share=0.25, seed=3)
    items = sorted({*split.train.items.to_list(), *split.cold_items})
    (tmp_path / "items.csv").write_text("item_id,title,category\n" +
                                        "".join(f"{i},Thing {i},shelf-{i[0]}\n" for i in items))
    load_catalog(tmp_path / "items.csv", tmp_path / "lake")
    content = create_model("content", catalog=str(tmp_path / "lake")).fit(split.train)
    assert set(split.cold_items) <= set(content.items_.to_list())  # cold items joined the model
    cats = {i: [f"shelf-{i[0]}"] for i in items}
    result = evaluate_cold(split, {"content": recommender_scorer(content, split.cold_items),
                                   "category": category_scorer(split.train, cats, split.cold_items),
                                   "random": random_scorer(len(split.cold_items))}, k=3)
    # the targets are the user's shelf's cold items, which both scorers rank first (about half the cold items)
    assert result["content"]["hr@3"] == 1.0 and result["category"]["hr@3"] == 1.0
    assert result["random"]["hr@3"] < 1.0
    ids, _ = content.similar_items(split.cold_items[0], k=2)
    assert all(i[0] == split.cold_items[0][0] for i in ids)  # a cold item has similar items of its shelf
