"""A corpus of malformed rows, each with the reason code it must be quarantined with; good rows around them pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from recsys.ingest import REASONS, ingest

NOW = datetime(2026, 3, 10, tzinfo=UTC)
OK = {"event_id": "x", "user_id": "u1", "item_id": "i1", "event_type": "view", "ts": "2026-03-02T10:00:00Z"}


def variant(**kw: object) -> bytes:
    row = dict(OK)
    for k, v in kw.items():
        if v is KeyError:
            row.pop(k)
        else:
            row[k] = v
    return json.dumps(row).encode()


JSONL_CORPUS: list[tuple[str, bytes, str]] = [
    ("garbage", b"{{{", "malformed_json"),
    ("truncated object", b'{"user_id": "u1", "item_', "malformed_json"),
    ("missing closing brace", variant()[:-1], "malformed_json"),
    ("plain text", b"user=u1 item=i1", "malformed_json"),
    ("json array", b"[1, 2, 3]", "not_an_object"),
    ("json string", b'"hello"', "not_an_object"),
    ("json number", b"42", "not_an_object"),
    ("json null", b"null", "not_an_object"),
    ("non-utf8 bytes", b'{"user_id": "u\xff\xfe", "item_id": "i1", "event_type": "view", "ts": "2026-03-02"}',
     "non_utf8"),
    ("latin-1 text", "{\"user_id\": \"caf\u00e9\"}".encode("latin-1"), "non_utf8"),
    ("no user_id", variant(user_id=KeyError), "missing_user_id"),
    ("no item_id", variant(item_id=KeyError), "missing_item_id"),
    ("no event_type", variant(event_type=KeyError), "missing_event_type"),
    ("no ts", variant(ts=KeyError), "missing_ts"),
    ("null user_id", variant(user_id=None), "missing_user_id"),
    ("null item_id", variant(item_id=None), "missing_item_id"),
    ("null ts", variant(ts=None), "missing_ts"),
    ("empty user_id", variant(user_id=""), "empty_user_id"),
    ("blank item_id", variant(item_id="   "), "empty_item_id"),
    ("empty event_type", variant(event_type=""), "empty_event_type"),
    ("object item_id", variant(item_id={"a": 1}), "bad_type_item_id"),
    ("list item_id", variant(item_id=[1, 2]), "bad_type_item_id"),
    ("boolean user_id", variant(user_id=True), "bad_type_user_id"),
    ("float user_id", variant(user_id=1.5), "bad_type_user_id"),
    ("object event_id", variant(event_id={"id": 1}), "bad_type_event_id"),
    ("list session_id", variant(session_id=["s"]), "bad_type_session_id"),
    ("huge user_id", variant(user_id="u" * 20_000), "user_id_too_long"),
    ("long event_type", variant(event_type="v" * 100), "event_type_too_long"),
    ("long event_id", variant(event_id="e" * 300), "event_id_too_long"),
    ("long session_id", variant(session_id="s" * 300), "session_id_too_long"),
    ("words for ts", variant(ts="yesterday"), "bad_ts"),
    ("impossible date", variant(ts="2026-13-45T99:00:00Z"), "bad_ts"),
    ("boolean ts", variant(ts=True), "bad_type_ts"),
    ("object ts", variant(ts={"s": 1}), "bad_type_ts"),
    ("epoch 1970", variant(ts="1970-01-01T00:00:00Z"), "ts_too_old"),
    ("numeric epoch zero", variant(ts=0), "ts_too_old"),
    ("year 2100", variant(ts="2100-01-01T00:00:00Z"), "ts_in_future"),
    ("two days ahead", variant(ts="2026-03-12T00:00:01Z"), "ts_in_future"),
    ("text value", variant(value="abc"), "bad_value"),
    ("boolean value", variant(value=False), "bad_type_value"),
    ("list value", variant(value=[1]), "bad_type_value"),
    ("NaN value", variant(value=1.0).replace(b"1.0", b"NaN"), "value_not_finite"),
    ("Infinity value", variant(value=1.0).replace(b"1.0", b"-Infinity"), "value_not_finite"),
    ("properties not an object", variant(properties="just text"), "bad_properties"),
    ("properties a list", variant(properties=[1, 2]), "bad_type_properties"),
    ("over-long line", b'{"user_id": "' + b"x" * (1 << 20) + b'"}', "line_too_long"),
]


@pytest.fixture(scope="module")
def quarantined(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[int, str]]:
    """Ingest the corpus once, every bad line between good ones; returns the summary and row -> reason."""
    tmp = tmp_path_factory.mktemp("bad")
    lines = []
    for k, (_, line, _) in enumerate(JSONL_CORPUS):
        lines.append(json.dumps(dict(OK, event_id=f"good{k}")).encode())
        lines.append(line)
    src = tmp / "corpus.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest([src], tmp / "lake", now=NOW).to_dict()
    q = ds.dataset(tmp / "lake" / "quarantine", format="parquet", partitioning="hive").to_table().to_pylist()
    return report, {r["row"]: r["reason"] for r in q}


def test_corpus_is_large_and_every_reason_is_documented() -> None:
    assert len(JSONL_CORPUS) >= 25
    documented = {k.replace("<field>", f) for k in REASONS for f in
                  ("user_id", "item_id", "event_type", "event_id", "session_id", "ts", "value", "properties")}
    assert {reason for _, _, reason in JSONL_CORPUS} <= documented


@pytest.mark.parametrize("k", range(len(JSONL_CORPUS)), ids=[name for name, _, _ in JSONL_CORPUS])
def test_each_malformed_row_gets_its_reason(quarantined: tuple[dict, dict[int, str]], k: int) -> None:
    _, reasons = quarantined
    name, _, expected = JSONL_CORPUS[k]
    assert reasons.get(2 * k + 2) == expected, name


def test_good_rows_around_bad_ones_all_land(quarantined: tuple[dict, dict[int, str]]) -> None:
    report, reasons = quarantined
    n = len(JSONL_CORPUS)
    assert (report["rows_read"], report["rows_written"], report["rows_quarantined"], report["duplicates"]) == \
        (2 * n, n, n, 0)
    assert sorted(reasons) == [2 * k + 2 for k in range(n)]


CSV_CORPUS: list[tuple[str, str, str]] = [
    ("too few fields", "e1,u1,i1", "csv_column_count"),
    ("too many fields", "e2,u1,i1,view,2026-03-02T10:00:00Z,9,extra", "csv_column_count"),
    ("empty user", "e3,,i1,view,2026-03-02T10:00:00Z,", "missing_user_id"),
    ("blank item", "e4,u1,  ,view,2026-03-02T10:00:00Z,", "empty_item_id"),
    ("bad ts", "e5,u1,i1,view,32/13/2026,", "bad_ts"),
    ("bad value", "e6,u1,i1,purchase,2026-03-02T10:00:00Z,ten", "bad_value"),
    ("nan value", "e7,u1,i1,purchase,2026-03-02T10:00:00Z,nan", "value_not_finite"),
    ("ancient epoch", "e8,u1,i1,view,86400,", "ts_too_old"),
]


def test_csv_corpus(tmp_path: Path) -> None:
    header = "event_id,user_id,item_id,event_type,ts,value"
    good = "g{},u1,i1,view,2026-03-02T10:00:00Z,"
    lines = [header]
    for k, (_, line, _) in enumerate(CSV_CORPUS):
        lines += [good.format(k), line]
    body = "\n".join(lines).encode() + b"\n" + b"e9,u\xff,i1,view,2026-03-02T10:00:00Z,\n"
    src = tmp_path / "bad.csv"
    src.write_bytes(body)
    report = ingest([src], tmp_path / "lake", fmt="csv", now=NOW)
    expected: dict[str, int] = {}
    for _, _, reason in CSV_CORPUS:
        expected[reason] = expected.get(reason, 0) + 1
    expected["non_utf8"] = 1
    assert report.reasons == expected
    assert (report.rows_read, report.rows_written) == (2 * len(CSV_CORPUS) + 1, len(CSV_CORPUS))
    raws = ds.dataset(tmp_path / "lake" / "quarantine", format="parquet", partitioning="hive").to_table()
    assert "e1,u1,i1" in raws["raw"].to_pylist()
