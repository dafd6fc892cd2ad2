"""Delimited text (CSV, TSV, MovieLens, Taobao): pyarrow.csv on whole blocks, every column as text."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from recsys.errors import InputError
from recsys.ingest.readers.blocks import (
    BLOCK_BYTES,
    MAX_LINE_BYTES,
    Chunk,
    LongLine,
    Reject,
    iter_blocks,
    open_binary,
    raw_text,
)


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
        """The column names on the first line (InputError when that line cannot be a header)."""
        with open_binary(path) as f:
            first = f.readline(MAX_LINE_BYTES)
        if len(first) >= MAX_LINE_BYTES and not first.endswith(b"\n"):
            raise InputError(f"{path}: the first line (the CSV header) is longer than {MAX_LINE_BYTES >> 20} MiB; "
                             "it must name the columns (pass --format if this is not a CSV file with a header)")
        first = first.removeprefix(b"\xef\xbb\xbf")
        if self.spec.rewrite:
            first = first.replace(*self.spec.rewrite)
        text = first.decode("utf-8", errors="replace").strip()
        if not text:
            return []
        try:
            fields = next(csv.reader([text], delimiter=self.spec.delimiter))
        except csv.Error as err:
            raise InputError(f"{path}: the CSV header cannot be read ({err}); its first line must name the columns "
                             f"(a field over {csv.field_size_limit() >> 10} KiB is no column name)") from err
        return [c.strip() for c in fields]

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
                                [Reject(row, block.reason, raw_text(block.head))])
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
