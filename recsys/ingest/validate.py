"""Vectorised validation: raw columns of any reader -> rows in `EVENT_SCHEMA` plus a reason code per rejected row.

Every reader (fast or slow path, any format) hands its rows to `validate` as arrow columns named canonically, so the
rules below are the single definition of a valid event. Reason codes are documented in `REASONS`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.events import EVENT_SCHEMA
from recsys.ingest.arrowutil import (
    arrow_to_bool,
    bool_scalar,
    bool_to_arrow,
    int_scalar,
    int_to_arrow,
    null_scalar,
    str_scalar,
)
from recsys.ingest.jsontext import canonical_json as canonical_json  # re-exported: moved to jsontext
from recsys.ingest.jsontext import json_object_column as json_object_column
from recsys.ingest.jsontext import struct_to_json as struct_to_json
from recsys.ingest.positions import parse_position

ID_FIELDS = ("event_id", "user_id", "item_id", "event_type", "session_id", "request_id")
FIELDS = (*ID_FIELDS, "ts", "value", "properties", "position")
REQUIRED_SOURCE_FIELDS = ("user_id", "item_id", "event_type", "ts")
MAX_ID_LENGTH = 256
MAX_EVENT_TYPE_LENGTH = 64
MAX_PROPERTIES_LENGTH = 65536
TS_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(?i:nan|inf|infinity)$"
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_UTC_TS = pa.timestamp("us", tz="UTC")
_ASCII_SPACE = " \t\n\v\f\r\x1c\x1d\x1e\x1f"  # the ASCII characters utf8_trim_whitespace trims

REASONS = {
    "non_utf8": "the row is not valid UTF-8",
    "line_too_long": "the line is longer than the configured maximum (default 1 MiB)",
    "truncated_row": "the row was cut by damage to the file (a truncated or corrupt gzip stream)",
    "malformed_json": "the line is not valid JSON",
    "not_an_object": "the JSON value of the line is not an object",
    "csv_column_count": "the CSV row has a different number of fields than the header",
    "amazon_seq_no_items": "an amazon-seq line names a user but no items",
    "bad_type_<field>": "the field has a JSON type that cannot hold it (object, list, boolean, float id)",
    "missing_<field>": "a required field (user_id, item_id, event_type, ts) is absent or null",
    "empty_<field>": "an id field is empty or whitespace only",
    "<field>_too_long": f"an id is longer than {MAX_ID_LENGTH} bytes of UTF-8 (event_type: {MAX_EVENT_TYPE_LENGTH})",
    "bad_ts": "the timestamp is neither ISO-8601 nor an epoch number",
    "ts_too_old": "the timestamp is before the lower bound (default 1990-01-01)",
    "ts_in_future": "the timestamp is later than the run time plus the allowed skew (default 1 day)",
    "bad_value": "value is not a number",
    "value_not_finite": "value is NaN or infinite",
    "bad_properties": "properties is not a JSON object",
    "bad_position": "position is not a whole number of at least 1",
}


@dataclass(frozen=True)
class Rules:
    """Validation bounds; `now` is the run time the future bound is relative to."""

    now: datetime
    min_ts: datetime = datetime(1990, 1, 1, tzinfo=UTC)
    max_future: timedelta = timedelta(days=1)
    ts_unit: str | None = None


def _text(col: pa.Array | None, n: int) -> tuple[pa.Array, pa.Array | None]:
    """A string view of an id-like column and a mask of rows whose type cannot be an id."""
    if col is None:
        return pa.nulls(n, pa.string()), None
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string()), None
    if pa.types.is_integer(t) or pa.types.is_dictionary(t):
        return col.cast(pa.string()), None
    if pa.types.is_null(t):
        return pa.nulls(n, pa.string()), None
    return pa.nulls(n, pa.string()), bool_to_arrow(np.ones(n, dtype=bool))


def parse_numbers(col: pa.Array) -> tuple[pa.Array, pa.Array]:
    """float64 of numeric strings (NaN/inf allowed) and a mask of non-null strings that are not numbers."""
    stripped = pc.utf8_trim_whitespace(col)
    ok = pc.fill_null(pc.match_substring_regex(stripped, NUMBER_PATTERN), bool_scalar(True))
    bad = pc.and_(pc.invert(ok), pc.is_valid(col))
    values = pc.if_else(ok, stripped, null_scalar(pa.string())).cast(pa.float64())
    return values, bad


def _cast_iso(col: pa.Array) -> pa.Array:
    """ISO-8601 strings -> UTC microseconds; nulls where arrow cannot parse (bisects to isolate bad values)."""
    try:
        return col.cast(_UTC_TS)
    except pa.ArrowInvalid:
        pass
    try:
        return col.cast(pa.timestamp("us")).cast(_UTC_TS)  # no zone designator: the time is UTC
    except pa.ArrowInvalid:
        pass
    if len(col) <= 8:
        out = []
        for v in col.to_pylist():
            out.append(_cast_one(v))
        return pa.array(out, pa.int64()).cast(_UTC_TS)
    half = len(col) // 2
    return pa.concat_arrays([_cast_iso(col.slice(0, half)), _cast_iso(col.slice(half))])


def _cast_one(v: str | None) -> int | None:
    if v is None:
        return None
    for t in (_UTC_TS, pa.timestamp("us")):
        try:
            return pa.array([v], pa.string()).cast(t).cast(pa.int64())[0].as_py()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def _ts_scalar(moment: datetime) -> pa.Scalar:
    """A UTC timestamp scalar built from integers (a tz-aware datetime would make pyarrow import pandas)."""
    us = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return int_scalar(us, _UTC_TS)


def _epoch_us(values: pa.Array, unit: str | None) -> pa.Array:
    """Epoch numbers -> int64 microseconds; the unit is given, or guessed per value from its magnitude."""
    v = pc.fill_null(values.cast(pa.float64()), float("nan")).to_numpy(zero_copy_only=False)
    if unit is not None:
        factor = np.full(len(v), TS_UNITS[unit], dtype=np.float64)
    else:
        mag = np.abs(np.nan_to_num(v, nan=0.0))
        factor = np.select([mag < 1e11, mag < 1e14, mag < 1e17], [1e6, 1e3, 1.0], 1e-3)
    with np.errstate(invalid="ignore", over="ignore"):
        us = v * factor
        fine = np.isfinite(us) & (np.abs(us) < 9e18)
    return pc.if_else(bool_to_arrow(fine), int_to_arrow(np.where(fine, us, 0)), null_scalar(pa.int64()))


def parse_ts(col: pa.Array | None, n: int, unit: str | None) -> tuple[pa.Array, pa.Array | None]:
    """UTC microsecond timestamps (null where missing or unparseable) and a bad-type mask."""
    if col is None:
        return pa.nulls(n, _UTC_TS), None
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            return col.cast(pa.timestamp("us")).cast(_UTC_TS), None
        return col.cast(_UTC_TS), None
    if pa.types.is_date(t):
        return col.cast(pa.timestamp("us")).cast(_UTC_TS), None
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _epoch_us(col, unit).cast(_UTC_TS), None
    if pa.types.is_null(t):
        return pa.nulls(n, _UTC_TS), None
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return pa.nulls(n, _UTC_TS), bool_to_arrow(np.ones(n, dtype=bool))
    col = col.cast(pa.string())
    try:
        return col.cast(_UTC_TS), None  # the common case: all ISO with a zone
    except pa.ArrowInvalid:
        pass
    numeric = pc.fill_null(pc.match_substring_regex(col, NUMBER_PATTERN), bool_scalar(False))
    n_numeric = numeric.true_count
    if n_numeric == 0:
        return _cast_iso(col), None
    nums = pc.if_else(numeric, col, null_scalar(pa.string())).cast(pa.float64())
    epoch = _epoch_us(nums, unit).cast(_UTC_TS)
    if n_numeric == len(col) - col.null_count:
        return epoch, None
    iso = _cast_iso(pc.if_else(numeric, null_scalar(pa.string()), col))
    return pc.if_else(numeric, epoch, iso), None


def _value(col: pa.Array | None, n: int) -> tuple[pa.Array, pa.Array | None]:
    if col is None:
        return pa.nulls(n, pa.float64()), None
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return col.cast(pa.float64()), None
    if pa.types.is_null(t):
        return pa.nulls(n, pa.float64()), None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return parse_numbers(col.cast(pa.string()))
    return pa.nulls(n, pa.float64()), bool_to_arrow(np.ones(n, dtype=bool))


def _properties(col: pa.Array | None, n: int) -> tuple[pa.Array, pa.Array | None]:
    if col is None:
        return pa.nulls(n, pa.string()), None
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_struct(col.type):
        text = struct_to_json(col)
        if text is None:
            text = pa.array([None if v is None else canonical_json(v) for v in col.to_pylist()], pa.string())
        return text, None
    if pa.types.is_null(col.type):
        return pa.nulls(n, pa.string()), None
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return pa.nulls(n, pa.string()), bool_to_arrow(np.ones(n, dtype=bool))
    text = pc.utf8_trim_whitespace(col.cast(pa.string()))
    shaped = pc.and_(pc.starts_with(text, "{"), pc.ends_with(text, "}"))
    bad = pc.or_(pc.invert(shaped), pc.greater(pc.utf8_length(text), int_scalar(MAX_PROPERTIES_LENGTH)))
    text = pc.if_else(pc.equal(pc.utf8_length(text), int_scalar(0)), null_scalar(pa.string()), text)
    return text, pc.and_(pc.fill_null(bad, bool_scalar(False)), pc.is_valid(text))


@dataclass
class Validated:
    """Accepted rows in `EVENT_SCHEMA` (event_id may still be null: derive it) and rejected positions with reasons."""

    good: pa.Table
    good_pos: np.ndarray
    bad_pos: np.ndarray
    bad_reasons: list[str]


def _ascii_edges_need_trim(col: pa.Array) -> bool:
    """Whether some value of an ASCII string array may start or end with a byte <= 0x20 (every character that
    `_ASCII_SPACE` holds). Looks at two bytes per value; empty and null slots can only give false alarms."""
    n = len(col)
    if n == 0 or not pa.types.is_string(col.type):
        return n > 0
    bufs = col.buffers()
    if bufs[2] is None:
        return False
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=col.offset + n + 1)[col.offset:]
    data = np.frombuffer(bufs[2], dtype=np.uint8)
    if len(data) == 0:
        return False
    first = np.take(data, offsets[:-1], mode="clip")
    last = np.take(data, offsets[1:] - 1, mode="clip")
    return bool((first <= 0x20).any() or (last <= 0x20).any())


def validate(columns: dict[str, pa.Array], n: int, rules: Rules, *, ascii_only: bool = False) -> Validated:
    """Apply every rule to `n` rows; the first failing rule, in a fixed order, names a row's reason.

    Each rule is a boolean mask (null = passes). Masks are OR-ed on bitmaps; reasons are only worked out for the
    few failing rows, so a clean block costs one pass per rule. `ascii_only` (the reader knows every id column is
    ASCII) swaps in the ASCII trim/lower kernels, which give the same results on ASCII text at about half the cost.
    """
    checks: list[tuple[str, pa.Array]] = []
    out: dict[str, pa.Array] = {}
    for name in ("user_id", "item_id", "event_type", "event_id", "session_id", "request_id"):
        raw, bad_type = _text(columns.get(name), n)
        if bad_type is not None:
            checks.append((f"bad_type_{name}", bad_type))
        if not ascii_only:
            text = pc.utf8_trim_whitespace(raw)
        elif _ascii_edges_need_trim(raw):
            text = pc.ascii_trim(raw, characters=_ASCII_SPACE)
        else:
            text = raw  # no value starts or ends with a space or control byte: trimming would only copy
        length = pc.binary_length(text)  # bytes: O(1) per value, from the offsets
        limit = MAX_EVENT_TYPE_LENGTH if name == "event_type" else MAX_ID_LENGTH
        if name in ("user_id", "item_id", "event_type"):
            checks.append((f"missing_{name}", pc.is_null(raw)))
            checks.append((f"empty_{name}", pc.equal(length, int_scalar(0))))
        elif raw.null_count < n:
            empty = pc.equal(length, int_scalar(0))
            if empty.true_count:  # optional ids: empty means absent (a copy of the column only when needed)
                text = pc.if_else(empty, null_scalar(pa.string()), text)
        checks.append((f"{name}_too_long", pc.greater(length, int_scalar(limit))))
        if name == "event_type":
            text = pc.ascii_lower(text) if ascii_only else pc.utf8_lower(text)
        out[name] = text

    ts_col = columns.get("ts")
    ts, bad_type = parse_ts(ts_col, n, rules.ts_unit)
    if bad_type is not None:
        checks.append(("bad_type_ts", bad_type))
    checks.append(("missing_ts", bool_to_arrow(np.ones(n, dtype=bool)) if ts_col is None else pc.is_null(ts_col)))
    checks.append(("bad_ts", pc.is_null(ts)))
    checks.append(("ts_too_old", pc.less(ts, _ts_scalar(rules.min_ts))))
    checks.append(("ts_in_future", pc.greater(ts, _ts_scalar(rules.now + rules.max_future))))
    out["ts"] = ts

    value, bad = _value(columns.get("value"), n)
    if bad is not None:
        string_value = pa.types.is_string(columns["value"].type)
        checks.append(("bad_value" if string_value else "bad_type_value", bad))
    if value.null_count < n:
        checks.append(("value_not_finite", pc.invert(pc.is_finite(value))))
    out["value"] = value

    props, bad = _properties(columns.get("properties"), n)
    if bad is not None:
        t = columns["properties"].type
        checks.append(("bad_properties" if pa.types.is_string(t) or pa.types.is_large_string(t)
                       else "bad_type_properties", bad))
    out["properties"] = props

    position, bad = parse_position(columns.get("position"), n, parse_numbers)
    if bad is not None:
        checks.append(("bad_position", bad))
    out["position"] = position

    any_bad = checks[0][1]
    for _, mask in checks[1:]:
        any_bad = pc.or_kleene(any_bad, mask)
    table = pa.table({f.name: out[f.name] for f in EVENT_SCHEMA})
    if not any_bad.true_count:
        return Validated(table, np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64), [])
    is_bad = arrow_to_bool(any_bad)
    bad_pos = np.flatnonzero(is_bad)
    first = np.full(len(bad_pos), len(checks), dtype=np.int64)
    idx = int_to_arrow(bad_pos)
    for k in range(len(checks) - 1, -1, -1):
        first[arrow_to_bool(checks[k][1].take(idx))] = k
    reasons = [checks[k][0] for k in first.tolist()]
    good_pos = np.flatnonzero(~is_bad)
    return Validated(table.filter(bool_to_arrow(~is_bad)), good_pos, bad_pos, reasons)


def derive_event_ids(table: pa.Table, source: str, rows: np.ndarray) -> pa.Table:
    """Fill null event ids with a hash of the canonical fields and the row's identity in its source file.

    Re-ingesting the same file gives the same ids (so re-runs dedupe), while two identical events on different
    rows of a log (two views in the same second) stay two events.
    """
    ids = table["event_id"].combine_chunks()
    missing = pc.is_null(ids)
    if not missing.true_count:
        return table
    idx = np.flatnonzero(arrow_to_bool(missing))
    sub = table.take(idx)
    parts = [pa.array(np.full(len(idx), source, dtype=object), pa.string()), pa.array(rows[idx]).cast(pa.string())]
    for name in ("user_id", "item_id", "event_type"):
        parts.append(sub[name].combine_chunks())
    parts.append(sub["ts"].combine_chunks().cast(pa.int64()).cast(pa.string()))
    for name in ("value", "session_id"):
        parts.append(pc.fill_null(sub[name].combine_chunks().cast(pa.string()), str_scalar("")))
    keys = pc.binary_join_element_wise(*parts, str_scalar("\x1f")).to_pylist()
    derived = ["h" + hashlib.blake2b(k.encode(), digest_size=12).hexdigest() for k in keys]
    full = ids.to_pylist() if len(idx) < len(ids) else derived
    if len(idx) < len(ids):
        for j, i in enumerate(idx.tolist()):
            full[i] = derived[j]
    return table.set_column(0, EVENT_SCHEMA.field("event_id"), pa.array(full, pa.string()))


def python_value(v: Any) -> tuple[str | float | None, str | None]:
    """The slow path's view of a JSON `value`: (value, reason); the same number rules as the fast path."""
    if v is None:
        return None, None
    if isinstance(v, bool):
        return None, "bad_type_value"
    if isinstance(v, int | float):
        return float(v), None
    if isinstance(v, str):
        s = v.strip()
        if _NUMBER_RE.match(s):
            return float(s), None
        return None, "bad_value"
    return None, "bad_type_value"


def reasons_summary(codes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in codes:
        out[c] = out.get(c, 0) + 1
    return out
