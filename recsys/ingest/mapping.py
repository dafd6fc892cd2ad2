"""Generic mapping of nested sources onto canonical events: dotted paths, exploded arrays, constants, event names.

A `MapSpec` says where each canonical field lives in a source record:

- ``paths``: field -> path. A path is a key, or dotted keys into nested objects (``properties.product_id``);
  ``a|b`` takes the first of several paths that is present (``userId|anonymousId``).
- ``explode``: the path of an array; each element becomes one event. Paths that start with the array's name
  address the element (``events.aid``; the name alone is the element itself, for arrays of plain ids), every other
  path addresses the record that holds the array.
- ``constants``: field -> a value every event gets (``event_type=rating``).
- ``event_map``: source event name -> ours, matched case-insensitively; unmapped names are kept, lower-cased.

`finish` applies the constants and event names to any reader's chunks, so they work for every format. Nested JSON
Lines and Parquet are read by `recsys.ingest.nested.NestedReader`; its quarantine entries name the source record
(``row``) and, in their raw text, the array index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.errors import InputError
from recsys.ingest.arrowutil import int_to_arrow, repeat_str, str_scalar
from recsys.ingest.readers import Chunk, JsonlReader, Reject, raw_text
from recsys.ingest.validate import FIELDS, canonical_json


@dataclass(frozen=True)
class MapSpec:
    """Where each canonical field is found in a source record (see the module doc)."""

    paths: dict[str, str] = field(default_factory=dict)
    explode: str | None = None
    constants: dict[str, str] = field(default_factory=dict)
    event_map: dict[str, str] = field(default_factory=dict)

    def check(self) -> MapSpec:
        """Raise InputError naming the first unusable option; returns self."""
        for opt, names in (("--map", self.paths), ("--set", self.constants)):
            unknown = sorted(set(names) - set(FIELDS))
            if unknown:
                raise InputError(f"{opt} names unknown field(s) {', '.join(unknown)}; fields are {', '.join(FIELDS)}")
        both = sorted(set(self.paths) & set(self.constants))
        if both:
            raise InputError(f"{', '.join(both)} is both mapped (--map) and set (--set); give one of them")
        if self.explode is not None and not self.explode.strip(". "):
            raise InputError("--explode needs the path of an array, e.g. --explode events")
        return self

    @classmethod
    def combine(cls, mapping: dict[str, str] | None, spec: MapSpec | None) -> MapSpec:
        """`spec` with its paths defaulting to a plain `mapping`, checked."""
        if spec is None:
            return cls(dict(mapping or {})).check()
        return cls(spec.paths or dict(mapping or {}), spec.explode, spec.constants, spec.event_map).check()

    def flat_mapping(self) -> dict[str, str]:
        """The column mapping the flat readers use (none when records need path resolution)."""
        return {} if self.nested else dict(self.paths)

    @property
    def nested(self) -> bool:
        """Whether records need path resolution (a plain key-to-key mapping keeps the flat fast path)."""
        return self.explode is not None or any("." in p or "|" in p for p in self.paths.values())

    def source(self, name: str) -> str:
        """The path of canonical field `name` (the field's own name when unmapped)."""
        return self.paths.get(name, name)


@dataclass
class EventChunk(Chunk):
    """A chunk of events made from source records: `rows` are the records' numbers (1-based), `index` each
    event's position in its record's exploded array (-1 when nothing is exploded), `records` the block's count."""

    index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    records: int = 0


def event_keys(chunk: Chunk) -> np.ndarray:
    """Per row, its identity in the source (record number, and array index where exploded): names derived ids."""
    index = getattr(chunk, "index", None)
    if index is None or not len(index) or int(index.max()) < 0:
        return chunk.rows
    keys = pc.binary_join_element_wise(int_to_arrow(chunk.rows).cast(pa.string()),
                                       int_to_arrow(index).cast(pa.string()), str_scalar("."))
    return np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)


def chunk_records(chunk: Chunk) -> int:
    """Source records in a chunk: its events for flat sources."""
    records = getattr(chunk, "records", None)
    return chunk.n + len(chunk.rejects) if records is None else int(records)


# ---------------------------------------------------------------- constants and event names (every format)


def finish(chunk: Chunk, spec: MapSpec) -> Chunk:
    """Apply `spec`'s constants and event-name map to a chunk of canonical columns."""
    n = chunk.n
    if not n or not (spec.constants or spec.event_map):
        return chunk
    for name, value in spec.constants.items():
        chunk.columns[name] = repeat_str(value, n) if name != "value" else repeat_str(value, n).cast(pa.float64())
    if spec.event_map and "event_type" in chunk.columns:
        chunk.columns["event_type"] = rename_events(chunk.columns["event_type"], spec.event_map)
    return chunk


