"""Offline quality of every model on real data, leave-one-out, full ranking (seen items excluded).

Data sets (read from ../shared/data, never copied): the MovieLens-1M part (users 1-2999, ratings as `rating`
events with their timestamps) and Amazon Beauty (S3-Rec 5-core sequences; no timestamps, the order is kept with a
synthetic one-second-apart time). Each goes through the project's own pipeline: `recsys.dataset.events_to_frame`
-> `recsys.splits.leave_one_out` (saved split) -> `recsys.training.train_model` (fit + evaluation), so the numbers
are what `recsys train --split loo` would report.

    .venv/bin/python bench/quality.py                          # every model, both data sets
    .venv/bin/python bench/quality.py --models sasrec --datasets beauty --param sasrec.epochs=50
    .venv/bin/python bench/quality.py --models sasrec --datasets ml1m-part --no-refit   # early-stopped model only

Results are merged into bench/results/quality.json (one entry per data set and model, so models can be run
separately, e.g. SASRec in the background) and bench/results/quality.md is rewritten from it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from machine import cpu_model  # bench/machine.py and bench/sasrec.py (scripts run from bench/)
from ranker_data import candidate_recall, movielens_genres, read_taobao, write_catalogue
from sasrec import PRESETS as SASREC_PRESETS

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RECSYS_DATA_DIR", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
MODELS = ("popularity", "itemknn", "als", "bpr", "ease", "sasrec", "ranker")
DATASETS = {
    "ml1m-part": DATA / "movielens-1m-partial" / "ratings_users1-2999.dat.gz",
    "beauty": DATA / "amazon-s3rec-sequences" / "Beauty.txt",
    "taobao": DATA / "taobao-userbehavior-head" / "UserBehavior_head.csv",
}
REFERENCE = {  # NDCG@10 measured elsewhere on these exact splits; SASRec: the targets of the issue
    "beauty": {"ease": 0.042, "itemknn": 0.037, "als": 0.023, "popularity": 0.006, "sasrec": 0.050},
    "ml1m-part": {"ease": 0.051, "als": 0.047, "popularity": 0.017, "sasrec": 0.16},
}
DEFAULT_PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    # SASRec: the recipes tuned in bench/sasrec.py (max_len 200 for MovieLens, 50 and heavy dropout for Beauty).
    "ml1m-part": {"sasrec": dict(SASREC_PRESETS["ml1m"]),
                  "ranker": {"retrievers": "popularity,als,itemknn,ease", "max_label_users": 3000}},
    "beauty": {"sasrec": dict(SASREC_PRESETS["beauty"]), "ranker": {"max_label_users": 5000}},
    "taobao": {},
}
CATALOGUES = {"ml1m-part": DATA / "movielens-1m-partial" / "movies.dat"}
"""Item categories for the ranker: MovieLens genres; Taobao's come with its events; Beauty has none."""

log = logging.getLogger("bench.quality")


def read_movielens(path: Path) -> pd.DataFrame:
    with gzip.open(path, "rt") as fh:
        raw = pd.read_csv(fh, sep="::", engine="python", names=["user", "item", "rating", "ts"])
    return pd.DataFrame({
        "event_id": np.arange(len(raw)).astype(str),
        "user_id": raw["user"].astype(str), "item_id": raw["item"].astype(str),
        "event_type": "rating", "ts": pd.to_datetime(raw["ts"], unit="s", utc=True).astype("datetime64[us, UTC]"),
        "value": raw["rating"].astype(float),
    })


def read_amazon_sequences(path: Path) -> pd.DataFrame:
    users, items = [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) > 1:
            users.extend([parts[0]] * (len(parts) - 1))
            items.extend(parts[1:])
    order = np.arange(len(items))
    return pd.DataFrame({
        "event_id": order.astype(str), "user_id": users, "item_id": items, "event_type": "view",
        "ts": pd.to_datetime(order, unit="s", utc=True).astype("datetime64[us, UTC]"), "value": np.nan,
    })


def read_events(ds: str, path: Path) -> pd.DataFrame:
    if ds == "ml1m-part":
        return read_movielens(path)
    if ds == "taobao":
        return read_taobao(path).drop(columns=["category"])
    return read_amazon_sequences(path)


