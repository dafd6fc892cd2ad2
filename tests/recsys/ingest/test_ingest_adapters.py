"""Adapters for public data sets: small hand-made files in each publisher's layout, then the real files
(skipped when ../shared/data is absent)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from recsys.errors import InputError
from recsys.ingest import detect_format, ingest
from recsys.ingest.sources import Source, resolve
from recsys.lake import read_events

NOW = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(("name", "content"), [
    ("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"),
    ("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"),
])
def test_movielens_layouts(tmp_path: Path, name: str, content: str) -> None:
    src = tmp_path / name
    src.write_text(content)
    assert detect_format(src, {}) == "movielens"
    report = ingest([src], tmp_path / "lake", fmt="movielens", now=NOW)
    assert (report.rows_read, report.rows_written) == (2, 2)
    rows = read_events(tmp_path / "lake").to_pylist()
    assert {r["event_type"] for r in rows} == {"rating"}
    assert all(r["value"] in (2.5, 3.0, 5.0) for r in rows)
    assert all(datetime(1997, 1, 1, tzinfo=UTC) < r["ts"] < datetime(2010, 1, 1, tzinfo=UTC) for r in rows)


def test_movielens_gzip_and_a_broken_row(tmp_path: Path) -> None:
    src = tmp_path / "ratings_part.dat.gz"
    with gzip.open(src, "wt") as f:
        f.write("1::1193::5::978300760\n1::661\n2::3::4::notatime\n")
    report = ingest([src], tmp_path / "lake", fmt="movielens", now=NOW)
    assert (report.rows_written, report.reasons) == (1, {"csv_column_count": 1, "bad_ts": 1})


def test_movielens_refuses_other_files(tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("hello, world\n")
    with pytest.raises(InputError, match="MovieLens"):
        ingest([src], tmp_path / "lake", fmt="movielens", now=NOW)


def test_taobao_behaviours_and_properties(tmp_path: Path) -> None:
    src = tmp_path / "UserBehavior.csv"
    src.write_text("1,2268318,2520377,pv,1511544070\n1,2333346,2520771,cart,1511561733\n"
                   "1,2576651,149192,fav,1511572885\n2,3745169,2891509,buy,1511725471\n"
                   "3,1,2,share,1511725471\n")
    report = ingest([src], tmp_path / "lake", now=NOW)
    rows = {r["item_id"]: r for r in read_events(tmp_path / "lake").to_pylist()}
    assert report.sources[0].format == "taobao" and report.rows_written == 5
    assert [rows[i]["event_type"] for i in ("2268318", "2333346", "2576651", "3745169", "1")] == \
        ["view", "add_to_cart", "favorite", "purchase", "share"]
    assert json.loads(rows["2333346"]["properties"]) == {"behavior": "cart", "category": "2520771"}
    assert rows["2268318"]["ts"] == datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC)


def test_amazon_sequences_keep_order_with_synthetic_ts(tmp_path: Path) -> None:
    src = tmp_path / "Beauty.txt"
    src.write_text("1 5 3 9\n2 7\n3\n")
    report = ingest([src], tmp_path / "lake", now=NOW)
    assert report.sources[0].format == "amazon-seq" and report.synthetic_ts
    assert (report.rows_written, report.reasons) == (4, {"amazon_seq_no_items": 1})
    assert any("synthetic" in n for n in report.notes)
    rows = sorted((r for r in read_events(tmp_path / "lake").to_pylist() if r["user_id"] == "1"),
                  key=lambda r: r["ts"])
    assert [r["item_id"] for r in rows] == ["5", "3", "9"]
    assert all(json.loads(r["properties"])["synthetic_ts"] is True for r in rows)


# ------------------------------------------------------------------ the real files


def test_real_movielens_100k(shared_data: Callable[[str], Path], tmp_path: Path) -> None:
    path = shared_data("movielens-100k/u.data")
    report = ingest([path], tmp_path / "lake", now=NOW)
    assert (report.rows_read, report.rows_written, report.rows_quarantined) == (100_000, 100_000, 0)
    t = read_events(tmp_path / "lake")
    assert pc.count_distinct(t["user_id"]).as_py() == 943 and pc.count_distinct(t["item_id"]).as_py() == 1682
    again = ingest([path], tmp_path / "lake", now=NOW)
    assert (again.rows_written, again.duplicates) == (0, 100_000)


def test_real_movielens_1m_partial_gz(shared_data: Callable[[str], Path]) -> None:
    path = shared_data("movielens-1m-partial/ratings_users1-2999.dat.gz")
    (source,) = resolve([path], "auto", {}, None)
    source.block_bytes = 1 << 16
    chunk = next(iter(source.read()))
    assert source.fmt == "movielens" and chunk.n > 1000 and not chunk.rejects
    assert chunk.columns["user_id"][0].as_py() == "1" and chunk.columns["item_id"][0].as_py() == "1193"


def test_real_taobao_head(shared_data: Callable[[str], Path], tmp_path: Path) -> None:
    path = shared_data("taobao-userbehavior-head/UserBehavior_head.csv")
    report = ingest([path], tmp_path / "lake", now=NOW)
    assert (report.rows_read, report.rows_written) == (84_287, 84_287)
    counts = dict(zip(*read_events(tmp_path / "lake", columns=["event_type"])["event_type"]
                      .value_counts().flatten(), strict=True))
    counts = {k.as_py(): v.as_py() for k, v in counts.items()}
    assert counts == {"view": 75_693, "add_to_cart": 4_494, "favorite": 2_351, "purchase": 1_749}


def test_real_amazon_beauty_head(shared_data: Callable[[str], Path]) -> None:
    path = shared_data("amazon-s3rec-sequences/Beauty.txt")
    (source,) = resolve([path], "auto", {}, None)
    assert isinstance(source, Source) and source.fmt == "amazon-seq"
    source.block_bytes = 1 << 14
    chunk = next(iter(source.read()))
    users = chunk.columns["user_id"].to_pylist()
    assert users[0] == "1" and chunk.n > 100 and source.synthetic_ts
    first_line = path.read_text().splitlines()[0].split()
    assert chunk.columns["item_id"].to_pylist()[: len(first_line) - 1] == first_line[1:]
