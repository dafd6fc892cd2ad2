"""The learning-to-rank step: LightGBM's ``lambdarank`` over the candidate groups.

Why LightGBM lambdarank: it optimises NDCG directly over per-user groups, handles missing values (a retriever that
did not return an item, an item without a catalogue entry) natively, trains in seconds on a few cores, and saves
its model as plain text (``model_to_string``), so artifacts hold no pickle. CatBoost's YetiRank ranks as well but is
a much larger dependency and slower on CPU at this size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LtrConfig:
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    early_stopping: int = 30
    num_threads: int = 1
    seed: int = 0

    def params(self) -> dict[str, Any]:
        return {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
                "num_threads": self.num_threads, "seed": self.seed, "deterministic": True,
                "force_row_wise": True, "verbosity": -1, "lambdarank_truncation_level": 20}


def train_ranker(X: np.ndarray, y: np.ndarray, groups: np.ndarray, valid: np.ndarray, names: Sequence[str],
                 config: LtrConfig) -> Any:
    """A `lightgbm.Booster` fitted on the groups not flagged in `valid` (the flagged ones drive early stopping).
    Groups are consecutive row blocks of the sizes in `groups`."""
    import lightgbm as lgb

    row_valid = np.repeat(valid, groups)
    train = lgb.Dataset(X[~row_valid], y[~row_valid], group=groups[~valid], feature_name=list(names),
                        free_raw_data=True)
    sets: list[Any] = [train]
    callbacks: list[Any] = []
    if valid.any() and config.early_stopping > 0:
        sets.append(lgb.Dataset(X[row_valid], y[row_valid], group=groups[valid], reference=train))
        callbacks.append(lgb.early_stopping(config.early_stopping, verbose=False))
    booster = lgb.train(config.params(), train, num_boost_round=config.n_estimators, valid_sets=sets[1:],
                        callbacks=callbacks)
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
