"""The nightly experiment-reports DAG renders a running experiment's report with `dag.test()`; a re-run of the
same day rewrites the same file, and a stopped experiment gets none."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.airflow_env import DAGS


@pytest.fixture
def experiment_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    from recsys.data import Interactions
    from recsys.experiments import Arm, Experiment, ExperimentStore
    from recsys.ingest import ingest
    from recsys.models import create_model
    from recsys.registry import Registry

    home = tmp_path / "recsys"
    monkeypatch.setenv("RECSYS_HOME", str(home))
    reg = Registry(home / "registry")
    data = Interactions.from_sequences({"u1": ["i1", "i2"], "u2": ["i2", "i3"]})
    for name in ("popularity", "other"):
        reg.promote(name, reg.register(name, create_model("popularity").fit(data), metrics={"ndcg@10": 0.3}).version)
    store = ExperimentStore(reg.root)
    store.start(Experiment("live", {"control": Arm("popularity"), "treatment": Arm("other")}, {"control": 1,
                                                                                             "treatment": 1}))
    store.start(Experiment("old", {"control": Arm("popularity"), "treatment": Arm("other")}, {"control": 1,
                                                                                            "treatment": 1}))
    store.stop("old")
    served = home / "served"
    served.mkdir(parents=True)
    ts = datetime.now(UTC) - timedelta(hours=1)
    lines = [{"request_id": f"r{i}", "ts": ts.isoformat(), "user_id": f"u{i}", "surface": "user", "model": "m",
              "version": 1, "experiment": name, "arm": ("control", "treatment")[i % 2], "items": ["i1", "i2"]}
             for i in range(20) for name in ("live", "old")]
    lines = [dict(r, request_id=f"{r['experiment']}-{r['request_id']}") for r in lines]
    click = {"user_id": "u1", "item_id": "i2", "event_type": "click", "ts": ts.isoformat(), "request_id": "live-r1"}
    (served / "impressions-x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (served / "served-events-x.jsonl").write_text(json.dumps(click) + "\n")
    ingest([served], home / "lake")
    return home


def test_nightly_reports_of_running_experiments(experiment_home: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["experiment_reports"]
    when = datetime(2026, 3, 11, 0, 30, tzinfo=UTC)
    run = dag.test(logical_date=when)
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == {"render_experiments": "success"}
    out = experiment_home / "reports" / "experiments"
    written = [p.name for p in out.iterdir()]
    assert len(written) == 1 and written[0].startswith("live-2026-03-")  # the stopped experiment gets none
    first = (out / written[0]).read_text()
    assert 'content="experiment"' in first and "popularity" in first
    dag.test(logical_date=when)
    assert [p.name for p in out.iterdir()] == written
