"""Mixpanel raw export: ``{"event": ..., "properties": {"distinct_id", "time", "$insert_id", ...}}`` per line.

The user is ``properties.distinct_id`` (``$user_id`` when set, which simplified ID merge adds next to
``$device_id``); ``time`` is epoch seconds in exports and milliseconds in imports (told apart per value). The
event id is ``$insert_id``. ``$identify`` (``$identified_id`` / ``$anon_distinct_id``), ``$create_alias``
(``alias`` / ``distinct_id``) and ``$merge`` (``$distinct_ids``) only link ids; an event carrying both
``$device_id`` and ``$user_id`` links them too. The item is ``product_id`` (or ``item_id``, ``$product_id``).
"""

from __future__ import annotations

from typing import Any

from recsys.ingest.adapters.base import Adapter, Parsed, link, our_event, text_id

_ITEM_KEYS = ("product_id", "item_id", "$product_id")
_SYSTEM = ("distinct_id", "time", "$insert_id", "$user_id", "$device_id", "token", *_ITEM_KEYS)


def parse(record: dict[str, Any]) -> Parsed:
    parsed = Parsed()
    name = record.get("event")
    props = record.get("properties") if isinstance(record.get("properties"), dict) else {}
    user = props.get("$user_id") if text_id(props.get("$user_id")) else props.get("distinct_id")
    link(parsed, props.get("$device_id"), props.get("$user_id"))
    if name == "$identify":
        link(parsed, props.get("$anon_distinct_id"), props.get("$identified_id"))
        parsed.identity_only = True
        return parsed
    if name == "$create_alias":
        link(parsed, props.get("distinct_id"), props.get("alias"))
        parsed.identity_only = True
        return parsed
    if name == "$merge":
        ids = props.get("$distinct_ids") if isinstance(props.get("$distinct_ids"), list) else []
        for other in ids[1:]:
            link(parsed, other, ids[0])
        parsed.identity_only = True
        return parsed
    item = next((props[k] for k in _ITEM_KEYS if props.get(k) is not None), None)
    rest = {k: v for k, v in props.items() if k not in _SYSTEM}
    rest["source_event"] = name
    parsed.add({"user_id": text_id(user), "item_id": item, "event_type": our_event(name), "ts": props.get("time"),
                "event_id": text_id(props.get("$insert_id")), "session_id": text_id(props.get("$session_id")),
                "properties": rest})
    return parsed


ADAPTER = Adapter("mixpanel", parse, None,
                  "mixpanel: properties.distinct_id ($user_id when set), properties.time (s or ms), $insert_id as "
                  "the event id; $identify/$create_alias/$merge link ids")
