"""The one `Recommender` contract, checked on every registered model (recsys.models.MODEL_CLASSES).

Tiny planted data: two clusters of items ("a*" and "b*"); each user interacts only with items of their own
cluster, and within a cluster some items are more popular than others. Any model that learns anything should
recommend a user's own cluster; everything else (shapes, filtering, padding, fallback, artifacts) is plumbing
that must behave identically for every model.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest

from recsys.data import Interactions
from recsys.errors import NotFittedError
from recsys.models import MODEL_CLASSES, create_model, get_model_class, load_model
from recsys.models.base import Recommender

FAST_PARAMS: dict[str, dict[str, object]] = {
    "popularity": {},
    "itemknn": {"K": 20},
    "als": {"factors": 8, "iterations": 10, "random_state": 0, "device": "cpu"},
    "bpr": {"factors": 8, "iterations": 60, "random_state": 0, "device": "cpu"},
    "ease": {"reg": 10.0},
    "sasrec": {"hidden": 32, "layers": 1, "heads": 2, "dropout": 0.0, "max_len": 10, "lr": 1e-2, "batch_size": 32,
               "epochs": 8, "random_state": 0, "device": "cpu"},
    "content": {},
}
ITEMS_PER_CLUSTER = 10
USERS_PER_CLUSTER = 30
HISTORY = 6


def _module_exists(name: str) -> bool:
    module = MODEL_CLASSES[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


@pytest.fixture(params=list(MODEL_CLASSES))
def name(request: pytest.FixtureRequest) -> str:
    if request.param == "sasrec" and not _module_exists("sasrec"):
        pytest.skip("sasrec not yet landed")
    return request.param


def test_every_model_has_fast_params() -> None:
    assert set(FAST_PARAMS) == set(MODEL_CLASSES)


@functools.cache
def planted_sequences(seed: int = 0) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    popularity = np.linspace(3.0, 1.0, ITEMS_PER_CLUSTER)
    popularity /= popularity.sum()
    seqs = {}
    for cluster in "ab":
        for u in range(USERS_PER_CLUSTER):
            picks = rng.choice(ITEMS_PER_CLUSTER, size=HISTORY, replace=False, p=popularity)
            seqs[f"{cluster}user{u}"] = [f"{cluster}{i}" for i in picks]
    return seqs


def planted() -> Interactions:
    items = [f"{c}{i}" for c in "ab" for i in range(ITEMS_PER_CLUSTER)]
    data = Interactions.from_sequences(planted_sequences(), items=items)
    data.item_features = {"categories": np.array([f"shelf-{i[0]}" for i in items])}  # for content-based models
    return data


def fit(name: str) -> Recommender:
    return create_model(name, **FAST_PARAMS[name]).fit(planted())


@functools.cache
def fitted(name: str) -> Recommender:
    """One fitted model per name, shared by the read-only checks (each fit once per test session)."""
    return fit(name)


USERS = ["auser0", "buser3", "auser7"]
N_ITEMS = 2 * ITEMS_PER_CLUSTER


# ---------------------------------------------------------------- shapes and dtypes
def test_shapes_for_one_id_and_a_batch(name: str) -> None:
    model = fitted(name)
    ids, scores = model.recommend("auser0", k=5)
    assert ids.shape == (5,) and scores.shape == (5,)
    assert scores.dtype == np.float32
    assert all(isinstance(i, str) for i in ids)
    ids, scores = model.recommend(USERS, k=4)
    assert ids.shape == (3, 4) and scores.shape == (3, 4)
    assert np.all(np.diff(scores, axis=1) <= 0), "scores must be sorted best first"
    single_ids, single_scores = model.recommend("buser3", k=4)
    assert list(single_ids) == list(ids[1])
    np.testing.assert_allclose(single_scores, scores[1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="k must be"):
        model.recommend("auser0", k=0)


# ---------------------------------------------------------------- filtering
def test_seen_items_are_filtered_unless_asked(name: str) -> None:
    model = fitted(name)
    seqs = planted_sequences()
    ids, _ = model.recommend(USERS, k=N_ITEMS - HISTORY)
    for user, row in zip(USERS, ids, strict=True):
        assert not set(row) & set(seqs[user]), f"{name} recommended a training item to {user}"
        assert None not in row  # exactly the unseen items fill the list
    ids, scores = model.recommend(USERS, k=N_ITEMS, filter_seen=False)
    for user, row in zip(USERS, ids, strict=True):
        assert set(seqs[user]) <= set(row)
    assert np.isfinite(scores).all()


def test_exclusions_one_list_for_all_and_per_user(name: str) -> None:
    model = fitted(name)
    base_ids, base_scores = model.recommend(USERS, k=8)
    banned = [str(base_ids[0, 0]), str(base_ids[1, 1])]
    ids, scores = model.recommend(USERS, k=8, exclude=banned)
    for before, before_scores, after, after_scores in zip(base_ids, base_scores, ids, scores, strict=True):
        assert not set(after) & set(banned)
        kept = [s for i, s in zip(before, before_scores, strict=True) if i not in banned]
        np.testing.assert_array_equal(after_scores[:len(kept)], kept)  # the others keep their place (ties aside)

    per_user = [[str(row[0])] for row in base_ids]
    ids, scores = model.recommend(USERS, k=8, exclude=per_user)
    for r, (after, ex) in enumerate(zip(ids, per_user, strict=True)):
        assert ex[0] not in after
        np.testing.assert_array_equal(scores[r, :7], base_scores[r, 1:])
    with pytest.raises(ValueError, match="exclude"):
        model.recommend(USERS, k=3, exclude=[["a1"], ["a2"]])


def test_candidates_restrict_and_pad(name: str) -> None:
    model = fitted(name)
    seqs = planted_sequences()
    unseen = [i for i in model.items_.to_list() if i not in seqs["auser0"]]
    candidates = [seqs["auser0"][0], unseen[0], unseen[-1], "not-an-item"]
    ids, scores = model.recommend("auser0", k=5, candidates=candidates)
    assert set(ids[:2]) == {unseen[0], unseen[-1]}
    assert list(ids[2:]) == [None, None, None]
    assert np.isfinite(scores[:2]).all() and np.isneginf(scores[2:]).all()

    ids, _ = model.recommend(USERS, k=3, candidates=[*unseen[:3], "b0", "b1"])
    assert all(i in {*unseen[:3], "b0", "b1", None} for i in ids.ravel())


# ---------------------------------------------------------------- unknown users and live histories
def test_unknown_users_get_the_popularity_ranking(name: str) -> None:
    model = fitted(name)
    assert list(model.is_known(["auser0", "nobody"])) == [True, False]
    result = model.recommend(["nobody", "auser0"], k=5)
    ids, scores = result
    assert list(result.fallback) == [True, False]  # the flags say who got the popularity ranking
    assert model.recommend("nobody", k=5).fallback is True
    expected = np.sort(model.item_popularity_)[::-1][:5]
    np.testing.assert_array_equal(scores[0], expected)
    pop = dict(zip(model.items_.to_list(), model.item_popularity_, strict=True))
    assert [pop[i] for i in ids[0]] == list(expected)


def test_history_scoring_for_history_aware_models(name: str) -> None:
    model = fitted(name)
    history = ["b0", "b2", "b4"]
    result = model.recommend(["newcomer"], k=5, histories=[history])
    ids, scores = result
    assert not set(ids[0]) & set(history), "a live history counts as seen"
    assert list(result.fallback) == [not model.supports_history]
    if model.supports_history:
        assert all(str(i).startswith("b") for i in ids[0][:3]), f"{name} ignored the live history: {ids[0]}"
        return
    # scored by popularity, exactly the popularity ranking of the items outside the live history
    pop = dict(zip(model.items_.to_list(), model.item_popularity_, strict=True))
    expected = sorted((v for i, v in pop.items() if i not in history), reverse=True)[:5]
    np.testing.assert_array_equal(scores[0], expected)
    assert [pop[i] for i in ids[0]] == expected
    ids_known, _ = model.recommend(["auser0"], k=5, histories=[["b1"]])  # a known user keeps their own scores
    assert "b1" not in ids_known[0]


# ---------------------------------------------------------------- learning
def test_learns_the_planted_clusters(name: str) -> None:
    model = fitted(name)
    users = model.users_.to_list()
    ids, _ = model.recommend(users, k=1)
    if name == "popularity":
        seqs = planted_sequences()
        pop = dict(zip(model.items_.to_list(), model.item_popularity_, strict=True))
        for user, top in zip(users, ids[:, 0], strict=True):
            assert pop[top] == max(v for i, v in pop.items() if i not in seqs[user])
        return
    own = np.mean([str(top)[0] == user[0] for user, top in zip(users, ids[:, 0], strict=True)])
    assert own >= 0.9, f"{name}: top item in the user's own cluster for only {own:.0%} of users"


def test_similar_items_shape_and_self_exclusion(name: str) -> None:
    model = fitted(name)
    ids, scores = model.similar_items("a0", k=5)
    assert ids.shape == (5,) and scores.shape == (5,) and "a0" not in ids
    ids, scores = model.similar_items(["a0", "b1"], k=4)
    assert ids.shape == (2, 4) and scores.shape == (2, 4)
    assert "a0" not in ids[0] and "b1" not in ids[1]
    assert np.all(np.diff(scores, axis=1) <= 0)
    ids, _ = model.similar_items("a0", k=100)
    assert len(ids) == N_ITEMS - 1
    with pytest.raises(KeyError, match="unknown item"):
        model.similar_items(["a0", "zz"])


# ---------------------------------------------------------------- reproducibility and artifacts
def test_same_seed_gives_identical_scores(name: str) -> None:
    users = planted().users.to_list()
    first = fitted(name).recommend(users, k=N_ITEMS, filter_seen=False)
    second = fit(name).recommend(users, k=N_ITEMS, filter_seen=False)
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[0], second[0])


def test_save_load_round_trip(name: str, tmp_path) -> None:
    model = fitted(name)
    path = model.save(tmp_path / "model")
    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert type(get_model_class(name).load(path)) is type(model)
    users = [*USERS, "nobody"]
    for kwargs in ({}, {"filter_seen": False}, {"exclude": ["a1"]}, {"histories": [None, ["b1"], None, ["a2"]]}):
        a_ids, a_scores = model.recommend(users, k=7, **kwargs)
        b_ids, b_scores = loaded.recommend(users, k=7, **kwargs)
        np.testing.assert_array_equal(a_scores, b_scores)
        np.testing.assert_array_equal(a_ids, b_ids)
    np.testing.assert_array_equal(model.similar_items(["a0", "b0"], k=5)[1], loaded.similar_items(["a0", "b0"], k=5)[1])
    assert not any(p.suffix in {".pkl", ".pickle"} for p in path.rglob("*"))


# ---------------------------------------------------------------- errors
def test_clear_error_before_fit(name: str, tmp_path) -> None:
    model = create_model(name, **FAST_PARAMS[name])
    with pytest.raises(NotFittedError, match=r"not fitted.*fit"):
        model.recommend("auser0")
    with pytest.raises(NotFittedError):
        model.similar_items("a0")
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")


def test_fit_on_empty_data_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        create_model(name, **FAST_PARAMS[name]).fit(Interactions.from_sequences({}))
    with pytest.raises(ValueError, match="empty"):
        create_model(name, **FAST_PARAMS[name]).fit(Interactions.from_sequences({"u": []}, items=["a", "b"]))
