"""Experiments as a library: statistics against hand-computed values, assignment, team-draft interleaving,
attribution, definitions with the registry, and ingestion of impressions and of events with request ids."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats

from recsys.data import Interactions
from recsys.errors import InputError
from recsys.experiments import Arm, Experiment, ExperimentStore, assign, preference, team_draft
from recsys.experiments.attribution import attribute, shown_items
from recsys.experiments.stats import (
    ArmStats,
    mixing_sd,
    msprt_p_value,
    relative_lift,
    sequential_p_values,
    sign_test,
    srm_check,
    user_preference_test,
)
from recsys.impressions import IMPRESSION_SCHEMA, read_impressions
from recsys.ingest import ingest
from recsys.lake import read_events
from recsys.models import create_model
from recsys.registry import Registry

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


# ---------------------------------------------------------------- statistics


def test_ratio_metric_variance_is_the_delta_method_by_hand():
    x, y = [1, 2, 3, 4], [0, 1, 1, 3]
    s = ArmStats.from_arrays(x, y)
    assert s.value == pytest.approx(5 / 10)
    mx, my = 2.5, 1.25
    vx, vy = np.var(x, ddof=1), np.var(y, ddof=1)
    cxy = np.cov(x, y, ddof=1)[0, 1]
    r = my / mx
    assert s.variance == pytest.approx((vy - 2 * r * cxy + r * r * vx) / (mx * mx * 4))
    assert (ArmStats.from_arrays(x[:2], y[:2]) + ArmStats.from_arrays(x[2:], y[2:])) == s


def test_relative_lift_of_means_matches_a_hand_computation():
    control = ArmStats.from_arrays(np.ones(4), [1, 2, 3, 4])  # mean 2.5, var 5/3
    treatment = ArmStats.from_arrays(np.ones(4), [2, 3, 4, 5])  # mean 3.5, var 5/3
    out = relative_lift(control, treatment)
    var_c, var_t = (5 / 3) / 4, (5 / 3) / 4
    se = math.sqrt(var_t / 2.5**2 + 3.5**2 * var_c / 2.5**4)
    assert out.relative == pytest.approx(0.4)
    assert out.se == pytest.approx(se)
    assert out.ci == pytest.approx((0.4 - 1.959964 * se, 0.4 + 1.959964 * se), rel=1e-5)
    assert out.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(0.4 / se / math.sqrt(2)))))


def test_srm_flags_a_skewed_split_and_passes_a_fair_one():
    assert srm_check({"a": 600, "b": 400}, {"a": 50, "b": 50})["ok"] is False
    fair = srm_check({"a": 505, "b": 495}, {"a": 50, "b": 50})
    assert fair["ok"] is True and fair["p_value"] == pytest.approx(0.7518, abs=1e-3)
    assert srm_check({"a": 300, "b": 700}, {"a": 30, "b": 70})["ok"] is True


def test_msprt_is_more_conservative_than_fixed_horizon_and_its_running_minimum_never_rises():
    assert msprt_p_value(0.0, 0.05) == 1.0
    assert msprt_p_value(0.2, 0.05) < 0.05 < msprt_p_value(0.1, 0.05)  # z = 2 passes fixed-horizon, not mSPRT
    seq = sequential_p_values([(0.2, 0.05, 1000), (0.0, 0.05, 1000), (0.1, 0.05, 1000)])
    assert seq[0] == seq[1] == seq[2] == msprt_p_value(0.2, 0.05, 0.05)  # tau = se at the tuning size


def test_sign_test_by_hand():
    assert sign_test(0, 0) == 1.0
    assert sign_test(9, 1) == pytest.approx(2 * 11 / 1024)


def test_user_level_preference_test_by_hand_and_against_clustered_requests():
    out = user_preference_test([1.0, 1.0, -1.0, 0.0, 1.0])
    se = np.std([1, 1, -1, 0, 1], ddof=1) / math.sqrt(5)
    assert out["users"] == 5 and out["mean_preference"] == pytest.approx(0.4) and out["se"] == pytest.approx(se)
    normal_p = 2 * (1 - 0.5 * (1 + math.erf(0.4 / se / math.sqrt(2))))
    assert out["p_value"] == pytest.approx(2 * scipy.stats.t.sf(0.4 / se, 4))  # Student's t, 4 degrees of freedom
    assert out["p_value"] > normal_p  # the normal test would overstate significance with five users
    assert out["always_valid_p_value"] == pytest.approx(msprt_p_value(0.4, se, mixing_sd(se, 5)))
    # One heavy user who won 60 requests and 20 users split evenly: the request-level sign test calls it, users don't.
    assert sign_test(60 + 10, 10) < 1e-6
    users = user_preference_test([1.0] + [1.0] * 10 + [-1.0] * 10)
    assert users["p_value"] > 0.5
    assert math.isnan(user_preference_test([1.0])["p_value"])


# ---------------------------------------------------------------- assignment and interleaving


def test_assignment_is_deterministic_weighted_and_independent_across_salts():
    users = [f"u{i}" for i in range(20_000)]
    first = [assign("s1", u, {"control": 30, "treatment": 70}) for u in users]
    assert first == [assign("s1", u, {"control": 30, "treatment": 70}) for u in users]
    share = first.count("treatment") / len(users)
    assert 0.68 < share < 0.72
    other = [assign("s2", u, {"a": 50, "b": 50}) for u in users]
    both = sum(1 for f, o in zip(first, other, strict=True) if f == "treatment" and o == "a") / len(users)
    assert both == pytest.approx(0.7 * 0.5, abs=0.015)  # independent: P(treatment and a) = P(treatment) P(a)


def test_team_draft_credits_each_item_to_the_team_that_picked_it():
    a = ["x1", "x2", "s", "x3", "x4"]
    b = ["s", "y1", "y2", "y3", "x1"]
    for seed in ("r1", "r2", "r3", "r4"):
        items, credit = team_draft(a, b, 6, seed, ("A", "B"))
        assert len(items) == len(set(items)) == 6
        assert abs(credit.count("A") - credit.count("B")) <= 1
        picked_a = [i for i, c in zip(items, credit, strict=True) if c == "A"]
        picked_b = [i for i, c in zip(items, credit, strict=True) if c == "B"]
        assert picked_a == [i for i in a if i in picked_a]  # each team picks in its own order
        assert picked_b == [i for i in b if i in picked_b]
        assert (items, credit) == team_draft(a, b, 6, seed, ("A", "B"))
    assert preference(["A", "B", "A"], [1, 3], ("A", "B")) == 1
    assert preference(["A", "B", "A"], [2], ("A", "B")) == -1
    assert preference(["A", "B"], [1, 2], ("A", "B")) == 0


# ---------------------------------------------------------------- attribution


def _impressions(rows):
    return pa.Table.from_pylist([{"surface": "user", "model": "m", "version": 1, "experiment": "e",
                                  "credit": None, "item_id": None} | r for r in rows], schema=IMPRESSION_SCHEMA)


def test_attribution_exact_by_request_id_else_latest_impression_within_the_window():
    t = NOW
    imps = _impressions([
        {"request_id": "r1", "ts": t, "user_id": "u1", "arm": "a", "items": ["i1", "i2"]},
        {"request_id": "r2", "ts": t + timedelta(hours=1), "user_id": "u1", "arm": "a", "items": ["i2", "i3"]},
        {"request_id": "r3", "ts": t + timedelta(hours=2), "user_id": "u2", "arm": "b", "items": ["i1"]},
    ])
    ev = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4", "e5", "e6"],
        "user_id": ["u1", "u1", "u1", "u1", "u2", "u1"],
        "item_id": ["i2", "i2", "i1", "i3", "i9", "i1"],
        "event_type": ["click"] * 6,
        "ts": pd.to_datetime([t + timedelta(hours=h) for h in (3, 3, 3, 30, 3, 3)]).astype("datetime64[ns, UTC]"),
        "value": [None] * 6,
        "request_id": ["r1", None, None, None, None, "r3"],  # e6 names another user's list: not exact
    })
    out = attribute(shown_items(imps), ev).set_index("event_id")
    assert out.loc["e1", ["imp_request_id", "imp_position", "how"]].tolist() == ["r1", 2, "exact"]
    assert out.loc["e2", ["imp_request_id", "imp_position", "how"]].tolist() == ["r2", 1, "window"]  # the latest
    assert out.loc["e3", ["imp_request_id", "how"]].tolist() == ["r1", "window"]
    assert out.loc["e6", ["imp_request_id", "how"]].tolist() == ["r1", "window"]
    assert "e4" not in out.index  # 29 h after the impression: outside the 24 h window
    assert "e5" not in out.index  # never shown
    narrow = attribute(shown_items(imps), ev, timedelta(hours=1)).set_index("event_id")
    assert "e3" not in narrow.index and narrow.loc["e1", "how"] == "exact"


# ---------------------------------------------------------------- definitions


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "reg")
    data = Interactions.from_sequences({"a": ["x", "y"], "b": ["y", "z"], "c": ["z", "x"]})
    for name in ("popularity", "other"):
        mv = reg.register(name, create_model("popularity").fit(data), metrics={"ndcg@10": 0.5})
        reg.promote(name, mv.version)
    return reg


def test_definitions_are_validated_stored_with_the_registry_and_stopped(registry):
    store = ExperimentStore(registry.root)
    arms = {"control": Arm.parse("popularity"), "treatment": Arm.parse("other@1")}
    exp = store.start(Experiment("e1", arms, {"control": 50, "treatment": 50}))
    assert exp.running and exp.salt and exp.versions == {"control": 1, "treatment": 1}
    assert (registry.root / "_experiments" / "e1.json").is_file() and registry.names() == ["other", "popularity"]
    with pytest.raises(InputError, match="already running"):
        store.start(Experiment("e1", arms, {"control": 50, "treatment": 50}))
    assert [e.name for e in store.list()] == ["e1"]
    assert store.stop("e1").running is False
    with pytest.raises(InputError, match="not running"):
        store.stop("e1")
    with pytest.raises(InputError, match="cannot be served"):
        store.start(Experiment("e2", {"c": Arm("popularity"), "t": Arm("nope")}, {"c": 1, "t": 1}))
    with pytest.raises(InputError, match="no version 7"):
        store.start(Experiment("e3", {"c": Arm("popularity"), "t": Arm("other", 7)}, {"c": 1, "t": 1}))
    with pytest.raises(InputError, match="at least two arms"):
        store.start(Experiment("e4", {"c": Arm("popularity")}, {"c": 1}))
    with pytest.raises(InputError, match="--mode"):
        store.start(Experiment("e5", arms, {"control": 1, "treatment": 1}, mode="bandit"))
    with pytest.raises(InputError, match="version after '@'"):
        Arm.parse("als@x")


# ---------------------------------------------------------------- ingestion


def _impression_line(rid, **kw):
    return json.dumps({"request_id": rid, "ts": "2026-03-09T10:00:00.000000+00:00", "surface": "user",
                       "user_id": "u1", "model": "als", "version": 2, "experiment": "e", "arm": "control",
                       "items": ["i1", "i2"], "credit": None} | kw)


def test_impressions_are_validated_quarantined_deduplicated_and_conserved(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    lines = [_impression_line("r1"), _impression_line("r2"), _impression_line("r1"), "{not json",
             _impression_line("", items=["i1"]), _impression_line("r3", items="i1"),
             _impression_line("r4", ts="1970-01-01T00:00:00Z"), _impression_line("r5", credit=["a"]),
             _impression_line("r6", surface="email")]
    (landing / "impressions-2026-03-09T10-1.jsonl").write_text("\n".join(lines) + "\n")
    report = ingest([landing], tmp_path / "lake", now=NOW).to_dict()
    imp = report["impressions"]
    assert imp["rows_read"] == 9 and imp["rows_written"] == 2 and imp["duplicates"] == 1
    assert imp["rows_quarantined"] == 6 and imp["conserved"] and report["conserved"]
    assert imp["reasons"] == {"malformed_json": 1, "missing_request_id": 1, "bad_items": 1, "ts_too_old": 1,
                              "bad_credit": 1, "bad_surface": 1}
    table = read_impressions(tmp_path / "lake")
    assert sorted(table["request_id"].to_pylist()) == ["r1", "r2"]
    assert table["items"].to_pylist()[0] == ["i1", "i2"]
    assert [p.name for p in (tmp_path / "lake" / "impressions").iterdir()] == ["dt=2026-03-09"]
    quarantined = pq.read_table(next((tmp_path / "lake" / "quarantine").rglob("*.parquet")))
    assert sorted(quarantined["reason"].to_pylist()) == sorted(
        ["malformed_json", "missing_request_id", "bad_items", "ts_too_old", "bad_credit", "bad_surface"])
    again = ingest([landing], tmp_path / "lake", now=NOW).to_dict()["impressions"]
    assert again["rows_written"] == 0 and again["duplicates"] == 3 and again["conserved"]


@pytest.mark.parametrize("fast", [True, False])
def test_events_carry_request_id_and_position_through_ingestion(tmp_path, fast):
    base = {"user_id": "u1", "item_id": "i1", "event_type": "click", "ts": "2026-03-09T10:00:00Z"}
    rows = [base | {"event_id": "e1", "request_id": "r1", "position": 3}, base | {"event_id": "e2"},
            base | {"event_id": "e3", "position": "4", "request_id": "r2"}, base | {"event_id": "e4", "position": 0},
            base | {"event_id": "e5", "position": 2.5}, base | {"event_id": "e6", "position": "top"}]
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = ingest([src], tmp_path / "lake", now=NOW, fast=fast)
    assert report.rows_written == 3 and report.rows_quarantined == 3 and report.conserved
    assert set(report.reasons) <= {"bad_position", "bad_type_position"} and report.reasons.get("bad_position")
    got = read_events(tmp_path / "lake").to_pylist()
    by_id = {r["event_id"]: (r["request_id"], r["position"]) for r in got}
    assert by_id == {"e1": ("r1", 3), "e2": (None, None), "e3": ("r2", 4)}


def test_experiment_commands_start_list_stop_and_refuse_clearly(registry, tmp_path):
    from typer.testing import CliRunner

    from recsys.cli import _load_commands
    from recsys.cli.app import app

    _load_commands()
    run = CliRunner().invoke
    reg = str(registry.root)
    ok = run(app, ["experiment", "start", "w", "--registry", reg, "--arm", "control=popularity",
                   "--arm", "treatment=other@1", "--weight", "control=20", "--weight", "treatment=80", "--salt", "s"])
    assert ok.exit_code == 0, ok.output
    listed = json.loads(run(app, ["experiment", "list", "--registry", reg, "--json"]).output)
    exp = listed["experiments"][0]
    assert exp["weights"] == {"control": 20.0, "treatment": 80.0} and exp["arms"]["treatment"] == "other@1"
    assert exp["salt"] == "s" and exp["status"] == "running"
    bad = run(app, ["experiment", "start", "x", "--registry", reg, "--arm", "control=popularity",
                    "--arm", "treatment=other", "--weight", "nobody=5"])
    assert bad.exit_code == 2 and "no --arm defines" in bad.output
    empty = run(app, ["experiment", "report", "w", "--registry", reg, "--lake", str(tmp_path / "lake"), "--json"])
    assert empty.exit_code == 2 and "no impressions" in empty.output and "Traceback" not in empty.output
    assert run(app, ["experiment", "stop", "w", "--registry", reg]).exit_code == 0
    assert ExperimentStore(registry.root).get("w").running is False
