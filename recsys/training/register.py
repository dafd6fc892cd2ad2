"""Registration: each trained model becomes a registry version, the run is recorded, and the gate may promote."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.errors import InputError
from recsys.models import load_model
from recsys.training.steps import ARTIFACT_DIR, read_evaluation

log = logging.getLogger(__name__)

SUMMARY_KEYS = ("ndcg@10", "hr@10", "coverage@10", "recall@10", "mrr@10")


def register_models(
    trained_dirs: Sequence[Path],
    registry: Path,
    *,
    promote: bool = False,
    metric: str = "ndcg@10",
    tolerance: float = 0.0,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Register each trained model as a new version, optionally gate it into production, and record the run
    (``REGISTRY/_runs/<run_id>.json``). Returns ``{"run_id", "models": {name: summary}}``."""
    from recsys.registry import Registry

    if not trained_dirs:
        raise InputError("no trained models to register")
    reg = Registry(registry)
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    evaluations = [(Path(d), read_evaluation(Path(d))) for d in trained_dirs]
    entries: dict[str, dict[str, Any]] = {}
    samples: dict[str, dict[str, Any]] = {}
    split_info: dict[str, Any] = {}
    for trained, ev in evaluations:
        name = ev["model"]
        model = load_model(trained / ARTIFACT_DIR)
        split_info = ev.get("split", split_info)
        data = {k: v for k, v in split_info.items() if k != "dir"}
        version = reg.register(name, model, metrics=ev["metrics"], data=data, params=ev["params"], run_id=run_id)
        entry: dict[str, Any] = {
            "version": version.version,
            "params": ev["params"],
            "train_seconds": ev["train_seconds"],
            "eval_seconds": ev.get("eval_seconds"),
            "epochs": ev.get("epochs", {}),
            "device": ev.get("device"),
            "protocol": ev.get("protocol"),
            "n_users": ev.get("n_users"),
            "metrics": ev["metrics"],
            "ci": ev.get("intervals", {}),
            "segments": ev.get("segments", {}),
            "popularity": ev.get("popularity_distribution", {}),
            "promoted": None,
        }
        entries[name] = entry
        for s in ev.get("samples", []):
            row = samples.setdefault(s["user_id"], {k: v for k, v in s.items() if k != "top"} | {"recommendations": {}})
            row["recommendations"][name] = s["top"]
    record = {
        "run_id": run_id,
        "split": split_info.get("kind"),
        "data": {k: v for k, v in split_info.items() if k not in ("dir", "kind")},
        "metric": metric,
        "tolerance": tolerance,
        "promote": promote,
        "models": entries,
        "samples": list(samples.values()),
    }
    reg.record_run(record)
    if promote:
        for decision in promote_run(registry, run_id, metric=metric, tolerance=tolerance):
            entries[decision["name"]].update(gate=decision, promoted=decision["promoted"])
    return {"run_id": run_id, "registry": str(registry), "models": {n: _summary(e) for n, e in entries.items()}}


def promote_run(
    registry: Path, run_id: str, *, metric: str = "ndcg@10", tolerance: float = 0.0
) -> list[dict[str, Any]]:
    """Apply the promotion gate to every version that run `run_id` registered (each model's `production` moves only
    when the candidate's `metric` is not worse by more than `tolerance`), and write the decisions into the run record
    so that the offline report shows them. Returns the decisions."""
    from recsys.registry import Registry

    reg = Registry(registry)
    run = reg.run(run_id)
    decisions = []
    for name, entry in run.get("models", {}).items():
        decision = reg.promote(name, int(entry["version"]), metric=metric, tolerance=tolerance).to_dict()
        log.info("gate %s v%s: %s (%s)", name, entry["version"], decision["promoted"], decision["reason"])
        entry.update(gate=decision, promoted=decision["promoted"])
        decisions.append(decision)
    run.update(metric=metric, tolerance=tolerance, promote=True)
    reg.record_run(run)
    return decisions


def _summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    metrics = entry["metrics"]
    out: dict[str, Any] = {k: metrics[k] for k in SUMMARY_KEYS if k in metrics}
    out.update({"train_seconds": entry["train_seconds"], "version": entry["version"], "promoted": entry["promoted"],
                "epochs": entry.get("epochs", {})})
    if "ndcg@10" in entry.get("ci", {}):
        out["ndcg@10_ci95"] = entry["ci"]["ndcg@10"]
    return out
