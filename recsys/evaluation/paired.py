"""Paired comparison of two models on the same test users: is the candidate worse, no different, or better?

Both models are scored on the same users, so the question is about the per-user differences, not about two
independent means: pairing removes the between-user variance that makes two overlapping intervals look alike
even when one model wins on almost every user. The interval is a percentile bootstrap over users of the mean
difference (vectorised, seeded, chunked to bound memory); the p-value is the two-sided bootstrap tail at zero.

Decision rule of the promotion gate (`decide`): refuse when the candidate is significantly worse by more than the
margin (the whole interval below ``-margin``); promote otherwise; call it an *improvement* only when the interval
lies above zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CHUNK = 64
"""Bootstrap replicates drawn at once: memory is CHUNK x users indices."""


@dataclass(frozen=True)
class PairedComparison:
    """Mean per-user difference candidate - production with its bootstrap interval and two-sided p-value."""

    metric: str
    n_users: int
    candidate_mean: float
    production_mean: float
    delta: float
    ci: tuple[float, float]
    p_value: float
    confidence: float

    @property
    def better(self) -> bool:
        """Significantly better: the whole interval lies above zero."""
        return self.ci[0] > 0

    def worse_than(self, margin: float) -> bool:
        """Significantly worse by more than `margin`: the whole interval lies below ``-margin``."""
        return self.ci[1] < -margin

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out


def paired_bootstrap(
    candidate: np.ndarray,
    production: np.ndarray,
    *,
    metric: str = "ndcg@10",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare per-user values of the same users (same order) for two models."""
    cand = np.asarray(candidate, dtype=np.float64)
    prod = np.asarray(production, dtype=np.float64)
    if cand.shape != prod.shape or cand.ndim != 1:
        raise ValueError(f"paired values need the same users in the same order: shapes {cand.shape} vs {prod.shape}")
    if len(cand) == 0:
        raise ValueError("no test users to compare on")
    diff = cand - prod
    n = len(diff)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, CHUNK):
        size = min(CHUNK, n_boot - start)
        means[start:start + size] = diff[rng.integers(0, n, size=(size, n))].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    if np.all(diff == 0):
        p = 1.0  # identical answers: no evidence either way
    else:
        tail = min(np.mean(means <= 0), np.mean(means >= 0))
        p = float(min(1.0, 2 * max(tail, 1.0 / n_boot)))
    return PairedComparison(metric=metric, n_users=n, candidate_mean=float(cand.mean()),
                            production_mean=float(prod.mean()), delta=float(diff.mean()),
                            ci=(float(low), float(high)), p_value=p, confidence=confidence)


def decide(comparison: PairedComparison, margin: float = 0.0) -> tuple[bool, bool, str]:
    """``(promoted, improved, reason)`` under the gate's rule (see the module docstring)."""
    c = comparison
    pct = f"{c.confidence:.0%}"
    numbers = (f"{c.metric} {c.candidate_mean:.4f} vs {c.production_mean:.4f}, paired difference {c.delta:+.4f} "
               f"({pct} CI {c.ci[0]:+.4f} to {c.ci[1]:+.4f}, p={c.p_value:.3g}, {c.n_users} users)")
    if c.worse_than(margin):
        return False, False, f"significantly worse: {numbers}" + (f", beyond the margin {margin:g}" if margin else "")
    if c.better:
        return True, True, f"significantly better: {numbers}"
    return True, False, f"not significantly different: {numbers}"
