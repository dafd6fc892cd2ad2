"""Warm starts: a model fitted from the version before it keeps known items' scores where the new data says
nothing new, and gives new items valid scores; a model that cannot warm start (or another architecture) trains
cold and says so."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from recsys.data import Interactions
from recsys.models import create_model

N_ITEMS = 60
SASREC = {"hidden": 16, "layers": 1, "heads": 1, "dropout": 0.0, "max_len": 12, "lr": 1e-2, "batch_size": 32,
          "random_state": 0, "device": "cpu"}


@functools.cache
def sequences(new_items: int = 0, seed: int = 0) -> dict[str, list[str]]:
    """Users walk the catalogue in order; with `new_items`, some users walk on into items i60, i61, ..."""
    rng = np.random.default_rng(seed)
    out = {}
    for u in range(100):
        start, length = int(rng.integers(0, N_ITEMS)), int(rng.integers(5, 12))
        out[f"u{u}"] = [f"i{(start + j) % N_ITEMS}" for j in range(length)]
    for u in range(new_items and 20):
        out[f"n{u}"] = [f"i{N_ITEMS - 3 + j}" for j in range(3 + new_items)]
    return out


def _known_scores(model, users: list[str]) -> np.ndarray:
    ids, scores = model.recommend(users, k=N_ITEMS, filter_seen=False, candidates=[f"i{i}" for i in range(N_ITEMS)])
    order = np.argsort(ids, axis=1)  # columns in one item order, whatever the ranking
    return np.take_along_axis(np.asarray(scores, float), order, axis=1)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b, strict=True)]))


@pytest.mark.parametrize(("name", "params"), [
    ("sasrec", {**SASREC, "epochs": 1, "lr": 1e-5}),
    ("als", {"factors": 8, "iterations": 1, "random_state": 1, "device": "cpu"}),
])
def test_warm_start_keeps_known_scores_and_scores_new_items(name: str, params: dict) -> None:
    first_params = {**params, "epochs": 8, "lr": 1e-2} if name == "sasrec" else {**params, "iterations": 15}
    first = create_model(name, **first_params).fit(Interactions.from_sequences(sequences()))
    grown = Interactions.from_sequences(sequences(new_items=4))
    assert len(grown.items) > len(first.items_)

    warm = create_model(name, **params)
    assert warm.warm_start_from(first)
    warm.fit(grown)
    cold = create_model(name, **params).fit(grown)
    assert warm.warm_started_ and not cold.warm_started_

    users = [f"u{u}" for u in range(0, 100, 4)]
    before, after, fresh = _known_scores(first, users), _known_scores(warm, users), _known_scores(cold, users)
    assert _correlation(before, after) > 0.95, "known items' scores moved although the data about them did not"
    assert _correlation(before, fresh) < _correlation(before, after) - 0.2

    new = [f"i{i}" for i in range(N_ITEMS, len(grown.items))]
    ids, scores = warm.recommend("n0", k=len(new), filter_seen=False, candidates=new)
    assert sorted(ids) == sorted(new) and np.isfinite(scores).all()


def test_warm_start_across_architectures_trains_cold() -> None:
    first = create_model("sasrec", **SASREC, epochs=1).fit(Interactions.from_sequences(sequences()))
    other = create_model("sasrec", **{**SASREC, "hidden": 8}, epochs=1)
    assert other.warm_start_from(first)  # accepted, but the shapes differ: the fit starts cold
    other.fit(Interactions.from_sequences(sequences(new_items=2)))
    assert not other.warm_started_


def test_models_without_warm_start_refuse() -> None:
    data = Interactions.from_sequences(sequences())
    popularity = create_model("popularity").fit(data)
    assert not create_model("popularity").warm_start_from(popularity)
    als = create_model("als", factors=4, iterations=1, device="cpu").fit(data)
    assert not create_model("sasrec", **SASREC).warm_start_from(als)
