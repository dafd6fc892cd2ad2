"""Approximate top-k retrieval for embedding models (ALS, BPR, SASRec's output layer) with faiss.

The index is an inverted file over exact vectors (faiss ``IndexIVFFlat``, inner product): items are grouped
around ``nlist`` k-means centroids and a query scans the ``nprobe`` nearest groups. It builds in seconds at a
million items (an HNSW graph takes ten times longer, bench/results/ann.md), it is saved in faiss's own format,
and with ``nprobe == nlist`` it scans everything, so its answers equal exact scoring.

Filters are applied exactly by the caller: `AnnIndex.search` over-fetches, the caller drops banned items and
falls back to exact scoring for a row where fewer than k survive.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys.errors import ArtifactError
from recsys.models.topk import top_positions

log = logging.getLogger(__name__)

INDEX_FILE = "ann.faiss"
CONFIG_FILE = "ann.json"
MIN_ITEMS_ENV = "RECSYS_ANN_MIN_ITEMS"


@dataclass(frozen=True)
class AnnConfig:
    """How the index is built and searched.

    min_items: build and use an index only for catalogues at least this large (smaller ones score exactly, which
        is cheap there); the environment variable ``RECSYS_ANN_MIN_ITEMS`` overrides the default.
    nlist: inverted lists (None: about 4 x sqrt(n_items), at most n_items / 39 so k-means has enough points).
    nprobe: lists scanned per query (recall against latency; ``>= nlist`` is an exhaustive, exact search).
    overfetch: fetch ``overfetch x k`` plus the user's banned items, so that filtering still leaves k.
    max_fetch: never fetch more than this many per query (a user with more banned items is scored exactly).
    train_sample: at most this many vectors train the k-means quantizer.
    """

    min_items: int = 100_000
    nlist: int | None = None
    nprobe: int = 16
    overfetch: int = 2
    max_fetch: int = 4096
    train_sample: int = 100_000

    @classmethod
    def from_env(cls, **overrides: Any) -> AnnConfig:
        """Defaults, with ``RECSYS_ANN_MIN_ITEMS`` from the environment, then `overrides`."""
        values: dict[str, Any] = {}
        raw = os.environ.get(MIN_ITEMS_ENV)
        if raw:
            try:
                values["min_items"] = int(raw)
            except ValueError:
                raise ValueError(f"{MIN_ITEMS_ENV} must be an integer, got {raw!r}") from None
        return cls(**{**values, **overrides})

    def lists_for(self, n_items: int) -> int:
        if self.nlist is not None:
            return max(1, min(self.nlist, n_items))
        return max(1, min(int(4 * math.sqrt(n_items)), n_items // 39 or 1))


class AnnIndex:
    """A faiss inner-product index over one model's item vectors (row i = dense item index i)."""

    def __init__(self, index: Any, config: AnnConfig) -> None:
        self.index = index
        self.config = config

    @property
    def n_items(self) -> int:
        return int(self.index.ntotal)

    @property
    def exhaustive(self) -> bool:
        return int(self.index.nprobe) >= int(self.index.nlist)

    @classmethod
    def build(cls, vectors: np.ndarray, config: AnnConfig | None = None, *, seed: int = 0) -> AnnIndex:
        """Train the quantizer on a sample of `vectors` ``(n_items, d)`` and add them all."""
        import faiss

        config = config or AnnConfig()
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.ndim != 2 or not len(x):
            raise ValueError(f"ANN index needs a non-empty (n_items, dim) matrix, got shape {x.shape}")
        nlist = config.lists_for(len(x))
        quantizer = faiss.IndexFlatIP(x.shape[1])
        index = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        sample = x if len(x) <= config.train_sample else x[np.sort(rng.choice(len(x), config.train_sample, False))]
        index.train(sample)
        index.add(x)
        index.nprobe = min(config.nprobe, nlist)
        log.info("ANN index: %d items x %d dims in %d lists, nprobe %d", len(x), x.shape[1], nlist, index.nprobe)
        return cls(index, config)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` by inner product: ``(indices, scores)``, each ``(len(queries), k)``; -1 / -inf past the end."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        scores, idx = self.index.search(q, int(min(k, self.n_items)))
        scores[idx < 0] = -np.inf
        return idx, scores

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / INDEX_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2, sort_keys=True))

    @classmethod
    def load(cls, folder: Path) -> AnnIndex | None:
        """The index saved in `folder`, or None when the artifact has none."""
        if not (folder / INDEX_FILE).exists():
            return None
        import faiss

        try:
            config = AnnConfig(**json.loads((folder / CONFIG_FILE).read_text()))
            index = faiss.read_index(str(folder / INDEX_FILE))
        except (OSError, RuntimeError, TypeError, ValueError) as err:
            raise ArtifactError(f"cannot read the ANN index in {folder}: {err}") from err
        index.nprobe = min(config.nprobe, int(index.nlist))
        return cls(index, config)


def filtered_top_k(index: AnnIndex, queries: np.ndarray, k: int, banned: list[np.ndarray],
                   allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-`k` per query among items not in ``banned[r]`` and (when given) in the boolean mask `allowed`.

    Returns ``(indices, scores, ok)``; a row with ``ok`` False had fewer than k survivors among the fetched
    items and must be scored exactly (its indices/scores are undefined). Survivors keep their exact inner product
    with the query, so an answer that is ok equals the exact one whenever the true top items were fetched.
    """
    n = len(queries)
    cfg = index.config
    need = np.array([min(len(b) + cfg.overfetch * k, index.n_items) for b in banned], dtype=np.int64)
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_scores = np.full((n, k), -np.inf, dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    rows = np.flatnonzero((need <= cfg.max_fetch) | (need >= index.n_items))  # others: too many banned to fetch
    if not len(rows):
        return out_idx, out_scores, ok
    fetch = int(max(need[rows].max(), k))
    idx, scores = index.search(queries[rows], fetch)
    complete = fetch >= index.n_items and index.exhaustive  # the whole catalogue was ranked
    for j, r in enumerate(rows):
        keep = idx[j] >= 0
        if len(banned[r]):
            keep &= ~np.isin(idx[j], banned[r])
        if allowed is not None:
            keep &= allowed[np.maximum(idx[j], 0)]
        got_idx, got = idx[j][keep][:k], scores[j][keep][:k]
        if len(got_idx) == k or complete:
            out_idx[r, :len(got_idx)], out_scores[r, :len(got_idx)] = got_idx, got
            ok[r] = True
    return out_idx, out_scores, ok


def rank_vectors(index: AnnIndex, item_vectors: np.ndarray, queries: np.ndarray, k: int, banned: list[np.ndarray],
                 candidates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-`k` of ``queries @ item_vectors.T`` without scoring the whole catalogue: a candidate set smaller than
    the index threshold is scored exactly (cheap), otherwise the index over-fetches and `filtered_top_k` filters.
    Returns ``(indices, scores, ok)`` like `filtered_top_k`."""
    if candidates is None or len(candidates) >= index.config.min_items:
        allowed = None
        if candidates is not None:
            allowed = np.zeros(index.n_items, dtype=bool)
            allowed[candidates] = True
        return filtered_top_k(index, queries, k, banned, allowed)
    scores = queries @ item_vectors[candidates].T  # (n, len(candidates))
    for r, b in enumerate(banned):
        if len(b):
            scores[r, np.isin(candidates, b)] = -np.inf
    kk = min(k, len(candidates))
    pos, top = top_positions(scores, kk)
    out_idx = np.full((len(queries), k), -1, dtype=np.int64)
    out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    out_idx[:, :kk], out_scores[:, :kk] = candidates[pos], top
    return out_idx, out_scores, np.ones(len(queries), dtype=bool)
