"""The file-system model registry: versions, checksums, aliases, the promotion gate, rollback, gc, runs."""

from __future__ import annotations

import json
import threading

import pytest
from typer.testing import CliRunner

from recsys.cli import _load_commands
from recsys.cli.app import app
from recsys.data import Interactions
from recsys.errors import ArtifactError, InputError
from recsys.models import create_model
from recsys.registry import ModelEntry, Registry, RunStore, TrainingRun, new_run_id

DATA = Interactions.from_sequences({"a": ["x", "y", "z"], "b": ["y", "z"], "c": ["z", "w"], "d": ["w", "x"]})


@pytest.fixture(scope="module")
def model():
    return create_model("popularity").fit(DATA)


@pytest.fixture
def reg(tmp_path):
    return Registry(tmp_path / "reg")


def test_register_writes_an_immutable_numbered_version_with_a_manifest(reg, model):
    v1 = reg.register("pop", model, metrics={"ndcg@10": 0.2}, data={"rows": 9, "start": "2026-01-01"},
                      params={"note": "x"}, run_id="r1")
    v2 = reg.register("pop", model, metrics={"ndcg@10": 0.3})
    assert (v1.version, v2.version) == (1, 2)
    assert sorted(p.name for p in v1.path.iterdir()) == ["artifact", "manifest.json"]
    manifest = json.loads((v1.path / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["metrics"] == {"ndcg@10": 0.2} and manifest["run_id"] == "r1"
    assert manifest["data"]["rows"] == 9 and manifest["params"]["note"] == "x" and "weighted" in manifest["params"]
    assert "numpy" in manifest["libraries"] and manifest["created"].endswith("Z")
    assert set(manifest["files"]) == {f"artifact/{p.name}" for p in (v1.path / "artifact").iterdir()}
    assert [v.version for v in reg.versions("pop")] == [1, 2] and reg.names() == ["pop"]


def test_load_verifies_checksums_and_refuses_damage(reg, model):
    mv = reg.register("pop", model, metrics={})
    reg.set_alias("pop", "production", mv.version)
    loaded, got = reg.load("pop")
    assert got.version == 1 and list(loaded.recommend("new", k=2)[0]) == list(model.recommend("new", k=2)[0])
    weights = mv.path / "artifact" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:-3] + b"xyz")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        reg.load("pop", 1)
    mv2 = reg.register("pop", model, metrics={})
    (mv2.path / "artifact" / "extra.bin").write_bytes(b"?")
    with pytest.raises(ArtifactError, match="differ from the manifest"):
        reg.load("pop", 2)
    mv3 = reg.register("pop", model, metrics={})
    (mv3.path / "manifest.json").unlink()  # what a half-copied version looks like
    with pytest.raises(ArtifactError, match="missing"):
        reg.load("pop", 3)


@pytest.mark.parametrize("bad", ["../evil", "a/b", "..", ".hidden", "_runs", "", "x" * 65, "a\\b"])
def test_names_are_validated_against_path_traversal(reg, model, bad):
    with pytest.raises(ValueError, match="invalid"):
        reg.register(bad, model, metrics={})


def test_versions_and_aliases_are_validated(reg, model):
    reg.register("pop", model, metrics={})
    for bad in (0, -1, "1/../2", True):
        with pytest.raises((ValueError, InputError)):
            reg.load("pop", bad)
    with pytest.raises(InputError, match="no version 7"):
        reg.load("pop", 7)
    with pytest.raises(InputError, match="no alias"):
        reg.load("pop", "production")
    with pytest.raises(ValueError, match="invalid alias"):
        reg.set_alias("pop", "../x", 1)
    with pytest.raises(ValueError, match="would be read as a version"):
        reg.set_alias("pop", "3", 1)
    with pytest.raises(InputError, match="no model named"):
        reg.load("nope")


def test_promotion_gate_compares_with_production_and_records_the_decision(reg, model):
    for value in (0.30, 0.25, 0.295, 0.40):
        reg.register("m", model, metrics={"ndcg@10": value, "hr@10": 1 - value})
    first = reg.promote("m", 1)
    assert first.promoted and first.previous_version is None
    worse = reg.promote("m", 2)
    assert not worse.promoted and worse.candidate_value == 0.25 and worse.production_value == 0.30
    assert reg.aliases("m")["production"] == 1
    assert reg.promote("m", 3, tolerance=0.01).promoted  # within tolerance
    assert reg.promote("m", 2, metric="hr@10").promoted  # another metric says it is better
    assert reg.promote("m", 1, force=True).promoted
    log = reg.decisions("m")
    assert [d["promoted"] for d in log] == [True, False, True, True, True]
    assert log[1]["production_value"] == 0.30 and log[1]["candidate_value"] == 0.25 and "worse" in log[1]["reason"]
    assert reg.aliases("m") == {"production": 1}
    with pytest.raises(ValueError, match="tolerance"):
        reg.promote("m", 4, tolerance=-1)


def test_candidate_without_the_metric_is_refused_unless_forced(reg, model):
    reg.register("m", model, metrics={"ndcg@10": 0.1})
    reg.register("m", model, metrics={})
    reg.promote("m", 1)
    assert not reg.promote("m", 2).promoted
    assert reg.promote("m", 2, force=True).promoted


