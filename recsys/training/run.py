"""`run_training`: split, train every model, register (what ``recsys train`` calls)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from recsys.catalog import has_catalog
from recsys.errors import InputError
from recsys.models.params import epochs_for, model_class, model_params
from recsys.registry.litter import TRAIN_PREFIX, sweep_work, work_root
from recsys.training.register import register_models
from recsys.training.steps import Progress, prepare_split, train_model
from recsys.workdirs import owned_dir


def run_training(
    lake: Path,
    registry: Path,
    *,
    models: Sequence[str],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    split: str = "loo",
    start: date | None = None,
    end: date | None = None,
    seed: int = 0,
    cutoff: datetime | None = None,
    weights: dict[str, float] | None = None,
    rating_threshold: float | None = None,
    device: str = "auto",
    epochs: int | Mapping[str, int] | None = None,
    promote: bool = False,
    metric: str = "ndcg@10",
    tolerance: float = 0.0,
    refit: bool = True,
    refit_epochs: int | None = None,
    validation_users: float | None = None,
    warm_start: bool = False,
    work_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Split the lake, train and evaluate every model of `models`, register them (and gate them into production
    with `promote`). `params` maps a model to its hyper-parameters; an int `epochs` applies to the models that have
    an ``epochs`` hyper-parameter (neural ones), a mapping sets it per model; `refit`, `refit_epochs`,
    `validation_users` as in `train_model`. warm_start: each model that can starts from the version holding
    ``production`` (a model without one starts cold); the result says per model whether it did (``warm_start``).
    progress(stage, done, total) follows the work (the CLI renders it). Returns `register_models`' dict."""
    models = list(dict.fromkeys(models))
    if not models:
        raise InputError("no models to train: give at least one (e.g. --models popularity,als)")
    params = dict(params or {})
    for name in params:
        if name not in models:
            raise InputError(f"parameters given for {name!r}, which is not among the models trained "
                             f"({', '.join(models)})")
    params = {m: with_catalog(m, params.get(m), lake) for m in models}
    per_model_epochs = {m: epochs_for(m, epochs) for m in models}
    for m in models:  # fail fast, before any work, on a bad model name or parameter
        model_params(m, params.get(m), device=device, epochs=per_model_epochs[m], seed=seed)
    if not Path(lake).exists():
        raise InputError(f"lake {lake} does not exist: ingest events first (`recsys ingest ... --lake {lake}`)")

    report = progress or _silent
    with _work_dir(work_dir, Path(registry)) as work:
        report("split", 0, 1)
        split_dir = prepare_split(Path(lake), work / "split", split=split, start=start, end=end, cutoff=cutoff,
                                  weights=weights, rating_threshold=rating_threshold)
        report("split", 1, 1)
        trained = [train_model(split_dir, m, work / "trained" / m, params=dict(params.get(m) or {}), device=device,
                               epochs=per_model_epochs[m], seed=seed, refit=refit, refit_epochs=refit_epochs,
                               validation_users=validation_users,
                               warm_from=production_artifact(Path(registry), m) if warm_start else None,
                               progress=progress) for m in models]
        report("register", 0, 1)
        result = register_models(trained, Path(registry), promote=promote, metric=metric, tolerance=tolerance)
        report("register", 1, 1)
    return result


def production_artifact(registry: Path, name: str) -> Path | None:
    """The artifact folder of the version of `name` holding ``production``; None when there is none."""
    from recsys.registry import Registry

    try:
        return Registry(registry).version(name).artifact
    except InputError:
        return None


def with_catalog(model: str, params: Mapping[str, Any] | None, lake: Path) -> dict[str, Any]:
    """`params` of `model`, with ``catalog`` set to `lake` where the model reads a catalogue (content, ranker),
    the lake has one and no catalogue was given."""
    out = dict(params or {})
    if "catalog" in model_class(model)._param_names() and has_catalog(Path(lake)):
        out.setdefault("catalog", str(lake))
    return out


def _silent(stage: str, done: int, total: int) -> None:
    """No progress reporting."""


@contextmanager
def _work_dir(work_dir: Path | None, registry: Path) -> Iterator[Path]:
    """The caller's folder (kept), or an owned one under the registry that a killed run does not leave behind."""
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        yield Path(work_dir)
        return
    sweep_work(registry)
    with owned_dir(work_root(registry), TRAIN_PREFIX) as tmp:
        yield tmp
