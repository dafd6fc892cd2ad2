"""Building the report's numbers from the registry's run records.

The report shows exactly what training recorded (it never re-evaluates a model), so the page and the run record
cannot disagree. Where a record lacks a section (an older run, a pipeline that did not compute it), the gap is
filled from the registry when that is possible (a sample of users re-ranked by the registered versions, the
popularity distribution of their recommendations) and otherwise listed under ``gaps``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.errors import ArtifactError, InputError
from recsys.report.ranking import ranking_section

if TYPE_CHECKING:
    from recsys.registry import Registry

log = logging.getLogger(__name__)

REPORT_FORMAT = 1
KS = (1, 5, 10, 20)
RANKING_METRICS = ("ndcg", "hr", "recall", "mrr")
CATALOG_METRICS = ("coverage", "novelty", "avg_popularity")
METRICS = RANKING_METRICS + CATALOG_METRICS
HISTORY_METRICS = ("ndcg@10", "hr@10", "coverage@10")
SAMPLE_USERS = 8
TOP_N = 10
POPULARITY_BINS = 10

_KEY = re.compile(r"^([A-Za-z_]+)@(\d+)$")
_TIME_KEYS = ("created_at", "finished_at", "started_at", "recorded", "timestamp", "time", "ts")


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


def run_time(run: Mapping[str, Any]) -> str:
    """When a run happened, as recorded (ISO-8601 text); '' when the record has no time."""
    for key in _TIME_KEYS:
        if run.get(key):
            return str(run[key])
    return ""


def sorted_runs(registry: Registry) -> list[dict[str, Any]]:
    """Every recorded run, oldest first: by the time the registry recorded it, then (runs recorded within the
    same second) by the record file's modification time, which has sub-second resolution."""
    from recsys.registry.registry import RUNS_DIR

    folder = Path(registry.root) / RUNS_DIR

    def key(run: Mapping[str, Any]) -> tuple[str, int, str]:
        try:
            mtime = (folder / f"{run['run_id']}.json").stat().st_mtime_ns
        except OSError:
            mtime = 0
        return (str(run.get("recorded") or run_time(run)), mtime, str(run["run_id"]))

    return sorted((r for r in registry.runs() if isinstance(r, dict) and r.get("run_id")), key=key)


def summarize_runs(registry: str | Path | Registry) -> list[dict[str, Any]]:
    """One line per recorded run, newest first: its id, time and each model's ndcg@10/hr@10 and version."""
    reg = open_registry(registry)
    out = []
    for run in reversed(sorted_runs(reg)):
        models = {}
        for name, entry in _model_entries(run).items():
            metrics = flat_metrics(entry)
            models[name] = {"version": entry.get("version"), "ndcg@10": metrics.get("ndcg@10"),
                            "hr@10": metrics.get("hr@10")}
        out.append({"run_id": str(run["run_id"]), "created_at": run_time(run), "models": models})
    return out


def build_report(
    registry: str | Path | Registry,
    run_id: str | None = None,
    *,
    titles: Mapping[str, str] | None = None,
    sample_users: int = SAMPLE_USERS,
) -> dict[str, Any]:
    """The report of one training run (the newest when `run_id` is None) as a JSON-ready dict.

    Every number is the run record's own; `titles` (``{item_id: title}``) only labels items.
    """
    reg = open_registry(registry)
    runs = sorted_runs(reg)
    if not runs:
        raise InputError(f"registry {reg.root} has no recorded training runs: run `recsys train` first")
    if run_id is None:
        run = runs[-1]
    else:
        matches = [r for r in runs if str(r["run_id"]) == run_id]
        if not matches:
            known = ", ".join(str(r["run_id"]) for r in runs[-5:])
            raise InputError(f"no training run {run_id!r} in registry {reg.root} (latest: {known})")
        run = matches[0]
    entries = _model_entries(run)
    if not entries:
        raise ArtifactError(f"run {run['run_id']} records no models; its record is incomplete")
    titles = dict(titles or {})
    gaps: list[str] = []

    models: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        models[name] = {
            "version": entry.get("version"),
            "params": entry.get("params") or {},
            "train_seconds": _num(entry.get("train_seconds")),
            "promoted": _promoted(entry),
            "metrics": flat_metrics(entry),
            "ci": _intervals(entry),
        }
        if not models[name]["ci"]:
            gaps.append(f"{name}: the run record has no bootstrap intervals")

    report: dict[str, Any] = {
        "report": "offline-metrics",
        "format": REPORT_FORMAT,
        "run_id": str(run["run_id"]),
        "created_at": run_time(run),
        "info": _run_info(run),
        "ks": _ks(models),
        "metrics": list(METRICS),
        "primary_metric": str(run.get("metric") or "ndcg@10"),
        "models": models,
        "gate": _gates(reg, run, entries, models),
        "segments": _segments(entries),
        "history": _history(runs, str(run["run_id"])),
        "popularity": _popularity(entries),
        "samples": _samples(run, entries, titles),
        "ranking": ranking_section(reg, entries),
        "gaps": gaps,
    }
    if not report["segments"]:
        gaps.append("the run record has no per-segment metrics")
    if not report["popularity"]["models"]:
        report["popularity"] = _popularity_from_registry(reg, entries, gaps)
    if not report["samples"]:
        report["samples"] = _samples_from_registry(reg, entries, titles, sample_users, gaps)
    return report


