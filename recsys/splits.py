"""Train / validation / test splits: leave-one-out and global temporal, saved to disk and loaded back.

A split keeps the training events themselves (so any model, sequence models included, can be fitted from it) and
the held-out targets as ``{user: [items]}``. Two training sets come out of one split:

- `train`: every event before the test targets; models without early stopping fit on it.
- `fit_train`: `train` without the validation period; a model that early-stops fits on it, watches the validation
  targets, and at test time receives the validation-period events as the user's live history
  (`validation_histories`), so it sees exactly what `train` holds without having trained on it.

Targets never include an item the user already had in training: seen items are filtered from every ranking, so such
a target could never be hit (repeat consumption is out of scope of this evaluation).
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.atomic import atomic_directory
from recsys.data import Interactions
from recsys.dataset import FRAME_COLUMNS, build_interactions
from recsys.errors import InputError

log = logging.getLogger(__name__)

SPLIT_KINDS = ("loo", "temporal")
HISTORY_BUCKETS = (1, 5, 10, 20, 50, 100)
"""Lower edges of the history-length buckets of warm users: 1-4, 5-9, 10-19, 20-49, 50-99, 100+ (cold is 0)."""
SPLIT_FORMAT = 1


def history_bucket(lengths: np.ndarray) -> np.ndarray:
    """Bucket label of each history length (distinct training items): "0", "1-4", ..., "100+"."""
    lengths = np.asarray(lengths)
    edges = np.asarray(HISTORY_BUCKETS)
    labels = [f"{a}-{b - 1}" for a, b in itertools.pairwise(edges)] + [f"{edges[-1]}+"]
    out = np.full(lengths.shape, "0", dtype=object)
    warm = lengths >= edges[0]
    out[warm] = np.asarray(labels, dtype=object)[np.searchsorted(edges, lengths[warm], side="right") - 1]
    return out


@dataclass
class Split:
    """A saved split. `events` are the training events (`FRAME_COLUMNS` + bool `fit`, False in the validation
    period); `test`/`validation` map users to target items; `users` tags each test user (cold, history length)."""

    kind: str
    events: pd.DataFrame
    test: dict[str, list[str]]
    validation: dict[str, list[str]]
    users: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def train(self) -> Interactions:
        """Every training event (the seen items of evaluation)."""
        return build_interactions(self.events)

    @cached_property
    def fit_train(self) -> Interactions:
        """Training events before the validation period, with the same id maps as `train`."""
        full = self.train
        return build_interactions(self.events[self.events["fit"].to_numpy()], users=full.users, items=full.items)

    def validation_histories(self) -> dict[str, list[str]]:
        """Per user, the validation-period events in time order (what `fit_train` lacks and `train` has)."""
        rows = self.events[~self.events["fit"].to_numpy()]
        return _group_lists(rows)

    def with_validation_users(self, share: float, seed: int = 0) -> Split:
        """This split with validation targets for a seeded `share` of the users only: the other users'
        validation-period events join `fit_train`, so a model that early-stops on the held-out users has learnt
        nearly every training event and needs no refit (the held-out users' events come as live history)."""
        if not 0 < share <= 1:
            raise InputError(f"the share of validation users must be in (0, 1], got {share}")
        users = sorted(self.validation)
        rng = np.random.default_rng(seed)
        keep = set(rng.permutation(users)[: max(1, round(share * len(users)))].tolist()) if users else set()
        events = self.events.copy()
        events["fit"] = events["fit"].to_numpy() | ~events["user_id"].isin(keep).to_numpy()
        return Split(kind=self.kind, events=events, test=self.test,
                     validation={u: v for u, v in self.validation.items() if u in keep}, users=self.users,
                     info={**self.info, "validation_users_share": share})

    def item_counts(self) -> pd.Series:
        """Distinct training users per item (the popularity used by novelty and popularity-bias metrics)."""
        pairs = self.events[["user_id", "item_id"]].drop_duplicates()
        return pairs["item_id"].value_counts()

    # ------------------------------------------------------------------ disk
    def save(self, path: str | Path) -> Path:
        """Write the split to directory `path` (replaced atomically if it exists): parquet tables + split.json."""
        path = Path(path)
        with atomic_directory(path) as tmp:
            self.events.to_parquet(tmp / "train.parquet", index=False)
            _targets_frame(self.test).to_parquet(tmp / "test.parquet", index=False)
            _targets_frame(self.validation).to_parquet(tmp / "validation.parquet", index=False)
            self.users.to_parquet(tmp / "users.parquet", index=False)
            meta = {"format": SPLIT_FORMAT, "kind": self.kind, **self.info}
            (tmp / "split.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by `save`."""
        path = Path(path)
        try:
            meta = json.loads((path / "split.json").read_text())
            events = pd.read_parquet(path / "train.parquet")
            test = _group_lists(pd.read_parquet(path / "test.parquet"))
            validation = _group_lists(pd.read_parquet(path / "validation.parquet"))
            users = pd.read_parquet(path / "users.parquet")
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"cannot read a split from {path}: {err} (make one with prepare_split)") from err
        kind = meta.pop("kind")
        meta.pop("format", None)
        return cls(kind=kind, events=events, test=test, validation=validation, users=users, info=meta)


def _group_lists(frame: pd.DataFrame) -> dict[str, list[str]]:
    """``{user: [items in row order]}`` from a (user_id, item_id) frame."""
    if frame.empty:
        return {}
    users = frame["user_id"].to_numpy(dtype=object)
    items = frame["item_id"].to_numpy(dtype=object)
    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    return {str(users[a]): items[a:b].tolist() for a, b in zip(starts, ends, strict=True)}


def _targets_frame(targets: dict[str, list[str]]) -> pd.DataFrame:
    users = [u for u, items in targets.items() for _ in items]
    items = [i for row in targets.values() for i in row]
    return pd.DataFrame({"user_id": pd.Series(users, dtype=object), "item_id": pd.Series(items, dtype=object)})


def _user_table(test_users: np.ndarray, history: pd.Series) -> pd.DataFrame:
    lengths = history.reindex(test_users).fillna(0).to_numpy(np.int64)
    return pd.DataFrame({
        "user_id": pd.Series(test_users, dtype=object),
        "cold": lengths == 0,
        "history_length": lengths,
        "history_bucket": pd.Series(history_bucket(lengths), dtype=object),
    })


# ---------------------------------------------------------------------- leave-one-out
def leave_one_out(frame: pd.DataFrame, *, validation: bool = True) -> Split:
    """Per user, the last new item is the test target and the one before it the validation target.

    `frame` is an interaction frame ordered by user then time (`recsys.dataset.events_to_frame`). "New" means
    the first event of an item for that user; training keeps every event before the test item's first event.
    Users with one distinct item only train; users with two have a test target but no validation target.
    """
    _check_frame(frame)
    frame = frame.reset_index(drop=True)
    users = frame["user_id"].to_numpy(dtype=object)
    first = ~frame.duplicated(["user_id", "item_id"]).to_numpy()
    rank = pd.Series(first.astype(np.int64)).groupby(users, sort=False).cumsum().to_numpy()
    n_new = pd.Series(first.astype(np.int64)).groupby(users, sort=False).transform("sum").to_numpy()
    pos = np.arange(len(frame))
    is_test = first & (rank == n_new) & (n_new >= 2)
    is_val = first & (rank == n_new - 1) & (n_new >= 3) & validation

    big = len(frame) + 1
    test_pos = pd.Series(np.where(is_test, pos, big)).groupby(users, sort=False).transform("min").to_numpy()
    val_pos = pd.Series(np.where(is_val, pos, big)).groupby(users, sort=False).transform("min").to_numpy()
    val_pos = np.minimum(val_pos, test_pos)
    in_train = pos < test_pos
    events = frame[in_train].assign(fit=(pos < val_pos)[in_train]).reset_index(drop=True)

    test = dict(zip(users[is_test].tolist(), ([i] for i in frame["item_id"].to_numpy(dtype=object)[is_test]),
                    strict=True))
    val = dict(zip(users[is_val].tolist(), ([i] for i in frame["item_id"].to_numpy(dtype=object)[is_val]),
                   strict=True))
    history = pd.Series(n_new - 1, index=users).groupby(level=0).first()
    test_users = users[is_test]
    info = {
        "n_events": len(frame),
        "n_train_events": len(events),
        "n_fit_events": int(events["fit"].sum()),
        "n_users": len(history),
        "n_test_users": len(test),
        "n_validation_users": len(val),
        "n_train_only_users": int((history == 0).sum()),
    }
    log.info("leave-one-out: %d test users, %d validation users", len(test), len(val))
    return Split("loo", events, test, val, _user_table(test_users, history), info)


# ---------------------------------------------------------------------- temporal
def temporal_split(
    frame: pd.DataFrame,
    cutoff: datetime | None = None,
    *,
    test_fraction: float = 0.2,
    validation_start: datetime | None = None,
    validation_fraction: float = 0.1,
) -> Split:
    """Global time split: events before `cutoff` train; each user's new items at or after it are the targets.

    cutoff: default, the time before which ``1 - test_fraction`` of the events lie.
    validation_start: the validation period is ``[validation_start, cutoff)``; default, the time after which the
    last `validation_fraction` of the training events lie. Validation targets are the new items of that period;
    `fit` rows are those before it.
    Test users without any training event are tagged cold.
    """
    _check_frame(frame)
    frame = frame.reset_index(drop=True)
    ts = frame["ts"].to_numpy(np.int64)
    if cutoff is None:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        cut = int(np.quantile(ts, 1.0 - test_fraction, method="higher"))
    else:
        cut = _to_us(cutoff)
    if not ts.min() < cut <= ts.max():
        raise InputError(f"cutoff {_from_us(cut)} leaves no training or no test events: the data run from "
                         f"{_from_us(int(ts.min()))} to {_from_us(int(ts.max()))}")
    if validation_start is not None:
        val_cut = _to_us(validation_start)
    else:
        val_cut = int(np.quantile(ts[ts < cut], 1.0 - validation_fraction, method="higher"))
    val_cut = min(max(val_cut, int(ts.min()) + 1), cut)

    train_rows = ts < cut
    events = frame[train_rows].assign(fit=ts[train_rows] < val_cut).reset_index(drop=True)
    fit_pairs = events.loc[events["fit"], ["user_id", "item_id"]]
    test = _new_item_targets(frame[~train_rows], events[["user_id", "item_id"]])
    val = _new_item_targets(events[~events["fit"].to_numpy()], fit_pairs)
    history = events[["user_id", "item_id"]].drop_duplicates().groupby("user_id").size()
    test_users = np.asarray(list(test), dtype=object)
    users = _user_table(test_users, history)
    info = {
        "cutoff": _from_us(cut).isoformat(),
        "validation_start": _from_us(val_cut).isoformat(),
        "n_events": len(frame),
        "n_train_events": len(events),
        "n_fit_events": int(events["fit"].sum()),
        "n_users": int(frame["user_id"].nunique()),
        "n_test_users": len(test),
        "n_cold_test_users": int(users["cold"].sum()),
        "n_validation_users": len(val),
    }
    log.info("temporal split at %s: %d test users (%d cold)", info["cutoff"], len(test), info["n_cold_test_users"])
    return Split("temporal", events, test, val, users, info)


def _new_item_targets(later: pd.DataFrame, known: pd.DataFrame) -> dict[str, list[str]]:
    """Distinct items of `later` per user (first-occurrence order) that the user does not have in `known`."""
    pairs = later[["user_id", "item_id"]].drop_duplicates()
    seen = pd.MultiIndex.from_frame(known.drop_duplicates())
    fresh = ~pd.MultiIndex.from_frame(pairs).isin(seen)
    return _group_lists(pairs[fresh])


def make_split(frame: pd.DataFrame, kind: str = "loo", *, cutoff: datetime | None = None, **options: Any) -> Split:
    """Dispatch on `kind` ("loo" or "temporal")."""
    if kind == "loo":
        if cutoff is not None:
            raise InputError("--cutoff applies to the temporal split only (use --split temporal)")
        return leave_one_out(frame, **options)
    if kind == "temporal":
        return temporal_split(frame, cutoff, **options)
    raise InputError(f"unknown split {kind!r}: use one of {', '.join(SPLIT_KINDS)}")


def _check_frame(frame: pd.DataFrame) -> None:
    missing = set(FRAME_COLUMNS) - set(frame.columns)
    if missing:
        raise InputError(f"interaction frame lacks columns {sorted(missing)}")
    if frame.empty:
        raise InputError("no interactions to split: the window holds no usable events")


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(pd.Timestamp(moment).value // 1000)


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)

