"""Attribution: which answered list (impression) an event responds to.

An event that carries a `request_id` of an impression showing its item is attributed to it exactly. Any other
event is attributed to the latest impression that showed that item to that user at most `window` earlier (default
24 h); events with neither stay unattributed.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

DEFAULT_WINDOW = timedelta(hours=24)


def shown_items(impressions: pa.Table) -> pd.DataFrame:
    """One row per (impression, item): request_id, user_id, item_id, position (1 = top), ts, arm, credit."""
    counts = np.asarray(pa.compute.list_value_length(impressions["items"]).to_numpy(zero_copy_only=False),
                        dtype=np.int64) if impressions.num_rows else np.zeros(0, dtype=np.int64)
    reps = np.repeat(np.arange(impressions.num_rows), counts)
    flat = impressions["items"].combine_chunks().flatten().to_numpy(zero_copy_only=False) if len(reps) else []
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else np.zeros(0, dtype=np.int64)
    position = np.arange(len(reps)) - np.repeat(starts, counts) + 1
    credit_lists = impressions["credit"].to_pylist()
    credit = [(credit_lists[r] or [None] * int(counts[r]))[p - 1] for r, p in zip(reps.tolist(), position.tolist(),
                                                                                 strict=True)]
    base = {c: impressions[c].to_numpy(zero_copy_only=False)[reps] for c in ("request_id", "user_id", "arm")}
    ts = pd.to_datetime(impressions["ts"].cast(pa.int64()).to_numpy()[reps], unit="us", utc=True)
    return pd.DataFrame(base | {"item_id": np.asarray(flat, dtype=object), "position": position.astype(np.int64),
                                "ts": ts, "credit": np.asarray(credit, dtype=object)})


def attribute(shown: pd.DataFrame, events: pd.DataFrame, window: timedelta = DEFAULT_WINDOW) -> pd.DataFrame:
    """`events` (event_id, user_id, item_id, event_type, ts, value, request_id) joined to the impression each one
    is attributed to: columns imp_request_id, imp_position, imp_arm, imp_credit, imp_ts and how ('exact',
    'window'); unattributed events are dropped."""
    cols = ["request_id", "item_id", "position", "arm", "credit", "ts", "user_id"]
    imp = shown[cols].rename(columns={c: f"imp_{c}" for c in cols})
    imp["imp_ts"] = imp["imp_ts"].astype("datetime64[ns, UTC]")
    ev = events.copy()
    ev["ts"] = ev["ts"].astype("datetime64[ns, UTC]")  # one resolution on both sides of the time join
    has_id = ev["request_id"].notna()
    exact = ev[has_id].merge(imp, left_on=["request_id", "item_id"], right_on=["imp_request_id", "imp_item_id"],
                             how="inner")
    exact = exact[exact["imp_user_id"].isna() | (exact["imp_user_id"] == exact["user_id"])]
    exact = exact.drop_duplicates("event_id").assign(how="exact")
    rest = ev[~ev["event_id"].isin(exact["event_id"])].sort_values("ts")
    if len(rest) and len(imp):
        by_time = imp.dropna(subset=["imp_user_id"]).sort_values("imp_ts")
        matched = pd.merge_asof(rest, by_time, left_on="ts", right_on="imp_ts", left_by=["user_id", "item_id"],
                                right_by=["imp_user_id", "imp_item_id"], direction="backward",
                                tolerance=pd.Timedelta(window))
        matched = matched[matched["imp_request_id"].notna()].assign(how="window")
    else:
        matched = exact.iloc[0:0]
    out = pd.concat([exact, matched], ignore_index=True)
    return out.drop(columns=[c for c in ("imp_item_id", "imp_user_id") if c in out.columns])
