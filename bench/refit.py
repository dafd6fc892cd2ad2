"""The refit of early-stopped SASRec: how cheaply can a cold nightly run learn the validation period?

Today (`recsys train`'s default) an early-stopped model is refit from scratch on the whole training period for its
best epoch count, which nearly doubles a run. The alternative measured here continues the early-stopped model (its
best epoch's weights) for a few epochs on the whole period (`recsys train --refit-epochs N`). One early-stopping
fit per data set is shared by every variant, so they differ only in the refit:

- ``none``: the early-stopped model, evaluated with the validation events as live history;
- ``continue-N``: continued N epochs on the whole training period;
- ``full``: today's refit from scratch for the best epoch count (``--full``);
- ``users-S``: no refit at all: a second early-stopping fit that validates on a share S of the users only, the
  others' validation events being training events (`Split.with_validation_users`; ``--users-share S``,
  added to an earlier run's JSON with ``--only-users``).

A variant's run time is the early-stopping fit plus its refit; today's time is the fit plus the full refit
(measured with ``--full``; without it, estimated as best epochs x the measured seconds per continued epoch, the same
work per epoch). Data sets and SASRec recipes are `bench/quality.py`'s, so the numbers compare with quality.md.

    .venv/bin/python bench/refit.py --dataset beauty --continue 1,2,3 --full --threads 1
Writes bench/results/refit-DATASET.json (after every variant) and bench/results/refit.md (every data set).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import cpu_model  # bench/machine.py (scripts run from bench/)
from quality import DATASETS, DEFAULT_PARAMS, read_events

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
GOAL = 0.60
"""The issue's goal: a cold run at equal quality (within the 95% CI) in at most 60% of today's time."""
log = logging.getLogger("bench.refit")


def _evaluate(model: Any, split: Any, with_history: bool) -> dict[str, Any]:
    from recsys.evaluation.evaluate import evaluate

    started = time.perf_counter()
    res = evaluate(model, split.test, histories=split.validation_histories() if with_history else None,
                   item_counts=split.item_counts(), n_train_users=split.train.n_users, n_boot=1000, seed=0).to_dict()
    return {"ndcg@10": res["metrics"]["ndcg@10"], "ndcg@10_ci95": res["intervals"]["ndcg@10"],
            "hr@10": res["metrics"]["hr@10"], "eval_seconds": round(time.perf_counter() - started, 1)}


def run(ds: str, continues: list[int], full: bool, overrides: dict[str, Any], out: Path,
        users_share: float | None = None, only_users: bool = False) -> dict[str, Any]:
    from recsys.dataset import events_to_frame
    from recsys.models import create_model
    from recsys.splits import Split, leave_one_out
    from recsys.training import fit_model, refit_model

    params = {**DEFAULT_PARAMS[ds]["sasrec"], **overrides}
    res: dict[str, Any] = {"dataset": ds, "params": params, "machine": machine(), "variants": {},
                           "started": datetime.now(UTC).isoformat(timespec="seconds")}
    changed = overrides
    if only_users and out.exists():  # the earlier run's recipe, with these overrides
        res = json.loads(out.read_text())
        changed = {k: v for k, v in overrides.items() if res["params"].get(k) != v}
        params = {**res["params"], **overrides}
    name = f"users-{users_share or 0:g}" + "".join(f"-{k}{v}" for k, v in changed.items())
    with tempfile.TemporaryDirectory(prefix="refit-") as tmp:
        split = Split.load(leave_one_out(events_to_frame(read_events(ds, DATASETS[ds]))).save(Path(tmp) / "split"))
        if users_share:
            view = split.with_validation_users(users_share)
            alone = create_model("sasrec", **params)
            seconds = fit_model(alone, view)
            res["variants"][name] = {
                "refit_epochs": 0, "refit_seconds": 0.0, "own_fit_seconds": round(seconds, 1),
                "validation_users": len(view.validation), **alone.training_lengths(),
                **_evaluate(alone, view, True)}
            log.info("%s %s: %s", ds, name, res["variants"][name])
            _write(out, res)
        if only_users:
            return res
        model = create_model("sasrec", **params)
        fit_s = fit_model(model, split)
        res["early_stopping"] = {"seconds": round(fit_s, 1), **model.training_lengths()}
        log.info("%s: early-stopped fit %.0f s %s", ds, fit_s, model.training_lengths())
        res["variants"]["none"] = {"refit_seconds": 0.0, **_evaluate(model, split, True)}
        _write(out, res)
        plans = [(f"continue-{n}", n, model) for n in continues] + ([("full", None, None)] if full else [])
        for name, epochs, start in plans:
            refit = refit_model(model, split, start_from=start, epochs=epochs)
            assert refit is not None
            res["variants"][name] = {"refit_epochs": refit.epochs, "refit_seconds": round(refit.seconds, 1),
                                     **_evaluate(refit.model, split, False)}
            log.info("%s %s: %s", ds, name, res["variants"][name])
            _write(out, res)
    return res


def _write(out: Path, res: dict[str, Any]) -> None:
    """Add run times and the verdict against today's (full refit) time, and write the JSON."""
    if "early_stopping" not in res:  # the shared fit has not run yet
        out.write_text(json.dumps(res, indent=2, sort_keys=True))
        return
    fit = res["early_stopping"]["seconds"]
    variants = res["variants"]
    per_epoch = [v["refit_seconds"] / v["refit_epochs"] for k, v in variants.items() if k.startswith("continue")]
    if "full" in variants:
        today, how = fit + variants["full"]["refit_seconds"], "measured"
    elif per_epoch:
        today, how = fit + res["early_stopping"]["best_epoch"] * min(per_epoch), "estimated"
    else:
        today, how = None, None
    res["today_seconds"], res["today"] = (round(today, 1) if today else None), how
    ref = variants.get("full") or _quality_reference(res["dataset"])
    for v in variants.values():
        v["run_seconds"] = v.get("own_fit_seconds") or round(fit + v["refit_seconds"], 1)
        v["share_of_today"] = round(v["run_seconds"] / today, 3) if today else None
        if ref:
            lo, hi = ref["ndcg@10_ci95"]
            v["within_full_refit_ci"] = bool(lo <= v["ndcg@10"] <= hi)
            v["goal"] = bool(v["within_full_refit_ci"] and v["share_of_today"] is not None
                             and v["share_of_today"] <= GOAL)
    res["quality_reference"] = "full refit of this run" if "full" in variants else "bench/results/quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, sort_keys=True))


