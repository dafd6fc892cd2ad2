"""`simulate`: simulated users play against a running recommendation service over real HTTP.

Each request picks a user (uniformly among the first `users` of the ground truth), asks for recommendations,
reacts (`recsys.simulate.behaviour`) and posts the resulting click, add_to_cart and purchase events with the
answer's `request_id` and the item's position. Only loopback services are accepted, the run is bounded in requests
and seconds, and the same seed against the same service state gives the same actions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np

from recsys.errors import InputError
from recsys.simulate.behaviour import Behaviour, Reaction, item_index, react
from recsys.simulate.truth import Truth, load_truth

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_REQUESTS = 1_000_000


@dataclass
class SimulationReport:
    service: str
    users: int
    requests: int = 0
    clicks: int = 0
    purchases: int = 0
    revenue: float = 0.0
    errors: int = 0
    seconds: float = 0.0
    seed: int = 0
    by_arm: dict[str, dict[str, int]] = field(default_factory=dict)
    stopped_early: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_loopback(url: str) -> str:
    """`url` without a trailing slash, when it points at this machine; InputError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK:
        raise InputError(f"--service must be a loopback URL (http://127.0.0.1:PORT or http://localhost:PORT), got "
                         f"{url!r}: the simulator only plays against a service on this machine")
    return url.rstrip("/")


def _events(user_id: str, items: list[str], request_id: str, reaction: Reaction, truth: Truth) -> list[dict]:
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    out = []
    for kind, positions in (("click", reaction.clicked), ("add_to_cart", reaction.carted),
                            ("purchase", reaction.bought)):
        for p in positions:
            item = items[p - 1]
            value = float(truth.price[item_index(item, truth.n_items)]) if kind == "purchase" else None
            out.append({"user_id": user_id, "item_id": item, "event_type": kind, "ts": ts, "value": value,
                        "request_id": request_id, "position": p})
    return out


def simulate(service: str, truth_dir: Path, *, users: int, requests: int, seed: int = 0, k: int = 10,
             max_seconds: float = 600.0, behaviour: Behaviour | None = None) -> SimulationReport:
    """Play `requests` recommendation requests of `users` simulated users against `service`."""
    import httpx

    base = check_loopback(service)
    truth = load_truth(truth_dir)
    if not 1 <= users <= truth.n_users:
        raise InputError(f"--users must be between 1 and {truth.n_users} (the users the ground truth knows)")
    if not 1 <= requests <= MAX_REQUESTS:
        raise InputError(f"--requests must be between 1 and {MAX_REQUESTS}")
    behaviour = behaviour or Behaviour()
    rng = np.random.default_rng(seed)
    last = truth.last_item.copy()
    report = SimulationReport(service=base, users=users, seed=seed)
    t0 = time.monotonic()
    with httpx.Client(base_url=base, timeout=30.0, trust_env=False) as http:
        for _ in range(requests):
            if time.monotonic() - t0 > max_seconds:
                report.stopped_early = f"time limit of {max_seconds} s reached"
                break
            u = int(rng.integers(users))
            _one(http, truth, behaviour, rng, u, last, k, report)
    report.seconds = round(time.monotonic() - t0, 3)
    log.info("simulated %d requests: %d clicks, %d purchases", report.requests, report.clicks, report.purchases)
    return report


def _one(http: Any, truth: Truth, behaviour: Behaviour, rng: np.random.Generator, u: int, last: np.ndarray, k: int,
         report: SimulationReport) -> None:
    user_id = f"u{u}"
    r = http.get(f"/users/{quote(user_id)}/recommendations", params={"k": k})
    if r.status_code != 200:
        report.errors += 1
        if r.status_code >= 500 and report.errors > 20:
            raise InputError(f"the service keeps failing ({r.status_code}: {r.text[:200]})")
        return
    answer = r.json()
    items = [i["item_id"] for i in answer["items"]]
    reaction = react(truth, behaviour, u, int(last[u]), items, rng)
    report.requests += 1
    arm = str(answer.get("arm"))
    tally = report.by_arm.setdefault(arm, {"requests": 0, "clicks": 0, "purchases": 0})
    tally["requests"] += 1
    tally["clicks"] += len(reaction.clicked)
    tally["purchases"] += len(reaction.bought)
    if not reaction.clicked:
        return
    events = _events(user_id, items, answer["request_id"], reaction, truth)
    posted = http.post("/events", json=events)
    if posted.status_code != 202:
        report.errors += 1
        return
    report.clicks += len(reaction.clicked)
    report.purchases += len(reaction.bought)
    report.revenue += sum(e["value"] for e in events if e["event_type"] == "purchase")
    last[u] = item_index(items[reaction.clicked[-1] - 1], truth.n_items)
