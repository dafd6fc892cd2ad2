"""Leave-one-out and temporal splits: targets, no leakage, cold/warm tags, disk round trip."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from recsys.dataset import events_to_frame
from recsys.errors import InputError
from recsys.splits import Split, history_bucket, leave_one_out, make_split, temporal_split

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def frame(rows):
    """Interaction frame from (user, item, hours after T0[, type])."""
    return events_to_frame(pd.DataFrame({
        "user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
        "event_type": [r[3] if len(r) > 3 else "view" for r in rows],
        "ts": pd.to_datetime([T0 + timedelta(hours=r[2]) for r in rows]).astype("datetime64[us, UTC]"),
        "value": np.nan,
    }))


ROWS = [
    # u1: a b c d in order, with a repeat of b after d (a repeat is never a target)
    ("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "d", 4), ("u1", "b", 5),
    ("u2", "a", 1), ("u2", "c", 2),  # two items: a test target, no validation
    ("u3", "b", 3),  # one item: training only
    ("u4", "c", 1), ("u4", "d", 2), ("u4", "c", 3, "purchase"), ("u4", "e", 9),
]


def test_leave_one_out_targets_and_training_events():
    split = leave_one_out(frame(ROWS))
    assert split.test == {"u1": ["d"], "u2": ["c"], "u4": ["e"]}
    assert split.validation == {"u1": ["c"], "u4": ["d"]}
    train = split.events
    # nothing at or after a user's test item is in training
    assert train[train["user_id"] == "u1"]["item_id"].tolist() == ["a", "b", "c"]
    assert train[train["user_id"] == "u4"]["item_id"].tolist() == ["c", "d", "c"]
    assert train[train["user_id"] == "u3"]["item_id"].tolist() == ["b"]
    # fit rows stop before the validation item; the validation period is what the early-stopping model sees later
    assert train[train["fit"]].groupby("user_id")["item_id"].agg(list).to_dict() == {
        "u1": ["a", "b"], "u2": ["a"], "u3": ["b"], "u4": ["c"]}
    assert split.validation_histories() == {"u1": ["c"], "u4": ["d", "c"]}
    users = split.users.set_index("user_id")
    assert users.loc["u1", "history_length"] == 3 and users.loc["u2", "history_bucket"] == "1-4"
    assert not users["cold"].any()
    assert split.info["n_train_only_users"] == 1


def test_fit_train_shares_the_id_maps_of_train():
    split = leave_one_out(frame(ROWS))
    assert split.fit_train.items.to_list() == split.train.items.to_list()
    assert split.fit_train.users.to_list() == split.train.users.to_list()
    assert split.fit_train.matrix.nnz < split.train.matrix.nnz


def test_validation_users_keep_only_their_validation_events_out_of_fit_train():
    split = leave_one_out(frame(ROWS))
    view = split.with_validation_users(0.5, seed=1)
    assert len(view.validation) == 1 and set(view.validation) <= set(split.validation)
    held = next(iter(view.validation))
    other = ({"u1", "u4"} - {held}).pop()
    fit = view.events[view.events["fit"]].groupby("user_id")["item_id"].agg(list).to_dict()
    assert fit[other] == split.events[split.events["user_id"] == other]["item_id"].tolist()  # every event
    assert fit[held] == split.events[split.events["fit"] & (split.events["user_id"] == held)]["item_id"].tolist()
    assert view.validation_histories() == {held: split.validation_histories()[held]}
    assert view.test == split.test and view.train.matrix.nnz == split.train.matrix.nnz
    assert view.with_validation_users(1.0).validation == view.validation
    with pytest.raises(InputError):
        split.with_validation_users(0)


def test_temporal_split_has_no_future_in_training_and_tags_cold_users():
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 30), ("u1", "a", 31),  # a again after the cut: not a target
            ("u2", "b", 1), ("u2", "c", 10),
            ("u3", "a", 26), ("u3", "b", 27)]  # first seen after the cut: cold
    cutoff = T0 + timedelta(hours=24)
    split = temporal_split(frame(rows), cutoff, validation_start=T0 + timedelta(hours=5))
    cut_us = int(cutoff.timestamp() * 1e6)
    assert (split.events["ts"] < cut_us).all()
    assert split.test == {"u1": ["c"], "u3": ["a", "b"]}
    assert split.validation == {"u2": ["c"]}
    assert split.validation_histories() == {"u2": ["c"]}
    users = split.users.set_index("user_id")
    assert bool(users.loc["u3", "cold"]) and users.loc["u3", "history_bucket"] == "0"
    assert not users.loc["u1", "cold"] and users.loc["u1", "history_length"] == 2
    assert split.info["n_cold_test_users"] == 1


def test_temporal_default_cutoff_keeps_most_events_for_training():
    rows = [(f"u{i % 7}", f"i{i % 11}", i) for i in range(100)]
    split = temporal_split(frame(rows), test_fraction=0.2)
    assert 75 <= split.info["n_train_events"] <= 85
    with pytest.raises(InputError, match="cutoff"):
        temporal_split(frame(rows), T0 - timedelta(days=1))


def test_make_split_refuses_bad_requests():
    with pytest.raises(InputError, match="unknown split"):
        make_split(frame(ROWS), "random")
    with pytest.raises(InputError, match="temporal split only"):
        make_split(frame(ROWS), "loo", cutoff=T0)


def test_history_buckets():
    assert history_bucket(np.array([0, 1, 4, 5, 19, 20, 99, 100, 5000])).tolist() == [
        "0", "1-4", "1-4", "5-9", "10-19", "20-49", "50-99", "100+", "100+"]


def test_split_round_trips_through_disk(tmp_path):
    split = temporal_split(frame(ROWS), T0 + timedelta(hours=4))
    path = split.save(tmp_path / "split")
    assert sorted(p.name for p in path.iterdir()) == [
        "split.json", "test.parquet", "train.parquet", "users.parquet", "validation.parquet"]
    back = Split.load(path)
    assert back.kind == "temporal" and back.test == split.test and back.validation == split.validation
    assert back.info["cutoff"] == split.info["cutoff"]
    pd.testing.assert_frame_equal(back.users, split.users, check_dtype=False)
    assert (back.train.matrix != split.train.matrix).nnz == 0
    split.save(path)  # saving again replaces the folder
    with pytest.raises(InputError, match="cannot read a split"):
        Split.load(tmp_path / "nothing")


def test_loo_on_movielens_holds_out_one_item_per_user(shared_data):
    raw = pd.read_csv(shared_data("movielens-100k/u.data"), sep="\t", names=["u", "i", "r", "t"])
    events = pd.DataFrame({"user_id": raw["u"].astype(str), "item_id": raw["i"].astype(str),
                           "event_type": "rating", "value": raw["r"].astype(float),
                           "ts": pd.to_datetime(raw["t"], unit="s", utc=True).astype("datetime64[us, UTC]")})
    split = leave_one_out(events_to_frame(events))
    assert len(split.test) == 943 and len(split.validation) == 943
    assert split.info["n_train_events"] == 100_000 - 943
    last = raw.assign(u=raw["u"].astype(str)).sort_values(["u", "t"], kind="stable").groupby("u")["t"].max()
    test_ts = raw.set_index([raw["u"].astype(str), raw["i"].astype(str)])["t"]
    assert all(test_ts[(u, items[0])] == last[u] for u, items in split.test.items())
