"""A real Airflow deployment runs `train_recommenders`: scheduler + DAG processor + API server on a throw-away
PostgreSQL database, the run triggered and watched through the public REST API (/api/v2, JWT from the simple
auth manager). Then the scale-out path: the same DAG on the CeleryExecutor (Redis broker, PostgreSQL metadata and
result backend) with the ALS task routed to a queue of its own that only a second Celery worker serves.

Skipped, with the reason, where no PostgreSQL (or Redis) server runs on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from support.airflow_env import ADMIN_PASSWORD, ADMIN_USER, AirflowCluster, ApiClient, cluster_env, free_port

pytestmark = pytest.mark.slow

DAG_ID = "train_recommenders"
END = "2026-01-05"
EXPECTED = {"prepare_split", "train_popularity", "train_als", "register", "promote", "reload_service",
            "render_report"}


def _prepare_lake(recsys_home: Path) -> None:
    """Four days of generated events, ingested into the lake the DAG trains from."""
    from recsys.generate import generate_events
    from recsys.ingest import ingest

    landing = recsys_home / "landing"
    generate_events(landing, users=150, items=80, days=4, seed=3, start=date(2026, 1, 1))
    ingest(sorted(landing.glob("events-*.jsonl")), recsys_home / "lake")


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., AirflowCluster]]:
    """Builds clusters on demand and, whatever happens, stops every process group they started."""
    clusters: list[AirflowCluster] = []

    def make(sql_conn: str, executor: str, extra: dict[str, str] | None = None) -> AirflowCluster:
        port = free_port()
        env = cluster_env(tmp_path / "airflow_home", sql_conn=sql_conn, executor=executor, api_port=port,
                          recsys_home=tmp_path / "recsys", extra=extra)
        cluster = AirflowCluster(tmp_path / "airflow_home", env, port)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop()
    leftovers = [name for cluster in clusters for name in cluster.group_alive()]
    assert leftovers == [], f"airflow processes still running after stop: {leftovers}"


def _run_training(cluster: AirflowCluster) -> tuple[ApiClient, str, dict[str, dict[str, Any]]]:
    """Start the deployment on its (already migrated) database, trigger the DAG through the REST API and wait
    for the run to finish."""
    started = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - started - sum(phases.values()), 1)

    _prepare_lake(Path(cluster.env["RECSYS_HOME"]))
    phase("data")
    cluster.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(cluster.api_port),
                  "--workers", "1")
    cluster.start("scheduler", "scheduler")
    cluster.start("dag-processor", "dag-processor")
    api = ApiClient(cluster.api, ADMIN_USER, ADMIN_PASSWORD)
    api.wait_ready(cluster)
    phase("api up")
    api.wait_for_dag(cluster, DAG_ID)
    phase("dag parsed")
    run_id = api.trigger(DAG_ID, {"end": END})
    state = api.wait_for_run(cluster, DAG_ID, run_id, timeout=400)
    phase("run")
    print(f"{cluster.env['AIRFLOW__CORE__EXECUTOR']}: seconds per phase {phases}")
    tis = api.task_instances(DAG_ID, run_id)
    if state != "success":
        failed = [t for t, ti in tis.items() if ti["state"] not in ("success", "skipped")]
        logs = "\n".join(f"--- {t}:\n{api.task_log(DAG_ID, run_id, t, tis[t]['try_number'] or 1)}" for t in failed)
        pytest.fail(f"run {run_id} ended {state}: { {t: ti['state'] for t, ti in tis.items()} }\n{logs}")
    return api, run_id, tis


def _assert_registry(recsys_home: Path, run_id: str) -> None:
    from recsys.registry import Registry, RunStore

    registry = Registry(recsys_home / "registry")
    assert sorted(registry.names()) == ["als", "popularity"]
    for name in ("als", "popularity"):
        assert [v.version for v in registry.versions(name)] == [1]
        assert registry.aliases(name) == {"production": 1}
    record = RunStore(registry.root).latest().to_dict()
    assert record["run_id"].startswith("manual__")  # the registry run carries the Airflow run id
    assert record["data"]["window"] == {"start": "2025-12-08", "end": END}


def test_train_recommenders_on_postgres_via_rest_api(postgres_url: str, make_cluster: Any) -> None:
    cluster = make_cluster(postgres_url, "LocalExecutor")
    api, run_id, tis = _run_training(cluster)
    try:
        states = {t: ti["state"] for t, ti in tis.items()}
        assert set(states) == EXPECTED
        assert states.pop("reload_service") == "skipped"  # no service URL configured: skipped, not failed
        assert set(states.values()) == {"success"}, states
        _assert_registry(Path(cluster.env["RECSYS_HOME"]), run_id)
        from recsys.registry import RunStore

        home = Path(cluster.env["RECSYS_HOME"])
        run_record = RunStore(home / "registry").latest()
        assert (home / "reports" / f"{run_record.run_id}.html").is_file()  # the report is named after its run
    finally:
        api.close()


def test_train_recommenders_on_celery_with_a_training_queue(postgres_url: str, redis_url: str,
                                                            make_cluster: Any) -> None:
    backend = "db+" + postgres_url  # db+postgresql+psycopg2://...
    cluster = make_cluster(postgres_url, "CeleryExecutor", extra={
        "AIRFLOW__CELERY__BROKER_URL": redis_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "RECSYS_GPU_MODELS": "als",
        "RECSYS_GPU_QUEUE": "training",
    })
    worker = ("celery", "worker", "--concurrency", "1", "--skip-serve-logs", "--without-gossip", "--without-mingle")
    info = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}  # workers log each workload they execute
    cluster.start("worker-default", *worker, "--queues", "default", "--celery-hostname", "default@%h", env=info)
    cluster.start("worker-training", *worker, "--queues", "training", "--celery-hostname", "training@%h", env=info)
    api, run_id, tis = _run_training(cluster)
    try:
        assert tis["train_als"]["queue"] == "training"
        assert {ti["queue"] for t, ti in tis.items() if t != "train_als"} == {"default"}
        assert {t: ti["state"] for t, ti in tis.items() if t != "reload_service"} == {
            t: "success" for t in EXPECTED - {"reload_service"}}
        # the ALS task ran on the worker that serves the training queue, and only there
        training_log = (cluster.home / "proc-logs" / "worker-training.log").read_text(errors="replace")
        default_log = (cluster.home / "proc-logs" / "worker-default.log").read_text(errors="replace")
        assert "train_als" in training_log and "train_als" not in default_log
        assert "train_popularity" in default_log and "train_popularity" not in training_log
        _assert_registry(Path(cluster.env["RECSYS_HOME"]), run_id)
    finally:
        api.close()
