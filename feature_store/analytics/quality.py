"""What a behaviour report can honestly claim about its range: where the data is, what is too short or too sparse
to read, which funnel steps exist, and how the range compares with the period before it.

`trim_range` picks the default range (the lake's dense stretch, leaving out stray early or late days and saying
so); `range_warnings` lists what a reader must know before trusting a number; `check_steps` refuses funnel steps
that never occur; `previous_period` gives the same headline numbers for the equally long window just before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np

from feature_store.sql import DuckSettings, lake_connection
from recsys.errors import InputError

SPARSE_DAY_SHARE = 0.01
"""A day with fewer events than this share of the median active day counts as stray when it lies at an edge."""
MAX_GAP_DAYS = 7
"""An empty stretch longer than this splits the lake: the default range starts after the last such gap."""
MIN_DAILY_USERS = 20
"""Median daily active users below this make daily rates noise: the report warns."""


def daily_event_counts(lake: str | Path, duck: DuckSettings | None = None) -> dict[date, int]:
    """Events per UTC day over the whole lake (days without events are absent)."""
    con = lake_connection(lake, settings=duck)
    try:
        rows = con.execute("SELECT day, count(*) FROM events GROUP BY day ORDER BY day").fetchall()
    finally:
        con.close()
    if not rows:
        raise InputError(f"lake {lake} holds no events")
    return {d: int(n) for d, n in rows}


def trim_range(counts: dict[date, int]) -> tuple[date, date, dict]:
    """The default report range ``[start, end)`` over the dense part of the lake, and what was left out.

    Days before the last empty gap of more than `MAX_GAP_DAYS` days, and leading or trailing days with fewer than
    `SPARSE_DAY_SHARE` of the median day's events, are left out: one stray event months earlier must not stretch
    every plot. ``left_out`` says how many days and events that was.
    """
    days = sorted(counts)
    start_i = 0
    for i in range(1, len(days)):
        if (days[i] - days[i - 1]).days - 1 > MAX_GAP_DAYS:
            start_i = i
    kept = days[start_i:]
    floor = SPARSE_DAY_SHARE * float(np.median([counts[d] for d in kept]))
    lo, hi = 0, len(kept) - 1
    while lo < hi and counts[kept[lo]] < floor:
        lo += 1
    while hi > lo and counts[kept[hi]] < floor:
        hi -= 1
    start, last = kept[lo], kept[hi]
    out_days = [d for d in days if d < start or d > last]
    left_out = {"days": len(out_days), "events": sum(counts[d] for d in out_days),
                "first_day": days[0].isoformat(), "last_day": days[-1].isoformat()}
    return start, last + timedelta(days=1), left_out


def check_steps(con: duckdb.DuckDBPyConnection, steps: Sequence[str]) -> None:
    """Refuse funnel steps that no event in the range has, listing the event types that do occur."""
    known = [r[0] for r in con.execute("SELECT DISTINCT event_type FROM events ORDER BY 1").fetchall()]
    unknown = [s for s in steps if s not in known]
    if unknown:
        raise InputError(f"unknown funnel step(s) {', '.join(map(repr, unknown))}: no such event type in this "
                         f"range; known event types: {', '.join(known)}")


def range_warnings(report: dict) -> list[str]:
    """Plain-words caveats on the report's numbers: short range, sparse days, small audiences."""
    days = list(report["dau"])
    n_days = len(days)
    out: list[str] = []
    if n_days < 7:
        out.append(f"the range covers {n_days} day(s): weekly and monthly active users and stickiness need at "
                   "least 7 and 30 days, so they are not computed")
    elif n_days < 30:
        out.append(f"the range covers {n_days} days: DAU/MAU stickiness needs 30 days and is not computed")
    empty = sum(1 for d in days if report["dau"][d] == 0)
    if empty:
        out.append(f"{empty} of {n_days} day(s) have no events: daily numbers have gaps")
    median_dau = float(np.median(list(report["dau"].values()))) if days else 0.0
    if median_dau < MIN_DAILY_USERS:
        out.append(f"sparse data: a median of {median_dau:g} active users a day; daily rates are noisy")
    left = report["range"].get("left_out")
    if left and left["events"]:
        out.append(f"the default range leaves out {left['events']:,} event(s) on {left['days']} stray day(s) "
                   f"between {left['first_day']} and {left['last_day']}; pass --from/--to to include them")
    return out


def previous_period(lake: str | Path, start: date, end: date, duck: DuckSettings | None = None) -> dict | None:
    """Events, users and mean DAU of the equally long window just before ``start``; None when the lake has
    no events there."""
    span = end - start
    con = lake_connection(lake, start - span, start, duck)
    try:
        events, users = con.execute("SELECT count(*), count(DISTINCT user_id) FROM events").fetchone()  # type: ignore[misc]
        if not events:
            return None
        daily = con.execute("SELECT day, count(DISTINCT user_id) FROM events GROUP BY day").fetchall()
    finally:
        con.close()
    return {"from": (start - span).isoformat(), "to": start.isoformat(), "events": int(events),
            "users": int(users), "mean_dau": sum(int(n) for _, n in daily) / span.days}


def compare(current: dict, previous: dict | None) -> dict | None:
    """Relative change of the headline numbers against the previous period (None where it had none)."""
    if previous is None:
        return None
    now = {"events": current["summary"]["events"], "users": current["summary"]["users"],
           "mean_dau": float(np.mean(list(current["dau"].values())))}

    def change(key: str) -> float | None:
        return (now[key] - previous[key]) / previous[key] if previous[key] else None

    return {"previous": previous, "current": now, "change": {k: change(k) for k in now}}
