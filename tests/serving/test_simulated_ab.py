"""The whole loop with the simulator: generated data and its ground truth, two trained models, an A/B experiment
through the real service, events and impressions ingested, and the report's verdict."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from support.service import serve, settings_for

from recsys.errors import InputError
from recsys.experiments import Arm, Experiment, ExperimentStore
from recsys.experiments.render import render_experiment_html
from recsys.experiments.report import experiment_report
from recsys.generate import generate_events
from recsys.ingest import ingest
from recsys.registry import Registry
from recsys.simulate import load_truth
from recsys.simulate.behaviour import Behaviour, react
from recsys.simulate.client import check_loopback, simulate
from recsys.training import run_training


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("simab")
    generate_events(root / "landing", users=300, items=120, days=7, seed=5)
    ingest([root / "landing"], root / "lake")
    run_training(root / "lake", root / "registry", models=["popularity", "itemknn"], split="loo", promote=True)
    return root


def _copy(trained: Path, dest: Path) -> Registry:
    shutil.copytree(trained / "registry", dest / "registry")
    shutil.copytree(trained / "lake", dest / "lake")
    return Registry(dest / "registry")


def test_the_truly_better_treatment_wins_a_small_simulated_ab(trained, tmp_path):
    reg = _copy(trained, tmp_path)
    ExperimentStore(reg.root).start(Experiment("knn", {"control": Arm("popularity"), "treatment": Arm("itemknn")},
                                               {"control": 50, "treatment": 50}, salt="s"))
    settings = settings_for(reg, experiments_poll_s=0, landing_dir=tmp_path / "served")
    with serve(settings) as base:
        sim = simulate(base, trained / "landing", users=300, requests=1200, seed=1)
    assert sim.requests == 1200 and sim.errors == 0 and set(sim.by_arm) == {"control", "treatment"}
    ingested = ingest([tmp_path / "served"], tmp_path / "lake").to_dict()
    assert ingested["impressions"]["rows_written"] == 1200 and ingested["conserved"]
    rep = experiment_report(reg.root, tmp_path / "lake", "knn")
    arms = rep["arms"]
    assert arms["control"]["impressions"] + arms["treatment"]["impressions"] == 1200
    assert arms["control"]["clicks"] + arms["treatment"]["clicks"] == sim.clicks
    assert rep["attribution"]["exact"] == sim.clicks + sum(t["purchases"] for t in sim.by_arm.values()) \
        and rep["attribution"]["window"] == 0
    assert arms["treatment"]["ctr"] > arms["control"]["ctr"]
    assert rep["lift"]["p_value"] < 0.05 and rep["lift"]["ci"][0] > 0 and rep["srm"]["ok"]
    assert arms["treatment"]["offline"]["model"] == "itemknn" and "ndcg@10" in arms["treatment"]["offline"]["metrics"]
    html = render_experiment_html(rep)
    assert "<script src" not in html and "knn" in html and "itemknn" in html
    with serve(settings) as base:  # the service reports from the lake next to its registry
        served = httpx.get(f"{base}/experiments/knn", params={"format": "json"}, timeout=60).json()
        page = httpx.get(f"{base}/experiments/knn", timeout=60)
    assert served["arms"]["treatment"]["clicks"] == arms["treatment"]["clicks"]
    assert served["lift"]["p_value"] == pytest.approx(rep["lift"]["p_value"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_a_simulated_interleaving_prefers_the_truly_better_arm_with_users_as_the_unit(trained, tmp_path):
    reg = _copy(trained, tmp_path)
    ExperimentStore(reg.root).start(Experiment("mix", {"control": Arm("popularity"), "treatment": Arm("itemknn")},
                                               {"control": 50, "treatment": 50}, mode="interleaving", salt="s"))
    with serve(settings_for(reg, experiments_poll_s=0, landing_dir=tmp_path / "served")) as base:
        sim = simulate(base, trained / "landing", users=200, requests=800, seed=2)
    assert sim.errors == 0
    ingest([tmp_path / "served"], tmp_path / "lake")
    rep = experiment_report(reg.root, tmp_path / "lake", "mix")
    it, users = rep["interleaving"], rep["interleaving"]["user_level"]
    assert it["arm_a"] == "control" and it["losses"] > it["wins"], "item-kNN's items are clicked more"
    assert 2 <= users["users"] <= 200 and users["mean_preference"] < 0 and users["ci"][1] < 0
    assert rep["lift"]["p_value"] == users["p_value"] < 0.05
    assert users["p_value"] <= users["always_valid_p_value"] <= 1.0
    assert "users as the unit" in render_experiment_html(rep)


def test_the_simulator_is_deterministic_for_a_seed_and_loopback_only(trained, tmp_path):
    runs = []
    for n in range(2):
        reg = _copy(trained, tmp_path / str(n))
        with serve(settings_for(reg, landing_dir=tmp_path / str(n) / "served")) as base:
            runs.append(simulate(base, trained / "landing", users=100, requests=150, seed=9).to_dict())
    for r in runs:
        r.pop("seconds"), r.pop("service")
    assert runs[0] == runs[1] and runs[0]["clicks"] > 0
    with pytest.raises(InputError, match="loopback"):
        check_loopback("http://example.com:8000")
    truth = load_truth(trained / "landing")
    a = react(truth, Behaviour(), 3, int(truth.last_item[3]), ["i1", "i2", "x"], np.random.default_rng(4))
    b = react(truth, Behaviour(), 3, int(truth.last_item[3]), ["i1", "i2", "x"], np.random.default_rng(4))
    assert a == b and 3 not in a.clicked  # an id the generator never made is never clicked
