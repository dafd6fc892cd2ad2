"""Feature definitions: every feature the offline and online stores know, declared once, by name.

A feature is a declaration (entity, source, aggregation, window), not code: `feature_store.offline` turns each
into SQL, `training_frame` evaluates it as of each row's time, `materialize` pushes its latest value online
under the same name. Add a feature by adding a `Feature` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from recsys.errors import InputError

Entity = Literal["user", "item"]
Aggregation = Literal["count", "distinct_items", "distinct_users", "recency_seconds", "sessions", "ratio", "trend",
                      "latest_category", "catalog_category", "price_bucket", "age_days"]
CATALOG_AGGREGATIONS = ("catalog_category", "price_bucket", "age_days")
"""Aggregations read from the item catalogue (``source="items"``: the version valid at the time), not events."""
PRICE_BUCKETS = (10.0, 25.0, 50.0, 100.0, 250.0)
"""Edges of ``price_bucket``: bucket b holds prices in [edge b-1, edge b) (0: below the first, 5: 250 and up)."""

ENTITY_KEYS: dict[str, str] = {"user": "user_id", "item": "item_id"}
"""The events column that identifies each entity."""

SESSION_GAP = timedelta(minutes=30)
"""Inactivity that starts a new session (as in the analytics report)."""


@dataclass(frozen=True)
class Feature:
    """One named value per entity, aggregated over the entity's events in ``[as_of - window, as_of)``.

    ``event_types`` filters the events (empty: all); a ``ratio`` divides the count of ``event_types`` by the count
    of ``denominator`` (0.0 when there is none); a ``trend`` compares the window with the window before it.
    """

    name: str
    entity: Entity
    aggregation: Aggregation
    window: timedelta
    event_types: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    source: str = "events"
    description: str = ""

    @property
    def lookback(self) -> timedelta:
        """How far before ``as_of`` the feature reads events."""
        return 2 * self.window if self.aggregation == "trend" else self.window

    @property
    def dtype(self) -> str:
        if self.aggregation in ("ratio", "trend", "recency_seconds", "age_days"):
            return "float"
        if self.aggregation == "price_bucket":
            return "Int64"  # null where the catalogue has no price
        return "str" if self.aggregation in ("latest_category", "catalog_category") else "int"


_DAY = timedelta(days=1)
_TYPES = ("view", "add_to_cart", "favorite", "purchase")


def _user_features() -> list[Feature]:
    out = [
        Feature(f"user_{t}_count_{d}d", "user", "count", d * _DAY, (t,), description=f"{t} events in {d} days")
        for t in _TYPES for d in (1, 7, 30)
    ]
    out += [
        Feature("user_event_count_30d", "user", "count", 30 * _DAY, description="events of any type in 30 days"),
        Feature("user_recency_seconds", "user", "recency_seconds", 30 * _DAY,
                description="seconds since the last event (null when none in 30 days)"),
        Feature("user_distinct_items_30d", "user", "distinct_items", 30 * _DAY,
                description="distinct items touched in 30 days"),
        Feature("user_sessions_7d", "user", "sessions", 7 * _DAY, description="sessions started in 7 days"),
        Feature("user_sessions_30d", "user", "sessions", 30 * _DAY, description="sessions started in 30 days"),
        Feature("user_conversion_30d", "user", "ratio", 30 * _DAY, ("purchase",), ("view",),
                description="purchases per view in 30 days"),
    ]
    return out


def _item_features() -> list[Feature]:
    return [
        Feature("item_event_count_7d", "item", "count", 7 * _DAY, description="popularity: events in 7 days"),
        Feature("item_event_count_30d", "item", "count", 30 * _DAY, description="popularity: events in 30 days"),
        Feature("item_view_count_7d", "item", "count", 7 * _DAY, ("view",), description="views in 7 days"),
        Feature("item_purchase_count_30d", "item", "count", 30 * _DAY, ("purchase",),
                description="purchases in 30 days"),
        Feature("item_distinct_users_30d", "item", "distinct_users", 30 * _DAY,
                description="distinct users in 30 days"),
        Feature("item_trend_7d", "item", "trend", 7 * _DAY,
                description="(events in the last 7 days + 1) / (events in the 7 days before + 1)"),
        Feature("item_conversion_30d", "item", "ratio", 30 * _DAY, ("purchase",), ("view",),
                description="purchases per view in 30 days"),
        Feature("item_category", "item", "latest_category", 30 * _DAY,
                description="category of the item's latest event in 30 days"),
        Feature("item_catalog_category", "item", "catalog_category", 0 * _DAY, source="items",
                description="the item's first category in the catalogue as of the time"),
        Feature("item_price_bucket", "item", "price_bucket", 0 * _DAY, source="items",
                description=f"catalogue price bucket (edges {', '.join(f'{e:g}' for e in PRICE_BUCKETS)})"),
        Feature("item_age_days", "item", "age_days", 0 * _DAY, source="items",
                description="days since the catalogue's created_at (null when unknown)"),
    ]


FEATURES: dict[str, Feature] = {f.name: f for f in _user_features() + _item_features()}
"""Every feature, by name: the registry both stores share."""


Group = Literal["retriever", "user", "item", "catalogue", "cross", "context", "segment"]


@dataclass(frozen=True)
class PairFeature:
    """One value per (user, candidate item) pair for the two-stage ranker, as of the pair's time ``as_of``
    (the user's latest known event): only events with ``ts <= as_of`` count, so a label after it never leaks in.

    ``window`` None: every earlier event. ``retriever`` features are made per retriever, ``{retriever}_score`` /
    ``{retriever}_rank``; ``catalogue`` features need a catalogue (``LAKE/items``), ``cross`` ones item categories,
    ``segment`` ones the ranker's user segments (`recsys.ranking.segments`: users grouped by taste; the user's own
    segment is taken from their events as of ``as_of``). Missing values are NaN, which the ranker handles natively.
    """

    name: str
    group: Group
    window: timedelta | None = None
    description: str = ""


_WINDOWS = (1, 7, 30)


def _pair_features() -> list[PairFeature]:
    out = [
        PairFeature("user_events", "user", None, "the user's events so far"),
        *(PairFeature(f"user_events_{d}d", "user", d * _DAY, f"the user's events in {d} days") for d in _WINDOWS),
        PairFeature("user_distinct_items", "user", None, "distinct items the user touched"),
        PairFeature("user_tenure_days", "user", None, "days since the user's first event"),
        PairFeature("item_events", "item", None, "the item's events so far (popularity)"),
        PairFeature("item_events_7d", "item", 7 * _DAY, "the item's events in 7 days"),
        PairFeature("item_events_30d", "item", 30 * _DAY, "the item's events in 30 days"),
        PairFeature("item_age_days", "item", None, "days since the item's first event"),
        PairFeature("item_idle_days", "item", None, "days since the item's latest event"),
        PairFeature("item_price", "catalogue", None, "catalogue price"),
        PairFeature("item_available", "catalogue", None, "catalogue availability (1/0)"),
        PairFeature("item_listed_days", "catalogue", None, "days since the catalogue's created_at"),
        *(PairFeature(f"user_category_events_{d}d", "cross", d * _DAY,
                      f"the user's events in the item's category in {d} days") for d in _WINDOWS),
        PairFeature("user_category_share", "cross", None, "share of the user's events in the item's category"),
        PairFeature("user_category_idle_days", "cross", None, "days since the user last touched the item's category"),
        PairFeature("hour", "context", None, "hour of day (UTC) of as_of"),
        PairFeature("day_of_week", "context", None, "day of week of as_of (0 = Monday)"),
        PairFeature("segment_item_events", "segment", None,
                    "popularity among similar users: the item's events by users of the user's taste segment"),
        PairFeature("segment_item_events_30d", "segment", 30 * _DAY,
                    "the item's events by users of the user's taste segment in 30 days"),
        PairFeature("segment_item_lift", "segment", None,
                    "the item's share of the segment's events over its share of all events (>1: liked more by "
                    "similar users)"),
    ]
    return out


PAIR_FEATURES: dict[str, PairFeature] = {f.name: f for f in _pair_features()}
"""The ranker's per-(user, item) features, by name (computed by `recsys.ranking.features`)."""
RETRIEVER_FEATURES = ("score", "rank")
"""Per retriever R: ``R_score`` (NaN when R did not retrieve the item) and ``R_rank`` (N + 1 then)."""


def ranking_feature_names(retrievers: Sequence[str]) -> list[str]:
    """Column order of the ranker's feature matrix: retriever features, then `PAIR_FEATURES` in order."""
    return [f"{r}_{k}" for r in retrievers for k in RETRIEVER_FEATURES] + list(PAIR_FEATURES)


def features_for(entity: str, names: Sequence[str] | None = None) -> list[Feature]:
    """The features of ``entity`` (all, or ``names`` in that order); unknown names are a clear error."""
    if entity not in ENTITY_KEYS:
        raise InputError(f"unknown entity {entity!r}: expected one of {', '.join(ENTITY_KEYS)}")
    if names is None:
        return [f for f in FEATURES.values() if f.entity == entity]
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise InputError(f"unknown feature(s) {', '.join(unknown)}; `recsys features list` shows the defined ones")
    wrong = [n for n in names if FEATURES[n].entity != entity]
    if wrong:
        raise InputError(f"feature(s) {', '.join(wrong)} are not {entity} features")
    return [FEATURES[n] for n in names]
