"""Request and response bodies of the HTTP API (also what /docs shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.rules import Filters


class ScoredItem(BaseModel):
    item_id: str
    score: float
    reason: str | None = Field(None, description='"new" for a fresh item given an exploration slot.')


class Recommendations(BaseModel):
    user_id: str
    items: list[ScoredItem]
    model: str
    version: int
    fallback: bool = Field(description="True when the user was unknown to the model and had no usable live "
                                       "history, so the popularity ranking answered.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)

    user_ids: list[str] = Field(min_length=1)
    k: int = Field(10, ge=1, le=1000)
    model: str | None = None
    exclude_seen: bool = True
    exclude: list[str] | None = None
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


class SimilarItems(BaseModel):
    item_id: str
    items: list[ScoredItem]
    model: str
    version: int


class EventsAccepted(BaseModel):
    accepted: int
    landing_file: str | None


class ModelsResponse(BaseModel):
    default: str | None
    alias: str
    models: list[dict[str, Any]]
    errors: dict[str, str]


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
