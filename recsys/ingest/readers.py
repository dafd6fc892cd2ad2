"""Readers: a source file -> `Chunk`s of canonically named arrow columns, in bounded blocks.

Fast paths use pyarrow's C++ readers on whole blocks. When a block cannot be read that way (a malformed row, a
type conflict, bytes that are not UTF-8), it is split in halves until the failing rows are isolated, and only
those few rows go through the per-line Python path. Both paths feed the same `validate`, so they agree.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from recsys.errors import InputError
from recsys.ingest.validate import FIELDS, ID_FIELDS, canonical_json, python_value, struct_to_json

log = logging.getLogger(__name__)

BLOCK_BYTES = 16 << 20
MAX_LINE_BYTES = 1 << 20
RAW_KEEP = 1 << 20
_SLOW_LEAF = 64


@dataclass
class Reject:
    """A row rejected before it had columns (it could not be parsed)."""

    row: int
    reason: str
    raw: str


@dataclass
class Chunk:
    """Rows of one block: canonical columns (absent = the source has no such field), their row numbers in the
    source (1-based, counting non-blank rows), a way to get a row's raw text, and rows rejected while parsing."""

    columns: dict[str, pa.Array]
    rows: np.ndarray
    raw: Callable[[Sequence[int]], list[str]]
    rejects: list[Reject] = field(default_factory=list)
    ascii_only: bool = False  # every text column is known to be ASCII (validate may use the cheaper kernels)

    @property
    def n(self) -> int:
        return len(self.rows)


