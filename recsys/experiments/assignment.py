"""Deterministic assignment: a hash of (salt, user id) picks a bucket; weights map buckets to arms.

The same user always lands in the same arm of an experiment, and experiments with different salts split users
independently of each other (the hash of another salt is unrelated).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

BUCKETS = 10_000


def bucket(salt: str, user_id: str) -> int:
    """The user's bucket in [0, BUCKETS), uniform over users and fixed for a salt."""
    digest = hashlib.blake2b(f"{salt}\x1f{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def assign(salt: str, user_id: str, weights: Mapping[str, float]) -> str:
    """The arm of `user_id`: arms (in sorted order) own consecutive bucket ranges proportional to their weights."""
    b = bucket(salt, user_id)
    total = sum(weights.values())
    edge = 0.0
    arms = sorted(weights)
    for arm in arms:
        edge += weights[arm] / total * BUCKETS
        if b < edge:
            return arm
    return arms[-1]
