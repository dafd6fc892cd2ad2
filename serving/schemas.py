"""Request and response bodies of the HTTP API (also what /docs shows)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_EXCLUDE = 10_000
"""Most item ids one request may exclude (query or body)."""


class ScoredItem(BaseModel):
    item_id: str
    score: float


class Recommendations(BaseModel):
    user_id: str
    items: list[ScoredItem]
    model: str
    version: int
    fallback: bool = Field(description="True when the user was unknown to the model and had no usable live "
                                       "history, so the popularity ranking answered.")
    degraded: list[str] | None = Field(default=None, description="Components this answer had to do without, e.g. "
                                       "[\"online_store\"]: answered from training-time state, no live history.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)

    user_ids: list[str] = Field(min_length=1)
    k: int = Field(10, ge=1, le=1000)
    model: str | None = None
    exclude_seen: bool = True
    exclude: list[str] | None = Field(None, max_length=MAX_EXCLUDE, description="Item ids never to return.")
    category: str | None = None


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
