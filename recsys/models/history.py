"""Turning a user's training row and live history into one weighted item row, for item-item models
(item-kNN, EASE) and for ALS's fold-in of a live history."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from recsys.models.base import Recommender


def weights_on(seen: sp.csr_matrix, weighted: sp.csr_matrix) -> np.ndarray:
    """The event weights of `weighted` laid out on the sparsity pattern of `seen` (aligned with seen.data)."""
    w = weighted.tocsr()
    if np.array_equal(w.indptr, seen.indptr) and np.array_equal(w.indices, seen.indices):
        return w.data.astype(np.float32)
    # Explicit zeros or other pattern differences: look each seen entry up in the weighted matrix.
    return np.asarray(weighted[seen.nonzero()], dtype=np.float32).ravel()


def history_rows(
    seen: sp.csr_matrix,
    user_weights: np.ndarray,
    sequences: list[np.ndarray],
    users: np.ndarray,
    histories: list[np.ndarray],
    n_items: int,
) -> sp.csr_matrix:
    """One weighted item row per user: the training weights of a known user plus, with weight 1 per event,
    the live items appended after their training sequence (or the whole history of an unknown user)."""
    rows, cols, vals = [], [], []
    for r, (u, hist) in enumerate(zip(users, histories, strict=True)):
        if u >= 0:
            lo, hi = seen.indptr[u], seen.indptr[u + 1]
            cols.append(seen.indices[lo:hi])
            vals.append(user_weights[lo:hi])
            rows.append(np.full(hi - lo, r))
            live = hist[len(sequences[u]):]
        else:
            live = hist
        if len(live):
            cols.append(np.asarray(live, np.int64))
            vals.append(np.ones(len(live), np.float32))
            rows.append(np.full(len(live), r))
    if not rows:
        return sp.csr_matrix((len(users), n_items), dtype=np.float32)
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(len(users), n_items), dtype=np.float32)
    m.sum_duplicates()
    return m


def training_items(model: Recommender, user_id: str) -> list[str]:
    """The external item ids of `user_id`'s training history in `model`, oldest first ([] for an unknown user)."""
    u = int(model.users_.index([user_id])[0])
    if u < 0 or u >= len(model.sequences_):
        return []
    return model.items_.external(model.sequences_[u]).tolist()
