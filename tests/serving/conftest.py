"""Fixtures of the service tests: a small trained registry and a real uvicorn server on a free port."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from recsys.data import Interactions
from recsys.models import create_model
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


@pytest.fixture(scope="session")
def base_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """popularity, als and sasrec, each with a production version 1."""
    root = tmp_path_factory.mktemp("serving") / "registry"
    data = Interactions.from_sequences(sequences())
    reg = Registry(root)
    models = {
        "popularity": create_model("popularity"),
        "als": create_model("als", factors=8, iterations=5, device="cpu", num_threads=1),
        "sasrec": create_model("sasrec", hidden=16, layers=1, epochs=15, patience=100, max_len=20, dropout=0.0,
                               batch_size=32, device="cpu"),
    }
    for name, model in models.items():
        mv = reg.register(name, model.fit(data), metrics={"ndcg@10": 0.1}, data={"users": data.n_users})
        reg.promote(name, mv.version)
    return root


@pytest.fixture
def registry(base_registry: Path, tmp_path: Path) -> Registry:
    """A private copy of the trained registry that a test may change."""
    root = tmp_path / "registry"
    shutil.copytree(base_registry, root)
    return Registry(root)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run the app under a real uvicorn server in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
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


def settings_for(registry: Registry, **overrides: object) -> Settings:
    root = Path(registry.root)
    values: dict[str, object] = {"registry": root, "online_store_path": root.parent / "online.sqlite",
                                 "landing_dir": root.parent / "landing", "reload_interval_s": 0}
    values.update(overrides)
    return Settings(**values)
