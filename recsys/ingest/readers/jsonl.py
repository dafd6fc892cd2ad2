"""JSON Lines: pyarrow.json on whole blocks, bisected down to per-line `json.loads` where a block fails."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from recsys.ingest.jsontext import canonical_json, struct_to_json
from recsys.ingest.readers.blocks import (
    BLOCK_BYTES,
    MAX_LINE_BYTES,
    Chunk,
    Reject,
    iter_lines,
    long_line_text,
    raw_text,
    source_names,
)
from recsys.ingest.validate import FIELDS, ID_FIELDS, python_value

_SLOW_LEAF = 64


class JsonlReader:
    """JSON Lines: pyarrow.json on whole blocks, bisected down to per-line `json.loads` where a block fails."""

    def __init__(self, mapping: dict[str, str], *, fast: bool = True, block_bytes: int = BLOCK_BYTES,
                 max_line: int = MAX_LINE_BYTES) -> None:
        self.names = source_names(mapping)
        self.fast = fast
        self.block_bytes = block_bytes
        self.max_line = max_line
        self.ts_type: pa.DataType = pa.string()

    def read(self, path: Path) -> Iterator[Chunk]:
        row = 0
        probed = False
        for lines, long in iter_lines(path, self.block_bytes, self.max_line):
            if not probed and lines:
                self.ts_type = self._probe_ts_type(lines[0])
                probed = True
            # too-long lines keep their place in the row numbering
            kept_rows = np.arange(row + 1, row + 1 + len(lines), dtype=np.int64)
            if long:
                long_pos = {pos + k for k, (pos, _) in enumerate(long)}
                kept_rows = np.array([p for p in range(len(lines) + len(long)) if p not in long_pos],
                                     dtype=np.int64) + row + 1
            rejects = [Reject(row + 1 + pos + k, line.reason, long_line_text(line))
                       for k, (pos, line) in enumerate(long)]
            row += len(lines) + len(long)
            chunk = self._block(lines, kept_rows)
            chunk.rejects += rejects
            yield chunk

    def _probe_ts_type(self, line: bytes) -> pa.DataType:
        """Numeric epochs are read as int64 on the fast path (then as text, the same text the slow path makes)."""
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return pa.string()
        ts = obj.get(self.names["ts"]) if isinstance(obj, dict) else None
        return pa.int64() if isinstance(ts, int) and not isinstance(ts, bool) else pa.string()

    def _schema(self) -> pa.Schema:
        fields = [pa.field(self.names[f], pa.string()) for f in ID_FIELDS]
        fields += [pa.field(self.names["ts"], self.ts_type), pa.field(self.names["value"], pa.float64()),
                   pa.field(self.names["position"], pa.int64())]
        return pa.schema(fields)

    def _block(self, lines: list[bytes], rows: np.ndarray) -> Chunk:
        parts = list(self._parse(lines, 0, len(lines)))
        rejects = [r for p in parts if isinstance(p, list) for r in p]
        tables = [p for p in parts if isinstance(p, tuple)]
        keep_idx = np.concatenate([t[1] for t in tables]) if tables else np.zeros(0, dtype=np.int64)
        columns: dict[str, pa.Array] = {}
        present = set().union(*[t[0].keys() for t in tables]) if tables else set()
        for name in present:
            arrays = []
            for cols, idx in tables:
                arr = cols.get(name)
                arrays.append(arr if arr is not None else pa.nulls(len(idx), _TYPES[name]))
            columns[name] = pa.concat_arrays(arrays) if len(arrays) > 1 else arrays[0]
        for r in rejects:
            r.row = int(rows[r.row])

        def raw(positions: Sequence[int]) -> list[str]:
            return [raw_text(lines[int(keep_idx[p])]) for p in positions]

        return Chunk(columns, rows[keep_idx] if len(keep_idx) else np.zeros(0, dtype=np.int64), raw, rejects)

    def _parse(self, lines: list[bytes], lo: int, hi: int) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]
                                                                         | list[Reject]]:
        if hi <= lo:
            return
        if self.fast:
            cols = self._fast(lines[lo:hi])
            if cols is not None:
                yield cols, np.arange(lo, hi, dtype=np.int64)
                return
            if hi - lo > _SLOW_LEAF:
                mid = (lo + hi) // 2
                yield from self._parse(lines, lo, mid)
                yield from self._parse(lines, mid, hi)
                return
        yield from self._slow(lines, lo, hi)

    def _fast(self, lines: list[bytes]) -> dict[str, pa.Array] | None:
        data = b"\n".join(lines)
        try:
            table = pajson.read_json(
                io.BytesIO(data),
                read_options=pajson.ReadOptions(block_size=len(data) + 1, use_threads=True),
                parse_options=pajson.ParseOptions(explicit_schema=self._schema(), unexpected_field_behavior="infer"),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError, pa.ArrowNotImplementedError):
            return None
        if table.num_rows != len(lines):
            return None
        cols: dict[str, pa.Array] = {}
        for f in FIELDS:
            src = self.names[f]
            if src not in table.column_names:
                continue
            arr = table[src].combine_chunks()
            if f in ("ts", "position") and pa.types.is_integer(arr.type):
                arr = arr.cast(pa.string())
            elif f == "properties":
                if pa.types.is_null(arr.type):
                    arr = pa.nulls(len(arr), pa.string())
                elif pa.types.is_struct(arr.type):
                    text = struct_to_json(arr)
                    if text is None:
                        return None
                    arr = text
                elif not pa.types.is_string(arr.type):
                    return None
            cols[f] = arr
        try:  # pyarrow.json does not check UTF-8 in every case: such a block takes the per-line path
            for arr in cols.values():
                arr.validate(full=True)
        except pa.ArrowInvalid:
            return None
        return cols

    def _slow(self, lines: list[bytes], lo: int, hi: int) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]
                                                                        | list[Reject]]:
        rejects: list[Reject] = []
        values: dict[str, list[Any]] = {f: [] for f in FIELDS}
        seen: set[str] = set()
        keep: list[int] = []
        for i in range(lo, hi):
            line = lines[i]
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                rejects.append(Reject(i, "non_utf8", raw_text(line)))
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                rejects.append(Reject(i, "malformed_json", raw_text(line)))
                continue
            if not isinstance(obj, dict):
                rejects.append(Reject(i, "not_an_object", raw_text(line)))
                continue
            row, reason = self._row(obj, seen)
            if reason is not None:
                rejects.append(Reject(i, reason, raw_text(line)))
                continue
            for f in FIELDS:
                values[f].append(row[f])
            keep.append(i)
        if rejects:
            yield rejects
        if keep:
            cols = {f: pa.array(values[f], _TYPES[f]) for f in FIELDS if f in seen}
            yield cols, np.array(keep, dtype=np.int64)

    def _row(self, obj: dict[str, Any], seen: set[str]) -> tuple[dict[str, Any], str | None]:
        row: dict[str, Any] = {}
        for f in FIELDS:
            src = self.names[f]
            if src in obj:
                seen.add(f)
            v = obj.get(src)
            if f == "value":
                row[f], reason = python_value(v)
                if reason:
                    return row, reason
            elif f == "properties":
                if v is None or isinstance(v, str):
                    row[f] = v
                elif isinstance(v, dict):
                    row[f] = canonical_json(v)
                else:
                    return row, "bad_type_properties"
            elif f == "ts":
                if v is None or isinstance(v, str):
                    row[f] = v
                elif isinstance(v, int | float) and not isinstance(v, bool):
                    row[f] = str(v)
                else:
                    return row, "bad_type_ts"
            elif v is None or isinstance(v, str):
                row[f] = v
            elif isinstance(v, int) and not isinstance(v, bool):
                row[f] = str(v)
            else:
                return row, f"bad_type_{f}"
        return row, None


_TYPES: dict[str, pa.DataType] = {f: pa.string() for f in FIELDS} | {"value": pa.float64()}
