"""Named adapters for analytics-tool exports, on small files written from each vendor's schema documentation
(tests/recsys/ingest/fixtures/vendors/): counts at both levels, our event names, ids, properties, quarantine, links."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.errors import InputError
from recsys.identity import read_links
from recsys.ingest import ingest
from recsys.ingest.mapping import MapSpec

FIXTURES = Path(__file__).parent / "fixtures" / "vendors"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _events(lake: Path) -> list[dict]:
    cols = "event_id, user_id, item_id, event_type, ts, value, session_id, properties"
    rel = duckdb.sql(f"select {cols} from read_parquet('{lake}/events/*/*.parquet') order by ts, event_id")
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def _quarantine(lake: Path) -> list[tuple[int, str]]:
    return sorted(duckdb.sql(f"select row, reason from read_parquet('{lake}/quarantine/*/*.parquet')").fetchall())


def _links(lake: Path) -> set[tuple[str, str]]:
    t = read_links(lake)
    return set(zip(t["alias"].to_pylist(), t["user_id"].to_pylist(), strict=True))


# name: (records, events produced, written, quarantine (row, reason), event types, links)
EXPECTED = {
    "segment": (8, 8, 5, [(1, "missing_item_id"), (7, "missing_user_id"), (8, "bad_ts")],
                {"view", "add_to_cart", "purchase", "wishlist shared"}, {("anon-1", "cust-1")}),
    "mixpanel": (7, 6, 4, [(6, "missing_user_id"), (7, "missing_item_id")],
                 {"view", "add_to_cart", "purchase", "played song"}, {("$device:d1", "user-7"), ("d1", "user-7")}),
    "amplitude": (7, 6, 4, [(6, "missing_user_id"), (7, "bad_ts")],
                  {"view", "add_to_cart", "purchase", "level up"}, {("dev-a", "alice")}),
    "ga4": (6, 8, 5, [(1, "missing_item_id"), (4, "missing_item_id"), (6, "missing_user_id")],
            {"view", "add_to_cart", "purchase", "select_promotion"}, {("1197.1767", "cust-42")}),
}


@pytest.mark.parametrize("vendor", sorted(EXPECTED))
def test_vendor_export_is_conserved_and_mapped(tmp_path: Path, vendor: str) -> None:
    records, produced, written, quarantined, types, links = EXPECTED[vendor]
    report = ingest([FIXTURES / f"{vendor}.jsonl"], tmp_path / "lake", fmt=vendor, now=NOW)
    d = report.to_dict()
    assert (d["records_read"], d["events_produced"], d["rows_written"]) == (records, produced, written)
    assert d["rows_quarantined"] == len(quarantined) and d["conserved"]
    assert _quarantine(tmp_path / "lake") == quarantined
    events = _events(tmp_path / "lake")
    assert {e["event_type"] for e in events} == types
    assert _links(tmp_path / "lake") == links and report.identity_links == len(links)
    again = ingest([FIXTURES / f"{vendor}.jsonl"], tmp_path / "lake", fmt=vendor, now=NOW)
    assert again.rows_written == 0 and again.duplicates == written  # vendor ids or derived ids dedupe re-runs
    assert _links(tmp_path / "lake") == links


def test_segment_details(tmp_path: Path) -> None:
    ingest([FIXTURES / "segment.jsonl"], tmp_path / "lake", fmt="segment", now=NOW)
    events = {e["event_id"]: e for e in _events(tmp_path / "lake")}
    assert events["s-1"]["user_id"] == "anon-1"  # anonymous-only events keep the anonymous id
    assert json.loads(events["s-1"]["properties"]) == {"category": "shoes", "price": 19.99,
                                                       "source_event": "Product Viewed"}
    order = [events["s-4:0"], events["s-4:1"]]  # one event per product, the order's fields kept
    assert [e["item_id"] for e in order] == ["p1", "p2"] and {e["user_id"] for e in order} == {"cust-1"}
    assert json.loads(order[1]["properties"])["order_id"] == "o1"
    assert events["s-5"]["item_id"] == "42" and events["s-5"]["ts"] == datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_mixpanel_details(tmp_path: Path) -> None:
    ingest([FIXTURES / "mixpanel.jsonl"], tmp_path / "lake", fmt="mixpanel", now=NOW)
    events = {e["event_id"]: e for e in _events(tmp_path / "lake")}
    assert events["mp-3"]["ts"] == datetime.fromtimestamp(1767603720, UTC)  # milliseconds told from seconds
    assert events["mp-3"]["user_id"] == "user-7"  # $user_id wins over distinct_id
    assert json.loads(events["mp-5"]["properties"]) == {"artist": "Drake", "source_event": "Played Song"}


def test_amplitude_details(tmp_path: Path) -> None:
    ingest([FIXTURES / "amplitude.jsonl"], tmp_path / "lake", fmt="amplitude", now=NOW)
    events = {e["event_id"]: e for e in _events(tmp_path / "lake")}
    assert events["am-1"]["session_id"] == "1767686400000" and events["am-3"]["session_id"] is None
    assert events["am-2"]["ts"] == datetime(2026, 1, 6, 8, 1, 0, 500000, tzinfo=UTC)
    assert json.loads(events["am-3"]["properties"])["$quantity"] == 2 and events["am-3"]["item_id"] == "p1"
    assert events["9f0a-am-5"]["item_id"] == "lvl-3"


def test_ga4_one_event_per_item_with_price_and_quantity(tmp_path: Path) -> None:
    ingest([FIXTURES / "ga4.jsonl"], tmp_path / "lake", fmt="ga4", now=NOW)
    events = _events(tmp_path / "lake")
    views = [e for e in events if e["event_type"] == "view"]
    assert [e["item_id"] for e in views] == ["SKU_1", "SKU_2"]
    props = json.loads(views[0]["properties"])
    assert (props["price"], props["quantity"], props["item_category"]) == (10.0, 1, "apparel")
    assert views[0]["session_id"] == "1767772" and views[0]["ts"] == datetime(2026, 1, 7, 8, 1, tzinfo=UTC)
    purchase = next(e for e in events if e["event_type"] == "purchase")
    assert purchase["user_id"] == "cust-42" and json.loads(purchase["properties"])["transaction_id"] == "T-1"


def test_ga4_parquet_gives_the_same_events(tmp_path: Path) -> None:
    records = [json.loads(line) for line in (FIXTURES / "ga4.jsonl").read_text().splitlines()]
    for r in records:  # BigQuery's Parquet export has integer timestamps
        r["event_timestamp"] = int(r["event_timestamp"])
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "events_20260107.parquet")
    from_json = ingest([FIXTURES / "ga4.jsonl"], tmp_path / "a", fmt="ga4", now=NOW)
    from_parquet = ingest([tmp_path / "events_20260107.parquet"], tmp_path / "b", fmt="ga4", now=NOW)
    assert (from_parquet.rows_written, from_parquet.rows_quarantined) == (from_json.rows_written,
                                                                          from_json.rows_quarantined)
    strip = [{k: v for k, v in e.items() if k != "event_id"} for e in _events(tmp_path / "a")]
    assert strip == [{k: v for k, v in e.items() if k != "event_id"} for e in _events(tmp_path / "b")]


def test_adapter_options(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="drop --map"):
        ingest([FIXTURES / "segment.jsonl"], tmp_path / "lake", fmt="segment", now=NOW,
               spec=MapSpec({"user_id": "userId"}))
    with pytest.raises(InputError, match="not Parquet"):
        shutil.copy(FIXTURES / "segment.jsonl", tmp_path / "x.parquet")
        ingest([tmp_path / "x.parquet"], tmp_path / "lake", fmt="segment", now=NOW)
    renamed = ingest([FIXTURES / "segment.jsonl"], tmp_path / "l2", fmt="segment", now=NOW,
                     spec=MapSpec(event_map={"Wishlist Shared": "share"}))
    assert renamed.rows_written == 5 and "share" in {e["event_type"] for e in _events(tmp_path / "l2")}
