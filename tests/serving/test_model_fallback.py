"""A corrupt production version at start-up: the service serves the most recent earlier holder of the alias that
verifies, says so in /models and /ready, and logs why."""

from __future__ import annotations

import logging

from support.service import client_of, settings_for

from recsys.registry.history import alias_history
from serving.app import create_app

TOKEN = "s3cret"


def _corrupt(path) -> bytes:
    good = path.read_bytes()
    path.write_bytes(good[:64] + b"corrupt!" + good[72:])
    return good


def test_corrupt_production_falls_back_to_an_earlier_holder(registry, caplog):
    model, _ = registry.load("popularity")
    registry.register("popularity", model, metrics={"ndcg@10": 0.3})  # version 2, never promoted
    v3 = registry.register("popularity", model, metrics={"ndcg@10": 0.4})
    v4 = registry.register("popularity", model, metrics={"ndcg@10": 0.5})
    for mv in (v3, v4):
        assert registry.promote("popularity", mv.version).promoted
    assert alias_history(registry, "popularity") == [4, 3, 1]
    weights4 = v4.path / "artifact" / "weights.npz"
    good = _corrupt(weights4)
    _corrupt(v3.path / "artifact" / "weights.npz")  # the previous holder is corrupt too: v1 it is, not v2

    caplog.set_level(logging.WARNING, logger="serving.holder")
    with client_of(create_app(settings_for(registry, admin_token=TOKEN))) as client:
        r = client.get("/users/u1/recommendations", params={"model": "popularity"})
        assert r.status_code == 200 and r.json()["version"] == 1
        models = client.get("/models").json()
        assert models["fallbacks"]["popularity"]["alias_version"] == 4
        assert models["fallbacks"]["popularity"]["serving"] == 1
        assert "checksum mismatch" in models["errors"]["popularity"]
        assert models["default"] == "als"  # the default model did not change
        ready = client.get("/ready")
        assert ready.status_code == 200 and "models" in ready.json()["degraded"]
        assert ready.json()["components"]["models"]["status"] == "degraded"
        assert any("instead of production version 4" in rec.getMessage() for rec in caplog.records)
        assert any("version 3" in rec.getMessage() and "either" in rec.getMessage() for rec in caplog.records)

        weights4.write_bytes(good)  # repaired: a forced reload serves the alias's own version again
        r = client.post("/admin/reload", params={"force": "true"}, headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.json()["models"]["popularity"] == 4 and r.json()["fallbacks"] == {}
        assert client.get("/ready").json()["degraded"] == []


def test_a_model_with_no_loadable_version_is_reported_not_served(registry):
    mv = registry.version("popularity", 1)
    _corrupt(mv.path / "artifact" / "weights.npz")
    with client_of(create_app(settings_for(registry))) as client:
        assert client.get("/users/u1/recommendations", params={"model": "popularity"}).status_code == 404
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["components"]["models"]["status"] == "degraded"
        assert "popularity" in client.get("/models").json()["errors"]