# ---------------------------------------------------------------------------------------------- metrics
def flat_metrics(entry: Mapping[str, Any]) -> dict[str, float]:
    """``{"ndcg@10": value, ...}`` from a model's entry, whatever nesting the record used."""
    raw = entry.get("metrics", entry)
    out: dict[str, float] = {}
    _flatten(raw, out)
    for key in ("ndcg@10", "hr@10", "coverage@10"):  # the summary keys run_training returns
        if key not in out and _num(entry.get(key)) is not None:
            out[key] = float(entry[key])
    return dict(sorted(out.items(), key=lambda kv: _metric_order(kv[0])))


def _flatten(raw: Any, out: dict[str, float], prefix: str | None = None) -> None:
    if not isinstance(raw, Mapping):
        return
    for key, value in raw.items():
        key = str(key)
        if _KEY.match(key):
            v = _num(value.get("value", value.get("mean")) if isinstance(value, Mapping) else value)
            if v is not None:
                out[key] = v
        elif prefix is None and key.isdigit() and isinstance(value, Mapping):  # {"10": {"ndcg": ...}}
            for m, v in value.items():
                if _num(v) is not None:
                    out[f"{m}@{key}"] = float(v)
        elif prefix is None and key in METRICS and isinstance(value, Mapping):  # {"ndcg": {"10": ...}}
            for k, v in value.items():
                if str(k).isdigit() and _num(v) is not None:
                    out[f"{key}@{k}"] = float(v)


def _intervals(entry: Mapping[str, Any]) -> dict[str, list[float]]:
    """``{"ndcg@10": [low, high]}`` from whatever the record calls its bootstrap intervals."""
    raw = None
    for key in ("ci", "ci95", "intervals", "bootstrap", "confidence_intervals"):
        if isinstance(entry.get(key), Mapping):
            raw = entry[key]
            break
    out: dict[str, list[float]] = {}
    if raw is not None:
        for key, value in _flat_items(raw):
            pair = _pair(value)
            if pair is not None:
                out[key] = pair
    metrics = entry.get("metrics")
    if isinstance(metrics, Mapping):  # {"ndcg@10": {"value": .., "ci": [lo, hi]}}
        for key, value in metrics.items():
            if _KEY.match(str(key)) and isinstance(value, Mapping):
                pair = _pair(value.get("ci", value))
                if pair is not None:
                    out.setdefault(str(key), pair)
    return dict(sorted(out.items(), key=lambda kv: _metric_order(kv[0])))


