"""Ingestion: every plain format, mapping and units, idempotent re-runs, conservation (hypothesis), fast path ==
slow path, manifests and the CLI contract."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.errors import InputError
from recsys.events import EVENT_SCHEMA
from recsys.generate import generate_events
from recsys.ingest import detect_format, ingest
from recsys.lake import read_events

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def _event(i: int, day: int = 2, **kw: object) -> dict:
    row = {"event_id": f"e{i}", "user_id": f"u{i % 7}", "item_id": f"i{i % 11}", "event_type": "view",
           "ts": f"2026-03-0{day}T10:{i % 60:02d}:00Z"}
    row.update(kw)
    return row


def _write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _lake_rows(lake: Path) -> list[dict]:
    return sorted(read_events(lake).to_pylist(), key=lambda r: r["event_id"])


def _conserved(report: dict) -> bool:
    return report["rows_read"] == report["rows_written"] + report["rows_quarantined"] + report["duplicates"]


def test_jsonl_roundtrip_into_day_partitions(tmp_path: Path) -> None:
    rows = [_event(i, day=1 + i % 3, value=1.5 if i % 4 == 0 else None, session_id=f"s{i % 2}",
                   properties={"category": "c1", "n": i}) for i in range(30)]
    src = _write_jsonl(tmp_path / "ev.jsonl", rows)
    report = ingest([src], tmp_path / "lake", now=NOW)
    d = report.to_dict()
    assert (d["rows_read"], d["rows_written"], d["rows_quarantined"], d["duplicates"]) == (30, 30, 0, 0)
    assert sorted(report.partitions) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    for dt in report.partitions:
        files = list((tmp_path / "lake" / "events" / f"dt={dt}").glob("part-*.parquet"))
        assert len(files) == 1 and pq.read_schema(files[0]).equals(EVENT_SCHEMA)
    got = {r["event_id"]: r for r in _lake_rows(tmp_path / "lake")}
    assert got["e4"]["value"] == 1.5 and got["e1"]["value"] is None
    assert json.loads(got["e3"]["properties"]) == {"category": "c1", "n": 3}
    assert got["e3"]["ts"] == datetime(2026, 3, 1, 10, 3, tzinfo=UTC)
    manifest = json.loads(Path(report.manifest).read_text())
    assert manifest["rows_written"] == 30 and manifest["conserved"] is True


def test_rerun_is_idempotent_and_dedupes_across_files(tmp_path: Path) -> None:
    a = _write_jsonl(tmp_path / "a.jsonl", [_event(i) for i in range(20)])
    b = _write_jsonl(tmp_path / "b.jsonl", [_event(i) for i in range(10, 30)] + [_event(25)])
    lake = tmp_path / "lake"
    first = ingest([a], lake, now=NOW)
    files_before = sorted(p.relative_to(lake) for p in (lake / "events").rglob("*.parquet"))
    again = ingest([a], lake, now=NOW)
    assert (again.rows_written, again.duplicates) == (0, 20)
    assert sorted(p.relative_to(lake) for p in (lake / "events").rglob("*.parquet")) == files_before
    both = ingest([a, b], lake, now=NOW)
    assert (first.rows_written, both.rows_read, both.rows_written, both.duplicates) == (20, 41, 10, 31)
    ids = [r["event_id"] for r in _lake_rows(lake)]
    assert len(ids) == len(set(ids)) == 30
    assert len(list((lake / "_manifests").glob("ingest-*.json"))) == 3


def test_quarantine_keeps_raw_row_and_reason_and_is_replaced_on_rerun(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "ev.jsonl", [_event(1), '{"user_id": ', _event(2, ts="never")])
    lake = tmp_path / "lake"
    for _ in range(2):
        report = ingest([src], lake, now=NOW)
        assert report.rows_quarantined == 2
    q = ds.dataset(lake / "quarantine", format="parquet", partitioning="hive").to_table().to_pylist()
    assert sorted((r["row"], r["reason"]) for r in q) == [(2, "malformed_json"), (3, "bad_ts")]
    assert {r["raw"] for r in q if r["row"] == 2} == {'{"user_id": '}
    assert all(r["source"] == "ev.jsonl" for r in q)


def test_csv_with_mapping_and_epoch_milliseconds(tmp_path: Path) -> None:
    src = tmp_path / "clicks.csv"
    src.write_text("userId,movieId,action,timestamp,price\n"
                   "1,10,Click,1772445600000,\n"
                   "2,20,purchase,1772449200500,9.99\n"
                   "3,30,view,not-a-time,\n", encoding="utf-8")
    mapping = {"user_id": "userId", "item_id": "movieId", "event_type": "action", "ts": "timestamp",
               "value": "price"}
    report = ingest([src], tmp_path / "lake", fmt="csv", mapping=mapping, ts_unit="ms", now=NOW)
    assert (report.rows_written, report.rows_quarantined, report.reasons) == (2, 1, {"bad_ts": 1})
    rows = sorted(read_events(tmp_path / "lake").to_pylist(), key=lambda r: r["user_id"])
    assert [r["event_type"] for r in rows] == ["click", "purchase"]  # lower-cased
    assert rows[1]["value"] == 9.99 and rows[0]["value"] is None
    assert rows[0]["ts"] == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert rows[1]["ts"] == datetime(2026, 3, 2, 11, 0, 0, 500_000, tzinfo=UTC)
    assert all(r["event_id"].startswith("h") for r in rows)  # derived


def test_csv_without_required_columns_quarantines_with_a_hint(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    report = ingest([src], tmp_path / "lake", fmt="csv", now=NOW)
    assert (report.rows_read, report.rows_quarantined, report.reasons) == (2, 2, {"missing_user_id": 2})
    assert any("--map" in n for n in report.notes)


def test_parquet_source_with_native_types(tmp_path: Path) -> None:
    src = tmp_path / "ev.parquet"
    pq.write_table(pa.table({
        "user_id": pa.array([1, 2, 3], pa.int64()), "item_id": ["a", "b", "c"], "event_type": ["VIEW", "view", "x"],
        "ts": pa.array([datetime(2026, 3, 1, 12), datetime(2026, 3, 2, 12), datetime(1980, 1, 1)],
                       pa.timestamp("ms")),
        "value": pa.array([1, None, 3], pa.int32())}), src)
    report = ingest([src], tmp_path / "lake", now=NOW)
    assert (report.rows_written, report.reasons) == (2, {"ts_too_old": 1})
    rows = sorted(read_events(tmp_path / "lake").to_pylist(), key=lambda r: r["user_id"])
    assert [r["user_id"] for r in rows] == ["1", "2"] and rows[0]["event_type"] == "view"
    assert rows[0]["value"] == 1.0 and rows[0]["ts"] == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_gzipped_jsonl_and_numeric_epochs_guessed_per_value(tmp_path: Path) -> None:
    src = tmp_path / "ev.jsonl.gz"
    rows = [_event(1, ts=1772445600), _event(2, ts=1772445600000), _event(3, ts=1772445600.25)]
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    report = ingest([src], tmp_path / "lake", now=NOW)
    assert report.rows_written == 3
    ts = {r["event_id"]: r["ts"] for r in read_events(tmp_path / "lake").to_pylist()}
    assert ts["e1"] == ts["e2"] == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert ts["e3"] == datetime(2026, 3, 2, 10, 0, 0, 250_000, tzinfo=UTC)


def test_iso_variants_all_mean_utc(tmp_path: Path) -> None:
    variants = ["2026-03-02T10:00:00Z", "2026-03-02T12:00:00+02:00", "2026-03-02T10:00:00", "2026-03-02 10:00:00",
                "2026-03-02T10:00:00.000Z"]
    src = _write_jsonl(tmp_path / "ev.jsonl", [_event(i, ts=v) for i, v in enumerate(variants)])
    ingest([src], tmp_path / "lake", now=NOW)
    assert {r["ts"] for r in read_events(tmp_path / "lake").to_pylist()} == {datetime(2026, 3, 2, 10, tzinfo=UTC)}


def test_derived_event_ids_are_stable_across_reruns_and_keep_identical_events(tmp_path: Path) -> None:
    same = {"user_id": "u1", "item_id": "i1", "event_type": "view", "ts": "2026-03-02T10:00:00Z"}
    src = _write_jsonl(tmp_path / "ev.jsonl", [same, same, dict(same, item_id="i2")])
    lake = tmp_path / "lake"
    first = ingest([src], lake, now=NOW)
    second = ingest([src], lake, now=NOW)
    assert (first.rows_written, second.rows_written, second.duplicates) == (3, 0, 3)


def test_empty_and_blank_files_are_fine(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "blank.jsonl").write_bytes(b"\n\n   \n")
    (tmp_path / "empty.csv").write_bytes(b"")
    report = ingest([tmp_path / "empty.jsonl", tmp_path / "blank.jsonl", tmp_path / "empty.csv"],
                    tmp_path / "lake", fmt="jsonl", now=NOW)
    assert (report.rows_read, report.rows_written) == (0, 0)


def test_missing_file_fails_before_writing_anything(tmp_path: Path) -> None:
    good = _write_jsonl(tmp_path / "ev.jsonl", [_event(1)])
    with pytest.raises(InputError, match="not found"):
        ingest([good, tmp_path / "nope.jsonl"], tmp_path / "lake", now=NOW)
    assert not (tmp_path / "lake" / "events").exists()


def test_bad_options_are_refused(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "ev.jsonl", [_event(1)])
    with pytest.raises(InputError, match="--format"):
        ingest([src], tmp_path / "lake", fmt="xml")
    with pytest.raises(InputError, match="--ts-unit"):
        ingest([src], tmp_path / "lake", ts_unit="days")
    with pytest.raises(InputError, match="--map"):
        ingest([src], tmp_path / "lake", mapping={"colour": "c"})


def test_auto_format_guesses_and_refuses_when_unsure(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.csv").write_text("user_id,item_id,event_type,ts\n")
    (tmp_path / "c.parquet").write_bytes(b"")
    (tmp_path / "ratings.dat").write_text("1::2::5::978300760\n")
    (tmp_path / "log.txt").write_text("hello there\tx\n")
    (tmp_path / "mystery.csv").write_text("foo,bar\n1,2\n")
    assert detect_format(tmp_path / "a.jsonl", {}) == "jsonl"
    assert detect_format(tmp_path / "b.csv", {}) == "csv"
    assert detect_format(tmp_path / "c.parquet", {}) == "parquet"
    assert detect_format(tmp_path / "ratings.dat", {}) == "movielens"
    for unsure in ("log.txt", "mystery.csv"):
        with pytest.raises(InputError, match="--format"):
            detect_format(tmp_path / unsure, {})


def test_fast_and_slow_paths_agree(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    generate_events(gen, users=60, items=40, days=2, seed=4, malformed_rate=0.05)
    extra = _write_jsonl(tmp_path / "odd.jsonl", [
        _event(1, user_id=7), _event(2, value="3.5"), _event(3, properties={"b": None, "a": [1, 2]}),
        _event(4, ts=1772445600), _event(5, value=2), _event(6, properties="{\"x\": 1}"), _event(7, user_id=" u "),
        _event(8, properties={"k": "quote\" and \u00e9"})])
    sources = [*sorted(gen.glob("*.jsonl")), extra]
    fast = ingest(sources, tmp_path / "fast", now=NOW, block_bytes=4096)
    slow = ingest(sources, tmp_path / "slow", now=NOW, fast=False)
    keys = ("rows_read", "rows_written", "rows_quarantined", "duplicates", "reasons")
    assert {k: fast.to_dict()[k] for k in keys} == {k: slow.to_dict()[k] for k in keys}
    assert fast.rows_quarantined > 0
    assert _lake_rows(tmp_path / "fast") == _lake_rows(tmp_path / "slow")
    q = [ds.dataset(tmp_path / lake / "quarantine", format="parquet", partitioning="hive").to_table()
         .drop_columns(["dt"]).to_pylist() for lake in ("fast", "slow")]
    assert sorted(q[0], key=lambda r: (r["source"], r["row"])) == sorted(q[1], key=lambda r: (r["source"], r["row"]))


def test_spilling_past_the_memory_budget_gives_the_same_lake(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    generate_events(gen, users=80, items=50, days=3, seed=2)
    sources = sorted(gen.glob("*.jsonl"))
    ingest(sources, tmp_path / "mem", now=NOW)
    ingest(sources, tmp_path / "spill", now=NOW, memory_budget=10_000, block_bytes=20_000)
    assert _lake_rows(tmp_path / "mem") == _lake_rows(tmp_path / "spill")
    assert not (tmp_path / "spill" / "_staging").exists()


_GOOD = st.builds(lambda u, i, t, d, h: {"user_id": f"u{u}", "item_id": f"i{i}", "event_type": t,
                                         "ts": f"2026-03-0{d}T{h:02d}:00:00Z"},
                  st.integers(0, 5), st.integers(0, 5), st.sampled_from(["view", "purchase"]), st.integers(1, 4),
                  st.integers(0, 23))
_BAD = st.sampled_from(['{"user_id": "u1"', "[]", '{"user_id": "", "item_id": "i", "event_type": "v", '
                        '"ts": "2026-03-01T00:00:00Z"}', '{"item_id": "i", "event_type": "v", "ts": "2026-03-01"}',
                        '{"user_id": "u", "item_id": "i", "event_type": "v", "ts": "1900-01-01T00:00:00Z"}',
                        "\udcff"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.tuples(st.just("good"), _GOOD), st.tuples(st.just("dup"), st.integers(0, 50)),
                          st.tuples(st.just("bad"), _BAD)), max_size=60),
       st.booleans())
def test_conservation_property(tmp_path_factory: pytest.TempPathFactory, plan: list, with_ids: bool) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    lines: list[bytes] = []
    goods: list[bytes] = []
    expect_bad = expect_dup = 0
    for kind, payload in plan:
        if kind == "good":
            row = dict(payload, event_id=f"g{len(goods)}") if with_ids else dict(payload, session_id=f"{len(goods)}")
            goods.append(json.dumps(row).encode())
            lines.append(goods[-1])
        elif kind == "dup" and goods:
            lines.append(goods[payload % len(goods)])
            expect_dup += 1
        elif kind == "bad":
            lines.append(payload.encode("utf-8", "surrogateescape"))
            expect_bad += 1
    src = tmp / "ev.jsonl"
    src.write_bytes(b"".join(ln + b"\n" for ln in lines))
    report = ingest([src], tmp / "lake", now=NOW, block_bytes=512).to_dict()
    assert report["rows_read"] == len(lines)
    assert _conserved(report)
    if with_ids:  # a repeated event_id is a duplicate
        assert (report["rows_quarantined"], report["rows_written"], report["duplicates"]) == \
            (expect_bad, len(goods), expect_dup)
    else:  # without ids, a repeated line is another event (its row is part of the derived id)
        assert (report["rows_quarantined"], report["rows_written"], report["duplicates"]) == \
            (expect_bad, len(goods) + expect_dup, 0)
    written = ds.dataset(tmp / "lake" / "events", format="parquet").count_rows() if goods else 0
    assert written == report["rows_written"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from recsys.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_json_summary_and_errors(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    out = _cli("generate", "--out", str(gen), "--users", "30", "--items", "20", "--days", "2", "--json",
               "--malformed-rate", "0.05")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    res = _cli("ingest", str(gen), "--lake", str(tmp_path / "lake"), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    for key in ("rows_read", "rows_written", "rows_quarantined", "duplicates"):
        assert isinstance(summary[key], int)
    assert summary["rows_read"] == made["events"] + made["malformed"]
    assert summary["rows_quarantined"] == made["malformed"] and _conserved(summary)
    missing = _cli("ingest", str(tmp_path / "nope.jsonl"), "--lake", str(tmp_path / "lake2"), "--json")
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "lake2" / "events").exists()
    bad_map = _cli("ingest", str(gen), "--lake", str(tmp_path / "lake3"), "--map", "user_id")
    assert bad_map.returncode == 2 and "FIELD=COLUMN" in bad_map.stderr


def test_same_content_under_two_names_keeps_both_quarantines(tmp_path: Path) -> None:
    rows = [_event(1), "not json"]
    a = _write_jsonl(tmp_path / "a.jsonl", rows)
    b = _write_jsonl(tmp_path / "b.jsonl", rows)
    report = ingest([a, b], tmp_path / "lake", now=NOW)
    assert (report.rows_written, report.duplicates, report.rows_quarantined) == (1, 1, 2)
    q = ds.dataset(tmp_path / "lake" / "quarantine", format="parquet", partitioning="hive").to_table()
    assert sorted(q["source"].to_pylist()) == ["a.jsonl", "b.jsonl"]
