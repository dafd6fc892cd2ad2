"""Catalogue rules applied around a model's ranking: candidates and exclusions before, the diversity cap and the
exploration slots after. Every recommendation route goes through here, so every model and fallback obeys them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import HTTPException, status
from starlette.datastructures import QueryParams

from serving.holder import LoadedModel
from serving.rules import CatalogView, Filters, cap_per_category

EMPTY_VIEW = CatalogView()
MAX_CAP = 1000


def _query_error(name: str, msg: str, value: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"type": "value_error", "loc": ["query", name], "msg": msg, "input": value}])


def _number(query: QueryParams | Mapping[str, Any], name: str) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise _query_error(name, "Input should be a valid number", str(raw)) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _query_error(name, "Input should be a finite number", str(raw))
    return value


def parse_filters(query: QueryParams | Mapping[str, Any]) -> Filters:
    """category, min_price, max_price and max_per_category from query parameters (422 naming a bad one)."""
    cap = None
    raw_cap = query.get("max_per_category")
    if raw_cap is not None:
        try:
            cap = int(raw_cap)
        except (TypeError, ValueError):
            raise _query_error("max_per_category", "Input should be a valid integer", str(raw_cap)) from None
        if not 1 <= cap <= MAX_CAP:
            raise _query_error("max_per_category", f"max_per_category must be between 1 and {MAX_CAP}", str(raw_cap))
    lo, hi = _number(query, "min_price"), _number(query, "max_price")  # lo > hi: simply nothing qualifies
    return Filters(query.get("category") or None, lo, hi, cap)


FILTER_DOCS = [
    {"name": "category", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Only items of this category (from the catalogue, else from the model's item features)."},
    {"name": "min_price", "in": "query", "required": False, "schema": {"type": "number"},
     "description": "Only items with a catalogue price >= this."},
    {"name": "max_price", "in": "query", "required": False, "schema": {"type": "number"},
     "description": "Only items with a catalogue price <= this."},
    {"name": "max_per_category", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_CAP},
     "description": "Diversity cap: at most this many items per (primary) category."},
]


def candidates_for(view: CatalogView, lm: LoadedModel, filters: Filters) -> list[str] | None:
    """Items the model may rank under `filters`; None when nothing restricts. 400 when a filter needs item data
    that neither the catalogue nor the model has."""
    if view.known:
        return view.eligible(filters) if filters.restricts else None
    if filters.min_price is not None or filters.max_price is not None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "price filters need the item catalogue: start the service "
                            "with --lake LAKE after `recsys catalog load`")
    if filters.category is None:
        return None
    if not lm.categories:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"model {lm.name!r} knows no item categories, so the "
                            "category filter is unavailable (load the catalogue with `recsys catalog load` and "
                            "serve with --lake, or load item features with a 'category' into the online store)")
    return list(lm.categories.get(filters.category, []))


def with_hidden(view: CatalogView, exclude: Sequence[str] | None) -> list[str] | None:
    """The request's exclusions plus every unavailable item."""
    if not view.unavailable:
        return list(exclude) if exclude else None
    return [*(exclude or ()), *view.unavailable]


def finish(view: CatalogView, ids: Iterable[Any], scores: Iterable[float], k: int, filters: Filters
           ) -> list[dict[str, Any]]:
    """A model's ranked row -> the response items: served items only, capped per category, cut to `k`."""
    ranked = ((i, float(s)) for i, s in zip(ids, scores, strict=True)
              if i is not None and (not view.known or view.keep(i, filters)))
    return [{"item_id": i, "score": s} for i, s in cap_per_category(view, ranked, k, filters.max_per_category)]
