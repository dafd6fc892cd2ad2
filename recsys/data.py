"""In-memory interactions: dense id maps and a user x item matrix with chronological sequences.

External ids are strings; dense indices are used only inside `recsys/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


class IdMap:
    """A bijection between external string ids and dense indices ``0..n-1``."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = np.asarray(list(ids), dtype=str)
        self._index = {v: i for i, v in enumerate(self.ids.tolist())}
        if len(self._index) != len(self.ids):
            raise ValueError("IdMap ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, external: object) -> bool:
        return external in self._index

    def index(self, external: Sequence[str] | np.ndarray) -> np.ndarray:
        """Dense indices of `external` ids; -1 where an id is unknown."""
        get = self._index.get
        return np.fromiter((get(str(x), -1) for x in external), dtype=np.int64, count=len(external))

    def external(self, indices: np.ndarray) -> np.ndarray:
        """External ids of dense `indices` (any shape)."""
        return self.ids[np.asarray(indices)]

    def to_list(self) -> list[str]:
        return self.ids.tolist()


@dataclass
class Interactions:
    """Training interactions.

    matrix: CSR ``(n_users, n_items)`` float32 of summed event weights (the implicit-feedback confidence).
    sequences: per user, the chronological dense item indices of their events (repeats kept, for sequence models).
    timestamps: per user, the event times (int64 microseconds since epoch) aligned with `sequences`, when known.
    """

    users: IdMap
    items: IdMap
    matrix: sp.csr_matrix
    sequences: list[np.ndarray] = field(default_factory=list)
    timestamps: list[np.ndarray] | None = None
    item_features: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @classmethod
    def from_sequences(
        cls,
        sequences: dict[str, Sequence[str]],
        weights: dict[str, Sequence[float]] | None = None,
        items: Sequence[str] | None = None,
    ) -> Interactions:
        """Build from ``{user: [item, ...]}`` in time order (the simplest way to make test data)."""
        user_map = IdMap(sequences.keys())
        if items is None:
            seen: dict[str, None] = {}
            for seq in sequences.values():
                seen.update(dict.fromkeys(map(str, seq)))
            items = list(seen)
        item_map = IdMap(items)
        rows, cols, vals, seqs = [], [], [], []
        for u, (user, seq) in enumerate(sequences.items()):
            idx = item_map.index(list(seq))
            if (idx < 0).any():
                raise ValueError(f"user {user!r} has items missing from `items`")
            w = np.ones(len(idx), np.float32) if weights is None else np.asarray(weights[user], np.float32)
            rows.append(np.full(len(idx), u))
            cols.append(idx)
            vals.append(w)
            seqs.append(idx.astype(np.int64))
        matrix = sp.csr_matrix(
            (np.concatenate(vals) if vals else np.zeros(0, np.float32),
             (np.concatenate(rows) if rows else np.zeros(0, int), np.concatenate(cols) if cols else np.zeros(0, int))),
            shape=(len(user_map), len(item_map)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return cls(users=user_map, items=item_map, matrix=matrix, sequences=seqs)
