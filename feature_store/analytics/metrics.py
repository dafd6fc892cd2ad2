"""Behaviour metrics, each one SQL question to the lake's ``events`` view (see `feature_store.sql`).

Every function takes a connection from `lake_connection` and returns plain JSON-ready Python values, so the
report, the CLI's ``--json`` and the tests all read the same numbers. Days are UTC dates; ranges are half-open.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import duckdb
import numpy as np

from recsys.errors import InputError


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def summary(con: duckdb.DuckDBPyConnection) -> dict:
    """Totals of the window: events (overall and by type), distinct users and items."""
    total, users, items = con.execute(
        "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) FROM events"
    ).fetchone()  # type: ignore[misc]
    by_type = dict(con.execute("SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 1").fetchall())
    return {"events": int(total), "users": int(users), "items": int(items), "events_by_type": by_type}


def user_days(con: duckdb.DuckDBPyConnection) -> str:
    """Name of a temp table of distinct (user_id, day) in the window, built once per connection.

    DAU, WAU, MAU, new vs returning and retention all start from it: one scan of the events instead of five.
    """
    con.execute("CREATE TEMP TABLE IF NOT EXISTS user_days AS SELECT DISTINCT user_id, day FROM events")
    return "user_days"


def first_seen(con: duckdb.DuckDBPyConnection) -> str:
    """Name of a temp table of each user's first UTC day over the lake's history up to the window's end."""
    con.execute("CREATE TEMP TABLE IF NOT EXISTS first_seen AS "
                "SELECT user_id, CAST(min(ts) AS DATE) AS first_day FROM history GROUP BY user_id")
    return "first_seen"


def _rolling_active(con: duckdb.DuckDBPyConnection, days: list[date], window: int) -> dict[str, int]:
    """Users active in the ``window`` days ending on each day (inclusive), counting only days in the range.

    Each active user-day covers the following ``window`` days up to the user's next active day; those spans never
    overlap for one user, so a running sum of +1/-1 deltas counts distinct users without a quadratic join.
    """
    rows = con.execute(
        f"""
        WITH ud AS (SELECT user_id, day FROM {user_days(con)}),
        iv AS (
            SELECT day AS s,
                   least(day + {window}, coalesce(lead(day) OVER (PARTITION BY user_id ORDER BY day),
                                                  day + {window})) AS e
            FROM ud)
        SELECT d, sum(x) FROM (SELECT s AS d, 1 AS x FROM iv UNION ALL SELECT e AS d, -1 AS x FROM iv)
        GROUP BY d ORDER BY d
        """
    ).fetchall()
    delta = {d: int(x) for d, x in rows}
    out, running = {}, 0
    for d in days:
        running += delta.get(d, 0)
        out[d.isoformat()] = running
    return out


