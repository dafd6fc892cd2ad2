"""The service through an online-store outage: a private redis-server killed mid-load, or down at start-up, then
back. Recommendation routes never answer 5xx, say they are degraded, and the store catches up on its return."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from support.redis_server import PrivateRedis, needs_redis
from support.service import client_of, settings_for

from feature_store.online.redis_store import RedisOnlineStore
from serving.app import create_app

pytestmark = needs_redis

ROUTES = [("get", "/users/u1/recommendations", {"params": {"k": 5}}),
          ("get", "/users/u2/recommendations", {"params": {"k": 5, "model": "popularity"}}),
          ("get", "/users/u3/recommendations", {"params": {"k": 5, "model": "sasrec"}}),
          ("get", "/users/nobody/recommendations", {"params": {"k": 5}}),
          ("get", "/items/i3/similar", {"params": {"k": 5}}),
          ("post", "/recommendations", {"json": {"user_ids": ["u1", "u4", "nobody"], "k": 5}})]


def _event(user: str, item: str, minute: int) -> dict[str, str]:
    return {"user_id": user, "item_id": item, "event_type": "view", "ts": f"2026-01-02T10:{minute:02d}:00Z"}


def _wait(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def _metric(client: httpx.Client, sample: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def _history(url: str, user: str) -> list[str]:
    store = RedisOnlineStore(url, prefix="recsys")
    try:
        return store.recent_items([user], 50)[user]
    finally:
        store.close()


@pytest.fixture
def redis_server():
    with PrivateRedis() as server:
        yield server.start()


def test_store_killed_mid_load_then_back(registry, redis_server):
    settings = settings_for(registry, online_store_url=redis_server.url, store_retry_s=0.1)
    with client_of(create_app(settings)) as client:
        assert client.post("/events", json=[_event("u1", "i30", 1)]).status_code == 202
        live = client.get("/users/u1/recommendations", params={"model": "sasrec"}).json()
        assert "degraded" not in live and _history(redis_server.url, "u1") == ["i30"]

        codes: list[tuple[str, int]] = []
        flagged = threading.Event()
        stop = threading.Event()

        def hammer(method: str, path: str, kwargs: dict) -> None:
            with httpx.Client(base_url=str(client.base_url), timeout=30) as c:
                while not stop.is_set():
                    r = getattr(c, method)(path, **kwargs)
                    codes.append((path, r.status_code))
                    body = r.json()
                    if body.get("degraded") == ["online_store"]:
                        flagged.set()

        threads = [threading.Thread(target=hammer, args=route) for route in ROUTES]
        for t in threads:
            t.start()
        try:
            _wait(lambda: len(codes) > 30)  # load is flowing before the kill
            redis_server.kill()
            _wait(flagged.is_set)
            n = len(codes)
            _wait(lambda: len(codes) > n + 60)  # and keeps flowing while the store is down
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert [c for c in codes if c[1] != 200] == []

        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["degraded"] == ["online_store"]
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["components"]["online_store"]["status"] == "down"
        assert health["components"]["models"]["status"] == "up" and health["components"]["landing"]["status"] == "up"
        assert _metric(client, 'recsys_degraded_total{component="online_store"}') > 0
        assert _metric(client, 'recsys_component_up{component="online_store"}') == 0.0

        r = client.post("/events", json=[_event("u1", "i31", 2), _event("u9", "i32", 3)])
        assert r.status_code == 202 and r.json()["degraded"] == ["online_store"]  # durable, store behind
        assert _metric(client, "recsys_online_store_backlog") == 2.0

        redis_server.start()  # back, empty: the kept writes are replayed into it
        _wait(lambda: client.get("/ready").json()["degraded"] == [])
        assert _history(redis_server.url, "u1") == ["i31"] and _history(redis_server.url, "u9") == ["i32"]
        after = client.get("/users/u1/recommendations", params={"model": "sasrec"}).json()
        assert "degraded" not in after and "i31" not in [i["item_id"] for i in after["items"]]
        assert _metric(client, 'recsys_component_up{component="online_store"}') == 1.0


def test_store_down_at_start_up(registry):
    server = PrivateRedis()  # a port with nothing listening yet
    settings = settings_for(registry, online_store_url=server.url, store_retry_s=0.1)
    try:
        with client_of(create_app(settings)) as client:
            ready = client.get("/ready")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            _wait(lambda: client.get("/ready").json()["degraded"] == ["online_store"])
            for method, path, kwargs in ROUTES:
                r = getattr(client, method)(path, **kwargs)
                assert r.status_code == 200, (path, r.text)
                assert path.startswith("/items") or r.json()["degraded"] == ["online_store"], (path, r.text)
            assert client.post("/events", json=[_event("u5", "i7", 4)]).status_code == 202
            server.start()
            _wait(lambda: client.get("/ready").json()["degraded"] == [])
            assert _history(server.url, "u5") == ["i7"]
            r = client.get("/users/u5/recommendations", params={"model": "sasrec"}).json()
            assert "degraded" not in r and "i7" not in [i["item_id"] for i in r["items"]]
    finally:
        server.kill()


def test_events_are_refused_with_503_when_they_cannot_be_made_durable(registry, tmp_path):
    landing = tmp_path / "landing"
    with client_of(create_app(settings_for(registry, landing_dir=landing))) as client:
        landing.rmdir()
        landing.write_text("not a folder")  # the landing folder is gone: nothing can be made durable
        r = client.post("/events", json=[_event("u1", "i1", 5)])
        assert r.status_code == 503 and "durabl" in r.json()["detail"]
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["components"]["landing"]["status"] == "down"
        assert client.get("/users/u1/recommendations").status_code == 200
