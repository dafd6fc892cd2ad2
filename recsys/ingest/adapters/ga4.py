"""Google Analytics 4 BigQuery export (``events_YYYYMMDD`` rows) as JSON Lines or Parquet.

The user is ``user_id``, else ``user_pseudo_id``; a row with both links them. ``event_timestamp`` is epoch
microseconds (text in JSON exports). ``event_params`` is a key-value array whose values sit in ``string_value``,
``int_value``, ``float_value`` or ``double_value``; its ``ga_session_id`` is the session. E-commerce events carry
an ``items`` array: one event per item (``item_id``, ``price``, ``quantity`` and the item's other fields in
properties); any other event is one event whose item is the ``item_id`` event parameter, if any.
"""

from __future__ import annotations

from typing import Any

from recsys.ingest.adapters.base import Adapter, Parsed, link, our_event, text_id

_VALUE_KEYS = ("string_value", "int_value", "float_value", "double_value")


def params(record: dict[str, Any]) -> dict[str, Any]:
    """The ``event_params`` array as a plain dict (the first non-null typed value of each key)."""
    out: dict[str, Any] = {}
    entries = record.get("event_params")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        value = entry.get("value") if isinstance(entry.get("value"), dict) else {}
        out[entry["key"]] = next((value[k] for k in _VALUE_KEYS if value.get(k) is not None), None)
    return out


def parse(record: dict[str, Any]) -> Parsed:
    parsed = Parsed()
    user, pseudo = record.get("user_id"), record.get("user_pseudo_id")
    link(parsed, pseudo, user)
    name = record.get("event_name")
    p = params(record)
    ts = record.get("event_timestamp")
    base = {"user_id": text_id(user) or text_id(pseudo), "event_type": our_event(name),
            "ts": str(ts) if isinstance(ts, int) else ts, "session_id": text_id(p.get("ga_session_id")),
            "event_id": None}
    rest = {k: v for k, v in p.items() if k not in ("ga_session_id", "item_id") and v is not None}
    rest["source_event"] = name
    items = record.get("items")
    if isinstance(items, list) and items:
        for k, item in enumerate(items):
            it = item if isinstance(item, dict) else {}
            extra = {key: v for key, v in it.items() if key != "item_id" and v is not None}
            parsed.add(dict(base, item_id=it.get("item_id"), properties=rest | extra), k)
        return parsed
    parsed.add(dict(base, item_id=p.get("item_id"), properties=rest))
    return parsed


ADAPTER = Adapter("ga4", parse, "us",
                  "ga4: user_id, else user_pseudo_id; event_timestamp in microseconds; one event per entry of "
                  "items (price and quantity in properties); event_params flattened into properties", parquet=True)