def _quality_reference(ds: str) -> dict[str, Any] | None:
    path = RESULTS / "quality.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["results"].get(ds, {}).get("models", {}).get("sasrec")


def markdown() -> str:
    lines = ["# Refitting early-stopped SASRec: from scratch vs continuing", "",
             "Produced by `bench/refit.py` (see its docstring). One early-stopping fit per data set; each variant adds "
             "its refit. Today's time is that fit plus the refit from scratch for the best epoch count. Goal: NDCG@10 "
             f"within the full refit's 95% CI in at most {GOAL:.0%} of today's time.", ""]
    for path in sorted(RESULTS.glob("refit-*.json")):
        r = json.loads(path.read_text())
        if "early_stopping" not in r:  # a run still in its first fit, or one variant on its own
            continue
        es, m = r["early_stopping"], r["machine"]
        extra = "" if path.stem == f"refit-{r['dataset']}" else f" ({path.stem})"
        lines += [f"## {r['dataset']}{extra}", "",
                  f"Early-stopping fit: {es['seconds']:.0f} s, {es['epochs_trained']} epochs "
                  f"(best {es['best_epoch']}); "
                  f"today's run: {r['today_seconds']} s ({r['today']}; quality reference: {r['quality_reference']}). "
                  f"Params: {', '.join(f'{k}={v}' for k, v in r['params'].items())}.", "",
                  "| variant | refit epochs | refit s | run s | share of today | NDCG@10 | 95% CI | HR@10 | within CI "
                  "| goal |",
                  "|---|---:|---:|---:|---:|---:|---|---:|---|---|"]
        for name, v in r["variants"].items():
            ci = v["ndcg@10_ci95"]
            share = v.get("share_of_today")
            lines.append(f"| {name} | {v.get('refit_epochs', 0)} | {v['refit_seconds']:.0f} | {v['run_seconds']:.0f} | "
                         f"{'-' if share is None else f'{share:.0%}'} | {v['ndcg@10']:.4f} | {ci[0]:.4f}-{ci[1]:.4f} | "
                         f"{v['hr@10']:.4f} | {_yes(v.get('within_full_refit_ci'))} | "
                         f"{'**met**' if v.get('goal') else 'not met'} |")
        for note in r.get("notes", []):  # readings written into the JSON by hand after the run
            lines += ["", note]
        lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, torch threads {m['threads']}, load average "
                  f"{m['load_avg_at_start'][0]:.1f} at start; started {r['started']}.", ""]
    return "\n".join(lines)


def _yes(v: bool | None) -> str:
    return "-" if v is None else ("yes" if v else "no")


def machine() -> dict[str, Any]:
    import torch

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "load_avg_at_start": os.getloadavg(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=["ml1m-part", "beauty"])
    ap.add_argument("--continue", dest="continues", default="1,2,3", help="Epoch counts to continue for.")
    ap.add_argument("--full", action="store_true", help="Also measure today's refit from scratch.")
    ap.add_argument("--users-share", type=float, default=None,
                    help="Also fit once validating on this share of the users, without a refit.")
    ap.add_argument("--only-users", action="store_true",
                    help="Only the --users-share variant, added to this data set's earlier JSON.")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Override a SASRec param.")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", help="Result file name under bench/results, no suffix (default: refit-DATASET).")
    ap.add_argument("--report", action="store_true", help="Only rewrite refit.md from the JSON files.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.report:
        if args.dataset is None:
            ap.error("--dataset is required")
        if not DATASETS[args.dataset].exists():
            log.warning("%s is absent: skipped", DATASETS[args.dataset])
            return 0
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        overrides = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
        continues = [int(n) for n in args.continues.split(",") if n]
        run(args.dataset, continues, args.full, overrides, RESULTS / f"{args.out or 'refit-' + args.dataset}.json",
            users_share=args.users_share, only_users=args.only_users)
    (RESULTS / "refit.md").write_text(markdown())
    print(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
