"""The two-stage ranker served over real HTTP: versioned answers, and fresh events posted to /events change them
through the online store's live events (with their times)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.service import sequences, serve, settings_for

from feature_store.online import SQLiteOnlineStore
from recsys.data import Interactions
from recsys.models import create_model
from recsys.models.ranker import Ranker
from recsys.registry import Registry

PARAMS = {"retrievers": "popularity,itemknn", "retriever_params": {"itemknn": {"K": 20}}, "n_candidates": 20,
          "label_events": 1, "n_estimators": 20, "min_child_samples": 5}


@pytest.fixture(scope="module")
def ranker_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    reg = Registry(tmp_path_factory.mktemp("ranker") / "registry")
    model = create_model("ranker", **PARAMS).fit(Interactions.from_sequences(sequences()))
    mv = reg.register("ranker", model, metrics={"ndcg@10": 0.1}, data={})
    reg.promote("ranker", mv.version)
    return reg


def top(client: httpx.Client, user: str) -> list[str]:
    r = client.get(f"/users/{user}/recommendations", params={"k": 10, "model": "ranker"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "ranker" and body["version"] == 1 and len(body["items"]) == 10
    return [i["item_id"] for i in body["items"]]


def test_fresh_events_change_the_served_ranking(ranker_registry: Registry, tmp_path: Path) -> None:
    settings = settings_for(ranker_registry, online_store_path=tmp_path / "online.sqlite",
                            landing_dir=tmp_path / "landing")
    user = "u1"
    fresh = [f"i{j}" for j in (30, 31, 32, 33, 34)]
    with serve(settings) as base, httpx.Client(base_url=base, timeout=30) as client:
        before = top(client, user)
        events = [{"user_id": user, "item_id": i, "event_type": "view", "ts": f"2026-11-01T10:0{n}:00Z"}
                  for n, i in enumerate(fresh)]
        assert client.post("/events", json=events).status_code == 202
        after = top(client, user)
    assert before != after
    assert not set(after) & set(fresh)
    # What the service read: the store's live events with their times, the same the ranker's features use.
    model = Ranker.load(ranker_registry.version("ranker").artifact)
    with SQLiteOnlineStore(tmp_path / "online.sqlite") as store:
        live = store.recent_events([user], 50)[user]
        assert [i for i, _ in live] == fresh
        model.bind_online(lambda users: store.recent_events(users, 50))
        ids, _ = model.recommend(user, k=10, histories=[[i for i, _ in live]])
    assert list(ids) == after
    assert len(set(after)) == len(after)
