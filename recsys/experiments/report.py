"""The experiment report: impressions and events from the lake, attributed, summed per user and arm, then tested.

`experiment_report` returns one JSON-ready dict: per arm users, impressions, clicks, CTR (share of answered lists
with a click), conversion rate (users with an attributed purchase), revenue per user, coverage of what was shown and
the arm version's offline metrics; the relative lift of each metric with its 95 % interval, fixed-horizon p-value and
always-valid (mSPRT) p-value over daily looks; the sample-ratio-mismatch check; for interleaving, wins/ties/losses
per request and the test of the mean preference per user (users as the unit, fixed and always-valid p-values).
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.errors import InputError
from recsys.experiments.attribution import attribute, shown_items
from recsys.experiments.definitions import Experiment, ExperimentStore
from recsys.experiments.interleaving import preference
from recsys.experiments.stats import (
    ArmStats,
    interleaving_summary,
    relative_lift,
    sequential_p_values,
    srm_check,
    user_preference_test,
)
from recsys.impressions import read_impressions
from recsys.lake import events_dataset

CLICK_TYPES = ("click",)
PURCHASE_TYPES = ("purchase",)
METRICS = ("ctr", "conversion_rate", "revenue_per_user")
OFFLINE_KEYS = ("ndcg@10", "hr@10", "recall@10", "coverage@10", "mrr@10")


def _events(lake: Path, users: set[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Clicks and purchases of the experiment's users between its first impression and the window after its last."""
    import pyarrow.dataset as ds

    cols = ["event_id", "user_id", "item_id", "event_type", "ts", "value", "request_id"]
    try:
        dataset = events_dataset(lake)
    except InputError:
        return pd.DataFrame({c: [] for c in cols})
    expr = (ds.field("dt") >= start.date().isoformat()) & (ds.field("dt") <= end.date().isoformat()) \
        & ds.field("event_type").isin(list(CLICK_TYPES + PURCHASE_TYPES))
    df = dataset.to_table(columns=cols, filter=expr).to_pandas()
    df["ts"] = df["ts"].astype("datetime64[ns, UTC]")
    return df[df["user_id"].isin(users)]


