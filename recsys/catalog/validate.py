"""One source record -> a partial canonical item (only the fields the source carries), or a quarantine reason."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

from recsys.errors import InputError

Item = dict[str, Any]
_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})


class Rejected(InputError):
    """A record that cannot be used; `reason` is one of `recsys.catalog.schema.REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or \
        (isinstance(value, float) and math.isnan(value))


def _item_id(value: Any) -> str:
    if _empty(value):
        raise Rejected("missing_item_id", "the record has no item_id")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejected("bad_item_id", f"item_id {value!r} is not text or a number")
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
    if len(text) > 256:
        raise Rejected("bad_item_id", "item_id is longer than 256 characters")
    return text


def _categories(value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise Rejected("bad_categories", f"categories {value!r} is not a JSON list") from None
        else:
            return [c.strip() for c in text.split("|") if c.strip()]
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list | tuple) and all(isinstance(c, str | int) and not isinstance(c, bool)
                                               for c in value):
        return list(dict.fromkeys(str(c).strip() for c in value if str(c).strip()))
    raise Rejected("bad_categories", f"categories {value!r} is not a list of text values")


def _price(value: Any) -> float:
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise Rejected("bad_price", f"price {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(price) or price < 0:
        raise Rejected("bad_price", f"price {value!r} is not a finite number >= 0")
    return price


def parse_bool(value: Any) -> bool:
    """true/false, 1/0, yes/no (any case) as a bool; Rejected otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise Rejected("bad_available", f"available {value!r} is not a boolean")


def parse_time(value: Any) -> datetime:
    """ISO-8601 text, a date/datetime, or epoch seconds (ms/us/ns guessed from the magnitude) as aware UTC."""
    when: datetime | None = None
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        seconds = float(value)
        while abs(seconds) > 1e11:  # ms, us or ns since the epoch
            seconds /= 1000.0
        try:
            when = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    elif isinstance(value, str):
        text = value.strip()
        try:
            when = parse_time(float(text)) if text.replace(".", "", 1).lstrip("-").isdigit() and len(text) > 4 \
                else datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    if when is None:
        raise Rejected("bad_created_at", f"created_at {value!r} is not an ISO-8601 time or epoch seconds")
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise Rejected("bad_created_at", f"created_at {value!r} is out of range once moved to UTC") from None


def _properties(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise Rejected("bad_properties", f"properties {value[:80]!r} is not JSON") from None
    if not isinstance(value, dict):
        raise Rejected("bad_properties", f"properties {value!r} is not a JSON object")
    return value


def normalize(record: dict[str, Any]) -> Item:
    """The canonical fields `record` carries (``item_id`` always). Absent or empty fields are left out, so that
    merging keeps what the catalogue already knows. Columns outside the schema become ``properties`` entries."""
    out: Item = {"item_id": _item_id(record.get("item_id"))}
    title = record.get("title")
    if not _empty(title):
        if not isinstance(title, str | int | float) or isinstance(title, bool):
            raise Rejected("bad_title", f"title {title!r} is not text")
        out["title"] = str(title).strip()
    cats = record.get("categories", record.get("category"))
    if not _empty(cats):
        out["categories"] = _categories(cats)
    if not _empty(record.get("price")):
        out["price"] = _price(record["price"])
    if not _empty(record.get("available")):
        out["available"] = parse_bool(record["available"])
    if not _empty(record.get("created_at")):
        out["created_at"] = parse_time(record["created_at"])
    props = _properties(record["properties"]) if not _empty(record.get("properties")) else {}
    extra = {k: v for k, v in record.items() if k not in _KNOWN and not _empty(v)}
    if props or extra:
        out["properties"] = {**extra, **props}
    return out


_KNOWN = frozenset({"item_id", "title", "categories", "category", "price", "available", "created_at", "properties"})