def raw_text(data: bytes) -> str:
    """A rejected row as text: undecodable bytes escaped, very long rows cut (with a marker)."""
    text = data[:RAW_KEEP].decode("utf-8", errors="backslashreplace").rstrip("\r\n")
    return text if len(data) <= RAW_KEEP else text + f"...[truncated, {len(data)} bytes]"


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it is gzip (by magic number, not by name)."""
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    f.seek(0)
    return f


@dataclass
class LongLine:
    """A line longer than the limit: only its start is kept."""

    head: bytes
    length: int


def iter_blocks(path: Path, block_bytes: int = BLOCK_BYTES, max_line: int = MAX_LINE_BYTES
                ) -> Iterator[bytes | memoryview | LongLine]:
    """Blocks of whole lines (each ends at a newline but the file's last), at most ~block_bytes + max_line.

    A line longer than `max_line` that does not fit a block is yielded as a `LongLine` and skipped, so memory
    stays bounded whatever the input.
    """
    with open_binary(path) as f:
        carry = b""
        first = True
        while True:
            buf = f.read(block_bytes)
            if first:
                first = False
                buf = buf.removeprefix(b"\xef\xbb\xbf")
            if not buf:
                if carry:
                    yield carry
                return
            data = carry + buf if carry else buf
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
            else:
                yield data if cut == len(data) - 1 else memoryview(data)[: cut + 1]  # no copy of the block
                carry = data[cut + 1:]
            if len(carry) > max_line:
                long, carry = _skip_long_line(f, carry, block_bytes)
                yield long


def _skip_long_line(f: IO[bytes], head: bytes, block_bytes: int) -> tuple[LongLine, bytes]:
    """Read past the end of an over-long line; returns it (head only) and the bytes after its newline."""
    length = len(head)
    while True:
        buf = f.read(block_bytes)
        if not buf:
            return LongLine(head[:RAW_KEEP], length), b""
        cut = buf.find(b"\n")
        if cut < 0:
            length += len(buf)
            continue
        return LongLine(head[:RAW_KEEP], length + cut), buf[cut + 1:]


def iter_lines(path: Path, block_bytes: int = BLOCK_BYTES, max_line: int = MAX_LINE_BYTES
               ) -> Iterator[tuple[list[bytes], list[tuple[int, bytes, int]]]]:
    """Blocks of non-blank lines plus the too-long ones as (position among the block's rows, head, length)."""
    for block in iter_blocks(path, block_bytes, max_line):
        if isinstance(block, LongLine):
            yield [], [(0, block.head, block.length)]
            continue
        # empty lines are not rows; whitespace-only ones are dropped by the per-line path (never counted)
        lines = list(filter(None, bytes(block).split(b"\n")))
        if max(map(len, lines), default=0) <= max_line:
            yield lines, []
            continue
        kept: list[bytes] = []
        long: list[tuple[int, bytes, int]] = []
        for ln in lines:
            if len(ln) > max_line:
                long.append((len(kept), ln[:RAW_KEEP], len(ln)))
            else:
                kept.append(ln)
        yield kept, long


def _source_names(mapping: dict[str, str]) -> dict[str, str]:
    """Canonical field -> the name it has in the source."""
    return {f: mapping.get(f, f) for f in FIELDS}


# ---------------------------------------------------------------- JSON Lines


class JsonlReader:
    """JSON Lines: pyarrow.json on whole blocks, bisected down to per-line `json.loads` where a block fails."""

    def __init__(self, mapping: dict[str, str], *, fast: bool = True, block_bytes: int = BLOCK_BYTES,
                 max_line: int = MAX_LINE_BYTES) -> None:
        self.names = _source_names(mapping)
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
                long_pos = {pos + k for k, (pos, _, _) in enumerate(long)}
                kept_rows = np.array([p for p in range(len(lines) + len(long)) if p not in long_pos],
                                     dtype=np.int64) + row + 1
            rejects = [Reject(row + 1 + pos + k, "line_too_long", raw_text(head) + f"...[{length} bytes]")
                       for k, (pos, head, length) in enumerate(long)]
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


# ---------------------------------------------------------------- delimited text (CSV, TSV, MovieLens, Taobao)


@dataclass
class DelimitedSpec:
    """How to read one delimited file: its column names (None: from the header), delimiter, and a byte rewrite."""

    delimiter: str = ","
    column_names: list[str] | None = None
    rewrite: tuple[bytes, bytes] | None = None  # e.g. MovieLens "::" -> "\t"


class DelimitedReader:
    """CSV-like text: pyarrow.csv on whole blocks, every column as text; rows with a wrong field count and
    blocks with bytes that are not UTF-8 are isolated and handled row by row."""

    def __init__(self, spec: DelimitedSpec, block_bytes: int = BLOCK_BYTES) -> None:
        self.spec = spec
        self.block_bytes = block_bytes

    def header(self, path: Path) -> list[str]:
        with open_binary(path) as f:
            first = f.readline(MAX_LINE_BYTES)
        first = first.removeprefix(b"\xef\xbb\xbf")
        if self.spec.rewrite:
            first = first.replace(*self.spec.rewrite)
        text = first.decode("utf-8", errors="replace").strip()
        if not text:
            return []
        return [c.strip() for c in next(csv.reader([text], delimiter=self.spec.delimiter))]

    def read(self, path: Path) -> Iterator[tuple[dict[str, pa.Array], Chunk]]:
        """Yields the block's columns by source name and a Chunk whose `columns` is empty (the caller maps them)."""
        names = self.spec.column_names
        skip_header = names is None
        if names is None:
            names = self.header(path)
            if not names:
                return
        row = 0
        for block in iter_blocks(path, self.block_bytes):
            if isinstance(block, LongLine):
                row += 1
                yield {}, Chunk({}, np.zeros(0, dtype=np.int64), lambda p: [],
                                [Reject(row, "line_too_long", raw_text(block.head))])
                continue
            if skip_header:
                nl = bytes(block[:MAX_LINE_BYTES]).find(b"\n")
                block = block[nl + 1:] if nl >= 0 else b""
                skip_header = False
            if self.spec.rewrite:
                block = bytes(block).replace(*self.spec.rewrite)
            if not bytes(block[:4096]).strip() and not bytes(block).strip():
                continue
            cols, rejects, raws, ascii_only = self._parse(block, names)
            n = len(next(iter(cols.values()))) if cols else 0
            rows = np.arange(row + 1, row + 1 + n, dtype=np.int64)
            for k, r in enumerate(rejects):
                r.row = row + n + k + 1
            row += n + len(rejects)
            yield cols, Chunk({}, rows, raws, rejects, ascii_only)

    def _parse(self, block: bytes | memoryview, names: list[str]) -> tuple[
            dict[str, pa.Array], list[Reject], Callable[[Sequence[int]], list[str]], bool]:
        """The block's columns, its rejects, a raw-text getter, and whether the block is all ASCII."""
        invalid: list[Reject] = []
        ascii_only, utf8_ok = block_encoding(block)

        def on_invalid(bad: Any) -> str:
            invalid.append(Reject(0, "csv_column_count", raw_text((bad.text or "").encode("utf-8", "replace"))))
            return "skip"

        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(block)),
            read_options=pacsv.ReadOptions(column_names=names, block_size=min(len(block) + 1, 4 << 20)),
            parse_options=pacsv.ParseOptions(delimiter=self.spec.delimiter, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), check_utf8=False,
                                                 strings_can_be_null=True, null_values=[""],
                                                 quoted_strings_can_be_null=False),
        )
        cols = {name: table[name].combine_chunks() for name in names}
        broken: np.ndarray | None = None
        # fields of a valid UTF-8 block are valid UTF-8 (they are cut at ASCII bytes): only check a bad block's
        for arr in [] if utf8_ok else cols.values():
            try:
                arr.validate(full=True)
            except pa.ArrowInvalid:
                broken = _non_utf8_rows(cols)
                break
        delim = self.spec.delimiter

        if broken is not None and broken.any():
            bad_idx = np.flatnonzero(broken)
            raw_bad = [delim.join("" if v is None else v.decode("utf-8", "backslashreplace")
                                  for v in (cols[nm].view(pa.binary())[int(i)].as_py() for nm in names))
                       for i in bad_idx]
            invalid += [Reject(0, "non_utf8", r) for r in raw_bad]
            keep = np.flatnonzero(~broken)
            cols = {k: v.view(pa.binary()).take(keep).cast(pa.string()) for k, v in cols.items()}

        def raw(positions: Sequence[int]) -> list[str]:
            idx = pa.array(np.asarray(positions, dtype=np.int64))
            picked = [cols[nm].take(idx).to_pylist() for nm in names]
            return [delim.join("" if v is None else v for v in vals) for vals in zip(*picked, strict=True)]

        return cols, invalid, raw, ascii_only


