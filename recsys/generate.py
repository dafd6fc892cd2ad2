"""Synthetic e-commerce event logs, realistic enough to train and evaluate recommenders on.

The generator is a small vectorised simulation (numpy, one loop over session steps, not over events):

- items belong to categories; item popularity is long-tailed (Zipf over a random global rank);
- every user has latent tastes: a sparse Dirichlet preference over categories and an activity level;
- users join over the period (cohorts) and return on later days with a decaying probability (retention);
- a session picks a category from the user's tastes and browses it; the next item is usually a "neighbour"
  of the previous one (items of a category sit on a ring) or a popular item of the same category, sometimes
  a jump to another preferred category: this gives sequence models (SASRec) a learnable signal;
- each view may lead to add_to_cart and then purchase (a funnel), with the item's price as the purchase value.

Output: one JSON Lines file per UTC day ``events-YYYY-MM-DD.jsonl`` (sorted by time), ``items.csv``, and
``truth.npz``, the tastes and catalogue sampled from (`recsys.simulate.truth`), for simulated users.
``malformed_rate`` mixes in broken rows of many kinds, for demos of the ingestion quarantine.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from recsys.errors import InputError
from recsys.simulate.truth import Truth, write_truth

log = logging.getLogger(__name__)

MAX_SESSION_VIEWS = 24
P_NEIGHBOUR = 0.55  # next item is a ring neighbour of the previous one
P_SAME_CATEGORY = 0.30  # next item is a popular item of the same category
P_CART = 0.12  # view -> add_to_cart
P_PURCHASE = 0.35  # add_to_cart -> purchase


@dataclass
class GenerateReport:
    """What `generate_events` wrote."""

    out_dir: str
    files: list[str] = field(default_factory=list)
    """The daily event files written (events-YYYY-MM-DD.jsonl)."""
    events: int = 0
    malformed: int = 0
    """Deliberately broken rows mixed in (``malformed_rate``), for exercising ingestion's quarantine."""
    by_type: dict[str, int] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    """What was asked for: users, items, days, seed."""

    def to_dict(self) -> dict:
        return asdict(self)


def _catalog(rng: np.random.Generator, items: int, categories: int) -> dict[str, np.ndarray]:
    """Items with a category, a long-tailed popularity weight, a ring position inside the category and a price."""
    cat_weight = 1.0 / np.arange(1, categories + 1) ** 0.7
    item_cat = rng.choice(categories, size=items, p=cat_weight / cat_weight.sum())
    item_cat[:categories] = np.arange(min(categories, items))  # every category has at least one item
    popularity = 1.0 / (1.0 + rng.permutation(items)) ** 1.05  # Zipf over a random global rank
    order = np.lexsort((rng.random(items), item_cat))  # items grouped by category, random ring order inside
    cat_size = np.bincount(item_cat, minlength=categories)
    cat_start = np.concatenate([[0], np.cumsum(cat_size)[:-1]])
    pos = np.empty(items, dtype=np.int64)
    pos[order] = np.arange(items) - cat_start[item_cat[order]]
    # cumulative popularity inside each category, shifted by the category index: one searchsorted samples any category
    w = popularity[order]
    cum = np.cumsum(w)
    cat_tot_end = cum[cat_start + cat_size - 1]
    cat_tot_begin = cat_tot_end - np.bincount(item_cat, weights=popularity, minlength=categories)
    cat_of_sorted = item_cat[order]
    shifted = cat_of_sorted + (cum - cat_tot_begin[cat_of_sorted]) / (cat_tot_end - cat_tot_begin)[cat_of_sorted]
    price = np.round(np.exp(rng.normal(3.0, 0.8, items)), 2).clip(0.99, 999.0)
    return {"cat": item_cat, "order": order, "cat_size": cat_size, "cat_start": cat_start, "pos": pos,
            "shifted": shifted, "price": price, "popularity": popularity}


def _popular_in(rng: np.random.Generator, cat: dict[str, np.ndarray], cats: np.ndarray) -> np.ndarray:
    """One popularity-weighted item of each category in `cats`."""
    idx = np.searchsorted(cat["shifted"], cats + rng.random(len(cats)) * (1 - 1e-12))
    idx = np.minimum(idx, len(cat["order"]) - 1)
    return cat["order"][idx]