def test_rollback_returns_to_the_previous_production_version(reg, model):
    for value in (0.1, 0.2, 0.3):
        reg.register("m", model, metrics={"ndcg@10": value})
        reg.promote("m", len(reg.versions("m")))
    assert reg.aliases("m")["production"] == 3
    back = reg.rollback("m")
    assert back.promoted and back.version == 2 and "rollback" in back.reason
    assert reg.rollback("m", 1).version == 1 and reg.aliases("m")["production"] == 1


def test_gc_keeps_the_newest_and_every_aliased_version(reg, model):
    for _ in range(6):
        reg.register("m", model, metrics={})
    reg.set_alias("m", "production", 2)
    reg.set_alias("m", "candidate", 1)
    assert [(m.name, m.version) for m in reg.gc(keep_last=2, dry_run=True)] == [("m", 3), ("m", 4)]
    removed = reg.gc(keep_last=2)
    assert [m.version for m in removed] == [3, 4]
    assert [v.version for v in reg.versions("m")] == [1, 2, 5, 6]
    assert reg.register("m", model, metrics={}).version == 7  # numbers are never reused
    with pytest.raises(ValueError):
        reg.gc(keep_last=0)


def test_concurrent_registration_gets_distinct_versions(reg, model):
    got, errors = [], []

    def work() -> None:
        try:
            for _ in range(3):
                got.append(reg.register("m", model, metrics={}).version)
        except Exception as err:  # collected so the assertion below shows it
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(got) == list(range(1, 13))
    for v in reg.versions("m"):
        assert v.manifest["version"] == v.version
        reg.load("m", v.version)  # every version intact
    assert not [p for p in (reg.root / "m").iterdir() if p.name.startswith(".tmp-")]


def test_run_store_saves_lists_and_gets_typed_records(reg):
    store = RunStore(reg.root)
    assert store.latest() is None and store.list() == []
    entry = ModelEntry(version=1, params={}, metrics={"ndcg@10": 0.1}, train_seconds=1.0)
    first = store.save(TrainingRun(run_id=new_run_id(), models={"als": entry}))
    store.save(TrainingRun(run_id="run-2", models={}, recorded="2999-01-01T00:00:00Z"))
    assert first.recorded is not None
    assert store.get(first.run_id).models["als"].metrics["ndcg@10"] == 0.1
    assert [r.run_id for r in store.list()] == [first.run_id, "run-2"] and store.latest().run_id == "run-2"
    with pytest.raises(ValueError):
        store.get("../x")
    with pytest.raises(InputError):
        store.get("nope")
    assert reg.names() == []  # _runs is not a model


def test_registering_the_same_artifact_for_the_same_run_returns_the_same_version(reg, model, tmp_path):
    artifact = model.save(tmp_path / "artifact")
    first = reg.register_artifact("m", artifact, metrics={"ndcg@10": 0.2}, run_id="run-1")
    again = reg.register_artifact("m", artifact, metrics={"ndcg@10": 0.2}, run_id="run-1")
    other_run = reg.register_artifact("m", artifact, metrics={"ndcg@10": 0.2}, run_id="run-2")
    assert first.version == again.version == 1 and other_run.version == 2
    assert first.manifest["files"] == other_run.manifest["files"]  # copied byte for byte
    assert [v.version for v in reg.versions("m")] == [1, 2]
    loaded, _ = reg.load("m", 1)
    assert loaded.get_params() == model.get_params()


def test_cli_list_show_promote_rollback_gc(reg, model):
    _load_commands()
    for value in (0.3, 0.1):
        reg.register("m", model, metrics={"ndcg@10": value})
    runner = CliRunner()
    root = str(reg.root)
    res = runner.invoke(app, ["registry", "promote", "m", "1", "--registry", root, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["promoted"]
    res = runner.invoke(app, ["registry", "promote", "m", "2", "--registry", root, "--json"])
    assert res.exit_code == 1 and not json.loads(res.stdout)["promoted"]
    res = runner.invoke(app, ["registry", "promote", "m", "2", "--registry", root, "--tolerance", "0.5"])
    assert res.exit_code == 0 and "promoted" in res.stdout
    res = runner.invoke(app, ["registry", "list", "--registry", root, "--json"])
    assert json.loads(res.stdout)["models"][0]["aliases"] == {"production": 2}
    res = runner.invoke(app, ["registry", "show", "m", "--registry", root, "--json"])
    assert json.loads(res.stdout)["version"] == 2
    res = runner.invoke(app, ["registry", "rollback", "m", "--registry", root, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["version"] == 1
    res = runner.invoke(app, ["registry", "gc", "--registry", root, "--keep", "1", "--json"])
    assert json.loads(res.stdout)["removed"] == []  # v1 aliased, v2 newest
    res = runner.invoke(app, ["registry", "show", "../etc", "--registry", root])
    assert res.exit_code == 2 and "invalid model name" in " ".join(res.output.split())
    res = runner.invoke(app, ["registry", "list", "--registry", root + "/missing"])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())
