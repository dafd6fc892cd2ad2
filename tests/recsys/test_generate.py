"""The synthetic generator: deterministic, well-formed, and carrying the structure models and analytics rely on."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date
from itertools import pairwise
from pathlib import Path

import pytest

from recsys.errors import InputError
from recsys.generate import generate_events


def _rows(out: Path) -> list[dict]:
    rows = []
    for path in sorted(out.glob("events-*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("gen")
    generate_events(out, users=300, items=200, days=7, seed=3)
    return out, _rows(out)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_events(a, users=40, items=30, days=3, seed=5, malformed_rate=0.05)
    generate_events(b, users=40, items=30, days=3, seed=5, malformed_rate=0.05)
    generate_events(c, users=40, items=30, days=3, seed=6, malformed_rate=0.05)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert (a / "events-2026-01-01.jsonl").read_bytes() != (c / "events-2026-01-01.jsonl").read_bytes()


def test_daily_files_hold_canonical_events_of_their_day(generated: tuple[Path, list[dict]]) -> None:
    out, _ = generated
    files = sorted(out.glob("events-*.jsonl"))
    assert [p.name for p in files] == [f"events-2026-01-0{d}.jsonl" for d in range(1, 8)]
    for path in files:
        day = path.stem.removeprefix("events-")
        for line in path.read_text().splitlines():
            row = json.loads(line)
            assert set(row) == {"event_id", "user_id", "item_id", "event_type", "ts", "value", "session_id",
                                "properties"}
            assert row["ts"].startswith(day) and row["ts"].endswith("Z")
            assert row["event_type"] in {"view", "add_to_cart", "purchase"}
            assert row["properties"]["category"].startswith("c")
            assert (row["value"] is not None) == (row["event_type"] == "purchase")


def test_event_ids_unique_and_items_csv_matches(generated: tuple[Path, list[dict]]) -> None:
    out, rows = generated
    assert len({r["event_id"] for r in rows}) == len(rows)
    with open(out / "items.csv", newline="") as f:
        catalog = {r["item_id"]: r for r in csv.DictReader(f)}
    assert len(catalog) == 200 and set(next(iter(catalog.values()))) >= {"item_id", "category", "title"}
    for r in rows[:2000]:
        assert catalog[r["item_id"]]["category"] == r["properties"]["category"]


def test_funnel_purchases_follow_carts_in_the_same_session(generated: tuple[Path, list[dict]]) -> None:
    _, rows = generated
    types = Counter(r["event_type"] for r in rows)
    assert types["view"] > types["add_to_cart"] > types["purchase"] > 0
    carted = set()
    for r in sorted(rows, key=lambda r: r["ts"]):
        key = (r["session_id"], r["item_id"])
        if r["event_type"] == "add_to_cart":
            carted.add(key)
        elif r["event_type"] == "purchase":
            assert key in carted


def test_long_tail_returning_users_and_sequential_signal(generated: tuple[Path, list[dict]]) -> None:
    _, rows = generated
    counts = sorted(Counter(r["item_id"] for r in rows).values(), reverse=True)
    assert sum(counts[:20]) > 0.3 * sum(counts)  # top 10 % of items take a large share
    days_per_user = Counter()
    for user, days in _days_by_user(rows).items():
        days_per_user[user] = len(days)
    assert sum(1 for n in days_per_user.values() if n >= 2) > 0.3 * len(days_per_user)
    # consecutive views in a session stay in the category far more often than chance
    by_session: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["ts"]):
        if r["event_type"] == "view":
            by_session.setdefault(r["session_id"], []).append(r)
    same = total = 0
    for seq in by_session.values():
        for a, b in pairwise(seq):
            same += a["properties"]["category"] == b["properties"]["category"]
            total += 1
    assert total > 0 and same / total > 0.6


def _days_by_user(rows: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["user_id"], set()).add(r["ts"][:10])
    return out


def test_malformed_rate_mixes_in_broken_lines(tmp_path: Path) -> None:
    report = generate_events(tmp_path, users=100, items=50, days=2, seed=1, malformed_rate=0.1,
                             start=date(2025, 6, 1))
    lines = [ln for p in sorted(tmp_path.glob("events-*.jsonl")) for ln in p.read_text().splitlines()]
    assert report.malformed > 0 and len(lines) == report.events + report.malformed
    broken = 0
    for line in lines:
        try:
            row = json.loads(line)
            ok = isinstance(row, dict) and isinstance(row.get("user_id"), str) and bool(row.get("item_id")) \
                and str(row.get("ts", "")).startswith("2025-06") and not isinstance(row.get("value"), str)
        except json.JSONDecodeError:
            ok = False
        broken += not ok
    assert broken == report.malformed


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        generate_events(tmp_path, users=0)
    with pytest.raises(InputError):
        generate_events(tmp_path, malformed_rate=1.5)
