"""Warm starts: an earlier version's per-item (or per-user) rows carried over to a new id map."""

from __future__ import annotations

import numpy as np

from recsys.data import IdMap


def carry_rows(new_ids: IdMap, old_ids: IdMap, old_rows: np.ndarray, fresh: np.ndarray) -> tuple[np.ndarray, int]:
    """`fresh` ``(len(new_ids), d)`` with the rows of ids also in `old_ids` replaced by their `old_rows`; returns
    the rows and how many were carried. New ids keep their fresh rows."""
    if old_rows.shape[1:] != fresh.shape[1:]:
        raise ValueError(f"row shapes differ: {old_rows.shape[1:]} before, {fresh.shape[1:]} now")
    where = old_ids.index(new_ids.ids)
    known = where >= 0
    out = fresh.copy()
    out[known] = old_rows[where[known]]
    return out, int(known.sum())
