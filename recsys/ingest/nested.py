"""Nested JSON Lines and Parquet through a `MapSpec`: arrow kernels on whole blocks (struct fields, list
flattening), bisected down to per-record Python where a block has mixed types or records without the array.

Both paths give the same events: the arrow path only takes a block when every column it resolves has a type whose
conversion matches the Python path's (text or integer ids, text or integer times, numeric values, struct
properties); anything else (float ids, nested values, a record without the array) goes through `EventRows`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from recsys.ingest.arrowutil import arrow_to_int, int_to_arrow
from recsys.ingest.mapping import (
    EventChunk,
    EventRows,
    MapSpec,
    Paths,
    element_raw,
    json_object,
    lookup,
    open_parquet,
)
from recsys.ingest.readers import BLOCK_BYTES, Reject, iter_lines, raw_text
from recsys.ingest.readers.blocks import long_line_text
from recsys.ingest.validate import struct_to_json

_SLOW_LEAF = 64
_ID_FIELDS = ("event_id", "user_id", "item_id", "event_type", "session_id")


class NestedReader:
    """JSON Lines or Parquet records through a `MapSpec`: arrow on whole blocks (struct fields, list flattening),
    bisected down to per-record Python where a block has mixed types or records without the array."""

    def __init__(self, spec: MapSpec, *, fast: bool = True, block_bytes: int = BLOCK_BYTES) -> None:
        self.spec = spec
        self.paths = Paths(spec)
        self.fast = fast
        self.block_bytes = block_bytes

    def read(self, path: Path, parquet: bool = False) -> Iterator[EventChunk]:
        yield from (self._parquet(path) if parquet else self._jsonl(path))

    def _jsonl(self, path: Path) -> Iterator[EventChunk]:
        row = 0
        for lines, long in iter_lines(path, self.block_bytes):
            rejects = [Reject(row + 1 + pos + k, line.reason, long_line_text(line))
                       for k, (pos, line) in enumerate(long)]
            numbers = np.arange(row + 1, row + 1 + len(lines) + len(long), dtype=np.int64)
            if long:  # too-long lines keep their place in the numbering
                numbers = np.delete(numbers, [pos + k for k, (pos, _) in enumerate(long)])
            row += len(lines) + len(long)
            parts = list(self._parse_lines(lines, 0, len(lines), numbers))
            chunk = _concat(parts) if parts else EventRows().chunk()
            chunk.rejects += rejects
            chunk.records += len(long)
            yield chunk

    def _parse_lines(self, lines: list[bytes], lo: int, hi: int, numbers: np.ndarray) -> Iterator[EventChunk]:
        """Events of ``lines[lo:hi]``, whose record numbers are ``numbers[lo:hi]``."""
        if hi <= lo:
            return
        if self.fast:
            data = b"\n".join(lines[lo:hi])
            try:
                table = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(block_size=len(data) + 1))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
                table = None
            chunk = None
            if table is not None and table.num_rows == hi - lo:
                chunk = self._arrow(table, numbers[lo:hi], lambda i: json.loads(lines[lo + i]))
            if chunk is not None:
                yield chunk
                return
            if hi - lo > _SLOW_LEAF:
                mid = (lo + hi) // 2
                yield from self._parse_lines(lines, lo, mid, numbers)
                yield from self._parse_lines(lines, mid, hi, numbers)
                return
        yield self._python_lines(lines, lo, hi, numbers)

    def _python_lines(self, lines: list[bytes], lo: int, hi: int, numbers: np.ndarray) -> EventChunk:
        rows = EventRows()
        for i in range(lo, hi):
            line, number = lines[i], int(numbers[i])
            rows.records += 1
            obj = json_object(rows, number, line)
            if obj is not None:
                self.record(rows, obj, number, lambda line=line: raw_text(line))
        return rows.chunk()

    def record(self, rows: EventRows, obj: dict[str, Any], row: int, raw: Callable[[], str]) -> None:
        """The events of one record into `rows` (or a reject naming the record)."""
        explode = self.paths.explode
        if explode is None:
            rows.add(self.paths.event(obj, None), row, -1, raw)
            return
        arr = lookup(obj, explode)
        if arr is None:
            rows.reject(row, f"missing_{explode}", raw())
            return
        if not isinstance(arr, list):
            rows.reject(row, f"bad_type_{explode}", raw())
            return
        for k, element in enumerate(arr):
            rows.add(self.paths.event(obj, element), row, k, element_raw(row, k, explode, obj, element))

    def _parquet(self, path: Path) -> Iterator[EventChunk]:
        pf = open_parquet(path)
        row = 1
        for batch in pf.iter_batches(batch_size=64_000):
            table = pa.Table.from_batches([batch])
            numbers = np.arange(row, row + table.num_rows, dtype=np.int64)
            chunk = self._arrow(table, numbers, lambda i, t=table: t.slice(i, 1).to_pylist()[0]) if self.fast else None
            if chunk is None:
                rows = EventRows()
                for i, obj in enumerate(table.to_pylist()):
                    rows.records += 1
                    self.record(rows, obj, row + i, lambda obj=obj: raw_text(json.dumps(obj, default=str).encode()))
                chunk = rows.chunk()
            row += table.num_rows
            yield chunk

    # ------------------------------------------------------------ the arrow path

    def _arrow(self, table: pa.Table, numbers: np.ndarray, record: Callable[[int], Any]) -> EventChunk | None:
        """Events of a whole block by arrow kernels, or None when only the Python path can tell them apart."""
        n = table.num_rows
        parent = np.arange(n, dtype=np.int64)
        index = np.full(n, -1, dtype=np.int64)
        elements: pa.Array | None = None
        explode = self.paths.explode
        if explode is not None:
            arr = _column(table, explode)
            if arr is None or not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)) or arr.null_count:
                return None
            elements = pc.list_flatten(arr)
            parent = arrow_to_int(pc.list_parent_indices(arr))
            offsets = arrow_to_int(arr.offsets)
            index = np.arange(len(elements), dtype=np.int64) - (offsets[parent] - offsets[0])
        take = int_to_arrow(parent)
        cols: dict[str, pa.Array] = {}
        for name, alts in self.paths.fields.items():
            col = self._field(name, alts, table, elements, take)
            if col is False:
                return None
            if col is not None:
                cols[name] = col
        rows = numbers[parent]
        explode_name = explode or ""

        def raw(positions: Sequence[int]) -> list[str]:
            out = []
            for p in positions:
                obj = record(int(parent[p]))
                k = int(index[p])
                if k < 0:
                    out.append(raw_text(json.dumps(obj, ensure_ascii=False).encode()))
                else:
                    out.append(element_raw(int(rows[p]), k, explode_name, obj, lookup(obj, explode_name)[k])())
            return out

        return EventChunk(cols, rows, raw, [], index=index, records=n)

    def _field(self, name: str, alts: list[tuple[bool, str]], table: pa.Table, elements: pa.Array | None,
               take: pa.Array) -> pa.Array | bool | None:
        """A canonical column (None: absent; False: the block needs the Python path)."""
        found: list[pa.Array] = []
        for in_element, path in alts:
            if in_element:
                col = elements if not path else _child(elements, path) if elements is not None else None
            else:
                col = _column(table, path)
                if col is not None and self.paths.explode is not None:
                    col = col.take(take)
            if col is None:
                continue
            col = _canonical(name, col)
            if col is None:
                return False
            found.append(col)
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        if len({c.type for c in found}) > 1:
            return False
        return pc.coalesce(*found)


def _child(arr: pa.Array, path: str) -> pa.Array | None:
    for part in path.split("."):
        if not pa.types.is_struct(arr.type) or arr.type.get_field_index(part) < 0:
            return None
        arr = pc.struct_field(arr, part)
    return arr


def _column(table: pa.Table, path: str) -> pa.Array | None:
    if path in table.column_names:
        return table[path].combine_chunks()
    head, _, rest = path.partition(".")
    if not rest or head not in table.column_names:
        return None
    return _child(table[head].combine_chunks(), rest)


def _canonical(name: str, col: pa.Array) -> pa.Array | None:
    """A column as the Python path would make it (text ids, epoch or text times, float values, JSON properties);
    None when only the Python path can say (floats as ids or times, nested values)."""
    t = col.type
    if pa.types.is_null(t):
        return pa.nulls(len(col), pa.float64() if name == "value" else pa.string())
    if name in _ID_FIELDS:
        if pa.types.is_string(t):
            return col
        return col.cast(pa.string()) if pa.types.is_integer(t) else None
    if name == "ts":
        ok = pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_timestamp(t)
        return col if ok else None
    if name == "value":
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return col.cast(pa.float64())
        return col if pa.types.is_string(t) else None
    if pa.types.is_struct(t):
        return struct_to_json(col)
    return col if pa.types.is_string(t) else None


def _concat(parts: list[EventChunk]) -> EventChunk:
    if len(parts) == 1:
        return parts[0]
    names = set().union(*(p.columns for p in parts))
    cols = {}
    for name in names:
        typ = pa.float64() if name == "value" else pa.string()
        cols[name] = pa.concat_arrays([p.columns[name].cast(typ) if name in p.columns else pa.nulls(p.n, typ)
                                       for p in parts])
    offsets = np.cumsum([0] + [p.n for p in parts])

    def raw(positions: Sequence[int]) -> list[str]:
        out = []
        for pos in positions:
            k = int(np.searchsorted(offsets, pos, side="right") - 1)
            out += parts[k].raw([int(pos - offsets[k])])
        return out

    return EventChunk(cols, np.concatenate([p.rows for p in parts]), raw, [r for p in parts for r in p.rejects],
                      index=np.concatenate([p.index for p in parts]), records=sum(p.records for p in parts))
