"""The ingest speed-ups must not change results: ASCII kernels, block-level UTF-8 checks, the sort-based day split
and the dedupe shortcut for increasing ids, each against the general path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.ingest import ingest
from recsys.ingest.readers import block_encoding
from recsys.ingest.validate import Rules, validate
from recsys.ingest.writer import PartitionBuffer, _strictly_increasing, dedupe
from recsys.lake import read_events

NOW = datetime(2026, 3, 10, tzinfo=UTC)
_ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_ASCII, _ASCII, _ASCII), min_size=1, max_size=30))
def test_ascii_kernels_match_utf8_kernels_on_ascii_text(rows: list[tuple[str, str, str]]) -> None:
    # every ASCII character, control characters included (\x1c-\x1f count as space for utf8_trim_whitespace)
    cols = {"user_id": pa.array([r[0] for r in rows]), "item_id": pa.array([r[1] for r in rows]),
            "event_type": pa.array([r[2].upper() for r in rows]),
            "ts": pa.array(["2026-03-01T00:00:00Z"] * len(rows))}
    rules = Rules(now=NOW)
    slow = validate(cols, len(rows), rules)
    fast = validate(cols, len(rows), rules, ascii_only=True)
    assert fast.good.equals(slow.good)
    assert fast.bad_pos.tolist() == slow.bad_pos.tolist()
    assert fast.bad_reasons == slow.bad_reasons


def test_block_encoding() -> None:
    assert block_encoding(b"a,b\n1,2\n") == (True, True)
    assert block_encoding(memoryview(b"xx a,b\n")[3:]) == (True, True)
    assert block_encoding("é,ü\n".encode()) == (False, True)
    assert block_encoding(b"a,\xff\n") == (False, False)
    assert block_encoding(b"") == (True, True)


def test_non_ascii_and_non_utf8_csv_rows(tmp_path: Path) -> None:
    lines = ["user_id,item_id,event_type,ts",
             "u1,i1,VIEW,2026-03-01T00:00:00Z",
             "\u00a0ü2\u00a0,i2,Vïew,2026-03-01T00:00:01Z",  # NBSP is trimmed, ï lower-cased by the UTF-8 kernels
             " u3\x1f,i3,view,2026-03-01T00:00:02Z"]
    src = tmp_path / "a.csv"
    src.write_bytes(("\n".join(lines) + "\n").encode() + b"u\xff,i4,view,2026-03-01T00:00:03Z\n")
    report = ingest([src], tmp_path / "lake", fmt="csv", now=NOW)
    assert (report.rows_written, report.rows_quarantined) == (3, 1)
    assert report.reasons == {"non_utf8": 1}
    got = read_events(tmp_path / "lake").sort_by("ts")
    assert got["user_id"].to_pylist() == ["u1", "ü2", "u3"]
    assert got["event_type"].to_pylist() == ["view", "vïew", "view"]


def _table(days: list[int], ids: list[str]) -> pa.Table:
    us = np.array(days, dtype=np.int64) * 86_400_000_000 + np.arange(len(days), dtype=np.int64)
    return pa.table({"event_id": pa.array(ids), "ts": pa.array(us, pa.timestamp("us", tz="UTC")),
                     "value": pa.nulls(len(days), pa.float64())})


def test_partition_buffer_keeps_arrival_order_per_day(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    days = rng.integers(20000, 20005, 500).tolist()
    buf = PartitionBuffer(tmp_path, 1 << 30)
    buf.add(_table(days[:300], [f"a{i}" for i in range(300)]))
    buf.add(_table(days[300:], [f"a{i}" for i in range(300, 500)]))
    assert buf.days() == sorted(set(days))
    for day in buf.days():
        want = [f"a{i}" for i, d in enumerate(days) if d == day]
        got = buf.pop(day)
        assert got["event_id"].to_pylist() == want
        assert got["value"].null_count == got.num_rows


@pytest.mark.parametrize("ids", [["e1", "e2", "e10"], ["b", "a"], ["e10", "e2"], ["x", "x"], ["aa", "b"]])
def test_strictly_increasing(ids: list[str]) -> None:
    assert _strictly_increasing(pa.array(ids)) == (
        len(set(ids)) == len(ids) and ids == sorted(ids, key=lambda s: (len(s.encode()), s.encode())))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=60), st.booleans())
def test_dedupe_keeps_first_occurrences_in_order(nums: list[int], sort: bool) -> None:
    ids = [f"e{n}" for n in (sorted(nums) if sort else nums)]
    table = pa.table({"event_id": pa.array(ids, pa.string()), "pos": pa.array(range(len(ids)), pa.int64())})
    seen: set[str] = set()
    want = []
    for i, e in enumerate(ids):
        if e not in seen:
            seen.add(e)
            want.append(i)
    got = dedupe(table, None)
    assert got["pos"].to_pylist() == want
    existing = pa.array(ids[:3], pa.string())
    got = dedupe(table, existing)
    assert got["pos"].to_pylist() == [i for i in want if ids[i] not in set(ids[:3])]


def test_partition_files_keep_time_statistics(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("event_id,user_id,item_id,event_type,ts\ne1,u1,i1,view,2026-03-01T00:00:00Z\n"
                   "e2,u2,i2,view,2026-03-01T10:00:00Z\n")
    report = ingest([src], tmp_path / "lake", fmt="csv", now=NOW)
    meta = pq.ParquetFile(report.files[0]).metadata.row_group(0)
    ts = meta.column(pq.ParquetFile(report.files[0]).schema_arrow.get_field_index("ts")).statistics
    assert ts is not None and ts.has_min_max
