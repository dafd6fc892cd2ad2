"""Blocks of whole lines from a source file (gunzipped when needed), and the row types every reader yields."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import numpy as np
import pyarrow as pa

from recsys.errors import DamagedSourceError
from recsys.ingest.readers.gzipped import GzipReader
from recsys.ingest.validate import FIELDS

BLOCK_BYTES = 16 << 20
MAX_LINE_BYTES = 1 << 20
RAW_KEEP = 1 << 20
LINE_TOO_LONG = "line_too_long"
TRUNCATED_ROW = "truncated_row"  # the row the damage of a file cut


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
    """The file's bytes, gunzipped when it is gzip (by magic number, not by name).

    A gzip stream that is cut or corrupt yields every byte before the damage, then raises `DamagedSourceError`.
    """
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return cast(IO[bytes], GzipReader(path))
    f.seek(0)
    return f


@dataclass
class LongLine:
    """A line that is not read as a row: longer than the limit (only its start is kept), or cut by damage."""

    head: bytes
    length: int
    reason: str = LINE_TOO_LONG


def iter_blocks(path: Path, block_bytes: int = BLOCK_BYTES, max_line: int = MAX_LINE_BYTES
                ) -> Iterator[bytes | memoryview | LongLine]:
    """Blocks of whole lines (each ends at a newline but the file's last), at most ~block_bytes + max_line.

    A line longer than `max_line` that does not fit a block is yielded as a `LongLine` and skipped, so memory
    stays bounded whatever the input. When the file is damaged, the whole lines before the damage are yielded,
    the line it cut as a `LongLine` with reason ``truncated_row``, and then `DamagedSourceError` is raised.
    """
    with open_binary(path) as f:
        carry = b""
        first = True
        while True:
            try:
                buf = f.read(block_bytes)
            except DamagedSourceError:
                if carry.strip():
                    yield LongLine(carry[:RAW_KEEP], len(carry), TRUNCATED_ROW)
                raise
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
                long, carry, damage = _skip_long_line(f, carry, block_bytes)
                yield long
                if damage is not None:
                    raise damage


def _skip_long_line(f: IO[bytes], head: bytes, block_bytes: int
                    ) -> tuple[LongLine, bytes, DamagedSourceError | None]:
    """Read past the end of an over-long line; returns it (head only), the bytes after its newline, and the damage
    that cut it short if any."""
    length = len(head)
    while True:
        try:
            buf = f.read(block_bytes)
        except DamagedSourceError as err:
            return LongLine(head[:RAW_KEEP], length, TRUNCATED_ROW), b"", err
        if not buf:
            return LongLine(head[:RAW_KEEP], length), b"", None
        cut = buf.find(b"\n")
        if cut < 0:
            length += len(buf)
            continue
        return LongLine(head[:RAW_KEEP], length + cut), buf[cut + 1:], None


def iter_lines(path: Path, block_bytes: int = BLOCK_BYTES, max_line: int = MAX_LINE_BYTES
               ) -> Iterator[tuple[list[bytes], list[tuple[int, LongLine]]]]:
    """Blocks of non-blank lines plus the lines not read as rows, with their position among the block's rows."""
    for block in iter_blocks(path, block_bytes, max_line):
        if isinstance(block, LongLine):
            yield [], [(0, block)]
            continue
        # empty lines are not rows; whitespace-only ones are dropped by the per-line path (never counted)
        lines = list(filter(None, bytes(block).split(b"\n")))
        if max(map(len, lines), default=0) <= max_line:
            yield lines, []
            continue
        kept: list[bytes] = []
        long: list[tuple[int, LongLine]] = []
        for ln in lines:
            if len(ln) > max_line:
                long.append((len(kept), LongLine(ln[:RAW_KEEP], len(ln))))
            else:
                kept.append(ln)
        yield kept, long


def long_line_text(line: LongLine) -> str:
    """The raw text quarantined for a line not read as a row."""
    text = raw_text(line.head)
    return text + f"...[{line.length} bytes]" if line.reason == LINE_TOO_LONG else text


def source_names(mapping: dict[str, str]) -> dict[str, str]:
    """Canonical field -> the name it has in the source."""
    return {f: mapping.get(f, f) for f in FIELDS}
