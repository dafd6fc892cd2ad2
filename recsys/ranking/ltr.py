"""The learning-to-rank step: LightGBM's ``lambdarank`` over the candidate groups.

Why LightGBM lambdarank: it optimises NDCG directly over per-user groups, handles missing values (a retriever that
did not return an item, an item without a catalogue entry) natively, trains in seconds on a few cores, and saves
its model as plain text (``model_to_string``), so artifacts hold no pickle. CatBoost's YetiRank ranks as well but is
a much larger dependency and slower on CPU at this size.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def lambdarank_params(*, learning_rate: float, num_leaves: int, min_child_samples: int, num_threads: int,
                      seed: int) -> dict[str, Any]:
    """LightGBM's parameters for the ranker's hyper-parameters: lambdarank on NDCG@10, deterministic."""
    return {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "learning_rate": learning_rate,
            "num_leaves": num_leaves, "min_data_in_leaf": min_child_samples, "num_threads": num_threads,
            "seed": seed, "deterministic": True, "force_row_wise": True, "verbosity": -1,
            "lambdarank_truncation_level": 20}


def train_ranker(X: np.ndarray, y: np.ndarray, groups: np.ndarray, valid: np.ndarray, names: Sequence[str], *,
                 params: Mapping[str, Any], rounds: int, early_stopping: int) -> Any:
    """A `lightgbm.Booster` of at most `rounds` trees fitted on the groups not flagged in `valid` (the flagged
    ones stop it after `early_stopping` rounds without gain). Groups are consecutive row blocks of the sizes in
    `groups`."""
    import lightgbm as lgb

    row_valid = np.repeat(valid, groups)
    train = lgb.Dataset(X[~row_valid], y[~row_valid], group=groups[~valid], feature_name=list(names),
                        free_raw_data=True)
    sets: list[Any] = [train]
    callbacks: list[Any] = []
    if valid.any() and early_stopping > 0:
        sets.append(lgb.Dataset(X[row_valid], y[row_valid], group=groups[valid], reference=train))
        callbacks.append(lgb.early_stopping(early_stopping, verbose=False))
    booster = lgb.train(dict(params), train, num_boost_round=rounds, valid_sets=sets[1:], callbacks=callbacks)
    log.info("lambdarank: %d trees on %d groups (%d rows)", booster.current_iteration(), int((~valid).sum()),
             int((~row_valid).sum()))
    return booster


def booster_from_text(text: str) -> Any:
    import lightgbm as lgb

    return lgb.Booster(model_str=text)


def importances(booster: Any) -> dict[str, float]:
    """Total gain per feature, largest first."""
    gains = booster.feature_importance(importance_type="gain")
    pairs = sorted(zip(booster.feature_name(), gains.tolist(), strict=True), key=lambda p: -p[1])
    return {name: round(float(g), 4) for name, g in pairs}
