"""Helpers of the service tests: test data, a real uvicorn server on a free port, settings for a registry."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

from recsys.registry import Registry
from serving.app import create_app
from serving.settings import Settings

N_ITEMS = 40


def sequences(n_users: int = 80, seed: int = 0) -> dict[str, list[str]]:
    """Users walk the catalogue in order (i3, i4, i5, ...): a strong sequential signal a SASRec learns quickly."""
    rng = np.random.default_rng(seed)
    out = {}
    for u in range(n_users):
        start = int(rng.integers(0, N_ITEMS))
        length = int(rng.integers(4, 12))
        out[f"u{u}"] = [f"i{(start + j) % N_ITEMS}" for j in range(length)]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run the service under a real uvicorn server in a thread; yields its base URL."""
    with serve_app(create_app(settings)) as base:
        yield base


@contextlib.contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Run any ASGI app under a real uvicorn server in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def client_of(app: FastAPI) -> Iterator[httpx.Client]:
    """An HTTP client of `app` served by uvicorn."""
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def settings_for(registry: Registry, **overrides: object) -> Settings:
    root = Path(registry.root)
    values: dict[str, object] = {"registry": root, "online_store_path": root.parent / "online.sqlite",
                                 "landing_dir": root.parent / "landing", "reload_interval_s": 0}
    values.update(overrides)
    return Settings(**values)
