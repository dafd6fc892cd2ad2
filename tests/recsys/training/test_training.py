"""The training steps end to end on a small generated lake: split -> train/evaluate -> register -> run record."""

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from recsys.errors import InputError
from recsys.models import load_model
from recsys.models.base import Recommender
from recsys.registry import Registry, RunStore
from recsys.splits import Split
from recsys.training import (
    fit_model,
    model_params,
    prepare_split,
    read_evaluation,
    register_models,
    run_training,
    train_model,
    with_catalog,
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    from recsys.generate import generate_events
    from recsys.ingest import ingest

    root = tmp_path_factory.mktemp("gen")
    generate_events(root / "raw", users=150, items=60, days=6, seed=3)
    ingest(sorted((root / "raw").glob("events-*.jsonl")), root / "lake")
    return root / "lake"


@pytest.fixture(scope="module")
def split_dir(lake, tmp_path_factory):
    return prepare_split(lake, tmp_path_factory.mktemp("split") / "loo", split="loo")


def test_prepare_split_writes_a_loadable_split(split_dir, lake):
    split = Split.load(split_dir)
    assert split.kind == "loo" and len(split.test) > 100
    assert split.info["lake"] == str(lake) and split.info["dataset"]["weights"]["purchase"] == 5.0
    assert split.info["n_items"] == split.train.n_items


def test_train_model_writes_artifact_and_evaluation(split_dir, tmp_path):
    out = train_model(split_dir, "ease", tmp_path / "ease", params={"reg": 50.0})
    ev = read_evaluation(out)
    assert (out / "artifact" / "config.json").exists()
    assert ev["model"] == "ease" and ev["params"]["reg"] == 50.0 and ev["train_seconds"] > 0
    for k in (1, 5, 10, 20):
        for m in ("ndcg", "hr", "recall", "mrr", "coverage", "novelty", "avg_popularity"):
            assert f"{m}@{k}" in ev["metrics"]
    lo, hi = ev["intervals"]["ndcg@10"]
    assert lo <= ev["metrics"]["ndcg@10"] <= hi
    assert ev["segments"]["warm"]["n_users"] == ev["n_users"]
    assert len(ev["samples"]) == 8 and all(len(s["top"]) == 10 for s in ev["samples"])
    assert ev["protocol"] == "fit on the whole training period"
    again = train_model(split_dir, "ease", tmp_path / "ease", params={"reg": 50.0})  # a retry replaces the folder
    assert read_evaluation(again)["metrics"] == ev["metrics"]


SMALL_SASREC = {"hidden": 16, "max_len": 10, "batch_size": 64}


def test_early_stopping_models_fit_without_the_validation_period(split_dir, tmp_path):
    out = train_model(split_dir, "sasrec", tmp_path / "sasrec", epochs=1, params=SMALL_SASREC, device="cpu",
                      refit=False)
    ev = read_evaluation(out)
    assert ev["protocol"].startswith("fit on train minus the validation period, early stopping")
    assert ev["protocol"].endswith("validation events given as live history at test") and "refit" not in ev
    assert ev["params"]["epochs"] == 1 and ev["params"]["random_state"] == 0 and ev["device"] == "cpu"
    assert ev["epochs"]["epochs_trained"] == 1


def test_early_stopping_models_are_refit_on_the_whole_training_period(split_dir, tmp_path):
    split = Split.load(split_dir)
    out = train_model(split_dir, "sasrec", tmp_path / "sasrec", epochs=3, params={**SMALL_SASREC, "patience": 1},
                      device="cpu")
    ev = read_evaluation(out)
    assert ev["protocol"].endswith("then refit on the whole training period for the best epoch count")
    best = ev["epochs"]["best_epoch"]
    assert 1 <= best <= ev["epochs"]["epochs_trained"] <= 3 and ev["params"]["epochs"] == 3
    assert ev["refit"]["epochs"] == best and 0 < ev["refit"]["seconds"] <= ev["train_seconds"]
    served = load_model(out / "artifact")  # the refit model, trained for the best epoch count
    assert served.get_params()["epochs"] == best and served.epochs_trained_ == best
    user, (target,) = next(iter(split.validation.items()))
    history = served.items_.external(served.sequences_[served.users_.index([user])[0]])
    assert target in set(history)  # the validation period was learnt, not passed as live history


def test_validating_on_a_share_of_users_trains_on_the_others_validation_events_without_a_refit(split_dir, tmp_path):
    split = Split.load(split_dir)
    out = train_model(split_dir, "sasrec", tmp_path / "sasrec", epochs=2, params=SMALL_SASREC, device="cpu",
                      validation_users=0.5)
    ev = read_evaluation(out)
    assert "refit" not in ev and "early stopping on those targets (no refit)" in ev["protocol"]
    view = split.with_validation_users(0.5, seed=0)
    served = load_model(out / "artifact")
    learnt = {u: set(served.items_.external(served.sequences_[served.users_.index([u])[0]])) for u in split.validation}
    held = set(view.validation)
    assert 0 < len(held) < len(split.validation)
    assert all(split.validation[u][0] in learnt[u] for u in split.validation if u not in held)  # trained on
    assert not any(split.validation[u][0] in learnt[u] for u in held if split.validation[u][0] not in
                   set(split.events[split.events["fit"] & (split.events["user_id"] == u)]["item_id"]))


def test_register_models_records_the_run_and_gates(split_dir, tmp_path):
    trained = [train_model(split_dir, m, tmp_path / m) for m in ("popularity", "ease")]
    registry = tmp_path / "registry"
    first = register_models(trained, registry, promote=True)
    assert first["models"]["ease"]["version"] == 1 and first["models"]["ease"]["promoted"] is True
    assert first["models"]["ease"]["ndcg@10"] > first["models"]["popularity"]["ndcg@10"]
    reg = Registry(registry)
    assert reg.aliases("ease") == {"production": 1}
    record = RunStore(registry).get(first["run_id"]).to_dict()
    entry = record["models"]["ease"]
    assert {"params", "train_seconds", "version", "metrics", "ci", "segments", "gate", "popularity"} <= set(entry)
    assert entry["gate"]["promoted"] is True and record["split"] == "loo"
    assert record["samples"] and set(record["samples"][0]["recommendations"]) == {"popularity", "ease"}
    second = register_models(trained, registry)  # no promotion: production stays
    assert second["models"]["ease"]["version"] == 2 and second["models"]["ease"]["promoted"] is None
    assert reg.aliases("ease") == {"production": 1}


class _BlasProbe(Recommender):
    """Records the BLAS thread count seen during fit; declared like an implicit-based model."""

    name = "probe"
    single_thread_blas = True

    def _fit(self, data, validation):
        from threadpoolctl import threadpool_info

        self.blas_threads_ = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    def _score(self, users, histories):
        raise NotImplementedError


def test_implicit_models_fit_with_one_blas_thread(split_dir):
    probe = _BlasProbe()
    seconds = fit_model(probe, Split.load(split_dir))
    assert seconds >= 0 and probe.blas_threads_ and set(probe.blas_threads_) == {1}


def test_model_params_maps_epochs_seed_and_device():
    assert model_params("als", epochs=7, seed=5)["iterations"] == 7
    assert model_params("als", seed=5)["random_state"] == 5
    assert model_params("sasrec", epochs=3, device="cpu") == {"random_state": 0, "device": "cpu", "epochs": 3}
    assert model_params("popularity", epochs=3) == {}
    with pytest.raises(InputError, match="no parameter nope"):
        model_params("ease", {"nope": 1})
    with pytest.raises(InputError, match="unknown model"):
        model_params("xgboost")


def test_run_training_temporal_split(lake, tmp_path):
    result = run_training(lake, tmp_path / "reg", models=["popularity", "itemknn"], split="temporal",
                          cutoff=datetime(2026, 1, 5, tzinfo=UTC), params={"itemknn": {"K": 20}},
                          work_dir=tmp_path / "work")
    assert set(result["models"]) == {"popularity", "itemknn"}
    split = Split.load(tmp_path / "work" / "split")
    assert split.info["cutoff"].startswith("2026-01-05T00:00:00")
    record = RunStore(tmp_path / "reg").get(result["run_id"]).to_dict()
    assert record["data"]["cutoff"] == split.info["cutoff"]
    assert {"cold", "warm"} & set(record["models"]["itemknn"]["segments"])


def test_cli_train_json_and_errors(lake, tmp_path):
    from recsys.cli import _load_commands, app

    _load_commands()
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--lake", str(lake), "--registry", str(tmp_path / "reg"),
                              "--models", "popularity,ease", "--param", "ease.reg=80", "--json"])
    assert res.exit_code == 0, res.output
    assert len(res.stdout.strip().splitlines()) == 1, res.stdout  # exactly one JSON object on stdout
    out = json.loads(res.stdout)
    assert set(out["models"]) == {"popularity", "ease"} and out["run_id"]
    assert {"ndcg@10", "hr@10", "coverage@10", "train_seconds", "version"} <= set(out["models"]["ease"])
    bad = [
        (["--lake", str(tmp_path / "none")], "does not exist"),
        (["--lake", str(lake), "--models", "popularity,magic"], "unknown model"),
        (["--lake", str(lake), "--models", "popularity", "--from", "2030-01-01"], "no usable events"),
        (["--lake", str(lake), "--models", "ease", "--param", "ease=1"], "MODEL.KEY=VALUE"),
        (["--lake", str(lake), "--models", "popularity", "--validation-users", "0"], "share of validation users"),
    ]
    for args, message in bad:
        res = runner.invoke(app, ["train", "--registry", str(tmp_path / "reg2"), *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in " ".join(res.output.split()), res.output



def test_models_that_read_a_catalogue_get_the_lakes_unless_given_one(tmp_path) -> None:
    """The DAG's train task and `recsys train` give the ranker and content models the lake's catalogue."""
    from recsys.catalog import load_catalog

    lake = tmp_path / "lake"
    assert with_catalog("ranker", None, lake) == {}  # no catalogue yet
    src = tmp_path / "items.jsonl"
    src.write_text(json.dumps({"item_id": "a", "category": "home"}) + "\n")
    load_catalog(src, lake)
    assert with_catalog("ranker", {"n_candidates": 50}, lake) == {"n_candidates": 50, "catalog": str(lake)}
    assert with_catalog("content", None, lake) == {"catalog": str(lake)}
    assert with_catalog("ranker", {"catalog": "/other"}, lake) == {"catalog": "/other"}
    assert with_catalog("als", {"factors": 8}, lake) == {"factors": 8}
