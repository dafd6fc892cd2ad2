"""The one `Recommender` contract every model honours.

A model maps external string ids to dense indices once, at `fit`. Subclasses implement only
`_fit`, `_score` and (optionally) `_similar`, `_state`/`_load_state`; this base class does id mapping,
seen-item filtering, exclusions, candidate restriction, top-k, cold-start fallback and the artifact format.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np
import scipy.sparse as sp

from recsys.atomic import atomic_directory
from recsys.data import IdMap, Interactions
from recsys.errors import ArtifactError, NotFittedError
from recsys.jsonutil import to_jsonable

ARTIFACT_FORMAT = 1
Histories = Sequence[Sequence[str] | None]
FitProgress = Callable[[int, int], None]
"""``progress(done, total)`` during a fit."""


class Recommendations(tuple[np.ndarray, np.ndarray]):
    """``(item_ids, scores)`` as `Recommender.recommend` returns them, plus ``fallback``: per user, True where the
    popularity ranking answered (a bool for a single user)."""

    fallback: np.ndarray | bool

    def __new__(cls, item_ids: np.ndarray, scores: np.ndarray, fallback: np.ndarray | bool) -> Recommendations:
        out = super().__new__(cls, (item_ids, scores))
        out.fallback = fallback
        return out

    @property
    def item_ids(self) -> np.ndarray:
        return self[0]

    @property
    def scores(self) -> np.ndarray:
        return self[1]

    @property
    def fallback_flags(self) -> list[bool]:
        """``fallback`` as one bool per user, for one id or a batch."""
        return [bool(f) for f in np.atleast_1d(self.fallback)]


class StateCache(Protocol):
    """Where a model keeps per-history states between calls (a server attaches one: see `Recommender.state_cache`)."""

    def get(self, window: bytes) -> Any | None: ...

    def put(self, window: bytes, state: Any) -> None: ...


class Recommender(ABC):
    """Base class of every recommender.

    Hyper-parameters are keyword arguments of ``__init__``, stored unchanged under the same names
    (as in scikit-learn); validation happens in `fit`; learned state ends in ``_``.
    """

    name: ClassVar[str] = "base"
    supports_history: ClassVar[bool] = False
    """True when the model can score a user from a live history that was not in training."""
    early_stopping: ClassVar[bool] = False
    """True when `fit` early-stops on the validation targets it is given (SASRec). Training fits such a model
    without the validation period, then refits it on everything for `best_length` (see `recsys.training`);
    the other models fit on the whole training period and are never shown the validation targets."""
    length_param: ClassVar[str | None] = None
    """The hyper-parameter that sets how long the model trains (``"epochs"``, implicit's ``"iterations"``)."""
    single_thread_blas: ClassVar[bool] = False
    """True for models fitted by `implicit`: OpenBLAS must run one thread during their fits."""
    state_cache: StateCache | None = None
    """Set by a server for models that compute a state from a user's history window (SASRec): the state of a
    single user's window is kept there until a new event changes the window. None: nothing is kept."""
    _progress: FitProgress | None = None  # the callback of the fit under way

    # ---------------------------------------------------------------- what a fit reports
    @property
    def best_length(self) -> int | None:
        """The training length (in `length_param` units) that early stopping chose; None without one."""
        return None

    @property
    def fitted_device(self) -> str | None:
        """The device the model was fitted on (``"cpu"``, ``"cuda"``...); None for models without devices."""
        return None

    def training_lengths(self) -> dict[str, int | float]:
        """How long the model trained: its `length_param` and any learned counts (``best_epoch``...)."""
        if self.length_param is None:
            return {}
        return {self.length_param: self.get_params()[self.length_param]}

    # ---------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        """Learn from `data`; may use `validation` ({user: [target items]}) for early stopping."""

    @abstractmethod
    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        """Scores ``(len(users), n_items)`` float32. `users` are dense indices, -1 for a user unknown at
        training whose live history is in `histories` (only when `supports_history`). Higher is better."""

    def _similar(self, items: np.ndarray) -> np.ndarray:
        """Item-item scores ``(len(items), n_items)``; default: cosine of the training matrix's columns."""
        cols = self.seen_.T.tocsr().astype(np.float32)
        norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        sims = (cols[items] @ cols.T).toarray()
        return (sims / norms[items, None] / norms[None, :]).astype(np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (plain numeric numpy arrays: no pickle)."""
        return {}

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:  # noqa: B027 (optional hook)
        """Restore what `_state` returned."""

    # ---------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds]

    def _set_params(self, values: Mapping[str, Any]) -> None:
        """For `__init__` (``self._set_params(locals())``): store each hyper-parameter unchanged, under its name."""
        for name in self._param_names():
            setattr(self, name, values[name])

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---------------------------------------------------------------- fit
    def fit(
        self,
        data: Interactions,
        validation: Mapping[str, Sequence[str]] | None = None,
        *,
        progress: FitProgress | None = None,
    ) -> Self:
        """Learn from `data`. Returns self. progress(done, total) is called as the fit advances, by models that
        train in steps (SASRec: once per epoch; total is the most epochs it may run)."""
        if not isinstance(data, Interactions):
            raise TypeError(f"fit expects recsys.data.Interactions, got {type(data).__name__}")
        if data.n_users == 0 or data.n_items == 0 or data.matrix.nnz == 0:
            raise ValueError("cannot fit on empty interactions: no users, items or events in the training window")
        self.users_: IdMap = data.users
        self.items_: IdMap = data.items
        seen = data.matrix.tocsr().copy()
        seen.data = np.ones_like(seen.data, dtype=np.float32)
        self.seen_: sp.csr_matrix = seen
        self.item_popularity_: np.ndarray = np.asarray(seen.sum(axis=0), dtype=np.float32).ravel()
        if data.sequences:
            self.sequences_: list[np.ndarray] = [np.asarray(s, np.int64) for s in data.sequences]
        else:
            self.sequences_ = [seen.indices[seen.indptr[u]:seen.indptr[u + 1]].astype(np.int64)
                               for u in range(seen.shape[0])]
        self._progress = progress
        try:
            self._fit(data, validation)
        finally:
            self._progress = None
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "items_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(interactions) or load a saved model")

    # ---------------------------------------------------------------- queries
    def is_known(self, users: str | Sequence[str]) -> np.ndarray:
        """True for users seen in training."""
        self._check_fitted()
        users = [users] if isinstance(users, str) else list(users)
        return self.users_.index(users) >= 0

    def recommend(
        self,
        users: str | Sequence[str],
        k: int = 10,
        *,
        filter_seen: bool = True,
        exclude: Sequence[str] | Sequence[Sequence[str]] | None = None,
        candidates: Sequence[str] | None = None,
        histories: Histories | None = None,
    ) -> Recommendations:
        """Top-`k` items for one user id or a batch.

        Returns ``(item_ids, scores)``: shapes ``(n, k)`` for a batch, ``(k,)`` for one id. Where fewer than `k`
        items are eligible, the tail is padded with ``None`` ids and ``-inf`` scores. The result's ``fallback``
        says, per user (a bool for one id), who got the popularity ranking: users unknown at training without a
        usable history (see `is_known`).
        exclude: item ids never to return (one list for all users, or one list per user).
        candidates: rank only these item ids. histories: per user, recent item ids (live events) that a
        history-aware model scores from and that count as seen; ``None`` entries use the training history.
        """
        self._check_fitted()
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        single = isinstance(users, str)
        user_list: list[str] = [users] if isinstance(users, str) else [str(u) for u in users]
        n = len(user_list)
        if histories is not None and len(histories) != n:
            raise ValueError(f"histories has {len(histories)} entries for {n} users")
        uidx = self.users_.index(user_list)
        hist = self._histories(uidx, histories)
        scores, fallback = self._scores_or_fallback(uidx, hist)
        if filter_seen:
            self._mask_seen(scores, uidx, hist if histories is not None else None)
        self._mask_excluded(scores, exclude)
        n_eligible = self._mask_candidates(scores, candidates)
        ids, top = self._top_k(scores, min(k, max(n_eligible, 0)))
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            ids = np.hstack([ids, np.full((n, pad), None, dtype=object)])
            top = np.hstack([top, np.full((n, pad), -np.inf, dtype=np.float32)])
        if single:
            return Recommendations(ids[0], top[0], bool(fallback[0]))
        return Recommendations(ids, top, fallback)

    def _scores_or_fallback(self, uidx: np.ndarray, hist: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(n, n_items)``: the model's for users it can score (known, or with a usable live history when
        `supports_history`), the popularity ranking for the others, who are flagged in the returned mask."""
        scores = np.empty((len(uidx), len(self.items_)), dtype=np.float32)
        can_score = (uidx >= 0) | (np.array([len(h) > 0 for h in hist], dtype=bool) & self.supports_history)
        if can_score.any():
            rows = np.flatnonzero(can_score)
            scores[rows] = self._score(uidx[rows], [hist[r] for r in rows])
        if (~can_score).any():
            scores[~can_score] = self.item_popularity_
        return scores, ~can_score

    def _mask_seen(self, scores: np.ndarray, uidx: np.ndarray, live: list[np.ndarray] | None) -> None:
        """-inf for each user's training items and, where given, live-history items."""
        for r, u in enumerate(uidx):
            if u >= 0:
                scores[r, self.seen_.indices[self.seen_.indptr[u]:self.seen_.indptr[u + 1]]] = -np.inf
            if live is not None and len(live[r]):
                scores[r, live[r]] = -np.inf

    def _mask_excluded(self, scores: np.ndarray, exclude: Sequence[str] | Sequence[Sequence[str]] | None) -> None:
        """-inf for excluded items: one list for every user, or one list per user."""
        if exclude is None or not len(exclude):
            return
        if isinstance(exclude[0], str):
            ex = self.items_.index(list(exclude))  # type: ignore[arg-type]
            scores[:, ex[ex >= 0]] = -np.inf
            return
        if len(exclude) != len(scores):
            raise ValueError(f"exclude has {len(exclude)} lists for {len(scores)} users")
        for r, row in enumerate(exclude):
            ex = self.items_.index(list(row))
            scores[r, ex[ex >= 0]] = -np.inf

    def _mask_candidates(self, scores: np.ndarray, candidates: Sequence[str] | None) -> int:
        """-inf outside `candidates` (when given); returns how many items stay eligible."""
        if candidates is None:
            return len(self.items_)
        cand = self.items_.index(list(candidates))
        cand = np.unique(cand[cand >= 0])
        mask = np.ones(len(self.items_), dtype=bool)
        mask[cand] = False
        scores[:, mask] = -np.inf
        return len(cand)

    def similar_items(self, items: str | Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The `k` items most similar to each item (the item itself excluded). Unknown items raise KeyError."""
        self._check_fitted()
        single = isinstance(items, str)
        item_list: list[str] = [items] if isinstance(items, str) else [str(i) for i in items]
        idx = self.items_.index(item_list)
        if (idx < 0).any():
            missing = [i for i, j in zip(item_list, idx, strict=True) if j < 0]
            raise KeyError(f"unknown item ids: {missing[:5]}")
        scores = self._similar(idx).astype(np.float32, copy=True)
        scores[np.arange(len(idx)), idx] = -np.inf
        ids, top = self._top_k(scores, min(k, len(self.items_) - 1))
        return (ids[0], top[0]) if single else (ids, top)

    def _histories(self, uidx: np.ndarray, histories: Histories | None) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for r, u in enumerate(uidx):
            given = None if histories is None else histories[r]
            if given is not None:
                h = self.items_.index(list(given))
                h = h[h >= 0]
                if u >= 0 and self.supports_history:
                    h = np.concatenate([self.sequences_[u], h])
                out.append(h)
            elif u >= 0:
                out.append(self.sequences_[u])
            else:
                out.append(np.zeros(0, np.int64))
        return out

    def _top_k(self, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = scores.shape[0]
        if k <= 0:
            return np.empty((n, 0), dtype=object), np.empty((n, 0), dtype=np.float32)
        if k < scores.shape[1]:
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(scores.shape[1]), (n, 1))
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        top_idx = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
        ids = self.items_.external(top_idx).astype(object)
        ids[~np.isfinite(top)] = None
        return ids, top

    # ---------------------------------------------------------------- artifacts
    def save(self, path: str | Path) -> Path:
        """Write the model to directory `path` atomically (temp dir + rename). No pickle inside."""
        self._check_fitted()
        path = Path(path)
        if path.exists():
            raise ArtifactError(f"{path} already exists: artifacts are immutable, save to a new directory")
        with atomic_directory(path, replace=False) as tmp:
            config = {"format": ARTIFACT_FORMAT, "model": self.name, "params": to_jsonable(self.get_params())}
            (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
            np.save(tmp / "users.npy", self.users_.ids, allow_pickle=False)
            np.save(tmp / "items.npy", self.items_.ids, allow_pickle=False)
            lengths = np.array([len(s) for s in self.sequences_], dtype=np.int64)
            flat = np.concatenate(self.sequences_) if self.sequences_ else np.zeros(0, np.int64)
            np.savez(tmp / "interactions.npz", seen_indptr=self.seen_.indptr, seen_indices=self.seen_.indices,
                     seq_lengths=lengths, seq_items=flat.astype(np.int64), popularity=self.item_popularity_)
            np.savez(tmp / "weights.npz", **self._state())  # type: ignore[arg-type]  # numpy's stub types kwds oddly
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load a model saved by `save`. On the base class, the saved model's own class is used."""
        from recsys.models import get_model_class

        path = Path(path)
        try:
            config = json.loads((path / "config.json").read_text())
            model_cls = get_model_class(config["model"])
            if cls is not Recommender and not issubclass(model_cls, cls):
                raise ArtifactError(f"{path} holds a {config['model']!r} model, not {cls.name!r}")
            model = model_cls(**config["params"])
            model.users_ = IdMap(np.load(path / "users.npy", allow_pickle=False).tolist())
            model.items_ = IdMap(np.load(path / "items.npy", allow_pickle=False).tolist())
            with np.load(path / "interactions.npz", allow_pickle=False) as z:
                indptr, indices = z["seen_indptr"], z["seen_indices"]
                model.seen_ = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                                            shape=(len(model.users_), len(model.items_)))
                model.item_popularity_ = z["popularity"]
                model.sequences_ = np.split(z["seq_items"], np.cumsum(z["seq_lengths"])[:-1]) \
                    if len(z["seq_lengths"]) else []
            with np.load(path / "weights.npz", allow_pickle=False) as z:
                model._load_state({k: z[k] for k in z.files})
        except ArtifactError:
            raise
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
            raise ArtifactError(f"cannot load a model from {path}: {err}") from err
        return model

