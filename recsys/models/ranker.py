"""Two-stage recommendation: retrievers propose candidates, a learning-to-rank model orders them.

Stage one: any registered models (``retrievers``, e.g. popularity, ALS, item-kNN) each return their top
``n_candidates`` unseen items; the union is the candidate set. Stage two: LightGBM lambdarank (see
`recsys.ranking.ltr` for why) scores each (user, candidate) pair from the retrievers' scores and ranks and the
point-in-time features of `feature_store.definitions.PAIR_FEATURES` (user, item, catalogue, user x category,
context, and the item's popularity among users of similar taste, `recsys.ranking.segments`). Items no retriever
proposed rank below every candidate, by popularity (misses, in evaluation terms).

Everything happens in `fit`, so the training pipeline treats the ranker like any model: the training events are
cut (`recsys.ranking.protocol`), retrievers fitted on the events before the cut-off produce the candidates the
ranker learns to order against the items each user touched after it; then the retrievers are refitted on all the
training events for serving and evaluation. The artifact holds the retrievers (each saved by its own ``save``),
the LightGBM model as text (``ranker.txt``) and JSON metadata (``ranker.json``: feature names, importances, recall
of each retriever): no pickle.

Online: `bind_online` gives the model a reader of the online store's live events (item, time), which
``POST /events`` updates; a served user's features are then computed from their training events plus those live
ones, exactly as offline, and the retrievers score the live history too, so fresh events change the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from feature_store.definitions import ranking_feature_names
from recsys.data import Interactions
from recsys.errors import ArtifactError, InputError
from recsys.models.base import Histories, Recommender
from recsys.ranking import DEFAULT_RETRIEVERS
from recsys.ranking.candidates import Candidates, retrieve
from recsys.ranking.catalogue import event_categories, read_catalogue
from recsys.ranking.events import ItemLog, UserEvents, event_seconds
from recsys.ranking.features import ItemSide, pair_matrix
from recsys.ranking.frame import RankingFrame
from recsys.ranking.ltr import booster_from_text, importances, lambdarank_params, train_ranker
from recsys.ranking.online import LiveEvents, live_events
from recsys.ranking.protocol import label_split
from recsys.ranking.report import recall_stats
from recsys.ranking.segments import Segments

log = logging.getLogger(__name__)

FALLBACK = -1000.0
"""Score offset of items no retriever proposed (below any ranker score; popularity orders them)."""
VALID_SHARE = 0.1
"""Share of the label users held out for early stopping and the recall statistics."""


class Ranker(Recommender):
    """Candidates from `retrievers`, ordered by LightGBM lambdarank over point-in-time features.

    retrievers: comma-separated model names (or a list); retriever_params: ``{name: {param: value}}`` for them.
    n_candidates: candidates per retriever. label_cutoff: "time" (one global cut-off, the last `label_fraction`
    of the time span) or "last" (each user's last `label_events` events); see `recsys.ranking.protocol`.
    max_label_users: cap on the label users (a seeded sample) to bound training time. catalog: a lake whose
    ``items/`` catalogue (or, without one, the events' categories) gives item attributes; None: none.
    n_segments: user taste segments for the "popularity among similar users" features (0: none).
    n_estimators, learning_rate, num_leaves, min_child_samples: LightGBM's. random_state: seeds everything.
    """

    name = "ranker"
    supports_history = True

    def __init__(
        self,
        *,
        retrievers: str | Sequence[str] = DEFAULT_RETRIEVERS,
        retriever_params: Mapping[str, Mapping[str, Any]] | None = None,
        n_candidates: int = 100,
        label_cutoff: str = "last",
        label_fraction: float = 0.1,
        label_events: int = 3,
        max_label_users: int = 20_000,
        catalog: str | None = None,
        n_segments: int = 32,
        n_estimators: int = 300,
        learning_rate: float = 0.02,
        num_leaves: int = 7,
        min_child_samples: int = 50,
        early_stopping: int = 0,
        num_threads: int = 1,
        random_state: int = 0,
    ) -> None:
        self.retrievers = retrievers
        self.retriever_params = retriever_params
        self.n_candidates = n_candidates
        self.label_cutoff = label_cutoff
        self.label_fraction = label_fraction
        self.label_events = label_events
        self.max_label_users = max_label_users
        self.catalog = catalog
        self.n_segments = n_segments
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.early_stopping = early_stopping
        self.num_threads = num_threads
        self.random_state = random_state

    # ---------------------------------------------------------------- fit
    def retriever_names(self) -> list[str]:
        from recsys.models import MODEL_CLASSES

        raw = self.retrievers.split(",") if isinstance(self.retrievers, str) else list(self.retrievers)
        names = list(dict.fromkeys(n.strip() for n in raw if n.strip()))
        if not names:
            raise InputError("the ranker needs at least one retriever (e.g. retrievers=popularity,als,itemknn)")
        bad = [n for n in names if n not in MODEL_CLASSES or n == self.name]
        if bad:
            raise InputError(f"unknown retriever(s) {', '.join(bad)}; use registered models other than "
                             f"ranker: {', '.join(m for m in MODEL_CLASSES if m != self.name)}")
        unknown = sorted(set(self.retriever_params or {}) - set(names))
        if unknown:
            raise InputError(f"retriever_params for {', '.join(unknown)}, which are not retrievers "
                             f"({', '.join(names)})")
        return names

    def training_frame(self, data: Interactions) -> RankingFrame:
        """The ranker's labelled training frame from `data` (the cut-off of `recsys.ranking.protocol`): candidates
        of retrievers fitted before the cut-off, features as of each label user's latest event before it."""
        names = self.retriever_names()
        if not isinstance(self.n_candidates, int | np.integer) or self.n_candidates < 1:
            raise InputError(f"n_candidates must be a positive integer, got {self.n_candidates!r}")
        cut = label_split(data, event_seconds(data), cutoff=self.label_cutoff, fraction=self.label_fraction,
                          n_last=self.label_events)
        categories, catalogue = self._item_attributes(data)
        early = self._fit_retrievers(names, cut.before)
        before_s = event_seconds(cut.before)
        side = ItemSide(ItemLog.from_users(cut.before.sequences, before_s, data.n_items), categories, catalogue,
                        self._segments(cut.before, before_s))
        rng = np.random.default_rng(self.random_state)
        pick = np.sort(rng.permutation(len(cut.users))[:self.max_label_users])
        users = cut.users[pick]
        rows = [UserEvents(cut.before.sequences[u], before_s[u], int(cut.as_of[p]))
                for u, p in zip(users, pick, strict=True)]
        cands = retrieve(early, data.users.external(users).tolist(), int(self.n_candidates))
        targets = [cut.targets[p] for p in pick]
        X = pair_matrix(side, rows, cands.items, cands.stacked_block())
        y = np.concatenate([np.isin(c, t) for c, t in zip(cands.items, targets, strict=True)]).astype(np.float32)
        return RankingFrame(X, y, cands, targets, rows, users, cut.cutoff, ranking_feature_names(names), categories,
                            catalogue)

    def _fit(self, data: Interactions, validation: Mapping[str, Sequence[str]] | None) -> None:
        frame = self.training_frame(data)
        self._learn(frame, np.random.default_rng(self.random_state + 1))
        self.label_cutoff_ = frame.cutoff
        self.retrievers_ = self._fit_retrievers(frame.candidates.retrievers, data)
        self.user_seconds_ = event_seconds(data)
        log_all = ItemLog.from_users(data.sequences, self.user_seconds_, data.n_items)
        self.side_ = ItemSide(log_all, frame.categories, frame.catalogue, self._segments(data, self.user_seconds_))

    def _segments(self, data: Interactions, seconds: list[np.ndarray]) -> Segments | None:
        if not isinstance(self.n_segments, int | np.integer) or self.n_segments < 0:
            raise InputError(f"n_segments must be a non-negative integer, got {self.n_segments!r}")
        if self.n_segments == 0:
            return None
        return Segments.fit(data, seconds, int(self.n_segments), random_state=int(self.random_state))

    def _learn(self, frame: RankingFrame, rng: np.random.Generator) -> None:
        """Fit lambdarank on the groups with at least one positive; a held-out share of the label users gives the
        recall statistics (and early stopping, when asked)."""
        X, y, cands, targets = frame.X, frame.y, frame.candidates, frame.targets
        groups = np.array([len(c) for c in cands.items], np.int64)
        ends = np.cumsum(groups)
        positives = np.add.reduceat(y, ends - groups) if len(y) else np.zeros(0)
        useful = (groups > 0) & (positives > 0)
        if not useful.any():
            raise InputError("no label user had a later item among the candidates: the ranker cannot learn "
                             "(raise n_candidates or add retrievers)")
        keep_rows = np.repeat(useful, groups)
        held = rng.random(len(groups)) < VALID_SHARE if len(groups) >= 20 else np.zeros(len(groups), bool)
        self.feature_names_ = frame.feature_names
        params = lambdarank_params(learning_rate=float(self.learning_rate), num_leaves=int(self.num_leaves),
                                   min_child_samples=int(self.min_child_samples), num_threads=int(self.num_threads),
                                   seed=int(self.random_state))
        booster = train_ranker(X[keep_rows], y[keep_rows], groups[useful], held[useful], self.feature_names_,
                               params=params, rounds=int(self.n_estimators), early_stopping=int(self.early_stopping))
        self.model_text_: str = booster.model_to_string(num_iteration=booster.best_iteration or -1)
        self.booster_ = booster_from_text(self.model_text_)
        self.importances_ = importances(self.booster_)
        scores = self.booster_.predict(X, num_threads=int(self.num_threads))
        per_row = np.split(scores, ends[:-1])
        rows = np.flatnonzero(held) if held.any() else np.arange(len(groups))
        self.stats_ = recall_stats(cands, targets, per_row, rows, int(self.n_candidates))
        self.stats_.update(label_users=len(groups), train_groups=int((useful & ~held).sum()),
                           trees=int(self.booster_.current_iteration()))

    def _fit_retrievers(self, names: list[str], data: Interactions) -> dict[str, Recommender]:
        from recsys.models import create_model, get_model_class
        from recsys.training.fitting import _single_thread_blas

        out = {}
        for name in names:
            params = dict((self.retriever_params or {}).get(name) or {})
            if "random_state" in get_model_class(name)._param_names():
                params.setdefault("random_state", self.random_state)
            model = create_model(name, **params)
            if model.single_thread_blas:  # a BLAS-heavy fit is faster on one thread here, as in training
                with _single_thread_blas():
                    model.fit(data)
            else:
                model.fit(data)
            out[name] = model
        return out

    def _item_attributes(self, data: Interactions) -> tuple[np.ndarray | None, dict[str, np.ndarray] | None]:
        if self.catalog is None:
            return None, None
        found = read_catalogue(self.catalog, data.items)
        if found is not None:
            return found
        return event_categories(self.catalog, data.items), None

    # ---------------------------------------------------------------- online
    def bind_online(self, live_events: LiveEvents | None) -> None:
        """Read each served user's live events (with their times) from `live_events` (the online store)."""
        self._live = live_events

    def pair_features(self, users: Sequence[str], histories: Histories | None = None
                      ) -> tuple[Candidates, np.ndarray]:
        """Candidates and their feature matrix for external `users` (with live `histories` of item ids, or the
        bound online store's live events): what `recommend` ranks."""
        self._check_fitted()
        uidx = self.users_.index(list(users))
        return self._pairs(uidx, self._histories(uidx, histories))

    def _pairs(self, users: np.ndarray, histories: list[np.ndarray]) -> tuple[Candidates, np.ndarray]:
        ext = ["" if u < 0 else str(self.users_.ids[u]) for u in users]
        live = live_events(getattr(self, "_live", None), ext, users, histories, self.sequences_,
                           self.user_seconds_, self.items_, self.side_.log)
        rows, live_ids = [], []
        for r, u in enumerate(users):
            items, ts = live[r]
            own_i = self.sequences_[u] if u >= 0 else np.zeros(0, np.int64)
            own_t = self.user_seconds_[u] if u >= 0 else np.zeros(0, np.int64)
            all_t = np.concatenate([own_t, ts])
            rows.append(UserEvents(np.concatenate([own_i, items]), all_t, int(all_t.max()) if len(all_t) else 0))
            live_ids.append(self.items_.external(items).tolist() if len(items) else None)
        cands = retrieve(self.retrievers_, ext, int(self.n_candidates),
                         histories=live_ids if any(h is not None for h in live_ids) else None)
        X = pair_matrix(self.side_, rows, cands.items, cands.stacked_block())
        names = ranking_feature_names(list(self.retrievers_))
        if names != self.feature_names_:  # an artifact of an earlier release learnt fewer features
            X = X[:, [names.index(n) for n in self.feature_names_]]
        return cands, X

    def _score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        pop = self.item_popularity_ / (self.item_popularity_.max() + 1.0)
        out = np.tile((FALLBACK + pop).astype(np.float32), (len(users), 1))
        cands, X = self._pairs(users, histories)
        if len(X):
            pred = self.booster_.predict(X, num_threads=int(self.num_threads)).astype(np.float32)
            sizes = np.cumsum([len(c) for c in cands.items])[:-1]
            for r, (items, scores) in enumerate(zip(cands.items, np.split(pred, sizes), strict=True)):
                out[r, items] = scores
        return out

    # ---------------------------------------------------------------- artifacts
    def _state(self) -> dict[str, np.ndarray]:
        side = self.side_
        state = {**side.log.state(), "user_seconds": np.concatenate(self.user_seconds_) if self.user_seconds_
                 else np.zeros(0, np.int64)}
        if side.categories is not None:
            state["categories"] = side.categories
        for key, values in (side.catalogue or {}).items():
            state[f"catalogue_{key}"] = values
        if side.segments is not None:
            state.update(side.segments.state())
        return state

    def _load_state(self, state: Mapping[str, np.ndarray]) -> None:
        lengths = [len(s) for s in self.sequences_]
        self.user_seconds_ = np.split(state["user_seconds"], np.cumsum(lengths)[:-1]) if lengths else []
        catalogue = {k.removeprefix("catalogue_"): v for k, v in state.items() if k.startswith("catalogue_")}
        self.side_ = ItemSide(ItemLog.from_state(dict(state)), state.get("categories"), catalogue or None,
                              Segments.from_state(state))

    def _save_files(self, folder: Path) -> None:
        for name, model in self.retrievers_.items():
            model.save(folder / "retrievers" / name)
        (folder / "ranker.txt").write_text(self.model_text_)
        meta = {"retrievers": list(self.retrievers_), "feature_names": self.feature_names_,
                "importances": self.importances_, "stats": self.stats_, "label_cutoff": self.label_cutoff_}
        (folder / "ranker.json").write_text(json.dumps(meta, indent=2))

    def _load_files(self, folder: Path) -> None:
        from recsys.models import load_model

        try:
            meta = json.loads((folder / "ranker.json").read_text())
            self.model_text_ = (folder / "ranker.txt").read_text()
        except (OSError, json.JSONDecodeError) as err:
            raise ArtifactError(f"{folder} lacks a readable ranker.json / ranker.txt: {err}") from err
        self.retrievers_ = {n: load_model(folder / "retrievers" / n) for n in meta["retrievers"]}
        self.booster_ = booster_from_text(self.model_text_)
        self.feature_names_ = meta["feature_names"]
        self.importances_ = meta["importances"]
        self.stats_ = meta["stats"]
        self.label_cutoff_ = meta["label_cutoff"]
