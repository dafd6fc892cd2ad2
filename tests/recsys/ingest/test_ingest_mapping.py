"""Generic mapping in `recsys ingest`: dotted paths, --explode, --set, --event-map; conservation at the record and
the event level, quarantine entries naming record and array index, the arrow and Python paths agreeing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.errors import InputError
from recsys.ingest import ingest
from recsys.ingest.mapping import MapSpec

NOW = datetime(2026, 3, 1, tzinfo=UTC)
T0 = 1767261600000
SESSIONS = [
    {"sid": 11, "device": "ios", "events": [{"aid": 5, "ts": T0, "type": "clicks"},
                                            {"aid": 6, "ts": T0 + 60_000, "type": "Carts"}]},
    {"sid": 12, "device": "web", "events": [{"aid": 5, "ts": T0 + 1, "type": "clicks"},
                                            {"aid": 5, "ts": T0 + 1, "type": "clicks"},
                                            {"aid": 7, "ts": T0 + 2, "type": "orders"}]},
    {"sid": 13, "device": "web", "events": []},
    {"sid": 14, "device": "web", "events": [{"aid": 8, "ts": T0 + 3}, {"aid": 9, "ts": T0 + 4, "type": "zoom"}]},
    {"sid": 15, "device": "web"},
]
SPEC = MapSpec({"user_id": "sid", "item_id": "events.aid", "ts": "events.ts", "event_type": "events.type",
                "session_id": "device"}, explode="events",
               event_map={"clicks": "click", "carts": "add_to_cart", "Orders": "purchase"})


def _write_jsonl(path: Path, records: list, extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + extra)
    return path


def _rows(lake: Path, sql: str = "select user_id, item_id, event_type, session_id from ev order by all") -> list:
    con = duckdb.connect()
    con.execute(f"create view ev as select * from read_parquet('{lake}/events/*/*.parquet')")
    return con.execute(sql).fetchall()


@pytest.mark.parametrize("fast", [True, False])
def test_explode_conserves_and_points_at_record_and_index(tmp_path: Path, fast: bool) -> None:
    src = _write_jsonl(tmp_path / "s.jsonl", SESSIONS, "{broken\n")
    report = ingest([src], tmp_path / "lake", spec=SPEC, ts_unit="ms", now=NOW, fast=fast)
    d = report.to_dict()
    # 6 records (one not JSON, one without the array, one with an empty one); 7 elements + 2 whole-record rejects
    assert (d["records_read"], d["events_produced"]) == (6, 9)
    # two equal elements of one array are two events (like two equal lines of a log); a re-run dedupes them all
    assert (d["rows_written"], d["rows_quarantined"], d["duplicates"]) == (6, 3, 0) and d["conserved"]
    assert d["reasons"] == {"missing_event_type": 1, "missing_events": 1, "malformed_json": 1}
    assert _rows(tmp_path / "lake") == [("11", "5", "click", "ios"), ("11", "6", "add_to_cart", "ios"),
                                        ("12", "5", "click", "web"), ("12", "5", "click", "web"),
                                        ("12", "7", "purchase", "web"), ("14", "9", "zoom", "web")]
    q = duckdb.sql(f"select row, reason, raw from read_parquet('{tmp_path}/lake/quarantine/*/*.parquet') "
                   "order by row").fetchall()
    assert [(r, why) for r, why, _ in q] == [(4, "missing_event_type"), (5, "missing_events"), (6, "malformed_json")]
    entry = json.loads(q[0][2])
    assert (entry["record"], entry["index"], entry["element"]["aid"], entry["parent"]["sid"]) == (4, 0, 8, 14)
    again = ingest([src], tmp_path / "lake", spec=SPEC, ts_unit="ms", now=NOW, fast=fast)
    assert (again.rows_written, again.duplicates) == (0, 6)


def test_arrow_and_python_paths_agree(tmp_path: Path) -> None:
    records = SESSIONS[:2] * 200 + [{"sid": "x", "device": None, "events": [{"aid": 1.5, "ts": T0, "type": "a"}]}]
    src = _write_jsonl(tmp_path / "s.jsonl", records)
    fast = ingest([src], tmp_path / "a", spec=SPEC, ts_unit="ms", now=NOW, block_bytes=4096)
    slow = ingest([src], tmp_path / "b", spec=SPEC, ts_unit="ms", now=NOW, fast=False)
    assert fast.to_dict()["reasons"] == slow.to_dict()["reasons"] == {"bad_type_item_id": 1}
    sql = "select event_id, user_id, item_id, event_type, ts, session_id from ev order by all"
    assert _rows(tmp_path / "a", sql) == _rows(tmp_path / "b", sql) and fast.rows_written == 2 * 200 * 5 // 2


def test_dotted_paths_alternatives_and_scalar_arrays(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "e.jsonl", [
        {"who": {"id": "u1"}, "props": {"product": {"id": "p1"}}, "at": "2026-01-01T00:00:00Z",
         "name": "Product Viewed"},
        {"who": {"anon": "a2"}, "props": {"product": {"id": "p2"}}, "at": "2026-01-01T00:01:00Z", "name": "view"},
    ])
    spec = MapSpec({"user_id": "who.id|who.anon", "item_id": "props.product.id", "ts": "at", "event_type": "name"},
                   event_map={"product viewed": "view"})
    report = ingest([src], tmp_path / "lake", spec=spec, now=NOW)
    assert report.rows_written == 2
    assert _rows(tmp_path / "lake") == [("a2", "p2", "view", None), ("u1", "p1", "view", None)]
    baskets = _write_jsonl(tmp_path / "b.jsonl", [{"user": 1, "t": 1767261600, "items": ["i1", "i2", 3]}])
    spec = MapSpec({"user_id": "user", "item_id": "items", "ts": "t"}, explode="items",
                   constants={"event_type": "purchase"})
    report = ingest([baskets], tmp_path / "l2", spec=spec, now=NOW)
    assert (report.records_read, report.rows_written) == (1, 3)
    assert _rows(tmp_path / "l2") == [("1", "3", "purchase", None), ("1", "i1", "purchase", None),
                                      ("1", "i2", "purchase", None)]


def test_set_a_constant_on_a_ratings_csv(tmp_path: Path) -> None:
    src = tmp_path / "ratings.csv"
    src.write_text("userId,movieId,rating,timestamp\n1,10,4.0,1767261600\n2,10,5.0,1767261800\n")
    spec = MapSpec({"user_id": "userId", "item_id": "movieId", "value": "rating", "ts": "timestamp"},
                   constants={"event_type": "rating"})
    report = ingest([src], tmp_path / "lake", fmt="csv", spec=spec, ts_unit="s", now=NOW)
    assert report.rows_written == 2 and not report.notes
    assert _rows(tmp_path / "lake", "select event_type, value from ev order by value") == [("rating", 4.0),
                                                                                          ("rating", 5.0)]


def test_nested_parquet(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(SESSIONS[:2]), tmp_path / "s.parquet")
    report = ingest([tmp_path / "s.parquet"], tmp_path / "lake", spec=SPEC, ts_unit="ms", now=NOW)
    assert (report.records_read, report.rows_written, report.duplicates) == (2, 5, 0)


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="--set names unknown field"):
        ingest([src], tmp_path / "lake", spec=MapSpec(constants={"colour": "red"}))
    with pytest.raises(InputError, match="both mapped"):
        ingest([src], tmp_path / "lake", spec=MapSpec({"event_type": "a"}, constants={"event_type": "view"}))
    with pytest.raises(InputError, match="need JSON Lines or Parquet"):
        ingest([src], tmp_path / "lake", fmt="csv", spec=MapSpec({"user_id": "a.b"}, explode="a"))


@pytest.mark.parametrize("fast", [True, False])
def test_record_numbers_count_over_long_lines(tmp_path: Path, fast: bool) -> None:
    long = json.dumps({"sid": 99, "pad": "x" * (1 << 20), "events": []})
    src = _write_jsonl(tmp_path / "s.jsonl", [SESSIONS[0]], long + "\n" + json.dumps(SESSIONS[3]) + "\n")
    report = ingest([src], tmp_path / "lake", spec=SPEC, ts_unit="ms", now=NOW, fast=fast)
    assert (report.records_read, report.rows_written) == (3, 3) and report.conserved
    q = duckdb.sql(f"select row, reason from read_parquet('{tmp_path}/lake/quarantine/*/*.parquet') "
                   "order by row").fetchall()
    assert q == [(2, "line_too_long"), (3, "missing_event_type")]


def test_cli_options(tmp_path: Path) -> None:
    import subprocess
    import sys

    src = _write_jsonl(tmp_path / "s.jsonl", SESSIONS[:2])
    base = [sys.executable, "-c", "from recsys.cli import main; main()", "ingest", str(src), "--lake",
            str(tmp_path / "lake")]
    opts = ["--explode", "events", "--map", "user_id=sid", "--map", "item_id=events.aid", "--map", "ts=events.ts",
            "--ts-unit", "ms", "--map", "event_type=events.type", "--event-map", "clicks=click", "--json"]
    out = subprocess.run(base + opts, capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    assert (summary["records_read"], summary["events_produced"], summary["rows_written"]) == (2, 5, 5)
    for bad, message in ((["--set", "event_type"], "--set takes FIELD=VALUE"),
                         (["--event-map", "clicks"], "--event-map takes SRC=DST")):
        r = subprocess.run(base + bad, capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
