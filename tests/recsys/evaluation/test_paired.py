"""The paired comparison behind the promotion gate, on per-user values with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.evaluation.paired import decide, paired_bootstrap


def users(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.binomial(1, 0.1, n) * rng.uniform(0.3, 1.0, n)  # NDCG-like: mostly 0, some hits


def test_a_candidate_equal_to_production_is_promoted_but_not_an_improvement() -> None:
    values = users()
    c = paired_bootstrap(values, values.copy())
    assert c.delta == 0 and c.ci == (0.0, 0.0) and c.p_value == 1.0
    promoted, improved, reason = decide(c)
    assert promoted and not improved and reason.startswith("not significantly different")


def test_a_clearly_better_candidate_is_an_improvement() -> None:
    prod = users()
    cand = prod.copy()
    rng = np.random.default_rng(1)
    gain = (prod == 0) & (rng.random(len(prod)) < 0.05)  # the candidate also hits 5% of the misses
    cand[gain] = 0.5
    c = paired_bootstrap(cand, prod)
    assert c.ci[0] > 0 and c.p_value < 0.01
    assert decide(c)[:2] == (True, True)


def test_a_clearly_worse_candidate_is_refused_and_a_margin_tolerates_small_losses() -> None:
    prod = users()
    cand = prod * 0.9  # every hit ranks a little lower
    c = paired_bootstrap(cand, prod)
    assert c.ci[1] < 0
    promoted, improved, reason = decide(c)
    assert not promoted and not improved and reason.startswith("significantly worse")
    assert decide(c, margin=0.05)[0] is True  # a 0.005 loss is inside a 0.05 margin


def test_pairing_finds_a_difference_that_overlapping_intervals_hide() -> None:
    rng = np.random.default_rng(3)
    prod = rng.uniform(0, 1, 400)  # large between-user spread
    cand = prod + 0.01  # the candidate is better for every single user
    c = paired_bootstrap(cand, prod)
    assert c.better
    se = prod.std() / np.sqrt(len(prod))
    assert 0.01 < 2 * 1.96 * se  # unpaired 95% intervals would overlap


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same users"):
        paired_bootstrap(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="no test users"):
        paired_bootstrap(np.zeros(0), np.zeros(0))
    a = users(300)
    assert paired_bootstrap(a, a[::-1].copy(), seed=5) == paired_bootstrap(a, a[::-1].copy(), seed=5)  # seeded
