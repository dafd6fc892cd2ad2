"""Readers: a source file -> `Chunk`s of canonically named arrow columns, in bounded blocks.

Fast paths use pyarrow's C++ readers on whole blocks. When a block cannot be read that way (a malformed row, a
type conflict, bytes that are not UTF-8), it is split in halves until the failing rows are isolated, and only
those few rows go through the per-line Python path. Both paths feed the same `validate`, so they agree.

One module per format (`jsonl`, `delimited`, `parquet`); `blocks` holds what they share.
"""

from recsys.ingest.readers.blocks import (
    BLOCK_BYTES,
    MAX_LINE_BYTES,
    RAW_KEEP,
    Chunk,
    LongLine,
    Reject,
    iter_blocks,
    iter_lines,
    open_binary,
    raw_text,
    source_names,
)
from recsys.ingest.readers.delimited import DelimitedReader, DelimitedSpec, block_encoding
from recsys.ingest.readers.jsonl import JsonlReader
from recsys.ingest.readers.parquet import ParquetReader

__all__ = [
    "BLOCK_BYTES", "MAX_LINE_BYTES", "RAW_KEEP", "Chunk", "DelimitedReader", "DelimitedSpec", "JsonlReader",
    "LongLine", "ParquetReader", "Reject", "block_encoding", "iter_blocks", "iter_lines", "open_binary", "raw_text",
    "source_names",
]
