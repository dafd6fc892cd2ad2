"""The DAG folder parses cleanly in Airflow 3, with the expected DAGs, tasks, schedules and policies, quickly,
and without importing the heavy libraries the tasks use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from support.airflow_env import DAGS

HEAVY = ("torch", "implicit", "pandas", "pyarrow", "duckdb", "scipy", "sklearn", "matplotlib")


def test_dag_folder_imports_cleanly_and_quickly(airflow_home: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    DagBag(str(DAGS))  # warm: the first parse also pays for importing airflow.sdk
    started = time.perf_counter()
    bag = DagBag(str(DAGS))
    seconds = time.perf_counter() - started

    assert not bag.import_errors, bag.import_errors
    assert set(bag.dag_ids) == {"ingest_events", "train_recommenders", "behaviour_analytics", "experiment_reports"}
    per_file = {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats}
    print(f"DAG folder parsed in {seconds:.3f} s; per file {per_file}")
    assert seconds < 5.0  # generous bound; the bench measures the real figure (well under a second)


def test_dag_files_do_not_import_heavy_libraries(airflow_home: Path) -> None:
    """Parsing must stay light: the scheduler re-parses DAG files every few seconds."""
    probe = f"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
t = time.perf_counter()
bag = DagBag({str(DAGS)!r})
print(json.dumps({{"new": sorted(set(sys.modules) - before), "errors": list(bag.import_errors),
                  "seconds": time.perf_counter() - t}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], env=os.environ.copy(), capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    heavy = [m for m in result["new"] if m.split(".")[0] in HEAVY]
    assert heavy == [], f"DAG files imported heavy modules at parse time: {heavy[:10]}"
    assert "recsys_dags.settings" in result["new"]  # the DAGs' own settings


def test_ingest_events_shape(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["ingest_events"]
    assert {t.task_id for t in dag.tasks} == {"landing_files", "ingest", "quality_gate"}
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "30 0 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.start_date.isoformat() == "2026-01-01T00:00:00+00:00"
    assert dag.get_task("ingest").upstream_task_ids == {"landing_files"}
    gate = dag.get_task("quality_gate")
    assert [a.name for a in gate.outlets] == ["recsys_lake_events"]
    assert gate.retries == 0  # a breached threshold will not fix itself by retrying
    ingest = dag.get_task("ingest")
    assert ingest.retry_exponential_backoff and ingest.max_retry_delay == timedelta(seconds=900)


def test_train_recommenders_shape(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    dag = dagbag.dags["train_recommenders"]
    assert {t.task_id for t in dag.tasks} == {
        "prepare_split", "train_popularity", "train_als", "register", "promote", "reload_service", "render_report"}
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert isinstance(dag.timetable.timetable, CronTriggerTimetable)
    assert dag.timetable.timetable.expression == "0 3 * * *"
    assert dag.timetable.asset_condition.name == "recsys_lake_events"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.get_task("register").upstream_task_ids == {"train_popularity", "train_als"}
    for model in ("popularity", "als"):
        assert dag.get_task(f"train_{model}").upstream_task_ids == {"prepare_split"}
    assert dag.get_task("promote").upstream_task_ids == {"register"}
    assert dag.get_task("reload_service").upstream_task_ids == {"promote"}
    assert dag.get_task("render_report").upstream_task_ids == {"register", "promote"}
    assert all(t.retry_exponential_backoff for t in dag.tasks)


def test_behaviour_analytics_shape(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["behaviour_analytics"]
    assert [t.task_id for t in dag.tasks] == ["render_analytics"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 4 * * *"


def test_sasrec_task_goes_to_the_gpu_queue_and_pool(airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RECSYS_MODELS", "popularity,sasrec")
    monkeypatch.setenv("RECSYS_GPU_QUEUE", "gpu")
    monkeypatch.setenv("RECSYS_GPU_POOL", "gpu_pool")
    dag = DagBag(str(DAGS)).dags["train_recommenders"]
    sasrec, popularity = dag.get_task("train_sasrec"), dag.get_task("train_popularity")
    assert (sasrec.queue, sasrec.pool) == ("gpu", "gpu_pool")
    assert popularity.queue != "gpu" and popularity.pool == "default_pool"


def test_schedules_come_from_settings(airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    monkeypatch.setenv("RECSYS_TRAIN_SCHEDULE", "")  # asset-triggered only
    monkeypatch.setenv("RECSYS_INGEST_SCHEDULE", "0 * * * *")
    monkeypatch.setenv("RECSYS_CATCHUP", "true")
    bag = DagBag(str(DAGS))
    train, ingest = bag.dags["train_recommenders"], bag.dags["ingest_events"]
    assert not isinstance(train.timetable, AssetOrTimeSchedule | CronTriggerTimetable)
    assert train.timetable.asset_condition.name == "recsys_lake_events"
    assert ingest.timetable.expression == "0 * * * *" and ingest.catchup is True


def test_invalid_settings_are_a_visible_import_error(airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RECSYS_MODELS", "popularity,nosuchmodel")
    bag = DagBag(str(DAGS))
    assert "train_recommenders.py" in " ".join(bag.import_errors)
    assert "nosuchmodel" in " ".join(bag.import_errors.values())
