"""POST /identify and DELETE /users/{id} over real HTTP: stitched ids get the same answer, an erased user gets
non-personal recommendations at once from every worker (two servers sharing one online store)."""

from __future__ import annotations

import contextlib

import pytest
from serving_support import client_of, settings_for

from recsys.forget import trained_before
from recsys.identity import add_links, lake_resolution
from serving.app import create_app

TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def two_workers(registry, tmp_path):
    lake = tmp_path / "lake"
    add_links(lake, [("pseudo-7", "u7")])  # a link found at ingestion (e.g. GA4 user_pseudo_id -> user_id)
    settings = settings_for(registry, admin_token=TOKEN, lake=lake)
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
    assert recs(a, "anon-3", model)[1] is True
    r = a.post("/identify", json={"alias": "anon-3", "user_id": "u3"})
    assert r.status_code == 200 and r.json()["lake"] == str(lake)
    assert recs(b, "anon-3", model) == recs(b, "u3", model) and recs(b, "u3", model)[1] is False  # other worker
    assert recs(a, "pseudo-7", model) == recs(a, "u7", model)  # links from the lake's identity map
    assert a.post("/identify", json={"alias": "anon-3", "user_id": "u3"}).status_code == 200  # idempotent
    assert lake_resolution(lake) == {"anon-3": "u3", "pseudo-7": "u7"}


def test_live_events_of_the_alias_count_for_the_user(two_workers):
    a, _, _ = two_workers
    a.post("/identify", json={"alias": "anon-5", "user_id": "u5"})
    ev = {"user_id": "anon-5", "item_id": "i30", "event_type": "view", "ts": "2026-01-01T00:00:00Z"}
    assert a.post("/events", json=[ev]).status_code == 202
    assert recs(a, "anon-5", "sasrec") == recs(a, "u5", "sasrec")


def test_bad_identify_requests(two_workers):
    a, _, _ = two_workers
    assert a.post("/identify", json={"alias": "x", "user_id": "x"}).status_code == 400
    assert a.post("/identify", json={"alias": "", "user_id": "u1"}).status_code == 422
    assert a.post("/identify", json={"alias": " ", "user_id": "u1"}).status_code == 400


def test_erasure_takes_effect_in_every_worker_at_once(two_workers):
    a, b, lake = two_workers
    _known, fallback = recs(b, "u7")
    assert fallback is False
    popular = recs(b, "nobody")
    assert a.delete("/users/u7").status_code == 401
    r = a.delete("/users/u7", headers=AUTH)
    assert r.status_code == 200 and r.json()["subjects"] == 2  # u7 and the stitched pseudo-7
    for client in (a, b):
        for user in ("u7", "pseudo-7"):
            for model in ("als", "sasrec"):
                items, fallback = recs(client, user, model)
                assert fallback is True and items == recs(client, "nobody", model)[0]
    assert recs(b, "nobody") == popular and lake_resolution(lake) == {}
    again = a.delete("/users/u7", headers=AUTH)
    assert again.status_code == 200 and again.json()["rows_removed"] == 0
    assert recs(a, "u8")[1] is False  # everyone else unchanged


def test_erasure_is_closed_without_an_admin_token(registry):
    with client_of(create_app(settings_for(registry))) as client:
        assert client.delete("/users/u1").status_code == 403


def test_models_trained_after_an_erasure_are_not_masked():
    assert trained_before("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
    assert not trained_before("2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z")
    assert trained_before(None, "2026-01-02T00:00:00Z")  # unknown creation time: assume the model saw the user
