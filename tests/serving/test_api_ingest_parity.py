"""One rule set for both doors: every event POST /events answered 202 is kept by ingesting the landing folder."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from support.service import client_of, settings_for

from recsys.ingest.pipeline import ingest
from serving.app import create_app

NOW = datetime.now(UTC)
IDS = ["u", "U" * 256, "u" * 257, "\u00e9" * 128, "\u00e9" * 129, "\u2603" * 85, "\u2603" * 86, "\U0001f600" * 64,
       "\U0001f600" * 65, " padded ", "\u3000wide space\u3000", "\u200bzero width", "tab\tinside", "x\u0085",
       "\u00a0", "line\nbreak", "\x00nul", "quote\"and\\slash", 12345, 0, -7]
TIMES = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T01:00:00+01:00", "2026-01-01",
         "1990-01-01T00:00:00Z", "1989-12-31T23:59:59Z", (NOW + timedelta(hours=23)).isoformat(),
         (NOW + timedelta(hours=25)).isoformat(), 1_700_000_000, 1_700_000_000_000, 1.7e9, "1700000000", -1,
         "2026-02-30T00:00:00Z", "2026-01-01T00:00:00.123456789Z", "20260101T000000Z"]
TYPES = ["view", "VIEW", "Add_To_Cart", "e" * 64, "e" * 65, "\u00c9" * 32, "\u00c9" * 33, " ", "purchase"]
VALUES = [None, 0, -0.0, 1, 9.5, 1e308, -1e-308, 2**53 + 1, "3.5", True]
PROPS = [None, {}, {"a": None, "b": [1, None, {"c": None}]}, {"category": "c1"}, {"k": "x" * 65_000},
         {"k": "x" * 66_000}, {"\u2603": "\U0001f600" * 1000}, {"n": 1.5, "deep": {"er": {"est": [[[]]]}}}]


def edge_events(n: int = 240, seed: int = 5) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        e: dict[str, object] = {"user_id": rng.choice(IDS), "item_id": rng.choice(IDS),
                                "event_type": rng.choice(TYPES), "ts": rng.choice(TIMES)}
        for name, pool in (("value", VALUES), ("properties", PROPS), ("session_id", [*IDS, "", None]),
                           ("event_id", [*IDS, None, f"e{i}"])):
            if rng.random() < 0.4:
                e[name] = rng.choice(pool)
        out.append(e)
    return out


def test_every_accepted_event_is_kept_by_ingestion(registry, tmp_path):
    settings = settings_for(registry)
    accepted = refused = 0
    with client_of(create_app(settings)) as client:
        for e in edge_events():
            r = client.post("/events", json=[e])
            assert r.status_code in (202, 422), r.text
            if r.status_code == 202:
                accepted += 1
            else:
                refused += 1
                assert r.json()["detail"]
    assert accepted > 40 and refused > 40  # the corpus sits on both sides of the rules
    report = ingest([settings.landing_folder], tmp_path / "lake")
    assert report.rows_quarantined == 0, report.reasons
    assert report.rows_read == accepted and report.rows_written + report.duplicates == accepted
