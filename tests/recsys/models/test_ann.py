"""ANN retrieval (faiss) behind `Recommender.recommend`: an exhaustive index answers exactly what exact scoring
answers, filters (seen, exclude, candidates, live histories) stay exact with an approximate index, and the index
travels in the artifact in faiss's own format."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from recsys.data import Interactions
from recsys.models import create_model, load_model
from recsys.models.ann import INDEX_FILE, AnnConfig, AnnIndex, filtered_top_k
from recsys.models.base import Recommender

N_ITEMS = 400
N_USERS = 120
EXHAUSTIVE = AnnConfig(min_items=1, kind="flat")
APPROXIMATES = [AnnConfig(min_items=1, kind="hnsw", ef_search=16, hnsw_m=8),
                AnnConfig(min_items=1, kind="ivf", nlist=4, nprobe=2),
                AnnConfig(min_items=1, kind="ivfpq", nlist=4, nprobe=2, rerank=40)]
PARAMS = {
    "als": {"factors": 16, "iterations": 5, "random_state": 0, "device": "cpu"},
    "bpr": {"factors": 16, "iterations": 20, "random_state": 0, "device": "cpu"},
    "sasrec": {"hidden": 16, "layers": 1, "heads": 1, "max_len": 12, "epochs": 2, "random_state": 0,
               "device": "cpu"},
}


@functools.cache
def data() -> Interactions:
    rng = np.random.default_rng(3)
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.7
    popularity /= popularity.sum()
    seqs = {f"u{u}": [f"i{i}" for i in rng.choice(N_ITEMS, size=int(rng.integers(5, 30)), replace=False,
                                                   p=popularity)] for u in range(N_USERS)}
    return Interactions.from_sequences(seqs)


@functools.cache
def fitted(name: str) -> Recommender:
    return create_model(name, **PARAMS[name]).fit(data())


def exact_twin(model: Recommender) -> Recommender:
    """The same weights without an index."""
    twin = type(model).__new__(type(model))
    twin.__dict__.update(model.__dict__)
    twin.ann_ = None
    return twin


USERS = [f"u{u}" for u in range(0, N_USERS, 3)] + ["stranger"]


@pytest.mark.parametrize("config", [EXHAUSTIVE, AnnConfig(min_items=1, kind="ivf", nlist=4, nprobe=4)],
                         ids=["flat", "ivf-all-lists"])
@pytest.mark.parametrize("name", list(PARAMS))
def test_exhaustive_index_answers_like_exact_scoring(name: str, config: AnnConfig) -> None:
    model = fitted(name)
    assert model.build_ann(config)
    assert model.ann_.exhaustive
    ids, scores = model.recommend(USERS, k=10)
    want_ids, want_scores = exact_twin(model).recommend(USERS, k=10)
    assert (ids == want_ids).all()
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("config", APPROXIMATES, ids=["hnsw", "ivf", "ivfpq"])
@pytest.mark.parametrize("name", ["als", "sasrec"])
def test_filters_stay_exact_with_the_index(name: str, config: AnnConfig) -> None:
    model = fitted(name)
    model.build_ann(config)
    exact = exact_twin(model)
    users = USERS[:12]
    seen = {u: set(data().items.external(model.seen_[model.users_.index([u])[0]].indices)) for u in users}
    exclude = [[f"i{i}" for i in range(j, N_ITEMS, 7)] for j in range(len(users))]
    candidates = [f"i{i}" for i in range(0, N_ITEMS, 2)]
    live = [["i1", "i3"] for _ in users]
    ids, _ = model.recommend(users, k=15, exclude=exclude, candidates=candidates, histories=live)
    allowed = set(candidates)
    for r, u in enumerate(users):
        got = [i for i in ids[r] if i is not None]
        assert len(got) == 15
        assert not set(got) & seen[u], "a seen item was returned"
        assert not set(got) & set(exclude[r]), "an excluded item was returned"
        assert not set(got) & {"i1", "i3"}, "a live history item was returned"
        assert set(got) <= allowed, "an item outside the candidates was returned"
    # a tiny candidate set is scored exactly: equal to exact scoring
    few = ["i2", "i4", "i6", "i8", "i10", "i12"]
    got_ids, got_scores = model.recommend(users, k=4, candidates=few)
    want_ids, want_scores = exact.recommend(users, k=4, candidates=few)
    assert (got_ids == want_ids).all()
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["als", "bpr", "sasrec"])  # BPR's 17 dims: codes are padded to a multiple of 4
def test_compressed_codes_are_rescored_exactly(name: str) -> None:
    model = fitted(name)
    # every list scanned and every item re-scored: the ranking and the scores are exact scoring's
    assert model.build_ann(AnnConfig(min_items=1, kind="ivfpq", nlist=4, nprobe=4, rerank=N_ITEMS))
    assert model.ann_.approximate_scores and not model.ann_.exhaustive
    ids, scores = model.recommend(USERS, k=10)
    want_ids, want_scores = exact_twin(model).recommend(USERS, k=10)
    assert (ids == want_ids).all()
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-4)
    # a partial scan still returns exact scores of the items it returns, best first
    model.build_ann(AnnConfig(min_items=1, kind="ivfpq", nlist=4, nprobe=1, rerank=20))
    ids, scores = model.recommend(USERS[:5], k=5)
    vectors = exact_twin(model)
    for r, u in enumerate(USERS[:5]):
        got = [i for i in ids[r] if i is not None]
        exact = dict(zip(*vectors.recommend(u, k=N_ITEMS, filter_seen=False), strict=True))
        np.testing.assert_allclose(scores[r][: len(got)], [exact[i] for i in got], rtol=1e-4, atol=1e-4)
        assert list(scores[r][: len(got)]) == sorted(scores[r][: len(got)], reverse=True)


def test_rows_with_too_few_survivors_report_not_ok() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200, 8)).astype(np.float32)
    index = AnnIndex.build(vectors, AnnConfig(min_items=1, kind="ivf", nlist=4, nprobe=1, overfetch=1, max_fetch=50))
    queries = rng.standard_normal((2, 8)).astype(np.float32)
    banned = [np.arange(0), np.arange(60)]  # the second row needs more than max_fetch
    idx, scores, ok = filtered_top_k(index, queries, 5, banned, None)
    assert ok.tolist() == [True, False]
    exact = queries[0] @ vectors.T
    np.testing.assert_allclose(scores[0], exact[idx[0]], rtol=1e-5)
    # a mask that allows nothing the index fetched: the row falls back
    allowed = np.zeros(200, dtype=bool)
    _, _, ok = filtered_top_k(index, queries[:1], 5, [np.arange(0)], allowed)
    assert not ok[0]


def test_index_is_saved_in_faiss_format_and_loaded(tmp_path) -> None:
    model = fitted("als")
    model.build_ann(None)  # the default threshold: too few items, no index
    assert model.ann_ is None
    path = model.save(tmp_path / "als", ann=EXHAUSTIVE)
    assert (path / INDEX_FILE).read_bytes()[:4] == b"IxFI"  # faiss's own header (flat, inner product), not a pickle
    loaded = load_model(path)
    assert loaded.ann_ is not None and loaded.ann_.n_items == len(model.items_)
    assert (loaded.recommend(USERS, k=5)[0] == exact_twin(model).recommend(USERS, k=5)[0]).all()
    codes = AnnConfig(min_items=1, kind="ivfpq", nlist=4, nprobe=2)
    loaded = load_model(model.save(tmp_path / "als-pq", ann=codes))
    assert loaded.ann_.approximate_scores and loaded.ann_.config == codes
    assert (loaded.recommend(USERS, k=5)[0] == model.recommend(USERS, k=5)[0]).all()  # model: built with `codes`


def test_min_items_and_kind_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("RECSYS_ANN_MIN_ITEMS", "123")
    monkeypatch.setenv("RECSYS_ANN_KIND", "ivfpq")
    assert (AnnConfig.from_env().min_items, AnnConfig.from_env().kind) == (123, "ivfpq")
    assert AnnConfig.from_env(kind="flat").kind == "flat"  # explicit settings win
    monkeypatch.setenv("RECSYS_ANN_KIND", "annoy")
    with pytest.raises(ValueError, match="RECSYS_ANN_KIND"):
        AnnConfig.from_env()
    monkeypatch.setenv("RECSYS_ANN_MIN_ITEMS", "many")
    with pytest.raises(ValueError, match="RECSYS_ANN_MIN_ITEMS"):
        AnnConfig.from_env()
    with pytest.raises(ValueError, match="kind"):
        AnnConfig(kind="annoy")
