"""Behaviour metrics against hand-computed values (tiny lake) and against pandas (the real Taobao slice)."""

from __future__ import annotations

import bisect
import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from support.browser import ARTIFACTS, assert_not_blank, require_chromium, screenshot
from support.lakes import TINY_EVENTS, build_taobao_lake, read_taobao_csv, write_lake
from typer.testing import CliRunner

from feature_store.analytics import AnalyticsConfig, analytics_report, render_analytics
from feature_store.analytics.metrics import gini
from feature_store.sql import lake_connection
from recsys.cli import _load_commands, app
from recsys.errors import InputError

START, END = date(2024, 1, 1), date(2024, 1, 15)


def _days(values: list[int]) -> dict[str, int]:
    return {(START + timedelta(days=i)).isoformat(): v for i, v in enumerate(values)}


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("tiny") / "lake", TINY_EVENTS)


@pytest.fixture(scope="module")
def tiny(tiny_lake: Path) -> dict:
    return analytics_report(tiny_lake, START, END)


def test_summary_ignores_events_outside_the_half_open_range(tiny: dict) -> None:
    assert tiny["range"] == {"from": "2024-01-01", "to": "2024-01-15", "to_exclusive": True}
    assert tiny["summary"] == {"events": 14, "users": 5, "items": 3,
                               "events_by_type": {"add_to_cart": 4, "purchase": 3, "view": 7}}