def _flat_items(raw: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for key, value in raw.items():
        key = str(key)
        if _KEY.match(key):
            yield key, value
        elif key.isdigit() and isinstance(value, Mapping):
            for m, v in value.items():
                yield f"{m}@{key}", v
        elif key in METRICS and isinstance(value, Mapping):
            for k, v in value.items():
                yield f"{key}@{k}", v


def _pair(value: Any) -> list[float] | None:
    if isinstance(value, Mapping):
        for lo, hi in (("low", "high"), ("lo", "hi"), ("lower", "upper"), ("ci_low", "ci_high")):
            if _num(value.get(lo)) is not None and _num(value.get(hi)) is not None:
                return [float(value[lo]), float(value[hi])]
        return None
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        low, high = _num(value[0]), _num(value[1])
        if low is not None and high is not None:
            return [low, high]
    return None


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
def _model_entries(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    models = run.get("models")
    if isinstance(models, Mapping):
        return {str(k): dict(v) for k, v in models.items() if isinstance(v, Mapping)}
    if isinstance(models, list):
        return {str(m["name"]): dict(m) for m in models if isinstance(m, Mapping) and m.get("name")}
    return {}


def _run_info(run: Mapping[str, Any]) -> dict[str, Any]:
    """Scalar facts about the run (split, data window and sizes, gate settings) for the header, flattened to
    dotted keys (``data.n_users``)."""
    info: dict[str, Any] = {}

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, str | int | float | bool) or value is None:
            info[prefix] = value
        elif isinstance(value, Mapping) and depth < 3:
            for k, v in value.items():
                walk(f"{prefix}.{k}", v, depth + 1)

    for key, value in run.items():
        if key not in ("models", "run_id", "samples") and key not in _TIME_KEYS:
            walk(key, value, 1)
    return info


def _promoted(entry: Mapping[str, Any]) -> bool | None:
    if isinstance(entry.get("promoted"), bool):
        return bool(entry["promoted"])
    gate = _gate_entry(entry)
    return bool(gate["promoted"]) if gate and isinstance(gate.get("promoted"), bool) else None


def _gate_entry(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    for key in ("gate", "promotion", "decision", "gate_decision"):
        if isinstance(entry.get(key), Mapping):
            return dict(entry[key])
    return None


def _gates(reg: Registry, run: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]],
           models: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per model: the candidate (this run's version) next to the production version it was gated against."""
    out = []
    for name, entry in entries.items():
        gate = _gate_entry(entry) or {}
        cand_version = entry.get("version", gate.get("version"))
        prod_version = gate.get("previous_version")
        if prod_version is None and not gate:
            try:
                prod_version = reg.aliases(name).get("production")
            except (ArtifactError, OSError, ValueError, KeyError):
                prod_version = None
            if prod_version == cand_version:
                prod_version = None
        prod_metrics = _version_metrics(reg, name, prod_version) if prod_version is not None else {}
        cand_metrics = models[name]["metrics"]
        rows = []
        for key in (*HISTORY_METRICS, "mrr@10", "recall@10", "novelty@10", "avg_popularity@10"):
            if key in cand_metrics:
                p = prod_metrics.get(key)
                rows.append({"metric": key, "production": p, "candidate": cand_metrics[key],
                             "delta": None if p is None else cand_metrics[key] - p})
        out.append({
            "model": name,
            "candidate_version": cand_version,
            "production_version": prod_version,
            "gated": bool(gate),
            "promoted": gate.get("promoted", entry.get("promoted")),
            "reason": gate.get("reason") or ("not gated in this run (trained without --promote)" if not gate else ""),
            "metric": gate.get("metric"),
            "candidate_value": _num(gate.get("candidate_value")),
            "production_value": _num(gate.get("production_value")),
            "comparison": rows,
        })
    return out


def _version_metrics(reg: Registry, name: str, version: Any) -> dict[str, float]:
    try:
        for mv in reg.versions(name):
            if str(mv.version) == str(version):
                return flat_metrics({"metrics": mv.manifest.get("metrics", {})})
    except (ArtifactError, OSError, ValueError, KeyError) as err:
        log.warning("cannot read %s v%s from the registry: %s", name, version, err)
    return {}


def _segments(entries: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-segment tables, one per segment group (cold/warm, history length):
    ``[{"group", "title", "rows": [{"segment", "users", "models": {name: {metric: value}}, "ci": {...}}]}]``.

    Reads the evaluation's ``{label: {"group", "value", "n_users", "metrics", "intervals"}}``; also a nested
    ``{group: {value: {...}}}``."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for name, entry in entries.items():
        raw = entry.get("segments")
        if not isinstance(raw, Mapping):
            continue
        for key, value in raw.items():
            if not isinstance(value, Mapping):
                continue
            if _is_segment(value):
                members = {str(key): value}
                group = str(value.get("group") or "segment")
            else:
                members, group = {str(k): v for k, v in value.items() if isinstance(v, Mapping)}, str(key)
            for segment, seg in members.items():
                row = groups.setdefault(group, {}).setdefault(segment, {
                    "segment": segment, "value": str(seg.get("value", segment)), "users": None,
                    "models": {}, "ci": {}})
                users = _num(seg.get("n_users", seg.get("users", seg.get("n"))))
                if users is not None:
                    row["users"] = int(users)
                row["models"][name] = flat_metrics(seg)
                row["ci"][name] = _intervals(seg)
    return [{"group": g, "title": _GROUP_TITLES.get(g, g.replace("_", " ")),
             "rows": sorted(rows.values(), key=lambda r: _bucket_key(r["value"]))}
            for g, rows in groups.items()]


_GROUP_TITLES = {"cold": "cold vs warm users (any training history)",
                 "history_bucket": "length of the user's training history (events)"}


def _is_segment(value: Mapping[str, Any]) -> bool:
    return any(k in value for k in ("metrics", "n_users", "users")) or any(_KEY.match(str(k)) for k in value)


def _bucket_key(value: str) -> tuple[int, str]:
    """History buckets in numeric order ("1-4" before "10-19"); other values alphabetically."""
    head = value.split("-")[0].rstrip("+")
    return (int(head), value) if head.isdigit() else (-1, value)


def _history(runs: Sequence[Mapping[str, Any]], current: str) -> dict[str, Any]:
    """Each history metric of every model across all recorded runs, oldest first."""
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(_model_entries(run)))
    points = []
    for run in runs:
        entries = _model_entries(run)
        points.append({
            "run_id": str(run["run_id"]),
            "created_at": run_time(run),
            "models": {n: {k: flat_metrics(e).get(k) for k in HISTORY_METRICS} | {"version": e.get("version")}
                       for n, e in entries.items()},
        })
    index = next((i for i, p in enumerate(points) if p["run_id"] == current), len(points) - 1)
    return {"metrics": list(HISTORY_METRICS), "models": list(names), "runs": points, "current": index}


def _popularity(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"bins", "reference": {label: shares}, "models": {name: shares}}`` from the record, when it has one.

    Bins are popularity ranges of the catalogue (most popular first); the reference series are the catalogue's
    share of items and of training interactions per bin; a model's series is its share of top-K slots."""
    out: dict[str, Any] = {"bins": [], "reference": {}, "models": {}, "source": "run record"}
    for name, entry in entries.items():
        raw = entry.get("popularity_distribution") or entry.get("popularity")
        if not isinstance(raw, Mapping):
            continue
        rec = raw.get("recommendations", raw.get("recommended"))
        bins = raw.get("bins")
        if not isinstance(rec, Sequence) or not isinstance(bins, Sequence) or len(rec) != len(bins):
            continue
        out["bins"] = [str(b) for b in bins]
        for key, label in (("catalog_items", "catalog: items"), ("catalog_interactions", "catalog: interactions"),
                           ("catalog", "catalog")):
            if isinstance(raw.get(key), Sequence) and len(raw[key]) == len(bins):
                out["reference"][label] = [float(x) for x in raw[key]]
        out["models"][name] = [float(x) for x in rec]
    return out


def _samples(run: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]],
             titles: Mapping[str, str]) -> list[dict[str, Any]]:
    """``[{"user_id", "history": [item], "targets": [item], "recommendations": {model: [item]}}]`` where each
    item is ``{"item_id", "title", "hit"}``."""
    raw = run.get("samples") or run.get("sample_users")
    users: dict[str, dict[str, Any]] = {}
    if isinstance(raw, list):
        for s in raw:
            if isinstance(s, Mapping) and s.get("user_id") is not None:
                users[str(s["user_id"])] = dict(s)
    for name, entry in entries.items():  # per-model samples: {"samples": {user: [items]}}
        per = entry.get("samples") or entry.get("sample")
        if isinstance(per, Mapping):
            for user, items in per.items():
                users.setdefault(str(user), {"user_id": str(user)}).setdefault("recommendations", {})[name] = items
    out = []
    for user, s in users.items():
        targets = [str(t) for t in _as_list(s.get("targets", s.get("target", s.get("test", []))))]
        recs = s.get("recommendations") or s.get("top") or {}
        out.append({
            "user_id": user,
            "segment": s.get("segment"),
            "history": [_item(i, titles, ()) for i in _as_list(s.get("history", s.get("recent", [])))],
            "targets": [_item(i, titles, ()) for i in targets],
            "recommendations": {m: [_item(i, titles, targets) for i in _as_list(items)]
                                for m, items in recs.items()},
        })
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | int):
        return [value]
    return list(value)


