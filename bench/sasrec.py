"""SASRec tuning/timing bench: leave-one-out full ranking on the MovieLens-1M part and Amazon Beauty.

Protocol (as in the SASRec papers and issue 3): per user, the last item is the test target, the second last the
validation target used for early stopping; the model trains on the rest. Then, as `recsys train` does by default,
a fresh model is refit on everything but the test item for the best epoch count and tested (the early-stopped
model is also tested, from the history that includes the validation item passed as live history: `no_refit`).
Every item the user has seen is excluded from the ranking. Full ranking over the whole catalog, never sampled
negatives.

    .venv/bin/python bench/sasrec.py --dataset ml1m [--epochs 200] [--set hidden=64 --set dropout=0.2] [--no-refit]
Writes bench/results/sasrec-<dataset>[-<tag>].json and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from machine import cpu_model  # bench/machine.py (scripts run from bench/)

from recsys.data import Interactions
from recsys.models.base import Recommender
from recsys.models.popularity import Popularity
from recsys.models.sasrec import SASRec

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RECSYS_DATA_DIR", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"

# Known-good CE recipes (SASRec+ / gSASRec): long windows and light dropout for dense MovieLens,
# short windows and heavy dropout for the sparse Amazon data.
PRESETS: dict[str, dict[str, object]] = {
    "ml1m": {"hidden": 128, "layers": 2, "heads": 2, "dropout": 0.3, "max_len": 200, "lr": 1e-3, "batch_size": 128,
             "epochs": 200, "patience": 10, "val_window": 5, "loss": "ce"},
    "ml100k": {},  # the model's defaults
    "beauty": {"hidden": 64, "layers": 2, "heads": 1, "dropout": 0.5, "max_len": 50, "lr": 2e-3, "batch_size": 128,
               "epochs": 200, "patience": 5, "eval_every": 2, "loss": "ce"},
}
TARGETS = {"ml1m": 0.16, "beauty": 0.050, "ml100k": 0.0}  # ml100k: no target, only "beats popularity"


def load_sequences(dataset: str) -> dict[str, list[str]]:
    """Chronological item sequences per user."""
    if dataset == "ml1m":
        df = pd.read_csv(DATA / "movielens-1m-partial" / "ratings_users1-2999.dat.gz", sep="::", engine="python",
                         names=["user", "item", "rating", "ts"], dtype=str)
        df["ts"] = df["ts"].astype(np.int64)
        df = df.sort_values(["user", "ts"], kind="stable")
        return {u: g.tolist() for u, g in df.groupby("user", sort=False)["item"]}
    if dataset == "ml100k":  # the acceptance-check data set: a quick smoke run of the defaults
        df = pd.read_csv(DATA / "movielens-100k" / "u.data", sep="\t", names=["user", "item", "rating", "ts"],
                         dtype=str)
        df["ts"] = df["ts"].astype(np.int64)
        df = df.sort_values(["user", "ts"], kind="stable")
        return {u: g.tolist() for u, g in df.groupby("user", sort=False)["item"]}
    if dataset == "beauty":
        seqs: dict[str, list[str]] = {}
        with open(DATA / "amazon-s3rec-sequences" / "Beauty.txt") as f:
            for line in f:
                user, *items = line.split()
                seqs[user] = items
        return seqs
    raise SystemExit(f"unknown dataset {dataset!r}: use ml1m or beauty")


def leave_one_out(
    seqs: dict[str, list[str]],
) -> tuple[Interactions, Interactions, dict[str, list[str]], dict[str, str]]:
    """Training interactions without the validation items (all but the last two) and with them (all but the
    last), validation targets and test targets."""
    users = {u: s for u, s in seqs.items() if len(s) >= 3}
    items = sorted({i for s in users.values() for i in s})
    fit_train = Interactions.from_sequences({u: s[:-2] for u, s in users.items()}, items=items)
    train = Interactions.from_sequences({u: s[:-1] for u, s in users.items()}, items=items)
    return fit_train, train, {u: [s[-2]] for u, s in users.items()}, {u: s[-1] for u, s in users.items()}


def evaluate(
    model: Recommender, validation: dict[str, list[str]] | None, test: dict[str, str], k: int = 10
) -> dict[str, float]:
    """NDCG@k and HR@k of the test item, scoring from the training history (+ the validation item as live
    history, when `validation` is given)."""
    users = list(test)
    ndcg = hits = 0.0
    for lo in range(0, len(users), 1024):
        batch = users[lo:lo + 1024]
        ids, _ = model.recommend(batch, k=k, histories=[validation[u] for u in batch] if validation else None)
        for u, row in zip(batch, ids, strict=True):
            where = np.flatnonzero(row == test[u])
            if len(where):
                hits += 1
                ndcg += 1.0 / np.log2(where[0] + 2)
    return {f"ndcg@{k}": ndcg / len(users), f"hr@{k}": hits / len(users)}


def target_cell(r: dict) -> str:
    if not r["target_ndcg@10"]:
        return "-"
    return f"{r['target_ndcg@10']} ({'reached' if r['reached'] else 'NOT reached'})"


def write_report() -> Path:
    """bench/results/sasrec.md: one row per result file, so the table always shows what was actually measured."""
    rows = ["| run | dataset | NDCG@10 | HR@10 | target | without refit NDCG@10 | popularity NDCG@10 | "
            "epochs (best) | refit epochs | best val NDCG@10 | train s | s/epoch | hyper-parameters |",
            "|" + "---|" * 13]
    for path in sorted(RESULTS.glob("sasrec-*.json")):
        r = json.loads(path.read_text())
        keys = ("hidden", "layers", "heads", "dropout", "max_len", "lr", "batch_size", "loss", "n_negatives",
                "patience", "eval_every", "val_window", "time_budget_s", "precision")
        hp = ", ".join(f"{k}={r['params'][k]}" for k in keys if k in r["params"])
        rows.append(f"| {path.stem} | {r['dataset']} | {r['ndcg@10']:.4f} | {r['hr@10']:.4f} | "
                    f"{target_cell(r)} | {r.get('no_refit', r)['ndcg@10']:.4f} | "
                    f"{r.get('popularity', {}).get('ndcg@10', float('nan')):.4f} | "
                    f"{r['epochs_trained']} ({r['best_epoch']}) | {(r.get('refit') or {}).get('epochs', '-')} | "
                    f"{r['best_val_ndcg@10']} | {r['train_seconds']} | "
                    f"{r['seconds_per_epoch']} | {hp} |")
    out = RESULTS / "sasrec.md"
    notes = out.read_text().partition("\n## Notes")[2] if out.exists() else ""  # hand-written notes are kept
    out.write_text("# SASRec bench (leave-one-out, full ranking, seen items excluded)\n\n"
                   "Table written by `bench/sasrec.py --report` from the JSON files beside it.\n\n"
                   + "\n".join(rows) + "\n" + ("\n## Notes" + notes if notes else ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(PRESETS))
    parser.add_argument("--report", action="store_true", help="only rewrite bench/results/sasrec.md")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset param")
    parser.add_argument("--tag", default="")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-refit", action="store_true", help="test the early-stopped model only")
    args = parser.parse_args()
    if args.report:
        print(write_report())
        return
    if args.dataset is None:
        parser.error("--dataset is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)

    params = dict(PRESETS[args.dataset])
    for kv in args.set:
        key, value = kv.split("=", 1)
        params[key] = json.loads(value) if value[:1].isdigit() or value[:1] == "-" else value
    if args.epochs is not None:
        params["epochs"] = args.epochs

    seqs = load_sequences(args.dataset)
    fit_train, train, validation, test = leave_one_out(seqs)
    logging.info("%s: %d users, %d items, %d training events", args.dataset, train.n_users, train.n_items,
                 train.matrix.nnz)
    model = SASRec(**params)  # type: ignore[arg-type]
    start = time.perf_counter()
    model.fit(fit_train, validation)
    fit_seconds = time.perf_counter() - start
    started = time.perf_counter()
    metrics = no_refit = evaluate(model, validation, test)
    eval_seconds = time.perf_counter() - started
    refit_info = None
    if not args.no_refit:
        refit = SASRec(**{**model.get_params(), "epochs": model.best_epoch_})
        started = time.perf_counter()
        refit.fit(train)
        refit_info = {"epochs": model.best_epoch_, "seconds": round(time.perf_counter() - started, 1)}
        metrics = evaluate(refit, None, test)
    train_seconds = fit_seconds + (refit_info["seconds"] if refit_info else 0.0)
    result = {
        "dataset": args.dataset, "protocol": "leave-one-out, full ranking, seen items excluded",
        "users": train.n_users, "items": train.n_items, "params": model.get_params(),
        "epochs_trained": model.epochs_trained_, "best_epoch": model.best_epoch_,
        "best_val_ndcg@10": round(model.best_val_ndcg_, 4),
        **{key: round(v, 4) for key, v in metrics.items()},
        "refit": refit_info,
        "no_refit": {key: round(v, 4) for key, v in no_refit.items()},
        "popularity": {key: round(v, 4) for key, v in evaluate(Popularity().fit(train), None, test).items()},
        "target_ndcg@10": TARGETS[args.dataset], "reached": bool(metrics["ndcg@10"] >= TARGETS[args.dataset]),
        "train_seconds": round(train_seconds, 1),
        "seconds_per_epoch": round(fit_seconds / max(model.epochs_trained_, 1), 2),
        "eval_seconds": round(eval_seconds, 1),
        "device": str(model.device_), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "cpu": cpu_model(platform.processor() or platform.machine()),
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"sasrec-{args.dataset}{'-' + args.tag if args.tag else ''}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    write_report()


if __name__ == "__main__":
    main()