def test_dau_wau_mau_and_stickiness(tiny: dict) -> None:
    dau = _days([2, 2, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    wau = _days([2, 3, 3, 3, 3, 3, 3, 4, 3, 3, 3, 3, 3, 3])
    mau = _days([2, 3, 3, 3, 3, 3, 3, 4, 4, 5, 5, 5, 5, 5])
    assert tiny["dau"] == dau
    assert tiny["wau"] == wau
    assert tiny["mau"] == mau
    # Only days whose whole window lies in the range count: from the 7th day for WAU; 14 days are too few for MAU.
    covered = list(dau)[6:]
    assert tiny["stickiness"]["dau_over_wau"] == pytest.approx(np.mean([dau[d] / wau[d] for d in covered]))
    assert tiny["stickiness"]["dau_over_mau"] is None
    assert any("DAU/MAU stickiness needs 30 days" in w for w in tiny["warnings"])


def test_new_vs_returning_looks_before_the_range(tiny: dict) -> None:
    nvr = tiny["new_vs_returning"]
    assert (nvr["new_users"], nvr["returning_users"]) == (4, 1)  # r was first seen on 2023-12-31
    assert nvr["daily_new"] == _days([2, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0])
    assert nvr["daily_returning"] == _days([0, 2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0])


def test_retention_cohorts_by_first_seen_week(tiny: dict) -> None:
    assert tiny["retention"] == {
        "cohorts": ["2024-01-01", "2024-01-08"],
        "sizes": [2, 2],
        "users": [[2, 1], [2]],
        "rates": [[1.0, 0.5], [1.0]],
    }


def test_funnel_counts_ordered_steps_within_the_window(tiny: dict) -> None:
    f = tiny["funnel"]
    # u1 completes; u2's cart comes 48 h after its view; u3 and u4 stop at the cart (u4's purchase came first).
    assert f["steps"] == ["view", "add_to_cart", "purchase"]
    assert f["users"] == [5, 3, 1]
    assert f["conversion"] == pytest.approx([3 / 5, 1 / 3])
    assert f["overall_conversion"] == pytest.approx(1 / 5)
    assert f["by_category"] == [
        {"category": "c1", "users": [3, 1, 1], "conversion": [pytest.approx(1 / 3), 1.0],
         "overall_conversion": pytest.approx(1 / 3)},
        {"category": "c2", "users": [3, 2, 0], "conversion": [pytest.approx(2 / 3), 0.0], "overall_conversion": 0.0}]


def test_funnel_window_and_steps_are_configurable(tiny_lake: Path) -> None:
    wide = AnalyticsConfig(funnel_window=timedelta(hours=72))
    assert analytics_report(tiny_lake, START, END, wide)["funnel"]["users"] == [5, 4, 2]
    two = AnalyticsConfig(funnel_steps=("add_to_cart", "purchase"))
    assert analytics_report(tiny_lake, START, END, two)["funnel"]["users"] == [4, 2]


def test_sessions_split_after_thirty_idle_minutes(tiny: dict) -> None:
    s = tiny["sessions"]
    assert s["sessions"] == 9
    assert s["sessions_per_user"] == pytest.approx(9 / 5)
    assert s["mean_length_seconds"] == pytest.approx((1200 + 1740 + 360) / 9)
    assert s["median_length_seconds"] == 0
    assert s["mean_events_per_session"] == pytest.approx(14 / 9)
    assert (s["median_events_per_session"], s["max_events_per_session"], s["single_event_sessions"]) == (1, 3, 6)


def test_session_gap_is_configurable(tiny_lake: Path) -> None:
    report = analytics_report(tiny_lake, START, END, AnalyticsConfig(session_gap=timedelta(minutes=45)))
    assert report["sessions"]["sessions"] == 8  # u3's 31-minute pause no longer splits


def test_long_tail_shares_and_gini(tiny: dict) -> None:
    lt = tiny["long_tail"]
    assert lt["items"] == 3
    assert lt["top_1pct_share"] == pytest.approx(8 / 14)
    assert lt["top_10pct_share"] == pytest.approx(8 / 14)
    assert lt["gini"] == pytest.approx(12 / 42)
    assert lt["curve"][-1] == pytest.approx([1.0, 1.0])


def test_gini_hand_values() -> None:
    assert gini(np.array([1, 1, 1])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)
    assert gini(np.array([])) == 0.0


def test_range_defaults_to_the_whole_lake(tiny_lake: Path) -> None:
    report = analytics_report(tiny_lake)
    assert report["range"]["from"] == "2023-12-31" and report["range"]["to"] == "2024-01-16"
    assert report["summary"]["events"] == len(TINY_EVENTS)


def test_bad_ranges_and_lakes_are_clear_errors(tiny_lake: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exclusive"):
        analytics_report(tiny_lake, END, START)
    with pytest.raises(InputError, match="no events"):
        analytics_report(tiny_lake, date(2030, 1, 1), date(2030, 2, 1))
    with pytest.raises(InputError, match="recsys ingest"):
        analytics_report(tmp_path / "nowhere")
    with pytest.raises(InputError, match="at least two steps"):
        analytics_report(tiny_lake, START, END, AnalyticsConfig(funnel_steps=("view",)))


def test_lake_view_prunes_by_utc_day(tiny_lake: Path) -> None:
    con = lake_connection(tiny_lake, date(2024, 1, 8), date(2024, 1, 9))
    try:
        assert con.execute("SELECT count(*), min(category) FROM events").fetchone() == (2, "c2")
        assert con.execute("SELECT count(*) FROM history").fetchone() == (11,)
    finally:
        con.close()


# --- CLI and what people see --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _load_commands()
    return CliRunner()


def test_cli_writes_html_and_one_json_object(runner: CliRunner, tiny_lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["analytics", "--lake", str(tiny_lake), "--from", "2024-01-01", "--to", "2024-01-15",
                                 "--out", str(out), "--json", "--funnel-window", "3d"])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["dau"]["2024-01-01"] == 2 and data["funnel"]["users"] == [5, 4, 2]
    page = out.read_text()
    assert page.count("<svg") >= 4 and "c2" in page
    embedded = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)["dau"] == data["dau"]


def test_cli_bad_input_is_a_clean_error(runner: CliRunner, tiny_lake: Path) -> None:
    result = runner.invoke(app, ["analytics", "--lake", str(tiny_lake), "--from", "01/01/2024", "--json"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output and "Traceback" not in result.output


def test_report_renders_in_headless_chromium(tiny_lake: Path, tmp_path: Path) -> None:
    require_chromium()
    html = render_analytics(tiny_lake, tmp_path / "report.html", start=START, end=END)
    png = screenshot(html, ARTIFACTS / "analytics-report.png")
    assert_not_blank(png)


# --- the real Taobao slice against an independent pandas computation ----------------------------------------------


_TAOBAO: dict[Path, tuple] = {}


@pytest.fixture
def taobao(shared_data, tmp_path_factory: pytest.TempPathFactory) -> tuple:  # type: ignore[no-untyped-def]
    """(raw CSV rows in the report's days, the report): built once per session, the CSV read independently."""
    csv = shared_data("taobao-userbehavior-head/UserBehavior_head.csv")
    if csv not in _TAOBAO:
        lake = build_taobao_lake(csv, tmp_path_factory.mktemp("taobao") / "lake")
        raw = read_taobao_csv(csv)
        raw = raw[(raw.d >= "2017-11-25") & (raw.d <= "2017-12-03")]
        config = AnalyticsConfig(funnel_steps=("view", "add_to_cart", "favorite", "purchase"),
                                 funnel_window=timedelta(days=3))
        _TAOBAO[csv] = (raw, analytics_report(lake, date(2017, 11, 25), date(2017, 12, 4), config))
    return _TAOBAO[csv]


def _pandas_funnel(raw, steps: list[str], window_s: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Deepest ordered step per user, trying every first-step event as the start (written without SQL)."""
    reached = [0] * len(steps)
    times = raw.assign(t=raw.ts.astype(int)).groupby(["u", "b"]).t.apply(sorted).to_dict()
    for user in raw.u.unique():
        best = 0
        for t0 in times.get((user, steps[0]), []):
            level, t = 1, t0
            for step in steps[1:]:
                ts = times.get((user, step), [])
                k = bisect.bisect_left(ts, t)
                if k == len(ts) or ts[k] > t0 + window_s:
                    break
                level, t = level + 1, ts[k]
            best = max(best, level)
        for i in range(best):
            reached[i] += 1
    return reached


@pytest.mark.realdata
def test_taobao_dau_matches_pandas(taobao: tuple) -> None:
    raw, report = taobao
    assert report["dau"] == raw.groupby("d").u.nunique().to_dict()
    assert report["summary"]["events"] == len(raw)


@pytest.mark.realdata
def test_taobao_funnel_matches_pandas(taobao: tuple) -> None:
    raw, report = taobao
    assert report["funnel"]["steps"] == ["view", "add_to_cart", "favorite", "purchase"]
    assert report["funnel"]["users"] == _pandas_funnel(raw, ["pv", "cart", "fav", "buy"], 3 * 86400)
    views_by_category = raw[raw.b == "pv"].groupby(raw.c.astype(str)).u.nunique()
    for row in report["funnel"]["by_category"][:5]:
        assert row["users"][0] == views_by_category[row["category"]]
    assert report["funnel"]["by_category"][0]["users"][0] == views_by_category.max()
    assert report["summary"]["events_by_type"] == {
        "view": int((raw.b == "pv").sum()), "add_to_cart": int((raw.b == "cart").sum()),
        "favorite": int((raw.b == "fav").sum()), "purchase": int((raw.b == "buy").sum())}


@pytest.mark.realdata
def test_taobao_sessions_and_long_tail_match_pandas(taobao: tuple) -> None:
    raw, report = taobao
    ordered = raw.sort_values(["u", "ts"])
    gap = ordered.groupby("u").ts.diff()
    assert report["sessions"]["sessions"] == int((gap.isna() | (gap > 1800)).sum())
    counts = raw.groupby("i").size().sort_values(ascending=False).to_numpy()
    assert report["long_tail"]["items"] == len(counts)
    k = math.ceil(0.1 * len(counts))
    assert report["long_tail"]["top_10pct_share"] == pytest.approx(counts[:k].sum() / counts.sum())
    x = np.sort(counts)
    lorenz_area = np.sum((np.cumsum(x) - x / 2) / x.sum()) / len(x)
    assert report["long_tail"]["gini"] == pytest.approx(1 - 2 * lorenz_area)


def test_funnel_takes_the_start_that_goes_deepest(tmp_path: Path) -> None:
    """From the first view the purchase falls outside 24 h; from the second view the same path fits."""
    lake = write_lake(tmp_path / "lake", [
        ("a", "i1", "view", "2024-01-01 00:00", "c1"),
        ("a", "i1", "view", "2024-01-01 23:00", "c1"),
        ("a", "i1", "add_to_cart", "2024-01-01 23:30", "c1"),
        ("a", "i1", "purchase", "2024-01-02 01:00", "c1"),
        ("b", "i1", "add_to_cart", "2024-01-01 00:00", "c1"),  # a cart without any view before it
        ("b", "i1", "view", "2024-01-01 00:05", "c1"),
        ("c", "i1", "view", "2024-01-01 00:00", "c1"),
        ("c", "i1", "view", "2024-01-01 00:01", "c1"),
    ])
    f = analytics_report(lake, date(2024, 1, 1), date(2024, 1, 3))["funnel"]
    assert f["users"] == [3, 1, 1]
    repeat = AnalyticsConfig(funnel_steps=("view", "view"))
    assert analytics_report(lake, date(2024, 1, 1), date(2024, 1, 3), repeat)["funnel"]["users"] == [3, 2]


# --- what the report may claim about its range ----------------------------------------------------------------


def test_default_range_leaves_out_a_stray_early_day_and_says_so(tmp_path: Path) -> None:
    stray = ("old", "i1", "view", "2023-06-01 10:00", "c1")  # months before the rest
    lake = write_lake(tmp_path / "lake", (stray, *TINY_EVENTS))
    report = analytics_report(lake)
    assert report["range"]["from"] == "2023-12-31" and report["range"]["to"] == "2024-01-16"
    assert report["range"]["left_out"] == {"days": 1, "events": 1, "first_day": "2023-06-01",
                                           "last_day": "2024-01-15"}
    assert any("leaves out 1 event(s)" in w for w in report["warnings"])
    explicit = analytics_report(lake, date(2023, 6, 1), date(2024, 1, 16))
    assert explicit["summary"]["events"] == len(TINY_EVENTS) + 1 and "left_out" not in explicit["range"]


def test_unknown_funnel_steps_are_refused_with_the_known_ones(tiny_lake: Path) -> None:
    with pytest.raises(InputError, match=r"unknown funnel step\(s\) 'checkout'.*known event types: add_to_cart, "
                                         r"purchase, view"):
        analytics_report(tiny_lake, START, END, AnalyticsConfig(funnel_steps=("view", "checkout")))


def test_short_and_sparse_ranges_warn_and_skip_stickiness(tiny_lake: Path) -> None:
    report = analytics_report(tiny_lake, date(2024, 1, 1), date(2024, 1, 4))
    assert report["stickiness"]["dau_over_wau"] is None and report["stickiness"]["dau_over_mau"] is None
    text = " ".join(report["warnings"])
    assert "covers 3 day(s)" in text and "sparse data" in text


def test_previous_period_compares_with_the_window_before(tiny_lake: Path) -> None:
    report = analytics_report(tiny_lake, date(2024, 1, 8), date(2024, 1, 15))
    prev = report["previous_period"]
    # 2024-01-01 .. 2024-01-07: 8 events by u1, u2, r; DAU 2, 2, 1 then four empty days.
    assert prev["previous"] == {"from": "2024-01-01", "to": "2024-01-08", "events": 8, "users": 3,
                                "mean_dau": pytest.approx(5 / 7)}
    assert prev["change"]["events"] == pytest.approx((6 - 8) / 8)
    assert analytics_report(tiny_lake, date(2023, 12, 31), date(2024, 1, 16))["previous_period"] is None


def test_category_funnels_take_the_catalogue_category_when_events_have_none(tmp_path: Path) -> None:
    import json as _json

    from recsys.catalog import load_catalog

    events = [(u, i, t, ts, None) for u, i, t, ts, _ in TINY_EVENTS]  # the same events without a category
    lake = write_lake(tmp_path / "lake", events)
    (tmp_path / "items.jsonl").write_text("\n".join(_json.dumps({"item_id": i, "categories": [c]})
                                                    for i, c in (("i1", "Lamps"), ("i2", "Mugs"), ("i3", "Mugs"))))
    load_catalog(tmp_path / "items.jsonl", lake)
    by_category = {c["category"]: c["users"] for c in analytics_report(lake, START, END)["funnel"]["by_category"]}
    assert by_category == {"Lamps": [3, 1, 1], "Mugs": [3, 2, 0]}  # as c1/c2 from the events' own categories


@pytest.mark.parametrize("n", [1, 2, 7, 10, 301])
def test_exact_medians_from_frequencies_equal_duckdbs_median(n: int) -> None:
    import duckdb

    from feature_store.analytics.metrics import _medians_of

    rng = np.random.default_rng(n)
    con = duckdb.connect()
    values = np.round(rng.exponential(100.0, n), 3)
    values[: n // 3] = 0.0  # ties, as single-event sessions give
    con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest($1) AS x, unnest($2) AS k)",
                [values.tolist(), rng.integers(1, 5, n).tolist()])
    got = dict(con.execute(f"WITH {_medians_of('t', ('x', 'k'))} SELECT col, median FROM medians").fetchall())
    want = con.execute("SELECT median(x), median(k) FROM t").fetchone()
    assert got["x"] == pytest.approx(want[0]) and got["k"] == pytest.approx(want[1])
