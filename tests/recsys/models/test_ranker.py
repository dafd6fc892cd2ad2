"""The two-stage ranker: point-in-time training frames (no leakage), the item event log, offline/online feature
parity, fresh events, and the artifact (retrievers + LightGBM text model, no pickle)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from feature_store.definitions import PAIR_FEATURES, ranking_feature_names
from feature_store.online import SQLiteOnlineStore
from recsys.data import Interactions
from recsys.dataset import build_interactions
from recsys.errors import InputError
from recsys.models import create_model, load_model
from recsys.models.ranker import Ranker
from recsys.ranking.events import DAY, US, ItemLog, UserEvents, event_seconds
from recsys.ranking.features import pair_matrix
from recsys.ranking.protocol import label_split
from recsys.ranking.segments import Segments

T0 = 1_700_000_000  # seconds
N_ITEMS = 30
PARAMS = {"retrievers": "popularity,itemknn", "retriever_params": {"itemknn": {"K": 20}}, "n_candidates": 15,
          "n_estimators": 20, "min_child_samples": 5}


def events(seed: int = 0, n_users: int = 60) -> pd.DataFrame:
    """Users drift through a ring of items over 60 days, a few events a day (a learnable "next items" signal)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start, t = int(rng.integers(0, N_ITEMS)), T0 + int(rng.integers(0, 10 * DAY))
        for j in range(int(rng.integers(8, 16))):
            t += int(rng.integers(600, 3 * DAY))
            rows.append((f"u{u}", f"i{(start + j + int(rng.integers(0, 2))) % N_ITEMS}", "view", t * US, 1.0))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "ts", "weight"])
    frame["weight"] = frame["weight"].astype(np.float32)
    return frame.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)


def data_of(frame: pd.DataFrame) -> Interactions:
    return build_interactions(frame, items=None)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return events()


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> Ranker:
    return create_model("ranker", **PARAMS).fit(data_of(frame))


def test_item_log_counts_match_a_brute_force_count() -> None:
    rng = np.random.default_rng(1)
    items, ts = rng.integers(0, 5, 300), rng.integers(1000, 5000, 300)
    log = ItemLog.build(items, ts, 5)
    q_items, q_end = rng.integers(0, 5, 200), rng.integers(900, 5200, 200)
    q_start = q_end - rng.integers(0, 2000, 200)
    got = log.count(q_items, q_start, q_end)
    want = [np.sum((items == i) & (ts >= a) & (ts <= b)) for i, a, b in zip(q_items, q_start, q_end, strict=True)]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(log.count(q_items, None, q_end),
                                  [np.sum((items == i) & (ts <= b)) for i, b in zip(q_items, q_end, strict=True)])
    first, last = log.first_last(q_items, q_end)
    for i, b, f, la in zip(q_items, q_end, first, last, strict=True):
        seen = ts[(items == i) & (ts <= b)]
        assert (np.isnan(f) and len(seen) == 0) or (f == seen.min() and la == seen.max())


