"""Registration: each trained model folder becomes a registry version (copied, idempotently per run), the run is
recorded as a `TrainingRun`, and the gate may promote."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recsys.errors import InputError
from recsys.registry import ModelEntry, Registry, RunStore, Sample, TrainingRun, new_run_id
from recsys.registry.run_record import Popularity, Segment
from recsys.training.compare import compare_with_production
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
    """Register each trained model (its ``artifact/`` folder, copied), optionally gate it into production, and
    record the run. Registering the same trained folders again under the same `run_id` returns the same versions
    (a retried step changes nothing). Returns ``{"run_id", "registry", "models": {name: summary}}``."""
    if not trained_dirs:
        raise InputError("no trained models to register")
    reg = Registry(registry)
    run_id = run_id or new_run_id()
    entries: dict[str, ModelEntry] = {}
    samples: dict[str, Sample] = {}
    split_info: dict[str, Any] = {}
    for trained in map(Path, trained_dirs):
        ev = read_evaluation(trained)
        name = ev["model"]
        split_info = ev.get("split", split_info)
        data = {k: v for k, v in split_info.items() if k != "dir"}
        version = reg.register_artifact(name, trained / ARTIFACT_DIR, metrics=ev["metrics"], data=data,
                                        params=ev["params"], run_id=run_id)
        entries[name] = _entry(version.version, ev)
        split_dir = ev.get("split", {}).get("dir")
        entries[name].paired = compare_with_production(reg, name, trained, Path(split_dir) if split_dir else None,
                                                       metric=metric)
        for s in ev.get("samples", []):
            row = samples.setdefault(s["user_id"], Sample(user_id=s["user_id"], segment=s.get("segment"),
                                                          history=s["history"], targets=s["targets"]))
            row.recommendations[name] = s["top"]
    store = RunStore(registry)
    previous = _recorded(store, run_id)
    run = TrainingRun(run_id=run_id, models=entries, split=split_info.get("kind"),
                      data={k: v for k, v in split_info.items() if k not in ("dir", "kind")}, metric=metric,
                      tolerance=tolerance, promote=promote, samples=list(samples.values()),
                      recorded=previous.recorded if previous else None)
    if previous is not None:  # a retry: keep the gate decisions already taken for these versions
        for name, entry in entries.items():
            old = previous.models.get(name)
            if old is not None and old.version == entry.version:
                entry.gate, entry.promoted = old.gate, old.promoted
    store.save(run)
    if promote:
        promote_run(registry, run_id, metric=metric, tolerance=tolerance)
        run = store.get(run_id)
    return {"run_id": run_id, "registry": str(registry),
            "models": {n: summary(e) for n, e in run.models.items()}}


def _recorded(store: RunStore, run_id: str) -> TrainingRun | None:
    try:
        return store.get(run_id)
    except InputError:
        return None


def _entry(version: int, ev: dict[str, Any]) -> ModelEntry:
    """A run's entry for one model from its `evaluation.json`."""
    popularity = ev.get("popularity_distribution") or None
    return ModelEntry(
        version=version, params=ev["params"], metrics=ev["metrics"], train_seconds=ev["train_seconds"],
        ci=ev.get("intervals", {}), eval_seconds=ev.get("eval_seconds"), epochs=ev.get("epochs", {}),
        device=ev.get("device"), protocol=ev.get("protocol"), n_users=ev.get("n_users"),
        segments={label: Segment(**seg) for label, seg in ev.get("segments", {}).items()},
        popularity=Popularity(**popularity) if popularity else None,
    )


def promote_run(
    registry: Path, run_id: str, *, metric: str = "ndcg@10", tolerance: float = 0.0
) -> list[dict[str, Any]]:
    """Apply the promotion gate to every version that run `run_id` registered (each model's `production` moves only
    when the candidate's `metric` is not worse by more than `tolerance`), and write the decisions into the run record
    so that the offline report shows them. Idempotent: a version already gated with the same settings keeps its
    decision (a retried step changes nothing). Returns the decisions."""
    reg, store = Registry(registry), RunStore(registry)
    run = store.get(run_id)
    same_settings = run.promote and run.metric == metric and run.tolerance == tolerance
    decisions = []
    for name, entry in run.models.items():
        if same_settings and entry.gate is not None:
            decisions.append(entry.gate.to_dict())
            continue
        decision = reg.promote(name, int(entry.version), metric=metric, tolerance=tolerance, paired=entry.paired)
        log.info("gate %s v%s: %s (%s)", name, entry.version, decision.promoted, decision.reason)
        entry.gate, entry.promoted = decision, decision.promoted
        decisions.append(decision.to_dict())
    run.metric, run.tolerance, run.promote = metric, tolerance, True
    store.save(run)
    return decisions


def summary(entry: ModelEntry) -> dict[str, Any]:
    """The few numbers of a model's entry that ``recsys train`` prints and the DAG passes on."""
    out: dict[str, Any] = {k: entry.metrics[k] for k in SUMMARY_KEYS if k in entry.metrics}
    out.update({"train_seconds": entry.train_seconds, "version": entry.version, "promoted": entry.promoted,
                "improved": improved(entry), "epochs": entry.epochs})
    if entry.paired is not None:
        out["vs_production"] = {k: entry.paired[k] for k in ("production_version", "delta", "ci", "p_value")}
    if "ndcg@10" in entry.ci:
        out["ndcg@10_ci95"] = entry.ci["ndcg@10"]
    return out


def improved(entry: ModelEntry) -> bool:
    """Significantly better than the production version it was compared with (the gate's word when it ran)."""
    if entry.gate is not None:
        return bool(entry.gate.improved)
    return entry.paired is not None and entry.paired["ci"][0] > 0