def _per_impression(imps: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """Impressions with their attributed distinct clicks, purchases and revenue."""
    clicks = hits[hits["event_type"].isin(CLICK_TYPES)].drop_duplicates(["imp_request_id", "item_id"])
    buys = hits[hits["event_type"].isin(PURCHASE_TYPES)]
    out = imps.set_index("request_id")
    out["clicks"] = clicks.groupby("imp_request_id").size().reindex(out.index, fill_value=0)
    out["purchases"] = buys.groupby("imp_request_id").size().reindex(out.index, fill_value=0)
    out["revenue"] = buys.groupby("imp_request_id")["value"].sum().reindex(out.index, fill_value=0.0)
    return out.reset_index()


def _user_stats(per_imp: pd.DataFrame) -> pd.DataFrame:
    g = per_imp.assign(clicked=per_imp["clicks"] > 0).groupby(["arm", "user_id"])
    return pd.DataFrame({"impressions": g.size(), "clicked": g["clicked"].sum(), "clicks": g["clicks"].sum(),
                         "converted": (g["purchases"].sum() > 0).astype(float), "revenue": g["revenue"].sum()})


def _metric_stats(users: pd.DataFrame) -> dict[str, ArmStats]:
    ones = np.ones(len(users))
    return {"ctr": ArmStats.from_arrays(users["impressions"], users["clicked"]),
            "conversion_rate": ArmStats.from_arrays(ones, users["converted"]),
            "revenue_per_user": ArmStats.from_arrays(ones, users["revenue"])}


def _arm_summary(arm: str, users: pd.DataFrame, per_imp: pd.DataFrame, n_items: int) -> dict[str, Any]:
    stats = _metric_stats(users)
    shown = {i for items in per_imp["items"] for i in items}
    return {"users": len(users), "impressions": int(users["impressions"].sum()),
            "clicks": int(users["clicks"].sum()), "clicked_impressions": int(users["clicked"].sum()),
            **{m: _num(s.value) for m, s in stats.items()},
            **{f"{m}_se": _num(math.sqrt(s.variance)) if s.variance == s.variance else None
               for m, s in stats.items()},
            "items_shown": len(shown), "coverage": _num(len(shown) / n_items) if n_items else None}


def _num(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def _lift(control: ArmStats, treatment: ArmStats, looks: list[tuple[float, float, int]]) -> dict[str, Any]:
    out = relative_lift(control, treatment)
    seq = sequential_p_values([*looks, (out.relative, out.se, control.n + treatment.n)])
    return {"relative": _num(out.relative), "ci": [_num(x) for x in out.ci], "p_value": _num(out.p_value),
            "always_valid_p_value": _num(seq[-1])}


def _daily_looks(per_imp: pd.DataFrame, control: str, treatment: str, metric: str) -> list[dict[str, Any]]:
    """The lift as it stood at the end of each UTC day with data (what someone looking daily saw)."""
    days = sorted(per_imp["ts"].dt.floor("D").unique())
    looks: list[dict[str, Any]] = []
    for day in days[:-1]:  # the last look is the report itself
        seen = _user_stats(per_imp[per_imp["ts"] < day + pd.Timedelta(days=1)])
        arms = {a: _metric_stats(seen.loc[a]) for a in (control, treatment) if a in seen.index.get_level_values(0)}
        if len(arms) < 2:
            continue
        r = relative_lift(arms[control][metric], arms[treatment][metric])
        looks.append({"date": pd.Timestamp(day).date().isoformat(), "relative": _num(r.relative), "se": _num(r.se),
                      "p_value": _num(r.p_value), "users": arms[control][metric].n + arms[treatment][metric].n})
    return looks


def _offline(store: ExperimentStore, exp: Experiment, arm: str, versions: list[int]) -> dict[str, Any]:
    spec = exp.arms[arm]
    version = exp.versions.get(arm) or (max(set(versions), key=versions.count) if versions else None)
    if version is None:
        return {"model": spec.model, "version": None, "metrics": {}}
    try:
        metrics = store.registry.version(spec.model, version).metrics
    except (InputError, OSError, ValueError):
        metrics = {}
    keep = {k: v for k, v in metrics.items() if k in OFFLINE_KEYS} or dict(list(metrics.items())[:6])
    return {"model": spec.model, "version": int(version), "metrics": keep}


def _interleaving(exp: Experiment, per_imp: pd.DataFrame, hits: pd.DataFrame, n_items: int
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-arm credited clicks and the per-request preference test of an interleaving experiment."""
    a, b = list(exp.arms)[:2]
    clicks = hits[hits["event_type"].isin(CLICK_TYPES)].drop_duplicates(["imp_request_id", "item_id"])
    positions = clicks.groupby("imp_request_id")["imp_position"].apply(list)
    decided = per_imp[per_imp["request_id"].isin(positions.index)]
    prefs = [preference(credit, positions[rid], (a, b))
             for rid, credit in zip(decided["request_id"], decided["credit"], strict=True)]
    arms: dict[str, Any] = {}
    for arm in (a, b):
        mine = clicks[clicks["imp_credit"] == arm]
        team = per_imp.assign(clicks=mine.groupby("imp_request_id").size().reindex(per_imp["request_id"],
                                                                                    fill_value=0).to_numpy(),
                              arm=arm)
        team["items"] = [[i for i, c in zip(items, credit, strict=True) if c == arm]
                         for items, credit in zip(team["items"], team["credit"], strict=True)]
        arms[arm] = _arm_summary(arm, _user_stats(team).loc[arm], team, n_items)
    summary = interleaving_summary(prefs)
    summary.update({"arm_a": a, "arm_b": b, "requests_with_clicks": len(prefs)})
    by_user = decided.assign(pref=np.asarray(prefs, dtype=np.float64))[["user_id", "ts", "pref"]]
    looks = []
    for day in sorted(by_user["ts"].dt.floor("D").unique())[:-1]:  # what someone looking daily saw
        seen = user_preference_test(by_user[by_user["ts"] < day + pd.Timedelta(days=1)]
                                    .groupby("user_id")["pref"].mean().to_numpy())
        if seen["se"] == seen["se"]:
            looks.append((seen["mean_preference"], seen["se"], seen["users"]))
    users = user_preference_test(by_user.groupby("user_id")["pref"].mean().to_numpy(), looks)
    summary["user_level"] = {"users": users["users"], "ci": [_num(x) for x in users["ci"]],
                             **{k: _num(users[k]) for k in ("mean_preference", "se", "p_value",
                                                            "always_valid_p_value")}}
    return arms, summary


def experiment_report(registry: str | Path, lake: str | Path, name: str, *, window_hours: float | None = None
                      ) -> dict[str, Any]:
    """The report of experiment `name` (see the module docstring for what it holds)."""
    store = ExperimentStore(registry)
    exp = store.get(name)
    window = timedelta(hours=window_hours or exp.window_hours)
    table = read_impressions(lake, name)
    report: dict[str, Any] = {"experiment": name, "mode": exp.mode, "status": exp.status, "started": exp.started,
                              "stopped": exp.stopped, "weights": exp.weights, "definition": exp.to_dict(),
                              "window_hours": window / timedelta(hours=1)}
    if table.num_rows == 0:
        raise InputError(f"no impressions of experiment {name!r} in lake {lake}: ingest the service's landing "
                         "folder (impressions-*.jsonl) first")
    shown = shown_items(table)
    imps = table.to_pandas()
    imps["ts"] = imps["ts"].astype("datetime64[ns, UTC]")
    events = _events(Path(lake), set(imps["user_id"].dropna()), imps["ts"].min(),
                     imps["ts"].max() + pd.Timedelta(window))
    hits = attribute(shown, events, window)
    per_imp = _per_impression(imps, hits)
    n_items = _catalogue_size(Path(lake), shown)
    report["attribution"] = {"exact": int((hits["how"] == "exact").sum()) if len(hits) else 0,
                             "window": int((hits["how"] == "window").sum()) if len(hits) else 0,
                             "events_considered": len(events)}
    if exp.mode == "interleaving":
        report["arms"], report["interleaving"] = _interleaving(exp, per_imp, hits, n_items)
        it = report["interleaving"]
        report["lift"] = {"metric": "interleaving_preference", "control": it["arm_a"], "treatment": it["arm_b"],
                          "relative": _num(-it["delta"]) if it["delta"] == it["delta"] else None,
                          "ci": [None, None], "p_value": it["user_level"]["p_value"],
                          "always_valid_p_value": it["user_level"]["always_valid_p_value"]}
        report["srm"] = {"p_value": None, "ok": True, "note": "interleaving shows both arms to every user"}
    else:
        _ab(report, exp, per_imp, n_items)
    for arm, summary in report["arms"].items():
        versions = per_imp.loc[per_imp["arm"] == arm, "version"].dropna().astype(int).tolist()
        summary["offline"] = _offline(store, exp, arm, versions) if arm in exp.arms else {}
    return report


def _ab(report: dict[str, Any], exp: Experiment, per_imp: pd.DataFrame, n_items: int) -> None:
    users = _user_stats(per_imp)
    present = set(users.index.get_level_values(0))
    arm_names = [a for a in exp.arms if a in present]
    report["arms"] = {a: _arm_summary(a, users.loc[a], per_imp[per_imp["arm"] == a], n_items) for a in arm_names}
    counts = {a: report["arms"][a]["users"] if a in report["arms"] else 0 for a in exp.arms}
    report["srm"] = srm_check(counts, exp.weights) | {"observed": counts}
    names = list(exp.arms)
    control = "control" if "control" in names else names[0]
    treatment = next((a for a in names if a != control), control)
    report["lift"] = {"metric": "ctr", "control": control, "treatment": treatment,
                      "relative": None, "ci": [None, None], "p_value": None, "always_valid_p_value": None}
    report["lifts"] = {}
    if control not in present or treatment not in present:
        return
    cs, ts = _metric_stats(users.loc[control]), _metric_stats(users.loc[treatment])
    for metric in METRICS:
        looks = _daily_looks(per_imp, control, treatment, metric)
        pairs = [(lk["relative"], lk["se"], lk["users"]) for lk in looks
                 if lk["relative"] is not None and lk["se"] is not None]
        report["lifts"][metric] = _lift(cs[metric], ts[metric], pairs) | {"looks": looks}
    report["lift"].update({k: v for k, v in report["lifts"]["ctr"].items() if k != "looks"})
    report["p_value"] = report["lift"]["p_value"]


def _catalogue_size(lake: Path, shown: pd.DataFrame) -> int:
    """Distinct items of the lake's events (at least those shown): the denominator of coverage."""
    try:
        items = events_dataset(lake).to_table(columns=["item_id"])["item_id"]
        import pyarrow.compute as pc

        n = len(pc.unique(items))
    except InputError:
        n = 0
    return max(n, int(shown["item_id"].nunique()))