def rename_events(col: pa.Array, event_map: dict[str, str]) -> pa.Array:
    """Event names through `event_map` (keys matched trimmed and case-insensitively); others unchanged."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_integer(col.type):
        col = col.cast(pa.string())
    if not pa.types.is_string(col.type):
        return col  # validate names the bad type
    keys = pa.array([k.strip().lower() for k in event_map], pa.string())
    vals = pa.array(list(event_map.values()), pa.string())
    pos = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(col)), value_set=keys)
    return pc.if_else(pc.is_valid(pos), vals.take(pc.fill_null(pos, 0)), col)


def open_parquet(path: Path) -> pq.ParquetFile:
    """A Parquet source, or InputError naming it when it cannot be read."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path} is not a readable Parquet file: {err}") from err


# ---------------------------------------------------------------- path resolution


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path (a literal key containing dots wins), None when any step is absent."""
    if not path:
        return obj
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
        if obj is None:
            return None
    return obj


class Paths:
    """A spec's paths, split into record paths and element paths once."""

    def __init__(self, spec: MapSpec) -> None:
        self.spec = spec
        self.explode = spec.explode.strip(". ") if spec.explode else None
        self.fields: dict[str, list[tuple[bool, str]]] = {}
        for name in FIELDS:
            if name in spec.constants:
                continue
            self.fields[name] = [self._split(alt.strip()) for alt in spec.source(name).split("|") if alt.strip()]

    def _split(self, path: str) -> tuple[bool, str]:
        """(addresses the element, path inside the element or the record)."""
        if self.explode is not None:
            if path == self.explode:
                return True, ""
            if path.startswith(self.explode + "."):
                return True, path[len(self.explode) + 1:]
        return False, path

    def event(self, record: dict[str, Any], element: Any) -> dict[str, Any]:
        """The canonical fields of one event (a record, or one element of its array)."""
        out: dict[str, Any] = {}
        for name, alts in self.fields.items():
            value = None
            for in_element, path in alts:
                value = lookup(element, path) if in_element else lookup(record, path)
                if value is not None:
                    break
            out[name] = value
        return out


# ---------------------------------------------------------------- rows of Python values -> a chunk


class EventRows:
    """Collects canonical events of Python values (slow paths and adapters) and makes chunks of them."""

    def __init__(self) -> None:
        self._convert = JsonlReader({})  # its per-row rules are the slow path's: the same for every reader
        self.values: dict[str, list[Any]] = {f: [] for f in FIELDS}
        self.seen: set[str] = set()
        self.rows: list[int] = []
        self.index: list[int] = []
        self.raws: list[Callable[[], str]] = []
        self.rejects: list[Reject] = []
        self.records = 0

    def add(self, event: dict[str, Any], row: int, index: int, raw: Callable[[], str]) -> None:
        """One event from record `row` (array position `index`, -1 when none); rejected when a type is wrong."""
        if isinstance(event.get("properties"), dict):
            event = dict(event, properties=canonical_json(event["properties"]))
        if isinstance(event.get("ts"), datetime):
            ts = event["ts"]
            event = dict(event, ts=(ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat())
        converted, reason = self._convert._row(event, self.seen)
        if reason is not None:
            self.rejects.append(Reject(row, reason, raw()))
            return
        for f in FIELDS:
            self.values[f].append(converted[f])
        self.rows.append(row)
        self.index.append(index)
        self.raws.append(raw)

    def reject(self, row: int, reason: str, raw: str) -> None:
        self.rejects.append(Reject(row, reason, raw))

    def chunk(self) -> EventChunk:
        cols = {f: pa.array(self.values[f], pa.float64() if f == "value" else pa.string())
                for f in FIELDS if f in self.seen}
        raws = self.raws

        def raw(positions: Sequence[int]) -> list[str]:
            return [raws[int(p)]() for p in positions]

        return EventChunk(cols, np.asarray(self.rows, dtype=np.int64), raw, self.rejects,
                          index=np.asarray(self.index, dtype=np.int64), records=self.records)


def element_raw(row: int, index: int, explode: str, record: dict[str, Any], element: Any) -> Callable[[], str]:
    """A lazy raw text for a quarantined element: its record number, array index, element and parent fields."""

    def text() -> str:
        parent = {k: v for k, v in record.items() if k != explode.split(".")[0]}
        return raw_text(json.dumps({"record": row, "index": index, "path": explode, "element": element,
                                    "parent": parent}, ensure_ascii=False, default=str).encode())
    return text


def json_object(rows: EventRows, number: int, line: bytes) -> dict[str, Any] | None:
    """The JSON object on source line `number`, or None after recording why it is rejected (not UTF-8, not
    JSON, not an object)."""
    try:
        obj = json.loads(line)
    except UnicodeDecodeError:
        rows.reject(number, "non_utf8", raw_text(line))
        return None
    except ValueError:
        rows.reject(number, "malformed_json", raw_text(line))
        return None
    if not isinstance(obj, dict):
        rows.reject(number, "not_an_object", raw_text(line))
        return None
    return obj
