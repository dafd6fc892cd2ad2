"""The candidate against production on the same test users, measured at registration while the split is at hand.

The version holding ``production`` is loaded from the registry and scored on this run's test users exactly as the
candidate was (full ranking, seen items excluded; a history-aware model reads the users' validation events, as it
would read them live); the per-user differences go through `recsys.evaluation.paired`. The promotion gate then
decides from that comparison instead of from two means measured on different splits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from recsys.errors import ArtifactError, InputError
from recsys.evaluation.evaluate import evaluate
from recsys.evaluation.paired import paired_bootstrap
from recsys.registry import Registry
from recsys.splits import Split
from recsys.training.steps import PER_USER_FILE

log = logging.getLogger(__name__)


def compare_with_production(reg: Registry, name: str, trained_dir: Path, split_dir: Path | None, *,
                            metric: str = "ndcg@10", seed: int = 0) -> dict[str, Any] | None:
    """The paired comparison (as a dict with ``production_version``) of the model trained in `trained_dir` with
    the version of `name` holding ``production``; None when there is nothing to compare with or the inputs are
    gone (the gate then falls back to comparing the recorded means)."""
    per_user = Path(trained_dir) / PER_USER_FILE
    try:
        current = reg.aliases(name).get("production")
    except (ArtifactError, InputError):
        return None
    if current is None or split_dir is None or not per_user.is_file() or not Path(split_dir).is_dir():
        return None
    with np.load(per_user) as saved:
        if metric not in saved.files:
            return None
        users, candidate = [str(u) for u in saved["users"]], saved[metric]
    try:
        production_model, _ = reg.load(name, int(current))
        split = Split.load(split_dir)
    except (ArtifactError, InputError, OSError, ValueError) as err:
        log.warning("no paired comparison for %s: %s", name, err)
        return None
    targets = {u: split.test[u] for u in users}
    histories = split.validation_histories() if production_model.supports_history else None
    result = evaluate(production_model, targets, ks=[int(metric.rsplit("@", 1)[1])], histories=histories,
                      n_boot=200, seed=seed)
    production = result.per_user[metric]
    comparison = paired_bootstrap(candidate, production, metric=metric, seed=seed)
    log.info("%s: candidate vs production v%s on %d users: %+.4f (CI %+.4f to %+.4f)", name, current,
             comparison.n_users, comparison.delta, *comparison.ci)
    return {"production_version": int(current), **comparison.to_dict()}
