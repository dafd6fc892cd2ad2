"""Segment: track, page, screen and identify calls as exported (one JSON object per line).

The user is ``userId``, else ``anonymousId`` (an anonymous-only event is kept under its anonymous id); a call with
both links the two. ``identify`` calls only link ids. The item is ``properties.product_id`` (``sku`` when absent);
an ``Order Completed`` (or any call) with a ``properties.products`` array gives one event per product. The event
id is ``messageId`` (with the product's position for arrays). E-commerce spec names map onto ours; the vendor's
name and the other properties stay in ``properties``.
"""

from __future__ import annotations

from typing import Any

from recsys.ingest.adapters.base import Adapter, Parsed, link, our_event, text_id

_ITEM_KEYS = ("product_id", "sku", "products")


def parse(record: dict[str, Any]) -> Parsed:
    parsed = Parsed()
    user, anon = record.get("userId"), record.get("anonymousId")
    link(parsed, anon, user)
    kind = str(record.get("type") or "track").lower()
    if kind in ("identify", "alias", "group"):
        if kind == "alias":
            link(parsed, record.get("previousId"), user)
        parsed.identity_only = True
        return parsed
    name = record.get("event") if kind == "track" else kind
    props = record.get("properties") if isinstance(record.get("properties"), dict) else {}
    base = {"user_id": text_id(user) or text_id(anon), "event_type": our_event(name),
            "ts": record.get("timestamp") or record.get("originalTimestamp"),
            "session_id": text_id(props.get("session_id"))}
    rest = {k: v for k, v in props.items() if k not in _ITEM_KEYS}
    rest["source_event"] = name
    message = text_id(record.get("messageId"))
    products = props.get("products")
    if isinstance(products, list) and products:
        for k, product in enumerate(products):
            p = product if isinstance(product, dict) else {}
            item = p.get("product_id") if p.get("product_id") is not None else p.get("sku")
            extra = {key: v for key, v in p.items() if key not in _ITEM_KEYS}
            parsed.add(dict(base, item_id=item, event_id=f"{message}:{k}" if message else None,
                            properties=rest | extra), k)
        return parsed
    item = props.get("product_id") if props.get("product_id") is not None else props.get("sku")
    parsed.add(dict(base, item_id=item, event_id=message, properties=rest))
    return parsed


ADAPTER = Adapter("segment", parse, None,
                  "segment: userId, else anonymousId; properties.product_id (one event per properties.products "
                  "entry); e-commerce spec names -> view/add_to_cart/purchase/...; identify calls link ids")
