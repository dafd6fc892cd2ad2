"""Request and response bodies of the HTTP API (also what /docs shows)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ScoredItem(BaseModel):
    item_id: str
    score: float
    arm: str | None = Field(None, description="In an interleaving experiment, the arm that contributed the item.")


class Recommendations(BaseModel):
    user_id: str
    items: list[ScoredItem]
    model: str
    version: int
    fallback: bool = Field(description="True when the user was unknown to the model and had no usable live "
                                       "history, so the popularity ranking answered.")
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
    exclude: list[str] | None = None
    category: str | None = None


class BatchResponse(BaseModel):
    model: str
    version: int
    results: list[Recommendations]


class SimilarItems(BaseModel):
    item_id: str
    items: list[ScoredItem]
    model: str
    version: int
    request_id: str


class EventsAccepted(BaseModel):
    accepted: int
    landing_file: str | None


class ModelsResponse(BaseModel):
    default: str | None
    alias: str
    models: list[dict[str, Any]]
    errors: dict[str, str]
