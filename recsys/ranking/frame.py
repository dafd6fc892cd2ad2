"""The ranker's labelled training frame: one row per (label user, candidate)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.ranking.candidates import Candidates
from recsys.ranking.events import UserEvents


@dataclass
class RankingFrame:
    """`X` (features, columns `feature_names`) and `y` (1: the user touched the candidate after the cut-off) with
    rows grouped by user in `users` order; `rows` hold each user's events and ``as_of`` the features used."""

    X: np.ndarray
    y: np.ndarray
    candidates: Candidates
    targets: list[np.ndarray]
    rows: list[UserEvents]
    users: np.ndarray
    cutoff: str
    feature_names: list[str]
    categories: np.ndarray | None = None
    catalogue: dict[str, np.ndarray] | None = None