def block_encoding(block: bytes | memoryview) -> tuple[bool, bool]:
    """(all ASCII, valid UTF-8) for a whole block, at memory speed: one check instead of one per column."""
    if not len(block):
        return True, True
    if int(np.frombuffer(block, dtype=np.uint8).max()) < 0x80:
        return True, True
    offsets = np.array([0, len(block)], dtype=np.int64)
    whole = pa.Array.from_buffers(pa.large_string(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return False, False
    return False, True


def _non_utf8_rows(cols: dict[str, pa.Array]) -> np.ndarray:
    n = len(next(iter(cols.values())))
    bad = np.zeros(n, dtype=bool)
    for arr in cols.values():
        for i, v in enumerate(arr.view(pa.binary()).to_pylist()):
            if v is not None and not bad[i]:
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError:
                    bad[i] = True
    return bad


# ---------------------------------------------------------------- Parquet


class ParquetReader:
    """Parquet files in row batches; columns keep their types (validate converts ids, times and values)."""

    def __init__(self, mapping: dict[str, str], batch_rows: int = 256_000) -> None:
        self.names = _source_names(mapping)
        self.batch_rows = batch_rows

    def read(self, path: Path) -> Iterator[Chunk]:
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"{path} is not a readable Parquet file: {err}") from err
        wanted = {f: src for f, src in self.names.items() if src in pf.schema_arrow.names}
        row = 0
        for batch in pf.iter_batches(batch_size=self.batch_rows, columns=sorted(set(wanted.values()))):
            cols = {f: batch.column(src) for f, src in wanted.items()}
            rows = np.arange(row + 1, row + 1 + batch.num_rows, dtype=np.int64)
            row += batch.num_rows

            def raw(positions: Sequence[int], batch: pa.RecordBatch = batch) -> list[str]:
                sub = batch.take(pa.array(np.asarray(positions, dtype=np.int64))).to_pylist()
                return [json.dumps(r, default=str, ensure_ascii=False) for r in sub]

            yield Chunk(cols, rows, raw)
