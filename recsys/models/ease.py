"""EASE (Steck, 2019): a closed-form, zero-diagonal item-item linear model.

B = I - P diag(1 / diag(P)) with P = (X^T X + reg I)^-1; a user's scores are x_u B. One dense n_items^2
inverse, so it is exact and fast for catalogs up to ~20k items and refused above `max_items`.
Like item-kNN it scores any item history, including a live one from a user unseen at training.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.linalg

from recsys.data import Interactions
from recsys.models.base import Recommender
from recsys.models.history import history_rows, weights_on

log = logging.getLogger(__name__)

DTYPES = {"float32": np.float32, "float64": np.float64}
SOLVERS = ("cholesky", "lu")


class EASE(Recommender):
    """Embarrassingly shallow autoencoder.

    reg: L2 penalty lambda on the item-item weights (a few hundred suits MovieLens-sized data).
    dtype: "float32" (default: half the memory and time, same rankings on MovieLens) or "float64" for the Gram
        matrix inverse; the weights are kept in float32.
    max_items: refuse catalogs larger than this (the inverse needs n_items^2 memory and n_items^3 work).
    weighted: learn from the summed event weights instead of binary interactions.
    solver: "cholesky" (default: LAPACK potrf + potri on the symmetric positive definite Gram matrix) or "lu"
        (a general LU inverse, about twice the work; kept for comparison, see bench/results/ease.md).
    """

    name = "ease"
    supports_history = True

    def __init__(self, *, reg: float = 300.0, dtype: str = "float32", max_items: int = 20_000,
                 weighted: bool = False, solver: str = "cholesky") -> None:
        self.reg = reg
        self.dtype = dtype
        self.max_items = max_items
        self.weighted = weighted
        self.solver = solver

    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        if not self.reg > 0:
            raise ValueError(f"reg must be positive (it makes the Gram matrix invertible), got {self.reg!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        n = data.n_items
        if n > self.max_items:
            gib = n * n * np.dtype(DTYPES[self.dtype]).itemsize / 2**30
            raise ValueError(
                f"EASE needs a dense {n} x {n} item-item inverse (~{gib:.1f} GiB, O(n^3) work) but max_items is "
                f"{self.max_items}: filter rare items first, raise max_items if the memory is there, or use itemknn/als"
            )
        dtype = DTYPES[self.dtype]
        x = (data.matrix.tocsr() if self.weighted else self.seen_).astype(dtype)
        gram = np.asarray((x.T @ x).toarray(), dtype=dtype)
        gram[np.diag_indices(n)] += dtype(self.reg)
        p = _spd_inverse(gram) if self.solver == "cholesky" else scipy.linalg.inv(gram, overwrite_a=True)
        del gram
        p /= -np.diag(p)[None, :]
        p[np.diag_indices(n)] = 0.0
        self.weights_: np.ndarray = np.ascontiguousarray(p, dtype=np.float32)
        self.user_weights_: np.ndarray = (weights_on(self.seen_, data.matrix) if self.weighted
                                          else np.ones(self.seen_.nnz, np.float32))
        log.debug("EASE fitted on %d items (reg=%s, %s)", n, self.reg, self.dtype)

    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        rows = history_rows(self.seen_, self.user_weights_, self.sequences_, users, histories, len(self.items_))
        if not self.weighted:
            rows.data[:] = 1.0  # binary model: an item seen twice counts once
        return np.asarray(rows @ self.weights_, dtype=np.float32)

    def _similar(self, items: np.ndarray) -> np.ndarray:
        return self.weights_[items].copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "user_weights": self.user_weights_}

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.weights_ = state["weights"]
        self.user_weights_ = state["user_weights"]


def _spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix via Cholesky (half the work of a general inverse)."""
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (a,))
    c, info = potrf(a, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise ValueError(f"EASE Gram matrix is not positive definite (LAPACK potrf info={info}); increase reg")
    inv, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise ValueError(f"EASE Gram matrix inversion failed (LAPACK potri info={info}); increase reg")
    # potri fills the upper triangle only; mirror it in place, a block of rows at a time (no n^2 temporaries).
    n, block = inv.shape[0], 512
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        inv[lo:hi, :lo] = inv[:lo, lo:hi].T
        tile = inv[lo:hi, lo:hi]
        tile[:] = np.triu(tile) + np.triu(tile, 1).T
    return inv
