"""Training pipeline steps: split the lake, fit and evaluate each model, register the versions, record the run.

Each step reads its inputs from disk and writes its outputs to disk, returning a path (or a small dict), so an
Airflow task can run each one on its own and a retry of a step gives the same result:

- `prepare_split(lake, out_dir, ...)` -> the split folder (`recsys.splits.Split`)
- `train_model(split_dir, model, out_dir, ...)` -> ``out_dir`` holding ``artifact/`` and ``evaluation.json``
- `register_models(trained_dirs, registry, ...)` -> ``{"run_id", "models": {name: summary}}`` (run record saved)
- `run_training(lake, registry, models=...)` composes the three (what ``recsys train`` calls).

How a model meets the validation data: a model that early-stops (see `early_stops`: SASRec) fits on the split's
`fit_train` with the validation targets; then, by default (`refit`), a fresh copy is fitted on the whole `train`
for the best epoch count that early stopping found, so it also learns the most recent events, as every other model
does (on Amazon Beauty that lifts SASRec's NDCG@10 from 0.048 to 0.057). Without the refit, the early-stopped model
is evaluated with the validation-period events passed as live history. Every other model fits on the whole `train`.
All therefore rank the test targets from the same information, with no test event in training.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recsys.atomic import atomic_directory
from recsys.dataset import DEFAULT_WEIGHTS, DatasetConfig, read_interactions
from recsys.errors import InputError
from recsys.evaluation.evaluate import DEFAULT_KS, evaluate
from recsys.models import MODEL_CLASSES, get_model_class, load_model
from recsys.models.base import Recommender
from recsys.splits import SPLIT_KINDS, Split, make_split

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
ARTIFACT_DIR = "artifact"
SINGLE_THREAD_BLAS = frozenset({"itemknn", "als", "bpr"})
"""Models fitted by `implicit`: OpenBLAS must run one thread during their fits (implicit warns otherwise, and the
timings are steadier)."""
SUMMARY_KEYS = ("ndcg@10", "hr@10", "coverage@10", "recall@10", "mrr@10")
SAMPLE_USERS = 8
TOP_N = 10

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called while a step works (for progress bars)."""


# ---------------------------------------------------------------------- step 1: the split
def prepare_split(
    lake: Path,
    out_dir: Path,
    *,
    split: str = "loo",
    start: date | None = None,
    end: date | None = None,
    cutoff: datetime | None = None,
    weights: dict[str, float] | None = None,
    rating_threshold: float | None = None,
) -> Path:
    """Read the lake's events with ``start <= dt < end``, split them, and save the split in `out_dir`.

    weights: event-type weights overriding `recsys.dataset.DEFAULT_WEIGHTS` (a weight <= 0 drops a type).
    """
    if split not in SPLIT_KINDS:
        raise InputError(f"unknown split {split!r}: use one of {', '.join(SPLIT_KINDS)}")
    if start is not None and end is not None and start >= end:
        raise InputError(f"empty window: --from {start} is not before --to {end}")
    config = DatasetConfig(weights={**DEFAULT_WEIGHTS, **(weights or {})}, rating_threshold=rating_threshold)
    frame = read_interactions(Path(lake), start, end, config)
    result = make_split(frame, split, cutoff=cutoff)
    if not result.test:
        raise InputError(f"the {split} split of {lake} has no test users (too few events per user in the window)")
    result.info.update({
        "lake": str(lake),
        "window": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "dataset": config.to_dict(),
        "n_items": result.train.n_items,
        "n_train_users": result.train.n_users,
    })
    return result.save(Path(out_dir))


