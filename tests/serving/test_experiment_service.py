"""Experiments through the real service (uvicorn + httpx): request ids, sticky weighted assignment, live start and
stop, interleaving credit, impressions logged and durable across kill -9, and the /experiments routes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from support.service import free_port, serve, settings_for

from recsys.experiments import Arm, Experiment, ExperimentStore
from recsys.registry import Registry


def _impressions(landing: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(landing.glob("impressions-*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


def _start(registry: Registry, name: str = "e1", mode: str = "ab", weights: tuple[float, float] = (50, 50),
           treatment: str = "als") -> Experiment:
    arms = {"control": Arm("popularity"), "treatment": Arm(treatment)}
    return ExperimentStore(registry.root).start(
        Experiment(name, arms, {"control": weights[0], "treatment": weights[1]}, mode, salt="fixed"))


def test_assignment_is_sticky_weighted_and_every_answer_is_logged(registry):
    _start(registry, weights=(20, 80))
    settings = settings_for(registry, experiments_poll_s=0)
    with serve(settings) as base, httpx.Client(base_url=base, timeout=30) as http:
        first = [http.get(f"/users/u{u}/recommendations", params={"k": 5}).json() for u in range(80)]
        again = [http.get(f"/users/u{u}/recommendations", params={"k": 5}).json() for u in range(80)]
        named = http.get("/users/u1/recommendations", params={"model": "sasrec"}).json()
        batch = http.post("/recommendations", json={"user_ids": ["u1", "u2"], "k": 3}).json()
        similar = http.get("/items/i3/similar", params={"k": 3}).json()
    assert [a["arm"] for a in first] == [a["arm"] for a in again]
    arms = Counter(a["arm"] for a in first)
    assert set(arms) == {"control", "treatment"} and arms["treatment"] > 2 * arms["control"]
    assert all(a["model"] == ("popularity" if a["arm"] == "control" else "als") for a in first)
    assert all(a["experiment"] == "e1" for a in first)
    assert named["experiment"] is None and named["arm"] is None and named["model"] == "sasrec"
    ids = [a["request_id"] for a in first + again] + [named["request_id"], similar["request_id"]]
    ids += [r["request_id"] for r in batch["results"]]
    assert len(set(ids)) == len(ids) == 164
    logged = {r["request_id"]: r for r in _impressions(settings.landing_folder)}
    assert set(ids) == set(logged)
    one = logged[first[0]["request_id"]]
    assert one["items"] == [i["item_id"] for i in first[0]["items"]] and one["arm"] == first[0]["arm"]
    assert one["surface"] == "user" and one["user_id"] == "u0" and one["version"] == 1
    assert logged[similar["request_id"]]["surface"] == "similar"
    assert logged[similar["request_id"]]["item_id"] == "i3"


def test_experiments_start_and_stop_without_a_restart(registry):
    settings = settings_for(registry, experiments_poll_s=0)
    with serve(settings) as base, httpx.Client(base_url=base, timeout=30) as http:
        before = http.get("/users/u1/recommendations").json()
        _start(registry, "live")
        during = http.get("/users/u1/recommendations").json()
        listed = http.get("/experiments").json()
        ExperimentStore(registry.root).stop("live")
        after = http.get("/users/u1/recommendations").json()
        missing = http.get("/experiments/nope")
    assert before["experiment"] is None
    assert during["experiment"] == "live" and during["arm"] in ("control", "treatment")
    assert [e["name"] for e in listed["experiments"]] == ["live"]
    assert after["experiment"] is None
    assert missing.status_code == 404


def test_interleaving_merges_both_arms_and_credits_each_item(registry):
    _start(registry, "mix", mode="interleaving", treatment="sasrec")
    settings = settings_for(registry, experiments_poll_s=0)
    with serve(settings) as base, httpx.Client(base_url=base, timeout=30) as http:
        for u in range(12):
            mixed = http.get(f"/users/u{u}/recommendations", params={"k": 6}).json()
            pop = [i["item_id"] for i in http.get(f"/users/u{u}/recommendations",
                                                  params={"k": 6, "model": "popularity"}).json()["items"]]
            sas = [i["item_id"] for i in http.get(f"/users/u{u}/recommendations",
                                                  params={"k": 6, "model": "sasrec"}).json()["items"]]
            assert mixed["arm"] == "interleaved" and mixed["experiment"] == "mix"
            items = [i["item_id"] for i in mixed["items"]]
            credit = [i["arm"] for i in mixed["items"]]
            assert len(items) == len(set(items)) == 6
            assert abs(credit.count("control") - credit.count("treatment")) <= 1
            for item, arm in zip(items, credit, strict=True):
                assert item in (pop if arm == "control" else sas)
            logged = next(r for r in _impressions(settings.landing_folder) if r["request_id"] == mixed["request_id"])
            assert logged["credit"] == credit and logged["items"] == items


def test_impressions_survive_kill_9(registry, tmp_path):
    landing = tmp_path / "served"
    port = free_port()
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from recsys.cli import main; main()", "serve", "--registry", str(registry.root),
         "--port", str(port), "--landing", str(landing), "--reload-interval", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30) as http:
            ids = [http.get(f"/users/u{u}/recommendations").json()["request_id"] for u in range(40)]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no shutdown hook runs
        proc.wait(timeout=10)
    assert [r["request_id"] for r in _impressions(landing)] == ids
