"""Gzip sources that can be damaged: every byte before the damage is returned, then the damage is reported.

Python's `gzip` raises on a cut stream from inside a read and drops the bytes that read had decompressed, and
says nothing of where the file broke. This reader decompresses with `zlib` itself (concatenated members and zero
padding included, as `gzip` accepts them), hands out all it could decompress, and only then raises
`DamagedSourceError` naming the file and the compressed byte offset.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from recsys.errors import DamagedSourceError

_RAW_CHUNK = 1 << 17
_GZIP = 16 + zlib.MAX_WBITS


class GzipReader(io.RawIOBase):
    """The decompressed bytes of one gzip file, read-only and sequential (``read`` and ``readline``)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._raw = open(path, "rb")
        self._z = zlib.decompressobj(_GZIP)
        self._pending = b""  # compressed bytes read from the file, not yet decompressed
        self._out: list[bytes] = []  # decompressed bytes not yet handed out
        self._out_len = 0
        self._offset = 0  # compressed bytes read from the file so far
        self._produced = 0  # decompressed bytes so far
        self._eof = False
        self._damage: DamagedSourceError | None = None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()

    def read(self, size: int | None = -1) -> bytes:
        want = (1 << 62) if size is None or size < 0 else size
        self._fill(want)
        if not self._out_len and self._damage is not None:
            raise self._damage
        return self._take(want)

    def readline(self, size: int | None = -1) -> bytes:
        limit = (1 << 62) if size is None or size < 0 else size
        while True:
            joined = b"".join(self._out)
            self._out, self._out_len = ([joined], len(joined)) if joined else ([], 0)
            nl = joined.find(b"\n", 0, limit)
            if nl >= 0 or len(joined) >= limit or self._eof or self._damage is not None:
                break
            self._fill(len(joined) + _RAW_CHUNK)
        if not self._out_len and self._damage is not None:
            raise self._damage
        return self._take(nl + 1 if nl >= 0 else limit)

    def _take(self, n: int) -> bytes:
        data = b"".join(self._out)
        out, rest = data[:n], data[n:]
        self._out, self._out_len = ([rest], len(rest)) if rest else ([], 0)
        return out

    def _fill(self, want: int) -> None:
        """Decompress until `want` bytes wait, the stream ends, or damage is found (kept for the next read)."""
        while self._out_len < want and not self._eof and self._damage is None:
            if not self._pending:
                self._pending = self._raw.read(_RAW_CHUNK)
                self._offset += len(self._pending)
                if not self._pending:
                    self._end_of_file()
                    continue
            if self._z.eof:  # between members: zero padding, then another member or the end
                self._pending = self._pending.lstrip(b"\x00")
                if not self._pending:
                    continue
                self._z = zlib.decompressobj(_GZIP)
            at = self._offset - len(self._pending)
            try:
                data = self._z.decompress(self._pending, max(want - self._out_len, 1 << 16))
            except zlib.error as err:
                self._damage = self._damaged(f"its compressed data is corrupt after byte {at} ({err})", at)
                return
            self._pending = self._z.unused_data if self._z.eof else self._z.unconsumed_tail
            self._push(data)

    def _end_of_file(self) -> None:
        if self._z.eof:
            self._eof = True
            return
        self._push(self._z.flush())
        self._damage = self._damaged(f"the file ends at byte {self._offset}, before the end of its gzip stream "
                                     "(truncated)", self._offset)

    def _push(self, data: bytes) -> None:
        if data:
            self._out.append(data)
            self._out_len += len(data)
            self._produced += len(data)

    def _damaged(self, what: str, offset: int) -> DamagedSourceError:
        return DamagedSourceError(f"{self.path} is damaged: {what}; the {self._produced} bytes before the damage "
                                  "were read", path=str(self.path), offset=offset)
