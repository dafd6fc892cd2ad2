"""The online store contract: low-latency reads of live user histories and entity features at serving time."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Self

ENTITIES = ("user", "item")
MAX_HISTORY = 200
"""Events kept per user: older ones are trimmed (the lake keeps everything)."""


class OnlineStore(ABC):
    """Live state the service reads per request. Histories are item ids oldest -> newest.

    Repeated events for the same (user, item, time) are stored once, so replaying a batch is harmless.
    Feature values are any JSON values; `get_features` omits keys that have no features.
    """

    max_history: int = MAX_HISTORY
    transient_errors: tuple[type[Exception], ...] = (OSError,)
    """Errors meaning the backend is unreachable for now (not that the call was wrong): see ResilientStore."""

    def ping(self) -> bool:
        """True when the backend answers; raises one of `transient_errors` when it does not."""
        self.recent_items(["\x00ping"], 1)
        return True

    @abstractmethod
    def append_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Add events (dicts with user_id, item_id and ts: ISO-8601 text, datetime or epoch microseconds)."""

    @abstractmethod
    def recent_items(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[str]]:
        """The last `limit` items of each user, oldest first; users without events map to []."""

    def recent_events(self, user_ids: Sequence[str], limit: int = 50) -> dict[str, list[tuple[str, int]]]:
        """The last `limit` events of each user as (item_id, ts in epoch microseconds), oldest first (the
        ranker's live features need the times); users without events map to []."""
        raise NotImplementedError(f"{type(self).__name__} does not keep event times")

    @abstractmethod
    def put_features(self, entity: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
        """Upsert feature values: ``{key: {feature_name: value}}``; names not given are left unchanged."""

    @abstractmethod
    def get_features(self, entity: str, keys: Sequence[str], names: Sequence[str] | None = None
                     ) -> dict[str, dict[str, Any]]:
        """``{key: {name: value}}`` for the keys that have features (all names, or only `names`)."""

    def forget_users(self, user_ids: Sequence[str]) -> int:
        """Delete the users' histories and features (erasure); returns how many entries went."""
        raise NotImplementedError(f"{type(self).__name__} cannot erase users")

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_entity(entity: str) -> str:
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}: expected one of {', '.join(ENTITIES)}")
    return entity


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return limit


def event_time_us(ts: Any) -> int:
    """Event time as integer microseconds since the epoch (UTC)."""
    if isinstance(ts, datetime):
        dt = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        return int(dt.timestamp()) * 1_000_000 + dt.microsecond
    if isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts):
        return int(ts)
    if isinstance(ts, str):
        try:
            return event_time_us(datetime.fromisoformat(ts.replace("Z", "+00:00")))
        except ValueError as err:
            raise ValueError(f"event time {ts!r} is not ISO-8601") from err
    raise ValueError(f"event time {ts!r} is not a datetime, ISO-8601 text or epoch microseconds")


def event_triples(events: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    """(user_id, item_id, ts_us) of each event, validated."""
    out = []
    for e in events:
        try:
            user, item = str(e["user_id"]), str(e["item_id"])
        except KeyError as err:
            raise ValueError(f"event lacks {err.args[0]!r}: {dict(e)}") from None
        if not user or not item:
            raise ValueError(f"event has an empty user_id or item_id: {dict(e)}")
        out.append((user, item, event_time_us(e.get("ts"))))
    return out


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, datetime):
        return obj.isoformat()
    raise TypeError(f"feature value of type {type(obj).__name__} is not JSON-serialisable")
