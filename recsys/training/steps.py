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
from recsys.training.fitting import fit_model, protocol, refit_model
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
    progress: Progress | None = None,
) -> Path:
    """Fit `model` on the split in `split_dir`, evaluate it on the test targets (full ranking), and write
    ``out_dir/artifact/`` (the saved model) and ``out_dir/evaluation.json``. `out_dir` is replaced if it exists.
    refit: refit an early-stopping model on the whole training period for its best epoch count
    (`recsys.training.fitting`); its ``train_seconds`` then count both fits."""
    split = Split.load(split_dir)
    kwargs = model_params(model, params, device=device, epochs=epochs, seed=seed)
    recommender = model_class(model)(**kwargs)
    log.info("fitting %s%s on %s", model, kwargs or "", split_dir)
    with _stage(progress, f"{model}: fit") as fit_progress:
        train_seconds = fit_model(recommender, split, progress=fit_progress)
    log.info("%s fitted in %.2f s", model, train_seconds)
    early_stopped, refitted = recommender, None
    if refit and recommender.early_stopping:
        with _stage(progress, f"{model}: refit") as refit_progress:
            refitted = refit_model(recommender, split, progress=refit_progress)
        if refitted is not None:
            recommender = refitted.model
            train_seconds += refitted.seconds
            log.info("%s refitted in %.2f s", model, refitted.seconds)

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
        "protocol": protocol(early_stopped.early_stopping, refitted is not None),
        "split": {"kind": split.kind, "dir": str(split_dir), **split.info},
        **result.to_dict(),
        "samples": sample_rows(split, result.users, result.recommended, seed),
    }
    if refitted is not None:
        record["refit"] = {"epochs": refitted.epochs, "seconds": refitted.seconds}
    trained = _write_trained(Path(out_dir), recommender, record)
    save_per_user(trained, result)
    return trained


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
