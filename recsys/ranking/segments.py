"""Users grouped by taste, for the ranker's "popularity among similar users" features.

Every item gets a vector from a truncated SVD of the binary user-item matrix; a user's taste is the normalised mean
of the vectors of the items they touched, and spherical k-means over the users' tastes gives the segments. A user's
segment depends on their own events only (`Segments.assign`), so it is taken as of any time, and computed online
from a served user's training plus live events exactly as offline. The segment log holds every fitted event under
its user's segment (as of the fit), so "events on item i by users like u up to t" is one `ItemLog.count`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from recsys.data import Interactions
from recsys.ranking.events import ItemLog

log = logging.getLogger(__name__)

KMEANS_ITERATIONS = 25


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Spherical k-means (cosine) of unit rows, seeded by k-means++; unit centroids ``(k, d)``."""
    centroids = [points[rng.integers(len(points))]]
    closest = 1.0 - points @ centroids[0]
    for _ in range(1, k):
        weights = np.maximum(closest, 0.0)
        pick = rng.choice(len(points), p=weights / weights.sum()) if weights.sum() > 0 else rng.integers(len(points))
        centroids.append(points[pick])
        closest = np.minimum(closest, 1.0 - points @ points[pick])
    c = np.vstack(centroids)
    for _ in range(KMEANS_ITERATIONS):
        labels = np.argmax(points @ c.T, axis=1)
        sums = np.zeros_like(c)
        np.add.at(sums, labels, points)
        empty = ~sums.any(axis=1)
        sums[empty] = c[empty]  # a segment that lost every member keeps its centroid
        new = _normalise(sums)
        if np.allclose(new, c):
            break
        c = new
    return c.astype(np.float32)


def _tastes(vectors: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
    """Each history's unit taste: the normalised sum of its items' vectors (a zero row when it has none)."""
    if not len(histories):
        return np.zeros((0, vectors.shape[1]), np.float32)
    empty = np.zeros(vectors.shape[1], np.float32)
    return _normalise(np.vstack([vectors[h].sum(axis=0) if len(h) else empty for h in histories]))


def _labels(tastes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid of each taste (cosine), -1 for a zero taste."""
    out = np.argmax(tastes @ centroids.T, axis=1).astype(np.int64)
    out[~tastes.any(axis=1)] = -1
    return out


@dataclass
class Segments:
    """Item taste vectors ``(n_items, d)``, segment centroids ``(n_segments, d)``, the events of each segment by
    item (`log`, keyed ``segment * n_items + item``) and in all (`totals`, keyed by segment)."""

    vectors: np.ndarray
    centroids: np.ndarray
    log: ItemLog
    totals: ItemLog

    @property
    def n_items(self) -> int:
        return len(self.vectors)

    def assign(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """The segment of each history (dense item indices), -1 where none of its items has a vector."""
        return _labels(_tastes(self.vectors, histories), self.centroids)

    @classmethod
    def fit(cls, data: Interactions, seconds: Sequence[np.ndarray], n_segments: int, dim: int = 32,
            random_state: int = 0) -> Segments | None:
        """Segments of `data`'s users (None when there are too few users or items to make any)."""
        binary = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        dim = min(dim, min(binary.shape) - 1)
        has = np.flatnonzero(np.diff(binary.indptr) > 0)
        k = min(n_segments, len(has))
        if dim < 1 or k < 2:
            log.info("too little data for user segments (%d users, %d items)", *binary.shape)
            return None
        _, s, vt = randomized_svd(binary, dim, random_state=random_state)
        vectors = np.ascontiguousarray((vt.T * np.sqrt(s)).astype(np.float32))
        tastes = _tastes(vectors, data.sequences)
        centroids = _kmeans(tastes[has], k, np.random.default_rng(random_state))
        member = _labels(tastes, centroids)
        seg = np.repeat(member, [len(q) for q in data.sequences])
        items = np.concatenate(data.sequences).astype(np.int64)
        ts = np.concatenate(seconds).astype(np.int64)
        ok = seg >= 0
        log.info("user segments: %d from %d-dim item vectors, %d users", k, dim, len(has))
        return cls(vectors, centroids, ItemLog.build(seg[ok] * data.n_items + items[ok], ts[ok], k * data.n_items),
                   ItemLog.build(seg[ok], ts[ok], k))

    def state(self, prefix: str = "segment_") -> dict[str, np.ndarray]:
        out = {f"{prefix}vectors": self.vectors, f"{prefix}centroids": self.centroids}
        out.update({f"{prefix}{k}": v for k, v in self.log.state().items()})
        out.update({f"{prefix}totals_{k}": v for k, v in self.totals.state().items()})
        return out

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray], prefix: str = "segment_") -> Segments | None:
        if f"{prefix}vectors" not in state:
            return None
        log_ = ItemLog.from_state({k: state[f"{prefix}{k}"] for k in ("log_keys", "log_meta")})
        totals = ItemLog.from_state({k: state[f"{prefix}totals_{k}"] for k in ("log_keys", "log_meta")})
        return cls(state[f"{prefix}vectors"], state[f"{prefix}centroids"], log_, totals)
