"""Matrix factorisation from `implicit`: ALS (weighted least squares) and BPR (pairwise ranking).

Thin adapters: `implicit` does the fitting (its CUDA build when present and allowed), we keep only the
factor matrices as float32 numpy arrays, so a model fitted on a GPU saves and serves on any CPU.
implicit's fits run with OpenBLAS pinned to one thread (`threadpool_limits(1, "blas")`): it warns otherwise,
and its own threads already use every core.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys.data import Interactions
from recsys.models.base import Recommender
from recsys.models.device import resolve_device as device_for
from recsys.models.history import history_rows, weights_on
from recsys.models.warm import carry_rows

log = logging.getLogger(__name__)


@functools.cache
def _blas_controller() -> Any:
    """One threadpoolctl controller for the process: finding the loaded libraries (reading the process's memory
    map) costs about a millisecond, far more than a served fold-in; limiting through a kept controller does not."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def implicit_gpu_available() -> bool:
    """True when implicit was built with CUDA and sees a GPU."""
    try:
        import implicit.gpu
    except ImportError:  # pragma: no cover - implicit is a hard dependency
        return False
    return bool(implicit.gpu.HAS_CUDA)


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when implicit's GPU build can run, else "cpu"; "cuda" without one is an error."""
    return device_for(device, gpu_available=implicit_gpu_available, what="implicit",
                      missing="implicit has no usable CUDA build here (implicit.gpu.HAS_CUDA is False)")


