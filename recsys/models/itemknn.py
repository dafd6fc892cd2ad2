"""Item-based nearest neighbours (cosine, TF-IDF or BM25 similarity) built by `implicit.nearest_neighbours`.

A user's score for item j is the sum, over the items i in their history (weighted), of sim(i, j) among
the `K` nearest neighbours of i. Only the sparse similarity matrix is learned, so any item history can be
scored, including a live one from a user unseen at training.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys.data import Interactions
from recsys.models.base import Recommender
from recsys.models.history import history_rows, weights_on

log = logging.getLogger(__name__)

SIMILARITIES = ("cosine", "bm25", "tfidf")


class ItemKNN(Recommender):
    """Item-item k-nearest-neighbour recommender.

    similarity: "bm25" (default; down-weights heavy users and very popular items), "cosine" or "tfidf".
    K: neighbours kept per item. bm25_k1, bm25_b: BM25 saturation and length normalisation.
    num_threads: threads for the neighbour search (0 = all cores).
    """

    name = "itemknn"
    supports_history = True
    single_thread_blas = True

    def __init__(
        self,
        *,
        similarity: str = "bm25",
        K: int = 100,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        num_threads: int = 0,
    ) -> None:
        self.similarity = similarity
        self.K = K
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.num_threads = num_threads

    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight, normalize, tfidf_weight

        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if not isinstance(self.K, int | np.integer) or self.K < 1:
            raise ValueError(f"K must be a positive integer, got {self.K!r}")
        user_items = data.matrix.tocsr().astype(np.float32)
        # implicit's BM25/TF-IDF/Cosine recommenders, with the weighting done here so the neighbour search gets
        # the CSR matrix it expects (their own fit hands it a COO matrix and warns).
        item_users = user_items.T
        if self.similarity == "bm25":
            weighted = bm25_weight(item_users, K1=self.bm25_k1, B=self.bm25_b)
        elif self.similarity == "tfidf":
            weighted = normalize(tfidf_weight(item_users))
        else:
            weighted = normalize(item_users)
        with threadpool_limits(1, "blas"):
            knn = ItemItemRecommender(K=int(self.K), num_threads=int(self.num_threads))
            knn.fit(sp.csr_matrix(weighted.T, dtype=np.float64), show_progress=False)
        self.similarity_: sp.csr_matrix = knn.similarity.tocsr().astype(np.float32)
        self.user_weights_: np.ndarray = weights_on(self.seen_, user_items)
        log.debug("item-kNN (%s, K=%d): %d non-zero similarities", self.similarity, self.K, self.similarity_.nnz)

    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        rows = history_rows(self.seen_, self.user_weights_, self.sequences_, users, histories, len(self.items_))
        return np.asarray((rows @ self.similarity_).toarray(), dtype=np.float32)

    def _similar(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity_[items].toarray(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"sim_indptr": s.indptr, "sim_indices": s.indices, "sim_data": s.data,
                "user_weights": self.user_weights_}

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        n = len(self.items_)
        self.similarity_ = sp.csr_matrix((state["sim_data"], state["sim_indices"], state["sim_indptr"]), shape=(n, n))
        self.user_weights_ = state["user_weights"]
