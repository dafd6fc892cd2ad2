"""Identity stitching: the identity map in LAKE/identities/ is idempotent and order-independent, and training,
features and analytics read events through it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feature_store.sql import lake_connection
from recsys.dataset import build_dataset
from recsys.errors import InputError
from recsys.identity import add_links, ids_of, lake_resolution, link_files, read_links, remove_ids
from recsys.ingest import ingest

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LINKS = [("anon-1", "alice"), ("dev-9", "anon-1"), ("shared", "alice"), ("shared", "bob")]


def test_resolution_follows_chains_and_leaves_ambiguous_aliases(tmp_path: Path) -> None:
    add_links(tmp_path, LINKS)
    assert lake_resolution(tmp_path) == {"anon-1": "alice", "dev-9": "alice"}  # a shared device stays itself
    assert ids_of(tmp_path, "alice") == {"alice", "anon-1", "dev-9"}
    assert ids_of(tmp_path, "dev-9") == {"alice", "anon-1", "dev-9"}


def test_idempotent_and_order_independent(tmp_path: Path) -> None:
    results = []
    for k, order in enumerate(itertools.permutations(LINKS)):
        lake = tmp_path / f"l{k}"
        for a, u in order:  # one write per link, in every order, each written twice
            add_links(lake, [(a, u)])
            add_links(lake, [(a, u)])
        results.append(lake_resolution(lake))
    assert all(r == results[0] for r in results)
    once = tmp_path / "once"
    add_links(once, LINKS)
    add_links(once, list(reversed(LINKS)))
    assert len(link_files(once)) == 1 and read_links(once).num_rows == 4
    with pytest.raises(InputError, match="itself"):
        add_links(once, [("x", "x")])


def test_removing_links_rewrites_files_and_allows_relinking(tmp_path: Path) -> None:
    add_links(tmp_path, LINKS)
    assert remove_ids(tmp_path, {"alice", "anon-1", "dev-9"}) == 3
    assert lake_resolution(tmp_path) == {"shared": "bob"}
    add_links(tmp_path, LINKS)  # the same links again are not mistaken for the rewritten file
    assert lake_resolution(tmp_path) == {"anon-1": "alice", "dev-9": "alice"}


def _lake(tmp_path: Path) -> Path:
    src = tmp_path / "e.jsonl"
    src.write_text("".join(
        f'{{"user_id": "{u}", "item_id": "{i}", "event_type": "view", "ts": "2026-01-0{d}T10:00:00Z"}}\n'
        for u, i, d in [("anon-1", "p1", 1), ("anon-1", "p2", 1), ("alice", "p3", 2), ("bob", "p1", 2)]))
    ingest([src], tmp_path / "lake", now=NOW)
    return tmp_path / "lake"


def test_stitching_changes_the_training_matrix(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    before = build_dataset(lake)
    assert sorted(before.users.ids.tolist()) == ["alice", "anon-1", "bob"]
    add_links(lake, [("anon-1", "alice")])
    after = build_dataset(lake)
    assert sorted(after.users.ids.tolist()) == ["alice", "bob"]
    alice = after.users.ids.tolist().index("alice")
    items = after.items.ids.tolist()
    assert sorted(items[i] for i in after.matrix[alice].indices) == ["p1", "p2", "p3"]  # history before sign-in
    assert [items[i] for i in after.sequences[alice]] == ["p1", "p2", "p3"]  # in time order
    assert after.matrix.sum() == before.matrix.sum()


def test_features_and_analytics_see_resolved_ids(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    add_links(lake, [("anon-1", "alice")])
    con = lake_connection(lake)
    try:
        rows = con.execute("SELECT user_id, count(*) FROM events GROUP BY 1 ORDER BY 1").fetchall()
    finally:
        con.close()
    assert rows == [("alice", 3), ("bob", 1)]


def test_adapter_links_stitch_at_training(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "ingest" / "fixtures" / "vendors"
    ingest([fixtures / "segment.jsonl"], tmp_path / "lake", fmt="segment", now=NOW)
    users = build_dataset(tmp_path / "lake").users.ids.tolist()
    assert "anon-1" not in users and "cust-1" in users