def _item(item: Any, titles: Mapping[str, str], targets: Sequence[str]) -> dict[str, Any]:
    if isinstance(item, Mapping):
        item_id = str(item.get("item_id", item.get("id")))
        title = item.get("title")
    else:
        item_id, title = str(item), None
    return {"item_id": item_id, "title": titles.get(item_id, title), "hit": item_id in targets}


# ---------------------------------------------------------------------------------------------- registry fallbacks
def _load_versions(reg: Registry, entries: Mapping[str, Mapping[str, Any]], gaps: list[str]) -> dict[str, Any]:
    loaded = {}
    for name, entry in entries.items():
        version = entry.get("version")
        if version is None:
            continue
        try:
            loaded[name], _ = reg.load(name, int(version))
        except (ArtifactError, OSError, ValueError, KeyError) as err:
            gaps.append(f"{name} v{version} could not be loaded from the registry: {err}")
    return loaded


def _popularity_from_registry(reg: Registry, entries: Mapping[str, Mapping[str, Any]],
                              gaps: list[str]) -> dict[str, Any]:
    """Share of interactions (catalogue) and of recommended slots (models) per popularity decile of items,
    recomputed from the registered versions for up to 500 training users."""
    out: dict[str, Any] = {"bins": [], "reference": {}, "models": {}, "source": "recomputed from the registry"}
    models = _load_versions(reg, entries, gaps)
    if not models:
        gaps.append("no popularity distribution: not in the run record and no model version could be loaded")
        return out
    first = next(iter(models.values()))
    popularity = np.asarray(first.item_popularity_, dtype=np.float64)
    order = np.argsort(-popularity, kind="stable")
    bins = np.array_split(order, min(POPULARITY_BINS, len(order)))
    bin_of = np.empty(len(order), np.int64)
    for b, idx in enumerate(bins):
        bin_of[idx] = b
    total = popularity.sum() or 1.0
    out["bins"] = [f"{100 * b // len(bins)}-{100 * (b + 1) // len(bins)}%" for b in range(len(bins))]
    out["reference"]["catalog: interactions"] = [float(popularity[idx].sum() / total) for idx in bins]
    users = first.users_.to_list()[:500]
    for name, model in models.items():
        ids, _ = model.recommend(users, k=TOP_N)
        flat = [i for i in np.asarray(ids, dtype=object).ravel() if i is not None]
        idx = first.items_.index(flat)
        idx = idx[idx >= 0]
        counts = np.bincount(bin_of[idx], minlength=len(bins)).astype(np.float64)
        out["models"][name] = (counts / max(counts.sum(), 1.0)).tolist()
    gaps.append("the popularity distribution is not in the run record; it was recomputed from the registered "
                f"versions on {len(users)} training users")
    return out


