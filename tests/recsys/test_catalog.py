"""The item catalogue: loading, re-loading, quarantine, conservation, adapters, history and merging of changes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recsys.catalog import ITEM_SCHEMA, apply_changes, load_catalog, read_history, read_items, read_quarantine
from recsys.catalog.validate import normalize
from recsys.errors import InputError
from recsys.generate import generate_events

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
T1 = datetime(2026, 3, 1, tzinfo=UTC)
T2 = datetime(2026, 3, 5, tzinfo=UTC)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


GOOD = [
    {"item_id": "a", "title": "Red Lamp", "categories": ["home", "light"], "price": 19.5, "available": True,
     "created_at": "2026-02-01T00:00:00Z", "properties": {"brand": "Lumo"}},
    {"item_id": "b", "title": "Blue Mug", "category": "kitchen", "price": "4.25"},
    {"item_id": 7, "title": "Numbered", "categories": "x|y", "colour": "green"},
]
BAD = [
    {"title": "no id"},
    {"item_id": "c", "price": -3},
    {"item_id": "d", "price": "cheap"},
    {"item_id": "e", "available": "maybe"},
    {"item_id": "f", "created_at": "last tuesday"},
    {"item_id": "g", "properties": [1, 2]},
    {"item_id": "h", "categories": {"a": 1}},
    "{not json",
]


def test_load_writes_the_canonical_schema_and_quarantines_bad_rows(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "items.jsonl", [*GOOD, *BAD, {"item_id": "b", "title": "Blue Mug v2"}])
    report = load_catalog(src, tmp_path / "lake", as_of=T1)
    assert report.conserved
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined, report.duplicates) == (12, 3, 8, 1)
    assert report.reasons == {"missing_item_id": 1, "bad_price": 2, "bad_available": 1, "bad_created_at": 1,
                              "bad_properties": 1, "bad_categories": 1, "unparseable": 1}
    table = read_items(tmp_path / "lake")
    assert table.schema == ITEM_SCHEMA
    rows = {r["item_id"]: r for r in table.to_pylist()}
    assert set(rows) == {"a", "b", "7"}
    assert rows["a"]["categories"] == ["home", "light"] and rows["a"]["price"] == 19.5
    assert rows["a"]["created_at"] == datetime(2026, 2, 1, tzinfo=UTC)
    assert rows["b"] == {"item_id": "b", "title": "Blue Mug v2", "categories": ["kitchen"], "price": 4.25,
                         "available": True, "created_at": None, "properties": "{}"}  # the later row wins
    assert rows["7"]["categories"] == ["x", "y"] and json.loads(rows["7"]["properties"]) == {"colour": "green"}
    quarantined = read_quarantine(tmp_path / "lake")
    assert quarantined.num_rows == 8 and set(quarantined["reason"].to_pylist()) == set(report.reasons)
    manifest = json.loads(Path(report.manifest).read_text())
    assert manifest["conserved"] and manifest["inserted"] == 3


def test_reloading_the_same_file_changes_nothing(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "items.jsonl", [*GOOD, *BAD])
    load_catalog(src, tmp_path / "lake", as_of=T1)
    current = tmp_path / "lake" / "items" / "items.parquet"
    before = (current.stat().st_mtime_ns, pq.read_table(current))
    again = load_catalog(src, tmp_path / "lake", as_of=T2)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3) and again.conserved
    assert current.stat().st_mtime_ns == before[0] and pq.read_table(current).equals(before[1])
    assert read_history(tmp_path / "lake").num_rows == 3
    assert read_quarantine(tmp_path / "lake").num_rows == len(BAD)  # replaced, not appended


def test_history_answers_what_the_catalogue_was_on_a_day(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load_catalog(write_jsonl(tmp_path / "v1.jsonl", GOOD), lake, as_of=T1)
    v2 = [{"item_id": "a", "price": 25.0}, {"item_id": "z", "title": "New", "created_at": "2026-03-04"}]
    report = load_catalog(write_jsonl(tmp_path / "v2.jsonl", v2), lake, as_of=T2)
    assert (report.inserted, report.updated) == (1, 1)

    def price_of(table, item):
        return {r["item_id"]: r["price"] for r in table.to_pylist()}.get(item)

    assert price_of(read_items(lake), "a") == 25.0
    assert price_of(read_items(lake, datetime(2026, 3, 3, tzinfo=UTC)), "a") == 19.5
    on_day = {r["item_id"] for r in read_items(lake, datetime(2026, 3, 3, tzinfo=UTC)).to_pylist()}
    assert on_day == {"a", "b", "7"}  # z did not exist yet
    assert {r["item_id"] for r in read_items(lake, datetime(2026, 1, 1, tzinfo=UTC)).to_pylist()} == {"b", "7"}
    current = {r["item_id"]: r for r in read_items(lake).to_pylist()}
    assert current["a"]["title"] == "Red Lamp"  # a field the new file did not carry keeps its value
    with pytest.raises(InputError, match="time zone"):
        read_items(lake, datetime(2026, 3, 3))


def test_changes_merge_or_replace(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load_catalog(write_jsonl(tmp_path / "v1.jsonl", GOOD), lake, as_of=T1)
    stats, (row,) = apply_changes(lake, [normalize({"item_id": "a", "available": False})], T2)
    assert stats.updated == 1 and row["available"] is False and row["title"] == "Red Lamp"
    _, (row,) = apply_changes(lake, [normalize({"item_id": "a", "title": "Lamp"})], T2, replace=True)
    assert row["title"] == "Lamp" and row["categories"] == [] and row["available"] is True
    assert read_history(lake).num_rows == 5


def test_a_load_without_availability_keeps_a_hidden_item_hidden(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    src = write_jsonl(tmp_path / "v1.jsonl", [{"item_id": "a", "title": "Red Lamp"}])
    load_catalog(src, lake, as_of=T1)
    apply_changes(lake, [normalize({"item_id": "a", "available": False})], T1)
    assert load_catalog(src, lake, as_of=T2).unchanged == 1
    assert read_items(lake).to_pylist()[0]["available"] is False


def test_csv_with_a_column_map_and_the_generator_items(tmp_path: Path) -> None:
    src = tmp_path / "shop.csv"
    src.write_text("sku,name,cost,in_stock\nA1,Kettle,30,yes\nA2,Scarf,,no\n")
    report = load_catalog(src, tmp_path / "lake", mapping={"item_id": "sku", "title": "name", "price": "cost",
                                                           "available": "in_stock"})
    rows = {r["item_id"]: r for r in read_items(tmp_path / "lake").to_pylist()}
    assert report.inserted == 2 and rows["A1"]["price"] == 30.0 and rows["A2"]["available"] is False

    out = tmp_path / "gen"
    generate_events(out, users=20, items=30, days=1, seed=1)
    report = load_catalog(out / "items.csv", tmp_path / "lake2")
    items = read_items(tmp_path / "lake2").to_pylist()
    assert report.inserted == 30 and report.rows_quarantined == 0
    assert all(len(r["categories"]) == 1 and r["categories"][0].startswith("c") and r["price"] > 0 for r in items)


def test_unknown_format_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_catalog(tmp_path / "nope.csv", tmp_path / "lake")
    (tmp_path / "items.xml").write_text("<x/>")
    with pytest.raises(InputError, match="--format"):
        load_catalog(tmp_path / "items.xml", tmp_path / "lake")
    with pytest.raises(InputError, match="no catalogue"):
        read_items(tmp_path / "lake")


def test_movies_csv_adapter(tmp_path: Path) -> None:
    src = tmp_path / "movies.csv"
    src.write_text('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,"Heat, The (1995)",'
                   '(no genres listed)\n3,broken\n')
    report = load_catalog(src, tmp_path / "lake")
    rows = {r["item_id"]: r for r in read_items(tmp_path / "lake").to_pylist()}
    assert report.rows_quarantined == 1 and report.reasons == {"unparseable": 1}
    assert rows["1"]["categories"] == ["Adventure", "Animation"]
    assert rows["1"]["created_at"] == datetime(1995, 1, 1, tzinfo=UTC) and rows["2"]["categories"] == []


needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data sets not found at {DATA}")


@needs_data
@pytest.mark.parametrize(("path", "n_items", "item", "categories", "year"), [
    ("movielens-100k/u.item", 1682, "1", ["Animation", "Children's", "Comedy"], 1995),
    ("movielens-1m-partial/movies.dat", 3883, "2", ["Adventure", "Children's", "Fantasy"], 1995),
])
def test_movielens_adapters(tmp_path: Path, path: str, n_items: int, item: str, categories: list[str],
                            year: int) -> None:
    report = load_catalog(DATA / path, tmp_path / "lake", fmt="movielens-items")
    assert report.inserted == n_items and report.conserved and report.rows_quarantined == 0
    row = next(r for r in read_items(tmp_path / "lake").to_pylist() if r["item_id"] == item)
    assert row["categories"] == categories and row["created_at"].year == year


@needs_data
def test_taobao_category_column(tmp_path: Path) -> None:
    src = tmp_path / "UserBehavior.csv"
    lines = (DATA / "taobao-userbehavior-head" / "UserBehavior_head.csv").read_text().splitlines()[:2000]
    src.write_text("\n".join(lines) + "\n")
    report = load_catalog(src, tmp_path / "lake")
    assert report.format == "taobao" and report.conserved and report.duplicates > 0
    expected = {}
    for line in lines:
        _, item, cat, _, _ = line.split(",")
        expected[item] = cat
    got = {r["item_id"]: r["categories"] for r in read_items(tmp_path / "lake").to_pylist()}
    assert len(got) == len(expected) and all(got[i] == [expected[i]] for i in list(expected)[:200])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from recsys.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_load_show_and_errors(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "items.jsonl", [*GOOD, *BAD])
    res = _cli("catalog", "load", str(src), "--lake", str(tmp_path / "lake"), "--json", "--as-of", "2026-03-01")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["conserved"] and summary["inserted"] == 3 and summary["rows_quarantined"] == len(BAD)
    shown = _cli("catalog", "show", "--lake", str(tmp_path / "lake"), "--item", "a")
    assert shown.returncode == 0 and json.loads(shown.stdout)["categories"] == ["home", "light"]
    for args in (["load", str(tmp_path / "nope.csv"), "--lake", str(tmp_path / "lake")],
                 ["load", str(src), "--lake", str(tmp_path / "lake"), "--map", "item_id"],
                 ["load", str(src), "--lake", str(tmp_path / "lake"), "--as-of", "yesterday"],
                 ["show", "--lake", str(tmp_path / "empty")]):
        bad = _cli("catalog", *args)
        assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)
