"""POST /identify and DELETE /users/{id} over real HTTP: stitched ids get the same answer, an erased user gets
non-personal recommendations at once from every worker (two servers sharing one online store)."""

from __future__ import annotations

import contextlib
import shutil

import pytest
from support.redis_server import PrivateRedis, needs_redis
from support.service import client_of, settings_for

from recsys.forget import trained_before
from recsys.identity import add_links, lake_resolution
from recsys.registry import Registry
from serving.app import create_app

TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def two_workers(base_registry, tmp_path_factory):
    """Two service processes' worth of apps on one registry, lake and online store (tests use distinct users)."""
    root = tmp_path_factory.mktemp("users")
    shutil.copytree(base_registry, root / "registry")
    lake = root / "lake"
    add_links(lake, [("pseudo-7", "u7"), ("pseudo-8", "u8")])  # links found at ingestion (GA4 pseudo id -> user id)
    settings = settings_for(Registry(root / "registry"), admin_token=TOKEN, lake=lake)
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(client_of(create_app(settings)))
        b = stack.enter_context(client_of(create_app(settings)))
        yield a, b, lake


def recs(client, user, model="als"):
    body = client.get(f"/users/{user}/recommendations", params={"k": 5, "model": model}).json()
    return [i["item_id"] for i in body["items"]], body["fallback"]


@pytest.mark.parametrize("model", ["als", "sasrec"])
def test_identify_gives_the_anonymous_id_the_users_answer(two_workers, model):
    a, b, lake = two_workers
    anon = f"anon-3-{model}"
    assert recs(a, anon, model)[1] is True
    r = a.post("/identify", json={"alias": anon, "user_id": "u3"})
    assert r.status_code == 200 and r.json()["lake"] == str(lake)
    assert recs(b, anon, model) == recs(b, "u3", model) and recs(b, "u3", model)[1] is False  # other worker
    assert a.post("/identify", json={"alias": anon, "user_id": "u3"}).status_code == 200  # idempotent
    assert lake_resolution(lake)[anon] == "u3"


def test_links_found_at_ingestion_are_served(two_workers):
    a, _, _ = two_workers
    assert recs(a, "pseudo-7") == recs(a, "u7") and recs(a, "u7")[1] is False
    assert recs(a, "pseudo-7", "sasrec") == recs(a, "u7", "sasrec")


def test_live_events_of_the_alias_count_for_the_user(two_workers):
    a, _, _ = two_workers
    a.post("/identify", json={"alias": "anon-5", "user_id": "u5"})
    before = recs(a, "u5", "sasrec")
    events = [{"user_id": "anon-5", "item_id": f"i{k}", "event_type": "view", "ts": f"2026-01-01T00:0{k % 10}:00Z"}
              for k in (30, 31, 32)]
    assert a.post("/events", json=events).status_code == 202
    after = recs(a, "u5", "sasrec")  # the alias's new events are the user's history
    assert after != before and not {"i30", "i31", "i32"} & set(after[0])
    assert recs(a, "anon-5", "sasrec") == after


def test_bad_identify_requests(two_workers):
    a, _, _ = two_workers
    assert a.post("/identify", json={"alias": "x", "user_id": "x"}).status_code == 400
    assert a.post("/identify", json={"alias": "", "user_id": "u1"}).status_code == 422
    assert a.post("/identify", json={"alias": " ", "user_id": "u1"}).status_code == 400


def test_erasure_takes_effect_in_every_worker_at_once(two_workers):
    a, b, lake = two_workers
    _known, fallback = recs(b, "u8")
    assert fallback is False
    popular = recs(b, "nobody")
    assert a.delete("/users/u8").status_code == 401
    r = a.delete("/users/u8", headers=AUTH)
    assert r.status_code == 200 and r.json()["subjects"] == 2  # u8 and the stitched pseudo-8
    for client in (a, b):
        for user in ("u8", "pseudo-8"):
            for model in ("als", "sasrec"):
                items, fallback = recs(client, user, model)
                assert fallback is True and items == recs(client, "nobody", model)[0]
    assert recs(b, "nobody") == popular and "pseudo-8" not in lake_resolution(lake)
    again = a.delete("/users/u8", headers=AUTH)
    assert again.status_code == 200 and again.json()["rows_removed"] == 0
    assert recs(a, "u9")[1] is False  # everyone else unchanged


def test_erasure_is_closed_without_an_admin_token(registry):
    with client_of(create_app(settings_for(registry))) as client:
        assert client.delete("/users/u1").status_code == 403


def test_models_trained_after_an_erasure_are_not_masked():
    assert trained_before("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
    assert not trained_before("2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z")
    assert trained_before(None, "2026-01-02T00:00:00Z")  # unknown creation time: assume the model saw the user


@needs_redis
def test_identify_and_erasure_while_the_online_store_is_down(registry, tmp_path):
    lake = tmp_path / "lake"
    server = PrivateRedis().start()
    settings = settings_for(registry, admin_token=TOKEN, lake=lake, online_store_url=server.url)
    with client_of(create_app(settings)) as client:
        assert client.post("/identify", json={"alias": "anon-1", "user_id": "u1"}).json()["live"] is True
        server.kill()
        r = client.post("/identify", json={"alias": "anon-2", "user_id": "u2"})
        assert r.status_code == 200 and r.json()["live"] is False  # kept in the lake
        assert lake_resolution(lake) == {"anon-1": "u1", "anon-2": "u2"}
        r = client.delete("/users/u2", headers=AUTH)
        assert r.status_code == 503 and "run the erasure again" in r.json()["detail"]
        assert lake_resolution(lake) == {"anon-1": "u1"}  # the durable part is done


def test_identify_without_a_lake_keeps_links_in_the_online_store(registry):
    with client_of(create_app(settings_for(registry, admin_token=TOKEN))) as client:
        r = client.post("/identify", json={"alias": "anon-4", "user_id": "u4"})
        assert r.status_code == 200 and r.json() == {"alias": "anon-4", "user_id": "u4", "lake": None, "live": True}
        assert recs(client, "anon-4") == recs(client, "u4") and recs(client, "u4")[1] is False
        assert client.delete("/users/u4", headers=AUTH).status_code == 200  # registry and online store only
        assert recs(client, "u4")[1] is True and recs(client, "anon-4")[1] is True
