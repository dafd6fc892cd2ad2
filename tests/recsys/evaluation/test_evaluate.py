"""Full-ranking evaluation of any Recommender: seen items excluded, segments, intervals, determinism."""

import numpy as np
import pandas as pd
import pytest

from recsys.data import Interactions
from recsys.evaluation import evaluate, recommend_all
from recsys.models import create_model
from recsys.models.base import Recommender


class Oracle(Recommender):
    """Scores each user's first target highest: a model whose metrics are known exactly."""

    name = "popularity"  # registered name only matters for load(); never saved here

    def __init__(self, *, best: dict | None = None) -> None:
        self.best = best

    def _fit(self, data, validation):
        pass

    def _score(self, users, histories):
        scores = np.tile(-np.arange(self.items_.__len__(), dtype=np.float32), (len(users), 1))
        for r, u in enumerate(users):
            idx = self.items_.index([self.best[self.users_.ids[u]]])[0]
            scores[r, idx] = 10.0
        return scores


DATA = Interactions.from_sequences(
    {"u1": ["a", "b"], "u2": ["b", "c"], "u3": ["a"], "u4": ["c", "d", "e"]},
    items=["a", "b", "c", "d", "e", "f"],
)


def test_perfect_model_scores_one_and_seen_items_are_never_recommended():
    targets = {"u1": ["c"], "u2": ["d"], "u3": ["f"], "u4": ["a"]}
    model = Oracle(best={u: t[0] for u, t in targets.items()}).fit(DATA)
    result = evaluate(model, targets, ks=(1, 3), n_boot=50)
    assert result.metrics["ndcg@1"] == 1.0 and result.metrics["hr@3"] == 1.0 and result.metrics["mrr@3"] == 1.0
    assert result.intervals["ndcg@1"] == [1.0, 1.0]
    for row, user in zip(result.recommended, result.users, strict=True):
        seen = set(DATA.items.external(DATA.sequences[DATA.users.index([user])[0]]))
        assert not seen & {i for i in row if i is not None}
    assert result.metrics["coverage@1"] == pytest.approx(4 / 6)


def test_popularity_metrics_match_a_hand_computed_ranking():
    # the expected NDCG is computed by hand from the model's own (unfiltered) popularity ranking
    model = create_model("popularity").fit(DATA)
    ranking = list(model.recommend("nobody", k=6, filter_seen=False)[0])
    targets = {"u1": ["c"], "u3": ["f"]}
    result = evaluate(model, targets, ks=(1, 5), n_boot=0)
    exp = {}
    for user, tgt in targets.items():
        seen = set(DATA.items.external(DATA.sequences[DATA.users.index([user])[0]]))
        ranked = [i for i in ranking if i not in seen]
        rank = ranked.index(tgt[0]) + 1
        exp[user] = 1 / np.log2(rank + 1) if rank <= 5 else 0.0
    assert result.metrics["ndcg@5"] == pytest.approx(np.mean(list(exp.values())))
    assert np.isnan(result.intervals["ndcg@5"][0])  # no bootstrap asked


def test_segments_split_users_and_intervals_are_seeded():
    model = create_model("popularity").fit(DATA)
    targets = {"u1": ["c"], "u2": ["a"], "u4": ["a", "b"]}
    tags = pd.DataFrame({"user_id": ["u1", "u2", "u4"], "cold": [False, False, True],
                         "history_bucket": ["1-4", "1-4", "0"]})
    a = evaluate(model, targets, user_tags=tags, n_boot=200, seed=1)
    b = evaluate(model, targets, user_tags=tags, n_boot=200, seed=1)
    assert a.intervals == b.intervals
    assert set(a.segments) == {"cold", "warm", "history 0", "history 1-4"}
    assert a.segments["warm"]["n_users"] == 2 and a.segments["cold"]["group"] == "cold"
    warm = a.segments["warm"]["metrics"]["ndcg@10"]
    cold = a.segments["cold"]["metrics"]["ndcg@10"]
    assert (2 * warm + cold) / 3 == pytest.approx(a.metrics["ndcg@10"])
    spread = a.popularity_distribution
    assert sum(spread["recommendations"]) == pytest.approx(1.0) and len(spread["bins"]) == len(spread["catalog_items"])


def test_recommend_all_batches_and_passes_histories():
    model = create_model("popularity").fit(DATA)
    users = ["u1", "u2", "u3", "u4", "new"]
    one = recommend_all(model, users, 3, batch_size=2)
    assert one.shape == (5, 3) and (one == recommend_all(model, users, 3, batch_size=100)).all()
    # a live history counts as seen
    with_hist = recommend_all(model, ["new"], 6, histories={"new": ["a", "b"]})
    assert {"a", "b"}.isdisjoint(set(with_hist[0])) and None in set(with_hist[0])


def test_evaluate_refuses_empty_targets():
    model = create_model("popularity").fit(DATA)
    with pytest.raises(ValueError, match="no test users"):
        evaluate(model, {})
