"""The promotion gate: whether a candidate version may take an alias from the version holding it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PromotionDecision:
    """The outcome of a promotion request, with the numbers it was based on."""

    name: str
    version: int
    alias: str
    promoted: bool
    reason: str
    metric: str
    candidate_value: float | None = None
    production_value: float | None = None
    previous_version: int | None = None
    improved: bool = False
    """Significantly better than the version it replaces on the same test users (see `recsys.evaluation.paired`)."""
    paired: dict[str, Any] | None = None
    """The paired comparison the decision rests on (difference, interval, p-value), when there was one."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate(
    *,
    alias: str,
    metric: str,
    candidate: int,
    current: int | None,
    candidate_value: float | None,
    current_value: float | None,
    tolerance: float,
    force: bool = False,
    reason: str | None = None,
) -> tuple[bool, str]:
    """``(promoted, why)``: `candidate` takes `alias` from `current` when its `metric` is not worse than the
    current holder's by more than `tolerance` (absolute); `force` skips the comparison."""
    if force:
        return True, reason or "forced: gate skipped"
    if current is None:
        return True, f"no version holds {alias!r} yet"
    if current == candidate:
        return True, f"version {current} already holds {alias!r}"
    if candidate_value is None:
        return False, f"candidate has no {metric!r} metric; use force to promote anyway"
    if current_value is None:
        return True, f"current {alias} (version {current}) has no {metric!r} metric"
    if candidate_value >= current_value - tolerance:
        return True, f"{metric} {candidate_value:.6g} is within {tolerance:g} of or better than {current_value:.6g}"
    return False, (f"{metric} {candidate_value:.6g} is worse than the current {alias} (version {current}) "
                   f"{current_value:.6g} by more than {tolerance:g}")


def paired_gate(paired: Mapping[str, Any], margin: float) -> tuple[bool, bool, str]:
    """``(promoted, improved, why)`` from a recorded paired comparison (see `recsys.evaluation.paired.decide`)."""
    from recsys.evaluation.paired import PairedComparison, decide

    fields = {k: paired[k] for k in ("metric", "n_users", "candidate_mean", "production_mean", "delta", "p_value",
                                     "confidence")}
    comparison = PairedComparison(ci=(float(paired["ci"][0]), float(paired["ci"][1])), **fields)
    return decide(comparison, margin=margin)