# ---------------------------------------------------------------------- step 2: fit + evaluate one model
def model_params(
    model: str,
    params: Mapping[str, Any] | None = None,
    *,
    device: str = "auto",
    epochs: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Constructor arguments of `model`: `params` checked against its hyper-parameters, plus `device`, `epochs`
    (as ``epochs`` or, for implicit's models, ``iterations``) and `seed` (``seed`` or ``random_state``) where the
    model takes them."""
    cls = _model_class(model)
    names = cls._param_names()
    unknown = sorted(set(params or {}) - set(names))
    if unknown:
        raise InputError(f"model {model!r} has no parameter {', '.join(unknown)}; its parameters: "
                         f"{', '.join(names) or '(none)'}")
    out: dict[str, Any] = {}
    for key in ("seed", "random_state"):
        if key in names:
            out[key] = seed
            break
    if "device" in names:
        out["device"] = device
    if epochs is not None:
        if epochs < 1:
            raise InputError(f"epochs must be at least 1, got {epochs}")
        length = _length_param(names)
        if length is None:
            log.info("%s has no epochs: --epochs ignored for it", model)
        else:
            out[length] = epochs
    out.update(params or {})
    return out


def _length_param(names: Sequence[str]) -> str | None:
    """The hyper-parameter that sets how long a model trains (``epochs`` or implicit's ``iterations``), if any."""
    return next((k for k in ("epochs", "iterations") if k in names), None)


def _model_class(model: str) -> type[Recommender]:
    if model not in MODEL_CLASSES:
        raise InputError(f"unknown model {model!r}; known models: {', '.join(MODEL_CLASSES)}")
    try:
        return get_model_class(model)
    except ImportError as err:
        raise InputError(f"model {model!r} is not available in this installation: {err}") from err


def early_stops(model: Recommender) -> bool:
    """True for models that early-stop on validation targets: those declaring ``uses_validation = True``, else
    those with a ``patience`` hyper-parameter (SASRec). They fit without the validation period (see the module
    docstring); the others fit on the whole training period and are never shown the validation targets."""
    declared = getattr(model, "uses_validation", None)
    if declared is not None:
        return bool(declared)
    return "patience" in model.get_params()


def fit_model(model: Recommender, split: Split, *, validation: bool = True) -> float:
    """Fit `model` on the split (see the module docstring for which training set) and return the fit's seconds.
    validation=False fits any model on the whole `train` without validation targets (the refit)."""
    with_validation = validation and early_stops(model)
    data = split.fit_train if with_validation else split.train
    targets = split.validation if with_validation and split.validation else None
    limit = _single_thread_blas() if model.name in SINGLE_THREAD_BLAS else nullcontext()
    with limit:
        started = time.perf_counter()
        model.fit(data, validation=targets)
        return time.perf_counter() - started


def refit_model(model: Recommender, split: Split) -> tuple[Recommender, dict[str, Any]] | None:
    """A fresh copy of an early-stopped `model` fitted on the whole `train` (validation period included) for the
    model's best epoch count, without validation, and ``{"epochs", "seconds"}`` of that fit; None where there is
    nothing to refit (no validation targets, or a model that does not report ``best_epoch_``)."""
    best = getattr(model, "best_epoch_", None)
    length = _length_param(list(model.get_params()))
    if not split.validation or not best or length is None:
        log.info("%s: no refit (%s)", model.name, "no validation targets" if not split.validation
                 else "no best epoch or epoch parameter")
        return None
    refit = type(model)(**{**model.get_params(), length: int(best)})
    log.info("refitting %s on the whole training period for %d %s", model.name, best, length)
    return refit, {"epochs": int(best), "seconds": fit_model(refit, split, validation=False)}


def _single_thread_blas() -> Any:
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


def train_model(
    split_dir: Path,
    model: str,
    out_dir: Path,
    *,
    params: dict[str, Any] | None = None,
    device: str = "auto",
    epochs: int | None = None,
    seed: int = 0,
    ks: Sequence[int] = DEFAULT_KS,
    n_boot: int = 1000,
    refit: bool = True,
    progress: Progress | None = None,
) -> Path:
    """Fit `model` on the split in `split_dir`, evaluate it on the test targets (full ranking), and write
    ``out_dir/artifact/`` (the saved model) and ``out_dir/evaluation.json``. `out_dir` is replaced if it exists.
    refit: refit an early-stopping model on the whole training period for its best epoch count (module docstring);
    its ``train_seconds`` then count both fits."""
    split = Split.load(split_dir)
    kwargs = model_params(model, params, device=device, epochs=epochs, seed=seed)
    recommender = _model_class(model)(**kwargs)
    if progress:
        progress(f"{model}: fit", 0, 1)
    log.info("fitting %s%s on %s", model, kwargs or "", split_dir)
    train_seconds = fit_model(recommender, split)
    if progress:
        progress(f"{model}: fit", 1, 1)
    log.info("%s fitted in %.2f s", model, train_seconds)
    early_stopping = early_stops(recommender)
    early_stopped, refit_record = recommender, None
    if refit and early_stopping:
        if progress:
            progress(f"{model}: refit", 0, 1)
        refitted = refit_model(recommender, split)
        if progress:
            progress(f"{model}: refit", 1, 1)
        if refitted is not None:
            recommender, refit_record = refitted
            train_seconds += refit_record["seconds"]
            log.info("%s refitted in %.2f s", model, refit_record["seconds"])

    with_history = early_stopping and refit_record is None
    started = time.perf_counter()
    result = evaluate(
        recommender, split.test, ks=ks,
        histories=split.validation_histories() if with_history else None,
        item_counts=split.item_counts(), n_train_users=split.train.n_users, user_tags=split.users,
        n_boot=n_boot, seed=seed,
        progress=(lambda done, total: progress(f"{model}: evaluate", done, total)) if progress else None,
    )
    eval_seconds = time.perf_counter() - started
    record = {
        "model": model,
        "params": early_stopped.get_params(),
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "epochs": _epochs(early_stopped),
        "device": _device(recommender),
        "protocol": _protocol(early_stopping, refit_record is not None),
        "split": {"kind": split.kind, "dir": str(split_dir), **split.info},
        **result.to_dict(),
        "samples": _samples(split, result.users, result.recommended, seed),
    }
    if refit_record is not None:
        record["refit"] = refit_record
    return _write_trained(Path(out_dir), recommender, record)


def _protocol(early_stopping: bool, refitted: bool) -> str:
    if not early_stopping:
        return "fit on the whole training period"
    if refitted:
        return ("fit on train minus the validation period with early stopping on the validation targets, then "
                "refit on the whole training period for the best epoch count")
    return ("fit on train minus the validation period, early stopping on the validation targets, "
            "validation events given as live history at test")


def _device(model: Recommender) -> str | None:
    device = getattr(model, "device_", getattr(model, "device", None))
    return None if device is None else str(device)


def _epochs(model: Recommender) -> dict[str, Any]:
    """Learned scalars about training length (best_epoch_, epochs_run_, ...) that the model exposes."""
    out = {}
    for key, value in vars(model).items():
        if key.endswith("_") and ("epoch" in key or "iteration" in key) and isinstance(value, int | float | np.number):
            out[key.rstrip("_")] = value.item() if isinstance(value, np.number) else value
    for key in ("epochs", "iterations"):
        if key in model.get_params():
            out.setdefault(key, model.get_params()[key])
    return out


def _samples(split: Split, users: list[str], recommended: np.ndarray, seed: int) -> list[dict[str, Any]]:
    """A few test users (the same for every model of the split and seed): recent history, targets, top-10."""
    ranked = sorted(users)
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(ranked), size=min(SAMPLE_USERS, len(ranked)), replace=False).tolist())
    row_of = {u: r for r, u in enumerate(users)}
    train = split.train
    tags = split.users.set_index("user_id")
    out = []
    for p in picks:
        user = ranked[p]
        u = train.users.index([user])[0]
        history = train.items.external(train.sequences[u][-TOP_N:]).tolist() if u >= 0 else []
        top = [i for i in recommended[row_of[user], :TOP_N].tolist() if i is not None]
        tag = tags.loc[user]
        out.append({"user_id": user, "segment": "cold" if bool(tag["cold"]) else f"history {tag['history_bucket']}",
                    "history": history, "targets": list(split.test[user]), "top": top})
    return out


def _write_trained(out_dir: Path, model: Recommender, record: dict[str, Any]) -> Path:
    with atomic_directory(out_dir) as tmp:
        model.save(tmp / ARTIFACT_DIR)
        (tmp / EVALUATION_FILE).write_text(json.dumps(_jsonable(record), indent=2, sort_keys=True))
    return out_dir


def read_evaluation(trained_dir: Path) -> dict[str, Any]:
    """The `evaluation.json` that `train_model` wrote."""
    path = Path(trained_dir) / EVALUATION_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{trained_dir} is not a trained model folder ({path}: {err}); run train_model") from err


# ---------------------------------------------------------------------- step 3: registry + run record
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


# ---------------------------------------------------------------------- all three
def run_training(
    lake: Path,
    registry: Path,
    *,
    models: Sequence[str],
    split: str = "loo",
    start: date | None = None,
    end: date | None = None,
    cutoff: datetime | None = None,
    weights: dict[str, float] | None = None,
    rating_threshold: float | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    device: str = "auto",
    epochs: int | Mapping[str, int] | None = None,
    seed: int = 0,
    promote: bool = False,
    metric: str = "ndcg@10",
    tolerance: float = 0.0,
    refit: bool = True,
    work_dir: Path | None = None,
    progress: bool | Progress = False,
) -> dict[str, Any]:
    """Split the lake, train and evaluate every model of `models`, register them (and gate them into production
    with `promote`). `params` maps a model to its hyper-parameters; an int `epochs` applies to the models that have
    an ``epochs`` hyper-parameter (neural ones), a mapping sets it per model; `refit` as in `train_model`.
    Returns `register_models`' dict."""
    models = list(dict.fromkeys(models))
    if not models:
        raise InputError("no models to train: give at least one (e.g. --models popularity,als)")
    params = dict(params or {})
    for name in params:
        if name not in models:
            raise InputError(f"parameters given for {name!r}, which is not among the models trained "
                             f"({', '.join(models)})")
    for m in models:  # content-based models read the lake's catalogue unless told otherwise
        if "catalog" in _model_class(m)._param_names() and (Path(lake) / "items" / "items.parquet").is_file():
            params[m] = {"catalog": str(lake), **(params.get(m) or {})}
    per_model_epochs = {m: _epochs_for(m, epochs) for m in models}
    for m in models:  # fail fast, before any work, on a bad model name or parameter
        model_params(m, params.get(m), device=device, epochs=per_model_epochs[m], seed=seed)
    if not Path(lake).exists():
        raise InputError(f"lake {lake} does not exist: ingest events first (`recsys ingest ... --lake {lake}`)")

    with _work_dir(work_dir) as work, _progress(progress) as report:
        report("split", 0, 1)
        split_dir = prepare_split(Path(lake), work / "split", split=split, start=start, end=end, cutoff=cutoff,
                                  weights=weights, rating_threshold=rating_threshold)
        report("split", 1, 1)
        trained = []
        for m in models:
            trained.append(train_model(split_dir, m, work / "trained" / m, params=dict(params.get(m) or {}),
                                       device=device, epochs=per_model_epochs[m], seed=seed, refit=refit,
                                       progress=report))
        report("register", 0, 1)
        result = register_models(trained, Path(registry), promote=promote, metric=metric, tolerance=tolerance)
        report("register", 1, 1)
    return result


def _epochs_for(model: str, epochs: int | Mapping[str, int] | None) -> int | None:
    if epochs is None:
        return None
    if isinstance(epochs, Mapping):
        return epochs.get(model)
    return epochs if "epochs" in _model_class(model)._param_names() else None


@contextmanager
def _work_dir(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        yield Path(work_dir)
        return
    with tempfile.TemporaryDirectory(prefix="recsys-train-") as tmp:
        yield Path(tmp)


@contextmanager
def _progress(progress: bool | Progress) -> Iterator[Progress]:
    """A `Progress` callback: the caller's own, a rich progress bar on stderr (True), or nothing (False)."""
    if callable(progress):
        yield progress
        return
    if not progress:
        yield lambda stage, done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield report


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path | date | datetime):
        return str(obj)
    return obj
