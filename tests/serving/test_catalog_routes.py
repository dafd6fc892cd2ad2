"""Catalogue rules in the service (real uvicorn + httpx, SQLite online store): hiding, filters, the diversity cap,
the item routes, popular/latest/trending and the exploration slots."""

from __future__ import annotations

import time

import pytest
from catalog_support import FRESH, N_ITEMS, SURGING, build_lake, category_of
from support.service import client_of, sequences, settings_for

from recsys.catalog import read_items
from serving.app import create_app

TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}
SEQ = sequences()
MODELS = ("als", "popularity", "sasrec")


@pytest.fixture(scope="module")
def base_lake(tmp_path_factory: pytest.TempPathFactory):
    return build_lake(tmp_path_factory.mktemp("catalog"))


@pytest.fixture
def lake(base_lake, tmp_path):
    import shutil

    shutil.copytree(base_lake, tmp_path / "lake")
    return tmp_path / "lake"


def start(registry, lake, **overrides):
    return client_of(create_app(settings_for(registry, admin_token=TOKEN, lake=lake, **overrides)))


@pytest.fixture
def server(registry, lake):
    with start(registry, lake) as client:
        client.lake = lake
        yield client


def ids(body):
    return [i["item_id"] for i in body["items"]]


def every_answer(client, k=N_ITEMS):
    """item ids of every route of every model: personal, fallback, batch, similar, popular, latest, trending."""
    out = {}
    for m in MODELS:
        out[f"{m} personal"] = ids(client.get("/users/u1/recommendations", params={"k": k, "model": m}).json())
        out[f"{m} fallback"] = ids(client.get("/users/nobody/recommendations", params={"k": k, "model": m}).json())
        batch = client.post("/recommendations", json={"user_ids": ["u2", "zz"], "k": k, "model": m}).json()
        out[f"{m} batch"] = [i for r in batch["results"] for i in ids(r)]
        out[f"{m} similar"] = ids(client.get("/items/i0/similar", params={"k": k, "model": m}).json())
    for path in ("/items/popular", "/items/latest", "/items/trending"):
        out[path] = ids(client.get(path, params={"k": k}).json())
    out["popular 7d"] = ids(client.get("/items/popular", params={"k": k, "window": "7d"}).json())
    return out


def test_a_hidden_item_leaves_every_answer_and_comes_back(server):
    x = ids(server.get("/users/u1/recommendations", params={"k": 1}).json())[0]
    before = every_answer(server)
    assert all(x in v for name, v in before.items() if "similar" not in name and "latest" not in name), before
    r = server.patch(f"/items/{x}", json={"available": False}, headers=AUTH)
    assert r.status_code == 200 and r.json()["available"] is False
    time.sleep(1.0)
    hidden = every_answer(server)
    assert not [name for name, v in hidden.items() if x in v]
    assert all(v for v in hidden.values())  # the rest is still served
    assert server.get(f"/items/{x}").json()["available"] is False  # the item stays readable
    durable = {r["item_id"]: r["available"] for r in read_items(server.lake).to_pylist()}
    assert durable[x] is False  # written to the lake for the next load and training

    assert server.patch(f"/items/{x}", json={"available": True}, headers=AUTH).status_code == 200
    time.sleep(1.0)
    assert ids(server.get("/users/u1/recommendations", params={"k": 1}).json()) == [x]


def test_delete_hides_and_writes_need_the_token(server):
    assert server.patch("/items/i3", json={"available": False}).status_code == 401
    assert server.patch("/items/i3", json={"available": False},
                        headers={"authorization": "Bearer wrong"}).status_code == 401
    assert server.put("/items/i3", json={"title": "x"}).status_code == 401
    assert server.delete("/items/i3").status_code == 401
    assert server.delete("/items/i3", headers=AUTH).status_code == 204
    assert server.get("/items/i3").json()["available"] is False
    assert server.delete("/items/nope", headers=AUTH).status_code == 404
    assert server.patch("/items/nope", json={"available": False}, headers=AUTH).status_code == 404
    assert server.get("/items/nope").status_code == 404
    for body in ({"price": -1}, {"available": "sometimes"}, {"categories": "c1"}, {"colour": "red"}):
        assert server.put("/items/i4", json=body, headers=AUTH).status_code == 422, body
    assert server.get("/items/i4").json()["categories"] == [category_of(4)]  # refused writes changed nothing


def test_admin_routes_are_closed_without_a_configured_token(registry, lake):
    with client_of(create_app(settings_for(registry, lake=lake))) as client:
        assert client.patch("/items/i1", json={"available": False}, headers=AUTH).status_code == 403


def test_get_item_returns_the_catalogue_fields(server):
    body = server.get("/items/i6").json()
    assert body["categories"] == ["c2"] and body["price"] == 7.0 and body["available"] is True
    assert body["title"] == "Thing 6" and body["created_at"].startswith("2020-")