def _catalogue(ds: str, events: pd.DataFrame, lake: Path) -> Path | None:
    if ds == "taobao":
        cats = read_taobao(DATASETS[ds]).groupby("item_id")["category"].last()
        return write_catalogue(lake, {i: [c] for i, c in cats.items()})
    source = CATALOGUES.get(ds)
    if source is None or not source.exists():
        return None
    return write_catalogue(lake, movielens_genres(source))


def machine() -> dict[str, Any]:
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "processor": cpu_model(platform.processor() or platform.machine()), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["memory_gib"] = round(int(mem) / 2**20, 1)
    except (OSError, IndexError, ValueError):
        pass
    return info


def run(datasets: list[str], models: list[str], params: dict[str, dict[str, Any]], device: str,
        seed: int, *, refit: bool = True) -> dict[str, dict[str, Any]]:
    from recsys.dataset import events_to_frame
    from recsys.splits import leave_one_out
    from recsys.training import read_evaluation, train_model

    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        for ds in datasets:
            path = DATASETS[ds]
            if not path.exists():
                log.warning("%s: %s is absent, skipped", ds, path)
                continue
            started = time.perf_counter()
            events = read_events(ds, path)
            split = leave_one_out(events_to_frame(events))
            catalogue = _catalogue(ds, events, Path(tmp) / ds / "lake")
            split_dir = split.save(Path(tmp) / ds / "split")
            prep = time.perf_counter() - started
            log.info("%s: %d events, %d users, %d items; split in %.1f s", ds, split.info["n_events"],
                     split.train.n_users, split.train.n_items, prep)
            out[ds] = {"data": {k: v for k, v in split.info.items()} | {"n_items": split.train.n_items,
                                                                         "prepare_seconds": round(prep, 2)},
                       "models": {}}
            for m in models:
                p = {**DEFAULT_PARAMS.get(ds, {}).get(m, {}), **params.get(m, {})}
                if m == "ranker" and catalogue is not None:
                    p.setdefault("catalog", str(catalogue))
                log.info("%s: training %s %s", ds, m, p)
                trained = train_model(split_dir, m, Path(tmp) / ds / m, params=p, device=device, seed=seed,
                                      n_boot=1000, refit=refit)
                ev = read_evaluation(trained)
                met = ev["metrics"]
                out[ds]["models"][m] = {
                    "ndcg@10": met["ndcg@10"], "ndcg@10_ci95": ev["intervals"]["ndcg@10"],
                    "hr@10": met["hr@10"], "mrr@10": met["mrr@10"], "coverage@10": met["coverage@10"],
                    "novelty@10": met["novelty@10"], "ndcg@20": met["ndcg@20"], "hr@20": met["hr@20"],
                    "train_seconds": round(ev["train_seconds"], 2), "eval_seconds": round(ev["eval_seconds"], 2),
                    "epochs": {**ev["epochs"], **({"refit": ev["refit"]["epochs"]} if ev.get("refit") else {})},
                    "device": ev["device"], "params": ev["params"],
                    "protocol": ev["protocol"], "reference_ndcg@10": REFERENCE.get(ds, {}).get(m),
                    "measured": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                if m == "ranker":
                    out[ds]["models"][m]["candidates"] = candidate_recall(trained / "artifact", split.test)
                    meta = json.loads((trained / "artifact" / "ranker.json").read_text())
                    out[ds]["models"][m]["importances"] = dict(list(meta["importances"].items())[:10])
                log.info("%s %s: ndcg@10 %.4f hr@10 %.4f (%.1f s)", ds, m, met["ndcg@10"], met["hr@10"],
                         ev["train_seconds"])
    return out


def merge(path: Path, new: dict[str, dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    old = json.loads(path.read_text()) if path.exists() else {}
    results = old.get("results", {})
    for ds, entry in new.items():
        slot = results.setdefault(ds, {"data": entry["data"], "models": {}})
        slot["data"] = entry["data"]
        slot["models"].update(entry["models"])
    return {"protocol": "leave-one-out: per user the last item is the test target, the one before it validation "
                        "(SASRec early-stops on it, then is refit on all training events for its best epoch count); "
                        "full ranking over the catalog, "
                        "the user's training items excluded; bootstrap 95% CI over users",
            "machine": info, "results": results}


def markdown(report: dict[str, Any]) -> str:
    mach = report["machine"]
    lines = ["# Offline quality: leave-one-out, full ranking", "",
             f"Machine: {mach.get('processor')}, {mach.get('cpus')} CPUs (shared with other jobs), "
             f"{mach.get('memory_gib', '?')} GiB, {mach.get('platform')}, Python {mach.get('python')}, "
             f"torch {mach.get('torch')}, GPU: {mach.get('cuda') or 'none'}.", "",
             report["protocol"] + ".", "",
             "Produced by `bench/quality.py` (see its docstring); `ref` is the NDCG@10 measured elsewhere on the same "
             "splits (for SASRec: the target).", ""]
    for ds, entry in report["results"].items():
        d = entry["data"]
        lines += [f"## {ds}", "",
                  f"{d.get('n_events')} events, {d.get('n_users')} users, {d.get('n_items')} items; "
                  f"{d.get('n_test_users')} test users.", "",
                  "| model | NDCG@10 | 95% CI | ref | HR@10 | MRR@10 | coverage@10 | train s | epochs | params |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for m in [*MODELS, *sorted(set(entry["models"]) - set(MODELS))]:  # then variants stored with --as
            r = entry["models"].get(m)
            if r is None:
                continue
            ci = r.get("ndcg@10_ci95") or [float("nan")] * 2
            ref = r.get("reference_ndcg@10")
            epochs = ", ".join(f"{k} {v}" for k, v in r.get("epochs", {}).items()) or "-"
            params = ", ".join(f"{k}={v}" for k, v in r.get("params", {}).items())
            lines.append(f"| {m} | {r['ndcg@10']:.4f} | {ci[0]:.4f}-{ci[1]:.4f} | "
                         f"{'' if ref is None else f'{ref:.3f}'} | {r['hr@10']:.4f} | {r['mrr@10']:.4f} | "
                         f"{r['coverage@10']:.3f} | {r['train_seconds']:.1f} | {epochs} | {params} |")
        notes = [f"- {m}: {r['note']}" for m, r in entry["models"].items() if r.get("note")]
        for m, r in entry["models"].items():
            cand = r.get("candidates")
            if cand:
                recall = ", ".join(f"{k} {v:.3f}" for k, v in cand["recall"].items())
                notes.append(f"- {m} candidates: top {cand['n_candidates']} per retriever, "
                             f"{cand['candidates_per_user']} per user after the union; test recall of the candidates "
                             f"({cand['users']} users): {recall}")
        lines += [*notes, ""] if notes else [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--param", action="append", default=[], help="MODEL.KEY=VALUE (JSON value), repeatable")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    parser.add_argument("--no-refit", action="store_true",
                        help="keep the early-stopped SASRec (about half its training time, as recsys train --no-refit)")
    parser.add_argument("--as", dest="label", default=None,
                        help="Store the (single) model's result under this name instead of its own (a variant)")
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--note", default=None, help="A remark stored with every result of this run (e.g. why "
                                                      "SASRec ran few epochs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    params: dict[str, dict[str, Any]] = {}
    for item in args.param:
        key, _, raw = item.partition("=")
        model, _, name = key.partition(".")
        try:
            params.setdefault(model, {})[name] = json.loads(raw)
        except json.JSONDecodeError:
            params.setdefault(model, {})[name] = raw
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        parser.error(f"unknown data sets {unknown}; known: {list(DATASETS)}")
    new = run(datasets, [m for m in args.models.split(",") if m], params, args.device, args.seed,
              refit=not args.no_refit)
    if args.label:
        for entry in new.values():
            if len(entry["models"]) != 1:
                parser.error("--as names one model's result: give one model")
            entry["models"] = {args.label: next(iter(entry["models"].values()))}
    if args.note:
        for entry in new.values():
            for result in entry["models"].values():
                result["note"] = args.note
    report = merge(args.out, new, machine())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
