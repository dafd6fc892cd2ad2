"""The DAGs run end to end with `dag.test()` on generated data in a temp folder (SQLite metadata DB):
two consecutive ingestion intervals, a re-run that changes nothing, the quarantine gate failing loudly,
then training with registration, gated promotion, the service reload call and the reports."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.airflow_env import DAGS

START = date(2026, 1, 1)
ADMIN_TOKEN = "reload-secret"


@pytest.fixture
def pipeline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    """RECSYS_HOME with three days of generated raw files in its landing folder."""
    from recsys.generate import generate_events

    home = tmp_path / "recsys"
    monkeypatch.setenv("RECSYS_HOME", str(home))
    generate_events(home / "landing", users=120, items=60, days=3, seed=5, start=START)
    return home


@pytest.fixture
def reload_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A real HTTP server standing in for the service's /admin/reload; records the requests it got."""
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            requests.append({"path": self.path, "authorization": self.headers.get("Authorization")})
            body = json.dumps({"reloaded": ["popularity", "als"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RECSYS_SERVICE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("RECSYS_ADMIN_TOKEN", ADMIN_TOKEN)
    yield requests
    server.shutdown()
    server.server_close()


def _dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def _ingest_day(dag: Any, day: date) -> Any:
    """Run ingest_events for the data interval of `day` (the scheduled run that starts just after it)."""
    return dag.test(logical_date=datetime(day.year, day.month, day.day, 0, 30, tzinfo=UTC) + timedelta(days=1))


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its sha256: equal snapshots mean nothing changed."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _asset_events(run_id: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "recsys_lake_events", AssetEvent.source_run_id == run_id)).all()
        return [dict(e.extra) for e in events]


def _lake_rows(lake: Path) -> dict[str, int]:
    from recsys.lake import read_events

    table = read_events(lake, columns=["event_id", "ts"])
    days = [ts.date().isoformat() for ts in table.column("ts").to_pylist()]
    return {d: days.count(d) for d in sorted(set(days))}


def test_ingest_two_days_rerun_then_train(pipeline_home: Path, reload_endpoint: list[dict[str, Any]]) -> None:
    from recsys.registry import Registry, RunStore

    dags = _dags()
    ingest, train = dags["ingest_events"], dags["train_recommenders"]
    lake = pipeline_home / "lake"

    # day 1, then day 2: each run ingests exactly its interval's file and announces it
    first = _ingest_day(ingest, START)
    assert first.state == "success", _states(first)
    assert first.data_interval_start.date() == START
    day_one = _lake_rows(lake)
    assert list(day_one) == ["2026-01-01"]
    event = _asset_events(first.run_id)[0]
    assert (event["start"], event["end"], event["rows_written"]) == ("2026-01-01", "2026-01-02", day_one["2026-01-01"])

    second = _ingest_day(ingest, START + timedelta(days=1))
    assert second.state == "success", _states(second)
    rows = _lake_rows(lake)
    assert list(rows) == ["2026-01-01", "2026-01-02"] and all(n > 0 for n in rows.values())
    assert _asset_events(second.run_id)[0]["start"] == "2026-01-02"
    assert _asset_events(second.run_id)[0]["rows_written"] == rows["2026-01-02"]

    # re-running day 2 (a retry or a backfill) leaves the lake's data exactly as it was
    before = _snapshot(lake / "events")
    again = _ingest_day(ingest, START + timedelta(days=1))
    assert again.state == "success", _states(again)
    assert _snapshot(lake / "events") == before
    assert _lake_rows(lake) == rows

    # nightly training on the window ending 2026-01-03: both models registered as v1 and promoted
    run = train.test(logical_date=datetime(2026, 1, 3, 3, 0, tzinfo=UTC))
    states = _states(run)
    assert run.state == "success", states
    assert set(states.values()) == {"success"}, states
    registry = Registry(pipeline_home / "registry")
    assert sorted(registry.names()) == ["als", "popularity"]
    for name in ("als", "popularity"):
        assert [v.version for v in registry.versions(name)] == [1]
        assert registry.aliases(name) == {"production": 1}
    record = RunStore(registry.root).latest().to_dict()
    assert all(record["models"][name]["gate"]["promoted"] for name in ("als", "popularity"))
    split = run.get_task_instance("prepare_split").xcom_pull(task_ids="prepare_split")
    assert (split["start"], split["end"]) == ("2025-12-06", "2026-01-03")
    assert reload_endpoint == [{"path": "/admin/reload", "authorization": f"Bearer {ADMIN_TOKEN}"}]
    report = pipeline_home / "reports" / f"{record['run_id']}.html"  # named after its run
    assert report.is_file() and record["run_id"] in report.read_text()

    # the daily analytics report of 2026-01-02
    analytics = dags["behaviour_analytics"].test(logical_date=datetime(2026, 1, 3, 4, 0, tzinfo=UTC))
    assert analytics.state == "success", _states(analytics)
    assert (pipeline_home / "reports" / "analytics" / "behaviour-2026-01-02.html").is_file()


def test_quarantine_rate_above_threshold_fails_the_run_loudly(pipeline_home: Path) -> None:
    from airflow.models.variable import Variable

    raw = pipeline_home / "landing" / "events-2026-01-01.jsonl"
    lines = raw.read_text().splitlines()
    raw.write_text("\n".join(line if i % 4 else "{this is not json" for i, line in enumerate(lines)) + "\n")
    ingest = _dags()["ingest_events"]

    run = _ingest_day(ingest, START)

    states = _states(run)
    assert run.state == "failed"
    assert states == {"landing_files": "success", "ingest": "success", "quality_gate": "failed"}
    assert _asset_events(run.run_id) == []  # training is not triggered by rejected data

    # an operator raises the threshold through the Airflow Variable: the same interval now passes
    Variable.set("recsys_settings", json.dumps({"max_quarantine_rate": 0.5}))
    try:
        rerun = _ingest_day(ingest, START)
    finally:
        Variable.delete("recsys_settings")
    assert rerun.state == "success", _states(rerun)
    assert 0.2 < _asset_events(rerun.run_id)[0]["quarantine_rate"] < 0.3


def test_a_damaged_landing_file_fails_the_gate_naming_it(pipeline_home: Path) -> None:
    import gzip

    raw = pipeline_home / "landing" / "events-2026-01-01.jsonl"
    packed = gzip.compress(raw.read_bytes())
    raw.write_bytes(packed[: len(packed) // 2])  # a gzip cut in half (the reader goes by content, not name)

    run = _ingest_day(_dags()["ingest_events"], START)

    assert run.state == "failed"
    assert _states(run) == {"landing_files": "success", "ingest": "success", "quality_gate": "failed"}
    assert _asset_events(run.run_id) == []


def test_missing_landing_file_fails_before_ingesting(pipeline_home: Path) -> None:
    run = _ingest_day(_dags()["ingest_events"], START + timedelta(days=10))

    assert run.state == "failed"
    assert _states(run)["landing_files"] == "failed"
    assert not (pipeline_home / "lake").exists()


def test_register_step_run_twice_for_one_run_returns_the_same_versions(pipeline_home: Path, tmp_path: Path) -> None:
    """Airflow retries `register` (retries=2): the retry of a run must not register new versions."""
    from recsys.ingest import ingest
    from recsys.registry import Registry, RunStore
    from recsys.training import prepare_split, train_model

    ingest(sorted((pipeline_home / "landing").glob("events-*.jsonl")), pipeline_home / "lake")
    split = prepare_split(pipeline_home / "lake", tmp_path / "split")
    trained = [str(train_model(split, m, tmp_path / m, n_boot=50)) for m in ("popularity", "als")]
    register = _dags()["train_recommenders"].get_task("register").python_callable

    first = register(trained, run_id="scheduled__2026-01-03T03:00:00+00:00")
    retry = register(trained, run_id="scheduled__2026-01-03T03:00:00+00:00")

    versions = {name: m["version"] for name, m in first["models"].items()}
    assert versions == {"popularity": 1, "als": 1}
    assert {name: m["version"] for name, m in retry["models"].items()} == versions
    assert retry["run_id"] == first["run_id"] == "scheduled__2026-01-03T03-00-00-00-00"
    registry = Registry(pipeline_home / "registry")
    assert {name: [v.version for v in registry.versions(name)] for name in versions} == {"popularity": [1], "als": [1]}
    assert [r.run_id for r in RunStore(registry.root).list()] == [first["run_id"]]
    other = register(trained, run_id="scheduled__2026-01-04T03:00:00+00:00")  # another run: new versions
    assert {name: m["version"] for name, m in other["models"].items()} == {"popularity": 2, "als": 2}
