"""Building the report's numbers from the typed training-run records (`recsys.registry.TrainingRun`).

The report shows exactly what training recorded (it never re-evaluates a model), so the page and the run record
cannot disagree. A section the record lacks is listed under ``gaps``; older records are read through the record's
own `recsys.registry.run_record.upgrade`, not guessed at here.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.errors import ArtifactError, InputError
from recsys.registry.runs import RunStore

if TYPE_CHECKING:
    from recsys.registry import Registry
    from recsys.registry.run_record import ModelEntry, TrainingRun

log = logging.getLogger(__name__)

REPORT_FORMAT = 1
KS = (1, 5, 10, 20)
RANKING_METRICS = ("ndcg", "hr", "recall", "mrr")
CATALOG_METRICS = ("coverage", "novelty", "avg_popularity")
METRICS = RANKING_METRICS + CATALOG_METRICS
HISTORY_METRICS = ("ndcg@10", "hr@10", "coverage@10")
GATE_METRICS = (*HISTORY_METRICS, "mrr@10", "recall@10", "novelty@10", "avg_popularity@10")

_KEY = re.compile(r"^([A-Za-z_]+)@(\d+)$")
_NOT_INFO = ("models", "run_id", "samples", "recorded", "schema")
_GROUP_TITLES = {"cold": "cold vs warm users (any training history)",
                 "history_bucket": "length of the user's training history (events)"}


# ---------------------------------------------------------------------------------------------- public API
def open_registry(registry: str | Path | Registry) -> Registry:
    """A `Registry` for a path (or the registry itself)."""
    from recsys.registry import Registry

    if isinstance(registry, Registry):
        return registry
    root = Path(registry)
    if not root.is_dir():
        raise InputError(f"registry {root} does not exist: train first (`recsys train --registry {root} ...`)")
    return Registry(root)


def sorted_runs(registry: Registry) -> list[TrainingRun]:
    """Every recorded run, oldest first (see `RunStore.list`)."""
    return RunStore(registry.root).list()


def summarize_runs(registry: str | Path | Registry) -> list[dict[str, Any]]:
    """One line per recorded run, newest first: its id, time and each model's ndcg@10/hr@10 and version."""
    out = []
    for run in reversed(sorted_runs(open_registry(registry))):
        models = {name: {"version": e.version, "ndcg@10": _metrics(e).get("ndcg@10"), "hr@10": _metrics(e).get("hr@10")}
                  for name, e in run.models.items()}
        out.append({"run_id": run.run_id, "created_at": run.recorded or "", "models": models})
    return out


