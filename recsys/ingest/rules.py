"""One rule set for every door events come in by: what the service accepts is what ingestion keeps.

`check_records` runs already-shaped events (dicts in the JSON Lines form the service lands) through the very
validator ingestion applies (`recsys.ingest.validate.validate`), after the same conversions the JSON Lines reader
makes, and checks the landed line against the reader's line limit. `encode_line` is the one JSON Lines form of
such a record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from recsys.ingest.readers import MAX_LINE_BYTES
from recsys.ingest.validate import FIELDS, REASONS, Rules, canonical_json, validate

__all__ = ["MAX_LINE_BYTES", "check_records", "describe", "encode_line", "reason_field"]


def encode_line(record: Mapping[str, Any]) -> bytes:
    """The JSON Lines form of one event (compact, sorted keys, non-ASCII escaped), newline included."""
    return (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()


def check_records(records: Sequence[Mapping[str, Any]], *, now: datetime | None = None,
                  max_line: int = MAX_LINE_BYTES) -> list[str | None]:
    """Per record, the reason code ingestion would quarantine it with (see `REASONS`), or None when it is kept.

    Records hold ids as text, ``ts`` as text or a number, ``value`` as a number or None and ``properties`` as a
    JSON object or None, the shapes the JSON Lines reader hands on unchanged."""
    reasons: list[str | None] = [None] * len(records)
    columns: dict[str, list[Any]] = {f: [] for f in FIELDS}
    kept: list[int] = []
    for i, rec in enumerate(records):
        reason, row = _reader_row(rec, max_line)
        if reason is not None:
            reasons[i] = reason
            continue
        for f in FIELDS:
            columns[f].append(row[f])
        kept.append(i)
    if not kept:
        return reasons
    arrays = {f: pa.array(v, pa.float64() if f == "value" else pa.string()) for f, v in columns.items()}
    result = validate(arrays, len(kept), Rules(now=now or datetime.now(UTC)))
    for pos, reason in zip(result.bad_pos.tolist(), result.bad_reasons, strict=True):
        reasons[kept[pos]] = reason
    return reasons


def _reader_row(rec: Mapping[str, Any], max_line: int) -> tuple[str | None, dict[str, Any]]:
    """What the JSON Lines reader makes of the landed line of `rec`: a reason it stops at, or the row."""
    if len(encode_line(rec)) > max_line:
        return "line_too_long", {}
    row: dict[str, Any] = {}
    for f in FIELDS:
        v = rec.get(f)
        if f == "properties":
            v = None if v is None else canonical_json(v)
        elif f == "ts" and isinstance(v, int | float) and not isinstance(v, bool):
            v = str(v)
        row[f] = v
    try:
        for v in row.values():
            if isinstance(v, str):
                v.encode("utf-8")  # a lone surrogate cannot be written as UTF-8
    except UnicodeEncodeError:
        return "non_utf8", {}
    return None, row


def reason_field(reason: str) -> str | None:
    """The field a reason code is about (``user_id_too_long`` -> ``user_id``), None for whole-line reasons."""
    for prefix in ("bad_type_", "missing_", "empty_"):
        if reason.startswith(prefix):
            return reason.removeprefix(prefix)
    if reason.endswith("_too_long") and reason != "line_too_long":
        return reason.removesuffix("_too_long")
    if reason in ("bad_ts", "ts_too_old", "ts_in_future"):
        return "ts"
    if reason in ("bad_value", "value_not_finite"):
        return "value"
    if reason == "bad_properties":
        return "properties"
    return None


def describe(reason: str) -> str:
    """A readable sentence for a reason code."""
    if reason in REASONS:
        return REASONS[reason]
    field = reason_field(reason)
    for pattern in ("bad_type_<field>", "missing_<field>", "empty_<field>", "<field>_too_long"):
        if field is not None and pattern.replace("<field>", field) == reason:
            return f"{field}: {REASONS[pattern]}"
    return reason
