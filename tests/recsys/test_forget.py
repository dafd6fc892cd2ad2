"""Erasure: a person's rows leave every dataset of the lake (events, impressions), their identity links and the
landing folder; files are rewritten whole; the manifest conserves rows and holds no personal data; re-running is
harmless."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_store.online import open_online_store
from feature_store.online.erasure import forget_everywhere
from recsys.errors import InputError
from recsys.forget import forget_user, registry_erasures, subject_hash
from recsys.identity import add_links, lake_resolution
from recsys.ingest import ingest

NOW = datetime(2026, 3, 1, tzinfo=UTC)
USERS = [("alice", 3), ("anon-1", 2), ("bob", 2)]


def _lake(tmp_path: Path) -> Path:
    lines = []
    for user, n in USERS:
        for k in range(n):
            lines.append(json.dumps({"user_id": user, "item_id": f"p{k}", "event_type": "view",
                                     "ts": f"2026-01-0{k + 1}T10:00:00Z"}))
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n")
    lake = tmp_path / "lake"
    ingest([tmp_path / "e.jsonl"], lake, now=NOW)
    add_links(lake, [("anon-1", "alice"), ("dev-2", "bob")])
    imp = lake / "impressions" / "dt=2026-01-01"
    imp.mkdir(parents=True)
    pq.write_table(pa.table({"request_id": ["r1", "r2", "r3"], "user_id": ["alice", "bob", "alice"],
                             "item_id": ["p1", "p2", "p3"], "position": [0, 0, 1]}), imp / "part-0.parquet")
    return lake


def _count(lake: Path, dataset: str, user: str | None = None) -> int:
    where = f"WHERE user_id = '{user}'" if user else ""
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{lake}/{dataset}/*/*.parquet') {where}").fetchall()[0][0]


def test_forget_removes_the_person_everywhere_and_only_them(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    lake = _lake(tmp_path)
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "events-1.jsonl").write_text('{"user_id": "alice", "item_id": "p9"}\n'
                                            '{"user_id": "bob", "item_id": "p9"}\n')
    caplog.set_level(logging.INFO, logger="recsys.forget")
    report = forget_user("alice", lake, tmp_path / "registry", landing=landing)
    assert _count(lake, "events", "alice") == _count(lake, "events", "anon-1") == 0  # stitched ids go too
    assert _count(lake, "events") == 2 and _count(lake, "impressions") == 1
    ev = report.datasets["events"]
    assert (ev.rows_before, ev.rows_removed, ev.rows_after) == (7, 5, 2) and report.conserved
    assert report.datasets["impressions"].rows_removed == 2
    assert report.identity_links_removed == 1 and lake_resolution(lake) == {"dev-2": "bob"}
    assert report.landing_rows_removed == 1 and "alice" not in (landing / "events-1.jsonl").read_text()
    manifest = Path(report.manifest).read_text()
    assert json.loads(manifest)["conserved"] and subject_hash("alice") in manifest
    for text in (manifest, caplog.text, *(p.read_text() for p in (tmp_path / "registry" / "_erasures").iterdir())):
        assert "alice" not in text and "anon-1" not in text  # logged and recorded without the ids themselves
    assert set(registry_erasures(tmp_path / "registry")) == {subject_hash("alice"), subject_hash("anon-1")}
    assert not list(lake.rglob(".*.tmp"))
    again = forget_user("alice", lake, tmp_path / "registry", landing=landing)
    assert again.rows_removed == 0 and again.conserved and _count(lake, "events") == 2
    with pytest.raises(InputError):
        forget_user("  ", lake)


def test_forget_clears_the_online_store_and_marks_the_registry(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    store = open_online_store(path=tmp_path / "online.sqlite")
    try:
        store.append_events([{"user_id": u, "item_id": "p1", "ts": 1} for u in ("alice", "anon-1", "bob")])
        store.put_features("user", {"alice": {"n": 1}})
        report = forget_everywhere("alice", lake, tmp_path / "registry", store)
        assert store.recent_items(["alice", "anon-1", "bob"]) == {"alice": [], "anon-1": [], "bob": ["p1"]}
        assert store.get_features("user", ["alice"]) == {}
        assert registry_erasures(tmp_path / "registry")[subject_hash("alice")] == report.erased_at
    finally:
        store.close()


def test_cli_forget_keeps_everyone_else(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    cmd = [sys.executable, "-c", "from recsys.cli import main; main()", "forget", "--user", "bob", "--lake",
           str(lake), "--registry", str(tmp_path / "registry"), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    assert summary["rows_removed"] == 3 and summary["conserved"]  # 2 events + 1 impression
    assert _count(lake, "events", "bob") == 0 and _count(lake, "events") == 5
    bad = subprocess.run([*cmd[:5], "", "--lake", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_forget_drops_quarantined_rows_that_name_the_person(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"user_id": "alice", "item_id": "p1", "event_type": "view", "ts": "soon"}\n'
                                        '{"user_id": "bob", "item_id": "p1", "event_type": "view", "ts": "soon"}\n')
    (tmp_path / "bad.csv").write_text("user_id,item_id,event_type,ts\nalice,p1,view,never\nbob,p2,view,never\n")
    lake = tmp_path / "lake"
    ingest([tmp_path / "bad.jsonl", tmp_path / "bad.csv"], lake, now=NOW)
    report = forget_user("alice", lake)
    q = report.datasets["quarantine"]
    assert (q.rows_before, q.rows_removed, q.rows_after) == (4, 2, 2)
    raws = duckdb.sql(f"SELECT raw FROM read_parquet('{lake}/quarantine/*/*.parquet')").fetchall()
    assert all("alice" not in r for (r,) in raws) and len(raws) == 2