def test_category_filter_from_the_catalogue_without_restart(server):
    for m in MODELS:
        body = server.get("/users/u1/recommendations", params={"k": 5, "model": m, "category": "c2"}).json()
        assert body["items"] and all(int(i[1:]) % 4 == 2 for i in ids(body)), body
    assert server.get("/users/u1/recommendations", params={"category": "gadgets"}).json()["items"] == []
    put = server.put("/items/i9", json={"title": "Gadget", "categories": ["gadgets"], "price": 3}, headers=AUTH)
    assert put.status_code == 200 and put.json()["categories"] == ["gadgets"]
    for m in MODELS:  # at once in this worker: no restart, no materialise step
        body = server.get("/users/nobody/recommendations", params={"model": m, "category": "gadgets"}).json()
        assert ids(body) == ["i9"]
    assert ids(server.get("/items/popular", params={"category": "gadgets"}).json()) == ["i9"]


def test_price_filters_and_the_diversity_cap_apply_to_every_model_and_fallback(server):
    def price(item):
        return int(item[1:]) + 1

    for m in MODELS:
        for user in ("u1", "nobody"):
            body = server.get(f"/users/{user}/recommendations",
                              params={"k": 40, "model": m, "min_price": 10, "max_price": 20}).json()
            assert body["items"] and all(10 <= price(i) <= 20 for i in ids(body)), (m, user)
            capped = server.get(f"/users/{user}/recommendations",
                                params={"k": 10, "model": m, "max_per_category": 2}).json()
            cats = [category_of(int(i[1:])) for i in ids(capped)]
            assert len(cats) == 8 and max(cats.count(c) for c in set(cats)) == 2, (m, user, cats)
        similar = server.get("/items/i0/similar", params={"k": 40, "model": m, "max_price": 5}).json()
        assert similar["items"] and all(price(i) <= 5 for i in ids(similar))
    popular = server.get("/items/popular", params={"k": 40, "min_price": 35}).json()
    assert sorted(ids(popular), key=lambda i: int(i[1:])) == [f"i{n}" for n in range(34, 40)]
    batch = server.post("/recommendations", json={"user_ids": ["u1", "x"], "k": 5, "max_price": 3}).json()
    assert all(price(i) <= 3 for r in batch["results"] for i in ids(r))
    empty = server.get("/users/u1/recommendations", params={"min_price": 9, "max_price": 2})
    assert empty.status_code == 200 and empty.json()["items"] == []
    assert server.get("/users/u1/recommendations", params={"max_per_category": 0}).status_code == 422
    assert server.get("/users/u1/recommendations", params={"min_price": "cheap"}).status_code == 422


def test_popular_latest_and_trending(server):
    popular = server.get("/items/popular", params={"k": 5}).json()
    assert popular["model"] == "popularity" and popular["version"] == 1 and len(popular["items"]) == 5
    als = server.get("/items/popular", params={"k": 5, "model": "als"}).json()
    assert als["model"] == "als"
    week = server.get("/items/popular", params={"k": 3, "window": "7d"}).json()
    assert ids(week)[0] == SURGING and week["window"] == "7d" and week["model"] == "events"
    latest = server.get("/items/latest", params={"k": 3}).json()
    assert ids(latest) == [FRESH, "i39", "i38"]
    assert ids(server.get("/items/latest", params={"k": 2, "category": "c0"}).json()) == ["i36", "i32"]
    trending = server.get("/items/trending", params={"k": 1, "window": "7d"}).json()
    assert ids(trending) == [SURGING] and trending["items"][0]["score"] > 1.0
    assert server.get("/items/trending", params={"window": "soon"}).status_code == 422
    assert server.get("/items/popular", params={"window": "400d"}).status_code == 422
    assert server.get("/items/popular", params={"model": "nope"}).status_code == 404


def test_exploration_gives_fresh_items_a_share_of_the_slots(registry, lake):
    user = next(u for u, s in SEQ.items() if any(int(i[1:]) % 4 in (1, 3) for i in s))
    with start(registry, lake, explore_share=0.2) as client:
        body = client.get(f"/users/{user}/recommendations", params={"k": 10}).json()
        assert len(body["items"]) == 10
        assert [i for i in body["items"] if i.get("reason") == "new"] == [
            {"item_id": FRESH, "score": body["items"][-1]["score"], "reason": "new"}]
        assert sum(i.get("reason") == "new" for i in body["items"]) == 1
        off = client.get(f"/users/{user}/recommendations", params={"k": 10, "category": "c0"}).json()
        assert FRESH not in ids(off)  # the fresh item is not of the filtered category
    with start(registry, lake) as client:
        assert FRESH not in ids(client.get(f"/users/{user}/recommendations", params={"k": 10}).json())


def test_without_a_lake_catalogue_routes_say_what_is_missing(registry):
    with client_of(create_app(settings_for(registry, admin_token=TOKEN))) as client:
        assert client.get("/items/latest").status_code == 404
        assert client.get("/items/popular", params={"window": "7d"}).status_code == 404
        assert client.put("/items/i1", json={"title": "x"}, headers=AUTH).status_code == 404
        assert client.get("/users/u1/recommendations", params={"max_price": 3}).status_code == 400
        assert len(client.get("/items/popular", params={"k": 4}).json()["items"]) == 4
