"""The disk-to-disk steps of training: each reads its inputs from disk and writes its outputs to disk, returning
a path, so an Airflow task can run each one on its own and a retry of a step gives the same result.

- `prepare_split(lake, out_dir, ...)` -> the split folder (`recsys.splits.Split`)
- `train_model(split_dir, model, out_dir, ...)` -> ``out_dir`` holding ``artifact/`` and ``evaluation.json``
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from recsys.atomic import atomic_directory
from recsys.dataset import DEFAULT_WEIGHTS, DatasetConfig, read_interactions
from recsys.errors import InputError
from recsys.evaluation.evaluate import DEFAULT_KS, EvaluationResult, evaluate
from recsys.jsonutil import to_jsonable
from recsys.models.base import FitProgress, Recommender
from recsys.models.params import model_class, model_params
from recsys.splits import SPLIT_KINDS, Split, make_split
from recsys.training.fitting import Refit, fit_model, protocol, refit_model
from recsys.training.samples import sample_rows

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
ARTIFACT_DIR = "artifact"

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called while a step works (the CLI renders it as progress bars)."""


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
    refit_epochs: int | None = None,
    validation_users: float | None = None,
    warm_from: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Fit `model` on the split in `split_dir`, evaluate it on the test targets (full ranking), and write
    ``out_dir/artifact/`` (the saved model) and ``out_dir/evaluation.json``. `out_dir` is replaced if it exists.
    refit: refit an early-stopping model on the whole training period for its best epoch count (`_refit`; then
    ``train_seconds`` count both fits), or continue it `refit_epochs` epochs. validation_users: early-stop on
    this share of the users only (`Split.with_validation_users`): the others' validation events are trained on, so
    no refit follows (bench/results/refit.md compares the options). warm_from: a saved model (production)
    the fits start from where the model can; evaluation.json's ``warm_start`` says whether it did."""
    split = Split.load(split_dir)
    if validation_users is not None:
        split, refit = split.with_validation_users(validation_users, seed), False
    kwargs = model_params(model, params, device=device, epochs=epochs, seed=seed)
    recommender = model_class(model)(**kwargs)
    previous = _warm_source(recommender, warm_from)
    log.info("fitting %s%s on %s%s", model, kwargs or "", split_dir, " (warm start)" if previous else "")
    with _stage(progress, f"{model}: fit") as fit_progress:
        train_seconds = fit_model(recommender, split, progress=fit_progress)
    log.info("%s fitted in %.2f s", model, train_seconds)
    early_stopped = recommender
    refitted = _refit(recommender, split, previous, refit_epochs, progress) if refit else None
    if refitted is not None:
        recommender = refitted.model
        train_seconds += refitted.seconds

    with_history = early_stopped.early_stopping and refitted is None
    started = time.perf_counter()
    result = evaluate(
        recommender, split.test, ks=ks,
        histories=split.validation_histories() if with_history else None,
        item_counts=split.item_counts(), n_train_users=split.train.n_users, user_tags=split.users,
        n_boot=n_boot, seed=seed,
        progress=(lambda done, total: progress(f"{model}: evaluate", done, total)) if progress else None,
    )
    record = {
        "model": model,
        "params": early_stopped.get_params(),
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - started,
        "epochs": early_stopped.training_lengths(),
        "device": recommender.fitted_device,
        "protocol": protocol(early_stopped.early_stopping, refitted is not None, validation_users),
        "warm_start": bool(early_stopped.warm_started_),
        "split": {"kind": split.kind, "dir": str(split_dir), **split.info},
        **result.to_dict(),
        "samples": sample_rows(split, result.users, result.recommended, seed),
    }
    if refitted is not None:
        record["refit"] = {"epochs": refitted.epochs, "seconds": refitted.seconds}
    trained = _write_trained(Path(out_dir), recommender, record)
    save_per_user(trained, result)
    return trained


def _refit(model: Recommender, split: Split, previous: Recommender | None, epochs: int | None,
           progress: Progress | None) -> Refit | None:
    """The refit of an early-stopping model: continued from itself for `epochs` when given, else trained for its
    best length, from the production weights when the fit was warm-started (from scratch otherwise)."""
    if not model.early_stopping:
        return None
    start_from = model if epochs else (previous if model.warm_started_ else None)
    with _stage(progress, f"{model.name}: refit") as refit_progress:
        refitted = refit_model(model, split, progress=refit_progress, start_from=start_from, epochs=epochs)
    if refitted is not None:
        log.info("%s refitted in %.2f s", model.name, refitted.seconds)
    return refitted


def _warm_source(model: Recommender, warm_from: Path | None) -> Recommender | None:
    """The saved model at `warm_from`, handed to `model.warm_start_from`; None where there is none to start from
    or the model cannot use it (the fit then starts cold)."""
    if warm_from is None or not model.warm_startable:
        return None
    from recsys.models import load_model

    previous = load_model(Path(warm_from))
    return previous if model.warm_start_from(previous) else None


@contextmanager
def _stage(progress: Progress | None, stage: str) -> Iterator[FitProgress]:
    """A fit's ``(done, total)`` callback reporting `stage` through `progress`: at 0 of 1 before the fit, as the
    model reports (SASRec: epochs of the most it may run), and complete after it (at the count reached)."""
    if progress is None:
        yield lambda done, total: None
        return
    reached = [0]

    def report(done: int, total: int) -> None:
        reached[0] = done
        progress(stage, done, total)

    progress(stage, 0, 1)
    yield report
    progress(stage, max(reached[0], 1), max(reached[0], 1))


def _write_trained(out_dir: Path, model: Recommender, record: dict[str, Any]) -> Path:
    with atomic_directory(out_dir) as tmp:
        model.save(tmp / ARTIFACT_DIR)
        (tmp / EVALUATION_FILE).write_text(json.dumps(to_jsonable(record), indent=2, sort_keys=True))
    return out_dir


def read_evaluation(trained_dir: Path) -> dict[str, Any]:
    """The `evaluation.json` that `train_model` wrote."""
    path = Path(trained_dir) / EVALUATION_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{trained_dir} is not a trained model folder ({path}: {err}); run train_model") from err


PER_USER_FILE = "per_user.npz"
"""Per-user metric values of a trained model's evaluation (test users in order), for the paired gate."""


def save_per_user(trained_dir: Path, result: EvaluationResult) -> None:
    """Write `result`'s per-user values at K = 10 (the gate's cut-off) next to the evaluation."""
    import numpy as np

    keep = {k: v for k, v in result.per_user.items() if k.endswith("@10")}
    np.savez_compressed(Path(trained_dir) / PER_USER_FILE, users=np.asarray(result.users, dtype=str), **keep)