def active_users(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dict:
    """DAU per day, rolling 7-day WAU and 30-day MAU per day, and stickiness (mean DAU/WAU and DAU/MAU).

    Rolling windows see only the report's range, so the first days' WAU/MAU are over shorter spans; stickiness
    therefore averages only the days whose whole window lies in the range (None when the range is shorter).
    """
    days = _days(start, end)
    counts = dict(con.execute(f"SELECT day, count(*) FROM {user_days(con)} GROUP BY day").fetchall())
    dau = {d.isoformat(): int(counts.get(d, 0)) for d in days}
    wau = _rolling_active(con, days, 7)
    mau = _rolling_active(con, days, 30)

    def mean_ratio(den: dict[str, int], window: int) -> float | None:
        ratios = [dau[d] / den[d] for d in list(dau)[window - 1:] if den[d] > 0]
        return float(np.mean(ratios)) if ratios else None

    return {
        "dau": dau,
        "wau": wau,
        "mau": mau,
        "stickiness": {"dau_over_wau": mean_ratio(wau, 7), "dau_over_mau": mean_ratio(mau, 30),
                       "note": "means over days whose whole rolling window lies inside the range"},
    }


def new_vs_returning(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dict:
    """Users first seen in the window vs users seen before it; per day, actives on their first day vs the rest.

    "First seen" looks at the whole lake before the window's end, not only at the window.
    """
    days = _days(start, end)
    new_total, returning_total = con.execute(
        f"""
        WITH fs AS (FROM {first_seen(con)}), act AS (SELECT DISTINCT user_id FROM {user_days(con)})
        SELECT count(*) FILTER (WHERE fs.first_day >= DATE {_literal(start.isoformat())}),
               count(*) FILTER (WHERE fs.first_day < DATE {_literal(start.isoformat())})
        FROM act JOIN fs USING (user_id)
        """
    ).fetchone()  # type: ignore[misc]
    rows = con.execute(
        f"""
        WITH fs AS (FROM {first_seen(con)}), ud AS (FROM {user_days(con)})
        SELECT ud.day, count(*) FILTER (WHERE fs.first_day = ud.day), count(*) FILTER (WHERE fs.first_day < ud.day)
        FROM ud JOIN fs USING (user_id) GROUP BY ud.day
        """
    ).fetchall()
    per_day = {d: (int(n), int(r)) for d, n, r in rows}
    return {
        "new_users": int(new_total),
        "returning_users": int(returning_total),
        "daily_new": {d.isoformat(): per_day.get(d, (0, 0))[0] for d in days},
        "daily_returning": {d.isoformat(): per_day.get(d, (0, 0))[1] for d in days},
    }


def retention(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dict:
    """Weekly retention by first-seen week (weeks start on Monday).

    Cohorts are users first seen (over the whole lake) inside the window; ``users[i][k]`` is how many of cohort
    ``i`` were active in its ``k``-th week after the first, within the window; ``rates`` divides by cohort size.
    """
    rows = con.execute(
        f"""
        WITH fs AS (FROM {first_seen(con)}),
        cohort AS (SELECT user_id, CAST(date_trunc('week', first_day) AS DATE) AS week FROM fs
                   WHERE first_day >= DATE {_literal(start.isoformat())}),
        act AS (SELECT DISTINCT user_id, CAST(date_trunc('week', day) AS DATE) AS week FROM {user_days(con)})
        SELECT cohort.week, (act.week - cohort.week) // 7 AS k, count(*)
        FROM cohort JOIN act USING (user_id) WHERE act.week >= cohort.week
        GROUP BY ALL ORDER BY 1, 2
        """
    ).fetchall()
    last_week = _monday(end - timedelta(days=1))
    cohorts = sorted({w for w, _, _ in rows})
    cells = {(w, int(k)): int(n) for w, k, n in rows}
    users, rates = [], []
    for w in cohorts:
        width = (last_week - w).days // 7 + 1
        row = [cells.get((w, k), 0) for k in range(width)]
        users.append(row)
        rates.append([n / row[0] for n in row])
    return {
        "cohorts": [w.isoformat() for w in cohorts],
        "sizes": [row[0] for row in users],
        "users": users,
        "rates": rates,
    }


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _funnel_levels(steps: Sequence[str], window_s: int, keys: Sequence[str]) -> str:
    """SQL giving, per key (user, or user and category), the deepest step reached in order within the window.

    From a start, each next step is taken at its earliest occurrence at or after the previous one (strictly after
    when it repeats the previous event type) and at most ``window_s`` seconds after the start; earliest-next is
    optimal for a fixed start. Among starts sharing the same first match, the latest dominates (same path, later
    deadline), so chains begin from each second-step event paired with the latest first-step event before it:
    as many chains as second-step events rather than as first-step events.
    """
    key_cols = ", ".join(keys)
    on_keys = " AND ".join(f"a.{k} = b.{k}" for k in keys)
    extra = " AND category IS NOT NULL" if "category" in keys else ""
    window = f"to_seconds({int(window_s)})"

    def occurrences(step: str) -> str:
        return f"(SELECT {key_cols}, ts FROM events WHERE event_type = {_literal(step)}{extra})"

    def after(i: int) -> str:
        return "<" if steps[i] == steps[i - 1] else "<="

    b_keys = ", ".join(f"b.{k}" for k in keys)
    parts = [
        f"s0 AS {occurrences(steps[0])}",
        f"""s1 AS (
            SELECT {b_keys}, a.ts AS t0, b.ts AS t, 2 AS level
            FROM {occurrences(steps[1])} b ASOF JOIN s0 a ON {on_keys} AND a.ts {after(1)} b.ts
            WHERE b.ts <= a.ts + {window})""",
    ]
    a_keys = ", ".join(f"a.{k}" for k in keys)
    for i in range(2, len(steps)):
        hit = f"(b.ts IS NOT NULL AND b.ts <= a.t0 + {window})"
        # A chain that missed a step has t = NULL, which matches nothing later: levels only count in order.
        parts.append(
            f"""s{i} AS (
            SELECT {a_keys}, a.t0, CASE WHEN {hit} THEN b.ts END AS t, a.level + ({hit})::INT AS level
            FROM s{i - 1} a ASOF LEFT JOIN {occurrences(steps[i])} b ON {on_keys} AND a.t {after(i)} b.ts)"""
        )
    last = len(steps) - 1
    return (f"WITH {', '.join(parts)} SELECT {key_cols}, max(level) AS level FROM "
            f"(SELECT {key_cols}, level FROM s{last} UNION ALL SELECT DISTINCT {key_cols}, 1 AS level FROM s0) "
            f"GROUP BY ALL")


def funnel(
    con: duckdb.DuckDBPyConnection,
    steps: Sequence[str],
    window_s: int,
    *,
    top_categories: int = 20,
) -> dict:
    """Users reaching each step of an ordered funnel within ``window_s`` seconds of its first step.

    Overall, the funnel is per user across items; by category, only events of that category count. The
    categories shown are the ``top_categories`` with the most users at the first step.
    """
    steps = list(steps)
    if len(steps) < 2:
        raise InputError(f"a funnel needs at least two steps, got {steps}")
    if window_s <= 0:
        raise InputError(f"the funnel's conversion window must be positive, got {window_s} s")
    n = len(steps)
    reach = ", ".join(f"count(*) FILTER (WHERE level >= {i + 1})" for i in range(n))
    overall = con.execute(f"SELECT {reach} FROM ({_funnel_levels(steps, window_s, ['user_id'])})").fetchone()
    users = [int(x or 0) for x in overall]  # type: ignore[union-attr]
    rows = con.execute(
        f"""SELECT category, {reach} FROM ({_funnel_levels(steps, window_s, ['user_id', 'category'])})
            GROUP BY category ORDER BY 2 DESC, category LIMIT {int(top_categories)}"""
    ).fetchall()
    by_category = [{"category": r[0], "users": [int(x) for x in r[1:]],
                    "conversion": [_ratio(int(r[i + 2]), int(r[i + 1])) for i in range(n - 1)],
                    "overall_conversion": _ratio(int(r[-1]), int(r[1]))} for r in rows]
    return {
        "steps": steps,
        "users": users,
        "conversion": [_ratio(users[i + 1], users[i]) for i in range(n - 1)],
        "overall_conversion": _ratio(users[-1], users[0]),
        "window_seconds": int(window_s),
        "by_category": by_category,
    }


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _medians_of(table: str, columns: Sequence[str]) -> str:
    """CTEs ending in ``medians(col, median)``: the exact median of each column of `table` (the mean of the two
    middle values for an even count, as DuckDB's ``median``), from each column's frequency table. ``median``
    itself holds every value in memory and cannot spill (at 50M events: 40M sessions, beyond a 1 GB limit);
    grouping and windows spill."""
    freqs = ", ".join(f"f_{c} AS (SELECT {c} AS v, count(*) AS c FROM {table} WHERE {c} IS NOT NULL GROUP BY 1)"
                      for c in columns)
    ranked = " UNION ALL ".join(f"SELECT '{c}' AS col, v, sum(c) OVER (ORDER BY v ROWS UNBOUNDED PRECEDING) AS upto, "
                                f"sum(c) OVER () AS total FROM f_{c}" for c in columns)
    return (f"{freqs}, ranked AS ({ranked}), medians AS (SELECT col, (min(v) FILTER (WHERE upto >= (total + 1) // 2)"
            " + min(v) FILTER (WHERE upto >= total // 2 + 1)) / 2 AS median FROM ranked GROUP BY col)")


def sessions(con: duckdb.DuckDBPyConnection, gap_s: int) -> dict:
    """Sessions split at more than ``gap_s`` seconds of inactivity: count, length and events per session."""
    if gap_s <= 0:
        raise InputError(f"the session gap must be positive, got {gap_s} s")
    row = con.execute(
        f"""
        WITH o AS (SELECT user_id, ts, lag(ts) OVER (PARTITION BY user_id ORDER BY ts) AS prev FROM events),
        f AS (SELECT user_id, ts,
                     CASE WHEN prev IS NULL OR ts - prev > to_seconds({int(gap_s)}) THEN 1 ELSE 0 END AS first
              FROM o),
        s AS (SELECT user_id, ts, sum(first) OVER (PARTITION BY user_id ORDER BY ts
                                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS sid FROM f),
        per AS MATERIALIZED (SELECT user_id, sid, count(*) AS n, epoch(max(ts)) - epoch(min(ts)) AS secs
                             FROM s GROUP BY ALL),
        {_medians_of("per", ("secs", "n"))}
        SELECT count(*), count(DISTINCT user_id), avg(secs), (SELECT median FROM medians WHERE col = 'secs'),
               avg(n), (SELECT median FROM medians WHERE col = 'n'), max(n), count(*) FILTER (WHERE n = 1)
        FROM per
        """
    ).fetchone()
    count, users, mean_s, med_s, mean_n, med_n, max_n, single = row  # type: ignore[misc]
    return {
        "gap_seconds": int(gap_s),
        "sessions": int(count),
        "sessions_per_user": _ratio(int(count), int(users)),
        "mean_length_seconds": _float(mean_s),
        "median_length_seconds": _float(med_s),
        "mean_events_per_session": _float(mean_n),
        "median_events_per_session": _float(med_n),
        "max_events_per_session": int(max_n or 0),
        "single_event_sessions": int(single or 0),
    }


def _float(x: object) -> float | None:
    return None if x is None else float(x)  # type: ignore[arg-type]


def long_tail(con: duckdb.DuckDBPyConnection, curve_points: int = 200) -> dict:
    """How concentrated events are on few items: share of the top 1% / 10% of items, Gini, Lorenz-like curve.

    Only items with at least one event in the window count (the catalogue is not in the lake).
    """
    counts = con.execute("SELECT count(*) AS c FROM events GROUP BY item_id").fetchnumpy()["c"]
    counts = np.sort(np.asarray(counts, dtype=np.float64))[::-1]  # most popular first
    n, total = len(counts), float(counts.sum())
    if n == 0:
        return {"items": 0, "top_1pct_share": None, "top_10pct_share": None, "gini": None, "curve": []}
    cum = np.cumsum(counts) / total

    def top_share(frac: float) -> float:
        return float(cum[max(1, math.ceil(frac * n)) - 1])

    return {
        "items": n,
        "top_1pct_share": top_share(0.01),
        "top_10pct_share": top_share(0.10),
        "gini": gini(counts),
        "curve": _curve(cum, curve_points),
    }


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal; towards 1: one item takes everything)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), float(x.sum())
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * x) / (n * total) - (n + 1) / n)


def _curve(cum: np.ndarray, points: int) -> list[list[float]]:
    """[item share, event share] pairs, most popular items first, at most ``points`` of them."""
    n = len(cum)
    idx = np.unique(np.linspace(0, n - 1, num=min(points, n)).round().astype(int))
    return [[float((i + 1) / n), float(cum[i])] for i in idx]
