"""A change made through one uvicorn worker process reaches another within a second, through the shared online
store: Redis (127.0.0.1:6379, skipped when unreachable) and the SQLite file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from catalog_support import build_lake
from support.service import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as err:  # any failure to reach it means: no Redis here
        pytest.skip(f"no Redis server reachable at {REDIS_URL} ({err})")


@contextmanager
def workers(env: dict[str, str], n: int = 2) -> Iterator[list[httpx.Client]]:
    """`n` `uvicorn --factory serving.app:create_app` processes configured by `env`, started together; a client
    of each."""
    ports = [free_port() for _ in range(n)]
    procs = [subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "serving.app:create_app", "--host",
                               "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for port in ports]
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for port in ports]
    try:
        for proc, client in zip(procs, clients, strict=True):
            _wait_ready(proc, client)
        yield clients
    finally:
        for client in clients:
            client.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stderr.close()


def _wait_ready(proc: subprocess.Popen, client: httpx.Client) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)


def served(client: httpx.Client, item: str) -> list[str]:
    """The routes of `client` whose answer contains `item`."""
    paths = ["/users/u1/recommendations?k=40&model=als", "/users/u1/recommendations?k=40&model=popularity",
             "/users/nobody/recommendations?k=40", "/items/popular?k=40", "/items/i0/similar?k=40&model=als"]
    out = []
    for path in paths:
        body = client.get(path).json()
        if item in [i["item_id"] for i in body["items"]]:
            out.append(path)
    out += ["batch"] if item in [i["item_id"] for r in client.post(
        "/recommendations", json={"user_ids": ["u1", "nobody"], "k": 40}).json()["results"] for i in r["items"]] \
        else []
    return out


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
def test_a_change_through_one_worker_reaches_the_other_within_a_second(backend, registry, tmp_path):
    env = {"RECSYS_REGISTRY": str(registry.root), "RECSYS_LAKE": str(build_lake(tmp_path)),
           "RECSYS_ADMIN_TOKEN": TOKEN, "RECSYS_RELOAD_INTERVAL_S": "0",
           "RECSYS_LANDING_DIR": str(tmp_path / "landing")}
    if backend == "redis":
        _redis_or_skip()
        env |= {"REDIS_URL": REDIS_URL, "RECSYS_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
    else:
        env |= {"RECSYS_ONLINE_STORE_PATH": str(tmp_path / "online.sqlite")}
    shutil.rmtree(Path(registry.root) / "sasrec")  # two models are enough here, and start-up stays quick
    with workers(env) as (a, b):
        item = b.get("/users/u1/recommendations", params={"k": 1}).json()["items"][0]["item_id"]
        assert len(served(b, item)) >= 4
        r = a.patch(f"/items/{item}", json={"available": False}, headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        time.sleep(1.0)
        assert served(b, item) == [] and served(a, item) == []
        assert b.get(f"/items/{item}").json()["available"] is False
        a.patch(f"/items/{item}", json={"available": True}, headers={"authorization": f"Bearer {TOKEN}"})
        time.sleep(1.0)
        assert b.get("/users/u1/recommendations", params={"k": 1}).json()["items"][0]["item_id"] == item
        put = b.put("/items/i7", json={"categories": ["gadgets"]}, headers={"authorization": f"Bearer {TOKEN}"})
        assert put.status_code == 200
        time.sleep(1.0)
        body = a.get("/users/nobody/recommendations", params={"category": "gadgets"}).json()
        assert [i["item_id"] for i in body["items"]] == ["i7"]
