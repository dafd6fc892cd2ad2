"""`recsys serve --workers 2`: two processes on one port answer, and after a promotion both reload (each polls
the aliases), so every answer soon comes from the new version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.service import free_port, sequences

from recsys.data import Interactions
from recsys.models import create_model
from recsys.registry import Registry

CLI = [sys.executable, "-c", "from recsys.cli import main; main()"]


def _registry(root: Path) -> Registry:
    reg = Registry(root)
    data = Interactions.from_sequences(sequences())
    for _ in range(2):
        reg.register("popularity", create_model("popularity").fit(data), metrics={"ndcg@10": 0.1})
    reg.promote("popularity", 1)
    return reg


def _fingerprints(base: str, n: int) -> set[tuple[float, int]]:
    """(loaded_at, version) of the served model over `n` fresh connections: loaded_at tells the workers apart."""
    out = set()
    for _ in range(n):
        with httpx.Client(base_url=base, timeout=10) as client:  # a new connection each time: any worker may answer
            (model,) = client.get("/models").json()["models"]
            out.add((model["loaded_at"], model["version"]))
    return out


def _workers_seen(base: str, version: int, deadline_s: float) -> set[float]:
    """Distinct workers (by load time) seen answering with `version`, until two are seen or the deadline."""
    seen: set[float] = set()
    deadline = time.monotonic() + deadline_s
    while len(seen) < 2 and time.monotonic() < deadline:
        seen |= {loaded for loaded, v in _fingerprints(base, 10) if v == version}
    return seen


@pytest.fixture
def two_workers(tmp_path: Path):
    reg = _registry(tmp_path / "registry")
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--registry", str(reg.root), "--port", str(port), "--workers", "2",
                             "--reload-interval", "0.5", "--landing", str(tmp_path / "landing")],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"recsys serve --workers 2 exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("two workers not ready in 90 s")
            time.sleep(0.2)
        yield reg, base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_two_workers_serve_and_reload_together(two_workers) -> None:
    reg, base = two_workers
    assert len(_workers_seen(base, 1, 60)) == 2, "two worker processes should answer on the shared port"
    reg.promote("popularity", 2)
    assert len(_workers_seen(base, 2, 30)) == 2, "both workers should serve version 2 after the promotion"
    time.sleep(1.0)  # one more poll interval: no worker may still answer with version 1
    assert {v for _, v in _fingerprints(base, 30)} == {2}
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/users/u1/recommendations", params={"k": 3}).json()["version"] == 2


def test_workers_need_alias_polling(tmp_path: Path) -> None:
    reg = _registry(tmp_path / "registry")
    out = subprocess.run([*CLI, "serve", "--registry", str(reg.root), "--workers", "2", "--reload-interval", "0"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert out.returncode != 0
    assert "--reload-interval" in out.stderr + out.stdout
