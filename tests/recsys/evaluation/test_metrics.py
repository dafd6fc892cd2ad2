"""Ranking metrics against values computed by hand."""

import math

import numpy as np
import pytest

from recsys.evaluation import metrics as M
from recsys.evaluation.evaluate import bootstrap_intervals, hits_matrix

RANKED = ["a", "b", "c", "d", "e"]


def test_hit_rate_and_recall_by_hand():
    assert M.hit_rate(RANKED, {"c"}, 2) == 0.0
    assert M.hit_rate(RANKED, {"c"}, 3) == 1.0
    # 2 of the 3 relevant items are in the top 4
    assert M.recall(RANKED, {"b", "d", "z"}, 4) == pytest.approx(2 / 3)
    assert M.recall(RANKED, set(), 4) == 0.0


def test_ndcg_by_hand():
    # one relevant item at rank 3: DCG = 1/log2(4) = 0.5, IDCG = 1
    assert M.ndcg(RANKED, {"c"}, 10) == pytest.approx(0.5)
    # relevant at ranks 1 and 3 out of 2 relevant: (1 + 0.5) / (1 + 1/log2(3))
    assert M.ndcg(RANKED, {"a", "c"}, 5) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # three relevant, k = 2, hit at rank 2 only: (1/log2 3) / (1 + 1/log2 3)  (ideal list has only 2 slots)
    assert M.ndcg(RANKED, {"b", "x", "y"}, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert M.ndcg(RANKED, {"e"}, 4) == 0.0


def test_reciprocal_rank_by_hand():
    assert M.reciprocal_rank(RANKED, {"d", "b"}, 5) == pytest.approx(0.5)
    assert M.reciprocal_rank(RANKED, {"e"}, 4) == 0.0


def test_vectorised_forms_agree_with_the_per_list_forms():
    rng = np.random.default_rng(3)
    items = [f"i{j}" for j in range(30)]
    ranked = [list(rng.choice(items, 10, replace=False)) for _ in range(50)]
    relevant = [list(rng.choice(items, int(rng.integers(1, 5)), replace=False)) for _ in range(50)]
    hits, n_rel = hits_matrix(np.array(ranked, dtype=object), relevant)
    pairs = list(zip(ranked, relevant, strict=True))
    for k in (1, 5, 10):
        np.testing.assert_allclose(M.ndcg_at_k(hits, n_rel, k), [M.ndcg(r, t, k) for r, t in pairs])
        np.testing.assert_allclose(M.hr_at_k(hits, k), [M.hit_rate(r, t, k) for r, t in pairs])
        np.testing.assert_allclose(M.recall_at_k(hits, n_rel, k), [M.recall(r, t, k) for r, t in pairs])
        np.testing.assert_allclose(M.mrr_at_k(hits, k), [M.reciprocal_rank(r, t, k) for r, t in pairs])


def test_hits_matrix_ignores_padding_and_counts_distinct_targets():
    rec = np.array([["a", None, None], ["b", "a", "c"]], dtype=object)
    hits, n_rel = hits_matrix(rec, [["a", "a"], ["c", "zz"]])
    assert hits.tolist() == [[True, False, False], [False, False, True]]
    assert n_rel.tolist() == [1, 2]


def test_coverage_novelty_and_popularity_by_hand():
    rec = np.array([["a", "b"], ["a", "c"], ["a", None]], dtype=object)
    assert M.catalog_coverage(rec, 10, 2) == pytest.approx(0.3)
    assert M.catalog_coverage(rec, 10, 1) == pytest.approx(0.1)
    counts = {"a": 8, "b": 2, "c": 1}  # out of 8 training users
    # self-information: a -> 0 bits, b -> 2 bits, c -> 3 bits; per-user means 1, 1.5, 0 -> 2.5 / 3
    assert M.novelty(rec.tolist(), counts, 8, 2) == pytest.approx(2.5 / 3)
    # average popularity: per user (8+2)/2, (8+1)/2, 8 (padding ignored)
    assert M.average_popularity(rec.tolist(), counts, 2) == pytest.approx((5 + 4.5 + 8) / 3)


def test_bad_k_is_refused():
    with pytest.raises(ValueError, match="k must be"):
        M.hit_rate(RANKED, {"a"}, 0)


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    rng = np.random.default_rng(0)
    values = rng.random((2000, 2)) < np.array([0.1, 0.5])
    lo, hi = bootstrap_intervals(values.astype(float), n_boot=500, seed=7)
    mean = values.mean(axis=0)
    assert (lo < mean).all() and (mean < hi).all()
    # the normal-approximation half-width of a proportion: 1.96 * sqrt(p(1-p)/n)
    np.testing.assert_allclose(hi - lo, 2 * 1.96 * np.sqrt(mean * (1 - mean) / 2000), rtol=0.2)
    lo2, hi2 = bootstrap_intervals(values.astype(float), n_boot=500, seed=7)
    assert (lo == lo2).all() and (hi == hi2).all()
