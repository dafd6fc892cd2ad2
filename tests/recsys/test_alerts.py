"""Alerts: the rules on hand-made numbers, and delivery to a real local webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from recsys.alerts import Alert, gate_refused, metric_drop, rate_jump, send_alert, task_failed


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append({"path": self.path, "type": self.headers["content-type"], "json": json.loads(body)})
            self.send_response(200 if self.path != "/broken" else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_gate_reaches_the_webhook_as_slack_json(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    alert = gate_refused("als", {"promoted": False, "version": 3, "metric": "ndcg@10", "candidate_value": 0.05,
                                 "production_value": 0.07, "reason": "significantly worse"})
    assert send_alert(f"{url}/hook", alert) is True
    (got,) = received
    assert got["path"] == "/hook" and got["type"] == "application/json"
    assert got["json"]["text"] == "[recsys] als: candidate not promoted"
    section = got["json"]["blocks"][0]["text"]
    assert section["type"] == "mrkdwn" and "significantly worse" in section["text"] and "0.05" in section["text"]
    assert got["json"]["recsys"]["kind"] == "gate_refused"


def test_delivery_failures_are_reported_not_raised(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = receiver
    alert = Alert("x", "something")
    assert send_alert(f"{url}/broken", alert) is False
    assert send_alert("http://127.0.0.1:9/nothing-listens", alert, timeout=1) is False
    assert send_alert(None, alert) is False and send_alert(url, None) is False


def test_rules() -> None:
    assert gate_refused("als", {"promoted": True}) is None
    assert metric_drop("als", "ndcg@10", [0.10, 0.10, 0.10], 0.097) is None  # within 5%
    drop = metric_drop("als", "ndcg@10", [0.10, 0.12, 0.11], 0.08)
    assert drop is not None and drop.details["baseline"] == pytest.approx(0.11) and "27.3%" in drop.title
    assert metric_drop("als", "ndcg@10", [], 0.01) is None
    assert rate_jump("quarantine", 0.01, None) is None  # too small to matter
    assert rate_jump("quarantine", 0.05, 0.04) is None  # not a jump
    assert rate_jump("fallback", 0.30, 0.10) is not None
    assert rate_jump("fallback", 0.05, None) is not None
    failed = task_failed("train_recommenders", "train_als", RuntimeError("out of memory"), run_id="r1", try_number=3)
    assert failed.details == {"dag": "train_recommenders", "task": "train_als", "run": "r1", "try": 3,
                              "error": "out of memory"}


def test_a_training_run_raises_alerts_for_a_refused_gate_and_a_metric_drop(
        tmp_path: Any, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    from recsys.alerts import notify, run_alerts
    from recsys.generate import generate_events
    from recsys.ingest import ingest
    from recsys.training import run_training

    generate_events(tmp_path / "landing", users=150, items=60, days=5, seed=6)
    ingest(sorted((tmp_path / "landing").glob("events-*.jsonl")), tmp_path / "lake")
    good = run_training(tmp_path / "lake", tmp_path / "reg", models=["als"], promote=True,
                        params={"als": {"factors": 16, "iterations": 10}})
    assert run_alerts(tmp_path / "reg", good["run_id"]) == []
    bad = run_training(tmp_path / "lake", tmp_path / "reg", models=["als"], promote=True,
                       params={"als": {"factors": 2, "iterations": 1, "regularization": 50.0}})
    assert bad["models"]["als"]["promoted"] is False
    alerts = run_alerts(tmp_path / "reg", bad["run_id"], drop=0.05)
    assert {a.kind for a in alerts} == {"gate_refused", "metric_drop"}
    url, received = receiver
    assert notify(url, alerts) == 2 and len(received) == 2
