"""Experiment statistics bench: A/A false-positive rates (one look and daily looks), sample-ratio-mismatch
detection, and the users A/B testing and team-draft interleaving need to detect a truly better model.

(1) A/A: `--sims` simulated 14-day experiments of `--aa-users` users with heterogeneous activity and click rates,
    identical arms, assigned by the service's salted hash; the CTR lift is tested once at the end (fixed-horizon
    p-value), at every daily look with the fixed-horizon p-value (naive peeking), and at every daily look with the
    always-valid mSPRT p-value the report shows.
(2) SRM: a fair 50/50 split, and one where 5 % of the treatment's users are lost (a logging bug), `--sims` each.
(3) Power: models trained on generated data (`recsys generate`'s ground truth), lists scored by the simulator's
    users (`recsys.simulate.behaviour`: position bias, true tastes); for a grid of user counts, `--power-sims`
    simulated experiments each with A/B (CTR lift, delta method) and with team-draft interleaving (the report's test:
    each user's mean per-request preference, users as the unit); the smallest count reaching 80 % power at
    alpha 0.05 is reported. The A/B arm is also tested on conversion and revenue per user (the report's business
    metrics; purchases from the simulator's funnel at the listed items' prices).
(4) Impression logging cost is measured by ``bench/serve.py --impression-cost`` (see serve-impressions.md).

    .venv/bin/python bench/experiments.py [--sims 500] [--power-sims 200] [--requests 3,20] [--registry DIR]
Writes bench/results/experiments.json and .md and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import cpu_model  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
log = logging.getLogger("bench.experiments")

from recsys.experiments.assignment import assign  # noqa: E402
from recsys.experiments.interleaving import team_draft  # noqa: E402
from recsys.experiments.stats import (  # noqa: E402
    ArmStats,
    relative_lift,
    sequential_p_values,
    sign_test,
    srm_check,
    user_preference_test,
)

DAYS = 14
ALPHA = 0.05
GRID = [6, 12, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600]
BUSINESS_GRID = [*GRID, 51200, 102400]  # purchases are rarer than clicks: A/B on them needs more users
BUSINESS = ("conversion_rate", "revenue_per_user")


def _arms(n: int, rng: np.random.Generator) -> np.ndarray:
    salt = secrets.token_hex(4) + str(rng.integers(1 << 30))
    return np.array([assign(salt, f"u{i}", {"control": 50, "treatment": 50}) == "treatment" for i in range(n)])


def aa_once(n: int, rng: np.random.Generator) -> dict[str, bool]:
    """One A/A experiment: users arrive over the days, come back with their own rate and click with their own CTR."""
    treat = _arms(n, rng)
    first = rng.integers(0, DAYS, n)
    rate = rng.gamma(1.0, 1.5, n)
    ctr = rng.beta(2, 18, n)
    imps = rng.poisson(rate[:, None], (n, DAYS)) * (np.arange(DAYS)[None, :] >= first[:, None])
    clicked = rng.binomial(imps, ctr[:, None])
    cum_x, cum_y = imps.cumsum(axis=1), clicked.cumsum(axis=1)
    fixed, looks = [], []
    for d in range(DAYS):
        x, y = cum_x[:, d], cum_y[:, d]
        seen = x > 0
        c = ArmStats.from_arrays(x[seen & ~treat], y[seen & ~treat])
        t = ArmStats.from_arrays(x[seen & treat], y[seen & treat])
        if c.n < 2 or t.n < 2:
            continue
        r = relative_lift(c, t)
        fixed.append(r.p_value)
        looks.append((r.relative, r.se, c.n + t.n))
    seq = sequential_p_values(looks)
    return {"end": fixed[-1] < ALPHA, "peeking": min(fixed) < ALPHA, "always_valid": seq[-1] < ALPHA}


def aa(sims: int, n: int, rng: np.random.Generator) -> dict[str, Any]:
    hits = {"end": 0, "peeking": 0, "always_valid": 0}
    for _ in range(sims):
        for k, v in aa_once(n, rng).items():
            hits[k] += v
    rates = {k: v / sims for k, v in hits.items()}
    return {"sims": sims, "users": n, "days": DAYS, "alpha": ALPHA,
            "fpr_one_look": rates["end"], "fpr_daily_peeking_fixed_horizon": rates["peeking"],
            "fpr_daily_always_valid": rates["always_valid"],
            "goal_one_look": 0.03 <= rates["end"] <= 0.07, "goal_daily": rates["always_valid"] <= ALPHA}


def srm(sims: int, n: int, rng: np.random.Generator) -> dict[str, Any]:
    flagged = {"fair": 0, "loss_5pct": 0, "loss_10pct": 0}
    for _ in range(sims):
        treat = rng.random(n) < 0.5
        for key, lost in (("fair", 0.0), ("loss_5pct", 0.05), ("loss_10pct", 0.10)):
            kept = treat & (rng.random(n) >= lost)  # a share of the treatment's users lost (a logging bug)
            counts = {"c": int((~treat).sum()), "t": int(kept.sum())}
            flagged[key] += not srm_check(counts, {"c": 50, "t": 50})["ok"]
    return {"sims": sims, "users": n, "flagged_fair_split": flagged["fair"] / sims,
            "flagged_5pct_loss": flagged["loss_5pct"] / sims, "flagged_10pct_loss": flagged["loss_10pct"] / sims,
            "goal": flagged["loss_10pct"] / sims >= 0.95}


def train(root: Path, users: int, epochs: int) -> dict[str, Any]:
    """Generated data with its ground truth, and popularity, ALS and SASRec trained and promoted on it."""
    from recsys.generate import generate_events
    from recsys.ingest import ingest
    from recsys.training import run_training

    if (root / "registry").is_dir() and (root / "landing" / "truth.npz").is_file():
        return json.loads((root / "offline.json").read_text())
    generate_events(root / "landing", users=users, items=300, days=14, seed=3)
    ingest([root / "landing"], root / "lake")
    run = run_training(root / "lake", root / "registry", models=["popularity", "itemknn", "als", "sasrec"], split="loo",
                       epochs=epochs, promote=True, params={"sasrec": {"max_len": 50}})
    offline = {m: {"ndcg@10": r["ndcg@10"], "hr@10": r["hr@10"]} for m, r in run["models"].items()}
    (root / "offline.json").write_text(json.dumps(offline))
    return offline


def click_probabilities(root: Path, models: list[str], k: int = 10) -> dict[str, Any]:
    """Per truth user: each model's top-k, and the probability that the simulated user clicks each position."""
    from recsys.registry import Registry
    from recsys.simulate import load_truth
    from recsys.simulate.behaviour import Behaviour, item_index

    truth = load_truth(root / "landing")
    behaviour = Behaviour()
    reg = Registry(root / "registry")
    users = [f"u{u}" for u in range(truth.n_users)]
    examine = 1.0 / np.arange(1, k + 1) ** behaviour.position_decay
    p_next = np.stack([truth.next_item_probability(u, int(truth.last_item[u])) for u in range(truth.n_users)])
    out: dict[str, Any] = {"truth": truth, "lists": {}, "probs": {}, "prices": {},
                           "p_buy": truth.p_cart * truth.p_purchase}  # a click leads to a purchase

    def probs(u: int, items: list[str]) -> np.ndarray:
        idx = np.array([item_index(i, truth.n_items) if i else -1 for i in items])
        att = np.where(idx >= 0, np.minimum(behaviour.max_click, behaviour.attraction * p_next[u, np.maximum(idx, 0)]),
                       0.0)
        return examine[: len(items)] * att

    for name in models:
        model, _ = reg.load(name)
        ids, _ = model.recommend(users, k, filter_seen=True)
        lists = [[i for i in row if i is not None] for row in ids.tolist()]
        out["lists"][name] = lists
        out["probs"][name] = np.array([np.pad(probs(u, lst), (0, k - len(lst))) for u, lst in enumerate(lists)])
        out["prices"][name] = np.array([np.pad(truth.price[[item_index(i, truth.n_items) for i in lst]],
                                               (0, k - len(lst))) for lst in lists])
    out["probs_fn"] = probs
    return out