def build_report(
    registry: str | Path | Registry,
    run_id: str | None = None,
    *,
    titles: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The report of one training run (the newest when `run_id` is None) as a JSON-ready dict.

    Every number is the run record's own; `titles` (``{item_id: title}``) only labels items.
    """
    reg = open_registry(registry)
    runs = sorted_runs(reg)
    if not runs:
        raise InputError(f"registry {reg.root} has no recorded training runs: run `recsys train` first")
    run = runs[-1] if run_id is None else next((r for r in runs if r.run_id == run_id), None)
    if run is None:
        known = ", ".join(r.run_id for r in runs[-5:])
        raise InputError(f"no training run {run_id!r} in registry {reg.root} (latest: {known})")
    if not run.models:
        raise ArtifactError(f"run {run.run_id} records no models; its record is incomplete")
    gaps: list[str] = []
    models = {name: _model(entry) for name, entry in run.models.items()}
    gaps += [f"{name}: the run record has no bootstrap intervals" for name, m in models.items() if not m["ci"]]
    report: dict[str, Any] = {
        "report": "offline-metrics",
        "format": REPORT_FORMAT,
        "run_id": run.run_id,
        "created_at": run.recorded or "",
        "info": _run_info(run),
        "ks": _ks(models),
        "metrics": list(METRICS),
        "primary_metric": run.metric or "ndcg@10",
        "models": models,
        "gate": [_gate(reg, name, entry, models[name]["metrics"]) for name, entry in run.models.items()],
        "segments": _segments(run.models),
        "history": _history(runs, run.run_id),
        "popularity": _popularity(run.models),
        "samples": _samples(run, dict(titles or {})),
        "gaps": gaps,
    }
    if not report["segments"]:
        gaps.append("the run record has no per-segment metrics")
    if not report["popularity"]["models"]:
        gaps.append("the run record has no popularity distribution of the recommendations")
    if not report["samples"]:
        gaps.append("the run record has no sample users")
    return report


# ---------------------------------------------------------------------------------------------- metrics
def _model(entry: ModelEntry) -> dict[str, Any]:
    return {"version": entry.version, "params": entry.params or {}, "train_seconds": _num(entry.train_seconds),
            "promoted": entry.promoted if entry.promoted is not None else (entry.gate.promoted if entry.gate else None),
            "metrics": _metrics(entry), "ci": _ordered(entry.ci)}


def _metrics(entry: ModelEntry | Mapping[str, Any]) -> dict[str, float]:
    """Finite metric values in report order (``ndcg@1, ndcg@5, ..., hr@1, ...``)."""
    raw = entry if isinstance(entry, Mapping) else entry.metrics
    return _ordered({k: float(v) for k, v in raw.items() if _num(v) is not None})


def _ordered(values: Mapping[str, Any]) -> dict[str, Any]:
    return dict(sorted(values.items(), key=lambda kv: _metric_order(kv[0])))


def _metric_order(key: str) -> tuple[int, int, str]:
    m = _KEY.match(key)
    if not m:
        return (len(METRICS), 0, key)
    name, k = m.group(1), int(m.group(2))
    return (METRICS.index(name) if name in METRICS else len(METRICS), k, key)


def _ks(models: Mapping[str, Mapping[str, Any]]) -> list[int]:
    ks = {int(m.group(2)) for entry in models.values() for key in entry["metrics"] if (m := _KEY.match(key))}
    return sorted(ks) or list(KS)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


# ---------------------------------------------------------------------------------------------- sections
def _run_info(run: TrainingRun) -> dict[str, Any]:
    """Scalar facts about the run (split, data window and sizes, gate settings) for the header, flattened to
    dotted keys (``data.n_users``)."""
    info: dict[str, Any] = {}

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, str | int | float | bool) or value is None:
            info[prefix] = value
        elif isinstance(value, Mapping) and depth < 3:
            for k, v in value.items():
                walk(f"{prefix}.{k}", v, depth + 1)

    for key, value in run.to_dict().items():
        if key not in _NOT_INFO:
            walk(key, value, 1)
    return info


def _gate(reg: Registry, name: str, entry: ModelEntry, metrics: Mapping[str, float]) -> dict[str, Any]:
    """The candidate (this run's version) next to the production version it was gated against (or, for a run
    that was not gated, the version in production now)."""
    gate = entry.gate
    prod_version = gate.previous_version if gate else _production(reg, name)
    if prod_version == entry.version and gate is None:
        prod_version = None
    prod_metrics = _version_metrics(reg, name, prod_version) if prod_version is not None else {}
    rows = [{"metric": key, "production": prod_metrics.get(key), "candidate": metrics[key],
             "delta": None if prod_metrics.get(key) is None else metrics[key] - prod_metrics[key]}
            for key in GATE_METRICS if key in metrics]
    return {
        "model": name,
        "candidate_version": entry.version,
        "production_version": prod_version,
        "gated": gate is not None,
        "promoted": gate.promoted if gate else entry.promoted,
        "reason": gate.reason if gate else "not gated in this run (trained without --promote)",
        "metric": gate.metric if gate else None,
        "candidate_value": _num(gate.candidate_value) if gate else None,
        "production_value": _num(gate.production_value) if gate else None,
        "improved": bool(gate.improved) if gate else None,
        "paired": (gate.paired if gate else None) or entry.paired,
        "comparison": rows,
    }


def _production(reg: Registry, name: str) -> int | None:
    try:
        return reg.aliases(name).get("production")
    except (ArtifactError, OSError, ValueError, KeyError):
        return None


def _version_metrics(reg: Registry, name: str, version: int) -> dict[str, float]:
    try:
        for mv in reg.versions(name):
            if mv.version == version:
                return _metrics(mv.manifest.get("metrics", {}))
    except (ArtifactError, OSError, ValueError, KeyError) as err:
        log.warning("cannot read %s v%s from the registry: %s", name, version, err)
    return {}


def _segments(entries: Mapping[str, ModelEntry]) -> list[dict[str, Any]]:
    """Per-segment tables, one per segment group (cold/warm, history length):
    ``[{"group", "title", "rows": [{"segment", "value", "users", "models": {name: metrics}, "ci": {...}}]}]``."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for name, entry in entries.items():
        for label, seg in entry.segments.items():
            row = groups.setdefault(seg.group, {}).setdefault(label, {
                "segment": label, "value": str(seg.value), "users": int(seg.n_users), "models": {}, "ci": {}})
            row["models"][name] = _metrics(seg.metrics)
            row["ci"][name] = _ordered(seg.intervals)
    return [{"group": g, "title": _GROUP_TITLES.get(g, g.replace("_", " ")),
             "rows": sorted(rows.values(), key=lambda r: _bucket_key(r["value"]))}
            for g, rows in groups.items()]


def _bucket_key(value: str) -> tuple[int, str]:
    """History buckets in numeric order ("1-4" before "10-19"); other values alphabetically."""
    head = value.split("-")[0].rstrip("+")
    return (int(head), value) if head.isdigit() else (-1, value)


def _history(runs: Sequence[TrainingRun], current: str) -> dict[str, Any]:
    """Each history metric of every model across all recorded runs, oldest first."""
    names = list(dict.fromkeys(name for run in runs for name in run.models))
    points = [{"run_id": run.run_id, "created_at": run.recorded or "",
               "models": {n: {k: _metrics(e).get(k) for k in HISTORY_METRICS} | {"version": e.version}
                          for n, e in run.models.items()}}
              for run in runs]
    index = next((i for i, p in enumerate(points) if p["run_id"] == current), len(points) - 1)
    return {"metrics": list(HISTORY_METRICS), "models": names, "runs": points, "current": index}


def _popularity(entries: Mapping[str, ModelEntry]) -> dict[str, Any]:
    """``{"bins", "reference": {label: shares}, "models": {name: shares}}``: bins are popularity ranges of the
    catalogue (most popular first); the reference series are the catalogue's share of items and of training
    interactions per bin; a model's series is its share of top-K slots."""
    out: dict[str, Any] = {"bins": [], "reference": {}, "models": {}, "source": "run record"}
    for name, entry in entries.items():
        pop = entry.popularity
        if pop is None:
            continue
        out["bins"] = list(pop.bins)
        out["reference"] = {"catalog: items": list(pop.catalog_items),
                            "catalog: interactions": list(pop.catalog_interactions)}
        out["models"][name] = list(pop.recommendations)
    return out


def _samples(run: TrainingRun, titles: Mapping[str, str]) -> list[dict[str, Any]]:
    """``[{"user_id", "segment", "history", "targets", "recommendations": {model: [item]}}]`` where each item is
    ``{"item_id", "title", "hit"}``."""
    return [{"user_id": s.user_id, "segment": s.segment,
             "history": [_item(i, titles, ()) for i in s.history],
             "targets": [_item(i, titles, ()) for i in s.targets],
             "recommendations": {m: [_item(i, titles, s.targets) for i in items]
                                 for m, items in s.recommendations.items()}}
            for s in run.samples]


def _item(item: str, titles: Mapping[str, str], targets: Sequence[str]) -> dict[str, Any]:
    item_id = str(item)
    return {"item_id": item_id, "title": titles.get(item_id), "hit": item_id in targets}
