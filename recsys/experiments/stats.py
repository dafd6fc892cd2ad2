"""Experiment statistics as pure functions over per-arm sufficient statistics (the GrowthBook way).

Each arm is summarised per user (the randomisation unit) by `ArmStats`: n and the sums of x, y, x^2, y^2 and xy,
where a metric is the ratio sum(y) / sum(x) (clicked impressions / impressions) or, with x = 1, a mean per user.
From these alone come the delta-method variance of each arm's metric, the relative lift with its interval, the
fixed-horizon p-value, and an always-valid p-value (mSPRT) that stays valid however often it is looked at.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as st

SRM_ALPHA = 0.001
"""Sample-ratio mismatch is flagged below this chi-square p-value (GrowthBook's default)."""
MSPRT_TAU = 0.1
"""Default standard deviation of the mSPRT mixing prior on the relative lift (when no user count is given)."""
MSPRT_TUNE_USERS = 1000
"""The mixing prior is scaled to the per-user spread (tau = se * sqrt(n / MSPRT_TUNE_USERS), GrowthBook-style):
the always-valid test is most sensitive for effects that need about this many users to show."""


@dataclass(frozen=True)
class ArmStats:
    """Sufficient statistics of one arm: n users, and per-user sums of denominators x and numerators y."""

    n: int
    sum_x: float
    sum_y: float
    sum_x2: float
    sum_y2: float
    sum_xy: float

    @classmethod
    def from_arrays(cls, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> ArmStats:
        xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return cls(len(xa), float(xa.sum()), float(ya.sum()), float((xa * xa).sum()), float((ya * ya).sum()),
                   float((xa * ya).sum()))

    def __add__(self, other: ArmStats) -> ArmStats:
        return ArmStats(self.n + other.n, self.sum_x + other.sum_x, self.sum_y + other.sum_y,
                        self.sum_x2 + other.sum_x2, self.sum_y2 + other.sum_y2, self.sum_xy + other.sum_xy)

    @property
    def value(self) -> float:
        """The metric: sum(y) / sum(x) (NaN without data)."""
        return self.sum_y / self.sum_x if self.sum_x > 0 else math.nan

    @property
    def variance(self) -> float:
        """Delta-method variance of `value` (ratio of two per-user means)."""
        n = self.n
        if n < 2 or self.sum_x <= 0:
            return math.nan
        mx, my = self.sum_x / n, self.sum_y / n
        vx = (self.sum_x2 - n * mx * mx) / (n - 1)
        vy = (self.sum_y2 - n * my * my) / (n - 1)
        cxy = (self.sum_xy - n * mx * my) / (n - 1)
        r = my / mx
        return max(0.0, (vy - 2 * r * cxy + r * r * vx) / (mx * mx * n))


@dataclass(frozen=True)
class Lift:
    """A relative lift with its interval, two-sided p-value and standard error (NaN where undefined)."""

    relative: float
    ci: tuple[float, float]
    p_value: float
    se: float


def relative_lift(control: ArmStats, treatment: ArmStats, alpha: float = 0.05) -> Lift:
    """Relative lift treatment / control - 1 with its (1 - alpha) interval and two-sided p-value (delta method)."""
    c, t = control.value, treatment.value
    if not (c > 0 and math.isfinite(t)):
        return Lift(math.nan, (math.nan, math.nan), math.nan, math.nan)
    lift = t / c - 1
    var = treatment.variance / (c * c) + (t * t) * control.variance / c**4
    se = math.sqrt(var) if var > 0 else 0.0
    if se == 0:
        return Lift(lift, (lift, lift), 1.0 if lift == 0 else 0.0, 0.0)
    z = float(st.norm.ppf(1 - alpha / 2))
    return Lift(lift, (lift - z * se, lift + z * se), float(2 * st.norm.sf(abs(lift) / se)), se)


def msprt_p_value(estimate: float, se: float, tau: float = MSPRT_TAU) -> float:
    """Always-valid p-value of a normal mixture SPRT (Johari et al., 2017) for H0: effect = 0, at one look.

    The mixture likelihood ratio is sqrt(V / (V + tau^2)) * exp(tau^2 x^2 / (2 V (V + tau^2))) with V = se^2;
    p = min(1, 1 / ratio). Taking the running minimum over looks (`sequential_p_values`) keeps P(p <= alpha ever)
    below alpha under H0."""
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return math.nan
    if se <= 0:
        return 1.0 if estimate == 0 else 0.0
    v, t2 = se * se, tau * tau
    log_ratio = 0.5 * math.log(v / (v + t2)) + t2 * estimate * estimate / (2 * v * (v + t2))
    return float(min(1.0, math.exp(-log_ratio)))


def mixing_sd(se: float, n: int, tune_users: int = MSPRT_TUNE_USERS) -> float:
    """The mSPRT prior's standard deviation for a look with `n` users and standard error `se` (se * sqrt(n) is the
    per-user spread, so the prior stays the same effect size as users accrue)."""
    return se * math.sqrt(n / tune_users) if se > 0 and n > 0 else MSPRT_TAU


def sequential_p_values(looks: Iterable[tuple[float, float, int]], tune_users: int = MSPRT_TUNE_USERS
                        ) -> list[float]:
    """Always-valid p-values after each look (estimate, se, users): the running minimum of mSPRT p-values."""
    out: list[float] = []
    best = 1.0
    for est, se, n in looks:
        p = msprt_p_value(est, se, mixing_sd(se, n, tune_users))
        if math.isfinite(p):
            best = min(best, p)
        out.append(best)
    return out


def srm_check(counts: Mapping[str, int], weights: Mapping[str, float], alpha: float = SRM_ALPHA
              ) -> dict[str, float | bool | dict[str, float]]:
    """Chi-square goodness of fit of users per arm against the configured weights; ok is False below `alpha`."""
    arms = sorted(weights)
    observed = np.array([counts.get(a, 0) for a in arms], dtype=np.float64)
    total = observed.sum()
    share = np.array([weights[a] for a in arms], dtype=np.float64)
    share = share / share.sum()
    expected = {a: float(total * s) for a, s in zip(arms, share, strict=True)}
    keep = share > 0
    if total == 0 or keep.sum() < 2:
        return {"p_value": math.nan, "ok": True, "expected": expected, "chi2": math.nan}
    chi2, p = st.chisquare(observed[keep], total * share[keep])
    return {"p_value": float(p), "ok": bool(p >= alpha), "expected": expected, "chi2": float(chi2)}


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of wins vs losses under no preference (ties excluded)."""
    n = wins + losses
    if n == 0:
        return 1.0
    return float(st.binomtest(wins, n, 0.5).pvalue)


def interleaving_summary(prefs: Sequence[int]) -> dict[str, Any]:
    """Wins (+1), ties (0), losses (-1) of arm A over requests with a click; the share of A wins among decided
    ones, Delta_AB = (wins + ties / 2) / total - 0.5, and the sign test's p-value."""
    wins = sum(1 for p in prefs if p > 0)
    losses = sum(1 for p in prefs if p < 0)
    ties = len(prefs) - wins - losses
    total = wins + losses + ties
    delta = (wins + ties / 2) / total - 0.5 if total else math.nan
    return {"wins": wins, "ties": ties, "losses": losses, "delta": delta, "p_value": sign_test(wins, losses)}


def user_preference_test(per_user: Sequence[float], looks: Iterable[tuple[float, float, int]] = (),
                         alpha: float = 0.05) -> dict[str, Any]:
    """Users as the unit of an interleaving test: each value is one user's mean per-request preference for arm A
    (+1 a win, -1 a loss, 0 a tie, over the user's requests with a click).

    A user's requests are not independent, so a sign test over requests overstates significance as soon as users
    come back; this tests the mean over users (Student's t with n - 1 degrees of freedom: exact enough for a
    dozen users, the normal test for many) and gives the always-valid mSPRT p-value over the earlier `looks`
    (mean, se, users) and this one, so it may be read every day."""
    x = np.asarray(per_user, dtype=np.float64)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    se = float(x.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    if not math.isfinite(se):
        p = math.nan
    elif se == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * st.t.sf(abs(mean) / se, n - 1))
    z = float(st.t.ppf(1 - alpha / 2, n - 1)) if n >= 2 else math.nan
    seq = sequential_p_values([*looks, (mean, se, n)]) if math.isfinite(se) else [math.nan]
    return {"users": n, "mean_preference": mean, "se": se, "ci": [mean - z * se, mean + z * se], "p_value": p,
            "always_valid_p_value": seq[-1]}

