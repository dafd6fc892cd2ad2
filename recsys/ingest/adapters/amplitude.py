"""Amplitude export: one JSON event per line (``user_id``, ``device_id``, ``event_type``, ``event_time``,
``event_properties``, ``insert_id``, ``session_id``).

The user is ``user_id``, else ``device_id``; an event with both links them. ``event_time`` is UTC text
(``2026-01-01 10:00:00.123000``). The event id is ``insert_id`` (``$insert_id``, else ``uuid``). The item is
``event_properties.product_id`` (or ``item_id``, or the revenue fields' ``$productId``); a revenue event's
``$price`` and ``$quantity`` stay in properties. ``session_id`` -1 (no session) is dropped. Amplitude's
``$identify`` events only carry user properties: they are identity calls.
"""

from __future__ import annotations

from typing import Any

from recsys.ingest.adapters.base import Adapter, Parsed, link, our_event, text_id

_ITEM_KEYS = ("product_id", "item_id", "$productId", "productId")


def parse(record: dict[str, Any]) -> Parsed:
    parsed = Parsed()
    user, device = record.get("user_id"), record.get("device_id")
    link(parsed, device, user)
    name = record.get("event_type")
    if name in ("$identify", "$groupidentify"):
        parsed.identity_only = True
        return parsed
    props = record.get("event_properties") if isinstance(record.get("event_properties"), dict) else {}
    item = next((props[k] for k in _ITEM_KEYS if props.get(k) is not None), None)
    rest = {k: v for k, v in props.items() if k not in _ITEM_KEYS}
    rest["source_event"] = name
    session = record.get("session_id")
    event_id = next((text_id(record.get(k)) for k in ("insert_id", "$insert_id", "uuid") if text_id(record.get(k))),
                    None)
    parsed.add({"user_id": text_id(user) or text_id(device), "item_id": item, "event_type": our_event(name),
                "ts": record.get("event_time") or record.get("client_event_time"), "event_id": event_id,
                "session_id": None if session in (None, -1, "-1") else text_id(session), "properties": rest})
    return parsed


ADAPTER = Adapter("amplitude", parse, None,
                  "amplitude: user_id, else device_id; event_time (UTC); insert_id as the event id; "
                  "event_properties.product_id as the item")
