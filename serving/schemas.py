"""Request and response bodies of the HTTP API (also what /docs shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.rules import Filters

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
"""orjson options of every plain-dict answer and impression line."""


def json_response(obj: Any, status_code: int = 200) -> Response:
    """`obj` as compact JSON, for routes that build their answer as plain dicts (no response-model validation
    per request: the models above document them). orjson: about a tenth of the standard encoder's time on a
    recommendation answer; numpy scalars and arrays are written as numbers and lists, and non-finite floats become
    null, as JSON has no other spelling for them."""
    return Response(orjson.dumps(obj, option=JSON_OPTIONS), status_code=status_code, media_type="application/json")


MAX_EXCLUDE = 10_000
"""Most item ids one request may exclude (query or body)."""


class ScoredItem(BaseModel):
    item_id: str
    score: float
    reason: str | None = Field(None, description='"new" for a fresh item given an exploration slot.')
    arm: str | None = Field(None, description="In an interleaving experiment, the arm that contributed the item.")


class Recommendations(BaseModel):
    user_id: str
    items: list[ScoredItem]
    model: str
    version: int
    fallback: bool = Field(description="True when the user was unknown to the model and had no usable live "
                                       "history, so the popularity ranking answered.")
    degraded: list[str] | None = Field(default=None, description="Components this answer had to do without, e.g. "
                                       "[\"online_store\"]: answered from training-time state, no live history.")
    request_id: str = Field(description="Unique id of this answer; send it with the events it leads to "
                                        "(POST /events) so they are attributed to it exactly.")
    experiment: str | None = Field(None, description="The experiment that answered (null outside experiments).")
    arm: str | None = Field(None, description="The user's arm, or 'interleaved' in an interleaving experiment.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)

    user_ids: list[str] = Field(min_length=1)
    k: int = Field(10, ge=1, le=1000)
    model: str | None = None
    exclude_seen: bool = True
    exclude: list[str] | None = Field(None, max_length=MAX_EXCLUDE, description="Item ids never to return.")
    category: str | None = None
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_per_category: int | None = Field(None, ge=1, le=1000)

    def filters(self) -> Filters:
        return Filters(self.category, self.min_price, self.max_price, self.max_per_category)


class BatchResponse(BaseModel):
    model: str
    version: int
    results: list[Recommendations]
    degraded: list[str] | None = None


class SimilarItems(BaseModel):
    item_id: str
    items: list[ScoredItem]
    model: str
    version: int
    request_id: str


class EventsAccepted(BaseModel):
    accepted: int
    landing_file: str | None
    degraded: list[str] | None = Field(
        default=None, description="[\"online_store\"] when the events are durable but not yet in the live "
                                  "histories (they are replayed when the store returns).")


class ModelsResponse(BaseModel):
    default: str | None
    alias: str
    models: list[dict[str, Any]]
    errors: dict[str, str]
    fallbacks: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Models served from an earlier version than their alias because the "
                                          "alias's version does not load: {alias_version, serving, reason}.")


class HealthResponse(BaseModel):
    status: str = Field(description="ok, or degraded when a component is down (the process is up either way).")
    degraded: list[str]
    components: dict[str, dict[str, Any]] = Field(description="models, online_store, landing: each with a status "
                                                              "(up, degraded, down) and details.")


class ReadyResponse(BaseModel):
    ready: bool
    degraded: list[str]
    models: dict[str, int]
    components: dict[str, dict[str, Any]]
    errors: dict[str, str] | None = None


class ItemPatch(BaseModel):
    """Catalogue fields to change; fields left out keep their values."""

    model_config = ConfigDict(extra="forbid", strict=True)

    title: str | None = Field(None, max_length=2000)
    categories: list[str] | None = Field(None, max_length=100)
    price: float | None = Field(None, ge=0, allow_inf_nan=False)
    available: bool | None = None
    created_at: datetime | None = None
    properties: dict[str, Any] | None = None

    @field_validator("created_at", mode="before")
    @classmethod
    def _iso_time(cls, value: Any) -> Any:
        """ISO-8601 text (strict mode takes only datetime objects otherwise)."""
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value


class ItemIn(ItemPatch):
    """An item's catalogue fields; fields left out take their defaults (no categories, available, ...)."""


class ItemOut(BaseModel):
    item_id: str
    title: str | None
    categories: list[str]
    price: float | None
    available: bool
    created_at: str | None
    properties: dict[str, Any]


class ItemList(BaseModel):
    items: list[ScoredItem]
    model: str = Field(description="What ranked the list: a served model, `events` (the lake's recent events) or "
                                   "`catalog` (creation time).")
    version: int | None
    window: str | None
