"""Warm vs cold SASRec on a replay of nightly runs: train on the events up to time T0 (cold, the "production"
model), then at each later step T1, T2, ... (each adding `--step-days` of events) train once warm-started from
the previous step's model and once from scratch, both through the pipeline's `train_model` (leave-one-out split
of the events before T, early stopping on the validation targets, then the refit). A last variant at the final
step continues the early-stopped cold model for `--refit-epochs` epochs instead of the refit from scratch.

    .venv/bin/python bench/warm_start.py [--dataset ml100k|ml1m-part] [--steps 2] [--step-days 14]
        [--start YYYY-MM-DD] [--warm-continue N] [--out NAME]
--start: T0 (default: counted back from the last event); --warm-continue N: also a warm run whose refit continues
the early-stopped warm model N epochs (instead of a refit from the production weights).
Writes bench/results/NAME.json and .md (default warm_start) and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from quality import DATA, machine, read_movielens  # bench/quality.py (scripts run from bench/)

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = {"ml100k": DATA / "movielens-100k" / "u.data",
            "ml1m-part": DATA / "movielens-1m-partial" / "ratings_users1-2999.dat.gz"}
PARAMS = {"hidden": 32, "layers": 1, "heads": 1, "dropout": 0.2, "max_len": 50, "lr": 3e-3, "epochs": 40, "patience": 3,
          "device": "cpu"}
log = logging.getLogger("bench.warm_start")


def read_ml100k(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", names=["user", "item", "rating", "ts"])
    return pd.DataFrame({
        "event_id": np.arange(len(raw)).astype(str), "user_id": raw["user"].astype(str),
        "item_id": raw["item"].astype(str), "event_type": "rating",
        "ts": pd.to_datetime(raw["ts"], unit="s", utc=True).astype("datetime64[us, UTC]"),
        "value": raw["rating"].astype(float)})


def train(events: pd.DataFrame, out: Path, warm_from: Path | None, refit_epochs: int | None = None) -> dict[str, Any]:
    from recsys.dataset import events_to_frame
    from recsys.splits import leave_one_out
    from recsys.training import read_evaluation, train_model

    split_dir = leave_one_out(events_to_frame(events)).save(out / "split")
    start = time.perf_counter()
    trained = train_model(split_dir, "sasrec", out / "trained", params=dict(PARAMS), device="cpu", n_boot=500,
                          warm_from=warm_from, refit_epochs=refit_epochs)
    ev = read_evaluation(trained)
    return {"ndcg@10": round(ev["metrics"]["ndcg@10"], 4), "ci95": [round(x, 4) for x in ev["intervals"]["ndcg@10"]],
            "train_seconds": round(ev["train_seconds"], 1), "wall_seconds": round(time.perf_counter() - start, 1),
            "epochs": ev["epochs"], "refit": ev.get("refit"), "warm_start": ev["warm_start"],
            "artifact": str(trained / "artifact")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="ml100k", choices=list(DATASETS))
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--step-days", type=int, default=14)
    ap.add_argument("--note", default="", help="A remark printed under the table.")
    ap.add_argument("--markdown-only", action="store_true",
                    help="Rewrite NAME.md from NAME.json (with --note) without training.")
    ap.add_argument("--start", default=None, help="T0 as a date (default: steps x step-days before the end).")
    ap.add_argument("--warm-continue", type=int, default=0,
                    help="Also a warm run refit by continuing N epochs, at every step (0: skip).")
    ap.add_argument("--out", default="warm_start", help="Result file name under bench/results (no suffix).")
    ap.add_argument("--refit-epochs", type=int, default=0,
                    help="Also measure, at the last step, the cold run refit by continuing N epochs (0: skip).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.markdown_only:
        res = json.loads((RESULTS / f"{args.out}.json").read_text())
        res["note"] = args.note or res.get("note", "")
        (RESULTS / f"{args.out}.json").write_text(json.dumps(res, indent=2) + "\n")
        (RESULTS / f"{args.out}.md").write_text(markdown(res))
        return
    path = DATASETS[args.dataset]
    if not path.exists():
        raise SystemExit(f"{path} is absent (set RECSYS_DATA_DIR to the shared data folder)")
    events = read_ml100k(path) if args.dataset == "ml100k" else read_movielens(path)
    end = events["ts"].max()
    if args.start:
        start = pd.Timestamp(args.start, tz="UTC")
        cutoffs = [start + pd.Timedelta(days=args.step_days * s) for s in range(args.steps + 1)]
    else:
        cutoffs = [end - pd.Timedelta(days=args.step_days * (args.steps - s)) for s in range(args.steps + 1)]
    load = os.getloadavg()[0]
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp_name:
        tmp = Path(tmp_name)
        window = events[events["ts"] < cutoffs[0]]
        base = train(window, tmp / "base", None)
        steps.append({"until": str(cutoffs[0]), "events": len(window), "cold": base})
        log.info("base: %s", base)
        previous = Path(base["artifact"])
        for s, cut in enumerate(cutoffs[1:], start=1):
            window = events[events["ts"] <= cut] if s == args.steps and not args.start else events[events["ts"] < cut]
            row: dict[str, Any] = {"until": str(cut), "events": len(window)}
            row["warm"] = train(window, tmp / f"warm{s}", previous)
            if args.warm_continue:
                row[f"warm, refit by continuing {args.warm_continue}"] = train(window, tmp / f"warmc{s}", previous,
                                                                               args.warm_continue)
            row["cold"] = train(window, tmp / f"cold{s}", None)
            if s == args.steps and args.refit_epochs:
                row["cold, refit by continuing"] = train(window, tmp / f"cont{s}", None, args.refit_epochs)
            log.info("step %d: %s", s, row)
            steps.append(row)
            previous = Path(row["warm"]["artifact"])
    for row in steps:
        for r in row.values():
            if isinstance(r, dict):
                r.pop("artifact", None)
    res = {"bench": "warm_start", "dataset": args.dataset, "params": PARAMS, "steps": steps, "note": args.note,
           "machine": machine(), "load_avg_at_start": load, "load_avg_at_end": os.getloadavg()[0],
           "command": "python bench/warm_start.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(res, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(res))
    print(json.dumps([{k: (v["ndcg@10"], v["train_seconds"]) for k, v in r.items() if isinstance(v, dict)}
                      for r in steps]))


def markdown(res: dict[str, Any]) -> str:
    lines = ["# Warm vs cold SASRec on a replay of nightly runs", "",
             f"Data: {res['dataset']}; SASRec {res['params']}. Each step trains on every event up to its time "
             "(leave-one-out split of that window, early stopping on the validation targets, then the refit), "
             "warm-started from the previous step's warm model, and cold. Times are on 2 CPU cores shared with "
             f"other jobs (load average {res['load_avg_at_start']:.1f} at start, {res['load_avg_at_end']:.1f} at "
             "end), so compare within a step.", "",
             "| step | until | events | run | NDCG@10 | 95% CI | train s | epochs (best / trained / refit) | "
             "warm / cold time | within cold CI |", "|---|---|---:|---|---:|---|---:|---|---:|---|"]
    for i, row in enumerate(res["steps"]):
        cold = row["cold"]
        for name, r in row.items():
            if not isinstance(r, dict):
                continue
            ep = r["epochs"]
            refit = (r.get("refit") or {}).get("epochs", "-")
            within = cold["ci95"][0] <= r["ndcg@10"] <= cold["ci95"][1]
            ratio = r["train_seconds"] / max(cold["train_seconds"], 1e-9)
            lines.append(f"| {i} | {row['until'][:10]} | {row['events']:,} | {name} | {r['ndcg@10']:.4f} | "
                         f"{r['ci95'][0]:.4f}-{r['ci95'][1]:.4f} | {r['train_seconds']:.1f} | "
                         f"{ep.get('best_epoch')} / {ep.get('epochs_trained')} / {refit} | {ratio:.2f} | "
                         f"{'yes' if within else 'no'} |")
    checks = []  # (within the cold CI, warm / cold time) of the default warm run at every step that has one
    for row in res["steps"]:
        warm, cold = row.get("warm"), row["cold"]
        if warm is not None:
            checks.append((cold["ci95"][0] <= warm["ndcg@10"] <= cold["ci95"][1],
                           warm["train_seconds"] / max(cold["train_seconds"], 1e-9)))
    if checks:
        met = all(w and r <= 0.25 for w, r in checks)
        lines += ["", f"Goal (issue): warm within the cold run's 95% CI in at most 25% of its time: "
                  f"**{'met' if met else 'not met'}** at {'every' if met else 'not every'} step (warm within the CI "
                  f"at {sum(w for w, _ in checks)} of {len(checks)} steps, {min(r for _, r in checks):.2f}x-"
                  f"{max(r for _, r in checks):.2f}x the cold run's time)."]
    if res.get("note"):
        lines += ["", res["note"]]
    m = res.get("machine", {})
    lines += ["", f"Machine: {m.get('processor')}, {m.get('cpus')} cores, {m.get('memory_gib')} GiB, torch "
              f"{m.get('torch')}, Python {m.get('python')}.", "",
              f"Command: `{res['command']}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