def _sessions(rng: np.random.Generator, users: int, days: int, categories: int) -> dict[str, np.ndarray]:
    """(user, day, start second, category) of every session: cohorts, retention and latent category tastes."""
    taste = rng.dirichlet(np.full(categories, 0.25), size=users)
    activity = rng.beta(1.2, 3.0, size=users) + 0.05
    first_day = np.minimum(rng.geometric(min(1.0, 2.5 / days), size=users) - 1, days - 1)
    first_day[: max(1, users // 3)] = 0  # a large launch cohort, then a trickle of new users
    age = np.arange(days)[None, :] - first_day[:, None]
    p_active = np.where(age == 0, 1.0, activity[:, None] * (0.35 + 0.65 * np.exp(-age / 4.0)))
    active = (age >= 0) & (rng.random((users, days)) < p_active)
    u_idx, d_idx = np.nonzero(active)
    n_sess = 1 + rng.poisson(activity[u_idx] * 1.5)
    user = np.repeat(u_idx, n_sess)
    day = np.repeat(d_idx, n_sess)
    start = rng.integers(0, 20 * 3600, size=len(user))
    cum_taste = np.cumsum(taste[user], axis=1)
    draw = rng.random(len(user))[:, None]
    category = np.minimum((cum_taste < draw).sum(axis=1), categories - 1)
    return {"user": user, "day": day, "start": start, "category": category, "taste": taste}


def _views(rng: np.random.Generator, sess: dict[str, np.ndarray], cat: dict[str, np.ndarray],
           categories: int) -> dict[str, np.ndarray]:
    """Item views of every session, one vectorised step per position in the session."""
    n = len(sess["user"])
    length = np.minimum(1 + rng.geometric(0.14, size=n), MAX_SESSION_VIEWS)
    items = np.empty((n, MAX_SESSION_VIEWS), dtype=np.int64)
    current_cat = sess["category"].copy()
    items[:, 0] = _popular_in(rng, cat, current_cat)
    taste_cum = np.cumsum(sess["taste"], axis=1)
    for step in range(1, MAX_SESSION_VIEWS):
        live = np.nonzero(length > step)[0]
        if len(live) == 0:
            items = items[:, :step]
            break
        prev = items[live, step - 1]
        move = rng.random(len(live))
        prev_cat = cat["cat"][prev]
        delta = rng.choice(np.array([-2, -1, 1, 1, 2, 3]), size=len(live))
        ring = cat["cat_start"][prev_cat] + (cat["pos"][prev] + delta) % cat["cat_size"][prev_cat]
        neighbour = cat["order"][ring]
        jump = move >= P_NEIGHBOUR + P_SAME_CATEGORY
        new_cat = prev_cat.copy()
        if jump.any():
            draw = rng.random(int(jump.sum()))[:, None]
            users = sess["user"][live[jump]]
            new_cat[jump] = np.minimum((taste_cum[users] < draw).sum(axis=1), categories - 1)
        popular = _popular_in(rng, cat, new_cat)
        items[live, step] = np.where(move < P_NEIGHBOUR, neighbour, popular)
        current_cat[live] = new_cat
    width = items.shape[1]
    mask = np.arange(width)[None, :] < length[:, None]
    session_of = np.broadcast_to(np.arange(n)[:, None], (n, width))[mask]
    gaps = np.minimum(rng.exponential(45.0, size=(n, width)) + 5.0, 600.0)
    offsets = np.cumsum(gaps, axis=1) - gaps[:, :1]
    return {"session": session_of, "item": items[mask], "offset": offsets[mask], "gap": gaps[mask]}


def _funnel(rng: np.random.Generator, views: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Views plus the add_to_cart and purchase events they lead to; type codes 0=view, 1=add_to_cart, 2=purchase."""
    n = len(views["item"])
    cart = rng.random(n) < P_CART
    buy = cart & (rng.random(n) < P_PURCHASE)
    parts = []
    for code, mask, frac in ((0, np.ones(n, dtype=bool), 0.0), (1, cart, 0.3), (2, buy, 0.6)):
        parts.append({"session": views["session"][mask], "item": views["item"][mask],
                      "offset": views["offset"][mask] + frac * views["gap"][mask],
                      "type": np.full(int(mask.sum()), code, dtype=np.int8)})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


_BROKEN_KINDS = (
    "truncated_json", "not_json", "missing_user", "missing_item", "missing_ts", "bad_ts", "ts_1970", "ts_future",
    "empty_item", "value_text", "user_object", "array_row", "empty_line_noise",
)


def _malformed_line(kind: str, good: str, rng: np.random.Generator) -> str:
    """A broken variant of a good JSON line (kinds chosen so that ingestion quarantines each of them)."""
    row = json.loads(good)
    if kind == "truncated_json":
        return good[: max(1, int(len(good) * rng.uniform(0.2, 0.9)))]
    if kind == "not_json":
        return "user=" + row["user_id"] + " item=" + row["item_id"]
    if kind == "array_row":
        return json.dumps(list(row.values()))
    if kind == "empty_line_noise":
        return "   ,,,   "
    broken = dict(row, event_id=row["event_id"] + "-bad")
    if kind == "missing_user":
        broken.pop("user_id")
    elif kind == "missing_item":
        broken.pop("item_id")
    elif kind == "missing_ts":
        broken.pop("ts")
    elif kind == "bad_ts":
        broken["ts"] = "not-a-time"
    elif kind == "ts_1970":
        broken["ts"] = "1970-01-01T00:00:00Z"
    elif kind == "ts_future":
        broken["ts"] = "2199-01-01T00:00:00Z"
    elif kind == "empty_item":
        broken["item_id"] = ""
    elif kind == "value_text":
        broken["value"] = "twelve"
    elif kind == "user_object":
        broken["user_id"] = {"id": row["user_id"]}
    return json.dumps(broken)


def _write_items(path: Path, cat: dict[str, np.ndarray], items: int) -> None:
    adjectives = np.array(["Classic", "Eco", "Pro", "Mini", "Smart", "Vintage", "Ultra", "Daily", "Soft", "Bold"])
    nouns = np.array(["Lamp", "Mug", "Sneaker", "Headphones", "Backpack", "Notebook", "Jacket", "Kettle", "Watch",
                      "Candle", "Blender", "Scarf"])
    lines = ["item_id,category,title,price"]
    for i in range(items):
        title = f"{adjectives[i % len(adjectives)]} {nouns[(i * 7 + int(cat['cat'][i])) % len(nouns)]} {i}"
        lines.append(f"i{i},c{cat['cat'][i]},{title},{cat['price'][i]:.2f}")
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


_TYPE_NAMES = ("view", "add_to_cart", "purchase")


def _columns(sess: dict[str, np.ndarray], ev: dict[str, np.ndarray], cat: dict[str, np.ndarray], start: date,
             categories: int) -> dict[str, Any]:
    """The events in time order as the columns their JSON lines are written from."""
    s = ev["session"]
    day0 = np.datetime64(start.isoformat(), "s").astype(np.int64)
    secs = day0 + sess["day"][s] * 86400 + sess["start"][s] + ev["offset"]
    ts_ms = np.round(secs * 1000).astype(np.int64)
    order = np.lexsort((ev["type"], ts_ms))
    ts_ms, item, etype, s = ts_ms[order], ev["item"][order], ev["type"][order], s[order]
    return {
        "etype": etype, "day": sess["day"][s],
        "ts": np.char.add(np.datetime_as_string(ts_ms.astype("datetime64[ms]"), unit="ms"), "Z").tolist(),
        "props": [f'{{"category": "c{c}"}}' for c in range(categories)],
        "prices": [f"{p:.2f}" for p in cat["price"]],
        "item": item.tolist(), "user": sess["user"][s].tolist(), "type": etype.tolist(), "session": s.tolist(),
        "item_cat": cat["cat"].tolist(),
    }


def _event_line(cols: dict[str, Any], k: int, seed: int) -> str:
    """The JSON line of the `k`-th event."""
    it, t = cols["item"][k], cols["type"][k]
    return (f'{{"event_id": "ev-{seed}-{k:09d}", "user_id": "u{cols["user"][k]}", "item_id": "i{it}", '
            f'"event_type": "{_TYPE_NAMES[t]}", "ts": "{cols["ts"][k]}", '
            f'"value": {cols["prices"][it] if t == 2 else "null"}, "session_id": "s{seed}-{cols["session"][k]}", '
            f'"properties": {cols["props"][cols["item_cat"][it]]}}}')


def _with_malformed(lines: list[str], rate: float, rng: np.random.Generator) -> tuple[list[str], int]:
    """`lines` with about ``rate`` of them broken copies inserted at random places, and how many were inserted."""
    n_bad = int(rng.binomial(len(lines), rate)) if rate > 0 and lines else 0
    if not n_bad:
        return lines, 0
    where = np.sort(rng.choice(len(lines) + n_bad, size=n_bad, replace=False))
    kinds = rng.integers(0, len(_BROKEN_KINDS), size=n_bad)
    sources = rng.integers(0, len(lines), size=n_bad)
    bad = [_malformed_line(_BROKEN_KINDS[k], lines[j], rng) for k, j in zip(kinds, sources, strict=True)]
    src = iter(lines)
    bad_at = dict(zip(where.tolist(), bad, strict=True))
    return [bad_at[pos] if pos in bad_at else next(src) for pos in range(len(lines) + n_bad)], n_bad


def _write_lines(path: Path, lines: list[str]) -> None:
    """One day's file, written whole through a temp file and a rename."""
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))
    tmp.replace(path)
def _write_truth(out: Path, cat: dict[str, np.ndarray], taste: np.ndarray, user: np.ndarray, item: np.ndarray,
                 etype: np.ndarray) -> None:
    """Save the tastes and catalogue the events were sampled from, with each user's last view (events time-sorted)."""
    last = np.full(len(taste), -1, dtype=np.int64)
    rev = np.flatnonzero(etype == 0)[::-1]  # views, latest first
    users, first = np.unique(user[rev], return_index=True)
    last[users] = item[rev[first]]
    write_truth(out, Truth(taste=taste.astype(np.float64), last_item=last, item_cat=cat["cat"],
                           popularity=cat["popularity"], ring_start=cat["cat_start"], ring_size=cat["cat_size"],
                           ring_pos=cat["pos"], ring_order=cat["order"], price=cat["price"], p_neighbour=P_NEIGHBOUR,
                           p_same_category=P_SAME_CATEGORY, p_cart=P_CART, p_purchase=P_PURCHASE))


def generate_events(
    out_dir: Path,
    *,
    users: int = 1000,
    items: int = 500,
    days: int = 14,
    seed: int = 0,
    start: date = date(2026, 1, 1),
    malformed_rate: float = 0.0,
    categories: int = 20,
) -> GenerateReport:
    """Write ``out_dir/events-YYYY-MM-DD.jsonl`` (one per UTC day) and ``out_dir/items.csv``; same seed, same bytes."""
    if users < 1 or items < 1 or days < 1 or categories < 1:
        raise InputError(f"users, items, days and categories must be >= 1 (got {users}, {items}, {days}, {categories})")
    if not 0.0 <= malformed_rate < 1.0:
        raise InputError(f"malformed_rate must be in [0, 1), got {malformed_rate}")
    categories = min(categories, items)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cat = _catalog(rng, items, categories)
    sess = _sessions(rng, users, days, categories)
    views = _views(rng, sess, cat, categories)
    ev = _funnel(rng, views)

    cols = _columns(sess, ev, cat, start, categories)

    report = GenerateReport(out_dir=str(out), params={"users": users, "items": items, "days": days, "seed": seed})
    report.by_type = {name: int((cols["etype"] == code).sum()) for code, name in enumerate(_TYPE_NAMES)}
    bounds = np.searchsorted(cols["day"], np.arange(days + 1))
    broken_rng = np.random.default_rng([seed, 1])
    for d in range(days):
        lo, hi = int(bounds[d]), int(bounds[d + 1])
        lines = [_event_line(cols, k, seed) for k in range(lo, hi)]
        lines, n_bad = _with_malformed(lines, malformed_rate, broken_rng)
        report.malformed += n_bad
        path = out / f"events-{date.fromordinal(start.toordinal() + d).isoformat()}.jsonl"
        _write_lines(path, lines)
        report.files.append(str(path))
        report.events += hi - lo
    _write_items(out / "items.csv", cat, items)
    _write_truth(out, cat, sess["taste"], np.asarray(cols["user"]), np.asarray(cols["item"]), cols["etype"])
    log.info("generated %d events (%d malformed rows) for %d users over %d days in %s",
             report.events, report.malformed, users, days, out)
    return report