def test_training_frame_is_point_in_time_with_a_time_cutoff(frame: pd.DataFrame) -> None:
    """Leakage test: whatever happens after the cut-off changes labels only, never a feature value."""
    model = Ranker(**PARAMS, label_cutoff="time", label_fraction=0.2)
    before = model.training_frame(data_of(frame))
    lo, hi = int(frame["ts"].min() // US), int(frame["ts"].max() // US)
    cutoff = hi - int(0.2 * (hi - lo))
    assert all(r.as_of < cutoff for r in before.rows)
    assert all((r.ts <= r.as_of).all() for r in before.rows)
    # Rewrite every event after the cut-off to other items (same users, same times): the future changes.
    future = frame.copy()
    late = future["ts"].to_numpy() // US >= cutoff
    shifted = (future.loc[late, "item_id"].str[1:].astype(int) + 7) % N_ITEMS
    future.loc[late, "item_id"] = "i" + shifted.astype(str)
    after = model.training_frame(build_interactions(future, items=data_of(frame).items))
    np.testing.assert_array_equal(before.users, after.users)
    np.testing.assert_array_equal(before.X, after.X)
    assert not np.array_equal(before.y, after.y)


def test_training_frame_of_the_last_cutoff_uses_each_users_past_only(frame: pd.DataFrame) -> None:
    data = data_of(frame)
    tf = Ranker(**PARAMS, label_cutoff="last", label_events=2).training_frame(data)
    assert tf.X.shape == (len(tf.y), len(ranking_feature_names(["popularity", "itemknn"])))
    for u, row in zip(tf.users, tf.rows, strict=True):
        stamps = data.timestamps[u] // US
        assert row.as_of == stamps[-3] and (row.ts <= row.as_of).all()  # features stop before the 2 label events
    user_events = list(PAIR_FEATURES).index("user_events")
    assert tf.X[:, 4 + user_events].max() <= max(len(s) for s in data.sequences) - 2


def test_label_cutoff_is_validated(frame: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="label cut-off"):
        Ranker(**PARAMS, label_cutoff="random").fit(data_of(frame))
    with pytest.raises(InputError, match="unknown retriever"):
        Ranker(retrievers="als,ranker").fit(data_of(frame))


def test_fresh_events_change_the_answer(fitted: Ranker) -> None:
    user = "u3"
    before, _ = fitted.recommend(user, k=10)
    fresh = [f"i{j}" for j in range(20, 25)]
    after, _ = fitted.recommend(user, k=10, histories=[fresh])
    assert list(before) != list(after)
    assert not set(after) & set(fresh), "live events count as seen"


def test_offline_and_online_features_agree(fitted: Ranker, frame: pd.DataFrame, tmp_path) -> None:
    """The same (user, item, time) gets the same features from the online path (the model's training events plus
    the online store's live events, with their times) as from an offline frame over all the events."""
    user, t_live = "u5", int(frame["ts"].max() // US) + 3600
    live = [(f"i{j}", (t_live + 60 * n) * US) for n, j in enumerate((2, 9, 17))]
    with SQLiteOnlineStore(tmp_path / "online.sqlite") as store:
        old = frame[frame["user_id"] == user].iloc[-2:]  # the store also holds events the model trained on
        store.append_events([{"user_id": user, "item_id": i, "ts": int(t)} for i, t in zip(old["item_id"], old["ts"],
                                                                                           strict=True)])
        store.append_events([{"user_id": user, "item_id": i, "ts": t} for i, t in live])
        fitted.bind_online(lambda users: store.recent_events(users, 50))
        try:
            cands, online = fitted.pair_features([user])
        finally:
            fitted.bind_online(None)
    mine = frame[frame["user_id"] == user]
    items = np.concatenate([fitted.items_.index(mine["item_id"].tolist()), fitted.items_.index([i for i, _ in live])])
    stamps = np.concatenate([mine["ts"].to_numpy() // US, [t // US for _, t in live]])
    offline = pair_matrix(fitted.side_, [UserEvents(items, stamps, int(stamps.max()))], cands.items,
                          cands.stacked_block())
    np.testing.assert_array_equal(online, offline)
    hour = ranking_feature_names(cands.retrievers).index("hour")
    assert online[0, hour] == ((t_live + 120) % DAY) // 3600


def test_artifact_holds_retrievers_and_a_text_model(fitted: Ranker, tmp_path) -> None:
    path = fitted.save(tmp_path / "ranker")
    assert (path / "ranker.txt").read_text().startswith("tree")
    meta = json.loads((path / "ranker.json").read_text())
    assert set(meta["importances"]) == set(ranking_feature_names(["popularity", "itemknn"]))
    assert set(meta["stats"]["recall@15"]) == {"popularity", "itemknn", "union"}
    assert (path / "retrievers" / "itemknn" / "config.json").is_file()
    loaded = load_model(path)
    users = ["u1", "u2", "nobody"]
    for kwargs in ({}, {"histories": [["i3"], None, ["i4", "i5"]]}):
        a, b = fitted.recommend(users, k=8, **kwargs), loaded.recommend(users, k=8, **kwargs)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_offline_report_shows_importances_and_retriever_recall(fitted: Ranker, tmp_path) -> None:
    from recsys.registry import ModelEntry, Registry, RunStore, TrainingRun
    from recsys.report.data import build_report
    from recsys.report.render import render_html

    reg = Registry(tmp_path / "registry")
    mv = reg.register("ranker", fitted, metrics={"ndcg@10": 0.1}, data={})
    RunStore(reg.root).save(TrainingRun(run_id="r1", models={"ranker": ModelEntry(
        version=mv.version, params={}, metrics={"ndcg@10": 0.1}, train_seconds=0.0)}))
    report = build_report(reg)
    (section,) = report["ranking"]
    assert section["name"] == "ranker" and set(section["candidate_recall"]) == {"popularity", "itemknn", "union"}
    assert section["importances"][0][0] in ranking_feature_names(["popularity", "itemknn"])
    html = render_html(report)
    assert "Two-stage ranking" in html and "itemknn" in html


def test_catalogue_features_come_from_the_lakes_items(frame: pd.DataFrame, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [f"i{j}" for j in range(N_ITEMS)]
    (tmp_path / "items").mkdir()
    pq.write_table(pa.table({
        "item_id": ids, "categories": [[f"c{j % 3}"] for j in range(N_ITEMS)],
        "price": [float(j) for j in range(N_ITEMS)], "available": [j % 2 == 0 for j in range(N_ITEMS)],
        "created_at": pa.array([T0 * US] * N_ITEMS, pa.timestamp("us", tz="UTC")),
    }), tmp_path / "items" / "items.parquet")
    tf = Ranker(**PARAMS, catalog=str(tmp_path)).training_frame(data_of(frame))
    names = tf.feature_names
    items = np.concatenate(tf.candidates.items)
    price = np.array([float(str(i)[1:]) for i in data_of(frame).items.external(items)])
    np.testing.assert_array_equal(tf.X[:, names.index("item_price")], price)
    assert np.isfinite(tf.X[:, names.index("user_category_share")]).all()
    listed = tf.X[:, names.index("item_listed_days")]
    np.testing.assert_allclose(listed, (np.repeat([r.as_of for r in tf.rows], [len(c) for c in tf.candidates.items])
                                        - T0) / DAY, rtol=1e-5)
    plain = Ranker(**PARAMS).training_frame(data_of(frame))
    assert np.isnan(plain.X[:, names.index("item_price")]).all()


def test_segment_features_count_similar_users_events_as_of_the_users_time(frame: pd.DataFrame) -> None:
    """Popularity among similar users: the candidate's events, up to the row's time, by the users whose fitted
    segment is the one the row's own past events give (brute force over the events before the cut-off)."""
    data = data_of(frame)
    model = Ranker(**PARAMS, n_segments=4)
    tf = model.training_frame(data)
    names = tf.feature_names
    before = label_split(data, event_seconds(data), cutoff="last", n_last=3).before
    stamps = event_seconds(before)
    seg = Segments.fit(before, stamps, 4)
    assert seg is not None and len(seg.centroids) == 4
    member = seg.assign(list(before.sequences))
    assert len(set(member.tolist())) > 1, "users fall in more than one segment"
    got = tf.X[:, names.index("segment_item_events")]
    lift = tf.X[:, names.index("segment_item_lift")]
    start = 0
    for row, items in zip(tf.rows, tf.candidates.items, strict=True):
        mine = seg.assign([row.items[row.ts <= row.as_of]])[0]
        for j, item in enumerate(items):
            want = sum(int(np.sum((before.sequences[v] == item) & (stamps[v] <= row.as_of)))
                       for v in np.flatnonzero(member == mine))
            assert got[start + j] == want
        start += len(items)
    assert np.isfinite(lift).any() and (lift[np.isfinite(lift)] >= 0).all()
    off = Ranker(**PARAMS, n_segments=0).training_frame(data)
    assert np.isnan(off.X[:, names.index("segment_item_events")]).all()