class _ImplicitMF(Recommender):
    """Shared parts of the `implicit` factor models: device choice, fitting, factor storage and scoring."""

    single_thread_blas = True
    length_param = "iterations"
    factors: int
    iterations: int
    regularization: float
    random_state: int | None
    device: str
    num_threads: int

    @property
    def fitted_device(self) -> str | None:
        return self.device_

    def _factory(self) -> Callable[[bool], Any]:
        """A function use_gpu -> unfitted implicit model. Importing implicit here, outside the BLAS limit, matters:
        a BLAS library first loaded inside `threadpool_limits` escapes it."""
        raise NotImplementedError

    def _train_matrix(self, data: Interactions) -> sp.csr_matrix:
        return data.matrix.tocsr().astype(np.float32)

    def _check_params(self) -> None:
        for key in ("factors", "iterations"):
            value = getattr(self, key)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")

    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        self._check_params()
        device = resolve_device(self.device)
        user_items = self._train_matrix(data)
        make = self._factory()
        previous = self._take_warm_start()
        with threadpool_limits(1, "blas"):
            model = make(device == "cuda")
            if previous is not None and device == "cpu":
                self._seed_factors(model, previous, data)
            model.fit(user_items, show_progress=False)
        if device == "cuda":
            model = model.to_cpu()
        self.device_: str = device
        self.user_factors_: np.ndarray = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_: np.ndarray = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        log.debug("%s fitted on %s: %d users x %d items, %d factors", self.name, device,
                  *user_items.shape, self.item_factors_.shape[1])

    def _seed_factors(self, model: Any, previous: _ImplicitMF, data: Interactions) -> None:
        """Warm start (CPU): implicit starts from factors already set; known users and items keep theirs, new
        ones get implicit's own small random start."""
        width = previous.item_factors_.shape[1]
        if previous.user_factors_.shape[1] != width or width != model.factors:
            log.warning("%s: cannot warm start from %d factors into %d; training cold", self.name, width,
                        model.factors)
            return
        rng = np.random.default_rng(self.random_state)
        users, _ = carry_rows(data.users, previous.users_, previous.user_factors_,
                              rng.random((data.n_users, width), dtype=np.float32) * 0.01)
        items, carried = carry_rows(data.items, previous.items_, previous.item_factors_,
                                    rng.random((data.n_items, width), dtype=np.float32) * 0.01)
        model.user_factors, model.item_factors = users, items
        self.warm_started_ = True
        log.info("%s warm start: %d of %d items keep their factors", self.name, carried, data.n_items)

    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return self._query_vectors(users, histories) @ self.item_factors_.T

    def _query_vectors(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return self.user_factors_[users]

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_

    def _similar(self, items: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(self.item_factors_, axis=1)
        norms[norms == 0] = 1.0
        return (self.item_factors_[items] @ self.item_factors_.T) / norms[items, None] / norms[None, :]

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.device_ = "cpu"  # saved factors are numpy arrays
        self.user_factors_ = state["user_factors"]
        self.item_factors_ = state["item_factors"]


class ALS(_ImplicitMF):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with conjugate-gradient updates.

    factors: latent dimensions. regularization: L2 penalty. alpha: confidence per unit of event weight
    (implicit's confidence is ``alpha * weight``; unobserved pairs have confidence 1 and preference 0).
    iterations: ALS sweeps. random_state: seed of the initial factors (fits are deterministic for a seed).
    device: "auto" (implicit's CUDA build when available), "cpu" or "cuda". num_threads: CPU threads, 0 = all.
    A user unseen at training (or a known user with new live events) is folded in from the history by one
    least-squares solve against the fixed item factors.
    """

    name = "als"
    supports_history = True
    warm_startable = True
    alpha: float

    def __init__(
        self,
        *,
        factors: int = 128,
        regularization: float = 0.05,
        alpha: float = 5.0,
        iterations: int = 15,
        random_state: int | None = 0,
        device: str = "auto",
        num_threads: int = 0,
    ) -> None:
        self._set_params(locals())

    def _check_params(self) -> None:
        super()._check_params()
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha!r}")
        if self.regularization < 0:
            raise ValueError(f"regularization must be >= 0, got {self.regularization!r}")

    def _factory(self) -> Callable[[bool], Any]:
        from implicit.als import AlternatingLeastSquares

        return lambda use_gpu: AlternatingLeastSquares(
            factors=int(self.factors), regularization=float(self.regularization), alpha=float(self.alpha),
            iterations=int(self.iterations), random_state=self.random_state, use_gpu=use_gpu,
            num_threads=int(self.num_threads),
        )

    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        super()._fit(data, validation)
        self.user_weights_: np.ndarray = weights_on(self.seen_, data.matrix)

    def _query_vectors(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        # Users with live items beyond their training sequence (or unknown users) are folded in.
        fold = np.array([u < 0 or len(h) > len(self.sequences_[u]) for u, h in zip(users, histories, strict=True)],
                        dtype=bool)
        vectors = self.user_factors_[np.where(fold, 0, users)]
        if fold.any():
            rows = np.flatnonzero(fold)
            user_items = history_rows(self.seen_, self.user_weights_, self.sequences_, users[rows],
                                      [histories[r] for r in rows], len(self.items_))
            vectors[rows] = self._fold_in(user_items)
        return vectors

    def _fold_in(self, user_items: sp.csr_matrix) -> np.ndarray:
        solver = self._fold_solver()  # first: importing implicit loads the BLAS the controller must see
        with _blas_controller().limit(limits=1, user_api="blas"):
            factors = solver.recalculate_user(np.arange(user_items.shape[0]), user_items)
        return np.asarray(factors, dtype=np.float32)

    def _fold_solver(self) -> Any:
        """implicit's CPU solver over the fitted item factors, made once per model: it keeps the item Gram matrix
        (the costly part of a one-user fold-in) between requests."""
        solver = getattr(self, "_fold_cache", None)
        if solver is None or solver.item_factors is not self.item_factors_:
            from implicit.cpu.als import AlternatingLeastSquares

            with _blas_controller().limit(limits=1, user_api="blas"):  # implicit warns on a threaded BLAS
                solver = AlternatingLeastSquares(factors=self.item_factors_.shape[1],
                                                 regularization=float(self.regularization), alpha=float(self.alpha),
                                                 num_threads=int(self.num_threads))
            solver.item_factors = self.item_factors_
            self._fold_cache = solver
        return solver

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "user_weights": self.user_weights_}

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        super()._load_state(state)
        self.user_weights_ = state["user_weights"]


class BPR(_ImplicitMF):
    """Bayesian Personalised Ranking (Rendle et al. 2009), trained by SGD on (user, seen, unseen) triples.

    factors: latent dimensions (implicit adds one item-bias column). learning_rate, regularization: SGD step and
    L2 penalty. iterations: epochs over the interactions. random_state: seed. num_threads: CPU threads; the
    default 1 keeps fits deterministic for a seed (more threads update the factors concurrently, hogwild-style).
    device: "auto", "cpu" or "cuda". Binary feedback: event weights only mark what was seen.
    """

    name = "bpr"
    learning_rate: float

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int | None = 0,
        device: str = "auto",
        num_threads: int = 1,
    ) -> None:
        self._set_params(locals())

    def _check_params(self) -> None:
        super()._check_params()
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")

    def _train_matrix(self, data: Interactions) -> sp.csr_matrix:
        return self.seen_

    def _factory(self) -> Callable[[bool], Any]:
        from implicit.bpr import BayesianPersonalizedRanking

        return lambda use_gpu: BayesianPersonalizedRanking(
            factors=int(self.factors), learning_rate=float(self.learning_rate),
            regularization=float(self.regularization), iterations=int(self.iterations),
            random_state=self.random_state, use_gpu=use_gpu, num_threads=int(self.num_threads),
        )
