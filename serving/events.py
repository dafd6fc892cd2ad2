"""Fresh events posted to the service: validated by ingestion's own rules, appended durably for the next
ingestion."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys.ingest.rules import check_records, describe, encode_line, reason_field


class EventIn(BaseModel):
    """One event in the canonical schema (recsys.events.EVENT_SCHEMA). Its shape is checked here; its content by
    the rules ingestion applies (`check_ingestible`): required non-empty ids of at most 256 bytes of UTF-8,
    event_type lower-cased (at most 64 bytes), ts ISO-8601 or epoch between 1990-01-01 and now + 1 day, a finite
    value, properties a JSON object, the landed line within ingestion's line limit."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)

    event_id: str | None = Field(None, max_length=256)
    user_id: str = Field(min_length=1, max_length=256)
    item_id: str = Field(min_length=1, max_length=256)
    event_type: str = Field(min_length=1, max_length=64, examples=["view", "add_to_cart", "purchase"])
    ts: datetime = Field(description="ISO-8601 (a time without zone is read as UTC) or epoch seconds.")
    value: float | None = None
    session_id: str | None = Field(None, max_length=256)
    properties: dict[str, Any] | None = None
    request_id: str | None = Field(None, max_length=256, description="The recommendation answer this event responds "
                                   "to (its request_id): attributes the event exactly.")
    position: int | None = Field(None, ge=1, le=2**31 - 1, description="The item's place in that answer (1 = top).")

    @field_validator("event_type")
    @classmethod
    def _lower(cls, event_type: str) -> str:
        return event_type.lower()

    @field_validator("ts")
    @classmethod
    def _utc(cls, ts: datetime) -> datetime:
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    def canonical(self) -> dict[str, Any]:
        """The JSON Lines record ingestion reads (event_id derived from the content when absent, so a retried
        post is deduplicated downstream)."""
        ts = self.ts.isoformat(timespec="microseconds").replace("+00:00", "Z")
        event_id = self.event_id or "srv-" + hashlib.sha1(
            f"{self.user_id}\x1f{self.item_id}\x1f{self.event_type}\x1f{ts}\x1f{self.session_id}".encode()
        ).hexdigest()[:20]
        return {"event_id": event_id, "user_id": self.user_id, "item_id": self.item_id,
                "event_type": self.event_type, "ts": ts, "value": self.value, "session_id": self.session_id,
                "properties": self.properties or {}, "request_id": self.request_id, "position": self.position}


class EventBatch(BaseModel):
    events: list[EventIn]


def check_ingestible(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation issues (FastAPI's error shape) of the records ingestion would quarantine; [] when it keeps all."""
    issues = []
    for i, reason in enumerate(check_records(records)):
        if reason is not None:
            field = reason_field(reason)
            issues.append({"type": "event_rejected", "loc": ["body", i, *([field] if field else [])],
                           "msg": f"{reason}: {describe(reason)}", "input": None})
    return issues


class EventSink:
    """Appends events to ``landing/served-events-YYYY-MM-DDTHH-<pid>.jsonl`` and fsyncs before returning, so an
    accepted event survives a crash. One file per hour and process: never two writers on one file."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def path_for(self, now: datetime) -> Path:
        return self.folder / f"served-events-{now:%Y-%m-%dT%H}-{os.getpid()}.jsonl"

    def append(self, records: Sequence[dict[str, Any]]) -> Path:
        data = b"".join(encode_line(r) for r in records)
        path = self.path_for(datetime.now(UTC))
        with self._lock:
            try:
                _append_durably(path, data)
            except OSError as err:
                self.last_error = f"{type(err).__name__}: {err}"
                raise
            self.last_error = None
        return path


def _append_durably(path: Path, data: bytes) -> None:
    """Append `data` and fsync; on failure cut the file back, so no partial line is left for the next append."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