def interleavings(data: dict[str, Any], a: str, b: str, variants: int = 16, k: int = 10
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For every user, `variants` team-draft lists of a and b: click probabilities and credit (1 = b)."""
    n = len(data["lists"][a])
    probs = np.zeros((n, variants, k))
    credit = np.full((n, variants, k), -1, dtype=np.int8)
    for u in range(n):
        for s in range(variants):
            items, cred = team_draft(data["lists"][a][u], data["lists"][b][u], k, f"{u}-{s}", (a, b))
            probs[u, s, : len(items)] = data["probs_fn"](u, items)
            credit[u, s, : len(items)] = [int(c == b) for c in cred]
    return probs, credit


def _propensity(n: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    """Per-user click propensity, lognormal with mean 1 (spread 0: identical users)."""
    return np.exp(rng.normal(-spread * spread / 2, spread, n)) if spread > 0 else np.ones(n)


def _with_propensity(p: np.ndarray, f: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Click probabilities of users with propensities `f` (capped like the simulator's max_click)."""
    shape = (len(f),) + (1,) * (p.ndim - 1)
    return np.minimum(p * f.reshape(shape), cap)


def power_ab(arms: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], cap: np.ndarray,
             spread: float, n: int, sims: int, reqs: int, rng: np.random.Generator, metric: str = "ctr",
             p_buy: float = 0.0) -> float:
    """Share of A/B experiments of `n` users (half each arm, `reqs` lists each) where b's lift in `metric` is
    significant, as the report tests it. `arms`: (click probabilities, prices) per position of a's and b's lists.
    ``ctr``: lists with a click; ``conversion_rate``: users with a purchase; ``revenue_per_user``. Positions are
    clicked independently (the simulator's behaviour), so each position's purchases over `reqs` lists are one
    binomial draw with the funnel's `p_buy` per click."""
    wins = 0
    for _ in range(sims):
        stats = []
        for probs, price in arms:
            users = rng.integers(0, len(probs), n // 2)
            p = _with_propensity(probs[users], _propensity(len(users), spread, rng), cap)
            if metric == "ctr":
                clicked = rng.binomial(reqs, 1 - np.prod(1 - p, axis=1))  # lists with a click
                stats.append(ArmStats.from_arrays(np.full(len(users), reqs), clicked))
                continue
            bought = rng.binomial(reqs, p * p_buy)  # (users, positions)
            y = (bought.sum(axis=1) > 0) if metric == "conversion_rate" else (bought * price[users]).sum(axis=1)
            stats.append(ArmStats.from_arrays(np.ones(len(users)), y))
        r = relative_lift(stats[0], stats[1])
        wins += r.p_value < ALPHA and r.relative > 0
    return wins / sims


def power_interleaving(probs: np.ndarray, credit: np.ndarray, cap: np.ndarray, spread: float, n: int, sims: int,
                       reqs: int, rng: np.random.Generator, by_request: bool = False) -> float:
    """Share of interleaving experiments of `n` users (`reqs` lists each) where the report's test (users as the
    unit, `user_preference_test`) favours b; `by_request`: the request-level sign test instead."""
    wins = 0
    for _ in range(sims):
        users = rng.integers(0, len(probs), n)
        f = np.repeat(_propensity(n, spread, rng), reqs)
        users = np.repeat(users, reqs)
        variant = rng.integers(0, probs.shape[1], len(users))
        p, c = _with_propensity(probs[users, variant], f, cap), credit[users, variant]
        clicks = rng.random(p.shape) < p
        b = (clicks & (c == 1)).sum(axis=1).reshape(n, reqs)
        a = (clicks & (c == 0)).sum(axis=1).reshape(n, reqs)
        if by_request:
            pb, pa = int((b > a).sum()), int((a > b).sum())
            wins += sign_test(pb, pa) < ALPHA and pb > pa
            continue
        decided = (a + b) > 0  # requests with a click; each user's mean preference for b over them
        has = decided.any(axis=1)
        pref = np.where(decided, np.sign(b - a), 0).sum(axis=1)[has] / decided.sum(axis=1)[has]
        test = user_preference_test(pref)
        wins += test["p_value"] < ALPHA and test["mean_preference"] > 0
    return wins / sims


def users_needed(power_at: Any, sims: int, reqs: int, rng: np.random.Generator, grid: list[int] = GRID
                 ) -> dict[str, Any]:
    """Power on the doubling grid until it reaches 80 %; the user count at 80 % interpolated in log(users)."""
    curve: dict[int, float] = {}
    prev: tuple[int, float] | None = None
    for n in grid:
        curve[n] = power_at(n, sims, reqs, rng)
        if curve[n] >= 0.8:
            needed = float(n)
            if prev is not None and curve[n] > prev[1]:
                frac = (0.8 - prev[1]) / (curve[n] - prev[1])
                needed = float(np.exp(np.log(prev[0]) + frac * (np.log(n) - np.log(prev[0]))))
            return {"users_for_80pct_power": round(needed), "grid_users": n, "curve": curve}
        prev = (n, curve[n])
    return {"users_for_80pct_power": None, "grid_users": None, "curve": curve}


def _ratio(ab_users: int | None, il_users: int | None, grid: list[int]) -> dict[str, Any] | None:
    """A/B users over interleaving users; where A/B did not reach 80 % power on its grid, a lower bound."""
    if not il_users:
        return None
    if ab_users:
        return {"ratio": ab_users / il_users, "at_least": ab_users / il_users, "bound": False}
    return {"ratio": None, "at_least": grid[-1] / il_users, "bound": True}


SPREADS = (0.0, 1.0)
"""Per-user click propensity spreads (lognormal sigma): identical users, and users who differ in how much they
click by a factor of about e either way, as logs show; interleaving's edge grows with that spread."""


def power(root: Path, sims: int, requests: list[int], rng: np.random.Generator) -> dict[str, Any]:
    from recsys.simulate.behaviour import Behaviour

    data = click_probabilities(root, ["popularity", "itemknn", "als", "sasrec"])
    cap = Behaviour().max_click / np.arange(1, 11) ** Behaviour().position_decay
    out = {}
    for a, b in (("als", "sasrec"), ("itemknn", "sasrec"), ("als", "itemknn"), ("popularity", "sasrec")):
        probs, credit = interleavings(data, a, b)
        arms = ((data["probs"][a], data["prices"][a]), (data["probs"][b], data["prices"][b]))
        for reqs, spread in ((r, sp) for r in requests for sp in SPREADS):
            t = time.perf_counter()
            ab = users_needed(lambda n, s, r, g, ar=arms, sp=spread: power_ab(ar, cap, sp, n, s, r, g), sims, reqs, rng)
            il = users_needed(lambda n, s, r, g, p=probs, c=credit, sp=spread: power_interleaving(
                p, c, cap, sp, n, s, r, g), sims, reqs, rng)
            business = {m: users_needed(lambda n, s, r, g, ar=arms, sp=spread, m=m: power_ab(
                ar, cap, sp, n, s, r, g, m, data["p_buy"]), sims, reqs, rng, BUSINESS_GRID) for m in BUSINESS}
            na, ni = ab["users_for_80pct_power"], il["users_for_80pct_power"]
            ctr = {m: float((1 - np.prod(1 - data["probs"][m], axis=1)).mean()) for m in (a, b)}
            ratios = {m: _ratio(r["users_for_80pct_power"], ni, BUSINESS_GRID) for m, r in business.items()}
            out[f"{b}_vs_{a}@spread{spread:g}@lists{reqs}"] = {
                "a": a, "b": b, "propensity_spread": spread, "lists_per_user": reqs, "ab": ab, "interleaving": il,
                "ab_business": business, "list_ctr": ctr, "p_buy": data["p_buy"],
                "ratio": (na / ni) if na and ni else None, "goal_10x": bool(na and ni and na / ni >= 10),
                "ratio_business": ratios,
                "goal_10x_business": {m: bool(r is not None and r["at_least"] >= 10) for m, r in ratios.items()},
                "seconds": round(time.perf_counter() - t, 1)}
            log.info("%s vs %s, spread %g, %d lists: A/B %s users, interleaving %s users", b, a, spread, reqs, na,
                     ni)
    return out


def machine() -> dict[str, Any]:
    return {"cpu": cpu_model() or platform.processor(), "cores": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
            "os": platform.platform(), "python": platform.python_version()}


def _n(r: dict[str, Any], grid: list[int] = GRID) -> str:
    v = r["users_for_80pct_power"]
    if not v:
        return f"> {grid[-1]:,}"
    return f"<= {v:,}" if r["grid_users"] == grid[0] else f"{v:,}"  # already powered at the smallest count


def _power_reading(power: dict[str, Any]) -> str:
    met = [p for p in power.values() if p["goal_10x"]]
    ratios = [p["ratio"] for p in power.values() if p["ratio"]]
    pairs = sorted({f"{p['b']} over {p['a']} ({p['lists_per_user']} lists, spread {p['propensity_spread']:g})"
                    for p in met})
    return (f"Goal (interleaving needs >= 10x fewer users): **met in {len(met)} of {len(power)} rows** "
            f"({'; '.join(pairs) or 'none'}), missed in the others; ratios {min(ratios):.1f}x-{max(ratios):.1f}x. "
            "The A/B metric here is list CTR, the same click signal interleaving uses and the most sensitive one "
            "an A/B test has; the published 10-100x compare interleaving with A/B tests on noisier business "
            "metrics (sessions, hours watched, revenue), which these simulated users do not have.")


def _business_table(power: dict[str, Any]) -> list[str]:
    rows = [p for p in power.values() if "ab_business" in p]
    if not rows:
        return []
    lines = ["## Against A/B tests on the business metrics", "",
             "The same experiments, with the A/B arm tested on what the report's A/B lift also offers and what teams "
             "decide on: conversion (share of users with a purchase) and revenue per user, each user's purchases "
             "drawn from the simulator's click -> cart -> purchase funnel (p = "
             f"{rows[0]['p_buy']:.3f} per click) at the listed items' prices. Interleaving is the same "
             "click-preference test as above.", "",
             "| b over a | lists per user | click propensity spread | A/B users (conversion) | "
             "A/B users (revenue per user) | interleaving users | ratio (conversion) | ratio (revenue) | "
             "goal >= 10x |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]

    def ratio(r: dict[str, Any] | None) -> str:
        if r is None:
            return "–"
        return f"> {r['at_least']:.0f}x" if r["bound"] else f"{r['ratio']:.1f}x"

    for p in rows:
        goals = p["goal_10x_business"]
        lines.append(f"| {p['b']} over {p['a']} | {p['lists_per_user']} | {p['propensity_spread']:g} | "
                     + " | ".join(_n(p["ab_business"][m], BUSINESS_GRID) for m in BUSINESS)
                     + f" | {_n(p['interleaving'])} | "
                     + " | ".join(ratio(p["ratio_business"][m]) for m in BUSINESS)
                     + f" | **{'met' if all(goals.values()) else 'missed'}** |")
    met = [p for p in rows if all(p["goal_10x_business"].values())]
    lows = [p["ratio_business"]["conversion_rate"]["at_least"] for p in rows if p["ratio_business"]["conversion_rate"]]
    lines += ["", f"Goal against the business metrics (interleaving needs >= 10x fewer users than A/B on both "
              f"conversion and revenue per user): **met in {len(met)} of {len(rows)} rows**; against conversion "
              f"alone the ratio is at least {min(lows):.1f}x in every row. This is the comparison the published "
              "10-100x make (interleaving on clicks against A/B tests on the metrics a business decides on); "
              "against A/B on CTR itself (the table above) the goal is met in only the rows listed there.", ""]
    return lines


def write_markdown(path: Path, res: dict[str, Any]) -> None:
    a, s, m = res["aa"], res["srm"], res["machine"]
    lines = ["# Experiment statistics bench", "",
             f"## A/A false-positive rate ({a['sims']} simulated experiments, {a['users']} users, {a['days']} days, "
             f"alpha {a['alpha']})", "",
             "| test | false-positive rate | goal |", "|---|---:|---|",
             f"| fixed-horizon, one look at the end | {a['fpr_one_look']:.3f} | in [0.03, 0.07]: "
             f"**{'met' if a['goal_one_look'] else 'missed'}** |",
             f"| fixed-horizon, a look every day (naive peeking) | {a['fpr_daily_peeking_fixed_horizon']:.3f} | "
             "(what not to do) |",
             f"| always-valid mSPRT, a look every day | {a['fpr_daily_always_valid']:.3f} | <= 0.05: "
             f"**{'met' if a['goal_daily'] else 'missed'}** |", "",
             f"## Sample-ratio mismatch ({s['sims']} splits of {s['users']} users, chi-square, flagged below p=0.001)",
             "", f"Fair 50/50 split flagged in {s['flagged_fair_split']:.1%} of runs. Deliberately skewed splits (a "
             f"share of the treatment's users lost): 10 % lost flagged in {s['flagged_10pct_loss']:.1%} (goal >= 95 %:"
             f" **{'met' if s['goal'] else 'missed'}**); 5 % lost flagged in {s['flagged_5pct_loss']:.1%}.",
             "", "## Users needed for 80 % power (alpha 0.05)", "",
             f"Simulated users of `recsys generate` (users {res['data']['users']}, 300 items, 14 days, seed 3) react "
             f"to each model's lists with the simulator's behaviour; {res['power_sims']} simulated experiments per "
             f"user count; each user is shown the lists of the table's column. Offline NDCG@10: "
             + ", ".join(f"{k} {v['ndcg@10']:.4f}" for k, v in res["offline"].items()) + ".", "",
             "| b over a | list CTR (a, b) | lists per user | click propensity spread | A/B users | "
             "interleaving users | ratio | goal >= 10x |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for p in res["power"].values():
        ctr = ", ".join(f"{v:.4f}" for v in p["list_ctr"].values())
        bound = ">= " if p["interleaving"]["grid_users"] == GRID[0] else ""
        ratio = f"{bound}{p['ratio']:.1f}x" if p["ratio"] else "–"
        lines.append(f"| {p['b']} over {p['a']} | {ctr} | {p.get('lists_per_user', 3)} | "
                     f"{p['propensity_spread']:g} | {_n(p['ab'])} | "
                     f"{_n(p['interleaving'])} | {ratio} | "
                     f"**{'met' if p['goal_10x'] else 'missed'}** |")
    lines += ["", "A/B tests the report's CTR lift (delta method, users as the unit, two-sided); interleaving tests "
              "each user's mean per-request preference with the report's test (users as the unit, "
              "`user_preference_test`; the request-level sign test overstates significance when users return). "
              "Click propensity spread is the sigma of a "
              "lognormal factor (mean 1) on each user's click probabilities: 0 makes users differ only in tastes; 1 "
              "adds the differences in how much people click that real logs show. Interleaving compares both lists "
              "within one user, so that spread cancels out of it, while it adds variance to A/B. The smallest user "
              "counts (6, 12) are tested with Student's t, as the report does.", "",
              _power_reading(res["power"]), "", *_business_table(res["power"]),
              "Impression logging cost: see `serve-impressions.md` (bench/serve.py --impression-cost).", "",
              f"Machine: {m['cpu']}, {m['cores']} cores shared with other work (load average "
              f"{m['load_avg_at_start'][0]:.1f} at start), {m['os']}, Python {m['python']}; "
              f"{res['seconds']:.0f} s in all.", "", f"Command: `{res['command']}`", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sims", type=int, default=500, help="A/A and SRM simulations.")
    ap.add_argument("--aa-users", type=int, default=2000)
    ap.add_argument("--power-sims", type=int, default=200)
    ap.add_argument("--requests", default="3,20",
                    help="Lists shown per user in the power simulations (comma-separated: one table row each).")
    ap.add_argument("--users", type=int, default=600, help="Generated users the models are trained on.")
    ap.add_argument("--epochs", type=int, default=8, help="SASRec epochs.")
    ap.add_argument("--registry", type=Path, help="Work folder to (re)use for the generated data and models.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    res: dict[str, Any] = {"bench": "experiments", "machine": machine()}
    res["aa"] = aa(args.sims, args.aa_users, rng)
    log.info("A/A: %s", res["aa"])
    res["srm"] = srm(args.sims, 10_000, rng)
    log.info("SRM: %s", res["srm"])
    with tempfile.TemporaryDirectory(prefix="bench-exp-") as tmp:
        root = args.registry or Path(tmp)
        res["offline"] = train(root, args.users, args.epochs)
        requests = [int(r) for r in args.requests.split(",")]
        res["power"] = power(root, args.power_sims, requests, rng)
    res.update({"data": {"users": args.users}, "power_sims": args.power_sims, "requests_per_user": requests,
                "seconds": round(time.perf_counter() - t0, 1),
                "command": "python bench/experiments.py " + " ".join(sys.argv[1:])})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "experiments.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    write_markdown(RESULTS / "experiments.md", res)
    print(json.dumps({"aa": res["aa"], "srm": res["srm"],
                      "power": {k: {"ab": v["ab"]["users_for_80pct_power"],
                                    "interleaving": v["interleaving"]["users_for_80pct_power"]}
                                for k, v in res["power"].items()}}))


if __name__ == "__main__":
    main()
