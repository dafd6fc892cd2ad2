"""A small lake for the catalogue tests: items i0..i39 of the service tests' registry (four categories, prices
1..40, created over past years) plus one fresh item nobody has seen, and events in which i5 surges lately."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recsys.catalog import load_catalog
from recsys.ingest import ingest

N_ITEMS = 40
FRESH = "new1"
SURGING = "i5"
END = datetime(2026, 1, 31, tzinfo=UTC)


def category_of(n: int) -> str:
    return f"c{n % 4}"


def build_lake(root: Path) -> Path:
    lake = root / "lake"
    rows = [{"item_id": f"i{n}", "title": f"Thing {n}", "categories": [category_of(n)], "price": float(n + 1),
             "created_at": (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=30 * n)).isoformat()}
            for n in range(N_ITEMS)]
    rows.append({"item_id": FRESH, "title": "Brand new thing", "categories": ["c1", "c3"], "price": 5.0,
                 "created_at": datetime.now(UTC).isoformat()})
    src = root / "items.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    load_catalog(src, lake)
    events = []
    for day in range(28):
        ts = END - timedelta(days=day, hours=1)
        for n in range(N_ITEMS):
            events.append({"user_id": f"u{(n + day) % 50}", "item_id": f"i{n}", "event_type": "view",
                           "ts": ts.isoformat()})
        if day < 7:
            events += [{"user_id": f"v{j}", "item_id": SURGING, "event_type": "view",
                        "ts": (ts - timedelta(minutes=j)).isoformat()} for j in range(30)]
    log = root / "events.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    ingest([log], lake, now=END + timedelta(days=1))
    return lake