def _samples_from_registry(reg: Registry, entries: Mapping[str, Mapping[str, Any]], titles: Mapping[str, str],
                           n_users: int, gaps: list[str]) -> list[dict[str, Any]]:
    """Recent training history and each registered version's top-10 for a few users, when the record has none."""
    models = _load_versions(reg, entries, gaps)
    if not models:
        gaps.append("no sample users: not in the run record and no model version could be loaded")
        return []
    first = next(iter(models.values()))
    n = len(first.users_)
    picks = np.linspace(0, n - 1, num=min(n_users, n)).astype(np.int64) if n else np.zeros(0, np.int64)
    users = first.users_.external(picks).tolist()
    recs = {name: model.recommend(users, k=TOP_N)[0] for name, model in models.items()}
    out = []
    for row, (u, user) in enumerate(zip(picks, users, strict=True)):
        history = first.items_.external(first.sequences_[u][-TOP_N:]).tolist()
        out.append({
            "user_id": user, "segment": None,
            "history": [_item(i, titles, ()) for i in history],
            "targets": [],
            "recommendations": {name: [_item(i, titles, ()) for i in ids[row] if i is not None]
                                for name, ids in recs.items()},
        })
    gaps.append("sample users are not in the run record; their top-10 lists were recomputed from the registered "
                "versions (held-out targets unknown)")
    return out
